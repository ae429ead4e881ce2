"""One source, four editions: the committed notebook is the learner's; this module derives the others.

Cell layout of an exercise (the README section "Exercises", For authors):

- the **stub** cell the learner fills: a code cell tagged ``exercise``, metadata ``{"exercise": ID}``;
- one or more **check** cells: code cells tagged ``check`` with the same id, calling ``nbNN.check_...``;
- the **solution**: a markdown cell tagged ``solution`` with the same id, in the notebook's final
  "Solutions" section, holding ``<details><summary>...</summary>`` and one fenced ```` ```python ````
  block: the complete replacement for the stub cell.

``learner_edition`` is the self-study edition (solutions folded at the end); ``student_edition`` is the one to
hand out in a graded course: no solution cell, no solution code anywhere in it; ``instructor_edition`` puts each
solution's code into its stub cell (same cell id) and opens the ``<details>``; ``check_edition`` is what CI runs:
the learner's notebook under ``VAELIB_EXERCISES_EXPECT=stub``, then every solution followed by its check cells under
``=solution``, in the same kernel, so the notebook body runs once.
"""
from __future__ import annotations

import copy
import re

import nbformat
from nbformat import NotebookNode

EXERCISE, CHECK, SOLUTION = "exercise", "check", "solution"
_FENCE = re.compile(r"```python[^\n]*\n(.*?)```", re.DOTALL)


class EditionError(ValueError):
    """The notebook's exercise cells are inconsistent (the message names the exercise and the fix)."""


def _role(cell: NotebookNode) -> str | None:
    tags = set(cell.get("metadata", {}).get("tags", []))
    roles = [r for r in (EXERCISE, CHECK, SOLUTION) if r in tags]
    if len(roles) > 1:
        raise EditionError(f"Cell {cell.get('id')} has the tags {roles}; give it one of them.")
    return roles[0] if roles else None


def exercise_id(cell: NotebookNode) -> str | None:
    """The exercise id of a stub, check or solution cell (None for other cells)."""
    if _role(cell) is None:
        return None
    ex = cell.get("metadata", {}).get("exercise")
    if not ex:
        raise EditionError(f"Cell {cell.get('id')} is tagged {_role(cell)!r} but has no metadata 'exercise' id.")
    return str(ex)


def cells_by_role(nb: NotebookNode, role: str) -> dict[str, list[int]]:
    """Exercise id -> indices of the cells with this role, in notebook order."""
    out: dict[str, list[int]] = {}
    for i, cell in enumerate(nb.cells):
        if _role(cell) == role:
            out.setdefault(exercise_id(cell) or "", []).append(i)
    return out


def solution_code(cell: NotebookNode) -> str:
    """The one ```python block of a solution cell: the code that replaces the stub."""
    blocks = _FENCE.findall(cell.source)
    if len(blocks) != 1:
        raise EditionError(f"The solution cell of exercise {cell.metadata.get('exercise')} has {len(blocks)} "
                           "```python blocks; it needs exactly one (the whole stub cell, solved).")
    return blocks[0].rstrip("\n")


def validate(nb: NotebookNode) -> list[str]:
    """Check the exercise layout and return the exercise ids in order; raise EditionError naming any fault."""
    stubs, checks, sols = (cells_by_role(nb, r) for r in (EXERCISE, CHECK, SOLUTION))
    for ex, idx in stubs.items():
        if len(idx) != 1:
            raise EditionError(f"Exercise {ex} has {len(idx)} stub cells; it needs exactly one.")
        if nb.cells[idx[0]].cell_type != "code":
            raise EditionError(f"The stub of exercise {ex} must be a code cell.")
        if ex not in checks:
            raise EditionError(f"Exercise {ex} has no check cell (tag 'check', metadata exercise={ex!r}).")
        if len(sols.get(ex, [])) != 1:
            raise EditionError(f"Exercise {ex} needs exactly one solution cell in the Solutions section "
                               f"(tag 'solution'); it has {len(sols.get(ex, []))}.")
        if min(checks[ex]) < idx[0]:
            raise EditionError(f"A check cell of exercise {ex} comes before its stub; move it below.")
        sol = nb.cells[sols[ex][0]]
        if sol.cell_type != "markdown" or "<details" not in sol.source:
            raise EditionError(f"The solution of exercise {ex} must be a markdown cell with a collapsed "
                               "<details> block, so that Run All never runs it.")
        solution_code(sol)
    for ex in set(checks) | set(sols):
        if ex not in stubs:
            raise EditionError(f"Exercise {ex} has check or solution cells but no stub cell (tag 'exercise').")
    last_code = max((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), default=-1)
    if sols and min(i for idx in sols.values() for i in idx) < last_code:
        raise EditionError("Solutions must sit in the notebook's final Solutions section, below every code cell.")
    return sorted(stubs, key=lambda ex: stubs[ex][0])


