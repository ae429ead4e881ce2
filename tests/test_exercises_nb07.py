"""Notebook 07's exercise checks: the stub is "not attempted", a reference solution passes, each usual mistake
gets its hint, and learner code that raises is reported, never raised. The reference solutions are
independent of the checks: a Monte Carlo variance over many draws, NumPy, scipy densities."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from vaelib.exercises import core, nb07
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch):
    monkeypatch.delenv(core.EXPECT_ENV, raising=False)
    monkeypatch.delenv(core.REPORT_ENV, raising=False)


def kl_variance_formula(mu, logvar):
    var = logvar.exp()
    return ((var - 1) ** 2 / 2 + mu**2 * var).sum(-1)


def test_the_kl_variance_formula_matches_monte_carlo():
    """The reference itself, against the empirical variance of log q - log p over 400,000 draws of eps."""
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(3, 4, generator=g, dtype=torch.float64)
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
    assert nb07.check_paired_difference(lambda a, b: (np.mean(a.numpy() - b.numpy()),
                                                      np.std(a.numpy() - b.numpy()) / math.sqrt(len(a)))).status == PASSED
    unpaired = lambda a, b: ((a - b).mean().item(), math.hypot(a.std().item(), b.std().item()) / math.sqrt(len(a)))  # noqa: E731
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
