"""Write the learner's, the instructor's and CI's editions of the notebooks, from the committed ones.

    python tools/editions.py [--out _build/editions] [notebooks/NN_name.ipynb ...]

`make editions` calls this. The committed notebooks are the learner's edition (solutions collapsed
in a final Solutions section); the instructor's edition has each stub replaced by its solution; the
check edition is what `make exercises-check` (and CI) runs under nbval: the learner's notebook with
VAELIB_EXERCISES_EXPECT=stub, then each solution and its checks with =solution, in one kernel.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

from vaelib.exercises.editions import EditionError, check_edition, instructor_edition, learner_edition

ROOT = Path(__file__).resolve().parent.parent

EDITIONS = {"learner": learner_edition, "instructor": instructor_edition, "check": check_edition}


def build(notebooks: list[Path], out: Path, editions: list[str]) -> list[Path]:
    """Write each requested edition of each notebook to out/<edition>/<name>; return the written paths."""
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for name in editions:
            target = out / name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                edition = EDITIONS[name](nb)
            except EditionError as err:
                raise SystemExit(f"tools/editions.py: {path.name}: {err}") from None
            nbformat.validate(edition)
            nbformat.write(edition, target)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    """Command line: the notebooks (default: notebooks/NN_*.ipynb), --out and --only."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "editions", help="default: _build/editions")
    parser.add_argument("--only", nargs="+", choices=sorted(EDITIONS), default=sorted(EDITIONS),
                        help="which editions to write (default: all three)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        raise SystemExit(f"tools/editions.py: no such notebook: {', '.join(missing)}")
    written = build(notebooks, args.out, args.only)
    print(f"wrote {len(written)} notebooks: " + ", ".join(f"{args.out}/{e}/" for e in args.only))


if __name__ == "__main__":
    main()
