"""The aggregate posterior q(z) = (1/N) sum_i q(z|x_i) and how far it is from the prior N(0, I).

ELBO surgery (Hoffman & Johnson, 2016) splits the average KL term of the ELBO exactly in two:

    E_i[ KL(q(z|x_i) || p(z)) ]  =  I_q(x; z)  +  KL(q(z) || p(z)),

with (i, z) drawn as i ~ Uniform{1..N}, z ~ q(z|x_i), and
``I_q = E[log q(z|x_i) - log q(z)]``, ``KL(q(z)||p(z)) = E[log q(z) - log p(z)]``.
``log q(z)`` is a logsumexp over all N diagonal-Gaussian components (``vaelib.mixture.log_mixture_density``,
computed exactly, blocked so memory stays bounded); only the (i, z) draws are Monte Carlo, so every
estimate here comes with a standard error. The posteriors come from ``vaelib.latent.encode_dataset``.
Also: the moments of q(z), 1-D marginal densities, and
an MMD two-sample test (Gaussian RBF kernel, median-heuristic bandwidth, permutation p-value).

Derived in notebooks/06_aggregate_posterior.ipynb.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from vaelib.checks import count, fail, gaussians, number, same_shape, tensor
from vaelib.evaluate import mean_se
from vaelib.losses import gaussian_log_prob, kl_std_normal, std_normal_log_prob
from vaelib.mixture import log_mixture_density, sample_mixture


@dataclass
class AggregateTerms:
    """The three ELBO-surgery terms in nats (each with a Monte Carlo standard error ``*_se``)."""

    avg_kl: float          # E_i KL(q(z|x_i) || p(z)), closed form, exact over the N components
    avg_kl_se: float       # spread over examples: std_i(KL_i) / sqrt(N)
    mi: float              # I_q(x; z) = E[log q(z|x_i) - log q(z)], self component included (<= log N)
    mi_se: float
    marginal_kl: float     # KL(q(z) || p(z)) = E[log q(z) - log p(z)]
    marginal_kl_se: float
    gap: float             # (mi + marginal_kl) - avg_kl: zero up to Monte Carlo error
    gap_se: float
    mi_loo: float          # the same with log q(z) leaving component i out (q(z) of *other* data)
    mi_loo_se: float
    self_weight: float     # mean share of q(z) that comes from the component z was drawn from
    n_components: int      # N
    n_samples: int         # M draws of (i, z)
    log_n: float

    def to_dict(self) -> dict[str, float]:
        """Plain JSON-able dict."""
        return asdict(self)


@torch.no_grad()
def surgery_terms(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, idx: torch.Tensor, log_qz: torch.Tensor,
                  log_qz_loo: torch.Tensor | None = None, log_pz: torch.Tensor | None = None) -> AggregateTerms:
    """The ELBO-surgery terms from M draws ``z`` (M, D) of components ``idx`` (M,) and log q(z) at them (M,).

    ``log_qz`` (and ``log_qz_loo``, q(z) without each draw's own component; None gives NaN for ``mi_loo``) may be
    computed by ``log_mixture_density`` or shipped (``vaelib.artefacts``). ``log_pz`` (M,) is a model's own prior
    at z; None means N(0, I), whose average KL is exact (closed form over the N components)."""
    gaussians(mu, logvar)
    tensor(z, "z", ndim=2, last=mu.shape[1])
    tensor(idx, "idx", ndim=1, floating=False)
    if (idx.is_floating_point() or idx.is_complex() or len(idx) != len(z)
            or int(idx.min()) < 0 or int(idx.max()) >= len(mu)):
        raise fail("idx", f"must hold one component index in [0, {len(mu)}) per draw",
                   f"{tuple(idx.shape)} {idx.dtype}", "the indices sample_mixture returned with z")
    tensor(log_qz, "log_qz", ndim=1)
    same_shape(log_qz, idx, "log_qz", "idx")
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_qzx = gaussian_log_prob(z, mu[idx], logvar[idx])  # (M,)
    log_qz = log_qz.double()
    closed = log_pz is None
    log_pz = std_normal_log_prob(z) if closed else log_pz.double()  # (M,)
    kl_i = kl_std_normal(mu, logvar) if closed else log_qzx - log_pz  # (N,) exact, or (M,) Monte Carlo
    avg_kl, avg_kl_se = mean_se(kl_i)
    mi, mi_se = mean_se(log_qzx - log_qz)
    mkl, mkl_se = mean_se(log_qz - log_pz)
    # log q(z) cancels from the gap: it checks the sampler and the closed-form KL, not log q(z)
    gap, gap_se = mean_se((log_qzx - log_pz) - avg_kl)
    nan = float("nan")
    mi_loo, mi_loo_se = mean_se(log_qzx - log_qz_loo.double()) if log_qz_loo is not None else (nan, nan)
    self_w = (log_qzx - math.log(len(mu)) - log_qz).exp().mean().item()
    return AggregateTerms(avg_kl, avg_kl_se, mi, mi_se, mkl, mkl_se, gap, gap_se, mi_loo, mi_loo_se, self_w,
                          len(mu), len(z), math.log(len(mu)))


@torch.no_grad()
def aggregate_terms(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int, gen: torch.Generator | None = None,
                    chunk: int = 4096, log_prior: Callable[[torch.Tensor], torch.Tensor] | None = None
                    ) -> AggregateTerms:
    """Estimate avg KL, I_q(x;z) and KL(q(z)||p(z)) from the N posteriors N(mu_i, exp(logvar_i)) (N, D).

    ``log_prior`` (z (M, D) float64 -> (M,)) replaces N(0, I) by a model's own prior (a VampPrior,
    notebook 07). The average KL then has no closed form: it is estimated from the same draws, so the
    identity gap is zero by construction and only I_q and KL(q(z)||p(z)) are informative.
    """
    gaussians(mu, logvar)
    n_samples, chunk = count(n_samples, "n_samples"), count(chunk, "chunk")
    mu, logvar = mu.double(), logvar.double()
    z, idx = sample_mixture(n_samples, mu, logvar, generator=gen)  # (M, D), (M,): i ~ Uniform, z ~ q(z|x_i)
    log_qz = log_mixture_density(z, mu, logvar, chunk=chunk)  # (M,)
    log_qz_loo = log_mixture_density(z, mu, logvar, exclude=idx, chunk=chunk) if len(mu) > 1 else log_qz
    log_pz = None if log_prior is None else log_prior(z)
    return surgery_terms(mu, logvar, z, idx, log_qz, log_qz_loo, log_pz)


def aggregate_moments(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact mean (D,) and covariance (D, D) of q(z): Cov = Cov_i(mu_i) + mean_i diag(exp(logvar_i))."""
    gaussians(mu, logvar)
    mu, logvar = mu.double(), logvar.double()
    mean = mu.mean(0)
    centred = mu - mean
    cov = centred.T @ centred / len(mu) + torch.diag(logvar.exp().mean(0))
    return mean, cov


