"""Widget latency, before and after: one slider step -> the new figure, per control of every explorer.

    python benchmarks/widget_latency.py               # db80c1e's vaelib (the PNG-redrawing widgets) vs this checkout
    python benchmarks/widget_latency.py --before REV  # any other revision as "before"
    python benchmarks/widget_latency.py --browser          # the working tree in `make lab` + Chromium: key -> pixels

Default: two Jupyter kernels with the inline backend, as in the notebooks; one imports ``vaelib`` from
``git archive REV vaelib`` (before), the other from this checkout (after). Each builds the explorers
of notebooks 01, 02, 03 and 05 (full-size settings: 1000 batches in 03, 2000 points on 05's map),
then steps every slider (half right, half back) and every toggle, one step every 0.1 s as key presses
come, and times each step from the value change to the figure handed to the browser connection: the
old explorers redraw the whole figure and send it as a PNG (an Output widget), the new ones draw the
moving artists and send the changed pixels (ipympl, a browser view connected); 05's map, drawn in the
page itself, only decodes the point and sends its grey levels. The browser's own share (a few
ms to paint) is left out; ``--browser`` measures it all, in JupyterLab.

Prints one row per control: the number of updates, median and 90th percentile of the wall time (ms)
before and after, the CPU time per update, and the speed-up of the median. Wall times depend on the
machine's load: the title gives the CPU model (/proc/cpuinfo) and the load average; say whether the
machine was idle when you quote them. The CPU columns survive load better.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "db80c1e"  # the last commit whose widgets redrew a whole PNG on every change
sys.path.insert(0, str(ROOT / "tests"))  # the shared browser machinery lives beside the test that uses it

from lab_browser import CHROMIUM, CHROMIUM_ARGS, LabSession, Timing, format_table, start_lab  # noqa: E402

# Run in each kernel; only uses what both versions offer (the make_*_widget functions, ipywidgets).
SETUP = """
import json, time
import ipywidgets as widgets
import torch
from IPython.display import display
import vaelib
from vaelib.models import ModelConfig, build_model
from vaelib.widgets.elbo import make_elbo_widget
from vaelib.widgets.kl import make_kl_widget
from vaelib.widgets.latent import make_latent_widget
from vaelib.widgets.reparam import make_reparam_widget

torch.set_num_threads(1)
torch.manual_seed(0)
_model = build_model(ModelConfig(latent_dim=2)).eval()  # notebook 05's architecture; weights do not matter here
MAKERS = {"01 ELBO": make_elbo_widget, "02 KL": make_kl_widget,
          "03 reparameterization": lambda: make_reparam_widget(batches=1000),  # displays itself
          "05 latent": lambda: make_latent_widget(_model, torch.randn(2000, 2), torch.arange(2000) % 10)}


def _controls(w):
    out = []
    for c in getattr(w, "children", ()):
        out += [c] if isinstance(c, (widgets.FloatSlider, widgets.IntSlider, widgets.ToggleButtons,
                                   widgets.RadioButtons)) else _controls(c)
    return out


def _values(c, steps):
    if isinstance(c, (widgets.ToggleButtons, widgets.RadioButtons)):
        values = [o[1] if isinstance(o, tuple) else o for o in c.options]  # options may be (label, value) pairs
        i = values.index(c.value)
        return [values[(i + k) % len(values)] for k in range(1, steps + 1)]
    m = (steps + 1) // 2  # a walk away and back: 1, 2, .., m, .., 2, 1 steps from the start
    sign = 1 if c.value + m * c.step <= c.max else -1
    return [c.value + sign * c.step * (m - abs(m - k)) for k in range(1, steps + 1)]


