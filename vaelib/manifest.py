"""The manifest of pretrained/: its schema, reading and verifying it, and the one writer of shipped files.

pretrained/manifest.json lists everything shipped. Each entry has a ``name``, a ``kind`` ("vae" by default,
"classifier", or "artefact" for an expensive intermediate result such as notebook 06's sweep), the ``file`` (a
name inside pretrained/, or null for a model recorded by its test values only) and its ``sha256``, optionally a
``values_file`` with its ``values_sha256`` (per-image test values), and the ``command`` that rebuilds it
(``make pretrained`` runs every one, in dependency order). ``read_manifest`` checks every entry against
``SCHEMA`` and says in one sentence which entry and which key is wrong; ``verified_file`` checks a file against
its sha256 before anything reads it.

``ship`` is the only code that writes into pretrained/: under the manifest's lock it copies finished files in
atomically (a temporary file, fsync, rename) and records them with their sha256, so a reader sees the old file and
entry or the new ones. The commands (``vaelib.build``, ``vaelib.artefacts``, ``vaelib.sweep``,
``vaelib.twostage``) call it only with the complete result of the entry's own command; anything else (a trial
run, a part) is written under runs/. Used by notebooks 04-08 through ``vaelib.pretrained``.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import Any

from vaelib.checkpoint import file_digest
from vaelib.config import PRETRAINED_DIR
from vaelib.remote import fetch_shipped

MANIFEST = PRETRAINED_DIR / "manifest.json"
EVAL_SEED = 1234  # seed of the test-set binarization and of z in the manifest's numbers (every shipped model)
ARTEFACT_KIND = "artefact"  # the checkpoint kind of values computed from shipped models (vaelib.checkpoint.KINDS)
ABOUT = ("Everything shipped in pretrained/; `make pretrained` rebuilds all of it, each entry's `command` rebuilds "
         "that entry.")
KINDS = ("vae", "classifier", "artefact")
COMMAND_PREFIX = "python -m vaelib."
_SHA256 = re.compile(r"[0-9a-f]{64}")

# key -> allowed JSON types (None: JSON null); required keys of every entry, and of the kinds that need more
SCHEMA: dict[str, tuple[type | None, ...]] = {
    "name": (str,), "kind": (str,), "file": (str, None), "sha256": (str, None), "command": (str,),
    "values_file": (str,), "values_sha256": (str,), "config": (dict,), "epochs": (int,), "eval_seed": (int,),
    "k": (int,), "n_test": (int,), "test_elbo": (float, int), "test_elbo_se": (float, int),
    "test_recon": (float, int), "test_kl": (float, int), "test_logpx": (float, int, None),
    "test_logpx_se": (float, int, None), "notebook": (str,),
}
REQUIRED = ("name", "file", "sha256", "command")
REQUIRED_BY_KIND = {"vae": ("config",)}
FILE_KEYS = {"file": "sha256", "values_file": "values_sha256"}  # a shipped file's key -> its digest's key


class PretrainedError(RuntimeError):
    """The manifest or a shipped file is missing, unreadable or changed; the message says how to restore it."""


def _restore_manifest(path: Path) -> str:
    return f"restore it with `git checkout -- {path.parent.name}/{path.name}`"


def restore_advice(entry: Mapping[str, Any]) -> str:
    """How to get a damaged or missing shipped file back: git, or the entry's own rebuilding command."""
    return f"restore it with `git checkout -- pretrained/` or rebuild it with `{entry['command']}`"


def _type_ok(value: Any, types: tuple[type | None, ...]) -> bool:
    if value is None:
        return None in types
    if isinstance(value, bool):  # JSON true/false is no number
        return bool in types
    return any(t is not None and isinstance(value, t) for t in types)


def _type_names(types: tuple[type | None, ...]) -> str:
    return " or ".join("null" if t is None else {"str": "a string", "dict": "an object", "int": "an integer",
                                                 "float": "a number"}[t.__name__] for t in types)


