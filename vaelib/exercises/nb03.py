"""Checks for the exercises of notebooks/03_reparameterization.ipynb (score-function and pathwise gradients).

Each check builds its own inputs (float64) twice, with a fixed seed and sizes and with a seed and sizes drawn when
it runs (``vaelib.exercises.cases``), and a reference that does not share the learner's
formula: per-sample gradients of ``torch.distributions`` log-densities by autograd, the exact leave-one-out
mean, the same seeded Laplace draws (or, for noise drawn another way, a Kolmogorov-Smirnov distance and
E|eps| = 1 within 4 standard errors), the log-normal's exact moments. The usual mistaken formulas are evaluated
on the same inputs, so that a wrong answer gets the hint that names its mistake.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch.distributions import Laplace, Normal

from vaelib.evaluate import mean_se
from vaelib.exercises.cases import NO_AUTOGRAD, answer_tensor, finite, forbidden_call, judge_all, with_grads
from vaelib.exercises.core import (
    Feedback,
    Mistake,
    Wrong,
    as_pair,
    as_tensor,
    call,
    close,
    exercise,
    fmt,
    match,
    passed,
    wrong,
)
from vaelib.gradients import pathwise_grad, random_quadratic
from vaelib.tables import format_mean_se

F64 = torch.float64
KS_LIMIT = 2.7  # sqrt(n) * KS distance: a true Laplace(0, 1) sample exceeds it with probability about 1e-6


def _square(z: torch.Tensor) -> torch.Tensor:
    """f(z) = sum_d z_d^2: (..., D) -> (...,)."""
    return z.pow(2).sum(-1)


def _score_reference(f: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor, logvar: torch.Tensor,
                     eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample f(z) * grad log q(z) w.r.t. (mu, logvar), the score by autograd on ``Normal.log_prob``:
    (n, D) each."""
    n = eps.shape[0]
    m = mu.expand(n, -1).clone().requires_grad_(True)  # (n, D): one copy per sample gives per-sample gradients
    lv = logvar.expand(n, -1).clone().requires_grad_(True)
    z = (mu + (0.5 * logvar).exp() * eps).detach()  # (n, D): the samples are fixed numbers
    d_mu, d_lv = torch.autograd.grad(Normal(m, (0.5 * lv).exp()).log_prob(z).sum(), (m, lv))
    fz = f(z).unsqueeze(-1)  # (n, 1)
    return fz * d_mu, fz * d_lv


