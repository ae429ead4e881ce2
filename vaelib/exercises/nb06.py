"""Checks for the exercises of notebooks/06_aggregate_posterior.ipynb (the aggregate posterior q(z)).

Each check builds its own small mixture (fixed seed, float64), computes the reference from the exact
formulas (brute force over the components with torch.distributions, or a closed-form KL), and what the
usual mistaken formulas give on the same inputs, so that a wrong answer gets the hint that names its mistake.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch.distributions import Independent, Normal

from vaelib.exercises.core import (Feedback, Mistake, as_estimate, as_tensor, call, close, exercise, fmt, match,
                                   passed, wrong)

F64 = torch.float64


def _components(n: int, d: int, seed: int, spread: float = 1.5) -> tuple[torch.Tensor, torch.Tensor]:
    """A check's own mixture: means (n, d) and log-variances (n, d) of different sizes, float64."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, d, generator=g, dtype=F64) * spread
    logvar = torch.rand(n, d, generator=g, dtype=F64) * 3.0 - 2.5  # sigma^2 from e^-2.5 to e^0.5
    return mu, logvar


def _log_components(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_m | x_j) for every draw m and component j, brute force: (M, N)."""
    return Independent(Normal(mu, (0.5 * logvar).exp()), 1).log_prob(z[:, None, :])


@exercise("06.covariance", "the covariance of the aggregate posterior")
def check_covariance(aggregate_covariance: Callable[..., Any]) -> Feedback:
    """Check ``aggregate_covariance(mu, logvar)`` -> (D, D): Cov q(z) = Cov_i(mu_i) + mean_i diag(exp(logvar_i))."""
    mu, logvar = _components(6, 3, seed=61)  # N = 6 (so N versus N - 1 shows), D = 3
    out = call(aggregate_covariance, mu.clone(), logvar.clone(), name="aggregate_covariance")
    answer = as_tensor(out, "aggregate_covariance(mu, logvar)", shape=(3, 3))
    n = len(mu)
    centred = mu - mu.mean(0)
    between, within = centred.T @ centred / n, torch.diag(logvar.exp().mean(0))
    mistakes = [
        Mistake(between, "That is only the spread of the means, Cov_i(μ_i). q(z) is a mixture, and each component "
                         "is itself spread out: add the average posterior variance E_i[σ_i²] on the diagonal."),
        Mistake(within, "That is only the average posterior variance E_i[σ_i²]; add the covariance of the means "
                        "Cov_i(μ_i): the components sit in different places."),
        Mistake(centred.T @ centred / (n - 1) + within, "You divided by N − 1 (`torch.cov`'s default, an estimate "
                "from a sample). q(z) is exactly the mixture of these N components, so divide by N."),
        Mistake(between + torch.diag((0.5 * logvar).exp().mean(0)), "You added σ, not σ²: `logvar` is log σ², "
                "so the variance is exp(logvar), not exp(logvar / 2)."),
        Mistake(between + torch.diag(logvar.mean(0)), "You added `logvar` itself; the variance is exp(logvar)."),
        Mistake(between + torch.diag(logvar.exp().sum(0)), "You summed the posterior variances over the N "
                "components; q(z) weighs each component 1/N, so average them."),
        Mistake(mu.T @ mu / n + within, "You forgot to subtract the mean of the μ_i: mean_i μ_i μ_iᵀ is a second "
                "moment, not a covariance."),
    ]
    return match(answer, between + within, mistakes, what="covariance", rtol=1e-9, atol=1e-12,
                 success="Right: law of total variance. The between-image part Cov_i(μ_i) is what the encoder uses "
                         "to tell images apart; the within part E_i[σ_i²] is the noise of each posterior.")


@exercise("06.mutual_information", "I_q(x; z) from draws of q(x, z)")
def check_mutual_information(mutual_information: Callable[..., Any]) -> Feedback:
    """Check ``mutual_information(mu, logvar, z, idx)`` -> (I, SE) = mean and SE of log q(z|x_i) - log q(z)."""
    mu, logvar = _components(40, 2, seed=62)  # overlapping components: I well below log N
    g = torch.Generator().manual_seed(63)
    idx = torch.randint(len(mu), (300,), generator=g)  # (M,) components i
    z = mu[idx] + (0.5 * logvar[idx]).exp() * torch.randn(300, 2, generator=g, dtype=F64)  # (M, D)
    est, se = as_estimate(call(mutual_information, mu.clone(), logvar.clone(), z.clone(), idx.clone(),
                               name="mutual_information"), "mutual_information")
    comp = _log_components(z, mu, logvar)  # (M, N)
    arange, n, m = torch.arange(len(z)), len(mu), len(z)
    own = comp[arange, idx]  # log q(z | x_i)
    log_q = comp.logsumexp(1) - math.log(n)
    log_q_loo = comp.scatter(1, idx[:, None], -math.inf).logsumexp(1) - math.log(n - 1)
    log_p = Independent(Normal(torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64)), 1).log_prob(z)
    per_draw = own - log_q
    ref, ref_se = per_draw.mean().item(), per_draw.std().item() / math.sqrt(m)
    fb = match(est, ref, [
        Mistake((own - log_q_loo).mean().item(), "You left z's own component out of q(z) (leave-one-out). q(z) is "
                "the mixture of all N posteriors, z's own included; that is what keeps I ≤ log N."),
        Mistake(ref - math.log(n), "Your log q(z) misses the − log N: q(z) is the average of the N component "
                "densities, not their sum (`log_mixture_density` includes it; a hand-made logsumexp must subtract it)."),
        Mistake(-ref, "Wrong sign: I = E[log q(z|x_i) − log q(z)], the own component's density minus the mixture's."),
        Mistake((own - log_p).mean().item(), "You subtracted log p(z), the prior: that estimates the average KL. "
                "I_q(x; z) subtracts log q(z), the aggregate posterior."),
    ], what="estimate of I", rtol=1e-6, atol=1e-6)
    if not fb.passed:
        return fb
    if close(se, per_draw.std().item(), rtol=0.02):
        return wrong("Your standard error is the standard deviation of the per-draw values; divide it by √M.")
    if not close(se, ref_se, rtol=0.02):
        return wrong(f"Your estimate is right but its standard error {fmt(se)} is not: it is the standard deviation "
                     f"of log q(z|x_i) − log q(z) over the M draws, divided by √M ({fmt(ref_se)} here).")
    return passed(f"I = {fmt(ref)} ± {fmt(ref_se)} nats on this 40-component mixture, below log N = {fmt(math.log(n))}: "
                  "its components overlap, so z does not pin down which x it came from.")


def _kl_std_to_gaussian(m: torch.Tensor, logvar: torch.Tensor) -> float:
    """KL(N(0, I) || N(m, diag exp(logvar))), closed form."""
    return 0.5 * ((1 + m**2) / logvar.exp() - 1 + logvar).sum().item()


@exercise("06.reverse_kl", "KL(p || q) by Monte Carlo from prior draws")
def check_reverse_kl(reverse_kl: Callable[..., Any]) -> Feedback:
    """Check ``reverse_kl(log_q, D, n, generator)`` -> (KL, SE) = E_{z ~ N(0, I)}[log p(z) - log q(z)] and its SE."""
    m = torch.tensor([0.8, -0.3], dtype=F64)
    logvar = torch.tensor([-1.0, 0.4], dtype=F64)  # q = N(m, diag e^logvar): the exact KL(p || q) is known
    q = Independent(Normal(m, (0.5 * logvar).exp()), 1)
    n = 20_000
    est, se = as_estimate(call(reverse_kl, q.log_prob, 2, n, torch.Generator().manual_seed(64), name="reverse_kl"),
                          "reverse_kl")
    exact = _kl_std_to_gaussian(m, logvar)
    p = Independent(Normal(torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64)), 1)
    zp = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(65), dtype=F64)
    sd = (p.log_prob(zp) - q.log_prob(zp)).std().item()  # spread of one draw under p
    zq = m + (0.5 * logvar).exp() * torch.randn(200_000, 2, generator=torch.Generator().manual_seed(66), dtype=F64)
    forward = (q.log_prob(zq) - p.log_prob(zq)).mean().item()  # KL(q || p), the other direction
    tol = 5 * sd / math.sqrt(n)
    if abs(est + exact) < tol:
        return wrong("Wrong sign: KL(p ‖ q) = E_p[log p(z) − log q(z)] ≥ 0, the prior's log-density minus q's.")
    if abs(est - forward) < tol and abs(est - exact) >= tol:
        return wrong("That is KL(q ‖ p), with z drawn from q. The reverse KL draws z from the prior N(0, I).")
    if abs(est - exact) >= tol:
        return wrong(f"Your estimate {fmt(est)} is more than 5 standard errors from the exact KL(p ‖ q) = {fmt(exact)} "
                     "of the check's Gaussian q: draw z ~ N(0, I) with `torch.randn(n, D, generator=generator)` and "
                     "average log p(z) − log q(z).")
    if close(se, sd, rtol=0.1):
        return wrong("Your standard error is the standard deviation of the per-draw values; divide it by √n.")
    if not close(se, sd / math.sqrt(n), rtol=0.1):
        return wrong(f"Your estimate is right but its standard error {fmt(se)} is not: the standard deviation of "
                     f"log p(z) − log q(z) over the n draws, divided by √n (about {fmt(sd / math.sqrt(n))} here).")
    return passed(f"KL(p ‖ q) = {fmt(est)} ± {fmt(se)} against the exact {fmt(exact)} for the check's Gaussian q; the "
                  f"other direction, KL(q ‖ p), is {fmt(forward)}: the two directions weigh regions differently.")
