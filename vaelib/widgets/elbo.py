"""The ELBO explorer of notebooks/01_elbo.ipynb: slide q's mean and std, watch ELBO, log p(x) and the gap.

The model is the 1-D linear Gaussian z ~ N(0, 1), x | z ~ N(a z + b, s^2), where every number is exact
(``vaelib.toy``), so the gap log p(x) - ELBO(q) is shown without Monte Carlo noise. ``elbo_readout`` is
the plain callback (tests call it); ``ELBOView`` draws prior and posterior once and moves q's curve;
``make_elbo_widget`` wires two sliders to it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from vaelib.checks import number
from vaelib.plots import legend_outside
from vaelib.toy import exact_elbo, linear_gaussian_1d
from vaelib.widgets import LiveFigure, new_figure, normal_pdf

DEFAULTS = {"x": 2.5, "a": 1.5, "b": 0.5, "s": 0.8}  # the worked example of notebook 01
Q_STD_MIN, Q_STD_MAX = 0.25, 2.0  # the slider's range; the y-axis is fixed to fit q's highest peak
Z = np.linspace(-4.0, 4.0, 400)  # (400,) the z grid of every curve


@dataclass
class ELBOReadout:
    """The three numbers the widget shows, in nats: ``gap = log_px - elbo = KL(q || p(z|x))``."""

    elbo: float
    log_px: float
    gap: float


def posterior_1d(x: float, a: float, b: float, s: float) -> tuple[float, float]:
    """Mean and std of the exact posterior p(z | x) of the 1-D linear Gaussian (``vaelib.toy``)."""
    x = number(x, "x")
    post_mean, post_cov = linear_gaussian_1d(a, b, s).posterior(torch.tensor([[float(x)]], dtype=torch.float64))
    return post_mean.item(), math.sqrt(post_cov.item())


def elbo_readout(q_mean: float, q_std: float, x: float = DEFAULTS["x"], a: float = DEFAULTS["a"],
                 b: float = DEFAULTS["b"], s: float = DEFAULTS["s"], ax: plt.Axes | None = None) -> ELBOReadout:
    """Exact ELBO(q), log p(x) and their gap for q = N(q_mean, q_std^2); draws prior, posterior and q on ``ax``."""
    q_mean, q_std = number(q_mean, "q_mean"), number(q_std, "q_std", low=0.0, strict_low=True)
    x = number(x, "x")
    model = linear_gaussian_1d(a, b, s)
    xt = torch.tensor([[float(x)]], dtype=torch.float64)  # (1, 1)
    mu = torch.tensor([[float(q_mean)]], dtype=torch.float64)  # (1, 1)
    logvar = torch.tensor([[2 * math.log(q_std)]], dtype=torch.float64)  # (1, 1)
    elbo = exact_elbo(model, xt, mu, logvar).item()
    log_px = model.log_px(xt).item()
    readout = ELBOReadout(elbo=elbo, log_px=log_px, gap=log_px - elbo)
    if ax is not None:
        ELBOView(ax, x, a, b, s, q_std_min=q_std).show(q_mean, q_std, readout)  # y-axis fitted to this q
    return readout


def readout_title(r: ELBOReadout) -> str:
    """The figure's title: the three numbers, in nats."""
    return f"ELBO = {r.elbo:.3f}   log p(x) = {r.log_px:.3f}\ngap = KL(q ‖ p(z|x)) = {r.gap:.3f} nats"


class ELBOView:
    """Prior and exact posterior drawn once on ``ax``, fixed axes; ``update`` moves q's curve and the title."""

    def __init__(self, ax: plt.Axes, x: float = DEFAULTS["x"], a: float = DEFAULTS["a"], b: float = DEFAULTS["b"],
                 s: float = DEFAULTS["s"], q_std_min: float = Q_STD_MIN):
        self.ax, self.params = ax, (x, a, b, s)
        post_mean, post_std = posterior_1d(x, a, b, s)
        ax.plot(Z, normal_pdf(Z, 0.0, 1.0), label="prior p(z)", color="0.5", ls="--")
        ax.plot(Z, normal_pdf(Z, post_mean, post_std), label="posterior p(z|x)", lw=3)
        (self.q_line,) = ax.plot(Z, np.zeros_like(Z), label="q(z)", lw=2.5, ls="-.", zorder=3)  # moving: above the rest
        ax.set(xlabel="z", ylabel="density", xlim=(Z[0], Z[-1]),
               ylim=(0, 1.1 * max(normal_pdf(0.0, 0.0, min(q_std_min, post_std)), 0.5)))
        legend_outside(ax)

    def show(self, q_mean: float, q_std: float, readout: ELBOReadout) -> None:
        """Put q = N(q_mean, q_std^2) and the readout on the Axes."""
        self.q_line.set_ydata(normal_pdf(Z, q_mean, q_std))
        self.ax.set_title(readout_title(readout))

    def update(self, q_mean: float, q_std: float) -> ELBOReadout:
        """The widget callback: the exact readout for the slider values, shown in place."""
        readout = elbo_readout(q_mean, q_std, *self.params)
        self.show(q_mean, q_std, readout)
        return readout


def make_elbo_widget(x: float = DEFAULTS["x"], a: float = DEFAULTS["a"], b: float = DEFAULTS["b"],
                     s: float = DEFAULTS["s"]) -> LiveFigure:
    """Two sliders (q's mean and std) above the live figure; returns the widget to display."""
    mean = widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.05, description="q mean")
    std = widgets.FloatSlider(value=1.0, min=Q_STD_MIN, max=Q_STD_MAX, step=0.02, description="q std")
    fig = new_figure(width=1.35)  # room for the legend on the right
    view = ELBOView(fig.add_subplot(), x, a, b, s)
    return LiveFigure([mean, std], fig, view.update, moving=[view.q_line, view.ax.title])
