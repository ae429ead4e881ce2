"""The test suite's slowest tests: runs pytest with ``--durations`` and writes the table as markdown.

    python benchmarks/slowest_tests.py                      # make test's run (notebooks too), 2 workers
    python benchmarks/slowest_tests.py --unit --top 25      # make unit's tests only
    python benchmarks/slowest_tests.py --out benchmarks/slowest_tests.md --note "idle 2-core CPU"

It builds the notebooks' check editions as ``make test`` does, runs the same pytest command (``--workers 0`` for one
process), and writes the wall time, the pytest summary and the slowest ``--top`` phases (setup, call, teardown of
one test or notebook cell) with their share of the summed durations. With two workers the summed durations exceed
the wall time; the table says which tests to make cheaper first. Timings depend on the machine and its load: record
both in ``--note``.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EDITIONS = ROOT / "_build" / "editions"
NB_FLAGS = ["--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=600"]
LINE = re.compile(r"^\s*([0-9.]+)s (setup|call|teardown)\s+(\S.*)$")


def pytest_command(unit: bool, workers: int, top: int) -> list[str]:
    """The pytest command line of ``make unit`` or ``make test`` (with ``--durations=top``)."""
    xdist = ["-n", str(workers), "--dist", "loadfile", "--no-loadscope-reorder"] if workers else []
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *xdist, f"--durations={top}", "-q"]
    if unit:
        return [*cmd, "tests", "-m", "not slow and not integrity"]
    return [*cmd, str(EDITIONS / "check"), "tests", *NB_FLAGS]


def pytest_env(unit: bool) -> dict[str, str]:
    """The variables the Makefile sets for that command: bytecode cached even where PYTHONDONTWRITEBYTECODE is set,
    and smoke mode for the notebooks of ``make test``."""
    return {"PYTHONDONTWRITEBYTECODE": "", **({} if unit else {"VAELIB_SMOKE": "1"})}


def parse(output: str) -> tuple[list[tuple[float, str, str]], str]:
    """The (seconds, phase, test) rows of pytest's durations report, and its last summary line."""
    rows = [(float(m[1]), m[2], m[3]) for m in map(LINE.match, output.splitlines()) if m]
    summary = next((ln.strip("= ") for ln in reversed(output.splitlines()) if " in " in ln and "passed" in ln), "?")
    return rows, summary


def table(rows: list[tuple[float, str, str]], wall: float, summary: str, command: list[str], note: str) -> str:
    """The markdown record: what ran, where, how long, and the slowest phases."""
    total = sum(s for s, _, _ in rows)
    shown = " ".join(Path(c).name if i == 0 else c.replace(f"{ROOT}/", "") for i, c in enumerate(command))
    lines = [f"# The slowest tests ({note})", "",
             f"`{shown}`", "",
             f"Wall time {wall:.0f} s ({summary}); {platform.machine()}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}.", "",
             "| seconds | share of the listed | phase | test |", "|---:|---:|---|---|"]
    lines += [f"| {s:.1f} | {100 * s / total:.0f}% | {phase} | `{test}` |" for s, phase, test in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    """Command line: run the suite and write (or print) the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--unit", action="store_true", help="make unit's tests only (no notebooks, no slow tier)")
    p.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (0: one process)")
    p.add_argument("--top", type=int, default=20, help="how many of the slowest phases to list")
    p.add_argument("--note", default="", help="the machine and its load, for the table's title")
    p.add_argument("--out", default=None, help="write the markdown here (default: print it)")
    a = p.parse_args(argv)
    env = {**os.environ, **pytest_env(a.unit)}
    if not a.unit:
        subprocess.run([sys.executable, "tools/editions.py", "--out", str(EDITIONS), "--only", "check"], cwd=ROOT,
                       check=True)
    command = pytest_command(a.unit, a.workers, a.top)
    t0 = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    rows, summary = parse(proc.stdout)
    text = table(rows, wall, summary, command, a.note or ("make unit" if a.unit else "make test"))
    if a.out:
        Path(a.out).write_text(text)
    print(text)
    if proc.returncode:
        print(proc.stdout[-3000:], file=sys.stderr)
        raise SystemExit(proc.returncode)
    return text


if __name__ == "__main__":
    main()
