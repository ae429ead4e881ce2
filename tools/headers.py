"""Keep each notebook's header and first code cell in step with the series (issues 19 and 22).

    python tools/headers.py           # list what differs (exit 1 if anything does)
    python tools/headers.py --write   # fix it in place (only the header cell and the first code cell)

For every notebooks/NN_*.ipynb: the "Open in Colab · Launch Binder" line under the title, built from
pyproject.toml's repository URL; the time line after the prerequisites, estimated from the notebook itself
(prose at 150-200 words a minute, about 10 minutes an exercise); and the first code cell's opening block, which
installs vaelib on Colab and says how to install it elsewhere. tests/test_path.py and tests/test_reach.py check
the same things.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import tomllib

ROOT = Path(__file__).resolve().parent.parent
WPM = (150, 200)        # words a minute for technical prose: slow and fast reader
MIN_PER_EXERCISE = 10
TIME = re.compile(r"\*\*Time:\*\* about (\d+) min: (\d+)–(\d+) min of reading \(([\d,]+) words of prose\)"
                  r"(?: and (\d+) exercises? at about 10 min each)?\.")
BOOTSTRAP = '''try:  # vaelib is this series' helper package: outside a clone of the repository, install it first
    import vaelib  # noqa: F401
except ModuleNotFoundError:
    import importlib
    import subprocess
    import sys
    REPO = "{url}"
    if "google.colab" not in sys.modules:  # on Colab this cell installs it (and fetches models on first use)
        raise ModuleNotFoundError(f"This notebook needs vaelib: run `pip install git+{{REPO}}`, "
                                  "then restart the kernel.") from None
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"git+{{REPO}}"], check=True)
    importlib.invalidate_caches()
'''


def repository_url() -> str:
    """pyproject.toml's [project.urls] Repository: the one place the URL is written."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def prose_words(nb: nbformat.NotebookNode) -> int:
    """Words of prose in the markdown cells (formulas, code spans, link targets and the time line left out)."""
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$|`[^`\n]*`|\(https?://[^)]*\)|\*\*Time:\*\*[^\n]*", " ", text)
    return len(re.findall(r"[A-Za-z][A-Za-z'’-]*", text))


def exercise_count(nb: nbformat.NotebookNode) -> int:
    """Exercises: the markdown headings that start with "Exercise"."""
    heads = (re.findall(r"^#+\s*Exercise\b", c.source, flags=re.M) for c in nb.cells if c.cell_type == "markdown")
    return sum(len(h) for h in heads)


def time_line(words: int, exercises: int) -> str:
    """The header's time estimate for ``words`` of prose and ``exercises`` exercises."""
    lo, hi = round(words / WPM[1]), round(words / WPM[0])
    total = 5 * round((words / sum(WPM) * 2 + MIN_PER_EXERCISE * exercises) / 5)
    tail = f" and {exercises} exercise{'s' * (exercises != 1)} at about 10 min each" if exercises else ""
    return f"**Time:** about {total} min: {lo}–{hi} min of reading ({words:,} words of prose){tail}."


def badge_line(url: str, name: str) -> str:
    """The links at the top of notebook ``name``: open it in Colab, or launch it on Binder (JupyterLab)."""
    slug = url.removeprefix("https://github.com/").strip("/")
    return (f"[Open in Colab](https://colab.research.google.com/github/{slug}/blob/main/notebooks/{name}) · "
            f"[Launch Binder](https://mybinder.org/v2/gh/{slug}/main?urlpath=lab/tree/notebooks/{name})")


def with_badges(text: str, url: str, name: str) -> str:
    """The header with its Colab/Binder line under the title."""
    lines = [line for line in text.split("\n") if not line.startswith("[Open in Colab](")]
    return re.sub(r"^(# [^\n]*\n)\n*", lambda m: m.group(1) + "\n" + badge_line(url, name) + "\n\n", "\n".join(lines))


def with_time(text: str, words: int, exercises: int) -> str:
    """The header with its time line after the prerequisites."""
    text = re.sub(r"\n\n\*\*Time:\*\*[^\n]*", "", text)
    return re.sub(r"(\*\*Prerequisites:\*\*.*?)(\n\n|\Z)", lambda m: m.group(1) + "\n\n" + time_line(words, exercises)
                  + m.group(2), text, count=1, flags=re.S)


def fixed_first_code(source: str, url: str) -> str:
    """The first code cell with the series' opening block (replaced where an older one is there)."""
    body = source.split("\n\n", 1)[1] if source.startswith("try:  # vaelib is") else source
    return BOOTSTRAP.format(url=url) + "\n" + body


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="fix the notebooks in place")
    a = p.parse_args(argv)
    url, differ = repository_url(), []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        head = nb.cells[0]
        code = next(c for c in nb.cells if c.cell_type == "code")
        old_head, old_code = head.source, code.source
        head.source = with_badges(head.source, url, path.name)  # first: its words count too
        head.source = with_time(head.source, prose_words(nb), exercise_count(nb))
        code.source = fixed_first_code(code.source, url)
        if (head.source, code.source) != (old_head, old_code):
            differ.append(path.name)
            if a.write:
                nbformat.write(nb, path)
    print(("fixed: " if a.write else "differ: ") + (", ".join(differ) or "none"))
    return 1 if differ and not a.write else 0


if __name__ == "__main__":
    sys.exit(main())
