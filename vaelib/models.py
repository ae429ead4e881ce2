"""VAE architectures: an MLP VAE (any widths/depth, any latent size D) and a small convolutional VAE.

Both encode to ``(mu, logvar)`` and decode to Bernoulli ``x_logits`` over 784 pixels, and both
implement the ``LatentVariableModel`` interface that ``vaelib.losses`` needs. The prior is N(0, I).
Built and trained in notebooks/04_mnist_vae.ipynb.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from vaelib.losses import bernoulli_log_prob, std_normal_log_prob

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "gelu": nn.GELU}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture. ``hidden`` are the encoder widths; the decoder mirrors them unless given."""

    arch: Literal["mlp", "conv"] = "mlp"
    latent_dim: int = 50
    hidden: tuple[int, ...] = (512, 512)
    decoder_hidden: tuple[int, ...] | None = None
    activation: str = "elu"
    channels: tuple[int, ...] = field(default=(32, 64))  # conv only

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        """Inverse of ``to_dict``."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Shared VAE interface: subclasses define ``encoder`` (x -> 2D numbers) and ``decoder`` (z -> 784 logits)."""

    config: ModelConfig
    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 784) -> mu, logvar, each (B, D)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., D) -> x_logits (..., 784); leading sample dims are flattened and restored."""
        lead = z.shape[:-1]
        return self.decoder(z.reshape(-1, z.shape[-1])).reshape(*lead, 784)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z), Bernoulli over 784 pixels: (..., B)."""
        return bernoulli_log_prob(self.decode(z), x)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I)."""
        return std_normal_log_prob(z)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode z ~ N(0, I): pixel probabilities (n, 784)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return torch.sigmoid(self.decode(z))


class MLPVAE(VAE):
    """784 -> hidden... -> (mu, logvar) in R^D;  D -> reversed hidden... -> 784 logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        dec = list(config.decoder_hidden) if config.decoder_hidden is not None else list(reversed(config.hidden))
        self.encoder = mlp([784, *config.hidden, 2 * config.latent_dim], config.activation)
        self.decoder = mlp([config.latent_dim, *dec, 784], config.activation)


class ConvVAE(VAE):
    """Two stride-2 convolutions (28 -> 14 -> 7) and their transposes; a small conv VAE for MNIST."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c1, c2 = config.channels
        act = ACTIVATIONS[config.activation]
        width = config.hidden[0] if config.hidden else 256
        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, c1, 4, 2, 1), act(),   # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 4, 2, 1), act(),  # (B, c2, 7, 7)
            nn.Flatten(), nn.Linear(c2 * 49, width), act(),
            nn.Linear(width, 2 * config.latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, width), act(),
            nn.Linear(width, c2 * 49), act(), nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), act(),  # (B, c1, 14, 14)
            nn.ConvTranspose2d(c1, 1, 4, 2, 1),          # (B, 1, 28, 28) logits
            nn.Flatten(),
        )


def build_model(config: ModelConfig) -> VAE:
    """Instantiate the architecture a ``ModelConfig`` names."""
    if config.arch == "mlp":
        return MLPVAE(config)
    if config.arch == "conv":
        return ConvVAE(config)
    raise ValueError(f"Unknown architecture {config.arch!r}: use 'mlp' or 'conv'.")


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
