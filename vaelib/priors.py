"""Priors beyond N(0, I): a learnable mixture of Gaussians and the VampPrior (Tomczak & Welling, 2018).

The VampPrior is the mixture of the encoder's own posteriors at K learnable pseudo-inputs u_k,
p(z) = (1/K) sum_k q(z | u_k), so the prior shares the encoder's parameters and approximates the
aggregate posterior. Neither prior has a closed-form KL to q(z|x); the ELBO then uses the single-sample
Monte Carlo term ``vaelib.losses.mc_kl``.

Used by ``vaelib.models`` (``ModelConfig.prior``); derived in notebooks/07_beyond_gaussian.ipynb.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.mixture import log_mixture_density, sample_mixture

Encoder = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # u (K, 784) -> mu, logvar (K, D)


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
        return log_mixture_density(z, self.means, self.logvars, self.logits)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws (n, D), without gradients."""
        return sample_mixture(n, self.means, self.logvars, self.logits, generator)[0]


class VampPrior(nn.Module):
    """p(z) = (1/K) sum_k q(z | u_k) with K learnable pseudo-inputs u (K, input_dim) and the VAE's encoder."""

    def __init__(self, n_components: int, input_dim: int = 784, init: torch.Tensor | None = None,
                 init_mean: float = 0.05, init_std: float = 0.01, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if init is None:  # N(0.05, 0.01^2) as the paper's code does for MNIST; or pass K data points
            init = init_mean + init_std * torch.randn(n_components, input_dim, generator=generator)
        if init.shape != (n_components, input_dim):
            raise ValueError(f"init must have shape ({n_components}, {input_dim}), got {tuple(init.shape)}.")
        self.pseudo_inputs = nn.Parameter(init.detach().clone())  # (K, input_dim)

    def inputs(self) -> torch.Tensor:
        """The pseudo-inputs as images, clipped to [0, 1] by a hardtanh as in the paper's code: (K, input_dim)."""
        return F.hardtanh(self.pseudo_inputs, 0.0, 1.0)

    def components(self, encoder_fn: Encoder) -> tuple[torch.Tensor, torch.Tensor]:
        """The K mixture components (mu, logvar), each (K, D), from the encoder at the pseudo-inputs."""
        return encoder_fn(self.inputs())

    def log_prob(self, z: torch.Tensor, encoder_fn: Encoder) -> torch.Tensor:
        """log (1/K) sum_k q(z | u_k): z (..., D) -> (...,); gradients reach u and the encoder."""
        mu, logvar = self.components(encoder_fn)  # (K, D)
        return log_mixture_density(z, mu, logvar)

    def sample(self, n: int, encoder_fn: Encoder, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws (n, D) from the prior, without gradients."""
        with torch.no_grad():
            mu, logvar = self.components(encoder_fn)
        return sample_mixture(n, mu, logvar, None, generator)[0]
