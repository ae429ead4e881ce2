"""Grade submitted notebooks: run each one, collect every check's verdict, write one CSV row per exercise.

    python tools/grade.py SUBMISSION.ipynb ... [--out grades.csv] [--smoke] [--timeout 600]

Each submission is executed top to bottom in a fresh temporary folder (nbclient, the kernel of this
environment; the file itself is only read) with VAELIB_EXERCISES_REPORT pointing at a report file, so every check
appends its verdict there; cells that raise do not stop the run. Rows: file, exercise, status,
message. An exercise of the notebook whose check never ran (cell deleted, kernel died, timeout) is
"not run". It runs the students' code with your permissions: grade inside a container or a VM if
you do not trust it.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from vaelib.exercises import nb00, nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08, nb09  # noqa: F401 (fills REGISTRY)
from vaelib.exercises.core import REGISTRY, REPORT_ENV
from vaelib.exercises.editions import EXERCISE, cells_by_role

NOT_RUN = "not run"
FIELDS = ("file", "exercise", "status", "message")


def expected_exercises(nb: nbformat.NotebookNode) -> list[str]:
    """Every exercise of the notebook(s) this submission belongs to: its stub cells' ids, plus every check
    registered for the same notebook number (so that a deleted exercise still gets a row)."""
    ids = list(cells_by_role(nb, EXERCISE))
    for number in sorted({ex.split(".")[0] for ex in ids}):
        ids += [ex for ex in REGISTRY if ex.startswith(f"{number}.") and ex not in ids]
    return ids


def run_submission(path: Path, timeout: int, smoke: bool) -> tuple[list[dict[str, str]], str]:
    """Execute one submission; return the check reports (last verdict per exercise wins) and a run note."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="vaelib-grade-") as tmp:
        report = Path(tmp) / "report.jsonl"
        saved = {k: os.environ.get(k) for k in (REPORT_ENV, "VAELIB_SMOKE", "VAELIB_EXERCISES_EXPECT")}
        os.environ[REPORT_ENV] = str(report)  # the kernel inherits this process's environment
        os.environ.pop("VAELIB_EXERCISES_EXPECT", None)  # grade what the student wrote, never assert
        if smoke:
            os.environ["VAELIB_SMOKE"] = "1"
        else:
            os.environ.pop("VAELIB_SMOKE", None)  # full mode unless --smoke, whatever this shell has set
        note = ""
        try:
            NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                           resources={"metadata": {"path": tmp}}).execute()
        except (CellTimeoutError, DeadKernelError) as err:
            note = f"the run stopped early: {type(err).__name__}"
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        lines = report.read_text(encoding="utf-8").splitlines() if report.exists() else []
    verdicts: dict[str, dict[str, str]] = {}
    for line in lines:
        entry = json.loads(line)
        verdicts[entry["exercise"]] = entry
    errors = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error")
    if errors and not note:
        note = f"{errors} cell(s) raised an error"
    return list(verdicts.values()), note


def grade(submissions: list[Path], timeout: int = 600, smoke: bool = False) -> list[dict[str, str]]:
    """One row per (submission, exercise): status passed / wrong / not attempted / not run, and the message."""
    rows = []
    for path in submissions:
        try:
            expected = expected_exercises(nbformat.read(path, as_version=4))
        except Exception as err:  # not JSON, not a notebook: one row says so, the others are still graded
            rows.append({"file": path.name, "exercise": "", "status": NOT_RUN,
                         "message": f"not a readable notebook ({type(err).__name__}); ask for the .ipynb file again"})
            continue
        verdicts, note = run_submission(path, timeout, smoke)
        by_id = {v["exercise"]: v for v in verdicts}
        for ex in expected + [ex for ex in by_id if ex not in expected]:
            v = by_id.get(ex)
            if v is None:
                message = "its check did not run (check cell deleted or edited, or the run stopped before it)"
                rows.append({"file": path.name, "exercise": ex, "status": NOT_RUN,
                             "message": f"{message}; {note}" if note else message})
            else:
                rows.append({"file": path.name, "exercise": ex, "status": v["status"], "message": v["message"]})
    return rows


def _is_grades_file(path: Path) -> bool:
    """True when ``path`` starts with this tool's CSV header (so overwriting it loses no one's work)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return bool(lines) and lines[0] == ",".join(FIELDS)


def main(argv: list[str] | None = None) -> None:
    """Command line: submissions, --out, --smoke, --timeout; prints a per-status summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("submissions", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV file to write (default grades.csv)")
    parser.add_argument("--smoke", action="store_true", help="run with VAELIB_SMOKE=1 (small data, few epochs)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.submissions if not p.is_file()]
    if missing:
        raise SystemExit(f"tools/grade.py: no such submission: {', '.join(missing)}")
    if args.out.exists() and not _is_grades_file(args.out):
        raise SystemExit(f"tools/grade.py: {args.out} exists and is not a grades file from this tool; "
                         "choose another --out (it is never overwritten).")
    rows = grade(args.submissions, args.timeout, args.smoke)
    with args.out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(f"{len(args.submissions)} submission(s), {len(rows)} rows -> {args.out}: "
          + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
