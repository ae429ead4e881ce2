"""Ex-post densities on codes: fit a density to a trained encoder's codes after training, then sample it.

A plain autoencoder has no prior to sample from. The two-stage idea (Ghosh et al. 2020, "From variational to
deterministic autoencoders"; Dai & Wipf 2019, "Diagnosing and enhancing VAE models") fits one to its training
codes afterwards. Two families here, both with the same interface (``log_prob`` in float64, seeded ``sample``):

* ``GaussianMixtureDensity``: sum_k w_k N(z; m_k, C_k) with full covariances. K = 1 is the full-covariance
  Gaussian, fitted in closed form (``fit_gaussian``); K > 1 is fitted by EM (scikit-learn underneath,
  ``fit_mixture``), and ``select_mixture`` chooses K by the log-likelihood of held-out codes.
* ``KernelDensity``: a Gaussian kernel density estimate (one isotropic Gaussian per code after whitening),
  the nonparametric estimator whose sample size grows exponentially with D, for comparison.

``fit_student_t`` fits a one-dimensional Student-t by maximum likelihood (for the question "are a trained network's
weights Gaussian?", notebook 08 section 7), about 50 times faster than ``scipy.stats.t.fit``.

Log-likelihoods of codes compare densities fitted to the *same* codes; across models they are not comparable
(rescaling the codes shifts them by the log-Jacobian). Derived in notebooks/08_do_we_need_the_v.ipynb.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
from scipy.special import digamma
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from torch.distributions import StudentT

from vaelib.checks import count, fail, number, tensor
from vaelib.evaluate import mean_se
from vaelib.losses import LOG_2PI
from vaelib.mixture import log_mixture_density

F64 = torch.float64


@dataclass(frozen=True)
class GaussianMixtureDensity:
    """sum_k w_k N(z; means_k, chol_k chol_k^T), full covariances, float64 (K = 1: one full-covariance Gaussian)."""

    log_weights: torch.Tensor  # (K,) normalized: logsumexp = 0
    means: torch.Tensor        # (K, D)
    chol: torch.Tensor         # (K, D, D) lower-triangular Cholesky factors of the covariances

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_parameters(self) -> int:
        """Free parameters: K - 1 weights, K means, K symmetric covariances."""
        K, D = self.means.shape
        return K - 1 + K * D + K * D * (D + 1) // 2

    def log_prob(self, z: torch.Tensor, rows: int = 8192) -> torch.Tensor:
        """log density at each row of z (M, D) -> (M,) float64, ``rows`` codes at a time."""
        z = z.to(F64)
        log_det = 2 * self.chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (K,) log |C_k|
        out = []
        for r in range(0, len(z), rows):
            diff = z[r:r + rows, None, :] - self.means  # (R, K, D)
            white = torch.linalg.solve_triangular(self.chol, diff.transpose(0, 1).transpose(1, 2),
                                                  upper=False)  # (K, D, R)
            maha = white.pow(2).sum(1).T  # (R, K) Mahalanobis distances
            out.append(torch.logsumexp(self.log_weights - 0.5 * (self.dim * LOG_2PI + log_det + maha), dim=-1))
        return torch.cat(out)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws (n, D) float64: a component per draw (in random order), then its Gaussian."""
        k = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.dim, 1, generator=generator, dtype=F64)
        return self.means[k] + (self.chol[k] @ eps)[..., 0]

    def state(self) -> dict[str, torch.Tensor]:
        """Its tensors, for ``save_checkpoint``; ``GaussianMixtureDensity(**state)`` rebuilds it."""
        return {"log_weights": self.log_weights, "means": self.means, "chol": self.chol}


def fit_gaussian(codes: torch.Tensor, ridge: float = 1e-6) -> GaussianMixtureDensity:
    """Maximum-likelihood full-covariance Gaussian (mean, covariance with 1/N) of codes (N, D); ``ridge`` times
    the mean variance is added to the diagonal so that fewer than D + 1 codes still give a density."""
    z = _codes(codes, "codes", minimum=2).to(F64)
    ridge = number(ridge, "ridge", low=0.0)
    mean = z.mean(0)
    cov = (z - mean).T @ (z - mean) / len(z)  # (D, D)
    cov = cov + ridge * cov.diagonal().mean().clamp_min(1e-12) * torch.eye(z.shape[1], dtype=F64)
    return GaussianMixtureDensity(torch.zeros(1, dtype=F64), mean[None], torch.linalg.cholesky(cov)[None])


