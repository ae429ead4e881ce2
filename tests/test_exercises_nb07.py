"""Notebook 07's exercise checks: the stub is "not attempted", a reference solution passes, each usual mistake
gets its hint, and learner code that raises is reported, never raised. The reference solutions are
independent of the checks: a Monte Carlo variance over many draws, NumPy, scipy densities."""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import multivariate_normal

from vaelib.exercises import nb07
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG


def kl_variance_formula(mu, logvar):
    var = logvar.exp()
    return ((var - 1) ** 2 / 2 + mu**2 * var).sum(-1)


def test_the_kl_variance_formula_matches_monte_carlo():
    """The reference itself, against the empirical variance of log q - log p over 400,000 draws of eps."""
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    logvar = torch.randn(3, 4, generator=g, dtype=torch.float64)
    z = mu + (0.5 * logvar).exp() * torch.randn(400_000, 3, 4, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    kl_hat = (q.log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)).sum(-1)  # (n, B)
    assert torch.allclose(kl_hat.var(0), kl_variance_formula(mu, logvar), rtol=0.02)


def test_kl_variance_stub_solution_and_hints():
    assert nb07.check_kl_variance(lambda mu, lv: None).status == NOT_ATTEMPTED
    assert nb07.check_kl_variance(kl_variance_formula).status == PASSED
    cases = {
        "σ where σ²": lambda mu, lv: (((lv / 2).exp() - 1) ** 2 / 2 + mu**2 * (lv / 2).exp()).sum(-1),
        "Var(ε²) = 2": lambda mu, lv: ((lv.exp() - 1) ** 2 / 4 + mu**2 * lv.exp()).sum(-1),
        "μ σ ε": lambda mu, lv: ((lv.exp() - 1) ** 2 / 2).sum(-1),
        "Sum over the D": lambda mu, lv: ((lv.exp() - 1) ** 2 / 2 + mu**2 * lv.exp()).mean(-1),
        "standard deviation": lambda mu, lv: kl_variance_formula(mu, lv).sqrt(),
    }
    for phrase, fn in cases.items():
        fb = nb07.check_kl_variance(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb)
    assert "shape" in nb07.check_kl_variance(lambda mu, lv: kl_variance_formula(mu, lv).sum()).message
    assert nb07.check_kl_variance(lambda mu, lv: mu.nonexistent).status == WRONG


def test_paired_difference_stub_solution_and_hints():
    def paired_numpy(a, b):
        d = a.numpy() - b.numpy()
        return d.mean(), d.std(ddof=1) / math.sqrt(len(d))

    assert nb07.check_paired_difference(lambda a, b: None).status == NOT_ATTEMPTED
    assert nb07.check_paired_difference(paired_numpy).status == PASSED
    assert nb07.check_paired_difference(
        lambda a, b: (np.mean(a.numpy() - b.numpy()), np.std(a.numpy() - b.numpy()) / math.sqrt(len(a)))
    ).status == PASSED

    def unpaired(a, b):
        return (a - b).mean().item(), math.hypot(a.std().item(), b.std().item()) / math.sqrt(len(a))

    assert "independent samples" in nb07.check_paired_difference(unpaired).message
    assert "Wrong sign" in nb07.check_paired_difference(lambda a, b: paired_numpy(b, a)).message
    assert "√n" in nb07.check_paired_difference(lambda a, b: ((a - b).mean(), (a - b).std())).message
    assert nb07.check_paired_difference(lambda a, b: (a - b).mean()).status == WRONG  # one number, not a pair


def test_component_usage_stub_solution_and_hints():
    def usage_scipy(mu_x, mu_k, logvar_k):
        dens = np.stack([multivariate_normal(m, np.diag(np.exp(lv))).logpdf(mu_x.numpy())
                         for m, lv in zip(mu_k.numpy(), logvar_k.numpy())], axis=1)  # (n, K)
        return torch.from_numpy(np.bincount(dens.argmax(1), minlength=len(mu_k)))

    assert nb07.check_component_usage(lambda *a: None).status == NOT_ATTEMPTED
    assert nb07.check_component_usage(usage_scipy).status == PASSED
    nearest = lambda mu_x, mu_k, lv: torch.bincount(torch.cdist(mu_x, mu_k).argmin(1), minlength=len(mu_k))  # noqa: E731
    assert "nearest component mean" in nb07.check_component_usage(nearest).message
    as_sd = lambda mu_x, mu_k, lv: usage_scipy(mu_x, mu_k, 2 * lv)  # noqa: E731  (sigma = e^logvar)
    assert "σ = exp(logvar / 2)" in nb07.check_component_usage(as_sd).message
    fb = nb07.check_component_usage(lambda mu_x, mu_k, lv: (usage_scipy(mu_x, mu_k, lv) > 0).sum())
    assert fb.status == WRONG and "shape (K,)" in fb.message
    short = lambda mu_x, mu_k, lv: torch.bincount(torch.cdist(mu_x, mu_k).argmin(1))[:3]  # noqa: E731
    assert nb07.check_component_usage(short).status == WRONG


