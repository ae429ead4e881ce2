"""A linear-Gaussian latent variable model where log p(x) and p(z|x) are exact.

    z ~ N(0, I_D),   x | z ~ N(W z + b, s^2 I_P)
    => p(x) = N(b, W W^T + s^2 I),   p(z|x) = N(S W^T (x - b) / s^2, S),  S = (I + W^T W / s^2)^-1

Its "encoder" is the exact posterior's mean and diagonal variance, optionally spoiled (``mean_shift``,
``logvar_shift``) so that the ELBO gap is visible. Used, in float64, to test ``vaelib.losses`` and
as the worked example of notebooks/01_elbo.ipynb.
"""
from __future__ import annotations

import math

import torch

from vaelib.checks import fail, number, same_shape, tensor
from vaelib.losses import LOG_2PI, DiagonalGaussian, kl_std_normal, std_normal_log_prob


class LinearGaussian:
    """Exact model with the ``LatentVariableModel`` interface (encode, log_px_given_z, log_prior)."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, s: float,
                 mean_shift: float = 0.0, logvar_shift: float = 0.0) -> None:
        if not s > 0:
            raise ValueError(f"s must be > 0 (got {s}): "
                             "the observation noise of x | z needs a positive standard deviation.")
        self.W, self.b, self.s = W, b, float(s)  # W: (P, D), b: (P,)
        self.mean_shift, self.logvar_shift = mean_shift, logvar_shift

    @classmethod
    def random(cls, P: int, D: int, s: float = 0.5, seed: int = 0, **shifts: float) -> "LinearGaussian":
        """A random instance in float64."""
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(P, D, generator=g, dtype=torch.float64)
        b = torch.randn(P, generator=g, dtype=torch.float64)
        return cls(W, b, s, **shifts)

    @property
    def posterior_cov(self) -> torch.Tensor:
        """S = (I + W^T W / s^2)^-1, the same for every x: (D, D)."""
        D = self.W.shape[1]
        eye = torch.eye(D, dtype=self.W.dtype)
        return torch.linalg.inv(eye + self.W.T @ self.W / self.s**2)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact p(z|x): mean (B, D) and covariance (D, D)."""
        S = self.posterior_cov
        return (x - self.b) @ self.W @ S / self.s**2, S

    def log_px(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) = log N(x; b, W W^T + s^2 I): (B,)."""
        P = self.W.shape[0]
        C = self.W @ self.W.T + self.s**2 * torch.eye(P, dtype=self.W.dtype)
        return torch.distributions.MultivariateNormal(self.b, C).log_prob(x)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """q(z|x) = N(mu, diag exp(logvar)): the exact posterior's mean and diagonal log-variance, shifted by the
        spoilers (``.mu``, ``.logvar`` of shape (B, D))."""
        m, S = self.posterior(x)
        logvar = torch.log(torch.diagonal(S)).expand_as(m) + self.logvar_shift
        return DiagonalGaussian(m + self.mean_shift, logvar)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log N(x; W z + b, s^2 I) summed over the P dims; z may have leading sample dims."""
        mean = z @ self.W.T + self.b  # (..., B, P)
        P = self.W.shape[0]
        return -0.5 * (P * (LOG_2PI + 2 * math.log(self.s)) + ((x - mean) ** 2).sum(-1) / self.s**2)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I)."""
        return std_normal_log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw x ~ p(x): (n, P)."""
        D = self.W.shape[1]
        z = torch.randn(n, D, generator=generator, dtype=self.W.dtype)
        noise = torch.randn(n, self.W.shape[0], generator=generator, dtype=self.W.dtype)
        return z @ self.W.T + self.b + self.s * noise


# --- Closed-form helpers for notebooks/01_elbo.ipynb (no sampling anywhere) -----------------------

def _toy_args(model: LinearGaussian, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> None:
    P, D = model.W.shape
    tensor(x, "x", ndim=2, last=P, finite=False)
    tensor(mu, "mu", ndim=2, last=D, finite=False)
    tensor(logvar, "logvar", ndim=2, last=D, finite=False)
    same_shape(mu, logvar, "mu", "logvar")
    if len(x) != len(mu):
        raise fail("x and mu", "must hold the same number of examples", f"{len(x)} and {len(mu)}", "one q per x")
    if x.dtype != model.W.dtype or mu.dtype != model.W.dtype or logvar.dtype != model.W.dtype:
        raise fail("x, mu and logvar", f"must be {model.W.dtype} like the model",
                   f"{x.dtype}, {mu.dtype}, {logvar.dtype}", "x.double(), mu.double() and logvar.double()", TypeError)


def linear_gaussian_1d(a: float, b: float, s: float, **shifts: float) -> LinearGaussian:
    """The 1-D model z ~ N(0, 1), x | z ~ N(a z + b, s^2) as a float64 ``LinearGaussian`` (P = D = 1)."""
    a, b = number(a, "a"), number(b, "b")
    s = number(s, "s", low=0.0, strict_low=True)
    W = torch.tensor([[float(a)]], dtype=torch.float64)  # (1, 1)
    return LinearGaussian(W, torch.tensor([float(b)], dtype=torch.float64), s, **shifts)


def exact_elbo(model: LinearGaussian, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """ELBO of q(z) = N(mu, diag exp(logvar)) in closed form: E_q[log p(x|z)] - KL(q || N(0, I)), (B,).

    E_q ||x - W z - b||^2 = ||x - W mu - b||^2 + sum_j var_j ||W[:, j]||^2. Derived in notebooks/01_elbo.ipynb.
    """
    _toy_args(model, x, mu, logvar)
    P = model.W.shape[0]
    resid = x - mu @ model.W.T - model.b  # (B, P)
    spread = logvar.exp() @ (model.W**2).sum(0)  # (B,): E_q of the decoder-mean variance
    expected_log_lik = -0.5 * (P * (LOG_2PI + 2 * math.log(model.s)) + ((resid**2).sum(-1) + spread) / model.s**2)
    return expected_log_lik - kl_std_normal(mu, logvar)


def kl_to_posterior(model: LinearGaussian, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || p(z|x)) with the exact full-covariance posterior, in closed form: (B,).

    KL = 1/2 [tr(S^-1 V) + (m - mu)^T S^-1 (m - mu) - D + log det S - log det V]. Derived in notebook 01.
    """
    _toy_args(model, x, mu, logvar)
    m, S = model.posterior(x)  # (B, D), (D, D)
    prec = torch.linalg.inv(S)  # (D, D)
    diff = mu - m  # (B, D)
    trace = logvar.exp() @ torch.diagonal(prec)  # (B,)
    maha = ((diff @ prec) * diff).sum(-1)  # (B,)
    return 0.5 * (trace + maha - mu.shape[-1] + torch.logdet(S) - logvar.sum(-1))
