"""KL(q || N(0, 1)) explorer: sliders for mu and sigma, both densities, the KL value; and the KL surface.

The callback ``kl_explorer`` is a plain function of the slider values (tests call it without a browser);
``KLView`` draws the prior once and moves q's curve; ``make_kl_widget`` wires two sliders to it.
Derived in notebooks/02_kl_closed_form.ipynb.
"""
from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from vaelib.checks import count, number
from vaelib.losses import kl_std_normal
from vaelib.plots import get_axes, legend_outside
from vaelib.widgets import LiveFigure, new_figure, normal_pdf

Y_MAX = 1.2  # fixed density axis: q's peak 1 / (sigma sqrt(2 pi)) leaves the chart only for sigma < 0.33
KL_LEVELS = [0, 0.1, 0.25, 0.5, 1, 2, 3, 4, 6, 8]  # contour levels of plot_kl_surface, in nats: fine near the minimum


def kl_1d(mu: float, sigma: float) -> float:
    """KL(N(mu, sigma^2) || N(0, 1)) in nats, through ``vaelib.losses.kl_std_normal``."""
    mu, sigma = number(mu, "mu"), number(sigma, "sigma", low=0.0, strict_low=True)  # from a logvar: exp(logvar / 2)
    mu_t = torch.tensor([mu], dtype=torch.float64)  # (D=1,)
    logvar_t = torch.tensor([2.0 * math.log(sigma)], dtype=torch.float64)
    return float(kl_std_normal(mu_t, logvar_t))


def kl_explorer(mu: float, sigma: float, ax: plt.Axes | None = None,
                z_range: tuple[float, float] = (-5.0, 5.0)) -> dict[str, float]:
    """The widget callback: KL for the slider values; draws q and the prior on ``ax`` if one is given."""
    kl = kl_1d(mu, sigma)
    out = {"mu": mu, "sigma": sigma, "logvar": 2.0 * math.log(sigma), "kl": kl}
    if ax is not None:
        KLView(ax, z_range).show(out)
    return out


class KLView:
    """The prior drawn once on ``ax`` with fixed axes; ``update`` moves q's curve, its shading and the title."""

    def __init__(self, ax: plt.Axes, z_range: tuple[float, float] = (-5.0, 5.0), n: int = 501):
        self.ax, self.z = ax, np.linspace(*z_range, n)  # (n,)
        ax.plot(self.z, normal_pdf(self.z, 0.0, 1.0), color="0.3", ls="--", label=r"prior $\mathcal{N}(0,1)$")
        # q moves, so it is drawn over everything else (the prior's line, the spines): zorder 3
        (self.q_line,) = ax.plot(self.z, np.zeros_like(self.z), color="C0", lw=2.5, zorder=3,
                                 label=r"$q=\mathcal{N}(\mu,\sigma^2)$")
        self.q_fill = ax.add_patch(Polygon(np.zeros((n + 2, 2)), closed=True, color="C0", alpha=0.2, lw=0, zorder=2.9))
        ax.set(xlim=z_range, ylim=(0, Y_MAX), xlabel="z", ylabel="density")
        legend_outside(ax)
        self.moving = [self.q_fill, self.q_line, ax.title]

    def show(self, out: dict[str, float]) -> None:
        """Draw q = N(mu, sigma^2) and the KL of ``out`` (a ``kl_explorer`` result)."""
        q = normal_pdf(self.z, out["mu"], out["sigma"])  # (n,)
        self.q_line.set_ydata(q)
        self.q_fill.set_xy(np.column_stack([np.r_[self.z[0], self.z, self.z[-1]], np.r_[0.0, q, 0.0]]))
        self.ax.set_title(f"KL(q ‖ N(0,1)) = {out['kl']:.3f} nats\nμ = {out['mu']:.2f}, σ = {out['sigma']:.2f}")

    def update(self, mu: float, sigma: float) -> dict[str, float]:
        """The widget callback: ``kl_explorer``'s numbers for the slider values, shown in place."""
        out = kl_explorer(mu, sigma)
        self.show(out)
        return out


def kl_surface(mu_max: float = 3.0, logvar_max: float = 3.0, n: int = 201) -> tuple[np.ndarray, ...]:
    """KL on an n x n grid over mu in [-mu_max, mu_max], logvar in [-logvar_max, logvar_max]: (M, L, KL)."""
    mu_max = number(mu_max, "mu_max", low=0.0, strict_low=True)
    logvar_max = number(logvar_max, "logvar_max", low=0.0, strict_low=True)
    n = count(n, "n", minimum=2)
    mu = torch.linspace(-mu_max, mu_max, n, dtype=torch.float64)
    logvar = torch.linspace(-logvar_max, logvar_max, n, dtype=torch.float64)
    M, L = torch.meshgrid(mu, logvar, indexing="xy")  # (n, n): rows vary logvar, columns vary mu
    kl = kl_std_normal(M.unsqueeze(-1), L.unsqueeze(-1))  # (n, n), D=1
    return M.numpy(), L.numpy(), kl.numpy()


def plot_kl_surface(ax: plt.Axes | None = None, mu_max: float = 3.0, logvar_max: float = 3.0,
                    n: int = 201) -> Figure:
    """Filled contours of KL over (mu, log sigma^2) with the minimum (0, 0) marked; returns the figure."""
    fig, ax = get_axes(ax)
    M, L, kl = kl_surface(mu_max, logvar_max, n)
    cs = ax.contourf(M, L, kl, levels=KL_LEVELS, cmap="viridis", extend="max")
    ax.contour(M, L, kl, levels=KL_LEVELS, colors="white", linewidths=0.5)
    ax.plot([0], [0], marker="*", color="red", markersize=14, ls="none")
    ax.annotate("minimum: KL = 0 at (0, 0)", (0, 0), xytext=(0, -14), textcoords="offset points",
                ha="center", va="top", color="white")  # a label, not a legend box over the data
    # one evenly spaced band per level, each boundary labelled with its value (0, 0.1, 0.25, ..., 8)
    fig.colorbar(cs, ax=ax, label="KL (nats)", ticks=KL_LEVELS, format="{x:g}", spacing="uniform")
    ax.set_xlabel(r"$\mu$")
    ax.set_ylabel(r"$\log\sigma^2$")
    ax.set_title(r"KL$(\mathcal{N}(\mu,\sigma^2)\,\|\,\mathcal{N}(0,1))$")
    return fig


def make_kl_widget(mu: float = 1.0, sigma: float = 0.5) -> LiveFigure:
    """Sliders for mu and sigma above the live figure of ``KLView``; returns the widget to display."""
    mu_s = widgets.FloatSlider(value=mu, min=-3.0, max=3.0, step=0.05, description="μ")
    sigma_s = widgets.FloatSlider(value=sigma, min=0.05, max=3.0, step=0.05, description="σ")
    fig = new_figure(width=1.35)  # room for the legend on the right
    view = KLView(fig.add_subplot())
    return LiveFigure([mu_s, sigma_s], fig, view.update, moving=view.moving)