@exercise("03.score_function", "the score-function estimator")
def check_score_grad(score_grad: Callable[..., Any]) -> Feedback:
    """Check ``score_grad(f, mu, logvar, eps)`` -> per-sample (d/dmu, d/dlogvar) REINFORCE estimates, (n, D) each."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        n, d = size["n"], size["D"]  # n != D, so an average over the samples shows in the shape
        quad = random_quadratic(d, g)
        mu = torch.randn(d, generator=g, dtype=F64)
        logvar = torch.rand(d, generator=g, dtype=F64) * 2.0 - 1.2  # sigma from 0.55 to 1.2: sigma, sigma^2 differ
        eps = torch.randn(n, d, generator=g, dtype=F64)
        out = forbidden_call(score_grad, call, quad, mu.clone(), logvar.clone(), eps.clone(), name="score_grad",
                             targets=NO_AUTOGRAD, reason="use only values of f (the check compares with "
                                                         "autograd itself).")
        g_mu, g_lv = as_pair(out, "score_grad", "(d/dμ, d/dlogvar)")
        for part, name in ((g_mu, "d/dμ"), (g_lv, "d/dlogvar")):
            if isinstance(part, torch.Tensor) and tuple(part.shape) == (d,):
                raise Wrong(f"Your {name} has shape (D,): you averaged over the samples. Return the n per-sample "
                            "estimates, shape (n, D); section 5 averages them itself.")
        g_mu, rtol_mu = answer_tensor(g_mu, "score_grad(...)[0]", shape=(n, d))
        g_lv, rtol_lv = answer_tensor(g_lv, "score_grad(...)[1]", shape=(n, d))
        ref_mu, ref_lv = _score_reference(quad, mu, logvar, eps)
        sigma, sigma_bad = (0.5 * logvar).exp(), logvar.exp()  # the right sigma, and logvar read as log sigma
        z = mu + sigma * eps
        fz, f_eps, f_bad = (quad(v).unsqueeze(-1) for v in (z, eps, mu + sigma_bad * eps))  # (n, 1) each
        zg = z.clone().requires_grad_(True)
        (grad_f,) = torch.autograd.grad(quad(zg).sum(), zg)  # (n, D): the pathwise estimator's ingredient
        mu_fb = match(g_mu, ref_mu, [
            Mistake(f_bad * eps / sigma_bad, "You read logvar as log σ (σ = e^logvar); it is log σ², so "
                                             "σ = e^(logvar/2), in z and in the score."),
            Mistake(fz * eps, "∂log q/∂μ = (z − μ)/σ² = ε/σ: divide f(z)·ε by σ."),
            Mistake(fz * eps * sigma, "You used z − μ; the score is (z − μ)/σ² = ε/σ."),
            Mistake(fz * eps / sigma**2, "(z − μ)/σ² = σε/σ² = ε/σ: you divided ε by σ² instead of σ."),
            Mistake(f_eps * eps / sigma, "You evaluated f at ε; evaluate it at the sample z = μ + σ·ε."),
            Mistake(-ref_mu, "Your d/dμ has the wrong sign: it is +f(z)·ε/σ."),
            Mistake(grad_f, "That is the pathwise estimator ∇f(z) (section 3); the score-function estimator uses only "
                            "values f(z), times the score ∇_μ log q(z) = ε/σ."),
        ], what="d/dμ estimate", rtol=max(rtol_mu, 1e-8), atol=1e-10)
        if not mu_fb.passed:
            return mu_fb
        lv_fb = match(g_lv, ref_lv, [
            Mistake(fz * (eps**2 - 1) / sigma, "That is the estimate of d/dσ, section 2's formula. With respect to "
                                               "logvar multiply by ∂σ/∂logvar = σ/2: f(z)·(ε² − 1)/2."),
            Mistake(fz * (eps**2 - 1), "The factor ½ is missing: f(z)·(ε² − 1) is the gradient with respect to log σ, "
                                       "and log σ² = 2 log σ."),
            Mistake(fz * eps**2 / 2, "The −1 is missing: ∂log q/∂logvar = (ε² − 1)/2; the −½ comes from the "
                                     "−½ logvar in the Gaussian's normalizer."),
            Mistake(f_eps * (eps**2 - 1) / 2, "You evaluated f at ε; evaluate it at the sample z = μ + σ·ε."),
            Mistake(-ref_lv, "Your d/dlogvar has the wrong sign: it is +f(z)·(ε² − 1)/2."),
            Mistake(grad_f * eps * sigma / 2, "That is the pathwise estimator ∇f(z)·ε·σ/2; the score-function "
                                              "estimator is f(z)·(ε² − 1)/2."),
        ], what="d/dlogvar estimate", rtol=max(rtol_lv, 1e-8), atol=1e-10)
        if not lv_fb.passed:
            return lv_fb
        return passed("Both match f(z) times the score that autograd gets from `Normal.log_prob`. Only values of f "
                      "entered: the estimator works for a black-box f, which is what makes it general, and noisy.")
    return judge_all(judge, 31, n=(7, 4, 12), D=(3, 1, 6))


@exercise("03.baseline", "a leave-one-out baseline")
def check_loo_baseline(loo_baseline: Callable[..., Any]) -> Feedback:
    """Check ``loo_baseline(fz)`` -> (n,): for each sample, the mean of f over the other n - 1 samples."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        n = size["n"]
        fz = torch.randn(n, generator=g, dtype=F64) * 3 + 2  # (n,) values of f
        out = call(loo_baseline, fz.clone(), name="loo_baseline")
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            raise Wrong("`loo_baseline` returned one number. The plain mean includes f(z_i) itself, which correlates "
                        "the baseline with sample i's own score and biases the estimator (by the factor (n − 1)/n). "
                        "Give each sample the mean of the other n − 1 values: shape (n,).")
        answer, rtol = answer_tensor(out, "loo_baseline(fz)", shape=(n,))
        ref = torch.stack([torch.cat([fz[:i], fz[i + 1:]]).mean() for i in range(n)])  # brute force
        total = fz.sum()
        mistakes = [
            Mistake(fz.mean().expand(n), "That is the plain mean, which includes f(z_i) itself: the baseline then "
                                         "depends on sample i and the estimator is biased (by (n − 1)/n). "
                                         "Leave f(z_i) out."),
            Mistake((total - fz) / n, "Divide the sum of the others by n − 1, the number of other samples, not by n."),
            Mistake(total.expand(n) / (n - 1), "Subtract f(z_i) from the sum first: "
                                               "the baseline of sample i leaves it out."),
            Mistake(fz - ref, "You returned f(z_i) − b_i; "
                              "return the baseline b_i itself (the estimator subtracts it)."),
            Mistake(torch.zeros(n, dtype=F64), "A baseline of 0 is the plain score-function estimator; use the mean of "
                                               "the other samples' f."),
        ]
        return match(answer, ref, mistakes, what="baseline", rtol=max(rtol, 1e-9), atol=1e-12)
    verdict = judge_all(judge, 30, n=(6, 3, 12))
    return passed(_baseline_effect(loo_baseline)) if verdict.passed else verdict


