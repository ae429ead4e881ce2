"""Checks for the exercises of notebooks/08_do_we_need_the_v.ipynb (the Fréchet distance, an ex-post Gaussian and
its held-out fit, the number of codes it needs, the Laplace reparameterization).

Each check makes its own inputs (float64) twice, with a fixed seed and sizes and with a seed and sizes drawn when it
runs (``vaelib.exercises.cases``), computes the reference from the exact formula (scipy, torch.distributions), and
what the usual mistaken formulas give on the same inputs, so that a wrong answer gets the hint that names its
mistake. Where a prompt forbids vaelib's own implementation, the check runs the learner's code with it switched off.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable

import numpy as np
import torch
from scipy.linalg import sqrtm
from torch.distributions import Laplace, MultivariateNormal, Normal

from vaelib import expost, scores
from vaelib.exercises.cases import answer_tensor, finite, forbidden_call, is_low_precision, judge_all, with_grads
from vaelib.exercises.core import Feedback, Mistake, Wrong, as_float, call, exercise, fmt, match, passed

F64 = torch.float64
_NO_SCORES = [(scores, "frechet_distance_gaussians", "vaelib.scores.frechet_distance_gaussians"),
              (scores, "frechet_distance", "vaelib.scores.frechet_distance"),
              (scores, "_psd_sqrt", "vaelib.scores.frechet_distance_gaussians")]
_NO_EXPOST = [(expost, "fit_gaussian", "vaelib.expost.fit_gaussian"),
              (expost.GaussianMixtureDensity, "log_prob", "vaelib.expost's densities")]


def _spd(D: int, g: torch.Generator) -> torch.Tensor:
    a = torch.randn(D, D, generator=g, dtype=F64)
    return a @ a.T / D + 0.2 * torch.eye(D, dtype=F64)


def _rtol(value: Any, rtol: float) -> float:
    """The relative tolerance for a learner's number: looser when it was computed in float32."""
    return max(rtol, 1e-5) if is_low_precision(value) else rtol


@exercise("08.frechet", "the Fréchet distance between two Gaussians")
def check_frechet(frechet: Callable[..., Any]) -> Feedback:
    """Check ``frechet(mean_a, cov_a, mean_b, cov_b)`` -> ||m_a - m_b||^2 + tr(A + B - 2 (A^1/2 B A^1/2)^1/2)."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        F = size["F"]
        ma, mb = torch.randn(F, generator=g, dtype=F64), torch.randn(F, generator=g, dtype=F64)
        A, B = _spd(F, g), _spd(F, g)  # covariances that do not commute: A^1/2 B^1/2 is not the answer here
        out = forbidden_call(frechet, call, ma.clone(), A.clone(), mb.clone(), B.clone(), name="frechet",
                             targets=_NO_SCORES, reason="compute the distance yourself.")
        answer = as_float(out, "frechet(...)")
        finite(answer, "Fréchet distance")
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
            Mistake(math.sqrt(max(ref, 0.0)), "That is the 2-Wasserstein distance itself; the Fréchet distance (FID) "
                                              "is its square, with no square root outside."),
            Mistake(mean_term, "The covariance term tr(A + B − 2 (A^½ B A^½)^½) is missing."),
            Mistake(traces - 2 * cross, "The mean term ‖m_a − m_b‖² is missing."),
        ]
        return match(answer, ref, mistakes, what="Fréchet distance", rtol=_rtol(out, 1e-6), atol=1e-8,
                     success=f"Right: {fmt(ref)} on the check's {F}-D Gaussians. It is 0 only for identical "
                             "Gaussians, and its square root is a metric.")
    return judge_all(judge, 81, F=(4, 2, 7))


@exercise("08.gaussian_fit", "an ex-post Gaussian and its held-out log-likelihood")
def check_gaussian_fit(heldout_gaussian: Callable[..., Any]) -> Feedback:
    """Check ``heldout_gaussian(train, test)`` -> mean log N(z; m, C) over the test codes, with (m, C) the maximum-
    likelihood mean and covariance (1/N) of the train codes."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        N, M, D = size["N"], size["M"], size["D"]
        L = torch.linalg.cholesky(_spd(D, g))
        train = torch.randn(N, D, generator=g, dtype=F64) @ L.T + 1.0  # few codes: 1/N and 1/(N - 1) differ
        test = torch.randn(M, D, generator=g, dtype=F64) @ L.T + 1.0
        out = forbidden_call(heldout_gaussian, call, train.clone(), test.clone(), name="heldout_gaussian",
                             targets=_NO_EXPOST, reason="fit the Gaussian and evaluate it yourself.")
        answer = as_float(out, "heldout_gaussian(...)")
        finite(answer, "held-out log-likelihood")
        m = train.mean(0)
        cov = (train - m).T @ (train - m) / N

        def mean_ll(mean: torch.Tensor, c: torch.Tensor, z: torch.Tensor = test) -> float:
            return MultivariateNormal(mean, c).log_prob(z).mean().item()

        maha = (torch.linalg.solve(cov, (test - m).T).T * (test - m)).sum(-1)  # (M,)
        mistakes = [
            Mistake(mean_ll(m, cov * N / (N - 1)), "That uses the unbiased covariance (1/(N − 1)); the maximum-"
                                                    "likelihood fit divides by N (`np.cov(..., bias=True)`)."),
            Mistake(mean_ll(m, torch.diag(cov.diagonal())), "That is a diagonal Gaussian; the ex-post density has a "
                                                            "full covariance (the codes are correlated)."),
            Mistake(mean_ll(m, cov, train), "That is the fit on the training codes; "
                                            "evaluate the held-out (test) codes."),
            Mistake(MultivariateNormal(m, cov).log_prob(test).sum().item(), "Take the mean over test codes, not the "
                                                                            "sum."),
            Mistake((-0.5 * (D * math.log(2 * math.pi) + maha)).mean().item(), "The −½ log det C term is missing."),
            Mistake((-0.5 * (torch.logdet(cov) + maha)).mean().item(), "The −(D/2) log 2π term is missing."),
        ]
        ref = mean_ll(m, cov)
        return match(answer, ref, mistakes, what="held-out log-likelihood", rtol=_rtol(out, 1e-6), atol=1e-8,
                     success=f"Right: {fmt(ref)} nats per code. With only {N} codes for {D + D * (D + 1) // 2} "
                             "parameters the fit is far from the truth; section 4 asks how many codes it needs.")
    return judge_all(judge, 82, N=(12, 8, 30), M=(40, 20, 60), D=(3, 2, 5))


