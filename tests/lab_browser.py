"""JupyterLab in headless Chromium, shared by tests/test_browser.py and benchmarks/widget_latency.py.

``start_lab`` runs ``make lab`` itself (the command and flags users get) over a folder of notebooks,
with a fresh user-settings folder, as on a new machine; ``LabSession`` drives one browser tab: open
a notebook, Run All, then step a widget's slider and time how long the figure takes to change.
Not a test module (no ``test_`` prefix): it holds the machinery only.
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("VAELIB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
URL_RE = re.compile(r"(http://127\.0\.0\.1:\d+)(/lab[^\s?]*)\?token=([0-9a-f]+)")  # base, path, token


# ---------------------------------------------------------------- `make lab` over a folder
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, token: str, path: str, method: str = "GET") -> object:
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def descendants(pid: int) -> list[int]:
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


@dataclass
class Lab:
    """A running ``make lab``: its process, URL, token and terminal log."""

    proc: subprocess.Popen
    url: str
    base: str
    token: str
    log: Path

    def terminal(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Shut the kernels down through the REST API, then end make's group and anything left below it."""
        try:
            for kernel in api(self.base, self.token, "/api/kernels"):
                api(self.base, self.token, f"/api/kernels/{kernel['id']}", method="DELETE")
        except Exception:
            pass
        left = descendants(self.proc.pid)
        for pid in [self.proc.pid, *left]:
            try:
                os.killpg(pid, signal.SIGTERM) if pid == self.proc.pid else os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start_lab(notebook_dir: Path, home: Path, env: dict[str, str] | None = None, timeout_s: float = 180) -> Lab:
    """Run ``make lab`` (as users do) serving ``notebook_dir``; ``home`` holds the fresh user settings.

    Only the folder, a free port and a fresh user-settings/workspaces folder differ from a user's
    `make lab`; every Lab flag and setting comes from the Makefile and the .venv it sets up.
    ``env`` replaces the environment (default: this process's).
    """
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ if env is None else env,
               JUPYTER_PORT=str(port),  # read by Jupyter Server, as tools/fresh_check.sh does
               JUPYTERLAB_SETTINGS_DIR=str(home / "user-settings"),  # empty: a user's first start
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               BROWSER="true")  # Lab's "open a browser" runs `true`: the test's Chromium is the browser
    for name in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):  # under `make test`: run `make lab` as a user would
        env.pop(name, None)
    cmd = ["make", "--no-print-directory", "-C", str(ROOT), "lab", f"LAB_DIR={notebook_dir}"]
    log = home / "make-lab.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while True:
        m = URL_RE.search(log.read_text(errors="replace"))
        if m:
            base, token = m.group(1), m.group(3)
            try:
                api(base, token, "/api/status")
                return Lab(proc, m.group(0), base, token, log)
            except Exception:
                pass
        if proc.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace")
            proc.poll() is None and os.killpg(proc.pid, signal.SIGTERM)
            raise RuntimeError(f"`make lab` did not answer in {timeout_s:.0f} s:\n{text[-3000:]}")
        time.sleep(0.5)


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

# Loaded, in front (the notebook that Lab's URL opens may take the focus meanwhile), and its kernel
# connected and idle (the toolbar indicator alone says "idle" before any kernel).
READY_JS = """name => {
  %s
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (panel && window.jupyterapp.shell.currentWidget !== panel) window.jupyterapp.shell.activateById(panel.id);
  return Boolean(panel && panel.context.isReady && kernel && kernel.status === 'idle'
      && kernel.connectionStatus === 'connected' && window.jupyterapp.shell.currentWidget === panel
      && panel.node.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']"));
}""" % PANEL

STATE_JS = """name => {
  %s
  // execution counts from the notebook model (a cell with a hidden input shows no prompt)
  const cells = [...panel.content.model.cells].filter(c => c.type === 'code');
  const counts = cells.map(c => c.executionCount);
  const prompts = [...panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
  const errors = [];
  for (const c of cells) for (let i = 0; i < c.outputs.length; i++) {
    const o = c.outputs.get(i).toJSON();
    if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
    if (o.output_type === 'stream' && o.name === 'stderr' && /Traceback|Error/.test(o.text)) errors.push(o.text);
  }
  const broken = [...panel.node.querySelectorAll('.jp-OutputArea-output')]
      .map(e => e.innerText).filter(t => /Error displaying widget|Failed to load model class|Traceback/.test(t));
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {counts, prompts, errors: errors.concat(broken).map(t => t.slice(0, 2000)),
          status: kernel ? kernel.status : null};
}""" % PANEL

