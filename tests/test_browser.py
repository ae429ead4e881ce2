"""The series as people use it: `make lab` itself, JupyterLab in headless Chromium, every widget moved.

Lab is started by running `make lab` (same command, flags and venv settings as users get) over a
temporary copy of the notebooks, with an empty user-settings folder, as on a new machine. The tests
check what the terminal shows, that no toast or dialog ever appears, and, for each notebook with a
widget: Run All, no error, then every slider stepped with the keyboard. Each step must change the
figure; the latency from key press to the changed figure is printed per control (median, p90), as
``benchmarks/widget_latency.py --browser`` records it: a benchmark, not a timed assertion. Notebook 05's
explorer must also follow a mouse drag (figures change before the button is released).
Skipped with a reason where Chromium or playwright is missing; CI (.ci/run) installs Chromium.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from lab_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, LabSession, format_table, start_lab

pytestmark = pytest.mark.slow  # JupyterLab in Chromium: end-to-end, minutes
RUN_TIMEOUT_S = 600  # one notebook's Run All, smoke mode, on a slow shared CPU
STEPS = 10  # keyboard steps per slider: enough for a median and a 90th percentile

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


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` over a copy of notebooks/, on a free port, with a fresh (empty) user-settings folder."""
    tmp = tmp_path_factory.mktemp("lab")
    nb_dir = tmp / "notebooks"
    nb_dir.mkdir()
    for path in _notebooks():
        shutil.copy2(path, nb_dir / path.name)
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
        s = LabSession(page, lab)
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
    session.page.wait_for_timeout(8000)  # the news question used to come a few seconds after start
    assert not session.popups(), f"JupyterLab showed toasts or dialogs on a fresh start: {session.popups()}"


@pytest.mark.parametrize("name", WIDGET_NOTEBOOKS)
def test_notebook_runs_and_every_widget_answers(session, name):
    t0 = time.monotonic()
    try:
        panel_id = session.open(name)
        st = session.run_all(name, RUN_TIMEOUT_S)
        assert not st["errors"], f"{name} shows errors after Run All:\n" + "\n---\n".join(st["errors"])
        t_run = time.monotonic() - t0
        found = session.widgets(name)
        assert found and all(w["canvases"] for w in found), f"{name}: no live figure rendered: {found}"
        # Every step is timed until the figure differs (a step that changes nothing times out and fails).
        timings = session.time_widgets(name, panel_id, steps=STEPS)
        assert timings and all(len(t.samples) == STEPS or t.control.startswith("toggle") for t in timings)
        print(f"\n{name}: open + run all {t_run:.0f} s\n" + format_table(timings))
        if name.startswith("05"):
            changes = session.drag_changes(name, panel_id, 0, 0)
            print(f"{name}: figure changed {changes} times during one mouse drag of the z1 slider")
            assert changes >= 2, f"{name}: the explorer did not follow the mouse while dragging ({changes} changes)"
        st = session.state(name)
        assert not st["errors"], f"{name} shows errors after moving the sliders:\n" + "\n---\n".join(st["errors"])
        assert not session.page_errors, f"{name}: JavaScript errors in JupyterLab: {session.page_errors}"
        assert not session.popups(), f"{name}: toasts or dialogs appeared: {session.popups()}"
    finally:  # close the notebook and free its kernel (and the CPU) before the next one
        session.close(name)
