"""Plotting helpers shared by the notebooks: one theme, legends outside the data, image grids, learning curves.

``set_theme()`` is the series' one look. ``set_theme("talk")``, or ``VAELIB_TALK=1`` in the environment
of ``make lab``, makes every figure lecture-sized for a projector. Under Jupyter, figures are sent as
retina PNGs (twice the pixels, shown at the same size), so they stay sharp on high-density screens.
Every helper takes ``ax=None`` (it makes its own figure when none is given) and returns the figure.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Any, Literal, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import cycler
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from vaelib import figcheck

TALK_ENV = "VAELIB_TALK"
# Widest figure, in inches at figure.dpi = 100, that JupyterLab shows unshrunk: its output area is 848 CSS px
# wide in a 1280 px Chromium window with the file browser open (JupyterLab 4.6; 1356 px at 1920), and wider
# images are scaled down to fit. 8 in = 800 px leaves room for a legend placed outside the axes. In "talk"
# figures are 1.25x larger (10 in): present with the file browser closed (Ctrl+B).
MAX_WIDTH = 8.0
FIGSIZE = {"notebook": (6.4, 4.0), "talk": (8.0, 5.0)}
# In "talk", under Jupyter, the page's widget controls, readouts and printed lines grow with the figures.
TALK_CSS = ("<style>.jp-OutputArea-output pre, .widget-label, .widget-readout, .widget-radio-box label,"
            " .widget-dropdown select, .widget-toggle-button {font-size: 20px !important; line-height: 1.4 !important}"
            " .widget-slider .noUi-handle {transform: scale(1.4)}</style>")
# The series' look, written out: what seaborn's ``set_theme(style="whitegrid", palette="colorblind")`` sets, with its
# "notebook" context (fonts, line widths) times 1 or its "talk" context times 1.5. tests/test_plots.py checks these
# against seaborn itself; vaelib does not import seaborn (with pandas and scipy.stats it cost every kernel start about
# 1.4 s of CPU). Matplotlib's named colours stay as they are ("k" is black).
COLORBLIND = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133",
              "#56b4e9"]  # seaborn's "colorblind" palette
_WHITEGRID = {
    "axes.axisbelow": True, "axes.edgecolor": ".8", "axes.grid": True, "axes.labelcolor": ".15",
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "grid.color": ".8", "lines.solid_capstyle": "round", "patch.edgecolor": "w", "patch.force_edgecolor": True,
    "text.color": ".15", "xtick.bottom": False, "xtick.color": ".15", "ytick.color": ".15", "ytick.left": False,
}
_CONTEXT = {  # sizes in points at the "notebook" scale
    "font.size": 12, "axes.labelsize": 12, "axes.titlesize": 12, "xtick.labelsize": 11, "ytick.labelsize": 11,
    "legend.fontsize": 11, "legend.title_fontsize": 12, "axes.linewidth": 1.25, "grid.linewidth": 1,
    "lines.linewidth": 1.5, "lines.markersize": 6, "patch.linewidth": 1, "xtick.major.width": 1.25,
    "ytick.major.width": 1.25, "xtick.minor.width": 1, "ytick.minor.width": 1, "xtick.major.size": 6,
    "ytick.major.size": 6, "xtick.minor.size": 4, "ytick.minor.size": 4,
}
_CONTEXT_SCALE = {"notebook": 1.0, "talk": 1.5}
_RC = {  # on top of the context (which sizes fonts: legend text as large as tick labels)
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "legend.frameon": True,
    "legend.framealpha": 0.9,
    "image.cmap": "viridis",
}


def talk_mode() -> bool:
    """True when ``VAELIB_TALK`` is set to a true value (lecture-sized figures)."""
    return os.environ.get(TALK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def set_theme(context: Literal["notebook", "talk"] | None = None) -> str:
    """The series' one look (a white grid, colour-blind palette); "talk" for a projector. Returns the context.

    Without an argument the context is "talk" when ``VAELIB_TALK=1`` and "notebook" otherwise. With
    ``VAELIB_FIGCHECK`` set (``make test`` sets it), every figure shown afterwards is inspected by ``vaelib.figcheck``.
    """
    context = context or ("talk" if talk_mode() else "notebook")
    if context not in FIGSIZE:
        raise ValueError(f"Unknown context {context!r}: use 'notebook' or 'talk'.")
    matplotlib.rcParams.update({**_WHITEGRID, **{k: v * _CONTEXT_SCALE[context] for k, v in _CONTEXT.items()},
                                "axes.prop_cycle": cycler(color=COLORBLIND), **_RC, "figure.figsize": FIGSIZE[context]})
    _retina_inline()  # and, in "talk", the page's larger text
    if figcheck.enabled_path() and _kernel_shell() is not None:  # notebooks run by `make test`
        figcheck.enable(figcheck.enabled_path(), context)
    return context


def _kernel_shell() -> Any:
    """The IPython shell when we run in a Jupyter kernel, else None."""
    ipython = sys.modules.get("IPython")  # imported only if we run inside IPython; never imported here
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if getattr(shell, "kernel", None) is not None else None


def _retina_inline() -> None:
    """Under a Jupyter kernel: the inline backend, sending retina PNGs (``%config InlineBackend.figure_formats``)."""
    shell = _kernel_shell()
    if shell is None:
        return
    if _scale() > 1.0:  # "talk": larger controls, readouts and printed lines on this page
        shell.display_pub.publish({"text/html": TALK_CSS, "text/plain": "(lecture mode: larger text)"})
    if "ipympl" in matplotlib.get_backend():  # importing ipympl switches pyplot to it; explorers use their own canvas
        shell.run_line_magic("matplotlib", "inline")
    shell.run_line_magic("config", "InlineBackend.figure_formats = ['retina']")


def _scale() -> float:
    """How much larger the current context's figures are than the notebook's (1.25 in "talk")."""
    return plt.rcParams["figure.figsize"][0] / FIGSIZE["notebook"][0]


def figsize(ncols: int = 1, nrows: int = 1, panel: tuple[float, float] | None = None) -> tuple[float, float]:
    """A figure size for ``nrows x ncols`` panels, scaled with the context and shrunk to fit the output width.

    ``panel`` is one panel's size in the notebook context (default: the theme's figure size); in "talk" it
    grows with the fonts, and the width limit is ``MAX_WIDTH`` times the same factor.
    """
    scale = _scale()
    w, h = (panel[0] * scale, panel[1] * scale) if panel else tuple(plt.rcParams["figure.figsize"])
    shrink = min(1.0, MAX_WIDTH * scale / (ncols * w))
    return (ncols * w * shrink, nrows * h * shrink)


def legend_outside(ax: plt.Axes, where: Literal["right", "below"] = "right", **kwargs: Any) -> Legend:
    """Put the Axes' legend outside its data area (to the right, or below the x label), so it never covers data.

    "below" measures the tick labels and x label once, in points, so the legend stays clear of them when
    ``tight_layout`` later resizes the axes; ``tight_layout`` and the inline backend make room for the legend.
    """
    if where == "right":
        return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)
    if where != "below":
        raise ValueError(f"Unknown place {where!r} for legend_outside: use 'right' or 'below'.")
    kwargs.setdefault("ncols", max(1, len(ax.get_legend_handles_labels()[0])))
    legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=figcheck.below_x_labels(ax),
                       borderaxespad=0.0, **kwargs)
    legend.figcheck_below = True  # the figure check's talk copy places it again, under the larger labels
    return legend


def get_axes(ax: plt.Axes | None, figsize: tuple[float, float] | None = None) -> tuple[Figure, plt.Axes]:
    """The given Axes and its figure, or a new figure (``figsize``, default the theme's) with one Axes."""
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
    scale = min(0.6, MAX_WIDTH / nrow) * _scale()  # inches per image, so that wide grids still fit
    fig, ax = get_axes(ax, (nrow * scale, rows * scale))
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    figcheck.mark(ax, "image")
    if title:
        ax.set_title(title)
    return fig


def learning_curves(history: dict[str, Sequence[float]], keys: Sequence[str] = ("elbo", "recon", "kl"),
                    axes: Sequence[plt.Axes] | None = None) -> Figure:
    """Train and validation curves per epoch, one panel per term (``train_<key>`` and ``val_<key>``).

    The epoch axis is logarithmic, so the late epochs get as much room as the first ones; the y range
    leaves out the first epoch (far above the rest) when there are more than three, so the gap between
    train and validation stays visible: those panels are marked as deliberate zooms for the figure check,
    and their titles say so. Derived in notebooks/04_mnist_vae.ipynb.
    """
    if axes is None:
        fig, axes = plt.subplots(1, len(keys), figsize=figsize(len(keys), panel=(3.2, 3.6)))
        axes = np.atleast_1d(axes)
    fig = axes[0].figure
    for ax, key in zip(axes, keys):
        train, val = np.asarray(history[f"train_{key}"], float), np.asarray(history[f"val_{key}"], float)
        epochs = np.arange(1, len(train) + 1)
        ax.plot(epochs, train, label="train")
        ax.plot(epochs, val, label="validation")
        ax.set(xlabel="epoch", ylabel=f"{key} (nats)", title=key)
        if len(epochs) > 2:
            ax.set_xscale("log")
        if len(epochs) > 3:  # the y range of epochs 2.. (epoch 1 is off the top)
            late = np.concatenate([train[1:], val[1:]])
            pad = 0.08 * (late.max() - late.min() or 1.0)
            ax.set_ylim(late.min() - pad, late.max() + pad)
            ax.set_title(f"{key} (epoch 1 off scale)")
            figcheck.mark(ax, "zoom")
    axes[-1].legend(loc="best")  # one legend: the panels share their two lines
    fig.tight_layout()
    return fig