def _baseline_effect(loo_baseline: Callable[..., Any]) -> str:
    """A sentence on what the learner's baseline does to the variance of the score-function estimate of d/dmu."""
    g = torch.Generator().manual_seed(32)
    d, n = 10, 2000
    quad = random_quadratic(d, g)
    mu, sigma = torch.randn(d, generator=g, dtype=F64), 0.5 + torch.rand(d, generator=g, dtype=F64)
    eps = torch.randn(n, d, generator=g, dtype=F64)
    fz = quad(mu + sigma * eps) + 100.0  # (n,): an offset of f that the gradient does not see
    b, _ = answer_tensor(call(loo_baseline, fz.clone(), name="loo_baseline"), "loo_baseline(fz)", shape=(n,))
    plain = (fz.unsqueeze(-1) * eps / sigma).var(0).sum().item()
    with_b = ((fz - b).unsqueeze(-1) * eps / sigma).var(0).sum().item()
    return (f"Right. On section 5's quadratic in D = {d} plus 100, your baseline cuts the variance of the d/dμ "
            f"estimate from {fmt(plain)} to {fmt(with_b)} ({plain / with_b:.0f}x), and leaves its mean unchanged: "
            "b_i does not depend on z_i.")


def _ks_distance(x: torch.Tensor) -> float:
    """Kolmogorov-Smirnov distance between the sample ``x`` (n,) and the Laplace(0, 1) CDF."""
    xs, _ = torch.sort(x)
    n = len(xs)
    cdf = Laplace(torch.tensor(0.0, dtype=F64), torch.tensor(1.0, dtype=F64)).cdf(xs)
    i = torch.arange(1, n + 1, dtype=F64)
    return max((i / n - cdf).max().item(), (cdf - (i - 1) / n).max().item())


