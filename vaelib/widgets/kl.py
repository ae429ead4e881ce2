"""KL(q || N(0, 1)) explorer: sliders for mu and sigma, both densities, the KL value; and the KL surface.

The callback ``kl_explorer`` is a plain function of the slider values (tests call it without a browser);
``make_kl_widget`` only wires ipywidgets to it. Derived in notebooks/02_kl_closed_form.ipynb.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from vaelib.losses import kl_std_normal
from vaelib.widgets import live_figure

if TYPE_CHECKING:
    import ipywidgets


def kl_1d(mu: float, sigma: float) -> float:
    """KL(N(mu, sigma^2) || N(0, 1)) in nats, through ``vaelib.losses.kl_std_normal``."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    mu_t = torch.tensor([mu], dtype=torch.float64)  # (D=1,)
    logvar_t = torch.tensor([2.0 * math.log(sigma)], dtype=torch.float64)
    return float(kl_std_normal(mu_t, logvar_t))


def normal_pdf(z: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """Density of N(mu, sigma^2) at each z."""
    return np.exp(-0.5 * ((z - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def kl_explorer(mu: float, sigma: float, ax: plt.Axes | None = None,
                z_range: tuple[float, float] = (-5.0, 5.0)) -> dict[str, float]:
    """The widget callback: KL for the slider values; draws q and the prior on ``ax`` if one is given."""
    kl = kl_1d(mu, sigma)
    if ax is not None:
        z = np.linspace(*z_range, 501)  # (501,)
        ax.plot(z, normal_pdf(z, 0.0, 1.0), color="0.3", ls="--", label=r"prior $\mathcal{N}(0,1)$")
        ax.plot(z, normal_pdf(z, mu, sigma), color="C0", label=rf"$q=\mathcal{{N}}({mu:.2f},\,{sigma:.2f}^2)$")
        ax.fill_between(z, normal_pdf(z, mu, sigma), alpha=0.2, color="C0")
        ax.set_xlim(*z_range)
        ax.set_ylim(0, max(0.5, 1.1 / (sigma * math.sqrt(2 * math.pi))))
        ax.set_xlabel("z")
        ax.set_ylabel("density")
        ax.set_title(f"KL(q || N(0,1)) = {kl:.3f} nats")
        ax.legend(loc="upper right")
    return {"mu": mu, "sigma": sigma, "logvar": 2.0 * math.log(sigma), "kl": kl}


def kl_surface(mu_max: float = 3.0, logvar_max: float = 3.0, n: int = 201) -> tuple[np.ndarray, ...]:
    """KL on an n x n grid over mu in [-mu_max, mu_max], logvar in [-logvar_max, logvar_max]: (M, L, KL)."""
    mu = torch.linspace(-mu_max, mu_max, n, dtype=torch.float64)
    logvar = torch.linspace(-logvar_max, logvar_max, n, dtype=torch.float64)
    M, L = torch.meshgrid(mu, logvar, indexing="xy")  # (n, n): rows vary logvar, columns vary mu
    kl = kl_std_normal(M.unsqueeze(-1), L.unsqueeze(-1))  # (n, n), D=1
    return M.numpy(), L.numpy(), kl.numpy()


def plot_kl_surface(ax: plt.Axes | None = None, mu_max: float = 3.0, logvar_max: float = 3.0,
                    n: int = 201) -> Figure:
    """Filled contours of KL over (mu, log sigma^2) with the minimum (0, 0) marked; returns the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.2))
    M, L, kl = kl_surface(mu_max, logvar_max, n)
    levels = [0, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8]
    cs = ax.contourf(M, L, kl, levels=levels, cmap="viridis", extend="max")
    ax.contour(M, L, kl, levels=levels, colors="white", linewidths=0.5)
    ax.plot([0], [0], marker="*", color="red", markersize=14, ls="none", label="minimum: KL = 0 at (0, 0)")
    ax.figure.colorbar(cs, ax=ax, label="KL (nats)")
    ax.set_xlabel(r"$\mu$")
    ax.set_ylabel(r"$\log\sigma^2$")
    ax.set_title(r"KL$(\mathcal{N}(\mu,\sigma^2)\,\|\,\mathcal{N}(0,1))$")
    ax.legend(loc="lower left")
    return ax.figure


def make_kl_widget(mu: float = 1.0, sigma: float = 0.5) -> "ipywidgets.VBox":
    """Sliders for mu and sigma wired to ``kl_explorer``; returns the ipywidgets box to display."""
    import ipywidgets as widgets

    mu_s = widgets.FloatSlider(value=mu, min=-3.0, max=3.0, step=0.05, description="μ")
    sigma_s = widgets.FloatSlider(value=sigma, min=0.05, max=3.0, step=0.05, description="σ")
    def draw(mu_value: float, sigma_value: float) -> Figure:
        fig, ax = plt.subplots(figsize=(6.0, 3.5))
        kl_explorer(mu_value, sigma_value, ax=ax)
        return fig

    return live_figure([mu_s, sigma_s], draw)