# Resolves when the kernel's info has come and Lab has written its language_info into the notebook's metadata.
KERNEL_INFO_JS = """async name => {
  %s
  await panel.sessionContext.session.kernel.info;
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  for (let i = 0; i < 100 && !panel.content.model.getMetadata('language_info'); i++) await sleep(20);
  await sleep(50);
}""" % PANEL

# The computed font size (px) of the first control label, readout, printed line... in the notebook, before and after
# the page receives ``css`` as an HTML output would render it (Lab's own HTML renderer, sanitizer included); the
# rendered output is removed again, so the page is as it was.
TALK_FONTS_JS = """async ({name, css}) => {
  %s
  const kinds = {control: '.widget-label', readout: '.widget-readout', radio: '.widget-radio-box label',
                 toggle: '.widget-toggle-button', printed: '.jp-OutputArea-output pre'};
  const sizes = () => Object.fromEntries(Object.entries(kinds).map(([k, sel]) => {
    const e = panel.node.querySelector(sel);
    return [k, e ? parseFloat(getComputedStyle(e).fontSize) : null];
  }));
  const before = sizes();
  const renderer = panel.content.rendermime.createRenderer('text/html');
  await renderer.renderModel({data: {'text/html': css}, metadata: {}, trusted: true, setData: () => {}});
  panel.node.querySelector('.jp-OutputArea-output').appendChild(renderer.node);
  const after = sizes();
  renderer.node.remove();
  renderer.dispose();
  return {before, after};
}""" % PANEL

# The kernel stops at once; its process takes 1-2 s more to go, which the next notebook need not wait for.
CLOSE_JS = """async name => {
  %s
  if (panel) panel.sessionContext.shutdown().finally(() => panel.dispose());
}""" % PANEL

# Installed before Lab's own scripts run: a count of canvas draws (for the latency probe), and a record
# of every toast or dialog that ever appears, also the ones that close themselves (the news question is
# a toast; dialogs are .jp-Dialog).
POPUP_SELECTOR = ".Toastify__toast, .jp-Notification-Toast, .jp-Dialog, .jp-toast-message"
POPUP_WATCH_JS = """(() => {
  // count canvas draws, so the latency probe hashes a canvas's pixels only after it was drawn on
  window.__draws = 0;
  const drawImage = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const out = drawImage.apply(this, args);
    window.__draws += 1;
    if (window.__onPaint) window.__onPaint(this.canvas);
    return out;
  };
  window.__blobs = 0;  // binary frames received (ipympl makes a blob URL of each PNG)
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = function (...args) { window.__blobs += 1; return createObjectURL.apply(this, args); };
  window.__popups = [];
  const seen = new WeakSet();
  const record = e => {
    if (seen.has(e)) return;
    seen.add(e);
    window.__popups.push(((e.innerText || '').trim() || e.className).slice(0, 300));
  };
  // only the added nodes are looked at (a query of the whole page per mutation slowed the widgets down)
  const check = records => records.forEach(r => r.addedNodes.forEach(n => {
    if (n.nodeType !== 1) return;
    if (n.matches('%s')) record(n);
    if (n.firstElementChild) n.querySelectorAll('%s').forEach(record);
  }));
  new MutationObserver(check).observe(document, {childList: true, subtree: true});
})();""" % (POPUP_SELECTOR, POPUP_SELECTOR)