@exercise("03.laplace", "Laplace noise for a pathwise gradient")
def check_laplace_eps(laplace_eps: Callable[..., Any]) -> Feedback:
    """Check ``laplace_eps(n, generator)`` -> (n, 1) float64 draws of Laplace(0, 1): the same draws as the inverse CDF
    of ``torch.rand(n, 1, generator=generator, dtype=torch.float64) - 0.5`` (or, for noise drawn another way, its
    distribution within 4 standard errors), and reproducibility."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        n, seed = size["n"], int(torch.randint(2**62, (1,), generator=g))
        out = call(laplace_eps, n, torch.Generator().manual_seed(seed), name="laplace_eps")
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (n,):
            raise Wrong("Return shape (n, 1), one column, so that the noise broadcasts with μ and b of shape (1,): "
                        "draw `torch.rand(n, 1, ...)`.")
        eps = as_tensor(out, "laplace_eps(n, generator)", shape=(n, 1))
        if out.dtype != F64:
            raise Wrong(f"Your noise is {out.dtype}; draw u in float64 (`dtype=torch.float64`). In float32, u = −½ "
                        "turns up once in 16 million draws and gives ε = ±inf.")
        x = eps[:, 0]
        if torch.isnan(x).any():
            return wrong("Some draws are NaN, the log of a negative number: u must lie in (−½, ½), so subtract ½ "
                         "from `torch.rand`, and use |u| inside the log: log(1 − 2|u|).")
        if torch.isinf(x).any():
            return wrong("Some draws are infinite: log(0) happens when 1 − 2|u| = 0. Draw u = torch.rand(...) − ½ "
                         "(it never reaches +½) in float64.")
        again = call(laplace_eps, n, torch.Generator().manual_seed(seed), name="laplace_eps")
        same = isinstance(again, torch.Tensor) and again.shape == eps.shape and bool(
            torch.equal(again.detach().to(F64), eps))
        if not same:
            raise Wrong("Two calls with generators of the same seed gave different noise: draw u with "
                        "`generator=generator`, so that a seed reproduces your noise.")
        u = torch.rand(n, 1, generator=torch.Generator().manual_seed(seed), dtype=F64) - 0.5
        ref = -u.sign() * torch.log1p(-2 * u.abs())  # the prompt's inverse CDF at the same u
        if close(eps, ref, rtol=1e-9, atol=1e-12) or close(eps, -ref, rtol=1e-9, atol=1e-12):
            return passed(_laplace_gradient(eps))
        if (x <= 0).all():
            return wrong("All your draws are ≤ 0: log(1 − 2|u|) is never positive. Multiply it by −sign(u), which "
                         "flips half of them to the positive side.")
        if (x >= 0).all():
            return wrong("All your draws are ≥ 0: that is an Exponential(1) variable. Laplace noise has a random "
                         "sign: ε = −sign(u)·log(1 − 2|u|) with u ~ U(−½, ½).")
        ks = _ks_distance(x) * math.sqrt(n)
        m2, m_abs = x.pow(2).mean().item(), x.abs().mean().item()
        if ks < KS_LIMIT and abs(m_abs - 1) < 4 / math.sqrt(n):  # E|eps| = 1, Var|eps| = 1: a 2 % scale error fails
            return passed(_laplace_gradient(eps))
        if abs(m2 - 1) < 0.05 and abs(m_abs - math.sqrt(2 / math.pi)) < 0.02:
            return wrong("Your noise has E[ε²] ≈ 1 and E|ε| ≈ 0.80: that is Gaussian noise (`torch.randn`). Laplace"
                         "(0, 1) has E[ε²] = 2 and E|ε| = 1: use the inverse CDF, ε = −sign(u)·log(1 − 2|u|).")
        if abs(m2 - 1) < 0.05 and abs(m_abs - 1 / math.sqrt(2)) < 0.02:
            return wrong("Your noise is Laplace with scale 1/√2 (variance 1); the exercise wants scale 1 (variance "
                         "2): ε = −sign(u)·log(1 − 2|u|), with no rescaling.")
        return wrong(f"Your draws are not Laplace(0, 1): E[ε²] = {fmt(m2)} (should be 2), E|ε| = {fmt(m_abs)} "
                     f"(should be 1 within {fmt(4 / math.sqrt(n))}), Kolmogorov-Smirnov distance √n·D = {ks:.1f}. "
                     "Check u ~ U(−½, ½) and the formula.")
    return judge_all(judge, 33, n=(200_000, 150_000, 250_000))


def _laplace_gradient(eps: torch.Tensor) -> str:
    """A sentence: the pathwise gradient of E[z^2] for z = mu + b * eps with the learner's noise, against
    (2 mu, 4 b)."""
    mu, b = torch.tensor([0.7], dtype=F64), torch.tensor([1.3], dtype=F64)
    g_mu, g_b = pathwise_grad(_square, mu, b, len(eps), eps=eps)  # (n, 1) each
    parts = [f"{name} {format_mean_se(*mean_se(g[:, 0]))} (exact {fmt(exact)})"
             for name, g, exact in (("∂/∂μ", g_mu, 2 * mu.item()), ("∂/∂b", g_b, 4 * b.item()))]
    return ("Your noise is Laplace(0, 1) (Kolmogorov-Smirnov test) and reproducible from the seed. With it, "
            f"pathwise_grad(square, μ = 0.7, b = 1.3) gives {parts[0]} and {parts[1]}: the formulas of section 3 "
            "hold unchanged for this location-scale family; only ε changed.")


@exercise("03.lognormal", "a reparameterized log-normal sample")
def check_lognormal_rsample(lognormal_rsample: Callable[..., Any]) -> Feedback:
    """Check ``lognormal_rsample(mu, logvar, eps)`` -> z = exp(mu + exp(logvar / 2) * eps), (n, D), differentiable."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        n, d = size["n"], size["D"]
        mu0 = torch.randn(d, generator=g, dtype=F64) * 0.5
        logvar0 = torch.rand(d, generator=g, dtype=F64) * 2.0 - 1.5
        eps = torch.randn(n, d, generator=g, dtype=F64)
        weights = torch.randn(n, d, generator=g, dtype=F64)
        out = call(with_grads(lognormal_rsample, (0, 1), weights), mu0.clone(), logvar0.clone(), eps.clone(),
                   name="lognormal_rsample")
        z, grads = out if isinstance(out, tuple) and len(out) == 2 else (out, None)
        answer, rtol = answer_tensor(z, "lognormal_rsample(mu, logvar, eps)", shape=(n, d))
        finite(answer, "log-normal sample")
        sigma = (0.5 * logvar0).exp()
        ref = (mu0 + sigma * eps).exp()
        mistakes = [
            Mistake((mu0 + logvar0.exp() * eps).exp(), "You used σ = e^logvar: logvar is log σ², so σ = e^(logvar/2)."),
            Mistake((mu0 + 0.5 * logvar0 * eps).exp(), "σ = e^(logvar/2), not logvar/2: exponentiate."),
            Mistake(mu0 + sigma * eps, "That is the Gaussian sample μ + σε; the log-normal variable is its "
                                       "exponential, exp(μ + σε)."),
            Mistake(mu0.exp() + sigma * eps, "Shift and scale come before the exponential: z = exp(μ + σε), not "
                                             "e^μ + σε (which can be negative)."),
        ]
        verdict = match(answer, ref, mistakes, what="log-normal sample", rtol=max(rtol, 1e-8), atol=1e-10)
        if not verdict.passed:
            repeat = call(lognormal_rsample, mu0.clone(), logvar0.clone(), eps.clone(), name="lognormal_rsample")
            if isinstance(repeat, torch.Tensor) and not torch.equal(repeat.detach().to(F64), answer):
                return wrong("Two calls with the same `eps` gave different z: build z from the given `eps` "
                             "(no `.sample()` or `.rsample()`, no new random draws).")
            return verdict
        if grads is None:
            return wrong("Your z has the right values but no gradient: build it from `mu` and `logvar` with torch "
                         "operations (no `.detach()`, `.item()`, `torch.tensor(...)` or `.sample()`), so that it is "
                         "a differentiable function of the parameters.")
        d_mu, d_lv = grads
        want_mu, want_lv = (weights * ref).sum(0), (weights * ref * eps * sigma / 2).sum(0)
        if d_mu is None or d_lv is None or not (close(d_mu, want_mu, rtol=max(rtol, 1e-6))
                                                and close(d_lv, want_lv, rtol=max(rtol, 1e-6))):
            return wrong("Your z has the right values, but its gradient with respect to `mu` or `logvar` is not "
                         "∂z/∂μ = z and ∂z/∂logvar = z·ε·σ/2: build z from `mu` and `logvar` directly.")
        return passed("Right, and differentiable.")
    verdict = judge_all(judge, 34, n=(6, 2, 11), D=(3, 1, 6))
    return passed(_lognormal_gradient(lognormal_rsample)) if verdict.passed else verdict


