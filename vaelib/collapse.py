"""Posterior collapse, diagnosed: one call on your own model tells whether its code carries information.

``diagnose(model, x)`` measures the three symptoms of notebooks/09_posterior_collapse.ipynb on uint8 images
``x`` (N, 784) and returns them as one ``CollapseReport``:

* the KL per latent dimension, averaged over the images (0 nats: q(z_d|x) is the prior for every x);
* the active units, Var_x(mu_d(x)) > threshold (Burda et al., 2016; ``vaelib.latent.active_units``);
* the shuffle test: the reconstruction term -log p(x|z) with the image's own code z ~ q(z|x) against the code
  of another image of the batch (a random derangement, so no image keeps its own). A decoder that ignores z
  scores both the same: the gap is 0 nats. A decoder that uses z pays for the wrong code;

and the spread of the prior's samples: the mean pairwise Euclidean distance between the pixel means
(Bernoulli probabilities) of images decoded from z ~ N(0, I), near 0 when every sample is the same image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vaelib.checks import count, fail, images, number, tensor
from vaelib.data import pixels
from vaelib.evaluate import mean_se
from vaelib.latent import active_units, decode_probs, kl_per_dim
from vaelib.losses import DiagonalGaussian
from vaelib.models import VAE


@dataclass(frozen=True)
class CollapseReport:
    """What ``diagnose`` measured: per-dimension tensors (D,) and per-image averages in nats."""

    kl_per_dim: torch.Tensor      # (D,) mean over images of KL(q(z_d|x) || N(0, 1))
    active: torch.Tensor          # (D,) bool: Var_x(mu_d) > threshold
    recon_own: float              # mean -log p(x|z), z ~ q(z|x) of the image itself
    recon_shuffled: float         # mean -log p(x|z), z ~ q(z|x') of another image x'
    shuffle_gap_se: float         # standard error of the paired gap over images
    sample_spread: float          # mean pairwise distance of decoded prior samples' pixel means

    @property
    def kl(self) -> float:
        """Total KL per image (nats), the sum of ``kl_per_dim``."""
        return float(self.kl_per_dim.sum())

    @property
    def n_active(self) -> int:
        """Number of active units."""
        return int(self.active.sum())

    @property
    def shuffle_gap(self) -> float:
        """recon_shuffled - recon_own (nats per image): what the decoder loses when given the wrong code."""
        return self.recon_shuffled - self.recon_own

    def row(self) -> dict[str, Any]:
        """The report as one table row (for ``vaelib.tables.table``)."""
        return {"KL (nats)": self.kl, "active units": f"{self.n_active} of {len(self.active)}",
                "shuffle gap (nats)": self.shuffle_gap, "sample spread": self.sample_spread}

    def __str__(self) -> str:
        return (f"KL {self.kl:.2f} nats | {self.n_active} of {len(self.active)} units active | shuffle gap "
                f"{self.shuffle_gap:.2f} ± {self.shuffle_gap_se:.2f} nats | "
                f"prior-sample spread {self.sample_spread:.2f}")


def derangement(n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """A random permutation ``idx`` (n,) of range(n) with ``idx[i] != i`` for every i (n >= 2): a random cycle."""
    n = count(n, "n", minimum=2)  # a shuffle needs at least 2 images to swap codes between
    order = torch.randperm(n, generator=generator, device=device)
    idx = torch.empty_like(order)
    idx[order] = order.roll(-1)  # image order[i] gets the code of image order[i + 1]
    return idx


def sample_spread(probs: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of rows of ``probs`` (n, 784): how different n images are."""
    tensor(probs, "probs", ndim=2)
    if len(probs) < 2:
        raise fail("probs", "needs at least 2 rows to compare", f"shape {tuple(probs.shape)}",
                   "two or more images (n, 784)")
    return torch.pdist(probs.double()).mean().item()


@torch.no_grad()
def diagnose(model: VAE, x: torch.Tensor, *, binarized: bool = True, seed: int = 0, threshold: float = 0.01,
             n_prior: int = 200, batch_size: int = 1000) -> CollapseReport:
    """Measure posterior collapse of a Gaussian-posterior VAE on uint8 images ``x`` (N, 784), N >= 2: KL per
    dimension, active units (threshold on Var_x mu_d), the shuffle test and the prior-sample spread (``n_prior``
    samples). One seeded binarization and one seeded noise stream, so a report is reproducible. Notebook 09."""
    images(x, "x")
    if len(x) < 2:
        raise fail("x", "needs at least 2 images for the shuffle test", f"shape {tuple(x.shape)}",
                   "two or more images (N, 784)")
    threshold = number(threshold, "threshold", low=0.0)
    n_prior, batch_size = count(n_prior, "n_prior", minimum=2), count(batch_size, "batch_size")
    if hasattr(model, "eval"):
        model.eval()
    bin_gen = torch.Generator(device=x.device).manual_seed(seed)  # the binarization (as vaelib.latent.encode_dataset)
    xb = torch.cat([pixels(x[i:i + batch_size], binarized, bin_gen) for i in range(0, len(x), batch_size)])  # (N, 784)
    posts = [model.encode(xb[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    if not all(isinstance(q, DiagonalGaussian) for q in posts):
        raise ValueError(f"diagnose needs a VAE with a Gaussian posterior, got {type(posts[0]).__name__}: "
                         "measure other latents with vaelib.latent directly.")
    post = DiagonalGaussian(torch.cat([q.mu for q in posts]), torch.cat([q.logvar for q in posts]))
    mu, logvar = post.params()  # (N, D) each
    gen = torch.Generator(device=x.device).manual_seed(seed + 1)  # the codes z, the shuffle, the prior samples
    z = post.rsample(generator=gen)  # (N, D): one code per image
    idx = derangement(len(x), gen, x.device)
    own, shuffled = [], []
    for start in range(0, len(x), batch_size):
        sl = slice(start, start + batch_size)
        own.append(-model.log_px_given_z(xb[sl], z[sl]))  # (b,)
        shuffled.append(-model.log_px_given_z(xb[sl], z[idx[sl]]))
    own_t, shuffled_t = torch.cat(own).double(), torch.cat(shuffled).double()
    gap = shuffled_t - own_t  # (N,) paired per image
    z_prior = torch.randn(n_prior, mu.shape[-1], generator=gen, device=x.device, dtype=mu.dtype)
    return CollapseReport(kl_per_dim=kl_per_dim(mu, logvar), active=active_units(mu, threshold),
                          recon_own=own_t.mean().item(), recon_shuffled=shuffled_t.mean().item(),
                          shuffle_gap_se=mean_se(gap)[1],
                          sample_spread=sample_spread(decode_probs(model, z_prior)))
