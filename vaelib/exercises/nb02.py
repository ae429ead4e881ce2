"""Checks for the exercises of notebooks/02_kl_closed_form.ipynb (the KL of a diagonal Gaussian to N(0, I)).

Each check builds its own inputs (float64) twice, with a fixed seed and sizes and with a seed and sizes drawn when
it runs (``vaelib.exercises.cases``), computes the reference with ``torch.distributions``
(autograd for the gradients), and what the usual mistaken formulas give on the same inputs, so that a wrong
answer gets the hint that names its mistake: log σ read for log σ², a mean over the latent dimensions where
the sum belongs, a missing factor ½ or −1, a wrong sign, a missing change-of-variables term.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch.distributions import Independent, Normal, kl_divergence

from vaelib.evaluate import mean_se
from vaelib.exercises.cases import NO_AUTOGRAD, answer_tensor, forbidden_call, judge_all
from vaelib.exercises.core import (
    Feedback,
    Mistake,
    Wrong,
    as_estimate,
    as_pair,
    call,
    close,
    exercise,
    fmt,
    match,
    passed,
)
from vaelib.tables import format_mean_se

F64 = torch.float64


def _gaussians(b: int, d: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A check's own (mu, logvar), each (b, d), float64, with variances on both sides of 1."""
    mu = torch.randn(b, d, generator=g, dtype=F64) * 1.5
    logvar = torch.rand(b, d, generator=g, dtype=F64) * 3.0 - 1.7  # sigma^2 from e^-1.7 to e^1.3
    return mu, logvar


def _kl_elementwise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, e^logvar) || N(0, 1)) per coordinate, from torch.distributions (the trusted reference)."""
    return kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu)))


@exercise("02.kl_grads", "the gradients of the KL by hand")
def check_kl_grads(kl_grads: Callable[..., Any]) -> Feedback:
    """Check ``kl_grads(mu, logvar)`` -> (dKL/dmu, dKL/dlogvar), elementwise, against autograd."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        mu, logvar = _gaussians(size["B"], size["D"], g)
        out = forbidden_call(kl_grads, call, mu.clone(), logvar.clone(), name="kl_grads", targets=NO_AUTOGRAD,
                             reason="differentiate the closed form by hand (the check compares with autograd itself).")
        g_mu, g_lv = as_pair(out, "kl_grads", "(∂KL/∂μ, ∂KL/∂logvar)")
        g_mu, rtol_mu = answer_tensor(g_mu, "kl_grads(...)[0]", shape=tuple(mu.shape))
        g_lv, rtol_lv = answer_tensor(g_lv, "kl_grads(...)[1]", shape=tuple(mu.shape))
        m, lv = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
        ref_mu, ref_lv = torch.autograd.grad(_kl_elementwise(m, lv).sum(), (m, lv))  # autograd through torch's KL
        if close(g_mu, ref_lv, 1e-8, 1e-10) and close(g_lv, ref_mu, 1e-8, 1e-10):
            raise Wrong("You returned the two gradients in the wrong order: first ∂KL/∂μ, then ∂KL/∂logvar.")
        mu_fb = match(g_mu, ref_mu, [
            Mistake(-mu, "∂KL/∂μ has the wrong sign: the KL grows with μ², so its gradient points away from 0 (+μ)."),
            Mistake(2 * mu, "The factor ½ is missing: ∂(½μ²)/∂μ = μ."),
            Mistake(0.5 * mu**2, "That is the μ part of the KL itself, ½μ², not its derivative."),
        ], what="∂KL/∂μ", rtol=max(rtol_mu, 1e-8), atol=1e-10)
        if not mu_fb.passed:
            return mu_fb
        sigma = (0.5 * logvar).exp()
        lv_fb = match(g_lv, ref_lv, [
            Mistake(logvar.exp() - 1, "The factor ½ is missing: ∂KL/∂logvar = ½(e^logvar − 1). (e^logvar − 1 is the "
                                      "gradient with respect to log σ, "
                                      "which is twice the one with respect to log σ².)"),
            Mistake(0.5 * logvar.exp(), "The −logvar term is missing from your derivative: it contributes −½, so "
                                        "∂KL/∂logvar = ½(e^logvar − 1)."),
            Mistake(0.5 * (1 - logvar.exp()), "∂KL/∂logvar has the wrong sign: it is ½(e^logvar − 1), positive for a "
                                              "q wider than the prior."),
            Mistake(0.5 * (logvar.exp() - logvar - 1), "That is the variance part of the KL itself, "
                                                       "not its derivative."),
            Mistake(sigma - 1 / sigma, "That is ∂KL/∂σ. The exercise wants the derivative with respect to logvar = log "
                                       "σ²: multiply by ∂σ/∂logvar = σ/2."),
            Mistake((2 * logvar).exp() - 1, "You read logvar as log σ (σ² = e^(2·logvar)); it is log σ², "
                                            "so σ² = e^logvar."),
        ], what="∂KL/∂logvar", rtol=max(rtol_lv, 1e-8), atol=1e-10)
        if not lv_fb.passed:
            return lv_fb
        return passed("Both match autograd. ∂KL/∂μ = μ pulls every mean to 0; ∂KL/∂logvar = ½(σ² − 1) pulls every "
                      "variance to 1 and vanishes there, the bottom of the bowl of section 5.")
    return judge_all(judge, 21, B=(5, 2, 9), D=(3, 1, 6))


