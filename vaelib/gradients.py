"""Two Monte Carlo estimators of the gradient of an expectation, and test functions with known answers.

We want ``grad_{mu, sigma} E_{z ~ N(mu, diag sigma^2)} [f(z)]`` for a diagonal Gaussian in ``D`` dims.

* score function (REINFORCE, Williams 1992): ``f(z) * grad log q(z)`` -- needs only values of ``f``;
* pathwise (reparameterization, Kingma & Welling 2014): write ``z = mu + sigma * eps`` and
  differentiate through ``f`` -- needs ``grad f`` but has far lower variance.

Both return *per-sample* estimates of shape ``(n, D)`` so that means, variances and standard errors
can be computed from them. ``sigma`` here is the standard deviation (not ``logvar``): the gradients
are with respect to ``mu`` and ``sigma``. Derived in notebooks/03_reparameterization.ipynb.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch

from vaelib.checks import count, fail, same_shape, tensor

Fn = Callable[[torch.Tensor], torch.Tensor]  # (..., D) -> (...,)


def _location_scale(mu: torch.Tensor, sigma: torch.Tensor) -> None:
    tensor(mu, "mu", ndim=1)
    tensor(sigma, "sigma", ndim=1)
    same_shape(mu, sigma, "mu", "sigma")
    if not bool((sigma > 0).all()):
        raise fail("sigma", "must be > 0", f"min {float(sigma.min()):g}", "positive standard deviations")


def standard_normal(n: int, mu: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` draws of eps ~ N(0, I) shaped like ``mu``: ``(n, D)``."""
    n = count(n, "n", minimum=0)
    tensor(mu, "mu", floating=True, finite=False)
    return torch.randn((n, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)


def score_function_grad(f: Fn, mu: torch.Tensor, sigma: torch.Tensor, n: int,
                        generator: torch.Generator | None = None, eps: torch.Tensor | None = None,
                        baseline: Literal["none", "loo"] = "none") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample REINFORCE estimates of (d/dmu, d/dsigma) E_q[f(z)], each ``(n, D)``.

    Uses grad_mu log q = eps / sigma and grad_sigma log q = (eps^2 - 1) / sigma with z = mu + sigma eps.
    ``baseline="loo"`` subtracts the leave-one-out mean of f (a control variate that keeps it unbiased).
    Derived in notebooks/03_reparameterization.ipynb.
    """
    _location_scale(mu, sigma)
    n = count(n, "n")
    eps = standard_normal(n, mu, generator) if eps is None else eps  # (n, D)
    with torch.no_grad():
        fz = f(mu + sigma * eps)  # (n,)
    if baseline == "loo":
        fz = fz - (fz.sum() - fz) / (fz.shape[0] - 1)
    elif baseline != "none":
        raise ValueError(f"Unknown baseline {baseline!r}: use 'none' or 'loo'.")
    w = fz.unsqueeze(-1)  # (n, 1)
    return w * eps / sigma, w * (eps.pow(2) - 1.0) / sigma


def pathwise_grad(f: Fn, mu: torch.Tensor, sigma: torch.Tensor, n: int,
                  generator: torch.Generator | None = None,
                  eps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample reparameterized estimates of (d/dmu, d/dsigma) E_q[f(z)], each ``(n, D)``.

    With z = mu + sigma * eps: d f/d mu = grad f(z) and d f/d sigma = grad f(z) * eps. The same formula
    holds for any location-scale family (pass its ``eps``). Derived in notebooks/03_reparameterization.ipynb.
    """
    _location_scale(mu, sigma)
    n = count(n, "n")
    eps = standard_normal(n, mu, generator) if eps is None else eps  # (n, D)
    z = (mu + sigma * eps).detach().requires_grad_(True)  # (n, D)
    (grad_z,) = torch.autograd.grad(f(z).sum(), z)  # rows are independent: row i is grad f(z_i)
    return grad_z, grad_z * eps


def batch_means(g: torch.Tensor, n: int) -> torch.Tensor:
    """Split per-sample estimates ``(R * n, D)`` into R batches of n and average each: ``(R, D)``."""
    tensor(g, "g", ndim=2)
    n = count(n, "n")
    if len(g) < n:
        raise fail("n", f"is more than the {len(g)} estimates in g", repr(n), f"n <= {len(g)}")
    return g[: (g.shape[0] // n) * n].reshape(-1, n, *g.shape[1:]).mean(1)


def total_variance(g: torch.Tensor) -> float:
    """Trace of the covariance of estimates ``(R, D)``: the summed per-coordinate variance."""
    tensor(g, "g", ndim=2)
    if len(g) < 2:
        raise fail("g", "needs at least 2 estimates for a variance", f"shape {tuple(g.shape)}", "two or more rows")
    return float(g.var(dim=0).sum())


def z_scores(g: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """(mean - exact) / standard error, per coordinate, for per-sample estimates ``(n, D)``."""
    tensor(g, "g", ndim=2)
    tensor(exact, "exact", ndim=1, last=g.shape[1])
    if len(g) < 2:
        raise fail("g", "needs at least 2 estimates for a standard error", f"shape {tuple(g.shape)}",
                   "two or more rows")
    se = g.std(dim=0) / g.shape[0] ** 0.5  # (D,): evaluate.mean_se per column (evaluate is a floor above)
    return (g.mean(0) - exact) / se


@dataclass
class Quadratic:
    """f(z) = z^T A z + b^T z, whose Gaussian expectation and its gradient are known in closed form."""

    A: torch.Tensor  # (D, D)
    b: torch.Tensor  # (D,)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """f(z) for z of shape ``(..., D)``: ``(...,)``."""
        return ((z @ self.A) * z).sum(-1) + z @ self.b

    def expectation(self, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """E[f(z)] = mu^T A mu + tr(A diag sigma^2) + b^T mu for z ~ N(mu, diag sigma^2)."""
        return mu @ self.A @ mu + (self.A.diagonal() * sigma.pow(2)).sum() + self.b @ mu

    def grad(self, mu: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact (d/dmu, d/dsigma) of the expectation: ((A + A^T) mu + b, 2 diag(A) sigma)."""
        return (self.A + self.A.T) @ mu + self.b, 2.0 * self.A.diagonal() * sigma


def random_quadratic(D: int, generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float64) -> Quadratic:
    """A random positive-definite quadratic in D dims with eigenvalues of order one."""
    D = count(D, "D")
    M = torch.randn(D, D, generator=generator, dtype=dtype) / D ** 0.5
    return Quadratic(A=M @ M.T + 0.5 * torch.eye(D, dtype=dtype), b=torch.randn(D, generator=generator, dtype=dtype))


def variance_of_batch_mean(estimator: Callable[..., tuple[torch.Tensor, torch.Tensor]], f: Fn,
                           mu: torch.Tensor, sigma: torch.Tensor, n: int, reps: int,
                           generator: torch.Generator | None = None) -> float:
    """Total variance of the n-sample average of an estimator (mu and sigma parts), from ``reps`` batches."""
    _location_scale(mu, sigma)
    n, reps = count(n, "n"), count(reps, "reps", minimum=2)
    g_mu, g_sigma = estimator(f, mu, sigma, n * reps, generator)  # (n * reps, D) each
    return total_variance(batch_means(g_mu, n)) + total_variance(batch_means(g_sigma, n))
