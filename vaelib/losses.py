"""The VAE objective, term by term, per example.

Conventions (the README's notation table): ``mu``/``logvar`` are the encoder's outputs (``logvar`` is
always log sigma^2), ``x_logits`` the decoder's, ``recon = -log p(x|z)`` and ``kl`` are summed over
pixels and latent dimensions, and every function here returns one number per example. Reducing over
the batch is a separate, explicit step (``reduce_batch``) -- see notebook 02 for why ``mean`` over
latent dimensions instead of ``sum`` is a hidden beta. The closed forms compute in float32 or wider:
half-precision inputs (float16, bfloat16) are widened to float32 first, since a sum over D = 1000
dimensions or 784 pixels easily passes float16's largest number, 65,504.

Derived in notebooks/01_elbo.ipynb (ELBO, IWAE) and notebooks/02_kl_closed_form.ipynb (KL).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch
import torch.nn.functional as F

from vaelib.checks import broadcastable, count, fail, number, same_shape, tensor

LOG_2PI = math.log(2 * math.pi)


class Posterior(Protocol):
    """q(z|x) for a batch: reparameterized samples and log-densities (DiagonalGaussian, the vMF, PointMass)."""

    def rsample(self, n: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor: ...

    def log_prob(self, z: torch.Tensor) -> torch.Tensor: ...

    def params(self) -> tuple[torch.Tensor, ...]: ...  # the tensors that define it, each with batch dim first


class LatentVariableModel(Protocol):
    """What the ELBO and IWAE need from a model (vaelib.models and vaelib.toy implement it).

    ``encode(x)`` returns q(z|x) as a ``Posterior`` object, never a tuple: a ``DiagonalGaussian`` (``.mu``,
    ``.logvar``), a ``VonMisesFisher`` (``.loc``, ``.kappa``) or a ``PointMass`` (``.z``). A model may also
    define ``has_closed_kl`` and ``closed_kl(posterior)``; without them the closed-form KL is the Gaussian's
    to N(0, I) (see ``closed_form_kl``).
    """

    def encode(self, x: torch.Tensor) -> Posterior: ...

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor: ...  # (..., B)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor: ...  # (..., B)


def _args(**named: torch.Tensor) -> None:
    """Floating-point tensors that broadcast against each other, else one sentence naming the argument (cheap: no
    look at the values, so NaN and inf propagate to the examples they belong to, and logvar = -inf is the exact
    sigma = 0 limit)."""
    for name, t in named.items():
        tensor(t, name, floating=True, finite=False, nonempty=False)
        if t.dim() == 0:
            raise fail(name, "must have a last dimension to sum over", "a 0-d tensor", f"{name} of shape (..., D)")
    items = list(named.items())
    for (name_a, a), (name_b, b) in zip(items, items[1:]):
        broadcastable(name_a, a, name_b, b)


def _wide(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors, with float16 / bfloat16 widened to float32 (sums over many dims overflow half precision)."""
    return tuple(t.float() if t.dtype in (torch.float16, torch.bfloat16) else t for t in tensors)


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) summed over the last dim (float32 or wider). Derived in notebook 02."""
    _args(mu=mu, logvar=logvar)
    mu, logvar = _wide(mu, logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(-1)


def kl_diag_gaussians(mu_q: torch.Tensor, logvar_q: torch.Tensor,
                      mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))), diagonal, summed over the last dim (float32 or wider)."""
    _args(mu_q=mu_q, logvar_q=logvar_q, mu_p=mu_p, logvar_p=logvar_p)
    mu_q, logvar_q, mu_p, logvar_p = _wide(mu_q, logvar_q, mu_p, logvar_p)
    var_ratio = (logvar_q - logvar_p).exp()
    return 0.5 * (var_ratio + (mu_q - mu_p).pow(2) / logvar_p.exp() - 1.0 - (logvar_q - logvar_p)).sum(-1)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)) summed over the last dim (broadcasts leading sample dims; float32 or wider)."""
    _args(z=z, mu=mu, logvar=logvar)
    z, mu, logvar = _wide(z, mu, logvar)
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def std_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dim (float32 or wider)."""
    _args(z=z)
    (z,) = _wide(z)
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def bernoulli_log_prob(x_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(x; sigmoid(x_logits)) summed over pixels, computed stably from logits.

    For x in {0,1} this is a normalized log-likelihood. For grey x in [0,1] it is minus the BCE that
    pytorch/examples reports, which is *not* a log-likelihood (notebook 04 explains).
    """
    _args(x_logits=x_logits, x=x)
    x_logits, x = torch.broadcast_tensors(*_wide(x_logits, x))  # x (B, 784) against logits (k, B, 784), or vice versa
    return -F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None,
                   n_samples: int | None = None) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I): ``(B, D)``, or ``(n_samples, B, D)`` if asked. Notebook 03."""
    _args(mu=mu, logvar=logvar)
    if mu.shape != logvar.shape:
        raise fail("mu and logvar", "must have the same shape", f"{tuple(mu.shape)} and {tuple(logvar.shape)}",
                   "the encoder's two outputs for one batch")
    n_samples = None if n_samples is None else count(n_samples, "n_samples")
    shape = mu.shape if n_samples is None else (n_samples, *mu.shape)
    eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


class DiagonalGaussian:
    """q(z|x) = N(mu, diag exp(logvar)), with the interface the ELBO and IWAE use (shared with the vMF)."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor) -> None:
        self.mu, self.logvar = mu, logvar  # (B, D) each

    def rsample(self, n: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterized z, (B, D) or (n, B, D)."""
        return reparameterize(self.mu, self.logvar, generator, n_samples=n)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) (..., B)."""
        return gaussian_log_prob(z, self.mu, self.logvar)

    def params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar)."""
        return self.mu, self.logvar


