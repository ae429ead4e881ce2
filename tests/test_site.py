"""The course website (`make html`), built once in smoke mode and read the way a student reads it: offline.

The build uses docs/conf.py exactly as `make html` does, into a temporary folder, with the README, the
glossary and, to keep `make test` short, the first two notebooks (VAELIB_SITE_TEST_NOTEBOOKS=all builds
every one; a comma list of stems picks others). Chromium then opens the pages from file:// with every
other request aborted: titles, previous/next, the sidebar, typeset maths, figures, search, the download
link, the widgets' first figure and folded solutions. Browser tests skip with a reason where Chromium or
playwright is missing; CI (.ci/run) installs Chromium.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from sphinx.search.en import SearchEnglish

pytestmark = pytest.mark.slow  # builds the website and opens it in Chromium: end-to-end, minutes
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("VAELIB_CHROMIUM", "/usr/bin/chromium"))
BUILD_TIMEOUT_S = 1800
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_REPR = re.compile(r"\b(?:VBox|HBox|Box|GridBox|interactive|Output)\(children=")
PROGRESS_BAR = re.compile(r"\d+%\|")  # tqdm's text repr: "IWAE_k:   0%|          | 0/7"; the page leaves it out


def _sphinx_build(srcdir: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    """`make html`'s command (docs/conf.py, warnings are errors) in smoke mode, from srcdir into out."""
    cmd = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-T", "-q", "-c", str(srcdir / "docs"),
           *options, str(srcdir), str(out)]
    env = {**os.environ, "VAELIB_SMOKE": "1"}
    return subprocess.run(cmd, cwd=srcdir, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)


def _test_notebooks() -> list[str]:
    """The notebook stems this test builds: the first two unless VAELIB_SITE_TEST_NOTEBOOKS says otherwise."""
    stems = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    choice = os.environ.get("VAELIB_SITE_TEST_NOTEBOOKS", "")
    if choice == "all":
        return stems
    if choice:
        return [s.strip() for s in choice.split(",")]
    return stems[:2]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The site, built once per session (smoke mode) into a temporary folder; returns its html folder."""
    stems = _test_notebooks()
    assert len(stems) >= 2, "the site test needs at least two notebooks to walk between"
    patterns = ["README.md", "GLOSSARY.md", "docs/*.md", *(f"notebooks/{s}.ipynb" for s in stems)]
    options = ["-D", "include_patterns=" + ",".join(patterns)]
    if len(stems) < len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))):
        # the README links every notebook; links to the ones left out of this build are expected
        options += ["-D", "suppress_warnings=myst.xref_missing"]
    out = tmp_path_factory.mktemp("site") / "html"
    t0 = time.monotonic()
    proc = _sphinx_build(ROOT, out, *options)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, \
        f"the site build failed ({seconds:.0f} s):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    print(f"site test build: {len(stems)} notebooks ({', '.join(stems)}) in {seconds:.0f} s (smoke mode)")
    return out


def _pages(site: Path) -> dict[str, Path]:
    """Page name -> file for the content pages (README, glossary, notebooks)."""
    pages = {p.stem: p for p in (site / "notebooks").glob("*.html")}
    pages.update({p.stem: p for p in site.glob("*.html") if p.stem in ("README", "GLOSSARY")})
    return pages


def _title_and_h1(page: Path) -> tuple[str, str]:
    text = page.read_text()
    title = html.unescape(re.search(r"<title>(.*?)</title>", text, re.S).group(1)).strip()
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.S).group(1)
    h1 = html.unescape(re.sub(r"<[^>]+>", "", h1)).replace("#", "").strip()
    return title, h1


# ---------------------------------------------------------------- checks on the built files
def test_every_page_has_its_own_title(site):
    pages = _pages(site)
    assert {f"{s}" for s in _test_notebooks()} <= set(pages), f"notebook pages missing: {sorted(pages)}"
    for name, page in pages.items():
        title, h1 = _title_and_h1(page)
        assert title.startswith(h1 + " ") and h1, f"{name}: <title> {title!r} does not start with its heading {h1!r}"
        assert not title.lower().startswith("notebook"), f"{name} is titled {title!r}"
        if re.match(r"\d\d_", name):
            assert h1.startswith(name[:2] + " · "), f"{name}: heading {h1!r} should start with '{name[:2]} · '"


def test_notebook_pages_link_their_ipynb(site):
    for stem in _test_notebooks():
        text = (site / "notebooks" / f"{stem}.html").read_text()
        link = re.search(r'<a class="[^"]*download-notebook[^"]*" href="([^"]+)"', text)
        assert link, f"{stem}.html has no download link for its notebook"
        target = (site / "notebooks" / link.group(1)).resolve()
        committed = ROOT / "notebooks" / target.name
        assert target.name == f"{stem}.ipynb" and target.read_bytes() == committed.read_bytes(), \
            f"{stem}.html's download link {link.group(1)} is not the committed notebook"


def test_notebook_pages_open_in_colab_and_binder(site):
    """Each notebook page links Colab and Binder, built from pyproject.toml's repository URL (issue 22)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    slug = re.search(r'^Repository = "https://github.com/([^"]+)"', pyproject, re.M).group(1)
    for stem in _test_notebooks():
        text = html.unescape((site / "notebooks" / f"{stem}.html").read_text())
        assert f'href="https://colab.research.google.com/github/{slug}/blob/main/notebooks/{stem}.ipynb"' in text, stem
        assert f'href="https://mybinder.org/v2/gh/{slug}/main?urlpath=lab/tree/notebooks/{stem}.ipynb"' in text, stem
    assert (site / "docs" / "instructors.html").is_file() and (site / "docs" / "maintaining.html").is_file()


