"""One setup call for every notebook: threads, figure theme, smoke switch, seed and data root in one line.

Every notebook's setup cell (00-09) ends with ``gen = setup_notebook(seed=0).gen``. It sits above
``vaelib.config`` (paths, smoke switch, seeding, device) and ``vaelib.plots`` (the theme), which is why it is a
module of its own rather than a function of ``config``.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from vaelib.config import data_root, describe_run, seed_everything, smoke
from vaelib.plots import set_theme

MAX_THREADS = 2  # the series' models are small: more threads rarely pay, and a shared machine pays for them


@dataclass(frozen=True)
class NotebookRun:
    """What a notebook's setup cell gets back: the seeded generator and the settings the run uses."""

    gen: torch.Generator
    seed: int
    smoke: bool
    threads: int
    theme: str
    data_root: Path


def notebook_threads() -> int:
    """The series' one thread policy: ``$VAELIB_THREADS`` if set; else 1 in smoke mode (CI, a busy machine, where
    two threads competing with another job can run ten times slower) and up to 2 in full mode."""
    env = os.environ.get("VAELIB_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"VAELIB_THREADS={env!r} is not a positive whole number: set it to e.g. 1 or 2, "
                             "or unset it.")
        return int(env)
    return 1 if smoke() else max(1, min(MAX_THREADS, os.cpu_count() or 1))


def _colab_widgets() -> bool:
    """On Colab, turn on its manager for third-party widgets (ipympl's figures, the explorers); True if it did."""
    colab = sys.modules.get("google.colab")  # imported by Colab's kernel at start; never imported here
    output = getattr(colab, "output", None)
    if output is None:
        return False
    output.enable_custom_widget_manager()
    return True


def setup_notebook(seed: int = 0, theme: str | None = None) -> NotebookRun:
    """Set torch's threads, the series' figure theme ("talk" with ``VAELIB_TALK=1``), every seed and, on Colab, its
    widget manager; print the run (mode, device, torch, threads; where MNIST will go when it is not there yet);
    return the seeded generator and the settings."""
    threads = notebook_threads()
    torch.set_num_threads(threads)
    _colab_widgets()
    context = set_theme(theme)
    gen = seed_everything(seed)
    root = data_root()
    print(describe_run())
    if not (root / "MNIST" / "raw").is_dir():
        print(f"data: MNIST is not here yet; a notebook that needs it downloads it into {root} (about 12 MB)")
    return NotebookRun(gen, seed, smoke(), threads, context, root)
