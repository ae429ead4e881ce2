"""The series as people use it: JupyterLab driven from a real browser, and the offline HTML edition.

For each notebook with a widget: open it in JupyterLab (Chromium via Playwright), Run > Run All Cells,
wait until every cell has run and the kernel is idle, move a slider, and check that the widget's
output changed and that no cell shows an error. Then one notebook's HTML edition (built with the same
tools/html_edition.py code as `make html`) is opened with the network blocked: formulas typeset,
figures loaded, widgets rendered. Skipped with a reason where Chromium or playwright is missing;
CI (.ci/run) installs Chromium, so there it runs.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("VAELIB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
RUN_TIMEOUT_S = 600   # one notebook's Run All, smoke mode, on a slow shared CPU
WIDGET_TIMEOUT_S = 60  # one slider move to a redrawn output

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)", allow_module_level=True)


def _notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if re.match(r"\d\d_", p.name))


def _has_widget(path: Path) -> bool:
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    return bool(re.search(r"vaelib\.widgets|ipywidgets|\binteract(ive)?\(", code))


WIDGET_NOTEBOOKS = [p.name for p in _notebooks() if _has_widget(p)]


# ---------------------------------------------------------------- JupyterLab over a temporary copy
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET") -> object:
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def _descendants(pid: int) -> list[int]:
    """PIDs of all processes below pid (kernels run in their own sessions, so not in Lab's group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _stop(proc: subprocess.Popen, base: str, token: str) -> None:
    """Shut the kernels down through the REST API, then end Lab's group and anything left below it."""
    try:
        for kernel in _api(base, token, "/api/kernels"):
            _api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
    except Exception:
        pass
    left = _descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1:<free port> with a random token, over a copy of notebooks/."""
    tmp = tmp_path_factory.mktemp("lab")
    nb_dir = tmp / "notebooks"
    nb_dir.mkdir()
    for path in _notebooks():
        shutil.copy2(path, nb_dir / path.name)
    # All cells stay in the DOM (no virtual scrolling), so the test can see every prompt and output.
    settings = tmp / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    notification = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))
    env.setdefault("VAELIB_SMOKE", "1")  # make test sets it; kernels inherit it
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={nb_dir}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"]
    if os.getuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(cmd, cwd=nb_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _api(base, token, "/api/status")
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start:\n{(tmp / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield {"base": base, "token": token, "dir": nb_dir, "log": tmp / "lab.log"}
    finally:
        _stop(proc, base, token)
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def lab_page(lab, browser):
    """One JupyterLab tab for all notebooks (loading the Lab app takes ~30-60 s on the 2-core CPU)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{lab['base']}/lab?token={lab['token']}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('runmenu:run-all')",
                           timeout=300_000, polling=1000)
    page.evaluate("() => window.jupyterapp.restored.then(() => null)")
    yield page, errors
    page.close()


# ---------------------------------------------------------------- in-page probes
# Each takes the notebook's path and looks only inside that notebook's panel.
PANEL = """const panel = [...window.jupyterapp.shell.widgets('main')]
                    .find(w => w.context && w.context.path === name && w.content && w.content.model);"""

OPEN_JS = """async name => {
  await window.jupyterapp.restored;
  await window.jupyterapp.commands.execute('docmanager:open', {path: name});
  %s
  window.jupyterapp.shell.activateById(panel.id);
  return panel.id;
}""" % PANEL

# Loaded, and its kernel connected and idle (the toolbar indicator alone says "idle" before any
# kernel exists).
READY_JS = """name => {
  %s
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(panel && panel.context.isReady && kernel && kernel.status === 'idle'
      && kernel.connectionStatus === 'connected' && window.jupyterapp.shell.currentWidget === panel
      && panel.node.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']"));
}""" % PANEL

STATE_JS = """name => {
  %s
  // execution counts from the notebook model (a cell with a hidden input shows no prompt)
  const counts = [...panel.content.model.cells].filter(c => c.type === 'code').map(c => c.executionCount);
  const prompts = [...panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
  const errors = [...panel.node.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
      .map(e => e.innerText).filter(t => /Traceback|Error/.test(t));
  const broken = [...panel.node.querySelectorAll('.jp-OutputArea-output')]
      .map(e => e.innerText).filter(t => /Error displaying widget|Failed to load model class/.test(t));
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {counts, prompts, errors: errors.concat(broken).map(t => t.slice(0, 2000)),
          status: kernel ? kernel.status : null};
}""" % PANEL

CLOSE_JS = """async name => {
  %s
  if (panel) { await panel.sessionContext.shutdown(); panel.dispose(); }
}""" % PANEL

# The widget output (images and text) of the first cell output that holds a slider.
WIDGET_JS = """name => {
  %s
  const slider = panel.node.querySelector('.jp-OutputArea-output .widget-slider');
  if (!slider) return null;
  const area = slider.closest('.jp-OutputArea-output');
  const outs = [...area.querySelectorAll('.widget-output')];
  return {readout: slider.querySelector('.widget-readout').textContent.trim(),
          images: outs.flatMap(o => [...o.querySelectorAll('img')].map(i => i.src.length + ':' + i.src.slice(-200))),
          text: outs.map(o => o.innerText).join('\\n')};
}""" % PANEL


