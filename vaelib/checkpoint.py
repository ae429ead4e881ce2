"""The one file format of the series: checkpoints written atomically, read safely, checked for what they hold.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (nothing pickled beyond what
``torch.load(weights_only=True)`` accepts), tagged with the format and what kind of thing it holds:

    {"format": "vaelib-checkpoint-v1", "kind": "vae", "config": {...}, "epoch": int, "model": state_dict,
     "optimizer": state_dict | None, "history": {name: [floats]}, "rng": {"generator": ByteTensor, ...}}

``kind`` is "vae" (a training run or a shipped model), "classifier" (notebook 06's judge), "eval-values"
(a shipped model's per-image test values) or "artefact" (an expensive intermediate result a notebook reads).
This module also owns file hashing (md5 of the MNIST files, sha256 of everything shipped) and the lock that stops
two runs from writing one file.

Used by vaelib.train, vaelib.manifest, vaelib.pretrained and the commands that rebuild pretrained/ (so by every
notebook that trains or loads a model: 00 and 04-08).
"""
from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import math
import os
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

FORMAT = "vaelib-checkpoint-v1"
KINDS = ("vae", "classifier", "eval-values", "artefact")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, not ours, of another kind or config, damaged, or that cannot be written."""


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MB blocks (sha256 for shipped files, md5 for the MNIST files)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _tmp_path(path: Path) -> Path:
    # A name of its own per save (process id and a random token): two writers of one target never share a
    # temporary file, so neither can rename the other's away. Writers make them only under ``_save_lock``, so
    # a .tmp found under that lock is one a killed save left behind, and the next save removes it.
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _stale_tmps(path: Path) -> list[Path]:
    return [p for p in path.parent.glob(f"{glob.escape(path.name)}.*tmp") if p.name.endswith(".tmp")]


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _unwritable(path: Path, err: OSError) -> CheckpointError:
    return CheckpointError(f"Could not write {path} ({err.strerror or err}): pass an output path in a folder you "
                           "can write to (the previous file, if any, is unchanged).")


SAVE_LOCK_SECONDS = 120.0  # how long a save waits for another process's save into the same folder


@contextmanager
def _save_lock(path: Path) -> Iterator[None]:
    """Serialize the saves into one folder across processes: an exclusive flock on the folder itself (no lock file
    is left beside the checkpoint), held only while one file is written and renamed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError as err:  # a file where a folder should be, a folder we may not enter, ...
        raise _unwritable(path, err) from None
    try:
        deadline = time.monotonic() + SAVE_LOCK_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CheckpointError(f"Could not write {path}: another process has been saving into "
                                          f"{path.parent} for {SAVE_LOCK_SECONDS:.0f} s; wait for it to finish, or "
                                          "pass another output folder.") from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:  # its folder is missing or unreadable: then there is no half-written file either
        pass


def _disk_full(err: BaseException) -> bool:
    text = str(err)
    return (isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
        s in text for s in ("No space left", "unexpected pos", "file write failed", "PytorchStreamWriter failed"))


def save_checkpoint(path: str | Path, state: dict[str, Any], kind: str = "vae") -> Path:
    """Write ``state`` (plus the format and ``kind`` tags) to ``path``: a temporary file, fsync, then an atomic
    rename, so a reader sees the old file or the new one, never half of one; a failed save leaves the old file."""
    if kind not in KINDS:
        raise ValueError(f"Unknown checkpoint kind {kind!r}: use one of {KINDS}.")
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"Could not write {path}: it is a folder; pass the path of a file inside it.")
    with _save_lock(path):
        for stale in _stale_tmps(path):  # left by a save that was killed (every live writer waits for this lock)
            _discard(stale)
        return _save(path, {"format": FORMAT, "kind": kind, **state})


