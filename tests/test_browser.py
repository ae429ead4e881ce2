"""The series as people use it: `make lab` itself, JupyterLab in headless Chromium, every widget moved.

Lab is started by running `make lab` (same command, flags and venv settings as users get) over a
temporary copy of the notebooks, with an empty user-settings folder, as on a new machine. The tests
check what the terminal shows, that no toast or dialog ever appears (a watcher installed before Lab's
scripts records every one, for the whole session), and, for each notebook with a widget: it opens
unmodified; Run All on its check edition (the notebook, then each solution against its check: nbval
leaves these notebooks to this test), no error and no figure flagged by the figure check; then every
control stepped with the keyboard a few times. Each step must change the figure; the
latency from key press to the changed figure is printed per control, a smoke reading only:
``benchmarks/widget_latency.py --browser`` takes the 10+ steps a 90th percentile needs. Notebook 05's
explorer must also follow mouse drags (figures change before the button is released) at 20 frames a second
or more, draw the release position and nothing after it, and after drags, clicks and key presses on its map
its canvas must equal a frame drawn from scratch for the kernel's point, pixel for pixel, with the title and
the kernel in step with the sliders. In lecture mode (``VAELIB_TALK=1``) the controls, readouts and
printed lines must render larger. Opening a notebook must not mark it modified, and the terminal must stay
free of warnings a learner cannot act on.
Skipped with a reason where Chromium or playwright is missing; CI (.ci/run) installs Chromium.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from notebook_figures import assert_figures_pass
from PIL import Image

from vaelib import figcheck
from vaelib.exercises.editions import check_edition
from vaelib.plots import TALK_CSS

from lab_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, LabSession, MapDriver, format_table, start_lab

pytestmark = pytest.mark.slow  # JupyterLab in Chromium: end-to-end, minutes
RUN_TIMEOUT_S = 600  # one notebook's Run All, smoke mode, on a slow shared CPU
STEPS = 3  # keyboard steps per control: each must change the figure (the benchmark takes more, for a p90)

playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed (pip install playwright)")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)", allow_module_level=True)


def _notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if re.match(r"\d\d_", p.name))


def _has_widget(path: Path) -> bool:
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    return bool(re.search(r"vaelib\.widgets|ipywidgets|\binteract(ive)?\(", code))


WIDGET_NOTEBOOKS = [p.name for p in _notebooks() if _has_widget(p)]


def check_name(name: str) -> str:
    """The file name, in Lab's folder, of CI's check edition of notebook ``name`` (beside the notebook itself, so
    that `make lab` trusts it as it trusts every numbered notebook)."""
    return name.removesuffix(".ipynb") + ".check.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` over a copy of notebooks/ and the check editions of the widget notebooks, on a free port, with a
    fresh (empty) user-settings folder."""
    tmp = tmp_path_factory.mktemp("lab")
    nb_dir = tmp / "notebooks"
    nb_dir.mkdir()
    for path in _notebooks():
        shutil.copy2(path, nb_dir / path.name)
        if path.name in WIDGET_NOTEBOOKS:
            nbformat.write(check_edition(nbformat.read(path, as_version=4)), nb_dir / check_name(path.name))
    env = dict(os.environ)
    env.setdefault("VAELIB_SMOKE", "1")  # make test sets it; kernels inherit it
    lab = start_lab(nb_dir, tmp / "home", env)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def session(lab):
    """One JupyterLab tab for all notebooks (loading the Lab app takes ~30-60 s on the 2-core CPU)."""
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        s = LabSession(page, lab, quiet_ms=150)  # the figure quiet before a step: the benchmark waits 250 ms
        s.load()
        yield s
        browser.close()


def test_terminal_ends_with_the_token_url_of_the_first_notebook(lab):
    first = _notebooks()[0].name
    lines = [ln.strip() for ln in lab.terminal().splitlines() if ln.strip()]
    assert lines[-1] == lab.url, "the last line is not the token URL:\n" + "\n".join(lines[-8:])
    assert f"/lab/tree/{first}?token=" in lab.url, f"the URL does not open {first}: {lab.url}"
    assert any(f"notebooks/{first}: start there" in ln for ln in lines[:-1]), \
        "the terminal does not name the notebook to open first:\n" + "\n".join(lines[-8:])
    assert not any(re.match(r"\[[IW] ", ln) for ln in lines), \
        "info or warning logs around the URL:\n" + "\n".join(lines)
    if os.getuid() == 0:
        assert any("--allow-root" in ln for ln in lines), "running as root, but the terminal does not say so"