def test_widgets_show_their_first_figure(site):
    """Each explorer's output carries a PNG of its first figure, and the page shows it, not a text repr."""
    executed = sorted((site.parent / "jupyter_execute" / "notebooks").glob("*.ipynb"))
    assert executed, "myst-nb wrote no executed notebooks"
    missing, shown = [], 0
    for path in executed:
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if WIDGET_VIEW not in data or PROGRESS_BAR.search(data.get("text/plain", "")):
                    continue
                if "image/png" in data:
                    shown += 1
                else:
                    missing.append(f"{path.stem} cell {i}")
    assert not missing, ("widget outputs without an image/png in their mime bundle, so the site can show only "
                         f"their text repr (vaelib.widgets should add the first figure's PNG): {missing}")
    for name, page in _pages(site).items():
        text = page.read_text()
        for pattern in (WIDGET_REPR, PROGRESS_BAR):
            found = pattern.search(text)
            assert not found, f"{name}.html shows a widget's text repr {found.group(0)!r}"
    if not shown:
        pytest.skip("no widget in the notebooks built here")


def test_solutions_are_folded_in_the_page(site):
    opened = []
    found = 0
    for name, page in _pages(site).items():
        tags = re.findall(r"<details\b[^>]*>", page.read_text())
        found += len(tags)
        opened += [f"{name}: {t}" for t in tags if re.search(r"\bopen\b", t)]
    if not found:
        pytest.skip("no <details> solution in the pages built here yet")
    assert not opened, f"solutions shown unfolded: {opened}"


def test_a_failing_cell_fails_the_build(tmp_path):
    """nb_execution_raise_on_error: a notebook that raises stops `make html` with the cell's error."""
    src = tmp_path / "src"
    (src / "notebooks").mkdir(parents=True)
    shutil.copytree(ROOT / "docs", src / "docs")
    shutil.copy(ROOT / "pyproject.toml", src / "pyproject.toml")  # docs/conf.py reads the repository URL there
    (src / "README.md").write_text("# Home\n\nThe [notebook](notebooks/01_broken.ipynb).\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Broken"),
                nbformat.v4.new_code_cell("raise ValueError('broken on purpose')")]
    nbformat.write(nb, src / "notebooks" / "01_broken.ipynb")
    proc = _sphinx_build(src, tmp_path / "html")
    assert proc.returncode != 0, "the build succeeded although a cell raised"
    assert "broken on purpose" in proc.stdout + proc.stderr, "the build failed without showing the cell's error"