def _n_needed_cases(g: torch.Generator, fixed: bool) -> list[tuple[int, float]]:
    """(D, delta) pairs: one whose p / (2 delta) is whole (delta a power of 2, exact in float), the others far from
    a whole number, some just above and some just below one (so that rounding up, down and to the nearest all
    differ, and floor + 1 differs from the ceiling)."""
    if fixed:
        return [(2, 0.07), (5, 0.03), (10, 0.15), (20, 0.013), (50, 0.45), (3, 0.08), (2, 0.125)]
    cases: list[tuple[int, float]] = [(int(torch.randint(3, 40, (1,), generator=g)), 0.0625)]
    while len(cases) < 7:
        D = int(torch.randint(1, 60, (1,), generator=g))
        delta = round(float(torch.empty(1).uniform_(0.005, 0.5, generator=g)), 4)
        frac = float(_exact_ratio(D, delta) % 1)
        want_low = len(cases) % 2 == 1  # alternate: fractional part below 1/2, then above
        if (0.1 < frac < 0.4) if want_low else (0.6 < frac < 0.9):
            cases.append((D, delta))
    return cases


def _exact_ratio(D: int, delta: float) -> Fraction:
    return Fraction(D + D * (D + 1) // 2) / (2 * Fraction(str(delta)))


@exercise("08.n_needed", "how many codes a full-covariance Gaussian needs")
def check_n_needed(n_needed: Callable[..., Any]) -> Feedback:
    """Check ``n_needed(D, delta)`` -> the smallest integer N with p / (2N) <= delta, p = D + D(D+1)/2."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        cases = _n_needed_cases(g, fixed=size["_fixed"] == 1)
        answers = []
        for D, delta in cases:
            out = call(n_needed, D, delta, name="n_needed")
            answers.append(as_float(out, f"n_needed({D}, {delta})"))
        got = torch.tensor(answers, dtype=F64)
        finite(got, "numbers of codes")

        def rule(params: Callable[[int], Fraction], factor: int = 2, rounding: Callable[[Fraction], int] = math.ceil
                 ) -> torch.Tensor:
            return torch.tensor([rounding(params(D) / (factor * Fraction(str(delta)))) for D, delta in cases],
                                dtype=F64)

        def p(D: int) -> Fraction:
            return Fraction(D + D * (D + 1) // 2)

        if not torch.equal(got, got.round()):
            raise Wrong("N counts codes: return a whole number (round up, so that p / (2N) is at most δ).")
        mistakes = [
            Mistake(rule(lambda D: Fraction(D + D * D)), "A symmetric D × D covariance has D(D + 1)/2 free numbers, "
                                                         "not D²."),
            Mistake(rule(lambda D: Fraction(2 * D)), "2D parameters is a diagonal Gaussian; the full covariance has "
                                                     "D(D + 1)/2."),
            Mistake(rule(lambda D: Fraction(D * (D + 1), 2)), "The D numbers of the mean are parameters too: "
                                                              "p = D + D(D + 1)/2."),
            Mistake(rule(p, factor=1), "The expected excess is p / (2N), so N = p / (2δ): the factor 2 is missing."),
            Mistake(rule(p, rounding=math.floor), "Round up: with N rounded down, p / (2N) is a little above δ."),
            Mistake(rule(p, rounding=round), "Round up, not to the nearest: with N rounded down, p / (2N) is a "
                                             "little above δ."),
            Mistake(rule(p, rounding=lambda r: math.floor(r) + 1), "Right where p / (2δ) is not whole, but "
                    "`floor(...) + 1` is one too many when it is: use `math.ceil`."),
        ]
        shown = ", ".join(f"n_needed({D}, {delta})" for D, delta in cases[:3])
        return match(got, rule(p), mistakes, what=f"numbers of codes ({shown}, …)", rtol=0, atol=1e-9,
                     success=f"Right: {math.ceil(65 / (2 * 0.1))} codes for D = 10 at 0.1 nat, "
                             f"{math.ceil(230 / (2 * 0.01)):,} for D = 20 at 0.01 nat. The count grows like D², "
                             "not like e^D.")
    return judge_all(judge, 83, _fixed=(1, 0, 0))  # the second set draws its own (D, delta) cases


@exercise("08.laplace_rsample", "a reparameterized Laplace sample")
def check_laplace_rsample(laplace_rsample: Callable[..., Any]) -> Feedback:
    """Check ``laplace_rsample(mu, logvar, u)`` -> mu - b sign(u) log(1 - 2|u|) with b = exp(logvar / 2) / sqrt(2),
    and its gradients with respect to mu and logvar."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        B, D = size["B"], size["D"]
        mu, logvar = torch.randn(B, D, generator=g, dtype=F64), torch.randn(B, D, generator=g, dtype=F64)
        u = torch.rand(B, D, generator=g, dtype=F64) * 0.98 - 0.49  # in (-1/2, 1/2)
        weights = torch.randn(B, D, generator=g, dtype=F64)
        if laplace_rsample is None or not callable(laplace_rsample):
            call(laplace_rsample, mu, logvar, u, name="laplace_rsample")  # the usual not-attempted / type report
        z, grads = call(with_grads(laplace_rsample, (0, 1), weights), mu.clone(), logvar.clone(), u.clone(),
                        name="laplace_rsample")
        g_mu, g_lv = grads if grads is not None else (None, None)
        answer, rtol = answer_tensor(z, "laplace_rsample(mu, logvar, u)", shape=(B, D))
        sd = (0.5 * logvar).exp()
        noise = -u.sign() * torch.log1p(-2 * u.abs())  # a standard Laplace draw (scale 1)
        ref = mu + sd / math.sqrt(2) * noise
        mistakes = [
            Mistake(mu + sd * noise, "The scale is b = σ/√2, not σ: a Laplace with scale b has variance 2b², and "
                                     "`logvar` is log σ² = log Var(z)."),
            Mistake(mu + logvar.exp() / math.sqrt(2) * noise, "exp(logvar) is the variance σ²; "
                                                              "b = exp(logvar / 2)/√2."),
            Mistake(mu - sd / math.sqrt(2) * noise, "The sign is flipped: z = μ − b sign(u) log(1 − 2|u|) "
                                                    "(log(1 − 2|u|) ≤ 0)."),
            Mistake(mu - sd / math.sqrt(2) * u.sign() * torch.log1p(-u.abs()), "Use log(1 − 2|u|): |u| < ½, and the "
                                                                               "inverse CDF needs 2|u| in [0, 1)."),
        ]
        fb = match(answer, ref, mistakes, what="sample", rtol=max(rtol, 1e-9), atol=1e-12)
        if not fb.passed:
            return fb
        if g_mu is None and g_lv is None:
            raise Wrong("Your sample is right, but it is not a differentiable function of `mu` and `logvar`: keep it "
                        "a torch computation on them (no `.detach()`, `.item()`, NumPy or `torch.no_grad()`).")
        want_lv = weights * 0.5 * (ref - mu)  # dz/dlogvar = (z - mu) / 2
        for got, want, what in ((g_mu, weights, "`mu`"), (g_lv, want_lv, "`logvar`")):
            if got is None or not torch.allclose(got.to(F64), want, rtol=max(rtol, 1e-7), atol=1e-9):
                raise Wrong(f"Your sample's values are right, but its gradient with respect to {what} is not: compute "
                            f"z from {what} with torch operations (no `.detach()` or constants computed from it).")
        check = Laplace(mu, sd / math.sqrt(2)).cdf(answer) - 0.5  # the inverse CDF at u gives back u
        if not torch.allclose(check, u, atol=1e-6):
            raise Wrong("The sample does not invert the Laplace CDF at u.")
        assert torch.allclose(Laplace(mu, sd / math.sqrt(2)).variance, Normal(mu, sd).variance)
        return passed("Right, gradients included: this is the inverse CDF of Laplace(μ, σ/√2) at u + ½, a smooth "
                      "function of μ and log σ², so gradients reach the encoder; its variance is σ², the Gaussian's.")
    return judge_all(judge, 84, B=(3, 1, 7), D=(4, 2, 8))
