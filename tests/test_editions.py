"""tools/editions.py: the student edition holds no solution; the tool never overwrites what it did not write,
never writes over its input, and refuses in one sentence what it cannot convert (no kernel: cheap)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from vaelib.exercises.editions import solution_code, student_edition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_grade import tiny_source  # noqa: E402  (the two-exercise notebook the grader tests use)


def _tool():
    spec = importlib.util.spec_from_file_location("tools_editions", ROOT / "tools" / "editions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


editions = _tool()


def _write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(tiny_source(), path)
    return path


def test_student_edition_has_no_solution_text():
    nb = tiny_source()
    codes = [solution_code(c) for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    student = student_edition(nb)
    text = json.dumps([c.source for c in student.cells])
    assert codes and all(code not in "\n".join(c.source for c in student.cells) for code in codes)
    assert "<details" not in text and "Solution 1" not in text
    assert any("Not in this edition" in c.source for c in student.cells)
    assert [c.id for c in student.cells] == [c.id for c in nb.cells if "solution" not in c.metadata.get("tags", [])]


def test_every_committed_notebook_has_a_student_edition_without_its_solutions():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        codes = [solution_code(c) for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        body = "\n".join(c.source for c in student_edition(nb).cells)
        assert all(code.strip() not in body for code in codes), path.name


def test_a_second_run_rewrites_its_own_files_but_never_a_foreign_or_edited_one(tmp_path):
    src = _write(tmp_path / "nb" / "01_tiny.ipynb")
    out = tmp_path / "out"
    editions.main([str(src), "--out", str(out)])
    editions.main([str(src), "--out", str(out)])  # its own files: rewritten
    mine = out / "student" / "01_tiny.ipynb"
    mine.write_text(mine.read_text() + " ")  # edited by someone since
    with pytest.raises(SystemExit, match=r"student/01_tiny.ipynb exists and was not written by this tool"):
        editions.main([str(src), "--out", str(out)])
    assert mine.read_text().endswith(" ")
    foreign = tmp_path / "out2" / "check" / "01_tiny.ipynb"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("my own notes")
    with pytest.raises(SystemExit, match="never overwritten"):
        editions.main([str(src), "--out", str(tmp_path / "out2")])
    assert foreign.read_text() == "my own notes"
    assert not (tmp_path / "out2" / "learner").exists()  # a refusal writes nothing


def test_never_writes_over_its_input(tmp_path):
    src = _write(tmp_path / "check" / "01_tiny.ipynb")
    before = src.read_bytes()
    with pytest.raises(SystemExit, match="is one of the input notebooks"):
        editions.main([str(src), "--out", str(tmp_path), "--only", "check"])
    assert src.read_bytes() == before


def test_same_named_notebooks_and_non_notebooks_are_refused_in_one_sentence(tmp_path):
    a, b = _write(tmp_path / "a" / "01_tiny.ipynb"), _write(tmp_path / "b" / "01_tiny.ipynb")
    with pytest.raises(SystemExit, match="have the same name") as err:
        editions.main([str(a), str(b), "--out", str(tmp_path / "out")])
    assert str(err.value).count(". ") == 0
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(SystemExit, match="is not a notebook"):
        editions.main([str(text), "--out", str(tmp_path / "out")])
    broken = tmp_path / "02_broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(SystemExit, match="not a readable notebook"):
        editions.main([str(broken), "--out", str(tmp_path / "out")])


def test_the_editions_tool_loads_without_torch():
    """tools/editions.py (make test's first, serial step; the instructors' tool) edits notebooks only: importing it
    must not load torch through the exercises package (that cost 2.6 s of every make test)."""
    code = ("import runpy, sys\nsys.argv = ['editions.py', '--help']\n"
            f"try:\n    runpy.run_path({str(ROOT / 'tools' / 'editions.py')!r}, run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'vaelib.exercises.core') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out
