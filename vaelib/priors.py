"""Priors beyond N(0, I): a learnable mixture of Gaussians and the VampPrior (Tomczak & Welling, 2018).

The VampPrior is the mixture of the encoder's own posteriors at K learnable pseudo-inputs u_k,
p(z) = (1/K) sum_k q(z | u_k), so the prior shares the encoder's parameters and approximates the
aggregate posterior. Neither prior has a closed-form KL to q(z|x); the ELBO then uses the single-sample
Monte Carlo term ``vaelib.losses.mc_kl``.

Used by ``vaelib.models`` (``ModelConfig.prior``); derived in notebooks/07_beyond_gaussian.ipynb.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.losses import LOG_2PI

Encoder = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # u (K, 784) -> mu, logvar (K, D)


def log_mixture_of_gaussians(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor,
                             log_weights: torch.Tensor | None = None) -> torch.Tensor:
    """log sum_k w_k N(z; means_k, diag exp(logvars_k)): z (..., D), means/logvars (K, D) -> (...,).

    ``log_weights`` (K,) need not be normalized (they go through log_softmax); None means uniform 1/K.
    The (..., K) component log-densities come from two matrix products,
    log N(z; m, s^2) = -1/2 [D log 2pi + sum log s^2 + sum m^2/s^2] + z.(m/s^2) - 1/2 z^2.(1/s^2),
    instead of a (..., K, D) tensor of differences: the VampPrior's KL costs a matmul, not K copies of z.
    The terms cancel (each can be ~1e4 nats for sharp components), so they are formed in float64.
    """
    K, D = means.shape
    dtype = z.dtype
    z, means, logvars = z.double(), means.double(), logvars.double()
    prec = (-logvars).exp()  # (K, D)
    mp = means * prec
    const = -0.5 * (D * LOG_2PI + logvars.sum(-1) + (means * mp).sum(-1))  # (K,)
    log_comp = (const + z @ mp.T - 0.5 * (z * z) @ prec.T).to(dtype)  # (..., K)
    if log_weights is None:
        log_w = torch.full((K,), -math.log(K), dtype=log_comp.dtype, device=log_comp.device)
    else:
        log_w = torch.log_softmax(log_weights, dim=-1)  # (K,)
    return torch.logsumexp(log_comp + log_w, dim=-1)


def sample_mixture_of_gaussians(n: int, means: torch.Tensor, logvars: torch.Tensor,
                                log_weights: torch.Tensor | None = None,
                                generator: torch.Generator | None = None) -> torch.Tensor:
    """n draws (n, D) from the mixture: a component per draw, then its Gaussian."""
    K = means.shape[0]
    probs = torch.ones(K, device=means.device) if log_weights is None else torch.softmax(log_weights.detach(), -1)
    k = torch.multinomial(probs, n, replacement=True, generator=generator)  # (n,)
    eps = torch.randn((n, means.shape[1]), generator=generator, dtype=means.dtype, device=means.device)
    return means[k] + (0.5 * logvars[k]).exp() * eps


class GaussianMixturePrior(nn.Module):
    """p(z) = sum_k w_k N(z; m_k, diag s_k^2) with learnable means (K, D), logvars (K, D), logits (K,)."""

    def __init__(self, n_components: int, latent_dim: int, init_scale: float = 1.0,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.means = nn.Parameter(init_scale * torch.randn(n_components, latent_dim, generator=generator))
        self.logvars = nn.Parameter(torch.zeros(n_components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(n_components))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z): z (..., D) -> (...,)."""
        return log_mixture_of_gaussians(z, self.means, self.logvars, self.logits)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws (n, D), without gradients."""
        with torch.no_grad():
            return sample_mixture_of_gaussians(n, self.means, self.logvars, self.logits, generator)


class VampPrior(nn.Module):
    """p(z) = (1/K) sum_k q(z | u_k) with K learnable pseudo-inputs u (K, input_dim) and the VAE's encoder."""

    def __init__(self, n_components: int, input_dim: int = 784, init: torch.Tensor | None = None,
                 init_mean: float = 0.05, init_std: float = 0.01, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if init is None:  # N(0.05, 0.01^2) as the paper's code does for MNIST; or pass K data points
            init = init_mean + init_std * torch.randn(n_components, input_dim, generator=generator)
        assert init.shape == (n_components, input_dim), f"init must be ({n_components}, {input_dim})"
        self.pseudo_inputs = nn.Parameter(init.detach().clone())  # (K, input_dim)

    def inputs(self) -> torch.Tensor:
        """The pseudo-inputs as images, clipped to [0, 1] by a hardtanh as in the paper's code: (K, input_dim)."""
        return F.hardtanh(self.pseudo_inputs, 0.0, 1.0)

    def components(self, encoder_fn: Encoder) -> tuple[torch.Tensor, torch.Tensor]:
        """The K mixture components (mu, logvar), each (K, D), from the encoder at the pseudo-inputs."""
        return encoder_fn(self.inputs())

    def log_prob(self, z: torch.Tensor, encoder_fn: Encoder, rows: int = 4096) -> torch.Tensor:
        """log (1/K) sum_k q(z | u_k): z (..., D) -> (...,); gradients reach u and the encoder.

        The (rows, K, D) intermediate is built ``rows`` codes at a time, so memory stays bounded for the
        many codes of an importance-weighted estimate."""
        mu, logvar = self.components(encoder_fn)  # (K, D)
        flat = z.reshape(-1, z.shape[-1])
        out = torch.cat([log_mixture_of_gaussians(flat[i:i + rows], mu, logvar) for i in range(0, len(flat), rows)])
        return out.reshape(z.shape[:-1])

    def sample(self, n: int, encoder_fn: Encoder, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws (n, D) from the prior, without gradients."""
        with torch.no_grad():
            mu, logvar = self.components(encoder_fn)
            return sample_mixture_of_gaussians(n, mu, logvar, None, generator)
