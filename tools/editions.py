"""Write the learner's, the student's, the instructor's and CI's editions of the notebooks, from the committed ones.

    python tools/editions.py [--out _build/editions] [--only NAME ...] [notebooks/NN_name.ipynb ...]

`make editions` calls this. The committed notebooks are the learner's (self-study) edition: solutions folded
in a final Solutions section. The student edition (a graded course) has no solution in it; the instructor's
has each stub replaced by its solution; the check edition is what `make exercises-check` (and CI) runs under
nbval: the learner's notebook with VAELIB_EXERCISES_EXPECT=stub, then each solution and its checks with
=solution, in one kernel. docs/grading.md says which to hand out.

It never overwrites a file it did not write (it keeps a manifest, .editions.json, of what it wrote in --out and
refuses, naming the file, when a target is not in it or was changed since), never writes over an input, and
refuses two inputs with the same name.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
from pathlib import Path

import nbformat

from vaelib.exercises.editions import EditionError, check_edition, instructor_edition, learner_edition, student_edition

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ".editions.json"
EDITIONS = {"learner": learner_edition, "student": student_edition, "instructor": instructor_edition,
            "check": check_edition}


class Refusal(SystemExit):
    """One sentence: what is wrong and what to do."""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path) -> nbformat.NotebookNode:
    """A notebook, or a one-sentence refusal."""
    if path.suffix != ".ipynb":
        raise Refusal(f"tools/editions.py: {path} is not a notebook (.ipynb); give the notebooks to convert.")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # not JSON, not nbformat
        raise Refusal(f"tools/editions.py: {path} is not a readable notebook ({type(err).__name__}); "
                      "give the notebooks to convert.") from None


def plan(notebooks: list[Path], out: Path, editions: list[str]) -> list[tuple[Path, str, Path]]:
    """(input, edition, target) for each file to write; refuses duplicates, inputs as targets and foreign files."""
    names: dict[str, Path] = {}
    for path in notebooks:
        if path.name in names and names[path.name].resolve() != path.resolve():
            raise Refusal(f"tools/editions.py: {names[path.name]} and {path} have the same name, so their editions "
                          "would overwrite each other; convert them in two runs with two --out folders.")
        names[path.name] = path
    inputs = {p.resolve() for p in names.values()}
    manifest = _load_manifest(out)
    jobs = []
    for path in names.values():
        for name in editions:
            target = out / name / path.name
            if target.resolve() in inputs:
                raise Refusal(f"tools/editions.py: {target} is one of the input notebooks; choose another --out "
                              "(an input is never written over).")
            if target.is_symlink() or (target.exists() and manifest.get(_key(out, target)) != _digest(target)):
                raise Refusal(f"tools/editions.py: {target} exists and was not written by this tool (or was edited "
                              "since); move it away or choose another --out (it is never overwritten).")
            jobs.append((path, name, target))
    return jobs


def _key(out: Path, target: Path) -> str:
    return str(target.relative_to(out))


def _load_manifest(out: Path) -> dict[str, str]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def build(notebooks: list[Path], out: Path, editions: list[str]) -> list[Path]:
    """Write each requested edition of each notebook to out/<edition>/<name>; return the written paths."""
    jobs = plan(notebooks, out, editions)
    converted = []
    for path, name, target in jobs:  # convert everything first: a layout fault writes nothing
        try:
            edition = EDITIONS[name](_read(path))
        except EditionError as err:
            raise Refusal(f"tools/editions.py: {path.name}: {err}") from None
        nbformat.validate(edition)
        converted.append((target, nbformat.writes(edition) + "\n"))
    manifest = _load_manifest(out)
    out.mkdir(parents=True, exist_ok=True)
    for target, text in converted:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(target, text)
        manifest[_key(out, target)] = _digest(target)
    _write_atomic(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    return [t for t, _ in converted]


def main(argv: list[str] | None = None) -> None:
    """Command line: the notebooks (default: notebooks/NN_*.ipynb), --out and --only."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "editions", help="default: _build/editions")
    parser.add_argument("--only", nargs="+", choices=sorted(EDITIONS), default=sorted(EDITIONS),
                        help="which editions to write (default: all four)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        raise Refusal(f"tools/editions.py: no such notebook: {', '.join(missing)}")
    for path in notebooks:
        _read(path)
    written = build(notebooks, args.out, args.only)
    print(f"wrote {len(written)} notebooks: " + ", ".join(f"{args.out}/{e}/" for e in args.only))


if __name__ == "__main__":
    main()