@exercise("02.kl_per_example", "the Keras line, fixed")
def check_kl_per_example(kl_per_example: Callable[..., Any]) -> Feedback:
    """Check ``kl_per_example(z_mean, z_log_var)`` -> (B,): KL(q(z|x_b) || N(0, I)) summed over the D dims."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        b, d = size["B"], size["D"]  # B != D, so reducing the wrong dimension shows in the shape
        mu, logvar = _gaussians(b, d, g)
        out = call(kl_per_example, mu.clone(), logvar.clone(), name="kl_per_example")
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            raise Wrong("`kl_per_example` returned one number: you reduced over the batch too. Return one KL per "
                        "example, shape (B,): reduce over the latent dimensions only, dim=-1.")
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (d,) and b != d:
            raise Wrong("Your result has one value per latent dimension, shape (D,): you reduced over the batch, dim "
                        "0. Reduce over the latent dimensions, dim=-1, so that every example keeps its own KL.")
        answer, rtol = answer_tensor(out, "kl_per_example(z_mean, z_log_var)", shape=(b,))
        q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)  # batch (B,), event (D,)
        ref = kl_divergence(q, Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1))  # (B,)
        bracket = 1 + logvar - mu**2 - logvar.exp()  # (B, D): the Keras bracket
        mistakes = [
            Mistake(-0.5 * bracket.mean(-1), "You averaged over the D latent dimensions (the Keras `mean`): that is "
                                             "KL/D, a hidden β = 1/D. Sum over dim=-1."),
            Mistake(0.5 * bracket.sum(-1), "Your KL has the wrong sign (it is negative): KL = −½ Σ (1 + logvar − μ² − "
                                           "e^logvar). The −½ in front is what makes it ≥ 0."),
            Mistake(-bracket.sum(-1), "The factor ½ is missing: KL = −½ Σ_d (1 + logvar − μ² − e^logvar)."),
            Mistake(-0.5 * (1 + 2 * logvar - mu**2 - (2 * logvar).exp()).sum(-1),
                    "You read `z_log_var` as log σ (σ² = e^(2·z_log_var)); it holds log σ², so σ² = e^z_log_var."),
            Mistake(-0.5 * (logvar - mu**2 - logvar.exp()).sum(-1),
                    "The `1 +` inside the bracket is missing (it contributes ½ nat per dimension)."),
            Mistake(-0.5 * (1 + logvar - mu**2 - (0.5 * logvar).exp()).sum(-1),
                    "You used σ = e^(z_log_var/2) where σ² = e^z_log_var belongs."),
            Mistake(-0.5 * (1 + logvar - mu - logvar.exp()).sum(-1), "μ must be squared: "
                                                                     "the term is −μ² (`z_mean ** 2`)."),
        ]
        return match(answer, ref, mistakes, what="per-example KL", rtol=max(rtol, 1e-8), atol=1e-10,
                     success="Right: one KL per example, summed over the D dimensions, equal to torch.distributions "
                             "and to `vaelib.losses.kl_std_normal`. It is D times the Keras `kl_loss`.")
    return judge_all(judge, 22, B=(6, 7, 12), D=(4, 1, 5))


@exercise("02.mc_kl", "the KL by Monte Carlo, with its standard error")
def check_mc_kl(mc_kl: Callable[..., Any]) -> Feedback:
    """Check ``mc_kl(mu, logvar, eps)`` -> (estimate, standard error) of KL(q || N(0, I)) from z = mu + sigma * eps."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        n, d = size["n"], size["D"]
        mu, logvar = (t[0] for t in _gaussians(1, d, g))  # (D,) each
        eps = torch.randn(n, d, generator=g, dtype=F64)  # (n, D)
        out = call(mc_kl, mu.clone(), logvar.clone(), eps.clone(), name="mc_kl")
        if isinstance(out, torch.Tensor) and out.numel() > 1:
            raise Wrong(f"`mc_kl` returned a tensor of shape {tuple(out.shape)}: return two numbers, the average of "
                        "the n log-ratios and its standard error.")
        est, se = as_estimate(out, "mc_kl")
        if not (math.isfinite(est) and math.isfinite(se)):
            raise Wrong("Your (estimate, standard error) contains NaN or inf: look for a log of 0 or a division by 0.")

        def log_ratio(z: torch.Tensor, lv_q: torch.Tensor = logvar) -> torch.Tensor:  # (n,)
            q = Normal(mu, (0.5 * lv_q).exp())
            return (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)

        sigma = (0.5 * logvar).exp()
        terms = log_ratio(mu + sigma * eps)  # (n,)
        ref, ref_se = mean_se(terms)  # what the learner is asked for
        no_jacobian = (Normal(0.0, 1.0).log_prob(eps) - Normal(0.0, 1.0).log_prob(mu + sigma * eps)).sum(-1)
        closed = _kl_elementwise(mu, logvar).sum().item()
        est_fb = match(est, ref, [
            Mistake(log_ratio(mu + logvar.exp() * eps).mean().item(),
                    "Your z is μ + e^logvar·ε: logvar is log σ², so σ = e^(logvar/2)."),
            Mistake(log_ratio(mu + logvar.exp() * eps, 2 * logvar).mean().item(),
                    "You read logvar as log σ (in z and in log q); it is log σ², so σ = e^(logvar/2)."),
            Mistake(ref / d, "You averaged the log-ratio over the D dimensions; log q(z) and log p(z) of a "
                             "D-dimensional z are sums over the dimensions."),
            Mistake(-ref, "Wrong sign: the KL is E_q[log q(z) − log p(z)], not log p − log q."),
            Mistake(no_jacobian.mean().item(), "Your log q(z) is log N(ε; 0, I): the change of variables z = μ + σε "
                                               "adds −Σ_d log σ_d. Evaluate q's own density at z instead."),
            Mistake(terms.sum().item(), "You summed the n log-ratios; average them."),
            Mistake(closed, "That is the closed form (section 2); the exercise asks for the Monte Carlo average over "
                            "the n samples, whose error the standard error measures."),
        ], what="Monte Carlo estimate", rtol=1e-8, atol=1e-10)
        if not est_fb.passed:
            return est_fb
        sd = terms.std().item()
        se_fb = match(se, ref_se, [
            Mistake(sd, "That is the standard deviation of one log-ratio; the standard error of their average is "
                        "that divided by √n."),
            Mistake(sd / n, "Divide the standard deviation by √n, not by n."),
            Mistake(sd**2 / math.sqrt(n), "You divided the variance by √n; take its square root first: sd/√n."),
            Mistake(sd**2 / n, "That is the variance of the average; the standard error is its square root, sd/√n."),
        ], what="standard error", rtol=5e-3, atol=1e-12)  # n or n - 1 in the sd: both fine
        if not se_fb.passed:
            return se_fb
        return passed(f"Estimate {format_mean_se(est, se)} nats; the closed form is {fmt(closed)}, "
                      f"{abs(est - closed) / se:.1f} standard errors away. Four times the samples would halve the "
                      "standard error (section 3).")
    return judge_all(judge, 23, n=(400, 200, 700), D=(5, 2, 8))