def entry_problem(entry: Any, folder: Path) -> str | None:
    """What is wrong with one manifest entry (a phrase naming the key), or None if it fits ``SCHEMA``."""
    if not isinstance(entry, dict):
        return f"is a {type(entry).__name__}, not an object with a name, file, sha256 and command"
    kind = entry.get("kind", "vae")
    for key in (*REQUIRED, *REQUIRED_BY_KIND.get(kind, ())):
        if key not in entry:
            return f"has no {key!r} key"
    for key, types in SCHEMA.items():
        if key in entry and not _type_ok(entry[key], types):
            return f"has {key!r} = {entry[key]!r:.40}, which should be {_type_names(types)}"
    if kind not in KINDS:
        return f"has 'kind' = {kind!r}, which should be one of {KINDS}"
    if not entry["command"].startswith(COMMAND_PREFIX):
        return f"has 'command' = {entry['command']!r:.60}, which should start with {COMMAND_PREFIX!r}"
    for key, digest_key in FILE_KEYS.items():
        if entry.get(key) is None:
            if key in entry and entry.get(digest_key) is not None:
                return f"has {digest_key!r} but {key!r} is null"
            continue
        if digest_key not in entry:
            return f"has {key!r} but no {digest_key!r} key"
        if not isinstance(entry[digest_key], str) or not _SHA256.fullmatch(entry[digest_key]):
            return f"has {digest_key!r} = {entry[digest_key]!r:.20}, which should be 64 hexadecimal digits"
        name = entry[key]
        inside = (folder / name).resolve().is_relative_to(folder.resolve())
        if not name or PurePath(name).is_absolute() or ".." in PurePath(name).parts or not inside:
            return f"has {key!r} = {name!r:.60}, which is not a file inside {folder.name}/"
    return None


