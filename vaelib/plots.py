"""Plotting helpers shared by the notebooks: one theme, image grids, learning curves.

Every helper takes ``ax=None`` (it makes its own figure when none is given) and returns the figure.
"""
from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure


def set_theme() -> None:
    """The series' one look: seaborn's whitegrid theme, a colour-blind palette, compact figures."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind",
                  rc={"figure.figsize": (6.0, 4.0), "figure.dpi": 100, "axes.titlesize": "medium"})


def get_axes(ax: plt.Axes | None, figsize: tuple[float, float] = (6.0, 4.0)) -> tuple[Figure, plt.Axes]:
    """The given Axes and its figure, or a new figure of ``figsize`` with one Axes (the ``ax=None`` idiom)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def image_grid(images: torch.Tensor, nrow: int | None = None, ax: plt.Axes | None = None,
               title: str | None = None, pad: int = 2) -> Figure:
    """Show (N, 784) or (N, 28, 28) images in [0, 1] as one grid (``nrow`` images per row)."""
    imgs = images.detach().float().cpu().reshape(-1, 28, 28).numpy()
    n = len(imgs)
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    canvas = np.full((rows * (28 + pad) + pad, nrow * (28 + pad) + pad), 0.15)  # light-grey separators
    for i, img in enumerate(imgs):
        r, c = divmod(i, nrow)
        canvas[pad + r * (28 + pad): pad + r * (28 + pad) + 28, pad + c * (28 + pad): pad + c * (28 + pad) + 28] = img
    fig, ax = get_axes(ax, (nrow * 0.6, rows * 0.6))
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def learning_curves(history: dict[str, Sequence[float]], keys: Sequence[str] = ("elbo", "recon", "kl"),
                    axes: Sequence[plt.Axes] | None = None) -> Figure:
    """Train and validation curves per epoch, one panel per term (``train_<key>`` and ``val_<key>``)."""
    if axes is None:
        fig, axes = plt.subplots(1, len(keys), figsize=(4.0 * len(keys), 3.2))
        axes = np.atleast_1d(axes)
    fig = axes[0].figure
    for ax, key in zip(axes, keys):
        epochs = np.arange(1, len(history[f"train_{key}"]) + 1)
        ax.plot(epochs, history[f"train_{key}"], label="train")
        ax.plot(epochs, history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{key} (nats)")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    return fig