def measure(name, steps, gap_s=0.1):
    ui = MAKERS[name]()
    if name != "03 reparameterization":
        display(ui)
    canvas, frames = getattr(ui, "canvas", None), []
    if canvas is not None:  # what ipympl does when a browser view connects, then the view's first frame
        canvas.syncing_data_url = False
        send = canvas.send
        canvas.send = lambda content, buffers=None: (buffers and frames.append(1), send(content, buffers))
        canvas.draw()
    rows = []
    for c in _controls(ui):
        wall, cpu = [], []
        # 05's map since it is drawn in the page: its sliders are linked to it there, so a step here is the kernel's
        # share, setting the point (decode it, send its 784 grey levels)
        target, attr = (ui.map, c.description) if hasattr(ui, "map") else (c, "value")
        for v in _values(c, steps + 1):  # the first step warms caches up and is not counted
            time.sleep(gap_s)
            t0, c0, sent = time.perf_counter(), time.process_time(), len(frames)
            setattr(target, attr, v)
            if canvas is not None and len(frames) == sent:  # the frame waits for the page's draw request (a step
                canvas.handle_draw({"type": "draw"})  # soon after a slow frame): answered here at once, as the page
            wall.append(1e3 * (time.perf_counter() - t0))  # would (its round trip is left out)
            cpu.append(1e3 * (time.process_time() - c0))
            if canvas is not None and len(frames) == sent:
                raise RuntimeError(f"{name}: setting {c.description} to {v} sent no frame, so nothing was measured")
        rows.append({"control": c.description or "/".join(map(str, c.options)), "wall": wall[1:], "cpu": cpu[1:]})
    ui.close()
    print("@@" + json.dumps(rows))
"""


class Kernel:
    """A Python kernel whose ``vaelib`` comes from ``pythonpath``, started in ``cwd`` (an empty folder)."""

    def __init__(self, pythonpath: Path, cwd: Path):
        env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONPATH")}
        env.update(PYTHONPATH=str(pythonpath), OMP_NUM_THREADS="1")
        self.client = NotebookClient(nbformat.v4.new_notebook(), kernel_name="python3", timeout=1800,
                                     resources={"metadata": {"path": str(cwd)}})  # cwd: no vaelib/ shadows PYTHONPATH's
        self.client.km = self.client.create_kernel_manager()
        self.client.km.transport, self.client.km.ip = "ipc", str(cwd / f"kernel-{id(self)}")  # no TCP port needed
        self._stack = ExitStack()
        self._stack.enter_context(self.client.setup_kernel(env=env))
        self.run(SETUP)
        origin = self.run("print('@@' + json.dumps(vaelib.__file__))")
        if not str(origin).startswith(str(pythonpath)):
            self.stop()
            raise RuntimeError(f"the kernel imported vaelib from {origin}, not from {pythonpath}")

    def run(self, code: str) -> object:
        """Execute ``code`` (an error raises, with the kernel's traceback); return the JSON it printed after '@@'."""
        cell = nbformat.v4.new_code_cell(code)
        self.client.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.client.nb.cells) - 1)
        text = "".join(o.get("text", "") for o in cell.outputs if o["output_type"] == "stream")
        marked = [line[2:] for line in text.splitlines() if line.startswith("@@")]
        return json.loads(marked[-1]) if marked else None

    def stop(self) -> None:
        self._stack.close()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what platform says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10, method="inclusive")[-1]


