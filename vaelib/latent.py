"""Looking at a trained VAE's latent space: encoding a split, quantile grids, posteriors, active units.

``encode_dataset`` is the one way to encode a split (notebooks 05-08 and the sweep); the rest works on the
encoder's ``mu, logvar`` (``logvar`` is log sigma^2) and returns tensors; the plotting helpers take
``ax=None`` and return the figure. Derived in notebooks/05_latent_space.ipynb.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from vaelib.checks import count, fail, gaussians, images, number, same_shape, tensor
from vaelib.data import batch_indices, pixels
from vaelib.losses import LatentVariableModel, Posterior, kl_std_normal
from vaelib.models import VAE
from vaelib.plots import get_axes


@torch.no_grad()
def encode_dataset(model: LatentVariableModel, x: torch.Tensor, *, binarized: bool = True, seed: int = 0,
                   batch_size: int = 1000, dtype: torch.dtype | None = None) -> Posterior:
    """Encode images ``x`` (N, 784) -- uint8 pixels 0-255, or floats in [0, 1] taken as they are, never rescaled
    twice -- in batches, in eval mode, with one seeded binarization: q(z|x) for all
    N images as one posterior object (a ``DiagonalGaussian`` with ``.mu``, ``.logvar`` of shape (N, D); a vMF
    or a point mass for those models). ``dtype`` casts its tensors (float64 for the aggregate posterior)."""
    images(x, "x")
    batch_size = count(batch_size, "batch_size")
    if hasattr(model, "eval"):
        model.eval()
    gen = torch.Generator(device=x.device).manual_seed(seed)
    parts = [model.encode(pixels(x[idx], binarized, gen))
             for idx in batch_indices(len(x), batch_size, shuffle=False, device=x.device)]
    if not parts:
        raise ValueError("encode_dataset got no images (x is empty): pass a non-empty (N, 784) uint8 tensor.")
    params = [torch.cat(p) for p in zip(*(q.params() for q in parts))]
    return type(parts[0])(*[p.to(dtype) if dtype is not None and p.is_floating_point() else p for p in params])


def normal_quantiles(n: int, eps: float = 0.05) -> torch.Tensor:
    """z = Phi^-1(linspace(eps, 1 - eps, n)): n points equally spaced in prior probability (AEVB Fig. 4)."""
    n = count(n, "n", minimum=0)
    eps = number(eps, "eps", low=0.0, high=0.5, strict_low=True)
    p = torch.linspace(eps, 1 - eps, n, dtype=torch.float64)
    return (math.sqrt(2.0) * torch.erfinv(2 * p - 1)).float()  # (n,)


def quantile_grid(n: int, eps: float = 0.05) -> torch.Tensor:
    """An n x n grid of 2-D latents at Normal quantiles, row-major with z2 decreasing (image order): (n*n, 2)."""
    n = count(n, "n", minimum=0)
    q = normal_quantiles(n, eps)
    z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")  # top row = largest z2, like a plot's y axis
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=-1)


@torch.no_grad()
def decode_probs(model: VAE, z: torch.Tensor) -> torch.Tensor:
    """Pixel probabilities sigmoid(decoder(z)): z (..., D) -> (..., 784)."""
    return torch.sigmoid(model.decode(z))


def interpolate(z0: torch.Tensor, z1: torch.Tensor, n: int) -> torch.Tensor:
    """Linear path (1 - t) z0 + t z1 for t = linspace(0, 1, n): (n, D)."""
    tensor(z0, "z0", ndim=1)
    tensor(z1, "z1", ndim=1)
    same_shape(z0, z1, "z0", "z1")
    n = count(n, "n", minimum=0)
    t = torch.linspace(0, 1, n, dtype=z0.dtype, device=z0.device)[:, None]  # (n, 1)
    return (1 - t) * z0 + t * z1


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Average over examples of KL(q(z_d|x) || N(0,1)) for each latent dimension d: (D,) nats."""
    gaussians(mu, logvar)
    return kl_std_normal(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(0)  # (N, D, 1) -> KL per (n, d) -> (D,)


def unit_activity(mu: torch.Tensor) -> torch.Tensor:
    """Cov_x(E_q[z_d]) = variance over examples of each posterior mean (Burda et al. 2016): (D,)."""
    tensor(mu, "mu", ndim=2)
    if len(mu) < 2:
        raise fail("mu", "needs at least 2 codes for a variance", f"shape {tuple(mu.shape)}", "two or more rows (N, D)")
    return mu.double().var(0, unbiased=True).to(mu.dtype)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Boolean mask (D,) of the units whose activity Cov_x(E_q[z_d]) exceeds ``threshold``."""
    threshold = number(threshold, "threshold")
    return unit_activity(mu) > threshold


def posterior_std(logvar: torch.Tensor) -> torch.Tensor:
    """sigma = exp(logvar / 2), elementwise."""
    tensor(logvar, "logvar", finite=False, nonempty=False)
    return (0.5 * logvar).exp()


def latent_scatter(mu: torch.Tensor, labels: torch.Tensor, ax: plt.Axes | None = None,
                   prior_contours: bool = True, lim: float = 4.0, s: float = 2.0) -> Figure:
    """Scatter 2-D means coloured by digit, with the prior N(0, I)'s 1, 2, 3 sigma circles."""
    tensor(mu, "mu", ndim=2, last=2)
    tensor(labels, "labels", ndim=1, floating=False)
    if len(labels) != len(mu):
        raise fail("labels", "must hold one label per code", f"{len(labels)} labels for {len(mu)} codes",
                   "labels of shape (N,)")
    lim = number(lim, "lim", low=0.0, strict_low=True)
    fig, ax = get_axes(ax, (6.0, 5.2))
    m, y = mu.detach().cpu().numpy(), labels.cpu().numpy()
    sc = ax.scatter(m[:, 0], m[:, 1], c=y, cmap="tab10", s=s, alpha=0.6, vmin=-0.5, vmax=9.5, rasterized=True)
    fig.colorbar(sc, ax=ax, ticks=range(10), label="digit")
    if prior_contours:
        g = np.linspace(-lim, lim, 200)
        r2 = g[None, :] ** 2 + g[:, None] ** 2
        cs = ax.contour(g, g, r2, levels=[1, 4, 9], colors="k", linewidths=0.8, linestyles="--")
        ax.clabel(cs, fmt={1: "1σ", 4: "2σ", 9: "3σ"}, fontsize=8)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="$z_1$", ylabel="$z_2$", aspect="equal")
    return fig