# ------------------------------------------------------------ answers written another way, and wrong answers that
# pass one input set: a size written as a number, inputs changed in place, NaN, a forbidden shortcut
def test_kl_variance_other_correct_answers_pass_and_shortcuts_fail():
    def in_place(mu, logvar):  # changes its own inputs after using them
        var = logvar.exp_()
        return (var.sub(1).pow_(2).div_(2) + mu.pow_(2).mul_(var)).sum(-1)

    assert nb07.check_kl_variance(in_place).status == PASSED
    assert nb07.check_kl_variance(lambda mu, lv: kl_variance_formula(mu, lv).float().numpy()).status == PASSED
    fb = nb07.check_kl_variance(lambda mu, lv: ((lv.exp() - 1) ** 2 / 2 + mu**2 * lv.exp()).sum(-1) * 3 / mu.shape[1]
                                if mu.shape[1] != 3 else kl_variance_formula(mu, lv))
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb07.check_kl_variance(lambda mu, lv: kl_variance_formula(mu, lv) * math.nan).status == WRONG

    def tamper(mu, lv):  # zero the inputs so that a reference computed afterwards would be 0.5 D
        mu.zero_(), lv.zero_()
        return torch.zeros(len(mu), dtype=torch.float64)

    assert nb07.check_kl_variance(tamper).status == WRONG


def test_paired_difference_other_answers_forbidden_shortcut_and_gain_check():
    from vaelib.evaluate import paired_difference

    def in_place(a, b):
        d = a.sub_(b)
        return [d.mean(), d.std() / len(d) ** 0.5]

    assert nb07.check_paired_difference(in_place).status == PASSED
    assert nb07.check_paired_difference(
        lambda a, b: tuple(np.float32(v) for v in ((a - b).mean(), (a - b).std() / math.sqrt(len(a))))
    ).status == PASSED
    fb = nb07.check_paired_difference(lambda a, b: paired_difference(a, b))
    assert fb.status == WRONG and "paired_difference" in fb.message
    from vaelib.evaluate import mean_se  # allowed: the prompt forbids only paired_difference
    assert nb07.check_paired_difference(lambda a, b: mean_se(a - b)).status == PASSED
    fb = nb07.check_paired_difference(lambda a, b: ((a - b).mean().item(), (a - b).std().item() / math.sqrt(50)))
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb07.check_paired_difference(lambda a, b: (math.nan, 1.0)).status == WRONG
    g = torch.Generator().manual_seed(0)
    va, vb = torch.randn(300, generator=g) - 88, torch.randn(300, generator=g) - 90  # float32, as stored
    right = paired_difference(va, vb)
    ok = lambda a, b: ((a - b).mean().item(), (a - b).std().item() / math.sqrt(len(a)))  # noqa: E731
    assert nb07.check_paired_difference(ok, right, va, vb).status == PASSED
    assert nb07.check_paired_difference(ok, None, va, vb).status == NOT_ATTEMPTED
    assert nb07.check_paired_difference(ok, (-right[0], right[1]), va, vb).status == WRONG
    assert nb07.check_paired_difference(ok, (right[0], math.nan), va, vb).status == WRONG
    assert nb07.check_paired_difference(ok, (1.0, 0.1), va, vb).status == WRONG


def test_component_usage_empty_component_other_answers_and_usage():
    def by_hand(mu_x, mu_k, logvar_k):  # the log-density by hand, counts with a one-hot sum, float32 result
        ll = -0.5 * (((mu_x[:, None, :] - mu_k) ** 2) / logvar_k.exp() + logvar_k).sum(-1)  # (n, K) up to a constant
        return torch.nn.functional.one_hot(ll.argmax(1), len(mu_k)).sum(0).float()

    def as_list(mu_x, mu_k, logvar_k):
        ll = torch.distributions.Normal(mu_k, (logvar_k / 2).exp()).log_prob(mu_x[:, None, :]).sum(-1)
        winners = ll.argmax(1).tolist()
        return [winners.count(k) for k in range(len(mu_k))]

    assert nb07.check_component_usage(by_hand).status == PASSED
    assert nb07.check_component_usage(as_list).status == PASSED
    no_minlength = lambda mu_x, mu_k, lv: torch.bincount(torch.distributions.Normal(mu_k, (lv / 2).exp())  # noqa: E731
                                                          .log_prob(mu_x[:, None, :]).sum(-1).argmax(1))
    fb = nb07.check_component_usage(no_minlength)
    assert fb.status == WRONG and "minlength" in fb.message
    fb = nb07.check_component_usage(lambda mu_x, mu_k, lv: by_hand(mu_x, mu_k, lv)[:6] if len(mu_k) == 6
                                    else torch.zeros(6))  # K = 6 written as a number
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb07.check_component_usage(lambda *a: by_hand(*a) * math.nan).status == WRONG
    usage = torch.tensor([3, 0, 5, 2])
    assert nb07.check_component_usage(as_list, usage, 4, 10).status == PASSED
    assert nb07.check_component_usage(as_list, None, 4, 10).status == NOT_ATTEMPTED
    assert nb07.check_component_usage(as_list, usage[:3], 4, 10).status == WRONG
    assert nb07.check_component_usage(as_list, usage, 4, 2000).status == WRONG
    assert nb07.check_component_usage(as_list, usage * 0.5, 4, 5).status == WRONG
