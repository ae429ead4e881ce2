"""Checks for the exercises of notebooks/06_aggregate_posterior.ipynb (the aggregate posterior q(z)).

Each check builds its own small mixtures (float64) twice: with a fixed seed and sizes, and with a seed and sizes
drawn when it runs (``vaelib.exercises.cases``). It computes the reference from the exact formulas (brute force
over the components with torch.distributions, or the same seeded draws), and what the usual mistaken formulas
give on the same inputs, so that a wrong answer gets the hint that names its mistake.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch.distributions import Independent, Normal

from vaelib.evaluate import mean_se
from vaelib.exercises.cases import answer_tensor, finite, judge_all
from vaelib.exercises.core import (
    Feedback,
    Mistake,
    NotAttempted,
    Wrong,
    as_estimate,
    call,
    close,
    exercise,
    fmt,
    match,
    passed,
    wrong,
)

F64 = torch.float64


def _components(n: int, d: int, g: torch.Generator, spread: float = 1.5) -> tuple[torch.Tensor, torch.Tensor]:
    """A check's own mixture: means (n, d) and log-variances (n, d) of different sizes, float64."""
    mu = torch.randn(n, d, generator=g, dtype=F64) * spread
    logvar = torch.rand(n, d, generator=g, dtype=F64) * 3.0 - 2.5  # sigma^2 from e^-2.5 to e^0.5
    return mu, logvar


def _log_components(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_m | x_j) for every draw m and component j, brute force: (M, N)."""
    return Independent(Normal(mu, (0.5 * logvar).exp()), 1).log_prob(z[:, None, :])


@exercise("06.covariance", "the covariance of the aggregate posterior")
def check_covariance(aggregate_covariance: Callable[..., Any]) -> Feedback:
    """Check ``aggregate_covariance(mu, logvar)`` -> (D, D): Cov q(z) = Cov_i(mu_i) + mean_i diag(exp(logvar_i))."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        n, d = size["N"], size["D"]
        mu, logvar = _components(n, d, g)
        out = call(aggregate_covariance, mu.clone(), logvar.clone(), name="aggregate_covariance")
        answer, rtol = answer_tensor(out, "aggregate_covariance(mu, logvar)", shape=(d, d))
        centred = mu - mu.mean(0)
        between, within = centred.T @ centred / n, torch.diag(logvar.exp().mean(0))
        mistakes = [
            Mistake(between, "That is only the spread of the means, Cov_i(μ_i). q(z) is a mixture, and each "
                             "component is itself spread out: add the average posterior variance E_i[σ_i²] on the "
                             "diagonal."),
            Mistake(within, "That is only the average posterior variance E_i[σ_i²]; add the covariance of the means "
                            "Cov_i(μ_i): the components sit in different places."),
            Mistake(centred.T @ centred / (n - 1) + within, "You divided by N − 1 (`torch.cov`'s default, an "
                    "estimate from a sample). q(z) is exactly the mixture of these N components, so divide by N."),
            Mistake(between + torch.diag((0.5 * logvar).exp().mean(0)), "You added σ, not σ²: `logvar` is log σ², "
                    "so the variance is exp(logvar), not exp(logvar / 2)."),
            Mistake(between + torch.diag(logvar.mean(0)), "You added `logvar` itself; the variance is exp(logvar)."),
            Mistake(between + torch.diag(logvar.exp().sum(0)), "You summed the posterior variances over the N "
                    "components; q(z) weighs each component 1/N, so average them."),
            Mistake(mu.T @ mu / n + within, "You forgot to subtract the mean of the μ_i: mean_i μ_i μ_iᵀ is a "
                    "second moment, not a covariance."),
        ]
        return match(answer, between + within, mistakes, what="covariance", rtol=max(rtol, 1e-9), atol=1e-12,
                     success="Right: law of total variance. The between-image part Cov_i(μ_i) is what the encoder "
                             "uses to tell images apart; the within part E_i[σ_i²] is the noise of each posterior.")
    return judge_all(judge, 61, N=(6, 3, 12), D=(3, 1, 5))


