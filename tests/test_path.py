"""A path through the series (issue 19, point 1): every notebook, found by glob (a new one too), opens with 3-5
learning objectives, its prerequisites and an honest time for reading and exercises; the README's path gives the
same times. Times are estimated, not measured: prose at 150-200 words a minute, about 10 minutes an exercise.
Reads the notebooks' JSON only (no kernel): well under a second."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))
from headers import (  # noqa: E402
    MIN_PER_EXERCISE,
    TIME,
    WPM,
    badge_line,
    exercise_count,
    fixed_first_code,
    prose_words,
    time_line,
    with_badges,
    with_time,
)

__all__ = ["badge_line"]  # used by tests/test_reach.py


def header(path: Path) -> str:
    return nbformat.read(path, as_version=4).cells[0].source


def stated_minutes(path: Path) -> int:
    found = TIME.search(header(path))
    assert found, f"{path.name}: no time line in the header; add {time_line(0, 0)!r} with the numbers of test_path"
    return int(found.group(1))


def test_the_series_is_found():
    assert len(NOTEBOOKS) >= 9 and NOTEBOOKS[0].name.startswith("00_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_header_has_objectives_prerequisites_and_time(path):
    text = header(path)
    assert text.startswith("# "), f"{path.name}: the first cell is not the title"
    learn = re.search(r"\*\*You will learn\*\*\n((?:- .*\n(?:  .*\n)*)+)", text + "\n")
    assert learn, f"{path.name}: no **You will learn** list in the header"
    bullets = re.findall(r"^- ", learn.group(1), flags=re.M)
    assert 3 <= len(bullets) <= 5, f"{path.name}: {len(bullets)} learning objectives; keep 3-5"
    prereq = re.search(r"\*\*Prerequisites:\*\*\s*(\S.*)", text)
    assert prereq and len(prereq.group(1)) > 10, f"{path.name}: no prerequisites in the header"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_time_estimate_matches_the_notebook(path):
    nb = nbformat.read(path, as_version=4)
    words, exercises = prose_words(nb), exercise_count(nb)
    found = TIME.search(nb.cells[0].source)
    hint = f"write {time_line(words, exercises)!r} in the header"
    assert found, f"{path.name}: no time line; {hint}"
    total, lo, hi, said_words = (int(found.group(i).replace(",", "")) for i in (1, 2, 3, 4))
    said_exercises = int(found.group(5) or 0)
    assert said_exercises == exercises, f"{path.name}: says {said_exercises} exercises, has {exercises}; {hint}"
    assert abs(said_words - words) <= 0.2 * words, f"{path.name}: says {said_words} words, has {words}; {hint}"
    assert (lo, hi) == (round(said_words / WPM[1]), round(said_words / WPM[0])), hint
    assert lo + MIN_PER_EXERCISE * exercises - 5 <= total <= hi + MIN_PER_EXERCISE * exercises + 5, hint


def test_readme_path_gives_every_notebook_with_its_time():
    readme = (ROOT / "README.md").read_text()
    rows = {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^\|[^|\n]*\[[^\]]*\]\(notebooks/(\d\d_[\w-]+\.ipynb)\)[^\n]*?\|\s*about (\d+) min\s*\|",
                        readme, flags=re.M)}
    for path in NOTEBOOKS:
        assert path.name in rows, f"README's path has no row for {path.name} (with 'about N min')"
        assert rows[path.name] == stated_minutes(path), \
            f"README gives {path.name} {rows[path.name]} min, its header {stated_minutes(path)} min"
    assert "core path" in readme.lower() and "deep dive" in readme.lower()


PAGES = [ROOT / "README.md", ROOT / "docs" / "instructors.md", ROOT / "docs" / "maintaining.md"]


def test_readme_is_a_short_home_page_for_learners():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150, "the README is the learner's home page: keep it to about 150 lines"
    for page in ("docs/instructors.md", "docs/maintaining.md"):
        assert f"]({page})" in readme and (ROOT / page).is_file(), f"the README links {page}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_name_no_build_machine_commit_or_outside_folder(page):
    text = page.read_text()
    assert not re.search(r"shared/data|\.\./shared|\blent\b", text), \
        f"{page.name} speaks of the machine it was built on"
    assert not re.search(r"\bcommit [0-9a-f]{7,40}\b|\b[0-9a-f]{7,12}\b(?![\w-])", text), f"{page.name} names a commit"


LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")  # a markdown link's target, without its #anchor


@pytest.mark.parametrize("page", [*PAGES, ROOT / "GLOSSARY.md"], ids=lambda p: p.name)
def test_every_relative_link_of_a_page_reaches_a_file(page):
    """A link is relative to the page that holds it, on GitHub and on the site. (The site test builds two notebooks
    only and so ignores missing link targets: this is where a wrong one shows.)"""
    targets = [t for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+:", t)]  # not https:, mailto:
    assert targets, f"{page.name} links nothing"
    broken = [t for t in targets if not (page.parent / t).exists()]
    assert not broken, f"{page.name} links files that are not there (relative to {page.parent.name}/): {broken}"


def test_reference_hardware_is_named_once():
    headers = "\n".join(header(p) for p in NOTEBOOKS)
    places = [p.name for p in PAGES if "Xeon" in p.read_text()] + (["notebook headers"] if "Xeon" in headers else [])
    assert places == ["maintaining.md"], \
        f"the reference CPU is described in {places}; describe it once, in maintaining.md"


def test_tools_headers_gives_a_new_notebook_its_header_and_first_cell():
    """What `python tools/headers.py --write` does to a notebook written without them (e.g. a new one)."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 10 · New\n\nHook.\n\n**You will learn**\n- a;\n- b;\n- c.\n\n"
                                      "**Prerequisites:** 04 (training a VAE).\n\n**Runtime**: 20 s."),
        nbformat.v4.new_code_cell("import torch"),
        nbformat.v4.new_markdown_cell("### Exercise 1 · One\n\n" + "word " * 1750)])
    url = "https://github.com/o/r"
    nb.cells[0].source = with_badges(nb.cells[0].source, url, "10_new.ipynb")
    nb.cells[0].source = with_time(nb.cells[0].source, prose_words(nb), exercise_count(nb))
    nb.cells[1].source = fixed_first_code(nb.cells[1].source, url)
    head = nb.cells[0].source
    assert head.split("\n")[:3] == ["# 10 · New", "", badge_line(url, "10_new.ipynb")]
    found = TIME.search(head)
    assert found and found.group(1, 2, 3, 5) == ("20", "9", "12", "1"), head  # 1,762 words: 9-12 min + 10 min
    assert head.index("**Prerequisites:**") < head.index("**Time:**") < head.index("**Runtime**")
    assert nb.cells[1].source.startswith("try:  # vaelib") and nb.cells[1].source.endswith("\nimport torch")
    assert f'REPO = "{url}"' in nb.cells[1].source
    assert with_time(head, prose_words(nb), 1) == head  # idempotent
