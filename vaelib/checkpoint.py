"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``, checked for origin and config.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (nothing pickled beyond
what ``weights_only=True`` accepts):

    {"format": "vaelib-checkpoint-v1", "config": {...}, "epoch": int, "model": state_dict,
     "optimizer": state_dict | None, "history": {name: [floats]}, "rng": {"generator": ByteTensor,
     "torch": ByteTensor}}

Used by vaelib.train and by the shipped models in pretrained/ (notebooks 04-06).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "vaelib-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint that is not ours, or whose config differs from the one requested."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format tag) to a temporary file in the same folder, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"format": FORMAT, **state}, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a checkpoint is an ordinary readable file
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one, never half
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a vaelib checkpoint safely (``weights_only=True``); raise CheckpointError if it is not one."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # unpickling / zip errors: not a torch file, or not a safe one
        raise CheckpointError(
            f"{path} is not a vaelib checkpoint (torch.load with weights_only=True failed: "
            f"{type(err).__name__}); delete it or pass the path of a file written by vaelib.train."
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a vaelib checkpoint (no format tag {FORMAT!r}); "
            "pass the path of a file written by vaelib.train."
        )
    return state


def config_diff(saved: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two nested config dicts."""
    out = []
    for key in sorted(set(saved) | set(wanted)):
        a, b = saved.get(key, "<missing>"), wanted.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_diff(a, b, prefix + key + ".")
        elif a != b:
            out.append(f"{prefix}{key}: checkpoint has {a!r}, requested {b!r}")
    return out


def check_config(path: str | Path, state: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Raise CheckpointError naming every field where the checkpoint's config differs from ``wanted``."""
    diff = config_diff(state["config"], wanted)
    if diff:
        raise CheckpointError(
            f"Checkpoint {path} was trained with a different config ({'; '.join(diff)}); "
            "use a different checkpoint path, or delete this file to retrain."
        )
