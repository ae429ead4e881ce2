"""The executed HTML edition: run each notebook, render static HTML that works offline, write an index.

    python tools/html_edition.py [--out _build/html] [--deps _build/web-deps] [notebooks ...]

`make html` calls this. VAELIB_SMOKE decides between full and smoke runs, as everywhere else.
nbconvert's HTML loads MathJax, require.js and the widget renderer from CDNs by default; here they
come from npm tarballs (`npm pack`, no node_modules tree), unpacked once into a git-ignored folder,
copied into <out>/_static/ and referenced by relative URLs, so the pages render without a network.
Widget state is stored while executing, so the sliders and their first output show in the page.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
WEB_PACKAGES = {  # folder name -> npm spec; pinned so that every edition renders the same way
    "mathjax": "mathjax@3.2.2",
    "html-manager": "@jupyter-widgets/html-manager@1.0.15",
    "requirejs": "requirejs@2.3.7",
}
STATIC = "_static"
# MathJax 3 ignores nbconvert's MathJax-2 config block, so this loader configures $...$ itself.
MATHJAX_LOADER = r"""(function () {
  var here = document.currentScript.src.replace(/[^\/]*$/, '');
  // the widget renderer typesets labels with the MathJax 2 call MathJax.Hub.Queue: map it to v3
  var hub = {Queue: function (args) {
    var el = args && args[2];
    var p = window.MathJax.startup && window.MathJax.startup.promise;
    if (p && window.MathJax.typesetPromise) {
      p.then(function () { return MathJax.typesetPromise(el ? [el] : undefined); });
    }
  }};
  window.MathJax = {
    tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
          processEscapes: true, processEnvironments: true, tags: 'ams'},
    svg: {fontCache: 'global'},
    startup: {ready: function () { MathJax.startup.defaultReady(); MathJax.Hub = hub; }},
    Hub: hub
  };
  var s = document.createElement('script');
  s.src = here + 'mathjax/tex-svg-full.js';
  s.async = true;
  document.head.appendChild(s);
})();
"""


def fetch_web_deps(deps: Path) -> Path:
    """Unpack the pinned npm tarballs into deps/<name>/ (once; `npm pack` fetches only the tarballs)."""
    stamp = deps / "versions.json"
    if stamp.exists() and json.loads(stamp.read_text()) == WEB_PACKAGES:
        return deps
    if shutil.which("npm") is None:
        raise SystemExit("tools/html_edition.py: npm is needed once to fetch MathJax, require.js and "
                         "the widget renderer (apt-get install npm), or copy a filled folder to " + str(deps))
    deps.mkdir(parents=True, exist_ok=True)
    for name, spec in WEB_PACKAGES.items():
        out = subprocess.run(["npm", "pack", "--silent", spec], cwd=deps, check=True,
                             capture_output=True, text=True).stdout.split()
        tarball = deps / out[-1]
        target = deps / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        subprocess.run(["tar", "-xzf", str(tarball), "-C", str(target), "--strip-components=1"], check=True)
        tarball.unlink()
    stamp.write_text(json.dumps(WEB_PACKAGES))
    return deps


def install_static(deps: Path, out: Path) -> Path:
    """Copy require.js, MathJax (SVG output: one file, no fonts) and the widget renderer to out/_static."""
    static = out / STATIC
    (static / "mathjax").mkdir(parents=True, exist_ok=True)
    shutil.copy2(deps / "requirejs" / "require.js", static / "require.js")
    shutil.copy2(deps / "mathjax" / "es5" / "tex-svg-full.js", static / "mathjax" / "tex-svg-full.js")
    shutil.copytree(deps / "html-manager" / "dist", static / "html-manager", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.map", "*.txt"))
    (static / "mathjax-loader.js").write_text(MATHJAX_LOADER)
    return static


def execute(path: Path, timeout: int = 1800) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in its own folder (as nbval does), keeping the widget state."""
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(path, as_version=4)
    ep = ExecutePreprocessor(timeout=timeout, kernel_name="python3", store_widget_state=True)
    ep.preprocess(nb, {"metadata": {"path": str(path.parent)}})
    return nb


def render(nb: nbformat.NotebookNode, static: str = STATIC) -> str:
    """Static HTML (JupyterLab look) whose scripts all come from the relative folder `static`."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", mathjax_url=f"{static}/mathjax-loader.js",
                            require_js_url=f"{static}/require.js",
                            widget_renderer_url=f"{static}/html-manager/embed-amd.js")
    body, _ = exporter.from_notebook_node(nb)
    return body


def title_and_goal(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """The `# NN · Title` line and the hook paragraph under it, from the first markdown cell."""
    cell = next(c for c in nb.cells if c.cell_type == "markdown")
    lines = cell.source.strip().splitlines()
    title = lines[0].lstrip("#").strip()
    rest = "\n".join(lines[1:]).strip()
    return title, rest.split("\n\n")[0].replace("\n", " ").strip()


def write_index(entries: list[tuple[str, str, str, float]], out: Path) -> Path:
    """index.html: the notebooks in order, each with its one-line goal (markdown + math rendered)."""
    from nbconvert.filters import markdown2html

    mode = "smoke" if os.environ.get("VAELIB_SMOKE", "") not in ("", "0") else "full"
    items = "\n".join(
        f'<li><a href="{html.escape(href)}">{html.escape(title)}</a>'
        f'<div class="goal">{markdown2html(goal)}</div><div class="meta">executed in {sec:.0f} s</div></li>'
        for href, title, goal, sec in entries)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Variational autoencoders, derived and checked</title>
<script src="{STATIC}/mathjax-loader.js"></script>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
li{{margin:0 0 1.1rem 0}} a{{font-weight:600;font-size:1.1rem}} .goal p{{margin:.2rem 0}}
.meta{{color:#666;font-size:.85rem}}</style></head>
<body><h1>Variational autoencoders, derived and checked</h1>
<p>The executed edition of the notebook series ({mode} mode, built {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).
Every page was run top to bottom; its asserts passed.</p>
<ol>
{items}
</ol></body></html>
"""
    path = out / "index.html"
    path.write_text(page)
    return path


def build(notebooks: list[Path], out: Path, deps: Path, timeout: int = 1800) -> list[Path]:
    """Execute and render each notebook into out/, then the index; returns the written pages."""
    out.mkdir(parents=True, exist_ok=True)
    install_static(fetch_web_deps(deps), out)
    entries, pages = [], []
    for path in notebooks:
        t0 = time.perf_counter()
        print(f"executing {path.name} ...", flush=True)
        nb = execute(path, timeout)
        page = out / (path.stem + ".html")
        page.write_text(render(nb))
        sec = time.perf_counter() - t0
        print(f"  -> {page} ({sec:.0f} s)", flush=True)
        entries.append((page.name, *title_and_goal(nb), sec))
        pages.append(page)
    pages.append(write_index(entries, out))
    return pages


def main(argv: list[str] | None = None) -> int:
    """Command line: build the edition of the given notebooks (default: notebooks/NN_*.ipynb)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "_build" / "html")
    ap.add_argument("--deps", type=Path, default=ROOT / "_build" / "web-deps")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = ap.parse_args(argv)
    notebooks = args.notebooks or sorted(p for p in (ROOT / "notebooks").glob("*.ipynb")
                                         if re.match(r"\d\d_", p.name))
    pages = build(notebooks, args.out, args.deps, args.timeout)
    print(f"open {pages[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