def fit_mixture(codes: torch.Tensor, n_components: int, seed: int = 0, max_iter: int = 200,
                reg_covar: float = 1e-6, n_init: int = 1) -> GaussianMixtureDensity:
    """Full-covariance Gaussian mixture fitted by EM (scikit-learn, k-means initialization) to codes (N, D).

    The codes are standardized per dimension first (so ``reg_covar`` is relative to each dimension's spread) and
    the fitted mixture is mapped back exactly: m = shift + s * m', C = diag(s) C' diag(s)."""
    n_components = count(n_components, "n_components")
    max_iter, n_init = count(max_iter, "max_iter"), count(n_init, "n_init")
    reg_covar = number(reg_covar, "reg_covar", low=0.0)
    z = _codes(codes, "codes", minimum=max(2, n_components))
    if n_components == 1:
        return fit_gaussian(z, reg_covar)
    z = z.to(F64)
    shift, scale = z.mean(0), z.std(0).clamp_min(1e-12)  # (D,) each
    gm = GaussianMixture(n_components, covariance_type="full", reg_covar=reg_covar, max_iter=max_iter,
                         n_init=n_init, random_state=seed)
    with warnings.catch_warnings():
        # a slow EM still gives a valid density; validation judges it
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(((z - shift) / scale).numpy())
    chol = torch.linalg.cholesky(torch.from_numpy(gm.covariances_))  # (K, D, D) standardized units
    return GaussianMixtureDensity(torch.from_numpy(gm.weights_).log(), shift + scale * torch.from_numpy(gm.means_),
                                  scale[:, None] * chol)


def _codes(codes: torch.Tensor, name: str, minimum: int = 1) -> torch.Tensor:
    """Codes (N, D), finite, with at least ``minimum`` rows; else one sentence naming the argument."""
    tensor(codes, name, ndim=2)
    if len(codes) < minimum:
        raise fail(name, f"needs at least {minimum} codes here", f"{len(codes)}", f"{minimum} or more rows (N, D)")
    return codes


@dataclass(frozen=True)
class KernelDensity:
    """Gaussian kernel density (1/N) sum_i N(W(z - shift); c_i, h^2 I) |det W|: one kernel per training code, in
    whitened coordinates (W = the inverse Cholesky factor of the codes' covariance), bandwidth h."""

    centers: torch.Tensor  # (N, D) whitened training codes
    shift: torch.Tensor    # (D,)
    whiten: torch.Tensor   # (D, D) W
    bandwidth: float

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log density at each row of z (M, D) -> (M,) float64."""
        u = (z.to(F64) - self.shift) @ self.whiten.T
        logvars = torch.full_like(self.centers[:1], 2 * math.log(self.bandwidth)).expand_as(self.centers)
        return log_mixture_density(u, self.centers, logvars) + self.whiten.diagonal().abs().log().sum()

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws (n, D): a training code, plus kernel noise, mapped back to code space."""
        i = torch.randint(len(self.centers), (n,), generator=generator)
        u = self.centers[i] + self.bandwidth * torch.randn(n, self.centers.shape[1], generator=generator, dtype=F64)
        return torch.linalg.solve_triangular(self.whiten, u.T, upper=False).T + self.shift


def fit_kde(codes: torch.Tensor, bandwidth: float) -> KernelDensity:
    """A ``KernelDensity`` on codes (N, D) with the given bandwidth (in whitened units)."""
    bandwidth = number(bandwidth, "bandwidth", low=0.0, strict_low=True)
    whitening = fit_gaussian(codes)
    W = torch.linalg.inv(whitening.chol[0])  # lower-triangular
    return KernelDensity((codes.to(F64) - whitening.means[0]) @ W.T, whitening.means[0], W, float(bandwidth))


def heldout_loglik(density: GaussianMixtureDensity | KernelDensity, codes: torch.Tensor) -> tuple[float, float]:
    """Mean log-density of held-out codes (M, D) and its standard error over codes (nats per code)."""
    dim = density.dim if isinstance(density, GaussianMixtureDensity) else density.centers.shape[1]
    tensor(codes, "codes", ndim=2, last=dim)
    return mean_se(density.log_prob(codes))


@dataclass(frozen=True)
class Selection:
    """The density chosen on validation codes, and one row per candidate: its setting and validation fit."""

    density: GaussianMixtureDensity | KernelDensity
    table: list[dict[str, float]]