def read_manifest(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The manifest's entries (default: pretrained/manifest.json), each checked against ``SCHEMA``; PretrainedError
    in one sentence if the manifest is missing, not JSON, or an entry or key is wrong (it names them)."""
    path = Path(path) if path is not None else MANIFEST
    if not path.parent.is_dir():  # e.g. `pip install .` copied vaelib away from the repository's pretrained/
        raise PretrainedError(f"There is no folder {path.parent}, so no shipped model can be found: use vaelib from a "
                              "clone of the repository (`pip install -e .` there), where pretrained/ sits beside it.")
    if not path.is_file():
        raise PretrainedError(f"{path} is missing, so no shipped model can be found: {_restore_manifest(path)}.")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PretrainedError(f"{path} is not a valid manifest ({type(err).__name__}: {err}): "
                              f"{_restore_manifest(path)}.") from None
    if not isinstance(doc, dict) or "models" not in doc:
        raise PretrainedError(f"{path} is not a valid manifest (it is no object with a 'models' list): "
                              f"{_restore_manifest(path)}.")
    if not isinstance(doc["models"], list):
        raise PretrainedError(f"{path} is not a valid manifest (its 'models' is a {type(doc['models']).__name__}, "
                              f"not a list of entries): {_restore_manifest(path)}.")
    names: set[str] = set()
    for i, entry in enumerate(doc["models"]):
        who = f"{entry['name']!r}" if isinstance(entry, dict) and isinstance(entry.get("name"), str) else f"#{i + 1}"
        problem = entry_problem(entry, path.parent)
        if problem is None and entry["name"] in names:
            problem = "appears twice"
        if problem is not None:
            raise PretrainedError(f"{path} is not a valid manifest (entry {who} {problem}): "
                                  f"{_restore_manifest(path)}.")
        names.add(entry["name"])
    return doc["models"]


def manifest_entry(name: str, path: str | Path | None = None) -> dict[str, Any]:
    """The manifest entry called ``name`` (KeyError with the available names if absent)."""
    entries = {m["name"]: m for m in read_manifest(path)}
    if name not in entries:
        raise KeyError(f"No shipped entry {name!r} in {path or MANIFEST}; available: {sorted(entries)} "
                       "(`python -m vaelib.build list` lists them with the command that rebuilds each).")
    return entries[name]


def verified_file(entry: dict[str, Any], key: str = "file", manifest: str | Path | None = None) -> Path:
    """Path of a shipped file (``entry[key]``, key "file" or "values_file") after checking that it exists and matches
    its sha256; ``entry`` comes from ``read_manifest(manifest)``, whose folder holds the file."""
    folder = Path(manifest).parent if manifest is not None else MANIFEST.parent
    if entry.get(key) is None:
        raise PretrainedError(f"{entry['name']!r} is recorded by its test values only (its checkpoint is not shipped): "
                              f"`{entry['command']}` trains it into runs/ and records its values.")
    path = folder / entry[key]
    # an installed vaelib fetches a missing file (vaelib.remote); a clone never does
    fetch_shipped(path, entry[FILE_KEYS[key]])
    if not path.is_file():
        raise PretrainedError(f"The shipped file {path} is missing: {restore_advice(entry)}.")
    if file_digest(path, "sha256") != entry[FILE_KEYS[key]]:
        raise PretrainedError(f"The shipped file {path} does not match its sha256 in the manifest (changed or "
                              f"damaged): {restore_advice(entry)}.")
    return path


def verify_all(path: str | Path | None = None) -> list[str]:
    """Check every file every entry names (``file`` and ``values_file``) against its sha256; the problems found,
    one sentence each (an empty list when all is well)."""
    path = Path(path) if path is not None else MANIFEST
    problems = []
    for entry in read_manifest(path):
        for key in FILE_KEYS:
            if entry.get(key) is not None:
                try:
                    verified_file(entry, key, path)
                except PretrainedError as err:
                    problems.append(str(err))
    return problems


@contextmanager
def manifest_lock(path: Path) -> Iterator[None]:
    """Hold the manifest's lock (``manifest.lock`` beside it): writers of pretrained/ take turns, never interleave."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _replace_atomically(path: Path, write: Any) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, fsync it, rename it over ``path``, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def ship(entry: dict[str, Any], files: Mapping[str, Path], manifest: str | Path | None = None) -> dict[str, Any]:
    """Copy the finished ``files`` (key "file" or "values_file" -> a file written elsewhere, e.g. under runs/) into
    pretrained/ under their own names, record their sha256 in ``entry`` and add or replace that entry (by name) in
    the manifest: the one writer of pretrained/, all under the manifest's lock. Nothing is written if the entry or
    the manifest does not fit the schema. Returns the recorded entry."""
    manifest = Path(manifest) if manifest is not None else MANIFEST
    entry = dict(entry)
    for key, src in files.items():
        entry[key], entry[FILE_KEYS[key]] = Path(src).name, file_digest(src)
    problem = entry_problem(entry, manifest.parent)
    if problem is not None:
        raise ValueError(f"Refusing to ship {entry.get('name')!r}: the entry {problem}.")
    with manifest_lock(manifest):
        others = [m for m in (read_manifest(manifest) if manifest.exists() else []) if m["name"] != entry["name"]]
        for key, src in files.items():
            _replace_atomically(manifest.parent / entry[key], lambda tmp, s=src: shutil.copyfile(s, tmp))
            if file_digest(manifest.parent / entry[key]) != entry[FILE_KEYS[key]]:  # changed while we copied it
                raise PretrainedError(f"{src} changed while it was shipped: run `{entry['command']}` again.")
        doc = {"about": ABOUT, "models": sorted([*others, entry], key=lambda m: m["name"])}
        _replace_atomically(manifest, lambda tmp: tmp.write_text(json.dumps(doc, indent=2) + "\n"))
    return entry


def register_artefact(name: str, path: Path, command: str, manifest: str | Path | None = None,
                      **info: Any) -> dict[str, Any]:
    """Ship an expensive intermediate result (e.g. notebook 06's sweep), written at ``path`` under runs/, as
    pretrained/<path's name> with its sha256 and the ``command`` that rebuilds it."""
    return ship({"name": name, "kind": "artefact", "file": None, "sha256": None, "command": command, **info},
                {"file": path}, manifest)
