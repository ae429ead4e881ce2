"""Notebook 00's exercise checks: the stub is "not attempted", a correct answer passes, every usual mistake
gets its own hint, and learner code that raises is reported, never raised. The correct answers here are
written independently of the checks (explicit formulas, not torch.distributions)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vaelib.exercises import nb00
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG


def log_normal(z, mu, logvar):  # log N(z; mu, exp(logvar)) per coordinate
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / logvar.exp())


def kl_mc(mu, logvar, eps, *, std_of=lambda lv: (0.5 * lv).exp(), z_scale=None, reduce="sum", sign=1.0):
    z = mu + (z_scale or std_of)(logvar) * eps
    ratio = log_normal(z, mu, 2 * std_of(logvar).log()) - log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    return sign * getattr(ratio, reduce)(-1).mean(0)


def kl_closed(mu, logvar):  # (..., D) -> per dimension
    return 0.5 * (mu**2 + logvar.exp() - logvar - 1)


def test_kl_monte_carlo_passes_and_names_each_mistake():
    assert nb00.check_kl_monte_carlo(kl_mc).status == PASSED
    assert nb00.check_kl_monte_carlo(lambda mu, logvar, eps: None).status == NOT_ATTEMPTED
    slips = {
        "sign is flipped": lambda m, lv, e: kl_mc(m, lv, e, sign=-1.0),
        "averaged over the latent": lambda m, lv, e: kl_mc(m, lv, e, reduce="mean"),
        "as the standard": lambda m, lv, e: kl_mc(m, lv, e, std_of=lambda v: v.exp()),
        "you scaled ε by σ²": lambda m, lv, e: kl_mc(m, lv, e, z_scale=lambda v: v.exp()),
        "closed-form KL": lambda m, lv, e: kl_closed(m, lv).sum(-1),
        "average over the n samples": lambda m, lv, e: (log_normal(m + (0.5 * lv).exp() * e, m, lv)
                                                        - log_normal(m + (0.5 * lv).exp() * e, 0 * m, 0 * lv)).sum(-1),
        "returned one number": lambda m, lv, e: kl_mc(m, lv, e).mean(),
    }
    for phrase, fn in slips.items():
        fb = nb00.check_kl_monte_carlo(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb.message)


def test_kl_per_dim_passes_names_each_mistake_and_counts_active_dims():
    def right(mu, logvar):
        return kl_closed(mu, logvar).mean(0)

    assert nb00.check_kl_per_dim(right).status == PASSED
    assert nb00.check_kl_per_dim(lambda mu, logvar: None).status == NOT_ATTEMPTED
    slips = {
        "summed over the examples": lambda m, lv: kl_closed(m, lv).sum(0),
        "as log σ": lambda m, lv: kl_closed(m, 2 * lv).mean(0),
        "factor 1/2": lambda m, lv: 2 * kl_closed(m, lv).mean(0),
        "sign is flipped": lambda m, lv: -kl_closed(m, lv).mean(0),
        "−1 inside": lambda m, lv: (kl_closed(m, lv) + 0.5).mean(0),
        "summed over the latent": lambda m, lv: kl_closed(m, lv).sum(-1),
        "returned one number": lambda m, lv: kl_closed(m, lv).mean(),
    }
    for phrase, fn in slips.items():
        fb = nb00.check_kl_per_dim(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb.message)
    # encodings of a "trained" model: dims 0 and 2 used, dim 1 equal to the prior for every image
    mu = torch.randn(100, 3)
    mu[:, 1] = 0.0
    logvar = torch.full((100, 3), -2.0)
    logvar[:, 1] = 0.0
    fb = nb00.check_kl_per_dim(right, mu, logvar)
    assert fb.passed and "2 of its 3 dimensions" in fb.message


def negative_elbo(x_logits, x, mu, logvar, *, pixels="sum", dims="sum", batch="mean"):
    p = torch.sigmoid(x_logits)
    log_lik = x * p.log() + (1 - x) * (1 - p).log()  # (B, P), explicit Bernoulli (stable for these logits)
    recon = -getattr(log_lik, pixels)(-1)
    kl = getattr(kl_closed(mu, logvar), dims)(-1)
    return getattr(recon + kl, batch)()


def test_negative_elbo_passes_and_names_each_mistake():
    assert nb00.check_negative_elbo(negative_elbo).status == PASSED
    assert nb00.check_negative_elbo(lambda *a: float(negative_elbo(*a))).status == PASSED  # a Python float is fine
    assert nb00.check_negative_elbo(lambda *a: None).status == NOT_ATTEMPTED
    slips = {
        "Everything is averaged":
            lambda xl, x, m, lv: F.binary_cross_entropy_with_logits(xl, x) + kl_closed(m, lv).mean(),
        "averaged over pixels": lambda *a: negative_elbo(*a, pixels="mean"),
        "hidden β = 1/D": lambda *a: negative_elbo(*a, dims="mean"),
        "summed over the batch": lambda *a: negative_elbo(*a, batch="sum"),
        "KL term is missing": lambda xl, x, m, lv: negative_elbo(xl, x, m, lv) - kl_closed(m, lv).sum(-1).mean(),
        "sign is flipped": lambda *a: -negative_elbo(*a),
        "must be added": lambda xl, x, m, lv: negative_elbo(xl, x, m, lv) - 2 * kl_closed(m, lv).sum(-1).mean(),
        "already logits": lambda xl, x, m, lv: F.binary_cross_entropy_with_logits(torch.sigmoid(xl), x, reduction="sum")
        / len(x) + kl_closed(m, lv).sum(-1).mean(),
        "treats logvar as log σ": lambda xl, x, m, lv: negative_elbo(xl, x, m, 2 * lv),
        "one value per example": lambda *a: negative_elbo(*a, batch="clone"),
    }
    for phrase, fn in slips.items():
        fb = nb00.check_negative_elbo(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb.message)


@pytest.mark.parametrize("check, n_args", [(nb00.check_kl_monte_carlo, 3), (nb00.check_kl_per_dim, 2),
                                           (nb00.check_negative_elbo, 4)])
def test_learner_errors_are_reported_not_raised(check, n_args):
    def broken(*args):
        assert len(args) == n_args
        return args[0] @ torch.ones(1234)  # a shape error inside the learner's code

    fb = check(broken)
    assert fb.status == WRONG and "raised" in fb.message


# ------------------------------------------------------------ answers written another way, and wrong answers that
# pass one input set: a size written as a number, inputs changed in place, NaN
def test_kl_monte_carlo_other_answers_and_shortcuts():
    def in_place(mu, logvar, eps):
        std = logvar.div_(2).exp_()
        z = eps.mul_(std).add_(mu)  # (n, B, D)
        log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)
        return (log_q - torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)).mean(0)

    assert nb00.check_kl_monte_carlo(in_place).status == PASSED
    assert nb00.check_kl_monte_carlo(lambda *a: kl_mc(*a).float().numpy()).status == PASSED
    fb = nb00.check_kl_monte_carlo(lambda m, lv, e: kl_mc(m, lv, e) * 4 / len(e) if len(e) != 4 else kl_mc(m, lv, e))
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb00.check_kl_monte_carlo(lambda *a: kl_mc(*a) * math.nan).status == WRONG

    def tamper(mu, logvar, eps):  # q = prior makes the reference 0
        mu.zero_(), logvar.zero_()
        return torch.zeros(mu.shape[0], dtype=torch.float64)

    assert nb00.check_kl_monte_carlo(tamper).status == WRONG


def test_kl_per_dim_other_answers_and_shortcuts():
    assert nb00.check_kl_per_dim(lambda m, lv: [float(v) for v in kl_closed(m, lv).mean(0)]).status == PASSED
    assert nb00.check_kl_per_dim(lambda m, lv: kl_closed(m, lv).sum(0).float() / len(m)).status == PASSED
    fb = nb00.check_kl_per_dim(lambda m, lv: kl_closed(m, lv).sum(0) / 5)  # N = 5 written in
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb00.check_kl_per_dim(lambda m, lv: kl_closed(m, lv).mean(0) + math.inf).status == WRONG


def test_negative_elbo_other_answers_and_shortcuts():
    def by_hand(x_logits, x, mu, logvar):  # the Bernoulli log-likelihood through logsigmoid
        recon = -(x * F.logsigmoid(x_logits) + (1 - x) * F.logsigmoid(-x_logits)).sum(-1)
        return (recon + kl_closed(mu, logvar).sum(-1)).mean().item()

    assert nb00.check_negative_elbo(by_hand).status == PASSED
    assert nb00.check_negative_elbo(lambda *a: torch.tensor(by_hand(*a), dtype=torch.float32)).status == PASSED
    fb = nb00.check_negative_elbo(lambda xl, x, m, lv: by_hand(xl, x, m, lv) * len(x) / 3)  # B = 3 written in
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb00.check_negative_elbo(lambda *a: math.nan).status == WRONG
