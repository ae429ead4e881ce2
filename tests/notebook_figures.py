"""The notebooks' part of the figure check (vaelib.figcheck), as a pytest plugin that tests/conftest.py registers.

While `make test` runs the notebooks (nbval, smoke mode), each kernel inspects every figure a cell shows and
appends its findings to the file named by ``VAELIB_FIGCHECK``. Right after a notebook's last cell, this plugin
reads that notebook's findings and fails the cell's teardown with one line per finding outside ``ALLOW``,
naming notebook, cell and artist. Checking each notebook when it ends (in the worker that ran it) holds under
pytest-xdist, where no test can know that the other worker's notebooks are done.
Not a test module (no ``test_`` prefix).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from vaelib import figcheck

# Findings the series accepts, each with its reason: (notebook, rule, start of the artist's name) -> reason.
ALLOW: dict[tuple[str, str, str], str] = {
    ("05_", "clipped-data", "axes 1"): "05's latent maps show the prior's square [-4, 4]²; the few encoder means "
                                       "beyond it are outliers the text does not discuss",
    ("06_", "clipped-data", "axes 3 'posterior means"): "the scatter shares the [-4, 4]² window of the two density "
                                                        "panels beside it, so the three compare point for point",
    ("08_", "clipped-data", "axes 1 'ae-d2"): "08 §2 frames each code cloud by its 1st-99th percentiles, so the "
                                              "fitted mixture's shape is visible; outliers would shrink it to a dot",
    ("08_", "clipped-data", "axes 2 'rae-d2"): "as for ae-d2: percentile limits on purpose",
    ("08_", "clipped-data", "axes 3 'nvae-d2"): "as for ae-d2: percentile limits on purpose",
}


def code_cells(cwd: str) -> dict[str, tuple[str, int]]:
    """Source -> (notebook file name, cell index) of every code cell of the notebooks in ``cwd`` (the first wins)."""
    found: dict[str, tuple[str, int]] = {}
    for path in sorted(Path(cwd).glob("*.ipynb")):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code":
                found.setdefault(cell.source, (path.name, i))
    return found


def findings_report(path: Path, notebook: str | None = None) -> tuple[int, list[str]]:
    """(figures inspected, one line per finding not allowed) from a findings file, for one notebook or all."""
    records = [json.loads(s) for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
    cells = {cwd: code_cells(cwd) for cwd in {rec["cwd"] for rec in records}}  # each notebook read once
    n, bad = 0, []
    for rec in records:
        if not cells[rec["cwd"]]:
            continue  # a unit test's kernel, run where there is no notebook
        nb, cell = cells[rec["cwd"]].get(rec["cell"], ("?", rec["cell"].splitlines()[0] if rec["cell"] else "?"))
        if notebook is not None and nb != notebook:
            continue
        n += 1
        if rec["error"]:
            bad.append(f"{nb} cell {cell}: the check could not read the figure: {rec['error']}")
        for theme, fs in rec["findings"].items():
            for f in fs:
                if not any(nb.startswith(k[0]) and f["rule"] == k[1] and f["artist"].startswith(k[2]) for k in ALLOW):
                    bad.append(f"{nb} cell {cell} ({theme}{', ' + rec['where'] if rec['where'] else ''}): "
                               f"{f['rule']}: {f['artist']}: {f['detail']}")
    return n, bad


def assert_figures_pass(path: Path, notebook: str, some: bool = False) -> None:
    """Fail, one line per finding, if ``notebook``'s figures in the findings file ``path`` have a finding outside
    ``ALLOW`` (or, with ``some``, if none of its figures was inspected at all: the check did not run)."""
    n, bad = findings_report(path, notebook)
    assert n or not some, f"{notebook}: the figure check inspected no figure (is {figcheck.ENV} reaching its kernel?)"
    assert not bad, f"the figure check flags {len(bad)} problem(s) in {n} figures:\n" + "\n".join(bad)


class NotebookFigureCheck:
    """Fails the teardown of a notebook's last cell when that notebook showed a figure with a finding."""

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if type(item).__name__ != "IPyNbCell" or (nextitem is not None and nextitem.parent is item.parent):
            return  # not a notebook cell, or not its notebook's last one
        path = os.environ.get(figcheck.ENV)
        if not path or not Path(path).exists():
            return
        assert_figures_pass(Path(path), Path(str(item.path)).name)