def gaussian_kl_to_std(mean: torch.Tensor, cov: torch.Tensor) -> float:
    """KL(N(mean, cov) || N(0, I)). For the moment-matched Gaussian g of q: KL(q||p) = KL(q||g) + this."""
    tensor(mean, "mean", ndim=1)
    tensor(cov, "cov", ndim=2, last=len(mean))
    if cov.shape[0] != cov.shape[1]:
        raise fail("cov", "must be square", f"shape {tuple(cov.shape)}", "a (D, D) covariance")
    d = len(mean)
    return 0.5 * (torch.trace(cov) + mean @ mean - d - torch.logdet(cov)).item()


@torch.no_grad()
def marginal_density_1d(mu_d: torch.Tensor, logvar_d: torch.Tensor, grid: torch.Tensor,
                        chunk: int = 8192) -> torch.Tensor:
    """Density of one coordinate of q(z), (1/N) sum_i N(t; mu_id, var_id), at each grid point t -> (G,)."""
    gaussians(mu_d, logvar_d, "mu_d", "logvar_d", ndim=1)
    tensor(grid, "grid", ndim=1)
    chunk = count(chunk, "chunk")
    dens = torch.zeros(len(grid), dtype=torch.float64)
    t = grid.double()[:, None]  # (G, 1)
    for a in range(0, len(mu_d), chunk):
        m, lv = mu_d[a:a + chunk].double(), logvar_d[a:a + chunk].double()  # (C,)
        dens += gaussian_log_prob(t.unsqueeze(-1), m.unsqueeze(-1), lv.unsqueeze(-1)).exp().sum(1)  # (G, C) -> (G,)
    return dens / len(mu_d)