class PointMass:
    """The "posterior" of a deterministic autoencoder: all mass at z = the encoder's output (notebooks 00, 08).

    Sampling returns z itself (no noise); it has no density, so no ELBO or IWAE bound exists for such a model.
    """

    def __init__(self, z: torch.Tensor) -> None:
        self.z = z  # (B, D)
        self.mu = z  # the code, under the name every Gaussian helper reads

    def rsample(self, n: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """z itself, (B, D), or repeated (n, B, D)."""
        return self.z if n is None else self.z.expand(n, *self.z.shape)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Undefined: a point mass has no density."""
        raise ValueError("A deterministic autoencoder's code has no density, so it has no ELBO or log p(x) bound: "
                         "use a VAE, or fit a density to its codes (vaelib.expost, notebook 08).")

    def params(self) -> tuple[torch.Tensor]:
        """(z,)."""
        return (self.z,)


def closed_form_kl(model: LatentVariableModel, post: Any) -> torch.Tensor:
    """The model's closed-form KL(q(z|x) || p(z)) per example (default: Gaussian to N(0, I))."""
    if hasattr(model, "closed_kl"):
        return model.closed_kl(post)
    return kl_std_normal(post.mu, post.logvar)


def mc_kl(post: Any, z: torch.Tensor, log_prior_z: torch.Tensor) -> torch.Tensor:
    """Single-sample KL estimate log q(z|x) - log p(z) at z ~ q(z|x), per example (...,). Notebook 07.

    Unbiased for KL(q || p) with any prior and any posterior with a ``log_prob``, but noisy: for a
    Gaussian q and p = N(0, I) its variance per example is sum_d [(sigma_d^2 - 1)^2 / 2 + mu_d^2 sigma_d^2],
    where the closed form has none. Inside the ELBO that noise is correlated with the noise of
    log p(x|z) at the same z, and partly cancels (notebook 07 measures both).
    """
    tensor(z, "z", finite=False, nonempty=False)
    tensor(log_prior_z, "log_prior_z", finite=False, nonempty=False)
    if z.shape[:-1] != log_prior_z.shape:
        raise fail("log_prior_z", "must have one value per z",
                   f"shape {tuple(log_prior_z.shape)} for z {tuple(z.shape)}",
                   "log p(z) at the same z, shape z.shape[:-1]")
    return post.log_prob(z) - log_prior_z


@dataclass
class ELBOTerms:
    """Per-example terms, each of shape ``(B,)``: ``elbo = -recon - kl``; the code ``z`` (B, D) they used, and the
    posterior ``post`` it was drawn from (for objectives that look inside the KL, such as free bits)."""

    recon: torch.Tensor
    kl: torch.Tensor
    elbo: torch.Tensor
    z: torch.Tensor | None = None
    post: Any = None


def elbo_terms(model: LatentVariableModel, x: torch.Tensor, generator: torch.Generator | None = None,
               kl: Literal["auto", "closed", "mc"] = "auto") -> ELBOTerms:
    """Single-sample ELBO per example. ``kl="closed"`` uses the closed form (Gaussian to N(0, I), or the
    model's ``closed_kl``); ``kl="mc"`` uses log q(z|x) - log p(z) at the same z (any prior; notebook 07);
    ``"auto"`` takes the closed form where the model has one (``has_closed_kl``, default True)."""
    tensor(x, "x", floating=True, finite=False, nonempty=False)
    if kl not in ("auto", "closed", "mc"):
        raise fail("kl", "must be 'auto', 'closed' or 'mc'", repr(kl), "kl='auto'")
    post = model.encode(x)
    z = post.rsample(generator=generator)  # (B, D)
    recon = -model.log_px_given_z(x, z)  # (B,)
    if kl == "auto":
        kl = "closed" if getattr(model, "has_closed_kl", True) else "mc"
    kl_term = closed_form_kl(model, post) if kl == "closed" else mc_kl(post, z, model.log_prior(z))
    return ELBOTerms(recon=recon, kl=kl_term, elbo=-recon - kl_term, z=z, post=post)


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> torch.Tensor:
    """The KL term of the free-bits objective (Kingma et al., 2016), per example ``(B,)``: each latent dimension d
    whose KL, averaged over the batch, is below ``free_bits`` nats counts as exactly ``free_bits`` (no gradient),
    so its batch mean is sum_d max(free_bits, mean_b KL_bd). A training objective, not a bound. Notebook 09.
    Shapes and dtypes are checked, values are not (no sync per training step): a NaN stays in its own example,
    and the trainer's divergence guard stops the run."""
    tensor(mu, "mu", ndim=2, finite=False, nonempty=False)
    tensor(logvar, "logvar", ndim=2, finite=False, nonempty=False)
    same_shape(mu, logvar, "mu", "logvar")
    free_bits = number(free_bits, "free_bits", low=0.0)
    kl_bd = kl_std_normal(mu.unsqueeze(-1), logvar.unsqueeze(-1))  # (B, D): one KL per example and dimension
    below = kl_bd.mean(0) < free_bits  # (D,)
    return torch.where(below, torch.full_like(kl_bd, free_bits), kl_bd).sum(-1)


def reduce_batch(values: torch.Tensor, reduction: Literal["mean", "sum"] = "mean") -> torch.Tensor:
    """Reduce per-example values over the batch: ``mean`` (per-example nats) or ``sum`` (per batch)."""
    tensor(values, "values", floating=False, finite=False, nonempty=reduction == "mean")
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    raise ValueError(f"Unknown reduction {reduction!r}: use 'mean' or 'sum'.")


@torch.no_grad()
def iwae_log_px(model: LatentVariableModel, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                max_rows: int = 65_536) -> torch.Tensor:
    """Importance-weighted bound log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x), per example ``(B,)``.

    k=1 is an ELBO estimate; as k grows it rises towards log p(x) (Burda et al., 2016). Samples are
    drawn in chunks of at most ``max_rows`` decoder rows and combined with ``logsumexp``, so memory
    stays bounded at k=5000. Derived in notebooks/01_elbo.ipynb.
    """
    tensor(x, "x", ndim=(2,), floating=True, finite=False, nonempty=False)
    k, max_rows = count(k, "k"), count(max_rows, "max_rows")
    if x.shape[0] == 0:
        return torch.empty(0, dtype=x.dtype, device=x.device)
    post = model.encode(x)  # q(z|x): Gaussian, or the model's own (vMF)
    chunk = max(1, max_rows // x.shape[0])
    partial = []
    for start in range(0, k, chunk):
        z = post.rsample(min(chunk, k - start), generator)  # (c, B, D)
        log_w = model.log_px_given_z(x, z) + model.log_prior(z) - post.log_prob(z)  # (c, B)
        partial.append(torch.logsumexp(log_w, dim=0))  # (B,)
    return torch.logsumexp(torch.stack(partial), dim=0) - math.log(k)
