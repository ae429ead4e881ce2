"""Notebook 06's exercise checks: the stub is "not attempted", the reference solution passes, each usual mistake
gets its hint, and learner code that raises is reported, never raised. The solutions here are written
independently of the checks (NumPy loops, torch.distributions, scipy) and are the trusted references."""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from vaelib.exercises import nb06
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG


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


# ------------------------------------------------------------ answers written another way, and wrong answers that
# pass one input set: a size written as a number, inputs changed in place, NaN
def test_covariance_other_correct_answers_pass_and_shortcuts_fail():
    def in_place(mu, logvar):  # changes its own inputs after using them
        var = logvar.exp_()
        centred = mu.sub_(mu.mean(0))
        return centred.T @ centred / len(centred) + torch.diag(var.mean(0))

    float32 = lambda mu, lv: covariance_numpy(mu, lv).float()  # noqa: E731

    def numpy_out(mu, lv):
        return np.cov(mu.numpy().T, bias=True).reshape(mu.shape[1], -1) + np.diag(np.exp(lv.numpy()).mean(0))

    for fn in (in_place, float32, numpy_out):
        assert nb06.check_covariance(fn).status == PASSED, fn

    def hard_coded(mu, lv):  # N = 6 written as a number
        c = mu - mu.mean(0)
        return c.T @ c / 6 + torch.diag(lv.exp().sum(0) / 6)

    def tamper(mu, lv):  # zero the inputs so that the reference would become the identity
        mu.zero_(), lv.zero_()
        return torch.eye(mu.shape[1], dtype=torch.float64)

    fb = nb06.check_covariance(hard_coded)
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb06.check_covariance(tamper).status == WRONG
    assert nb06.check_covariance(lambda mu, lv: covariance_numpy(mu, lv) * math.nan).status == WRONG


def test_mutual_information_other_correct_answers_pass_and_shortcuts_fail():
    def torch_version(mu, logvar, z, idx):
        comp = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z[:, None, :]).sum(-1)  # (M, N)
        d = comp.gather(1, idx[:, None])[:, 0] - (comp.logsumexp(1) - math.log(len(mu)))
        return [d.mean(), d.std(unbiased=False) / len(z) ** 0.5]  # a list of tensors, SE with 1/M

    assert nb06.check_mutual_information(torch_version).status == PASSED
    assert nb06.check_mutual_information(lambda *a: tuple(np.float32(v) for v in mi_numpy(*a))).status == PASSED
    def hard_coded(mu, lv, z, idx):
        return mi_numpy(mu, lv, z, idx)[0], mi_numpy(mu, lv, z, idx)[1] * math.sqrt(len(z) / 300)

    fb = nb06.check_mutual_information(hard_coded)  # divides by √300, the fixed M
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb06.check_mutual_information(lambda *a: (math.nan, 0.1)).status == WRONG
    assert nb06.check_mutual_information(lambda *a: (mi_numpy(*a)[0], math.inf)).status == WRONG


def test_reverse_kl_other_correct_answers_pass_and_shortcuts_fail():
    def numpy_se(log_q, d, n, g):  # SE from NumPy with ddof=0, results as one-element tensors
        z = torch.randn(n, d, generator=g, dtype=torch.float64)
        diff = (torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1) - log_q(z)).numpy()
        return torch.tensor(diff.mean()), torch.tensor(diff.std() / math.sqrt(n))

    assert nb06.check_reverse_kl(numpy_se).status == PASSED
    assert nb06.check_reverse_kl(lambda *a: list(reverse_kl_ref(*a))).status == PASSED
    scaled = {0.97: "far from", 1.05: "far from"}
    for factor in scaled:
        fb = nb06.check_reverse_kl(lambda lq, d, n, g, f=factor: (reverse_kl_ref(lq, d, n, g)[0] * f,
                                                                 reverse_kl_ref(lq, d, n, g)[1]))
        assert fb.status == WRONG, factor
    assert nb06.check_reverse_kl(lambda *a: (math.nan, 0.01)).status == WRONG

    def hard_coded(log_q, d, n, g):  # D = 2 written as a number
        return reverse_kl_ref(log_q, 2, n, g) if d != 2 else reverse_kl_ref(log_q, d, n, g)

    def fresh_draws(log_q, d, n, g):  # right in distribution, but not the draws the prompt asks for
        return reverse_kl_ref(log_q, d, n, torch.Generator().manual_seed(1))

    assert nb06.check_reverse_kl(hard_coded).status == WRONG
    assert nb06.check_reverse_kl(fresh_draws).status == WRONG


def test_rev_kl_is_read_and_checked():
    q = torch.distributions.Independent(torch.distributions.Normal(torch.tensor([0.5, -0.2], dtype=torch.float64),
                                                                   torch.tensor([0.6, 1.3], dtype=torch.float64)), 1)
    right = reverse_kl_ref(q.log_prob, 2, 2000, torch.Generator().manual_seed(0))
    assert nb06.check_reverse_kl(reverse_kl_ref, right, q.log_prob).status == PASSED
    assert nb06.check_reverse_kl(reverse_kl_ref, None, q.log_prob).status == NOT_ATTEMPTED
    assert nb06.check_reverse_kl(reverse_kl_ref, (math.nan, right[1]), q.log_prob).status == WRONG
    assert nb06.check_reverse_kl(reverse_kl_ref, (-right[0], right[1]), q.log_prob).status == WRONG
    assert nb06.check_reverse_kl(reverse_kl_ref, (right[0], right[1] * math.sqrt(2000)), q.log_prob).status == WRONG
