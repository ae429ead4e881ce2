"""Checks for the exercises of notebooks/07_beyond_gaussian.ipynb (the Monte Carlo KL, paired comparisons, the
VampPrior's components).

Each check makes its own inputs (float64) twice, with a fixed seed and sizes and with a seed and sizes drawn when it
runs (``vaelib.exercises.cases``), computes the reference from the exact formula, and what the usual mistaken
formulas give on the same inputs, so that a wrong answer gets the hint that names its mistake. The variables the
prompts ask for (``gain_check``, ``usage``) are read too.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch.distributions import Independent, Normal

from vaelib import evaluate
from vaelib.evaluate import paired_difference
from vaelib.exercises.cases import answer_tensor, finite, forbidden_call, judge_all
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


@exercise("07.kl_variance", "the variance of the single-sample KL")
def check_kl_variance(kl_estimate_variance: Callable[..., Any]) -> Feedback:
    """Check ``kl_estimate_variance(mu, logvar)`` -> (B,): Var over eps of log q(z|x) - log N(z; 0, I) at
    z = mu + sigma * eps, which is sum_d [(sigma_d^2 - 1)^2 / 2 + mu_d^2 sigma_d^2]."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        B, D = size["B"], size["D"]
        mu = torch.randn(B, D, generator=g, dtype=F64)  # B != D in the fixed set, so a wrong reduction shows
        logvar = torch.rand(B, D, generator=g, dtype=F64) * 3 - 2
        out = call(kl_estimate_variance, mu.clone(), logvar.clone(), name="kl_estimate_variance")
        answer, rtol = answer_tensor(out, "kl_estimate_variance(mu, logvar)", shape=(B,))
        var = logvar.exp()
        a, b = (var - 1).pow(2) / 2, mu.pow(2) * var  # (B, D): from the eps^2 term and from the eps term
        sd = (0.5 * logvar).exp()
        mistakes = [
            Mistake(((sd - 1).pow(2) / 2 + mu.pow(2) * sd).sum(-1), "You used σ where σ² belongs: `logvar` is "
                    "log σ², so σ² = exp(logvar) and σ = exp(logvar / 2)."),
            Mistake((a / 2 + b).sum(-1), "The ε² term is (σ² − 1) ε² / 2, and Var(ε²) = 2 for ε ~ N(0, 1) (not 1): "
                    "its variance is (σ² − 1)² / 2."),
            Mistake(a.sum(-1), "The μ² σ² term is missing: log q − log p also has the term μ σ ε, linear in ε."),
            Mistake(b.sum(-1), "The (σ² − 1)² / 2 term is missing: the ε² terms of log q and log p do not cancel "
                               "unless σ = 1."),
            Mistake((a + b).mean(-1), "Sum over the D dimensions, not the mean: the KL is a sum over dimensions and "
                    "the variances of independent terms add."),
            Mistake((a + b).sum(-1).sqrt(), "That is the standard deviation; the exercise asks for the variance."),
        ]
        return match(answer, (a + b).sum(-1), mistakes, what="variance", rtol=max(rtol, 1e-9), atol=1e-12,
                     success="Right. It vanishes only when σ = 1 and μ = 0, i.e. q(z|x) = p(z); a confident "
                             "posterior (small σ) far from the origin gives a noisy single-sample KL.")
    return judge_all(judge, 71, B=(4, 2, 9), D=(3, 1, 6))


_NO_PAIRED = [(evaluate, "paired_difference", "vaelib.evaluate.paired_difference"),
              (evaluate, "mean_se", "vaelib.evaluate.paired_difference")]  # the library's own answer


@exercise("07.paired_difference", "a paired difference and its standard error")
def check_paired_difference(paired_gain: Callable[..., Any], gain_check: Any = None, a_values: Any = None,
                            b_values: Any = None) -> Feedback:
    """Check ``paired_gain(a, b)`` -> (mean of a - b, its SE = std(a - b) / sqrt(n)) for per-image values a, b (n,),
    then ``gain_check`` against the same on the notebook's ``a_values``, ``b_values`` (when they are given)."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        n = size["n"]
        image = torch.randn(n, generator=g, dtype=F64) * 20 - 90  # which image it is: most of the spread
        b = image + torch.randn(n, generator=g, dtype=F64)
        a = image + 2.0 + torch.randn(n, generator=g, dtype=F64) * 1.5
        mean, se = as_estimate(forbidden_call(paired_gain, call, a.clone(), b.clone(), name="paired_gain",
                                              targets=_NO_PAIRED, reason="write the mean and its SE yourself."),
                               "paired_gain")
        finite(torch.tensor([mean, se]), "(mean, standard error)")
        d = a - b
        ref, ref_se = paired_difference(a, b)  # what the learner is asked for
        fb = match(mean, ref, [Mistake(-ref, "Wrong sign: the gain of a over b is mean(a − b).")],
                   what="mean difference", rtol=1e-6, atol=1e-9)
        if not fb.passed:
            return fb
        unpaired = math.hypot(a.std().item(), b.std().item()) / math.sqrt(n)
        if close(se, unpaired, rtol=0.05):
            return wrong(f"That SE, {fmt(se)}, combines the two SEs as if a and b were independent samples. They are "
                         "the same images: take the standard deviation of the per-image differences a − b, divided by "
                         "√n.")
        if close(se, d.std().item(), rtol=0.05):
            return wrong("Your standard error is the standard deviation of the differences; divide it by √n.")
        if not close(se, ref_se, rtol=0.02):  # 2 %: std with n or n - 1 both pass (n >= 40)
            return wrong(f"The mean is right but the SE {fmt(se)} is not: std(a − b) / √n = {fmt(ref_se)} here.")
        return passed(f"Gain {fmt(ref)} ± {fmt(ref_se)}; the unpaired SE would be {fmt(unpaired)}, "
                      f"{unpaired / ref_se:.0f} times larger, because most of the spread is which image it is, and "
                      "that cancels in a − b.")
    fb = judge_all(judge, 72, n=(50, 40, 120))
    if not fb.passed or a_values is None:
        return fb
    if gain_check is None:
        raise NotAttempted("`paired_gain` passes; now set `gain_check` to its value for vamp-d40 against std-d40.")
    mean, se = as_estimate(gain_check, "gain_check")
    finite(torch.tensor([mean, se]), "`gain_check`")
    ref, ref_se = paired_difference(torch.as_tensor(a_values), torch.as_tensor(b_values))
    if close(mean, -ref, rtol=1e-4, atol=1e-4):
        raise Wrong("`gain_check` has the wrong sign: pass the VampPrior's values first, paired_gain(vamp, std).")
    if not (close(mean, ref, rtol=1e-4, atol=1e-4) and close(se, ref_se, rtol=0.02)):
        raise Wrong(f"`gain_check` = ({fmt(mean)}, {fmt(se)}) is not paired_gain of the stored log p(x) of vamp-d40 "
                    f"and std-d40, ({fmt(ref)}, {fmt(ref_se)}).")
    return passed(f"{fb.message} On MNIST: {fmt(ref)} ± {fmt(ref_se)} nats for the VampPrior.")


def _usage_inputs(g: torch.Generator, K: int, D: int, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes (n, D) and K components whose widths differ; the last component sits far away and wins no code."""
    mu_k = torch.randn(K, D, generator=g, dtype=F64) * 1.5
    mu_k[-1] = 40.0
    widths = torch.tensor([-3.0, 1.5, -1.0, 0.5, -2.0, 2.0], dtype=F64)
    logvar_k = widths[torch.arange(K) % len(widths)][:, None].expand(K, D).clone()
    logvar_k[-1] = -3.0
    mu_x = torch.randn(n, D, generator=g, dtype=F64) * 2.0
    return mu_x, mu_k, logvar_k


