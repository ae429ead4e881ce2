"""VAE architectures: an MLP VAE (any widths/depth, any latent size D) and a small convolutional VAE.

Both decode to Bernoulli ``x_logits`` over 784 pixels and implement the ``LatentVariableModel``
interface that ``vaelib.losses`` needs. By default the posterior is a diagonal Gaussian (the encoder
outputs ``mu, logvar``) and the prior N(0, I): built and trained in notebooks/04_mnist_vae.ipynb.
``ModelConfig`` can change both, for notebooks/07_beyond_gaussian.ipynb:

* ``prior="vamp"`` / ``"mog"``: a VampPrior or a learned Gaussian mixture (``vaelib.priors``); the KL
  then has no closed form and the ELBO uses the single-sample Monte Carlo KL;
* ``latent="vmf"``: the hyperspherical VAE, q(z|x) = vMF(loc, kappa) on S^{D-1} (``vaelib.vmf``)
  with the uniform prior on the sphere and its closed-form KL.

``latent="deterministic"`` makes the same network a plain autoencoder (z = the encoder's output, no noise,
no KL; notebooks 00 and 08). ``encode(x)`` always returns q(z|x) as one object (``DiagonalGaussian``,
``VonMisesFisher`` or ``PointMass``), never a tuple, so a helper cannot unpack the wrong parameters.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.checks import tensor
from vaelib.losses import DiagonalGaussian, PointMass, bernoulli_log_prob, kl_std_normal, std_normal_log_prob
from vaelib.posteriors import DiagonalLaplace, kl_laplace_std_normal
from vaelib.priors import GaussianMixturePrior, VampPrior
from vaelib.vmf import VonMisesFisher, kl_vmf_uniform, log_sphere_area

LATENTS = ("gaussian", "vmf", "deterministic", "laplace")
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
    latent: Literal["gaussian", "vmf", "deterministic", "laplace"] = "gaussian"  # q(z|x): diagonal Gaussian, vMF
    #                             on S^{D-1}, a point mass (a plain autoencoder) or a diagonal Laplace (notebook 08)
    prior: Literal["standard", "vamp", "mog"] = "standard"  # standard: N(0, I), or uniform on the sphere
    n_components: int = 500  # pseudo-inputs (vamp) or mixture components (mog)

    def __post_init__(self) -> None:
        if self.arch not in ("mlp", "conv"):
            raise ValueError(f"Unknown architecture {self.arch!r}: use 'mlp' or 'conv'.")
        if self.latent not in LATENTS or self.prior not in ("standard", "vamp", "mog"):
            raise ValueError(f"Unknown latent {self.latent!r} or prior {self.prior!r}: use latent 'gaussian', 'vmf', "
                             "'deterministic' or 'laplace', prior 'standard', 'vamp' or 'mog'.")
        if self.latent_dim < 1 or any(h < 1 for h in self.hidden) or self.n_components < 1:
            raise ValueError(f"latent_dim, hidden widths and n_components must be positive, got latent_dim="
                             f"{self.latent_dim}, hidden={self.hidden}, n_components={self.n_components}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {self.activation!r}: use one of {sorted(ACTIVATIONS)}.")
        if self.latent == "deterministic" and self.prior != "standard":
            raise ValueError("A deterministic autoencoder has no prior to learn: use prior='standard'.")
        if self.latent == "vmf" and self.prior != "standard":
            raise ValueError("The vMF latent comes with the uniform prior on the sphere (prior='standard').")
        if self.latent == "vmf" and self.latent_dim < 2:
            raise ValueError("A vMF latent needs latent_dim >= 2 (the sphere S^{D-1} lives in R^D).")

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
    """Shared VAE interface: subclasses define ``encoder`` (x -> encoder outputs) and ``decoder`` (z -> 784 logits),
    then call ``_build_prior``. The posterior family and the prior follow ``config.latent`` / ``config.prior``."""

    config: ModelConfig
    encoder: nn.Module
    decoder: nn.Module
    prior: VampPrior | GaussianMixturePrior | None  # None: the standard prior (no parameters)

    @staticmethod
    def encoder_outputs(config: ModelConfig) -> int:
        """Numbers the encoder emits per image: 2D (mu, logvar), D + 1 (direction, concentration) or D (the code)."""
        per_family = {"vmf": config.latent_dim + 1, "deterministic": config.latent_dim}
        return per_family.get(config.latent, 2 * config.latent_dim)

    def _build_prior(self) -> None:
        c = self.config
        self.prior = (VampPrior(c.n_components) if c.prior == "vamp"
                      else GaussianMixturePrior(c.n_components, c.latent_dim) if c.prior == "mog" else None)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian | VonMisesFisher | PointMass | DiagonalLaplace:
        """x (B, 784) -> q(z|x) as one object: ``DiagonalGaussian(mu, logvar)`` with (B, D) each; for
        ``latent="vmf"`` ``VonMisesFisher(loc, kappa)`` with the unit direction loc (B, D) and the concentration
        kappa = softplus(.) + 1 (B,) (Davidson et al., 2018); for ``latent="deterministic"`` ``PointMass(z)``; for
        ``latent="laplace"`` ``DiagonalLaplace(mu, logvar)`` (``vaelib.posteriors``, notebook 08)."""
        tensor(x, "x", last=784, finite=False, nonempty=False)  # one sentence, not a matmul error
        h = self.encoder(x).to(x.dtype)  # back to the input's dtype when the layers ran in bf16 (autocast)
        if self.config.latent == "vmf":
            loc, raw = h[..., :-1], h[..., -1]
            return VonMisesFisher(loc / loc.norm(dim=-1, keepdim=True).clamp_min(1e-12), F.softplus(raw) + 1.0)
        if self.config.latent == "deterministic":
            return PointMass(h)
        mu, logvar = h.chunk(2, dim=-1)
        return DiagonalLaplace(mu, logvar) if self.config.latent == "laplace" else DiagonalGaussian(mu, logvar)

    @property
    def has_closed_kl(self) -> bool:
        """True where KL(q(z|x) || p(z)) has a closed form: Gaussian/N(0, I) and vMF/uniform (and no KL at all
        for a deterministic autoencoder, whose training loss has no KL term)."""
        return self.config.prior == "standard"

    def closed_kl(self, post: DiagonalGaussian | VonMisesFisher | PointMass) -> torch.Tensor:
        """Closed-form KL(q(z|x) || p(z)) per example (B,); only for the standard priors (zero for an autoencoder)."""
        if not self.has_closed_kl:
            raise ValueError(f"prior={self.config.prior!r} has no closed-form KL: use the Monte Carlo KL")
        if isinstance(post, VonMisesFisher):
            return kl_vmf_uniform(post.kappa, self.latent_dim)
        if isinstance(post, PointMass):
            return torch.zeros(post.z.shape[:-1], dtype=post.z.dtype, device=post.z.device)
        if isinstance(post, DiagonalLaplace):
            return kl_laplace_std_normal(post.mu, post.logvar)
        return kl_std_normal(post.mu, post.logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., D) -> x_logits (..., 784); leading sample dims are flattened and restored."""
        tensor(z, "z", last=self.latent_dim, finite=False, nonempty=False)
        lead = z.shape[:-1]
        return self.decoder(z.reshape(-1, z.shape[-1])).to(z.dtype).reshape(*lead, 784)  # z's dtype under autocast too

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z), Bernoulli over 784 pixels: (..., B)."""
        return bernoulli_log_prob(self.decode(z), x)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z): N(0, I); uniform on S^{D-1} (density 1/area); or the VampPrior / mixture."""
        if self.config.latent == "vmf":
            return torch.full(z.shape[:-1], -log_sphere_area(self.latent_dim), dtype=z.dtype, device=z.device)
        if isinstance(self.prior, VampPrior):
            return self.prior.log_prob(z, self._gaussian_params)
        if isinstance(self.prior, GaussianMixturePrior):
            return self.prior.log_prob(z)
        return std_normal_log_prob(z)

    def _gaussian_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x) for a Gaussian latent: the VampPrior's components at its pseudo-inputs."""
        post = self.encode(x)
        return post.mu, post.logvar

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latent codes (n, D) drawn from the model's prior."""
        device = next(self.parameters()).device
        if isinstance(self.prior, VampPrior):
            return self.prior.sample(n, self._gaussian_params, generator)
        if isinstance(self.prior, GaussianMixturePrior):
            return self.prior.sample(n, generator)
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return z / z.norm(dim=-1, keepdim=True) if self.config.latent == "vmf" else z  # uniform on the sphere

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode z ~ p(z): pixel probabilities (n, 784)."""
        return torch.sigmoid(self.decode(self.sample_prior(n, generator)))


class MLPVAE(VAE):
    """784 -> hidden... -> (mu, logvar) in R^D;  D -> reversed hidden... -> 784 logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        dec = list(config.decoder_hidden) if config.decoder_hidden is not None else list(reversed(config.hidden))
        self.encoder = mlp([784, *config.hidden, self.encoder_outputs(config)], config.activation)
        self.decoder = mlp([config.latent_dim, *dec, 784], config.activation)
        self._build_prior()


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
            nn.Linear(width, self.encoder_outputs(config)),
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, width), act(),
            nn.Linear(width, c2 * 49), act(), nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), act(),  # (B, c1, 14, 14)
            nn.ConvTranspose2d(c1, 1, 4, 2, 1),          # (B, 1, 28, 28) logits
            nn.Flatten(),
        )
        self._build_prior()


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
