"""Notebook 06's exercise checks: the stub is "not attempted", the reference solution passes, each usual mistake
gets its hint, and learner code that raises is reported, never raised. The solutions here are written
independently of the checks (NumPy loops, torch.distributions, scipy) and are the trusted references."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from vaelib.exercises import core, nb06
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch):
    monkeypatch.delenv(core.EXPECT_ENV, raising=False)
    monkeypatch.delenv(core.REPORT_ENV, raising=False)


def covariance_numpy(mu, logvar):
    """E[z z^T] - E[z] E[z]^T of the mixture, from each component's second moment (a different route)."""
    mu, var = mu.numpy(), np.exp(logvar.numpy())
    second = np.mean([np.diag(v) + np.outer(m, m) for m, v in zip(mu, var)], axis=0)
    mean = mu.mean(0)
    return torch.from_numpy(second - np.outer(mean, mean))


def mi_numpy(mu, logvar, z, idx):
    """I from scipy densities, one component at a time."""
    mu, var, z = mu.numpy(), np.exp(logvar.numpy()), z.numpy()
    comp = np.stack([multivariate_normal(m, np.diag(v)).logpdf(z) for m, v in zip(mu, var)], axis=1)  # (M, N)
    per_draw = comp[np.arange(len(z)), idx.numpy()] - (logsumexp(comp, axis=1) - math.log(len(mu)))
    return per_draw.mean(), per_draw.std(ddof=1) / math.sqrt(len(z))


def reverse_kl_ref(log_q, d, n, generator):
    z = torch.randn(n, d, generator=generator, dtype=torch.float64)
    diff = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1) - log_q(z)
    return diff.mean().item(), diff.std().item() / math.sqrt(n)


def test_covariance_stub_solution_and_hints():
    assert nb06.check_covariance(lambda mu, logvar: None).status == NOT_ATTEMPTED
    assert nb06.check_covariance(None).status == NOT_ATTEMPTED
    assert nb06.check_covariance(covariance_numpy).status == PASSED
    between = lambda mu: torch.from_numpy(np.cov(mu.numpy().T, bias=True))  # noqa: E731
    fb = nb06.check_covariance(lambda mu, lv: between(mu))
    assert fb.status == WRONG and "spread of the means" in fb.message
    fb = nb06.check_covariance(lambda mu, lv: torch.cov(mu.T) + torch.diag(lv.exp().mean(0)))
    assert fb.status == WRONG and "N − 1" in fb.message
    fb = nb06.check_covariance(lambda mu, lv: between(mu) + torch.diag((lv / 2).exp().mean(0)))
    assert fb.status == WRONG and "exp(logvar / 2)" in fb.message
    fb = nb06.check_covariance(lambda mu, lv: mu.T @ mu / len(mu) + torch.diag(lv.exp().mean(0)))
    assert fb.status == WRONG and "second moment" in fb.message
    fb = nb06.check_covariance(lambda mu, lv: torch.diag(lv.exp().sum(0)) + between(mu))
    assert fb.status == WRONG and "average them" in fb.message
    fb = nb06.check_covariance(lambda mu, lv: torch.cov(mu))  # (N, N): the wrong dimension
    assert fb.status == WRONG and "shape" in fb.message
    assert nb06.check_covariance(lambda mu, lv: 1 / 0).status == WRONG


def test_mutual_information_stub_solution_and_hints():
    assert nb06.check_mutual_information(lambda *a: None).status == NOT_ATTEMPTED
    assert nb06.check_mutual_information(mi_numpy).status == PASSED

    def variant(loo=False, no_log_n=False, sign=1, prior=False, se_scale=None):
        def fn(mu, logvar, z, idx):
            comp = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z[:, None, :]).sum(-1)
            own = comp[torch.arange(len(z)), idx]
            if loo:
                comp = comp.scatter(1, idx[:, None], -math.inf)
            log_q = comp.logsumexp(1) - (0.0 if no_log_n else math.log(len(mu) - loo))
            if prior:
                log_q = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
            d = sign * (own - log_q)
            return d.mean().item(), d.std().item() / (se_scale or math.sqrt(len(z)))
        return fn

    for kwargs, phrase in (({"loo": True}, "leave-one-out"), ({"no_log_n": True}, "− log N"),
                           ({"sign": -1}, "Wrong sign"), ({"prior": True}, "prior"), ({"se_scale": 1.0}, "√M")):
        fb = nb06.check_mutual_information(variant(**kwargs))
        assert fb.status == WRONG and phrase in fb.message, (kwargs, fb)
    assert nb06.check_mutual_information(lambda *a: 3.0).status == WRONG  # not a pair


def test_reverse_kl_stub_solution_and_hints():
    assert nb06.check_reverse_kl(lambda *a: None).status == NOT_ATTEMPTED
    assert nb06.check_reverse_kl(reverse_kl_ref).status == PASSED

    def flipped(log_q, d, n, g):
        kl, se = reverse_kl_ref(log_q, d, n, g)
        return -kl, se

    def unscaled_se(log_q, d, n, g):
        kl, se = reverse_kl_ref(log_q, d, n, g)
        return kl, se * math.sqrt(n)

    def uniform_draws(log_q, d, n, g):
        z = torch.rand(n, d, generator=g, dtype=torch.float64)
        diff = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1) - log_q(z)
        return diff.mean().item(), diff.std().item() / math.sqrt(n)

    assert "Wrong sign" in nb06.check_reverse_kl(flipped).message
    assert "√n" in nb06.check_reverse_kl(unscaled_se).message
    fb = nb06.check_reverse_kl(uniform_draws)
    assert fb.status == WRONG and "N(0, I)" in fb.message
    assert nb06.check_reverse_kl(lambda *a: [][1]).status == WRONG