def marginal_kl_1d(mu: torch.Tensor, logvar: torch.Tensor, lim: float = 8.0, n_grid: int = 801) -> torch.Tensor:
    """KL(q(z_d) || N(0, 1)) for every dimension d by quadrature on [-lim, lim] -> (D,)."""
    gaussians(mu, logvar)
    lim, n_grid = number(lim, "lim", low=0.0, strict_low=True), count(n_grid, "n_grid", minimum=2)
    grid = torch.linspace(-lim, lim, n_grid, dtype=torch.float64)
    logp = std_normal_log_prob(grid.unsqueeze(-1))  # (G,)
    out = []
    for d in range(mu.shape[1]):
        q = marginal_density_1d(mu[:, d], logvar[:, d], grid)
        integrand = torch.where(q > 0, q * (q.clamp_min(1e-300).log() - logp), torch.zeros_like(q))
        out.append(torch.trapezoid(integrand, grid))
    return torch.stack(out)


@dataclass
class MMDResult:
    """Unbiased MMD^2 with a Gaussian RBF kernel exp(-|a-b|^2 / (2 h^2)) and its permutation p-value."""

    mmd2: float
    p_value: float
    bandwidth: float
    n_perm: int


def _mmd2_batched(k: torch.Tensor, in_x: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 for each row of the 0/1 assignment matrix ``in_x`` (P, n + m) over kernel ``k`` -> (P,)."""
    sx, sy = in_x.double(), 1.0 - in_x.double()  # (P, n + m)
    n, m = sx[0].sum(), sy[0].sum()
    diag = k.diagonal()
    kxx = ((sx @ k) * sx).sum(1) - sx @ diag  # sum over i != j in x
    kyy = ((sy @ k) * sy).sum(1) - sy @ diag
    kxy = ((sx @ k) * sy).sum(1)
    return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2.0 * kxy / (n * m)


@torch.no_grad()
def mmd_test(x: torch.Tensor, y: torch.Tensor, n_perm: int = 200, gen: torch.Generator | None = None,
             bandwidth: float | None = None) -> MMDResult:
    """Two-sample test of x (n, D) vs y (m, D): unbiased MMD^2, median-heuristic bandwidth, permutation p-value."""
    tensor(x, "x", ndim=2)
    tensor(y, "y", ndim=2, last=x.shape[1])
    if len(x) < 2 or len(y) < 2:
        raise fail("x and y", "need at least 2 samples each", f"{len(x)} and {len(y)}", "two or more rows each")
    n_perm = count(n_perm, "n_perm")
    if bandwidth is not None:
        bandwidth = number(bandwidth, "bandwidth", low=0.0, strict_low=True)
    pooled = torch.cat([x, y]).double()  # (n + m, D)
    sq = torch.cdist(pooled, pooled).pow(2)
    if bandwidth is None:
        bandwidth = sq[torch.triu_indices(len(pooled), len(pooled), 1).unbind()].median().sqrt().item()
    k = (-sq / (2 * bandwidth ** 2)).exp()  # (n + m, n + m)
    n = len(x)
    observed = _mmd2_batched(k, (torch.arange(len(pooled)) < n)[None])[0]
    perms = torch.stack([torch.randperm(len(pooled), generator=gen) for _ in range(n_perm)])  # (P, n + m)
    permuted = _mmd2_batched(k, perms < n)  # the first n of each permutation play x
    exceed = int((permuted >= observed).sum())
    return MMDResult(observed.item(), (1 + exceed) / (1 + n_perm), bandwidth, n_perm)


def latent_grid(lim: float = 4.0, n: int = 121) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates t (n,) and the n x n grid of 2-D points (n*n, 2), float64, z_1 varying fastest (image rows = z_2)."""
    lim, n = number(lim, "lim", low=0.0, strict_low=True), count(n, "n", minimum=2)
    t = torch.linspace(-lim, lim, n, dtype=torch.float64)
    return t, torch.stack(torch.meshgrid(t, t, indexing="xy"), -1).reshape(-1, 2)


@torch.no_grad()
def grid_log_densities(mu: torch.Tensor, logvar: torch.Tensor, lim: float = 4.0,
                       n: int = 121) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a 2-D q(z): grid coordinates (n,), log q(z) and log N(z; 0, I) on the n x n grid (rows = z_2)."""
    gaussians(mu, logvar)
    if mu.shape[1] != 2:
        raise fail("mu", "must hold 2-D codes for a grid", f"shape {tuple(mu.shape)}", "codes of a D = 2 model")
    t, zz = latent_grid(lim, n)
    log_q = log_mixture_density(zz, mu, logvar).reshape(n, n)
    log_p = std_normal_log_prob(zz).reshape(n, n)
    return t, log_q, log_p