@exercise("07.component_usage", "how many VampPrior components are used")
def check_component_usage(component_usage: Callable[..., Any], usage: Any = None, n_components: int | None = None,
                          n_codes: int | None = None) -> Feedback:
    """Check ``component_usage(mu_x, mu_k, logvar_k)`` -> (K,) counts: for each code mu_x[n] the component k with the
    largest responsibility, i.e. the largest log N(mu_x[n]; mu_k, diag exp(logvar_k)), counted per k; then ``usage``
    (when ``n_components`` is given): n_components whole counts that add up to ``n_codes``."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        K, D, n = size["K"], size["D"], size["n"]
        mu_x, mu_k, logvar_k = _usage_inputs(g, K, D, n)
        out = call(component_usage, mu_x.clone(), mu_k.clone(), logvar_k.clone(), name="component_usage")
        if isinstance(out, (int, float)) or (isinstance(out, torch.Tensor) and out.numel() == 1):
            raise Wrong("Return the count of every component, a tensor of shape (K,), not one number; "
                        "`torch.bincount(winners, minlength=K)` gives it.")
        if getattr(out, "shape", None) is not None and tuple(out.shape) == (K - 1,):
            raise Wrong(f"Your result has K − 1 = {K - 1} entries: the check's last component wins no code, and "
                        "`torch.bincount` stops at the largest winner unless you pass `minlength=K`.")
        answer, _ = answer_tensor(out, "component_usage(mu_x, mu_k, logvar_k)", shape=(K,))

        def counts(logits: torch.Tensor) -> torch.Tensor:
            return torch.bincount(logits.argmax(1), minlength=K).double()

        log_resp = Independent(Normal(mu_k, (0.5 * logvar_k).exp()), 1).log_prob(mu_x[:, None, :])  # (n, K)
        as_log_sigma = Independent(Normal(mu_k, logvar_k.exp()), 1).log_prob(mu_x[:, None, :])
        mistakes = [
            Mistake(counts(-torch.cdist(mu_x, mu_k)), "You picked the nearest component mean. The responsibility also "
                    "depends on each component's width: compare the Gaussian log-densities log N(μ(x); μ_k, σ_k²), "
                    "whose log σ² terms matter."),
            Mistake(counts(as_log_sigma), "You used exp(logvar) as the standard deviation: `logvar` is log σ², so "
                    "σ = exp(logvar / 2)."),
        ]
        return match(answer, counts(log_resp), mistakes, what="counts", rtol=0, atol=1e-9,
                     success=f"Right: {int((counts(log_resp) > 0).sum())} of the check's {K} components win at least "
                             "one code (its last one wins none). The denominator Σ_j q(z|u_j) is the same for every "
                             "k, so the winner is the component with the largest density.")
    fb = judge_all(judge, 73, K=(6, 4, 10), D=(2, 1, 4), n=(400, 200, 500))
    if not fb.passed or n_components is None:
        return fb
    if usage is None:
        raise NotAttempted("`component_usage` passes; now set `usage` to its counts for the test codes of vamp-d40.")
    counts, _ = answer_tensor(usage, "usage", shape=(n_components,))
    finite(counts, "`usage`")
    if bool((counts < 0).any()) or not torch.equal(counts, counts.round()):
        raise Wrong("`usage` should hold whole, non-negative counts, one per component.")
    if n_codes is not None and int(counts.sum()) != n_codes:
        raise Wrong(f"`usage` counts {int(counts.sum())} codes; the prompt asks for the {n_codes} test codes.")
    return passed(f"{fb.message} On MNIST, {int((counts > 0).sum())} of {n_components} VampPrior components win at "
                  "least one test code.")