def compare(rev: str, steps: int) -> str:
    """Both versions, widget by widget in turn (so a change of load hits both); returns the table."""
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        before.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "vaelib"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True, text=True,
                             check=True).stdout.strip()
        load = os.getloadavg()[0]
        kernels = {"before": Kernel(before, Path(tmp)), "after": Kernel(ROOT, Path(tmp))}
        try:
            names = kernels["after"].run("print('@@' + json.dumps(list(MAKERS)))")
            results = {(w, k): kernels[k].run(f"measure({w!r}, {steps})") for w in names for k in kernels}
        finally:
            for kernel in kernels.values():
                kernel.stop()
    head = (f"{'widget':<22} {'control':<14} {'updates':>7} {'before median':>13} {'p90':>5} {'after median':>12} "
            f"{'p90':>5} {'CPU before':>10} {'after':>5} {'speed-up':>8}")
    lines = [f"widget latency (ms), one slider step -> the figure sent: before = {rev} ({sha}), after = working tree",
             f"{cpu_model()}, {os.cpu_count()} cores, load average {load:.1f} at start; medians of CPU time per update",
             head]
    for name in names:
        if len(results[name, "before"]) != len(results[name, "after"]):  # same controls in order (names may differ)
            raise RuntimeError(f"{name}: the two versions have different controls; compare them by hand")
        for old, new in zip(results[name, "before"], results[name, "after"]):
            b, a = statistics.median(old["wall"]), statistics.median(new["wall"])
            lines.append(f"{name:<22} {new['control']:<14} {len(new['wall']):>7} {b:>13.0f} {p90(old['wall']):>5.0f} "
                         f"{a:>12.0f} {p90(new['wall']):>5.0f} {statistics.median(old['cpu']):>10.0f} "
                         f"{statistics.median(new['cpu']):>5.0f} {b / a:>7.1f}x")
    return "\n".join(lines)


def widget_notebooks(folder: Path) -> list[str]:
    """Numbered notebooks in ``folder`` whose code uses vaelib.widgets."""
    return sorted(p.name for p in folder.glob("[0-9][0-9]_*.ipynb") if "vaelib.widgets" in p.read_text())


def browser(names: list[str], steps: int, smoke: bool, run_timeout_s: float = 900) -> str:
    """Run each notebook (a copy of notebooks/) in `make lab` + Chromium; time every control, key press -> pixels."""
    timings: list[Timing] = []
    load, t0 = os.getloadavg()[0], time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        nb_dir = Path(tmp) / "notebooks"
        shutil.copytree(ROOT / "notebooks", nb_dir)
        lab = start_lab(nb_dir, Path(tmp) / "home", dict(os.environ, VAELIB_SMOKE="1" if smoke else "0"))
        try:
            with sync_playwright() as pw:
                chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                session = LabSession(chromium.new_page(viewport={"width": 1400, "height": 1000}), lab)
                session.load()
                for name in names:
                    panel_id = session.open(name)
                    state = session.run_all(name, run_timeout_s)
                    if state["errors"]:
                        raise RuntimeError(f"{name} failed under Run All: {state['errors'][0]}")
                    timings += session.time_widgets(name, panel_id, steps=steps)
                    session.close(name)
                chromium.close()
        finally:
            lab.stop()
    return format_table(timings, f"widget latency in JupyterLab, key press -> changed figure (ms): {cpu_model()}, "
                                 f"{os.cpu_count()} cores, load average {load:.1f} at start, "
                                 f"{time.monotonic() - t0:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE,
                        help=f"the git revision whose vaelib is 'before' (default {BEFORE}: "
                             "the last with PNG-redrawing widgets)")
    parser.add_argument("--steps", type=int, default=20, help="updates timed per control")
    parser.add_argument("--browser", action="store_true", help="time the working tree in JupyterLab + Chromium")
    parser.add_argument("--smoke", action="store_true", help="--browser: run the notebooks in smoke mode")
    parser.add_argument("notebooks", nargs="*", help="--browser: notebook file names (default: all with a widget)")
    args = parser.parse_args()
    if args.steps < 2:
        sys.exit(f"--steps {args.steps} is too few for a 90th percentile: pass 2 or more.")
    if not args.browser:
        print(compare(args.before, args.steps))
    elif not CHROMIUM.exists():
        sys.exit(f"No Chromium at {CHROMIUM}: install it (Debian: apt-get install chromium) or set VAELIB_CHROMIUM.")
    else:
        print(browser(args.notebooks or widget_notebooks(ROOT / "notebooks"), args.steps, args.smoke))


if __name__ == "__main__":
    main()