# The widget output areas of a notebook: one entry per output that holds a slider, with its controls.
WIDGETS_JS = """name => {
  %s
  const areas = [...panel.node.querySelectorAll('.jp-OutputArea-output')]
    .filter(a => a.querySelector('.widget-slider'));
  return areas.map(a => ({
    sliders: [...a.querySelectorAll('.widget-slider')].map(s => s.querySelector('.widget-label').textContent.trim()),
    toggles: [...a.querySelectorAll('.widget-toggle-button')].map(b => b.textContent.trim()),
    radios: [...a.querySelectorAll('.widget-radio-box label')].map(l => l.textContent.trim()),
    canvases: a.querySelectorAll('canvas').length, images: a.querySelectorAll('img').length}));
}""" % PANEL

# A fingerprint of the figure(s) in widget output number `index` (PNG <img> sources, canvas pixels);
# the slider readouts are left out, so a change means the figure itself was redrawn.
SIGNATURE = """
  const areas = [...panel.node.querySelectorAll('.jp-OutputArea-output')]
    .filter(a => a.querySelector('.widget-slider'));
  const area = areas[index];
  const signature = () => {
    const parts = [...area.querySelectorAll('img')].map(i => i.src.length + ':' + i.src);
    for (const c of area.querySelectorAll('canvas')) {
      if (!c.width || !c.height) continue;
      if (c.__sig && c.__sig[0] === window.__draws) { parts.push(c.__sig[1]); continue; }  // not drawn since
      const px = new Uint32Array(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.buffer);
      let h = 2166136261 >>> 0;
      for (let i = 0; i < px.length; i += 1) h = Math.imul(h ^ px[i], 16777619) >>> 0;
      c.__sig = [window.__draws, c.width + 'x' + c.height + ':' + h];
      parts.push(c.__sig[1]);
    }
    return parts.join('|');
  };"""

# Arm a probe: remember the figure now; the next key press or pointer press starts the clock. The clock
# stops at the first paint inside the widget (a drawImage onto one of its canvases, or a new <img>
# loaded) after which the figure differs from the remembered one, checked at the next animation
# frame. A slow poll catches changes made any other way (then the time is the poll's, an upper bound).
ARM_JS = """({name, index}) => {
  %s
  %s
  if (window.__probe) { window.__probe.active = false; if (window.__probe.mo) window.__probe.mo.disconnect(); }
  const probe = {active: true, base: signature(), t0: null, t1: null, candidate: null, polled: false};
  window.__probe = probe;
  if (!window.__probeListener) {
    window.__probeListener = e => {
      const p = window.__probe; if (p && p.active && p.t0 === null) p.t0 = performance.now();
    };
    window.addEventListener('keydown', window.__probeListener, true);
    window.addEventListener('pointerdown', window.__probeListener, true);
  }
  const finish = t => { probe.t1 = t; probe.active = false; probe.mo.disconnect(); };
  const verify = () => {
    if (!probe.active) return;
    if (signature() !== probe.base) finish(probe.candidate); else probe.candidate = null;
  };
  window.__onPaint = el => {
    const p = window.__probe;
    if (p !== probe || !p.active || p.t0 === null || p.candidate !== null || !area.contains(el)) return;
    p.candidate = performance.now();
    requestAnimationFrame(verify);
  };
  probe.mo = new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(n => {
    const imgs = n.tagName === 'IMG' ? [n] : (n.querySelectorAll ? [...n.querySelectorAll('img')] : []);
    imgs.forEach(i => i.complete ? window.__onPaint(i)
                                 : i.addEventListener('load', () => window.__onPaint(i), {once: true}));
  })));
  probe.mo.observe(area, {childList: true, subtree: true});
  const poll = () => {
    if (!probe.active) return;
    if (probe.t0 !== null && probe.candidate === null && signature() !== probe.base) {
      probe.polled = true; finish(performance.now());
    }
    else setTimeout(poll, 250);
  };
  setTimeout(poll, 250);
  return probe.base.length;
}""" % (PANEL, SIGNATURE)

SIG_JS = """({name, index}) => {
  %s
  %s
  return signature();
}""" % (PANEL, SIGNATURE)

# Count distinct figures drawn while the mouse drags a slider handle (continuous updates).
WATCH_JS = """({name, index}) => {
  %s
  %s
  const w = {active: true, last: signature(), changes: 0};
  window.__watch = w;
  const tick = () => { if (!w.active) return; const s = signature();
    if (s !== w.last) { w.changes += 1; w.last = s; } requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  return true;
}""" % (PANEL, SIGNATURE)