def test_lab_starts_without_any_popup(session):
    # the news question came a few seconds after start: test_no_popup_during_the_whole_session looks again at the end
    assert not session.popups(), f"JupyterLab showed toasts or dialogs on a fresh start: {session.popups()}"


def test_opening_a_notebook_leaves_it_unmodified(session):
    first = _notebooks()[0].name
    session.kernel_info(first)  # Lab writes the kernel's language_info into the notebook when the info arrives
    assert not session.dirty(first), f"{first} is marked modified right after opening, before anything ran"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.runs_notebooks(n)) for n in WIDGET_NOTEBOOKS])
def test_notebook_runs_and_every_widget_answers(session, name, tmp_path):
    """The notebook opens unmodified; then its check edition (the notebook as committed, then each exercise's
    solution against its check: what nbval runs for the other notebooks, which leaves these four to this test,
    see tests/conftest.py) runs in Lab without an error and with no figure flagged by the figure check, and every
    widget answers the keyboard (and 05's map the mouse)."""
    session.open(name)
    try:
        assert not session.dirty(name), f"{name} is marked modified right after opening, before anything ran"
    finally:
        session.close(name)
    name = check_name(name)
    t0 = time.monotonic()
    try:
        panel_id = session.open(name)
        st = session.run_all(name, RUN_TIMEOUT_S)
        assert not st["errors"], f"{name} shows errors after Run All:\n" + "\n---\n".join(st["errors"])
        t_run = time.monotonic() - t0
        assert_figures_pass(Path(os.environ[figcheck.ENV]), name, some=True)
        found = session.widgets(name)
        assert found and all(w["canvases"] for w in found), f"{name}: no live figure rendered: {found}"
        # Every step is timed until the figure differs (a step that changes nothing times out and fails).
        timings = session.time_widgets(name, panel_id, steps=STEPS)
        assert timings and all(len(t.samples) == STEPS or t.control.startswith(("toggle", "radio")) for t in timings)
        print(f"\n{name}: open + run all {t_run:.0f} s\n" + format_table(timings, p90=False))
        _check_talk_mode(session, name)
        if name.startswith("05"):
            changes = session.drag_changes(name, panel_id, 0, 0, moves=6, pause_ms=60)
            print(f"{name}: figure changed {changes} times during one mouse drag of the z1 slider")
            assert changes >= 2, f"{name}: the explorer did not follow the mouse while dragging ({changes} changes)"
            _check_map_drags(session, name, panel_id, tmp_path)
        st = session.state(name)
        assert not st["errors"], f"{name} shows errors after moving the sliders:\n" + "\n---\n".join(st["errors"])
        assert not session.page_errors, f"{name}: JavaScript errors in JupyterLab: {session.page_errors}"
        assert not session.popups(), f"{name}: toasts or dialogs appeared: {session.popups()}"
    finally:  # close the notebook and free its kernel (and the CPU) before the next one
        session.close(name)


def _check_talk_mode(session: LabSession, name: str) -> None:
    """Lecture mode's page style (what ``set_theme("talk")`` displays under VAELIB_TALK=1) makes the notebook's
    controls, readouts and printed lines larger, as Lab renders it: its selectors still match this Lab and
    ipywidgets, and Lab's sanitizer keeps it."""
    fonts = session.talk_fonts(name, TALK_CSS)
    print(f"{name}: font sizes (px), notebook -> lecture mode: "
          + ", ".join(f"{k} {b:g} -> {fonts['after'][k]:g}" for k, b in fonts["before"].items() if b is not None))
    small = [k for k, b in fonts["before"].items() if b is not None and fonts["after"][k] < 1.3 * b]
    assert not small, f"{name}: lecture mode leaves these small: {small} ({fonts})"
    assert fonts["before"]["control"] and fonts["before"]["readout"], f"{name}: no control or readout found: {fonts}"


