"""Sphinx configuration of the course website (`make html`): the README as the home page, then the notebooks.

    sphinx-build -E -W --keep-going -T -c docs . _build/html    # what `make html` runs, from the repo root

The source folder is the repository root, so the README's links to notebooks/NN_*.ipynb become links
between pages with no copies or rewrites; `include_patterns` keeps everything else out. myst-nb runs
every notebook during the build (VAELIB_SMOKE decides full or smoke, as everywhere else) and a failing
cell fails the build. Every page works from file:// with no network: MathJax comes from the
sphinx-mathjax-offline wheel, and widgets show the PNG of their first figure instead of loading the
widget renderer from a CDN.
"""
from __future__ import annotations

import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: requirements.txt installs tomli there
    import tomli as tomllib

SMOKE = os.environ.get("VAELIB_SMOKE", "") not in ("", "0")

project = "Variational autoencoders, derived and checked"
html_title = "VAEs, derived and checked"
author = "the vae-notebooks authors"
copyright = "the vae-notebooks authors"

extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx-mathjax-offline"]

# ------------------------------------------------------------------ sources
root_doc = "README"
include_patterns = ["README.md", "GLOSSARY.md", "notebooks/[0-9][0-9]_*.ipynb", "docs/*.md"]
# Pruned while walking the repository (the include patterns alone would still visit .venv).
exclude_patterns = [".*", "_build", "build", "data", "runs", "pretrained", "vaelib", "tests", "tools",
                    "benchmarks", "docs/_*", "binder", "**.ipynb_checkpoints"]

myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

# ------------------------------------------------------------------ notebooks
nb_execution_mode = "force"          # always run: a page shows what this checkout computes
nb_execution_timeout = 1800          # seconds per cell (full mode on a shared 2-core CPU)
nb_execution_raise_on_error = True   # an error in any cell fails the build
nb_execution_show_tb = True
# A live widget needs a kernel. Offline, a page shows the PNG of the widget's first figure, which each
# explorer puts in its mime bundle (image/png ranks before the widget view). A widget with no PNG, such
# as a tqdm progress bar, falls to its widget view, which shows nothing without the widget renderer
# (a CDN script, left out): better than its text repr, which is its first frame ("0/7").
nb_mime_priority_overrides = [
    ("html", "application/vnd.jupyter.widget-view+json", 95),  # after image/*, text/latex; before text/plain
    ("html", "application/javascript", None),
]
nb_ipywidgets_js: dict = {}
# Progress bars are omitted on the site: a tqdm bar is a widget (nothing offline) or, as text, its first frame.
# tqdm reads TQDM_DISABLE from the environment, which the notebooks' kernels inherit from this process.
os.environ.setdefault("TQDM_DISABLE", "1")

# ------------------------------------------------------------------ HTML
html_theme = "sphinx_book_theme"
html_copy_source = True
html_sourcelink_suffix = ""          # _sources/notebooks/NN_x.ipynb: the download link gives the .ipynb itself
html_extra_path = ["_extra"]         # index.html -> README.html (the home page)
html_static_path = ["_static"]
templates_path = ["_templates"]
html_css_files = ["site.css"]
html_last_updated_fmt = "%Y-%m-%d %H:%M UTC"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": True,
    "article_header_end": ["download-notebook.html", "open-elsewhere.html", "article-header-buttons.html"],
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
    "navbar_persistent": [],         # the sidebar has the search field; no second one in a header bar
    "announcement": ("Smoke build (VAELIB_SMOKE=1): small data and few epochs, so numbers and figures "
                     "are rough; make html without it builds the full edition." if SMOKE else ""),
}
# The repository's one public URL (pyproject.toml [project.urls]); open-elsewhere.html builds each notebook
# page's "Open in Colab" and "Launch Binder" links from it.
REPOSITORY = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())[
    "project"]["urls"]["Repository"]
html_context = {"default_mode": "light", "repository_slug": REPOSITORY.removeprefix("https://github.com/").strip("/")}
html_show_search_summary = False     # summaries fetch() each page, which browsers refuse on file://


def _add_toctree(app, docname: str, source: list[str]) -> None:
    """Append the site's hidden table of contents (notebooks in order, then the glossary) to the home page."""
    if docname != app.config.root_doc:
        return
    found = app.env.found_docs  # what include_patterns let in (a test may build a subset)
    entries = "\n".join(sorted(d for d in found if d.startswith("notebooks/")))
    source[0] += f"\n\n```{{toctree}}\n:hidden:\n:caption: Notebooks\n\n{entries}\n```\n"
    if "GLOSSARY" in found:
        source[0] += "\n```{toctree}\n:hidden:\n:caption: Reference\n\nGLOSSARY\n```\n"
    guides = "\n".join(d for d in ("docs/instructors", "docs/grading", "docs/maintaining") if d in found)
    if guides:
        source[0] += f"\n```{{toctree}}\n:hidden:\n:caption: Teaching and maintaining\n\n{guides}\n```\n"


def _svg_mathjax(app, config) -> None:
    """MathJax's SVG output needs no web fonts, which browsers may refuse to load from file:// pages."""
    config.mathjax_path = "mathjax/tex-svg.js"


def setup(app) -> None:
    app.connect("source-read", _add_toctree)
    app.connect("config-inited", _svg_mathjax, priority=900)