@dataclass
class Timing:
    """Latencies in ms of one control (a slider, or a toggle) of one widget."""

    notebook: str
    control: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        if len(self.samples) == 1:
            return self.samples[0]
        return statistics.quantiles(self.samples, n=10, method="inclusive")[-1]


def format_table(timings: list[Timing], title: str = "", p90: bool = True) -> str:
    """The latency table: one row per control, median and (with ``p90``) 90th percentile in ms."""
    rows = [f"{title}" if title else "", f"{'notebook':<30} {'control':<14} {'steps':>5} {'median ms':>10}"
                                         + (f" {'p90 ms':>8}" if p90 else "")]
    for t in timings:
        rows.append(f"{t.notebook:<30} {t.control:<14} {len(t.samples):>5} {t.median:>10.0f}"
                    + (f" {t.p90:>8.0f}" if p90 else ""))
    return "\n".join(r for r in rows if r)


class LabSession:
    """One JupyterLab tab in Chromium: open a notebook, Run All, time its widgets."""

    def __init__(self, page, lab: Lab, quiet_ms: int = 250):
        self.page, self.lab = page, lab
        self.quiet_ms = quiet_ms  # before each timed step, the figure has not changed for this long
        self.page_errors: list[str] = []
        page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        page.add_init_script(POPUP_WATCH_JS)
        self.polled = 0  # steps whose change was found by the slow poll, not at a paint (coarser times)

    def load(self, timeout_s: float = 300) -> None:
        """Open Lab's URL as printed in the terminal; wait until the app is restored and the notebook the
        URL names is open and ready (so that it cannot take the focus from a notebook opened later)."""
        self.page.goto(self.lab.url)
        self.page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('runmenu:run-all')",
            timeout=timeout_s * 1000, polling=250)
        self.page.evaluate("() => window.jupyterapp.restored.then(() => null)")
        first = re.search(r"/lab/tree/([^?]+)", self.lab.url)
        if first:
            self.page.wait_for_function(READY_JS, arg=first.group(1), timeout=timeout_s * 1000, polling=250)

    def popups(self) -> list[str]:
        """Text of every toast or dialog seen since the page loaded."""
        return self.page.evaluate("() => window.__popups")

    def open(self, name: str, timeout_s: float = 300) -> str:
        panel_id = self.page.evaluate(OPEN_JS, name)
        self.page.wait_for_function(READY_JS, arg=name, timeout=timeout_s * 1000, polling=200)
        return panel_id

    def run_all(self, name: str, timeout_s: float) -> dict:
        """Run > Run All Cells through the real menu; wait until every cell ran (or one failed)."""
        self.page.wait_for_function(READY_JS, arg=name, timeout=60_000, polling=200)  # in front, kernel idle
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
        deadline = time.monotonic() + timeout_s
        while True:
            st = self.page.evaluate(STATE_JS, name)
            done = bool(st["counts"]) and all(n is not None for n in st["counts"]) and "[*]:" not in st["prompts"]
            if st["errors"] or (done and st["status"] == "idle"):
                return st
            if time.monotonic() > deadline:
                raise TimeoutError(f"Run All did not finish in {timeout_s:.0f} s: execution counts {st['counts']}, "
                                   f"kernel {st['status']}")
            self.page.wait_for_timeout(250)

    def kernel_info(self, name: str) -> None:
        """Wait until the notebook's kernel info has come and Lab has written its language_info."""
        self.page.evaluate(KERNEL_INFO_JS, name)

    def talk_fonts(self, name: str, css: str) -> dict[str, dict[str, float | None]]:
        """Font sizes (px) of the notebook's controls, readouts, printed lines before and with ``css`` on the page."""
        return self.page.evaluate(TALK_FONTS_JS, {"name": name, "css": css})

    def dirty(self, name: str) -> bool:
        """Whether Lab marks the notebook as modified (the dot on its tab; "Save changes?" on closing)."""
        return self.page.evaluate("name => { %s return panel.context.model.dirty; }" % PANEL, name)

    def state(self, name: str) -> dict:
        return self.page.evaluate(STATE_JS, name)

    def close(self, name: str) -> None:
        self.page.evaluate(CLOSE_JS, name)

    def widgets(self, name: str) -> list[dict]:
        return self.page.evaluate(WIDGETS_JS, name)

    def signature(self, name: str, index: int) -> str:
        return self.page.evaluate(SIG_JS, {"name": name, "index": index})

    def _area(self, panel_id: str, index: int):
        return self.page.locator(f"#{panel_id} .jp-OutputArea-output:has(.widget-slider)").nth(index)

    def _settle(self, name: str, index: int, quiet_ms: int | None = None, timeout_s: float = 30) -> None:
        """Wait until the kernel is idle and the figure has not changed for ``quiet_ms`` (default: the session's)."""
        quiet_ms = self.quiet_ms if quiet_ms is None else quiet_ms
        self.page.wait_for_function(READY_JS, arg=name, timeout=timeout_s * 1000, polling=50)
        deadline, last, since = time.monotonic() + timeout_s, None, time.monotonic()
        while time.monotonic() < deadline:
            sig = self.signature(name, index)
            if sig != last:
                last, since = sig, time.monotonic()
            elif (time.monotonic() - since) * 1000 >= quiet_ms:
                return
            self.page.wait_for_timeout(50)

    def _timed(self, name: str, index: int, act, timeout_s: float) -> float:
        self._settle(name, index)
        self.page.evaluate(ARM_JS, {"name": name, "index": index})
        act()
        self.page.wait_for_function("() => window.__probe.t1 !== null", timeout=timeout_s * 1000, polling=50)
        probe = self.page.evaluate("() => ({t0: window.__probe.t0, t1: window.__probe.t1, polled: "
                                   "window.__probe.polled})")
        self.polled += probe["polled"]
        return probe["t1"] - probe["t0"]

    def time_slider(self, name: str, panel_id: str, index: int, slider: int, steps: int = 10,
                    timeout_s: float = 30) -> list[float]:
        """Latency (ms) of ``steps`` keyboard steps of one slider: half (rounded up) to the right, then back, so it
        never goes below where it started (a slider may start at its minimum)."""
        handle = self._area(panel_id, index).locator(".widget-slider").nth(slider).locator(".noUi-handle")
        handle.scroll_into_view_if_needed()
        keys = ["ArrowRight"] * (steps - steps // 2) + ["ArrowLeft"] * (steps // 2)
        return [self._timed(name, index, lambda k=k: handle.press(k), timeout_s) for k in keys]

    def time_toggle(self, name: str, panel_id: str, index: int, steps: int = 6, timeout_s: float = 30) -> list[float]:
        """Latency (ms) of clicking the toggle buttons in turn (each click changes the selection)."""
        buttons = self._area(panel_id, index).locator(".widget-toggle-button")
        order = [buttons.nth(i) for i in range(buttons.count())]
        selected = [i for i, b in enumerate(order) if "mod-active" in (b.get_attribute("class") or "")]
        start = selected[0] if selected else 0
        out = []
        for step in range(steps):
            button = order[(start + 1 + step) % len(order)]
            out.append(self._timed(name, index, button.click, timeout_s))
        return out

    def time_radio(self, name: str, panel_id: str, index: int, steps: int = 6, timeout_s: float = 30) -> list[float]:
        """Latency (ms) of the keyboard on radio buttons: Space on an unchecked one (Tab reaches it) selects it.

        ipywidgets' radio inputs share no ``name``, so the arrow keys do not move between them; Tab and Space do."""
        group = self._area(panel_id, index).locator(".widget-radio-box")
        return [self._timed(name, index, lambda: group.locator("input:not(:checked)").first.press("Space"), timeout_s)
                for _ in range(steps)]

    def drag_changes(self, name: str, panel_id: str, index: int, slider: int, moves: int = 12,
                     pause_ms: int = 120) -> int:
        """How many times the figure changes while the mouse drags a slider handle (before release)."""
        handle = self._area(panel_id, index).locator(".widget-slider").nth(slider).locator(".noUi-handle")
        handle.scroll_into_view_if_needed()
        self._settle(name, index)
        box = handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        self.page.evaluate(WATCH_JS, {"name": name, "index": index})
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        for i in range(1, moves + 1):
            self.page.mouse.move(x + 6 * i, y, steps=2)
            self.page.wait_for_timeout(pause_ms)
        changes = self.page.evaluate("() => { window.__watch.active = false; return window.__watch.changes; }")
        self.page.mouse.up()
        self._settle(name, index)
        return changes

    def time_widgets(self, name: str, panel_id: str, steps: int = 10) -> list[Timing]:
        """Every slider (and toggle group) of every widget in the notebook, ``steps`` steps each."""
        out = []
        for index, w in enumerate(self.widgets(name)):
            for s, label in enumerate(w["sliders"]):
                out.append(Timing(name, label, self.time_slider(name, panel_id, index, s, steps)))
            if w["toggles"]:
                out.append(Timing(name, "toggle " + "/".join(w["toggles"]),
                                  self.time_toggle(name, panel_id, index, max(2, steps // 2))))
            if w.get("radios"):
                out.append(Timing(name, "radio " + "/".join(w["radios"]), self.time_radio(name, panel_id, index,
                                                                                           max(2, steps // 2))))
        return out


# ---------------------------------------------------------------- 05's map: drag, then compare with a fresh redraw
MAP_CANVAS = ".vaelib-latent-map canvas"  # the explorer's live map (vaelib/widgets/latent_map.js)
# Run code in a notebook's kernel without touching the notebook (no cell, no execution count); returns stdout.
KERNEL_EXEC_JS = """async ({name, code}) => {
  %s
  const future = panel.sessionContext.session.kernel.requestExecute({code, silent: false, store_history: false});
  let out = '';
  future.onIOPub = msg => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += 'ERROR ' + msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return out;
}""" % PANEL

# A mouse drag as a hand makes one: press at the first point, then mouse moves at a steady ``rate`` per second
# along the path (the position interpolated by the time elapsed) for ``duration`` ms, then release; the pointer
# events are dispatched in the page on the map's canvas, so their pace does not depend on a round trip to the test
# process. Records the time of each move, of the release, and of each frame that lands on the visible canvas (the
# map composes a frame off screen and draws it onto that canvas); from the last move on, each frame's pixels are
# hashed too, so the frame that drew the release position can be told from later ones.
DRAG_JS = """async ({name, index, points, rate, duration}) => {
  %s
  %s
  const canvas = area.querySelector(MAP_CANVAS);
  const hash = () => {
    const px = new Uint32Array(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data.buffer);
    let h = 2166136261 >>> 0;
    for (let i = 0; i < px.length; i += 1) h = Math.imul(h ^ px[i], 16777619) >>> 0;
    return h;
  };
  const rec = {moves: [], frames: [], hashes: [], blobs: [], start: null, up: null, last_move: null, hash};
  const blobs0 = window.__blobs;
  window.__onPaint = el => {
    if (el !== canvas) return;
    rec.frames.push(performance.now());
    rec.hashes.push(rec.last_move === null ? null : hash());
    rec.blobs.push(window.__blobs - blobs0);
  };
  const at = f => {  // the point a fraction f of the way along the path (points equally spaced in time)
    const k = Math.min(points.length - 1.000001, f * (points.length - 1)), i = Math.floor(k), u = k - i;
    return [points[i][0] + u * (points[i + 1][0] - points[i][0]), points[i][1] + u * (points[i + 1][1] - points[i][1])];
  };
  const fire = (type, [x, y], buttons) => {  // points are CSS pixels from the canvas's top left
    const box = canvas.getBoundingClientRect();
    canvas.dispatchEvent(new PointerEvent(type, {bubbles: true, cancelable: true, view: window, clientX: box.left + x,
                                                 clientY: box.top + y, button: type === 'pointermove' ? -1 : 0,
                                                 buttons, pointerId: 1, pointerType: 'mouse', isPrimary: true}));
  };
  canvas.scrollIntoView({block: 'center'});
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  rec.start = performance.now();
  fire('pointerdown', points[0], 1);
  const interval = 1000 / rate;
  for (let n = 1; ; n += 1) {
    const due = rec.start + n * interval;
    await sleep(Math.max(0, due - performance.now()));
    const t = performance.now();
    if (t - rec.start >= duration) break;
    fire('pointermove', at((t - rec.start) / duration), 1);
    rec.moves.push(t);
  }
  rec.last_move_hash = hash();  // what the canvas shows when the last move (to the release point) goes out
  fire('pointermove', points[points.length - 1], 1);
  rec.last_move = performance.now();
  rec.moves.push(rec.last_move);
  await sleep(interval);
  fire('pointerup', points[points.length - 1], 0);
  rec.up = performance.now();
  window.__drag = rec;
  return rec.moves.length;
}""".replace("MAP_CANVAS", repr(MAP_CANVAS)) % (PANEL, SIGNATURE)

# The map's visible canvas as a PNG, its title and the sliders' readouts; and a fresh frame of the given state,
# drawn from scratch on a new canvas by the map's own code (``freshFrame`` in vaelib/widgets/latent_map.js).
CANVAS_PNG_JS = """async ({name, index, z1, z2, digit}) => {
  %s
  %s
  const c = area.querySelector(MAP_CANVAS);
  return {png: c.toDataURL('image/png'), title: c.dataset.title, fresh: await c.freshFrame(z1, z2, digit),
          readouts: [...area.querySelectorAll('.widget-readout')].map(r => r.textContent.trim())};
}""".replace("MAP_CANVAS", repr(MAP_CANVAS)) % (PANEL, SIGNATURE)


@dataclass
class DragReport:
    """One mouse drag over a live figure (times in ms, page clock): moves, release, frames and what they showed.

    ``hashes`` holds a hash of each frame's pixels from the last move on (None before), ``final`` the hash of the
    figure once everything settled: the release frame is the first frame after the last move that shows it (or
    none, if the canvas showed it already when the last move went out: ``last_move_hash``)."""

    start: float
    up: float
    last_move: float
    moves: list[float]
    frames: list[float]
    hashes: list[int | None]
    final: int
    last_move_hash: int

    @property
    def move_rate(self) -> float:
        """Mouse moves per second while the button was down."""
        return 1000 * (len(self.moves) - 1) / (self.moves[-1] - self.moves[0]) if len(self.moves) > 1 else 0.0

    @property
    def fps_during(self) -> float:
        """Frames per second between the press and the release (frames drawn while the button was down)."""
        return 1000 * sum(self.start <= t <= self.up for t in self.frames) / (self.up - self.start)

    @property
    def after_release(self) -> list[float]:
        """Delays (ms) after the release of the frames that landed after it."""
        return [t - self.up for t in self.frames if t > self.up]

    @property
    def release_frame(self) -> float | None:
        """Delay (ms, negative if before) from the release to the first frame that shows the release position."""
        shown = [t for t, h in zip(self.frames, self.hashes) if h == self.final]
        if shown:
            return shown[0] - self.up
        return self.last_move - self.up if self.last_move_hash == self.final else None

    @property
    def extra_frames(self) -> list[float]:
        """Delays (ms) after the release of the frames that came after the one that drew the release position."""
        first = self.release_frame
        return [] if first is None else [t - self.up for t in self.frames if t - self.up > first]


class MapDriver:
    """Notebook 05's explorer (the variable ``explorer``): map coordinates -> page pixels, drags, fresh redraws."""

    def __init__(self, session: LabSession, name: str, panel_id: str, index: int = 0, var: str = "explorer"):
        self.s, self.name, self.panel_id, self.index, self.var = session, name, panel_id, index, var

    def kernel(self, code: str) -> str:
        out = self.s.page.evaluate(KERNEL_EXEC_JS, {"name": self.name, "code": code})
        assert "ERROR" not in out, f"kernel code failed: {out}"
        return out

    def canvas_box(self) -> dict:
        area = self.s._area(self.panel_id, self.index)
        canvas = area.locator(MAP_CANVAS).first
        canvas.scroll_into_view_if_needed()
        return canvas.bounding_box()

    def to_canvas(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """Map (z1, z2) data points to canvas pixels from its top left (matplotlib display pixels, y flipped)."""
        code = (f"import json\n_f = {self.var}.figure; _t = _f.axes[0].transData\n"
                f"print(json.dumps([[float(v) for v in _t.transform(p)] for p in {points!r}]"
                f" + [[float(_f.bbox.height), 0]]))")
        *pix, (height, _) = json.loads(self.kernel(code))
        return [(x, height - y) for x, y in pix]

    def to_page(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """Map (z1, z2) data points to page coordinates (the canvas scrolled into view first)."""
        pix = self.to_canvas(points)
        box = self.canvas_box()
        return [(box["x"] + x, box["y"] + y) for x, y in pix]

    def drag(self, path: list[tuple[float, float]], duration_ms: float = 1500, rate: float = 60) -> DragReport:
        """Press at the first point, move along the path at ``rate`` moves per second for ``duration_ms``, release
        (``DRAG_JS``); wait until the kernel has handled every message and the figure is quiet, then report."""
        self.s._settle(self.name, self.index)
        pts = self.to_canvas(path)
        self.s.page.evaluate(DRAG_JS, {"name": self.name, "index": self.index, "points": pts, "rate": rate,
                                       "duration": duration_ms})
        self.settle()
        rec = self.s.page.evaluate("() => { const {hash, ...rec} = window.__drag; return {...rec, final: hash()}; }")
        return DragReport(rec["start"], rec["up"], rec["last_move"], rec["moves"], rec["frames"], rec["hashes"],
                          rec["final"], rec["last_move_hash"])

    def summary(self, report: DragReport) -> str:
        """One line: the drag's move rate, frames per second while the button was down, and the frames after it."""
        first = report.release_frame
        return (f"map drag {report.up - report.start:.0f} ms, {len(report.moves)} mouse moves "
                f"({report.move_rate:.0f}/s), {len(report.frames)} frames, {report.fps_during:.1f} frames/s while the "
                f"button was down; release position drawn at "
                f"{'never' if first is None else f'{first:+.0f} ms'}; frames after the release at +ms: "
                f"{', '.join(f'{d:.0f}' for d in report.after_release) or 'none'}; "
                f"after the release position: {', '.join(f'{d:.0f}' for d in report.extra_frames) or 'none'}")

    def settle(self) -> None:
        """Wait until the kernel has handled every mouse and slider message sent so far (an execute request
        queues behind them), then until the figure is quiet."""
        self.kernel("pass")
        self.s._settle(self.name, self.index, quiet_ms=300)

    def click(self, point: tuple[float, float]) -> None:
        self.s.page.mouse.click(*self.to_page([point])[0])

    def press(self, slider: int, key: str) -> None:
        self.s._area(self.panel_id, self.index).locator(".widget-slider").nth(slider).locator(".noUi-handle").press(key)

    def shown_and_fresh(self) -> tuple[bytes, bytes, list[str], str, dict]:
        """After the figure settled: the page's canvas (PNG); a frame of the same state drawn from scratch on a new
        canvas (PNG), where the state is what the kernel holds: its point and the digit decoded afresh there; the
        page's readouts and title; and the kernel's own account (its point, whether the digit it sent is the fresh
        one)."""
        self.settle()
        code = f"""
import json
from vaelib.widgets.latent import decode_point, digit_levels
_w = {self.var}
_fresh = digit_levels(decode_point(_w.map.model, _w.map.z1, _w.map.z2))
print(json.dumps({{"values": _w.values(), "digit": list(_fresh), "sent_is_fresh": _fresh == _w.map.digit,
                  "sliders": [c.value for c in _w.controls]}}))
del _w, _fresh
"""
        kernel = json.loads(self.kernel(code))
        z1, z2 = kernel["values"]
        shown = self.s.page.evaluate(CANVAS_PNG_JS, {"name": self.name, "index": self.index, "z1": z1, "z2": z2,
                                                     "digit": kernel.pop("digit")})
        png = [base64.b64decode(shown[k].split(",", 1)[1]) for k in ("png", "fresh")]
        return png[0], png[1], shown["readouts"], shown["title"], kernel