def _lognormal_gradient(lognormal_rsample: Callable[..., Any]) -> str:
    """A sentence: the pathwise estimate of d/dmu E[z] with the learner's sampler, against exp(mu + sigma^2 / 2)."""
    n = 100_000
    mu = torch.tensor([0.3], dtype=F64)
    logvar = torch.tensor([math.log(0.5**2)], dtype=F64)
    eps = torch.randn(n, 1, generator=torch.Generator().manual_seed(35), dtype=F64)
    z, (g_mu, _) = call(with_grads(lognormal_rsample, (0, 1), torch.full((n, 1), 1 / n, dtype=F64)), mu, logvar, eps,
                        name="lognormal_rsample")  # z (n, 1); g_mu = d mean(z) / d mu
    per_sample = z.detach()[:, 0].to(F64)  # dz_i/dmu = z_i
    exact = math.exp(0.3 + 0.5**2 / 2)
    return (f"Right, and differentiable. For μ = 0.3, σ = 0.5 the pathwise estimate of ∂E[z]/∂μ from {n:,} samples is "
            f"{format_mean_se(g_mu.item(), mean_se(per_sample)[1])}; the exact value is "
            f"e^(μ + σ²/2) = {fmt(exact)}. The log-normal is not location-scale, but a fixed-noise path "
            "z = g(ε; μ, σ) is all the pathwise estimator needs.")
