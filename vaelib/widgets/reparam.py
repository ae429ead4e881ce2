"""Widget for notebook 03: the spread of the score-function and pathwise gradient estimators.

``reparam_panel`` is the callback: for f(z) = z^2 with z ~ N(mu, sigma^2) it draws ``batches`` batches
of ``n`` samples, averages each estimator over a batch, and histograms the batch estimates of
d/dmu (or d/dsigma) E[f] with the exact value 2 mu (or 2 sigma) marked. ``make_reparam_widget`` wires
sliders to it. Derived in notebooks/03_reparameterization.ipynb.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import matplotlib.pyplot as plt
import numpy as np
import torch

from vaelib.gradients import batch_means, pathwise_grad, score_function_grad

if TYPE_CHECKING:
    import ipywidgets


def square(z: torch.Tensor) -> torch.Tensor:
    """f(z) = sum of z^2 over the last dim: ``(..., D) -> (...,)``."""
    return z.pow(2).sum(-1)


def reparam_panel(mu: float, sigma: float, n: int, wrt: Literal["mu", "sigma"] = "mu", batches: int = 400,
                  seed: int = 0, ax: plt.Axes | None = None) -> dict[str, float | np.ndarray]:
    """Batch-mean gradient estimates of E[z^2] for both estimators; histogram them on ``ax`` if given.

    Returns the exact gradient, the ``batches`` estimates of each estimator, and their means and stds.
    """
    if sigma <= 0 or n < 1:
        raise ValueError("need sigma > 0 and n >= 1")
    gen = torch.Generator().manual_seed(seed)
    m = torch.tensor([mu], dtype=torch.float64)
    s = torch.tensor([sigma], dtype=torch.float64)
    eps = torch.randn(n * batches, 1, generator=gen, dtype=torch.float64)  # same noise for both
    k = 0 if wrt == "mu" else 1
    est = {
        "score": batch_means(score_function_grad(square, m, s, n, eps=eps)[k], n)[:, 0].numpy(),
        "pathwise": batch_means(pathwise_grad(square, m, s, n, eps=eps)[k], n)[:, 0].numpy(),
    }
    out: dict[str, float | np.ndarray] = {"exact": 2.0 * (mu if wrt == "mu" else sigma)}
    for name, g in est.items():
        out[name] = g
        out[f"{name}_mean"], out[f"{name}_std"] = float(g.mean()), float(g.std(ddof=1))
    if ax is not None:
        _draw(ax, out, wrt, n)
    return out


def _draw(ax: plt.Axes, out: dict, wrt: str, n: int) -> None:
    lo = min(np.quantile(out["score"], 0.02), np.quantile(out["pathwise"], 0.005))  # clip the score's long tails
    hi = max(np.quantile(out["score"], 0.98), np.quantile(out["pathwise"], 0.995))
    bins = np.linspace(lo, hi, 60)
    for name in ("score", "pathwise"):
        ax.hist(out[name], bins=bins, alpha=0.6, density=True,
                label=f"{name}: mean {out[f'{name}_mean']:.2f}, std {out[f'{name}_std']:.2f}")
    ax.axvline(out["exact"], color="k", ls="--", label=f"exact {out['exact']:.2f}")
    ax.set_xlabel(f"estimate of d/d{wrt} E[z²] (batch mean of n={n})")
    ax.set_title(f"n = {n}: {len(out['score'])} batch estimates (tails clipped)")
    ax.set_ylabel("density")
    ax.legend(fontsize="small")


def make_reparam_widget(batches: int = 400) -> "ipywidgets.VBox":
    """Sliders for mu, sigma, n and the parameter; redraws ``reparam_panel`` on change."""
    import ipywidgets as widgets
    from IPython.display import display

    def update(mu: float, sigma: float, n: int, wrt: str) -> None:
        fig, ax = plt.subplots(figsize=(7, 3.8))
        reparam_panel(mu, sigma, n, wrt, batches=batches, ax=ax)
        plt.show()

    ui = widgets.interactive(
        update,
        mu=widgets.FloatSlider(value=1.0, min=-3.0, max=3.0, step=0.1, description="μ"),
        sigma=widgets.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1, description="σ"),
        n=widgets.IntSlider(value=1, min=1, max=100, description="n per batch"),
        wrt=widgets.ToggleButtons(options=["mu", "sigma"], description="d/d"),
    )
    display(ui)
    return ui