def select_mixture(train: torch.Tensor, val: torch.Tensor, components: Sequence[int] = (1, 2, 5, 10, 20, 50),
                   seed: int = 0) -> Selection:
    """Fit a full-covariance mixture for each K in ``components`` (skipping K with fewer than D + 1 training codes
    per component) and keep the one with the highest mean log-likelihood of the validation codes."""
    N, D = _codes(train, "train", minimum=2).shape
    tensor(val, "val", ndim=2, last=D)
    components = [count(K, "components") for K in components]
    fits, table = [], []
    for K in components:
        if K > 1 and N < K * (D + 1):
            continue
        density = fit_mixture(train, K, seed=seed)
        val_ll, val_se = heldout_loglik(density, val)
        fits.append(density)
        table.append({"n_components": K, "val_loglik": val_ll, "val_loglik_se": val_se,
                      "n_parameters": density.n_parameters})
    if not fits:
        raise fail("components", f"has no K that N = {N} training codes in D = {D} can fit", repr(tuple(components)),
                   "a list that includes K = 1")
    best = max(range(len(fits)), key=lambda i: table[i]["val_loglik"])
    return Selection(fits[best], table)


def select_kde(train: torch.Tensor, val: torch.Tensor,
               bandwidths: Sequence[float] = (0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0)) -> Selection:
    """A kernel density for each bandwidth (whitened units); keep the best on the validation codes."""
    _codes(train, "train", minimum=2)
    tensor(val, "val", ndim=2, last=train.shape[1])
    if not len(bandwidths):
        raise fail("bandwidths", "is empty", "()", "one or more bandwidths > 0")
    fits = [fit_kde(train, h) for h in bandwidths]
    table = [{"bandwidth": h, **dict(zip(("val_loglik", "val_loglik_se"), heldout_loglik(f, val)))}
             for h, f in zip(bandwidths, fits)]
    best = max(range(len(fits)), key=lambda i: table[i]["val_loglik"])
    return Selection(fits[best], table)


def gaussian_expected_kl(dim: int, n: int) -> float:
    """E[KL(p || p_hat)] for the maximum-likelihood full-covariance Gaussian p_hat fitted to n draws of a Gaussian p
    in ``dim`` dimensions: the expected held-out excess negative log-likelihood, nats per code (exact; n > D + 2).

    From E[Sigma_hat^-1] = n Sigma^-1 / (n - D - 2) (inverse Wishart) and E log|Sigma_hat| (digammas):
    1/2 [(n + 1) D / (n - D - 2) - D + sum_{i=1..D} psi((n - i) / 2) + D log(2 / n)]. For large n it is
    p / (2n), with p = D + D(D + 1)/2 parameters: the N needed for a given excess grows like D^2, not e^D."""
    dim, n = count(dim, "dim"), count(n, "n")
    if n <= dim + 2:
        raise ValueError(f"The expected KL is infinite for n <= D + 2 (n={n}, D={dim}): use more codes.")
    psi = sum(float(digamma((n - i) / 2)) for i in range(1, dim + 1))
    return 0.5 * ((n + 1) * dim / (n - dim - 2) - dim + psi + dim * math.log(2 / n))



def fit_student_t(values: torch.Tensor, max_iter: int = 200) -> StudentT:
    """Maximum-likelihood Student-t (degrees of freedom, location, scale) of one-dimensional values (N,), float64:
    L-BFGS on (log df, loc, log scale) from df = 3, the median and the scaled median absolute deviation."""
    x = tensor(values, "values", floating=False).detach().to(F64).flatten()
    max_iter = count(max_iter, "max_iter")
    if len(x) < 2 or bool((x == x[0]).all()):
        raise fail("values", "needs at least two different values to fit a spread", f"{len(x)} values",
                   "a sample with some spread")
    loc = x.median()
    scale = 1.4826 * (x - loc).abs().median().clamp_min(1e-12)
    params = torch.stack([torch.tensor(math.log(3.0), dtype=F64), loc, scale.log()]).requires_grad_()
    opt = torch.optim.LBFGS([params], max_iter=max_iter, tolerance_grad=1e-8, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def nll() -> torch.Tensor:
        opt.zero_grad()
        loss = -StudentT(params[0].exp(), params[1], params[2].exp()).log_prob(x).mean()
        loss.backward()
        return loss

    opt.step(nll)
    df, loc, log_scale = params.detach()
    return StudentT(df.exp(), loc, log_scale.exp())
