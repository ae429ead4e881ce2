"""Checks for the exercises of notebooks/07_beyond_gaussian.ipynb (the Monte Carlo KL, paired comparisons, the
VampPrior's components).

Each check makes its own inputs (fixed seed, float64), computes the reference from the exact formula, and what
the usual mistaken formulas give on the same inputs, so that a wrong answer gets the hint that names its mistake.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch.distributions import Independent, Normal

from vaelib.exercises.core import (Feedback, Mistake, Wrong, as_estimate, as_tensor, call, close, exercise, fmt,
                                   match, passed, wrong)

F64 = torch.float64


@exercise("07.kl_variance", "the variance of the single-sample KL")
def check_kl_variance(kl_estimate_variance: Callable[..., Any]) -> Feedback:
    """Check ``kl_estimate_variance(mu, logvar)`` -> (B,): Var over eps of log q(z|x) - log N(z; 0, I) at
    z = mu + sigma * eps, which is sum_d [(sigma_d^2 - 1)^2 / 2 + mu_d^2 sigma_d^2]."""
    g = torch.Generator().manual_seed(71)
    mu = torch.randn(4, 3, generator=g, dtype=F64)  # (B=4, D=3): B != D, so a wrong reduction shows
    logvar = torch.rand(4, 3, generator=g, dtype=F64) * 3 - 2
    out = call(kl_estimate_variance, mu.clone(), logvar.clone(), name="kl_estimate_variance")
    answer = as_tensor(out, "kl_estimate_variance(mu, logvar)", shape=(4,))
    var = logvar.exp()
    a, b = (var - 1).pow(2) / 2, mu.pow(2) * var  # (B, D): from the eps^2 term and from the eps term
    sd = (0.5 * logvar).exp()
    mistakes = [
        Mistake(((sd - 1).pow(2) / 2 + mu.pow(2) * sd).sum(-1), "You used σ where σ² belongs: `logvar` is log σ², "
                "so σ² = exp(logvar) and σ = exp(logvar / 2)."),
        Mistake((a / 2 + b).sum(-1), "The ε² term is (σ² − 1) ε² / 2, and Var(ε²) = 2 for ε ~ N(0, 1) (not 1): "
                "its variance is (σ² − 1)² / 2."),
        Mistake(a.sum(-1), "The μ² σ² term is missing: log q − log p also has the term μ σ ε, linear in ε."),
        Mistake(b.sum(-1), "The (σ² − 1)² / 2 term is missing: the ε² terms of log q and log p do not cancel unless σ = 1."),
        Mistake((a + b).mean(-1), "Sum over the D dimensions, not the mean: the KL is a sum over dimensions and the "
                "variances of independent terms add."),
        Mistake((a + b).sum(-1).sqrt(), "That is the standard deviation; the exercise asks for the variance."),
        Mistake((a + b).sum(0), "You summed over the batch: return one variance per example, shape (B,)."),
    ]
    return match(answer, (a + b).sum(-1), mistakes, what="variance", rtol=1e-9, atol=1e-12,
                 success="Right. It vanishes only when σ = 1 and μ = 0, i.e. q(z|x) = p(z); a confident posterior "
                         "(small σ) far from the origin gives a noisy single-sample KL.")


@exercise("07.paired_difference", "a paired difference and its standard error")
def check_paired_difference(paired_gain: Callable[..., Any]) -> Feedback:
    """Check ``paired_gain(a, b)`` -> (mean of a - b, its SE = std(a - b) / sqrt(n)) for per-image values a, b (n,)."""
    g = torch.Generator().manual_seed(72)
    image = torch.randn(50, generator=g, dtype=F64) * 20 - 90  # which image it is: most of the spread
    b = image + torch.randn(50, generator=g, dtype=F64)
    a = image + 2.0 + torch.randn(50, generator=g, dtype=F64) * 1.5
    mean, se = as_estimate(call(paired_gain, a.clone(), b.clone(), name="paired_gain"), "paired_gain")
    d = a - b
    ref, ref_se = d.mean().item(), d.std().item() / math.sqrt(len(d))
    fb = match(mean, ref, [Mistake(-ref, "Wrong sign: the gain of a over b is mean(a − b).")],
               what="mean difference", rtol=1e-9, atol=1e-9)
    if not fb.passed:
        return fb
    unpaired = math.hypot(a.std().item(), b.std().item()) / math.sqrt(len(d))
    if close(se, unpaired, rtol=0.05):
        return wrong(f"That SE, {fmt(se)}, combines the two SEs as if a and b were independent samples. They are the "
                     "same images: take the standard deviation of the per-image differences a − b, divided by √n.")
    if close(se, d.std().item(), rtol=0.05):
        return wrong("Your standard error is the standard deviation of the differences; divide it by √n.")
    if not close(se, ref_se, rtol=0.05):  # 5%: std with n or n - 1 both pass
        return wrong(f"The mean is right but the SE {fmt(se)} is not: std(a − b) / √n = {fmt(ref_se)} here.")
    return passed(f"Gain {fmt(ref)} ± {fmt(ref_se)}; the unpaired SE would be {fmt(unpaired)}, {unpaired / ref_se:.0f} "
                  "times larger, because most of the spread is which image it is, and that cancels in a − b.")


@exercise("07.component_usage", "how many VampPrior components are used")
def check_component_usage(component_usage: Callable[..., Any]) -> Feedback:
    """Check ``component_usage(mu_x, mu_k, logvar_k)`` -> (K,) counts: for each code mu_x[n] the component k with the
    largest responsibility, i.e. the largest log N(mu_x[n]; mu_k, diag exp(logvar_k)), counted per k."""
    g = torch.Generator().manual_seed(73)
    K, D, n = 6, 2, 400
    mu_k = torch.randn(K, D, generator=g, dtype=F64) * 1.5
    logvar_k = torch.tensor([-3.0, 1.5, -1.0, 0.5, -2.0, 2.0], dtype=F64)[:, None].expand(K, D).clone()  # widths differ
    mu_x = torch.randn(n, D, generator=g, dtype=F64) * 2.0
    out = call(component_usage, mu_x.clone(), mu_k.clone(), logvar_k.clone(), name="component_usage")
    if isinstance(out, (int, float)) or (isinstance(out, torch.Tensor) and out.numel() == 1):
        raise Wrong("Return the count of every component, a tensor of shape (K,), not one number; "
                    "`torch.bincount(winners, minlength=K)` gives it.")
    answer = as_tensor(out, "component_usage(mu_x, mu_k, logvar_k)", shape=(K,))

    def counts(logits: torch.Tensor) -> torch.Tensor:
        return torch.bincount(logits.argmax(1), minlength=K).double()

    log_resp = Independent(Normal(mu_k, (0.5 * logvar_k).exp()), 1).log_prob(mu_x[:, None, :])  # (n, K)
    nearest = -torch.cdist(mu_x, mu_k)  # (n, K)
    as_log_sigma = Independent(Normal(mu_k, logvar_k.exp()), 1).log_prob(mu_x[:, None, :])
    mistakes = [
        Mistake(counts(nearest), "You picked the nearest component mean. The responsibility also depends on each "
                "component's width: compare the Gaussian log-densities log N(μ(x); μ_k, σ_k²), whose log σ² terms matter."),
        Mistake(counts(as_log_sigma), "You used exp(logvar) as the standard deviation: `logvar` is log σ², so "
                "σ = exp(logvar / 2)."),
    ]
    return match(answer, counts(log_resp), mistakes, what="counts", rtol=0, atol=0.5,
                 success=f"Right: {int((counts(log_resp) > 0).sum())} of the check's {K} components win at least one "
                         "code. The denominator Σ_j q(z|u_j) is the same for every k, so the winner is the component "
                         "with the largest density.")