def draw_posteriors(mu: torch.Tensor, logvar: torch.Tensor, ax: plt.Axes | None = None,
                    n_stds: tuple[float, ...] = (1.0, 2.0), color: str = "C3") -> Figure:
    """Draw each 2-D diagonal q(z|x) = N(mu, diag sigma^2) as ellipses at ``n_stds`` standard deviations."""
    gaussians(mu, logvar)
    if mu.shape[1] != 2:
        raise fail("mu", "must hold 2-D codes to draw", f"shape {tuple(mu.shape)}", "codes of a D = 2 model")
    fig, ax = get_axes(ax, (5.0, 5.0))
    sd = posterior_std(logvar).detach().cpu().numpy()  # (B, 2)
    for (cx, cy), (sx, sy) in zip(mu.detach().cpu().numpy(), sd):
        for k in n_stds:  # full width = 2 k sigma along each axis (diagonal covariance: axis-aligned)
            ax.add_patch(Ellipse((cx, cy), 2 * k * sx, 2 * k * sy, fill=False, color=color,
                                 lw=1.2, alpha=1.0 if k == n_stds[0] else 0.5))
        ax.plot(cx, cy, "+", color=color, ms=5)
    return fig


def kl_bars(kl_dim: torch.Tensor, active: torch.Tensor, ax: plt.Axes | None = None) -> Figure:
    """Sorted bar plot of the per-dimension KL, active units highlighted."""
    tensor(kl_dim, "kl_dim", ndim=1)
    tensor(active, "active", ndim=1, floating=False, finite=False)
    same_shape(kl_dim, active, "kl_dim", "active")
    fig, ax = get_axes(ax, (8.0, 3.2))
    order = torch.argsort(kl_dim, descending=True)
    colors = ["C0" if a else "C7" for a in active[order].tolist()]
    ax.bar(np.arange(len(order)), kl_dim[order].cpu().numpy(), color=colors)
    ax.set(xlabel="latent dimension (sorted by KL)", ylabel="mean KL (nats)")
    return fig


KNN_CHUNK = 2048  # rows scored at once by knn_accuracy (a 2048 x N/2 float64 distance matrix)


def knn_accuracy(features: torch.Tensor, labels: torch.Tensor, k: int = 5) -> float:
    """Label accuracy of a k-nearest-neighbour classifier fit on the first half, scored on the second half.

    Each scored row takes the most frequent label among its ``k`` nearest rows of the first half (Euclidean
    distance, float64); a tie between labels goes to the smallest one, as in scikit-learn's
    ``KNeighborsClassifier(k)``, against which ``tests/test_latent.py`` checks it. Notebooks 05 and 07 use it.
    """
    tensor(features, "features", ndim=2)
    tensor(labels, "labels", ndim=1, floating=False)
    if labels.is_floating_point() or labels.is_complex() or len(labels) != len(features):
        raise fail("labels", "must hold one integer label per row of features", f"{tuple(labels.shape)} {labels.dtype}",
                   "labels of shape (N,)")
    k = count(k, "k")
    if len(features) // 2 < k:
        raise fail("features", f"needs at least {2 * k} rows for k = {k} neighbours in its first half",
                   f"{len(features)} rows", "more rows, or a smaller k")
    half = len(features) // 2
    f, y = features.detach().to("cpu", torch.float64), labels.cpu()
    classes, fit_y = torch.unique(y[:half], return_inverse=True)  # sorted labels; fit_y indexes them
    correct = 0
    for start in range(half, len(f), KNN_CHUNK):  # (chunk, half) distances at a time
        rows = f[start:start + KNN_CHUNK]
        nearest = torch.cdist(rows, f[:half]).topk(k, largest=False).indices  # (chunk, k)
        votes = torch.nn.functional.one_hot(fit_y[nearest], len(classes)).sum(1)  # (chunk, n_classes)
        predicted = classes[votes.argmax(1)]  # argmax takes the first maximum: the smallest tied label
        correct += int((predicted == y[start:start + KNN_CHUNK]).sum())
    return correct / (len(f) - half)