@exercise("06.mutual_information", "I_q(x; z) from draws of q(x, z)")
def check_mutual_information(mutual_information: Callable[..., Any]) -> Feedback:
    """Check ``mutual_information(mu, logvar, z, idx)`` -> (I, SE) = mean and SE of log q(z|x_i) - log q(z)."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        n, m, d = size["N"], size["M"], size["D"]
        mu, logvar = _components(n, d, g)  # overlapping components: I well below log N
        idx = torch.randint(n, (m,), generator=g)  # (M,) components i
        z = mu[idx] + (0.5 * logvar[idx]).exp() * torch.randn(m, d, generator=g, dtype=F64)  # (M, D)
        est, se = as_estimate(call(mutual_information, mu.clone(), logvar.clone(), z.clone(), idx.clone(),
                                   name="mutual_information"), "mutual_information")
        finite(torch.tensor([est, se]), "(estimate, standard error)")
        comp = _log_components(z, mu, logvar)  # (M, N)
        own = comp[torch.arange(m), idx]  # log q(z | x_i)
        log_q = comp.logsumexp(1) - math.log(n)
        log_q_loo = comp.scatter(1, idx[:, None], -math.inf).logsumexp(1) - math.log(n - 1)
        log_p = Independent(Normal(torch.zeros(d, dtype=F64), torch.ones(d, dtype=F64)), 1).log_prob(z)
        per_draw = own - log_q
        ref, ref_se = mean_se(per_draw)
        fb = match(est, ref, [
            Mistake((own - log_q_loo).mean().item(), "You left z's own component out of q(z) (leave-one-out). q(z) is "
                    "the mixture of all N posteriors, z's own included; that is what keeps I ≤ log N."),
            Mistake(ref - math.log(n), "Your log q(z) misses the − log N: q(z) is the average of the N component "
                    "densities, not their sum (`log_mixture_density` includes it; a hand-made logsumexp must "
                    "subtract it)."),
            Mistake(-ref, "Wrong sign: I = E[log q(z|x_i) − log q(z)], the own component's density minus the "
                          "mixture's."),
            Mistake((own - log_p).mean().item(), "You subtracted log p(z), the prior: that estimates the average KL. "
                    "I_q(x; z) subtracts log q(z), the aggregate posterior."),
        ], what="estimate of I", rtol=1e-5, atol=1e-6)
        if not fb.passed:
            return fb
        if close(se, per_draw.std().item(), rtol=0.02):
            return wrong("Your standard error is the standard deviation of the per-draw values; divide it by √M.")
        if not close(se, ref_se, rtol=0.01):  # 1 %: std with M or M - 1 both pass
            return wrong(f"Your estimate is right but its standard error {fmt(se)} is not: it is the standard "
                         f"deviation of log q(z|x_i) − log q(z) over the M draws, divided by √M ({fmt(ref_se)} here).")
        return passed(f"I = {fmt(ref)} ± {fmt(ref_se)} nats on a {n}-component mixture in {d}-D, below log N = "
                      f"{fmt(math.log(n))}: its components overlap, so z does not pin down which x it came from.")
    return judge_all(judge, 62, N=(40, 20, 60), M=(300, 200, 400), D=(2, 1, 4))


def _kl_std_to_gaussian(m: torch.Tensor, logvar: torch.Tensor) -> float:
    """KL(N(0, I) || N(m, diag exp(logvar))), closed form."""
    return 0.5 * ((1 + m**2) / logvar.exp() - 1 + logvar).sum().item()


def _judge_reverse_kl(reverse_kl: Callable[..., Any], g: torch.Generator, size: dict[str, int]) -> Feedback:
    """One input set of 06.reverse_kl: a Gaussian q in D dimensions, n prior draws from a generator seeded here."""
    d, n = size["D"], size["n"]
    m = torch.randn(d, generator=g, dtype=F64) * 0.6
    logvar = torch.rand(d, generator=g, dtype=F64) - 1.5  # q = N(m, diag e^logvar): the exact KL(p || q) is known
    q = Independent(Normal(m, (0.5 * logvar).exp()), 1)
    seed = int(torch.randint(2**62, (1,), generator=g))
    est, se = as_estimate(call(reverse_kl, q.log_prob, d, n, torch.Generator().manual_seed(seed), name="reverse_kl"),
                          "reverse_kl")
    finite(torch.tensor([est, se]), "(estimate, standard error)")
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)  # the draws the prompt asks for
    p = Independent(Normal(torch.zeros(d, dtype=F64), torch.ones(d, dtype=F64)), 1)
    diff = p.log_prob(z) - q.log_prob(z)  # (n,)
    (ref, ref_se), sd, exact = mean_se(diff), diff.std().item(), _kl_std_to_gaussian(m, logvar)
    zq = m + (0.5 * logvar).exp() * torch.randn(n, d, generator=g, dtype=F64)
    forward = (q.log_prob(zq) - p.log_prob(zq)).mean().item()  # KL(q || p), the other direction
    tol = 5 * ref_se
    if close(est, -ref, rtol=1e-6) or abs(est + exact) < tol:
        return wrong("Wrong sign: KL(p ‖ q) = E_p[log p(z) − log q(z)] ≥ 0, the prior's log-density minus q's.")
    if not close(est, ref, rtol=1e-6, atol=1e-9):
        if abs(est - forward) < tol and abs(est - exact) >= tol:
            return wrong("That is KL(q ‖ p), with z drawn from q. The reverse KL draws z from the prior N(0, I).")
        if abs(est - exact) < tol:
            return wrong(f"Your estimate {fmt(est)} is near the exact KL(p ‖ q) = {fmt(exact)}, but it is not the "
                         "average over the draws the prompt asks for: draw z with `torch.randn(n, D, "
                         "generator=generator, dtype=torch.float64)`, so the check can compare with the same draws.")
        return wrong(f"Your estimate {fmt(est)} is far from the exact KL(p ‖ q) = {fmt(exact)} of the check's "
                     "Gaussian q: draw z ~ N(0, I) with `torch.randn(n, D, generator=generator, dtype=torch.float64)` "
                     "and average log p(z) − log q(z).")
    if close(se, sd, rtol=1e-3):
        return wrong("Your standard error is the standard deviation of the per-draw values; divide it by √n.")
    if not close(se, ref_se, rtol=1e-3):
        return wrong(f"Your estimate is right but its standard error {fmt(se)} is not: the standard deviation of "
                     f"log p(z) − log q(z) over the n draws, divided by √n ({fmt(ref_se)} here).")
    return passed(f"KL(p ‖ q) = {fmt(est)} ± {fmt(se)} against the exact {fmt(exact)} for the check's Gaussian q; the "
                  f"other direction, KL(q ‖ p), is {fmt(forward)}: the two directions weigh regions differently.")


def _judge_rev_kl(rev_kl: Any, log_q: Callable[[torch.Tensor], torch.Tensor]) -> Feedback:
    """``rev_kl`` for the notebook's q: a finite (estimate, SE) from 2,000 prior draws, within 5 SE of the check's
    own 2,000-draw estimate, with an SE of the right size."""
    if rev_kl is None:
        raise NotAttempted("`reverse_kl` passes; now set `rev_kl` to its value for the 2-D model's q(z).")
    est, se = as_estimate(rev_kl, "rev_kl")
    finite(torch.tensor([est, se]), "`rev_kl`")
    z = torch.randn(2_000, 2, generator=torch.Generator().manual_seed(606), dtype=F64)
    diff = (Normal(0.0, 1.0).log_prob(z).sum(-1) - log_q(z).to(F64)).detach()  # (2000,)
    ref, ref_se = mean_se(diff)
    if not 0.5 * ref_se <= se <= 2 * ref_se:
        raise Wrong(f"`rev_kl`'s standard error {fmt(se)} is far from the {fmt(ref_se)} that 2,000 prior draws give: "
                    "use n = 2,000 and your `reverse_kl`.")
    if abs(est - ref) > 5 * math.hypot(se, ref_se):
        raise Wrong(f"`rev_kl` = {fmt(est)} is more than 5 standard errors from the check's own estimate "
                    f"{fmt(ref)} for the 2-D model's q(z): pass `lambda z: log_mixture_density(z, mu2, "
                    "lv2)` and D = 2.")
    return passed(f"KL(p ‖ q) = {fmt(est)} ± {fmt(se)} for the 2-D model's q(z).")


@exercise("06.reverse_kl", "KL(p || q) by Monte Carlo from prior draws")
def check_reverse_kl(reverse_kl: Callable[..., Any], rev_kl: Any = None,
                     log_q: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Feedback:
    """Check ``reverse_kl(log_q, D, n, generator)`` -> (KL, SE) = E_{z ~ N(0, I)}[log p(z) - log q(z)] and its SE,
    on the check's Gaussians, then ``rev_kl`` (when ``log_q``, the notebook's q(z), is given)."""
    fb = judge_all(lambda g, size: _judge_reverse_kl(reverse_kl, g, size), 64, D=(2, 1, 5), n=(10_000, 4_000, 16_000))
    if not fb.passed or log_q is None:
        return fb
    notebook = _judge_rev_kl(rev_kl, log_q)
    return passed(f"{fb.message} {notebook.message}")
