"""Checks for the exercises of notebooks/08_do_we_need_the_v.ipynb (the Fréchet distance, an ex-post Gaussian and
its held-out fit, the number of codes it needs, the Laplace reparameterization).

Each check makes its own inputs (fixed seed, float64), computes the reference from the exact formula (scipy, torch
.distributions), and what the usual mistaken formulas give on the same inputs, so that a wrong answer gets the hint
that names its mistake.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from scipy.linalg import sqrtm
from torch.distributions import Laplace, MultivariateNormal, Normal

from vaelib.exercises.core import Feedback, Mistake, Wrong, as_float, as_tensor, call, exercise, fmt, match, passed

F64 = torch.float64


def _spd(D: int, g: torch.Generator) -> torch.Tensor:
    a = torch.randn(D, D, generator=g, dtype=F64)
    return a @ a.T / D + 0.2 * torch.eye(D, dtype=F64)


@exercise("08.frechet", "the Fréchet distance between two Gaussians")
def check_frechet(frechet: Callable[..., Any]) -> Feedback:
    """Check ``frechet(mean_a, cov_a, mean_b, cov_b)`` -> ||m_a - m_b||^2 + tr(A + B - 2 (A^1/2 B A^1/2)^1/2)."""
    g = torch.Generator().manual_seed(81)
    ma, mb = torch.randn(4, generator=g, dtype=F64), torch.randn(4, generator=g, dtype=F64)
    A, B = _spd(4, g), _spd(4, g)  # covariances that do not commute: A^1/2 B^1/2 is not the answer here
    answer = as_float(call(frechet, ma.clone(), A.clone(), mb.clone(), B.clone(), name="frechet"), "frechet(...)")
    mean_term = (ma - mb).pow(2).sum().item()
    cross = float(np.trace(sqrtm(A.numpy() @ B.numpy()).real))  # tr (A B)^1/2 = tr (A^1/2 B A^1/2)^1/2
    traces = (A.trace() + B.trace()).item()
    ref = mean_term + traces - 2 * cross
    mistakes = [
        Mistake(mean_term + traces - cross, "The cross term is 2 tr((A^½ B A^½)^½): the factor 2 is missing."),
        Mistake(mean_term + traces - 2 * float(np.trace(sqrtm(A.numpy()).real @ sqrtm(B.numpy()).real)),
                "tr(A^½ B^½) is right only when A and B commute (share eigenvectors); take the square root of "
                "A^½ B A^½ (or the eigenvalues of A B) instead."),
        Mistake(math.sqrt(mean_term) + traces - 2 * cross, "The mean term is the squared distance ‖m_a − m_b‖²."),
        Mistake(math.sqrt(max(ref, 0.0)), "That is the 2-Wasserstein distance itself; the Fréchet distance (FID) is its "
                                          "square, with no square root outside."),
        Mistake(mean_term, "The covariance term tr(A + B − 2 (A^½ B A^½)^½) is missing."),
        Mistake(traces - 2 * cross, "The mean term ‖m_a − m_b‖² is missing."),
    ]
    return match(answer, ref, mistakes, what="Fréchet distance", rtol=1e-6, atol=1e-8,
                 success=f"Right: {fmt(ref)}. It is 0 only for identical Gaussians, and its square root is a metric.")


@exercise("08.gaussian_fit", "an ex-post Gaussian and its held-out log-likelihood")
def check_gaussian_fit(heldout_gaussian: Callable[..., Any]) -> Feedback:
    """Check ``heldout_gaussian(train, test)`` -> mean log N(z; m, C) over the test codes, with (m, C) the maximum-
    likelihood mean and covariance (1/N) of the train codes."""
    g = torch.Generator().manual_seed(82)
    L = torch.linalg.cholesky(_spd(3, g))
    train = torch.randn(12, 3, generator=g, dtype=F64) @ L.T + 1.0  # N = 12: 1/N and 1/(N - 1) differ by 9%
    test = torch.randn(40, 3, generator=g, dtype=F64) @ L.T + 1.0
    answer = as_float(call(heldout_gaussian, train.clone(), test.clone(), name="heldout_gaussian"), "heldout_gaussian(...)")
    m = train.mean(0)
    cov = (train - m).T @ (train - m) / len(train)

    def mean_ll(mean: torch.Tensor, c: torch.Tensor, z: torch.Tensor = test) -> float:
        return MultivariateNormal(mean, c).log_prob(z).mean().item()

    ref = mean_ll(m, cov)
    maha = (torch.linalg.solve(cov, (test - m).T).T * (test - m)).sum(-1)  # (M,)
    mistakes = [
        Mistake(mean_ll(m, cov * 12 / 11), "That uses the unbiased covariance (1/(N − 1)); the maximum-likelihood "
                                            "fit divides by N (`np.cov(..., bias=True)`)."),
        Mistake(mean_ll(m, torch.diag(cov.diagonal())), "That is a diagonal Gaussian; the ex-post density has a full "
                                                        "covariance (the codes are correlated)."),
        Mistake(mean_ll(m, cov, train), "That is the fit on the training codes; evaluate the held-out (test) codes."),
        Mistake(MultivariateNormal(m, cov).log_prob(test).sum().item(), "Take the mean over test codes, not the sum."),
        Mistake((-0.5 * (3 * math.log(2 * math.pi) + maha)).mean().item(), "The −½ log det C term is missing."),
        Mistake((-0.5 * (torch.logdet(cov) + maha)).mean().item(), "The −(D/2) log 2π term is missing."),
    ]
    return match(answer, ref, mistakes, what="held-out log-likelihood", rtol=1e-6, atol=1e-8,
                 success=f"Right: {fmt(ref)} nats per code. With only 12 codes for 9 parameters the fit is far from "
                         "the truth; section 4 asks how many codes it needs.")


@exercise("08.n_needed", "how many codes a full-covariance Gaussian needs")
def check_n_needed(n_needed: Callable[..., Any]) -> Feedback:
    """Check ``n_needed(D, delta)`` -> the smallest integer N with p / (2N) <= delta, p = D + D(D+1)/2."""
    cases = [(2, 0.1), (5, 0.05), (10, 0.1), (20, 0.01), (50, 0.5)]
    answers = []
    for D, delta in cases:
        out = call(n_needed, D, delta, name="n_needed")
        answers.append(as_float(out, f"n_needed({D}, {delta})"))
    got = torch.tensor(answers, dtype=F64)

    def rule(params: Callable[[int], float], factor: float = 2.0, rounding: Callable[[float], float] = math.ceil
             ) -> torch.Tensor:
        return torch.tensor([rounding(params(D) / (factor * delta) - 1e-9) for D, delta in cases], dtype=F64)

    p = lambda D: D + D * (D + 1) / 2  # noqa: E731
    if not torch.equal(got, got.round()):
        raise Wrong("N counts codes: return a whole number (round up, so that p / (2N) is at most δ).")
    mistakes = [
        Mistake(rule(lambda D: D + D * D), "A symmetric D × D covariance has D(D + 1)/2 free numbers, not D²."),
        Mistake(rule(lambda D: 2 * D), "2D parameters is a diagonal Gaussian; the full covariance has D(D + 1)/2."),
        Mistake(rule(lambda D: D * (D + 1) / 2), "The D numbers of the mean are parameters too: p = D + D(D + 1)/2."),
        Mistake(rule(p, factor=1.0), "The expected excess is p / (2N), so N = p / (2δ): the factor 2 is missing."),
        Mistake(rule(p, rounding=math.floor), "Round up: with N rounded down, p / (2N) is a little above δ."),
    ]
    ref = rule(p)
    return match(got, ref, mistakes, what="numbers of codes", rtol=0, atol=0.5,
                 success=f"Right: {int(ref[2])} codes for D = 10 at 0.1 nat, {int(ref[3]):,} for D = 20 at 0.01 nat. "
                         "The count grows like D², not like e^D.")


@exercise("08.laplace_rsample", "a reparameterized Laplace sample")
def check_laplace_rsample(laplace_rsample: Callable[..., Any]) -> Feedback:
    """Check ``laplace_rsample(mu, logvar, u)`` -> mu - b sign(u) log(1 - 2|u|) with b = exp(logvar / 2) / sqrt(2)."""
    g = torch.Generator().manual_seed(84)
    mu, logvar = torch.randn(3, 4, generator=g, dtype=F64), torch.randn(3, 4, generator=g, dtype=F64)
    u = torch.rand(3, 4, generator=g, dtype=F64) * 0.98 - 0.49  # in (-1/2, 1/2)
    out = call(laplace_rsample, mu.clone(), logvar.clone(), u.clone(), name="laplace_rsample")
    answer = as_tensor(out, "laplace_rsample(mu, logvar, u)", shape=(3, 4))
    sd = (0.5 * logvar).exp()
    noise = -u.sign() * torch.log1p(-2 * u.abs())  # a standard Laplace draw (scale 1)
    ref = mu + sd / math.sqrt(2) * noise
    mistakes = [
        Mistake(mu + sd * noise, "The scale is b = σ/√2, not σ: a Laplace with scale b has variance 2b², and `logvar` "
                                 "is log σ² = log Var(z)."),
        Mistake(mu + logvar.exp() / math.sqrt(2) * noise, "exp(logvar) is the variance σ²; b = exp(logvar / 2)/√2."),
        Mistake(mu - sd / math.sqrt(2) * noise, "The sign is flipped: z = μ − b sign(u) log(1 − 2|u|) (log(1 − 2|u|) ≤ 0)."),
        Mistake(mu - sd / math.sqrt(2) * u.sign() * torch.log1p(-u.abs()), "Use log(1 − 2|u|): |u| < ½, and the "
                                                                           "inverse CDF needs 2|u| in [0, 1)."),
    ]
    fb = match(answer, ref, mistakes, what="sample", rtol=1e-9, atol=1e-12)
    if not fb.passed:
        return fb
    check = Laplace(mu, sd / math.sqrt(2)).cdf(answer) - 0.5  # the inverse CDF at u gives back u
    if not torch.allclose(check, u, atol=1e-9):
        raise Wrong("The sample does not invert the Laplace CDF at u.")
    assert torch.allclose(Laplace(mu, sd / math.sqrt(2)).variance, Normal(mu, sd).variance)
    return passed("Right: this is the inverse CDF of Laplace(μ, σ/√2) at u + ½, a smooth function of μ and log σ², "
                  "so gradients reach the encoder; its variance is σ², the Gaussian's.")