def _assert_same_as_fresh(driver: MapDriver, after: str, out: Path) -> None:
    """The map in the page equals a frame drawn from scratch for the state the kernel holds (its point, and the digit
    decoded there afresh), pixel for pixel; the kernel's point is the sliders' and the title's, and the digit it
    last sent is the one decoded at that point."""
    shown_png, fresh_png, readouts, title, kernel = driver.shown_and_fresh()
    z1, z2 = (float(r.replace("\u2212", "-")) for r in readouts)  # readouts use the minus sign
    assert kernel["values"] == pytest.approx([z1, z2], abs=1e-9) == kernel["sliders"], \
        f"after {after}: the kernel's point {kernel} is not the sliders' {readouts}"
    assert title == f"z = ({z1:+.2f}, {z2:+.2f})", f"after {after}: the title reads {title!r}, the sliders {readouts}"
    assert kernel["sent_is_fresh"], f"after {after}: the digit the kernel sent is not the one decoded at {readouts}"
    shown = np.asarray(Image.open(io.BytesIO(shown_png)).convert("RGBA"), dtype=np.int16)
    fresh = np.asarray(Image.open(io.BytesIO(fresh_png)).convert("RGBA"), dtype=np.int16)
    assert shown.shape == fresh.shape, f"after {after}: canvas {shown.shape} but the fresh frame is {fresh.shape}"
    bad = np.abs(shown - fresh).max(axis=2) > 2  # (H, W): a pixel that differs by more than rounding
    if bad.any():
        ys, xs = np.nonzero(bad)
        (out / "shown.png").write_bytes(shown_png)
        (out / "fresh.png").write_bytes(fresh_png)
        raise AssertionError(f"after {after}: {bad.sum()} pixels differ from a fresh frame (ghosts or stale pixels) "
                             f"in x {xs.min()}..{xs.max()}, y {ys.min()}..{ys.max()}; both pictures are in {out}")


def _check_map_drags(session: LabSession, name: str, panel_id: str, out: Path) -> None:
    """Issue 20: drag the point on 05's map as a hand does (60 mouse moves a second for 1.5 s), then click, press
    keys and drag fast; the release position must be drawn and no frame after it, and the figure must equal a
    fresh redraw. The drag must draw at least 20 frames a second (3 for every 4 moves where the page dispatched fewer
    than 27 moves a second); the line it prints gives the rates."""
    driver = MapDriver(session, name, panel_id)
    zigzag = [(-2.5 + 0.17 * i, 1.8 * (-1) ** i * (1 - i / 40)) for i in range(31)]  # across the map and back
    report = driver.drag(zigzag, duration_ms=1500, rate=60)
    print(f"{name}: {driver.summary(report)} (load average {os.getloadavg()[0]:.1f})")
    assert sum(report.start <= t <= report.up for t in report.frames) >= 2, \
        f"{name}: the explorer did not follow the mouse on the map: {driver.summary(report)}"
    # Issue 20: at least 20 frames a second during the drag; where the busy page could not even dispatch the moves
    # that fast (the driver runs in the same page), at least 3 frames for every 4 moves. The ipympl map failed both.
    need = min(20.0, 0.75 * report.move_rate)
    assert report.fps_during >= need, \
        f"{name}: {report.fps_during:.1f} frames a second while dragging, below {need:.1f}: {driver.summary(report)}"
    assert report.release_frame is not None and not report.extra_frames, \
        f"{name}: the release position was not the last frame drawn: {driver.summary(report)}"
    _assert_same_as_fresh(driver, "a drag on the map", out)
    driver.click((1.2, -0.9))
    driver.click((-0.4, 2.1))  # a click focuses the map: its arrow keys move the point one step (Shift: ten)
    for key in ("ArrowDown", "ArrowDown", "ArrowRight", "Shift+ArrowLeft"):
        session.page.keyboard.press(key)
    driver.settle()
    assert json.loads(driver.kernel("import json; print(json.dumps(explorer.values()))")) == pytest.approx(
        [-0.85, 2.0]), f"{name}: the arrow keys on the map did not move the point by the sliders' steps"
    for slider, key in [(0, "ArrowRight"), (0, "ArrowRight"), (1, "ArrowLeft"), (1, "ArrowLeft"), (1, "ArrowLeft")]:
        driver.press(slider, key)
    report = driver.drag([(0.5, 0.5), (0.9, 0.2), (1.4, -0.3), (2.0, -1.1)], duration_ms=250)  # frames overtake
    assert report.release_frame is not None and not report.extra_frames, \
        f"{name}: after a fast drag the release position was not the last frame drawn: {driver.summary(report)}"
    _assert_same_as_fresh(driver, "clicks, key presses and a fast drag", out)


def test_no_popup_during_the_whole_session(session):
    """Runs after the notebooks: a toast or dialog that came late (the news question did) is on record too."""
    assert not session.popups(), f"JupyterLab showed toasts or dialogs: {session.popups()}"


WARNINGS = re.compile(r"^\[W |WARNING|not trusted|websocket_ping", re.M)


def test_terminal_shows_no_warning_after_the_kernels_ran(lab):
    """Runs last: by now every widget notebook had a kernel (ipykernel's TCP warning, trust, websocket pings)."""
    text = lab.terminal()
    assert not WARNINGS.search(text), "the terminal shows warnings a learner cannot act on:\n" + "\n".join(
        ln for ln in text.splitlines() if WARNINGS.search(ln))