def stub_cell(ex: str, source: str, cell_id: str) -> NotebookNode:
    """A new stub cell (tag ``exercise``) for a notebook-editing script."""
    return nbformat.v4.new_code_cell(source, id=cell_id, metadata={"tags": [EXERCISE], "exercise": ex})


def check_cell(ex: str, source: str, cell_id: str) -> NotebookNode:
    """A new check cell (tag ``check``): its last line calls the exercise's check."""
    return nbformat.v4.new_code_cell(source, id=cell_id, metadata={"tags": [CHECK], "exercise": ex})


def solution_cell(ex: str, summary: str, code: str, why: str, cell_id: str) -> NotebookNode:
    """A new folded solution (tag ``solution``): ``code`` = the whole stub cell solved, ``why`` = a sentence or two."""
    source = (f"<details>\n<summary><b>{summary}</b> (click to open)</summary>\n\n"
              f"```python\n{code.strip()}\n```\n\n{why.strip()}\n\n</details>")
    return nbformat.v4.new_markdown_cell(source, id=cell_id, metadata={"tags": [SOLUTION], "exercise": ex})


def clear_outputs(nb: NotebookNode) -> NotebookNode:
    """A copy without outputs or execution counts."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def learner_edition(nb: NotebookNode) -> NotebookNode:
    """The learner's edition: the source as it is, outputs cleared, layout validated."""
    validate(nb)
    return clear_outputs(nb)


def instructor_edition(nb: NotebookNode) -> NotebookNode:
    """Each stub replaced by its solution (cell ids kept), solutions shown open."""
    nb = learner_edition(nb)
    stubs, sols = cells_by_role(nb, EXERCISE), cells_by_role(nb, SOLUTION)
    for ex, (i,) in stubs.items():
        nb.cells[i].source = solution_code(nb.cells[sols[ex][0]])
    for (j,) in sols.values():
        nb.cells[j].source = re.sub(r"<details>", "<details open>", nb.cells[j].source, count=1)
    return nb


STUDENT_NOTE = ("## Solutions\n\nNot in this edition: your instructor grades these exercises (docs/grading.md). "
                "Each check still tells you *not attempted*, *wrong* with a hint, or *passed*.")


def student_edition(nb: NotebookNode) -> NotebookNode:
    """The graded course's edition: the learner's without any solution (the Solutions heading becomes a note)."""
    nb = learner_edition(nb)
    codes = [solution_code(c) for c in nb.cells if _role(c) == SOLUTION]
    first = next((i for i, c in enumerate(nb.cells) if _role(c) == SOLUTION), None)
    nb.cells = [c for c in nb.cells if _role(c) != SOLUTION]
    if first is not None:
        heading = next((i for i in range(first - 1, -1, -1) if nb.cells[i].cell_type == "markdown"
                        and re.match(r"#+\s*Solutions\b", nb.cells[i].source.strip())), None)
        if heading is not None:
            nb.cells[heading].source = STUDENT_NOTE
    leaks = [c.get("id") for c in nb.cells for code in codes if code.strip() and code.strip() in c.source]
    if leaks:
        raise EditionError(f"Solution code also appears in cell(s) {leaks}; remove it there so the student "
                           "edition gives nothing away.")
    return nb


def check_edition(nb: NotebookNode) -> NotebookNode:
    """CI's edition: the learner's notebook expecting stubs, then each solution and its checks expecting passes."""
    nb = learner_edition(nb)
    order = validate(nb)
    stubs, checks, sols = (cells_by_role(nb, r) for r in (EXERCISE, CHECK, SOLUTION))
    env = 'import os\nos.environ["VAELIB_EXERCISES_EXPECT"] = "{}"  # added by vaelib.exercises.editions'
    first = nbformat.v4.new_code_cell(env.format("stub"), id="expect-stub")
    cells = [first] + list(nb.cells)
    cells.append(nbformat.v4.new_markdown_cell("## CI: each solution against its check", id="ci-solutions"))
    cells.append(nbformat.v4.new_code_cell(env.format("solution"), id="expect-solution"))
    for ex in order:
        stub = nb.cells[stubs[ex][0]]
        cells.append(nbformat.v4.new_code_cell(solution_code(nb.cells[sols[ex][0]]), id=f"{stub.id}-solved"[:64]))
        for n, i in enumerate(checks[ex]):
            cells.append(nbformat.v4.new_code_cell(nb.cells[i].source, id=f"{nb.cells[i].id}-recheck{n}"[:64]))
    nb.cells = cells
    return nb
