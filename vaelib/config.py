"""Configuration shared by every notebook: paths, the smoke switch, seeding and the device.

Nothing here runs at import time; each value is read from the environment when asked for, so a
test can set ``VAELIB_SMOKE`` or ``VAELIB_DATA`` with ``monkeypatch`` and see the effect.

Environment variables
---------------------
``VAELIB_SMOKE``  "1" shrinks data and epochs for CI (same code, smaller numbers).
``VAELIB_DATA``   folder that holds ``MNIST/raw/`` (default ``<repo>/data``; ``~/.cache/vaelib/data`` when installed).
``VAELIB_RUNS``   folder for checkpoints that notebooks train (default ``<repo>/runs``; likewise).
``VAELIB_THREADS`` torch threads for a notebook (default: 1 in smoke mode, else up to 2; see ``vaelib.notebook``).
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
# A clone has pyproject.toml and pretrained/ beside vaelib/. An installed wheel (pip, Colab) carries the manifest as
# package data in vaelib/shipped/ and fetches the files it lists there on first use (vaelib.remote); its data and
# runs default to a per-user cache folder instead of site-packages.
IN_CLONE = (REPO_ROOT / "pyproject.toml").is_file()
PRETRAINED_DIR = REPO_ROOT / "pretrained" if IN_CLONE else PACKAGE_DIR / "shipped"


def user_folder(name: str) -> Path:
    """Default home of ``name`` ("data", "runs"): ``<repo>/name`` in a clone, else ``$XDG_CACHE_HOME/vaelib/name``
    (``~/.cache/vaelib/name``) for an installed vaelib."""
    if IN_CLONE:
        return REPO_ROOT / name
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(cache).expanduser() / "vaelib" / name


def smoke() -> bool:
    """True when ``VAELIB_SMOKE`` is set to a true value (CI's fast mode)."""
    return os.environ.get("VAELIB_SMOKE", "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full: T, smoke_value: T) -> T:
    """Return ``smoke_value`` in smoke mode, else ``full``: the one switch for sizes and epochs."""
    return smoke_value if smoke() else full


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data folder: explicit argument, then ``$VAELIB_DATA``, then ``<repo>/data``.

    The data folder is the one that holds ``MNIST/raw/``; a path that names ``MNIST/raw`` (or ``MNIST``)
    itself is accepted and resolved to the folder above ``MNIST``."""
    if root is None:
        root = os.environ.get("VAELIB_DATA", "").strip() or None
    if root is None:
        return user_folder("data")
    path = Path(root).expanduser().resolve()
    if not (path / "MNIST" / "raw").is_dir():
        if path.name == "raw" and path.parent.name == "MNIST":
            return path.parent.parent
        if path.name == "MNIST" and (path / "raw").is_dir():
            return path.parent
    return path


def runs_dir() -> Path:
    """Folder for checkpoints trained by notebooks and the CLI (``$VAELIB_RUNS`` or ``<repo>/runs``)."""
    env = os.environ.get("VAELIB_RUNS", "").strip()
    path = Path(env).expanduser().resolve() if env else user_folder("runs")
    if path.exists() and not path.is_dir():
        raise ValueError(f"VAELIB_RUNS names {path}, which is a file, not a folder: set VAELIB_RUNS to a folder "
                         "(it is made if missing), or unset it to use the default runs folder.")
    return path


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a CPU ``torch.Generator`` seeded alike."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


_DEVICES = ("auto", "cpu", "cuda", "mps")


def get_device(name: str = "auto", verbose: bool = True) -> torch.device:
    """Resolve ``"auto"`` to cuda, then mps, then cpu; accept an explicit "cpu", "cuda", "cuda:N", "mps"."""
    base = name.split(":")[0]
    if base not in _DEVICES:
        raise ValueError(
            f"Unknown device {name!r}: use one of 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
        )
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
        if verbose:
            print(f"vaelib: device 'auto' resolved to {name!r}")
    elif base == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {name!r} was requested but CUDA is not available here: use 'auto' or 'cpu'.")
    elif base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"Device {name!r} was requested but MPS is not available here: use 'auto' or 'cpu'.")
    return torch.device(name)


def describe_run() -> str:
    """One line for a notebook's setup cell: mode, device and torch version."""
    mode = "SMOKE (VAELIB_SMOKE=1: small data, few epochs)" if smoke() else "FULL"
    dev = get_device("auto", verbose=False)
    return f"mode: {mode} | device: {dev} | torch {torch.__version__} | threads {torch.get_num_threads()}"