def _save(path: Path, state: dict[str, Any]) -> Path:
    tmp = _tmp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them the checkpoint
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # and so is the rename
        finally:
            os.close(dir_fd)
    except (OSError, RuntimeError) as err:
        _discard(tmp)
        if _disk_full(err):
            where = next(p for p in (path.parent, *path.parent.parents) if p.exists())
            free = shutil.disk_usage(where).free / 2**20
            raise CheckpointError(f"Could not write {path}: the disk that holds {where} is full ({free:.0f} MB "
                                  "free there); free some space or pass an output path on another disk (the previous "
                                  "file, if any, is unchanged).") from None
        if isinstance(err, OSError):  # a read-only or missing folder, no permission, ...
            raise CheckpointError(f"Could not write {path} ({err.strerror or err}): pass an output path in a folder "
                                  "you can write to (the previous file, if any, is unchanged).") from None
        raise
    except BaseException:  # Control-C mid-save: no half-written file either (only a kill leaves the .tmp)
        _discard(tmp)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", kind: str = "vae") -> dict[str, Any]:
    """Read a vaelib checkpoint of ``kind`` safely (``weights_only=True``); CheckpointError with what to do
    otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist: pass the path of a checkpoint written by vaelib "
                              "(training writes runs/*.pt; shipped models are in pretrained/).")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # unpickling / zip errors: not a torch file, a truncated one, or not a safe one
        raise CheckpointError(f"{path} is not a readable vaelib checkpoint (torch.load with weights_only=True failed: "
                              f"{type(err).__name__}); move it aside and pass a file written by vaelib.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vaelib checkpoint (no format tag {FORMAT!r}); "
                              "pass the path of a file written by vaelib.")
    if state.get("kind", "vae") != kind:
        raise CheckpointError(f"{path} holds a {state.get('kind')!r} checkpoint, not a {kind!r} one; "
                              "pass the right file.")
    return state


def nonfinite_tensors(state_dict: Any, prefix: str = "") -> list[str]:
    """Names of the floating-point tensors that hold NaN or inf in a state dict, or in any nested dict or list of
    tensors (an optimizer's state dict: "state.0.exp_avg")."""
    if isinstance(state_dict, torch.Tensor):
        finite = not state_dict.is_floating_point() or bool(torch.isfinite(state_dict).all())
        return [] if finite else [prefix.rstrip(".")]
    if isinstance(state_dict, float):
        return [] if math.isfinite(state_dict) else [prefix.rstrip(".")]
    items = (state_dict.items() if isinstance(state_dict, dict)
             else enumerate(state_dict) if isinstance(state_dict, (list, tuple)) else ())
    return [name for key, value in items for name in nonfinite_tensors(value, f"{prefix}{key}.")]


def required(state: dict[str, Any], path: str | Path, *keys: str) -> list[Any]:
    """The values of ``keys`` in a loaded checkpoint, or one sentence naming the first key it lacks."""
    for key in keys:
        if key not in state:
            raise CheckpointError(f"{path} has no {key!r} entry (it is damaged, or was not written by vaelib's "
                                  "trainer): pass a checkpoint written by python -m vaelib.train or "
                                  "vaelib.train.train.")
    return [state[key] for key in keys]


def load_model_state(model: nn.Module, state_dict: dict[str, torch.Tensor], path: str | Path) -> nn.Module:
    """``model.load_state_dict`` with one clear sentence for a damaged or mismatched file (NaN weights,
    missing or extra tensors, wrong shapes) instead of PyTorch's multi-line error."""
    bad = nonfinite_tensors(state_dict)
    if bad:
        raise CheckpointError(f"{path} holds non-finite weights (NaN or inf) in its state_dict ({', '.join(bad[:3])}): "
                              "it comes from a "
                              "diverged run; use an earlier checkpoint, or retrain with a lower learning rate.")
    own = model.state_dict()
    missing, extra = sorted(set(own) - set(state_dict)), sorted(set(state_dict) - set(own))
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state_dict and state_dict[k].shape != v.shape]
    if missing or extra or shapes:
        detail = "; ".join(filter(None, [missing and f"missing {', '.join(missing[:3])}",
                                         extra and f"unexpected {', '.join(extra[:3])}",
                                         shapes and f"shape {', '.join(shapes[:3])}"]))
        raise CheckpointError(f"{path} does not fit this architecture ({detail}): build the model from the "
                              "checkpoint's own config (vaelib.train.model_from_checkpoint), or pass the right file.")
    model.load_state_dict(state_dict)
    return model


@contextmanager
def checkpoint_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a ``.lock`` file beside it) for a whole run; a second run that wants
    the same output path gets a CheckpointError at once instead of silently overwriting the first one's work."""
    path = Path(path)
    lock_path = _lock_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(lock_path, "a")
    except OSError as err:  # a read-only output folder: the clear sentence, before any training starts
        raise _unwritable(path, err) from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(f"Another run is writing to {path} (it holds {lock_path.name}); wait for it to "
                                  "finish, or pass another output path.") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def config_diff(saved: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two nested config dicts."""
    out = []
    for key in sorted(set(saved) | set(wanted)):
        a, b = saved.get(key, "<missing>"), wanted.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_diff(a, b, prefix + key + ".")
        elif a != b and not (isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-12)):
            out.append(f"{prefix}{key}: checkpoint has {a!r}, requested {b!r}")
    return out


def check_config(path: str | Path, state: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Raise CheckpointError naming every field where the checkpoint's config differs from ``wanted``."""
    (saved,) = required(state, path, "config")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path} holds a config that is not a dict (got {type(saved).__name__}): pass a "
                              "checkpoint written by python -m vaelib.train or vaelib.train.train.")
    diff = config_diff(saved, wanted)
    if diff:
        raise CheckpointError(f"Checkpoint {path} was trained with a different config ({'; '.join(diff)}); "
                              "pass another output path (or move this file aside) to train this config.")