# ---------------------------------------------------------------- the site in a browser, offline
@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page that may load file:// URLs only; after the test, no other request and no JavaScript error."""
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    blocked: list[str] = []
    errors: list[str] = []

    def offline(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    pg.route("**/*", offline)
    pg.on("pageerror", lambda err: errors.append(str(err)))
    pg.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    pg.blocked_requests = blocked
    yield pg
    pg.close()
    assert not blocked, f"the site tried to reach the network: {blocked}"
    assert not errors, f"JavaScript errors: {errors}"


def _wait_for_maths(pg) -> int:
    """Wait until MathJax has typeset the page; returns the number of typeset formulas."""
    try:
        pg.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
    except Exception as err:  # playwright's TimeoutError
        pytest.fail(f"MathJax did not start within 30 s (requests blocked: {pg.blocked_requests}): {err}")
    pg.evaluate("() => MathJax.startup.promise")
    return pg.locator("mjx-container").count()


def test_previous_and_next_walk_the_series(site, page):
    first, second = _test_notebooks()[:2]
    page.goto((site / "index.html").as_uri())
    page.wait_for_url("**/README.html")
    home_title, _ = _title_and_h1(site / "README.html")
    assert page.title() == home_title
    sidebar = page.locator(".bd-sidebar-primary nav a")
    hrefs = [sidebar.nth(i).get_attribute("href") for i in range(sidebar.count())]
    assert [h for h in hrefs if "notebooks/" in h] == [f"notebooks/{s}.html" for s in _test_notebooks()], hrefs

    for stem in (first, second):  # next: home -> first -> second
        page.locator("a.right-next").click()
        page.wait_for_url(f"**/notebooks/{stem}.html")
        assert page.title() == _title_and_h1(site / "notebooks" / f"{stem}.html")[0]
        current = page.locator(".bd-sidebar-primary nav li.current > a, .bd-sidebar-primary nav a.current").first
        assert current.inner_text().strip() == _title_and_h1(site / "notebooks" / f"{stem}.html")[1]
    page.locator("a.left-prev").click()  # previous: second -> first
    page.wait_for_url(f"**/notebooks/{first}.html")
    assert page.title() == _title_and_h1(site / "notebooks" / f"{first}.html")[0]


def test_maths_and_figures_render_offline(site, page):
    stem = _test_notebooks()[0]
    page.goto((site / "notebooks" / f"{stem}.html").as_uri())
    assert _wait_for_maths(page) > 0, "no formula was typeset"
    assert page.locator("mjx-container svg").count() > 0, "MathJax did not draw SVG"
    raw = page.evaluate(r"""() => [...document.querySelectorAll('article p, article li')]
                                  .map(e => e.innerText).join('\n').match(/\$[^$\n]+\$|\\\(|\\\[/g)""")
    assert not raw, f"untypeset TeX left in the page: {raw[:5]}"
    sizes = page.evaluate("""() => [...document.querySelectorAll('article img')]
                                   .map(i => i.complete ? i.naturalWidth : 0)""")
    assert sizes and all(w > 0 for w in sizes), f"figures missing or broken: {sizes}"


def test_search_finds_a_page(site, page):
    stem = _test_notebooks()[1]
    _, h1 = _title_and_h1(site / "notebooks" / f"{stem}.html")
    words = [w for w in re.findall(r"[A-Za-z]{4,}", h1) if w.lower() not in SearchEnglish.stopwords]
    term = max(words, key=len)  # the longest word of its heading that the search index keeps
    page.goto((site / "README.html").as_uri())
    page.locator(".bd-sidebar-primary .search-button-field").first.click()
    field = page.locator("form.bd-search input[name=q]:visible").first
    field.fill(term)
    field.press("Enter")
    page.wait_for_url("**/search.html?q=*")
    page.wait_for_selector("#search-results ul.search li a", timeout=60_000)
    found = page.locator("#search-results ul.search li a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert f"notebooks/{stem}.html" in found, f"searching {term!r} did not find {stem}: {found}"


def test_solutions_stay_folded_in_the_browser(site, page):
    for name, path in _pages(site).items():
        if "<details" in path.read_text():
            break
    else:
        pytest.skip("no <details> solution in the pages built here yet")
    page.goto(path.as_uri())
    details = page.locator("article details")
    assert details.count() > 0
    for i in range(details.count()):
        d = details.nth(i)
        assert not d.evaluate("e => e.open"), f"{name}: solution {i} is open"
        hidden = d.evaluate("e => [...e.children].filter(c => c.tagName !== 'SUMMARY').every(c => "
                            "!c.checkVisibility())")
        assert hidden, f"{name}: solution {i}'s content is visible while folded"
    details.first.locator("summary").click()
    assert details.first.evaluate("e => e.open"), f"{name}: clicking the summary does not open the solution"