def _wait_for_run(page, name: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        st = page.evaluate(STATE_JS, name)
        done = bool(st["counts"]) and all(n is not None for n in st["counts"]) and "[*]:" not in st["prompts"]
        if st["errors"] or (done and st["status"] == "idle"):
            return st
        if time.monotonic() > deadline:
            pytest.fail(f"Run All did not finish in {timeout_s:.0f} s: execution counts {st['counts']}, "
                        f"kernel {st['status']}")
        page.wait_for_timeout(1000)


@pytest.mark.parametrize("name", WIDGET_NOTEBOOKS)
def test_notebook_runs_in_jupyterlab_and_its_slider_updates(lab_page, name):
    t0 = time.monotonic()
    page, page_errors = lab_page
    page_errors.clear()
    try:
        panel_id = page.evaluate(OPEN_JS, name)
        page.wait_for_function(READY_JS, arg=name, timeout=300_000, polling=1000)
        t_open = time.monotonic() - t0
        # Run > Run All Cells, through the real menu (it acts on the active notebook).
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
        st = _wait_for_run(page, name, RUN_TIMEOUT_S)
        assert not st["errors"], f"{name} shows errors after Run All:\n" + "\n---\n".join(st["errors"])
        t_run = time.monotonic() - t0 - t_open

        before = page.evaluate(WIDGET_JS, name)
        assert before is not None, f"{name}: no slider rendered (is the widget manager working?)"
        assert before["images"] or before["text"].strip(), f"{name}: the widget shows no output"
        handle = page.locator(f"#{panel_id} .jp-OutputArea-output .widget-slider .noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        for _ in range(4):  # keyboard steps: the way a slider is moved without a mouse
            page.keyboard.press("ArrowRight")
        deadline = time.monotonic() + WIDGET_TIMEOUT_S
        while True:
            after = page.evaluate(WIDGET_JS, name)
            changed = after["images"] != before["images"] or after["text"] != before["text"]
            if after["readout"] != before["readout"] and changed:
                break
            assert time.monotonic() < deadline, (
                f"{name}: slider {before['readout']} -> {after['readout']}, output unchanged after {WIDGET_TIMEOUT_S} s")
            page.wait_for_timeout(500)
        page.wait_for_function(READY_JS, arg=name, timeout=WIDGET_TIMEOUT_S * 1000, polling=500)
        st = page.evaluate(STATE_JS, name)
        assert not st["errors"], f"{name} shows errors after moving the slider:\n" + "\n---\n".join(st["errors"])
        assert not page_errors, f"{name}: JavaScript errors in JupyterLab: {page_errors}"
        print(f"{name}: open + kernel {t_open:.0f} s, run all {t_run:.0f} s, "
              f"slider {before['readout']} -> {after['readout']}, total {time.monotonic() - t0:.0f} s")
    finally:  # close the notebook and free its kernel (and the CPU) before the next one
        page.evaluate(CLOSE_JS, name)


# ---------------------------------------------------------------- the offline HTML edition
def _html_edition():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import html_edition
    finally:
        sys.path.pop(0)
    return html_edition


@pytest.mark.skipif(not WIDGET_NOTEBOOKS, reason="no notebook with a widget yet")
def test_html_edition_renders_offline(browser, tmp_path, monkeypatch):
    html_edition = _html_edition()
    deps = ROOT / "_build" / "web-deps"
    if not (deps / "versions.json").exists() and shutil.which("npm") is None:
        pytest.skip("the HTML edition needs npm once to fetch MathJax/require.js/the widget renderer")
    monkeypatch.setenv("VAELIB_SMOKE", os.environ.get("VAELIB_SMOKE", "1"))
    name = os.environ.get("VAELIB_HTML_TEST_NOTEBOOK", WIDGET_NOTEBOOKS[0])
    try:
        html_edition.fetch_web_deps(deps)
    except (subprocess.CalledProcessError, OSError) as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"could not fetch the HTML edition's scripts with npm: {err}")
    t0 = time.monotonic()
    pages = html_edition.build([ROOT / "notebooks" / name], tmp_path, deps, timeout=600)
    t_build = time.monotonic() - t0

    page = browser.new_page()
    blocked: list[str] = []
    problems: list[str] = []

    def offline(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", offline)
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    try:
        page.goto(pages[0].as_uri())
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000)
        page.evaluate("() => MathJax.startup.promise")
        assert page.locator("mjx-container").count() > 0, "no typeset formula"
        raw = page.evaluate("""() => [...document.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown')]
                                    .map(e => e.innerText).join('\\n').match(/\\$[^$\\n]+\\$/g)""")
        assert not raw, f"untypeset TeX left in the page: {raw[:5]}"
        images = page.evaluate("""() => [...document.images].filter(i => i.src.startsWith('data:image/png'))
                                       .map(i => i.complete && i.naturalWidth)""")
        assert images and all(w and w > 0 for w in images), f"figures missing or broken: {images}"
        if "application/vnd.jupyter.widget-state+json" in pages[0].read_text():
            page.wait_for_selector(".widget-slider", timeout=60_000)
            page.wait_for_selector(".widget-output img, .widget-output .jp-OutputArea-output", timeout=60_000)
        assert not blocked, f"the page tried to reach the network: {blocked}"
        assert not problems, f"JavaScript errors: {problems}"

        page.goto(pages[-1].as_uri())  # index.html links the notebook with its goal
        page.evaluate("() => MathJax.startup.promise")
        link = page.locator(f"a[href='{pages[0].name}']")
        assert link.count() == 1 and page.locator(".goal").first.inner_text().strip()
        print(f"HTML edition of {name}: built in {t_build:.0f} s, {len(images)} figures")
    finally:
        page.close()
