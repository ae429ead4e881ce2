"""The ELBO explorer of notebooks/01_elbo.ipynb: slide q's mean and std, watch ELBO, log p(x) and the gap.

The model is the 1-D linear Gaussian z ~ N(0, 1), x | z ~ N(a z + b, s^2), where every number is exact
(``vaelib.toy``), so the gap log p(x) - ELBO(q) is shown without Monte Carlo noise. ``elbo_readout`` is
the plain callback (tests call it); ``make_elbo_widget`` wires it to ipywidgets sliders.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from vaelib.toy import exact_elbo, linear_gaussian_1d
from vaelib.widgets import live_figure

if TYPE_CHECKING:
    import ipywidgets

DEFAULTS = {"x": 2.5, "a": 1.5, "b": 0.5, "s": 0.8}  # the worked example of notebook 01


@dataclass
class ELBOReadout:
    """The three numbers the widget shows, in nats: ``gap = log_px - elbo = KL(q || p(z|x))``."""

    elbo: float
    log_px: float
    gap: float


def _normal_pdf(z: np.ndarray, mean: float, std: float) -> np.ndarray:
    return np.exp(-0.5 * ((z - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def elbo_readout(q_mean: float, q_std: float, x: float = DEFAULTS["x"], a: float = DEFAULTS["a"],
                 b: float = DEFAULTS["b"], s: float = DEFAULTS["s"], ax: plt.Axes | None = None) -> ELBOReadout:
    """Exact ELBO(q), log p(x) and their gap for q = N(q_mean, q_std^2); draws prior, posterior and q on ``ax``."""
    model = linear_gaussian_1d(a, b, s)
    xt = torch.tensor([[float(x)]], dtype=torch.float64)  # (1, 1)
    mu = torch.tensor([[float(q_mean)]], dtype=torch.float64)  # (1, 1)
    logvar = torch.tensor([[2 * math.log(q_std)]], dtype=torch.float64)  # (1, 1)
    elbo = exact_elbo(model, xt, mu, logvar).item()
    log_px = model.log_px(xt).item()
    readout = ELBOReadout(elbo=elbo, log_px=log_px, gap=log_px - elbo)
    if ax is not None:
        post_mean, post_cov = model.posterior(xt)
        draw_densities(ax, q_mean, q_std, post_mean.item(), math.sqrt(post_cov.item()), readout)
    return readout


def draw_densities(ax: plt.Axes, q_mean: float, q_std: float, post_mean: float, post_std: float,
                   readout: ELBOReadout) -> Figure:
    """Prior N(0, 1), exact posterior and q on one Axes, with the three numbers in the title."""
    z = np.linspace(-4.0, 4.0, 400)
    ax.plot(z, _normal_pdf(z, 0.0, 1.0), label="prior p(z)", color="0.5", ls="--")
    ax.plot(z, _normal_pdf(z, post_mean, post_std), label="posterior p(z|x)", lw=2.5)
    ax.plot(z, _normal_pdf(z, q_mean, q_std), label="q(z)", lw=2, ls="-.")
    ax.set_xlabel("z")
    ax.set_ylabel("density")
    ax.set_ylim(0, 1.15 * max(1.0, 1.0 / (min(q_std, post_std) * math.sqrt(2 * math.pi))))
    ax.set_title(f"ELBO = {readout.elbo:.3f}   log p(x) = {readout.log_px:.3f}   gap = {readout.gap:.3f} nats")
    ax.legend(loc="upper left")
    return ax.figure


def make_elbo_widget(x: float = DEFAULTS["x"], a: float = DEFAULTS["a"], b: float = DEFAULTS["b"],
                     s: float = DEFAULTS["s"]) -> "ipywidgets.VBox":
    """Two sliders (q's mean and std) and a live plot; returns the ipywidgets container to display."""
    import ipywidgets as widgets

    mean = widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.05, description="q mean")
    std = widgets.FloatSlider(value=1.0, min=0.1, max=2.0, step=0.02, description="q std")
    def draw(q_mean: float, q_std: float) -> Figure:
        fig, ax = plt.subplots(figsize=(7.0, 3.6))
        elbo_readout(q_mean, q_std, x, a, b, s, ax=ax)
        return fig

    return live_figure([mean, std], draw)
