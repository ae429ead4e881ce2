"""ruff (configured in pyproject.toml: line length 120, pyflakes, pycodestyle, import order) is clean on vaelib,
tools, tests, benchmarks and the notebooks' code, with no exceptions. About 1 s.

`ruff check --fix` fixes the import order and unused imports; the rest (long lines, `l` as a name, assigned
lambdas) is fixed by hand.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vaelib.config import REPO_ROOT

PATHS = ("vaelib", "tools", "tests", "benchmarks", "notebooks")


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "json", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False)


def test_ruff_is_clean_on_the_code_and_the_notebooks():
    run = ruff(*PATHS)
    assert run.returncode in (0, 1), run.stderr  # 2: ruff itself failed (its configuration, a file it cannot read)
    found = json.loads(run.stdout)
    flagged = sorted(f"{Path(f['filename']).resolve().relative_to(REPO_ROOT.resolve())}:{f['location']['row']}: "
                     f"{f['code']} {f['message']}" for f in found)
    assert not flagged, "ruff check flags (ruff check --fix fixes the imports):\n" + "\n".join(flagged)
