"""Posterior families beyond the diagonal Gaussian: a diagonal Laplace q(z|x), reparameterized, with its KL to N(0, I).

Notebook 03 gives "maximum entropy" as one reason for a Gaussian q(z|x): among all densities with a given variance
the Gaussian has the largest entropy, and the ELBO rewards entropy (ELBO = E_q[log p(x, z)] + H[q]). The Laplace
is the natural rival: reparameterizable (z = mu - b sign(u) log(1 - 2|u|), u ~ U(-1/2, 1/2)), with a closed-form
KL to N(0, I), but a lower entropy at the same variance, by (log pi - 1)/2 = 0.072 nats per dimension.

The encoder's outputs keep the series' meaning: ``logvar`` is log sigma^2 = log Var(z_d), so the Laplace scale is
b = sigma / sqrt(2) and a Gaussian and a Laplace with the same (mu, logvar) have the same mean and variance.
Used by ``vaelib.models`` (``ModelConfig(latent="laplace")``); derived in notebooks/08_do_we_need_the_v.ipynb.
"""
from __future__ import annotations

import math

import torch

from vaelib.checks import same_shape, tensor
from vaelib.losses import LOG_2PI

LOG_2 = math.log(2.0)


class DiagonalLaplace:
    """q(z|x) = prod_d Laplace(z_d; mu_d, b_d) with b_d = exp(logvar_d / 2) / sqrt(2): (B, D) each."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor) -> None:
        self.mu, self.logvar = mu, logvar

    @property
    def log_scale(self) -> torch.Tensor:
        """log b = logvar / 2 - log 2 / 2: (B, D)."""
        return 0.5 * (self.logvar - LOG_2)

    def params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar)."""
        return self.mu, self.logvar

    def rsample(self, n: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterized z (B, D) or (n, B, D): the inverse CDF at u ~ U(-1/2, 1/2)."""
        shape = self.mu.shape if n is None else (n, *self.mu.shape)
        u = torch.rand(shape, generator=generator, dtype=self.mu.dtype, device=self.mu.device) - 0.5
        u = u.clamp(-0.5 + 1e-7, 0.5 - 1e-7)  # log(1 - 2|u|) is -inf at |u| = 1/2
        return self.mu - self.log_scale.exp() * u.sign() * torch.log1p(-2 * u.abs())

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) summed over the last dim: -|z - mu| / b - log 2b, (..., B)."""
        return (-(z - self.mu).abs() * (-self.log_scale).exp() - LOG_2 - self.log_scale).sum(-1)

    def entropy(self) -> torch.Tensor:
        """H[q] = sum_d (1 + log 2 b_d), (B,)."""
        return (1 + LOG_2 + self.log_scale).sum(-1)


def kl_laplace_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(Laplace(mu, b) || N(0, I)) summed over the last dim, with b^2 = exp(logvar) / 2:
    E_q[-log N(z; 0, 1)] - H[q] = (log 2 pi + mu^2 + 2 b^2) / 2 - (1 + log 2b) per dimension
    (E_q z^2 = mu^2 + 2 b^2)."""
    tensor(mu, "mu", finite=False, nonempty=False)
    tensor(logvar, "logvar", finite=False, nonempty=False)
    same_shape(mu, logvar, "mu", "logvar")
    log_b = 0.5 * (logvar - LOG_2)
    return (0.5 * (LOG_2PI + mu.pow(2) + logvar.exp()) - 1 - LOG_2 - log_b).sum(-1)


def entropy_gap_gaussian_laplace() -> float:
    """H[Gaussian] - H[Laplace] at equal variance, per dimension: (log pi - 1) / 2 nats (independent of the
    variance)."""
    return 0.5 * (math.log(math.pi) - 1)
