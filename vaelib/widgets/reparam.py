"""Widget for notebook 03: the spread of the score-function and pathwise gradient estimators.

``reparam_panel`` is the callback: for f(z) = z^2 with z ~ N(mu, sigma^2) it draws ``batches`` batches
of ``n`` samples, averages each estimator over a batch, and returns the batch estimates of d/dmu (or
d/dsigma) E[f], whose exact value is 2 mu (or 2 sigma). ``ReparamView`` histograms them on fixed axes
and fixed bins, so moving a slider shows the spread change instead of the axes rescaling;
``make_reparam_widget`` wires sliders to it. Derived in notebooks/03_reparameterization.ipynb.
"""
from __future__ import annotations

from typing import Literal

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from vaelib.checks import count, fail, number
from vaelib.gradients import batch_means, pathwise_grad, score_function_grad
from vaelib.widgets import LiveFigure, new_figure

X_LIM = (-12.0, 12.0)  # holds every exact value (|2 mu| <= 6, 2 sigma <= 6) and most estimates
EDGES = np.linspace(*X_LIM, 97)  # (97,) fixed bins, 0.25 wide
Y_MAX = 2.0  # density axis; a needle taller than this (large n, small sigma) is cut at the top
NAMES = {"score": "score function", "pathwise": "pathwise"}


def square(z: torch.Tensor) -> torch.Tensor:
    """f(z) = sum of z^2 over the last dim: ``(..., D) -> (...,)``."""
    return z.pow(2).sum(-1)


def reparam_panel(mu: float, sigma: float, n: int, wrt: Literal["mu", "sigma"] = "mu", batches: int = 400,
                  seed: int = 0, ax: plt.Axes | None = None) -> dict[str, float | str | np.ndarray]:
    """Batch-mean gradient estimates of E[z^2] for both estimators; histogram them on ``ax`` if given.

    Returns the exact gradient, the ``batches`` estimates of each estimator, and their means and stds.
    On ``ax`` it draws no legend (the caller puts one beside its figure: ``legend_outside``) and a
    short title, "n = 3 per batch", that fits above narrow side-by-side panels.
    """
    mu, sigma = number(mu, "mu"), number(sigma, "sigma", low=0.0, strict_low=True)
    n, batches = count(n, "n"), count(batches, "batches", minimum=2)  # two batches at least: a std over batches
    if wrt not in ("mu", "sigma"):
        raise fail("wrt", "must be 'mu' or 'sigma'", repr(wrt), "wrt='mu' or wrt='sigma' (the gradient's parameter)")
    gen = torch.Generator().manual_seed(seed)
    m = torch.tensor([mu], dtype=torch.float64)
    s = torch.tensor([sigma], dtype=torch.float64)
    eps = torch.randn(n * batches, 1, generator=gen, dtype=torch.float64)  # same noise for both
    k = 0 if wrt == "mu" else 1
    est = {
        "score": batch_means(score_function_grad(square, m, s, n, eps=eps)[k], n)[:, 0].numpy(),
        "pathwise": batch_means(pathwise_grad(square, m, s, n, eps=eps)[k], n)[:, 0].numpy(),
    }
    out: dict[str, float | str | np.ndarray] = {"exact": 2.0 * (mu if wrt == "mu" else sigma), "wrt": wrt, "n": n}
    for name, g in est.items():
        out[name] = g
        out[f"{name}_mean"], out[f"{name}_std"] = float(g.mean()), float(g.std(ddof=1))
    if ax is not None:
        ReparamView(ax).show(out)
    return out


def binned_density(g: np.ndarray, edges: np.ndarray = EDGES) -> np.ndarray:
    """Histogram of ``g`` as a density over all of ``g`` (values outside the edges count in the total)."""
    counts, _ = np.histogram(g, bins=edges)
    return counts / (len(g) * np.diff(edges))


class ReparamView:
    """Both estimators' histograms on fixed axes and bins; ``show`` refills them and moves the exact line.

    The legend is left to the figure's owner (beside one panel, or once below the whole figure). The
    title is one line: "n = 3 per batch", or with ``readout`` (the widget's wide figure) n, both
    spreads and the share of score estimates that fall off the axis.
    """

    def __init__(self, ax: plt.Axes, readout: bool = False):
        self.ax, self.readout = ax, readout
        zeros = np.zeros(len(EDGES) - 1)
        # the moving artists are drawn over the still ones (the spines too): zorder 3 and up
        self.stairs = {name: ax.stairs(zeros, EDGES, fill=True, alpha=0.55, color=f"C{i}", label=NAMES[name], zorder=3)
                       for i, name in enumerate(NAMES)}
        self.exact = ax.axvline(0.0, color="k", ls="--", lw=2, label="exact value", zorder=4)
        ax.set(xlim=X_LIM, ylim=(0, Y_MAX), xlabel="batch-mean gradient estimate", ylabel="density")
        self.moving = [*self.stairs.values(), self.exact, ax.title]

    def show(self, out: dict, fit_y: bool = False) -> None:
        """Draw the estimates of ``out`` (a ``reparam_panel`` result) and the readout in the title.

        ``fit_y`` (static figures) raises the y limit to the tallest bar, so no spike is cut off; the
        widget keeps its fixed axes.
        """
        for name, stairs in self.stairs.items():
            stairs.set_data(binned_density(out[name]))
        if fit_y:
            peak = max(float(np.max(s.get_data().values)) for s in self.stairs.values())
            self.ax.set_ylim(0, max(self.ax.get_ylim()[1], 1.08 * peak))
        self.exact.set_xdata([out["exact"], out["exact"]])
        if not self.readout:
            self.ax.set_title(f"n = {out['n']} per batch")
            return
        outside = np.mean((out["score"] < X_LIM[0]) | (out["score"] > X_LIM[1]))
        # one short line: every glyph is drawn again each frame (about 0.1 ms apiece)
        self.ax.set_title(f"n = {out['n']}: std score {out['score_std']:.2f}, pathwise {out['pathwise_std']:.2f}"
                          f" · score: {outside:.0%} off the axis")


def make_reparam_widget(batches: int = 400) -> LiveFigure:
    """Sliders for mu, sigma, n and the parameter above the live ``ReparamView``; displays it and returns it."""
    batches = count(batches, "batches", minimum=2)
    controls = [
        widgets.FloatSlider(value=1.0, min=-3.0, max=3.0, step=0.1, description="μ"),
        widgets.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1, description="σ"),
        widgets.IntSlider(value=1, min=1, max=100, description="n per batch"),
        # radio buttons, labelled in words: Tab reaches each, Space chooses it (ipywidgets' radios share no
        # name, so the arrow keys do not move between them; tests/test_browser.py presses Space)
        widgets.RadioButtons(options=[("the mean μ", "mu"), ("the spread σ", "sigma")],
                             description="gradient with respect to", style={"description_width": "initial"}),
    ]
    fig = new_figure(width=1.25, height=1.15)
    view = ReparamView(fig.add_subplot(), readout=True)
    fig.legend(loc="outside lower center", ncols=3)  # below the x label: never over the histograms

    def update(mu: float, sigma: float, n: int, wrt: str) -> dict:
        out = reparam_panel(mu, sigma, n, wrt, batches=batches)
        view.show(out)
        return out

    ui = LiveFigure(controls, fig, update, moving=view.moving)
    display(ui)  # notebook 03 calls it as a statement (ending in ';'), as the ipywidgets.interactive version did
    return ui
