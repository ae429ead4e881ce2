"""Notebook 01's checks against answers written another way (in place, NumPy, float32, a loop) and against wrong
answers that pass one input set (a size written as a number, inputs changed in place, NaN, a rebound x_new).
The stub/solution/usual-mistake tests of notebook 01 live in test_exercises.py."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import Normal

from vaelib.exercises import nb01
from vaelib.exercises.core import PASSED, WRONG

A, B, S, X = 1.5, 0.5, 0.8, -1.0  # notebook 01's model and x'
MEAN, STD = A * (X - B) / (A**2 + S**2), S / math.sqrt(A**2 + S**2)


def test_posterior_other_forms_pass_and_a_rebound_x_new_fails():
    kw = dict(x=torch.tensor([[X]], dtype=torch.float64), a=A, b=B, s=S)
    assert nb01.check_posterior(np.float32(MEAN), torch.tensor(STD, dtype=torch.float32), **kw).status == PASSED
    assert nb01.check_posterior(torch.tensor([MEAN]), np.float64(STD), **kw).status == PASSED
    x2 = 2.0  # an answer that rebinds x_new to match a wrong mean
    fb = nb01.check_posterior(A * (x2 - B) / (A**2 + S**2), STD, x=x2, a=A, b=B, s=S)
    assert fb.status == WRONG and "`x_new`" in fb.message
    assert nb01.check_posterior(MEAN, STD, x=X, a=1.0, b=B, s=S).status == WRONG  # a rebound a
    assert nb01.check_posterior(math.nan, STD, **kw).status == WRONG
    assert nb01.check_posterior(MEAN, math.inf, **kw).status == WRONG


def elbo_loop(model, x, mu, logvar, eps):  # one sample at a time, KL from torch.distributions
    q, p = Normal(mu, (logvar / 2).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))
    recon = sum(model.log_px_given_z(x, mu + (logvar / 2).exp() * e) for e in eps) / len(eps)
    return recon - torch.distributions.kl_divergence(q, p).sum(-1)


def test_elbo_estimate_other_correct_answers_pass_and_shortcuts_fail():
    def in_place(model, x, mu, logvar, eps):  # changes its own inputs after using them
        kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)
        z = eps.mul_(logvar.div_(2).exp_()).add_(mu)
        return model.log_px_given_z(x, z).mean(0) - kl

    assert nb01.check_elbo_estimate(elbo_loop).status == PASSED
    assert nb01.check_elbo_estimate(in_place).status == PASSED
    assert nb01.check_elbo_estimate(lambda *a: elbo_loop(*a).float().numpy()).status == PASSED

    def tamper(model, x, mu, logvar, eps):  # zero mu, logvar and eps, then answer what the zeros would give
        mu.zero_(), logvar.zero_(), eps.zero_()
        return model.log_px_given_z(x, torch.zeros_like(eps)).mean(0)

    assert nb01.check_elbo_estimate(tamper).status == WRONG
    fb = nb01.check_elbo_estimate(lambda model, x, mu, lv, eps: elbo_loop(model, x, mu, lv, eps) + (len(eps) - 5))
    assert fb.status == WRONG and "second one drawn now" in fb.message  # n = 5 written in
    assert nb01.check_elbo_estimate(lambda *a: elbo_loop(*a) * math.nan).status == WRONG


def test_iwae_other_correct_answers_pass_and_shortcuts_fail():
    def by_max(log_w):  # the max trick by hand, as a NumPy array
        m = log_w.max(0).values
        return (m + torch.log(torch.exp(log_w - m).mean(0))).numpy()

    assert nb01.check_iwae_bound(by_max).status == PASSED
    assert nb01.check_iwae_bound(lambda lw: (torch.logsumexp(lw, 0) - math.log(len(lw))).float()).status == PASSED
    fb = nb01.check_iwae_bound(lambda lw: torch.logsumexp(lw, 0) - math.log(6))  # k = 6 written in
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb01.check_iwae_bound(lambda lw: torch.logsumexp(lw, 0) * math.nan).status == WRONG

    def tamper(log_w):
        log_w.zero_()
        return torch.zeros(log_w.shape[1], dtype=torch.float64)

    assert nb01.check_iwae_bound(tamper).status == WRONG


def test_gradient_ascent_judged_at_the_notebooks_x_new():
    post_logvar = math.log(STD**2)
    assert nb01.check_gradient_ascent(torch.tensor([[MEAN]]), np.float64(post_logvar), x=X, a=A, b=B, s=S).passed
    fb = nb01.check_gradient_ascent(A * (2.0 - B) / (A**2 + S**2), post_logvar, x=2.0, a=A, b=B, s=S)
    assert fb.status == WRONG and "`x_new`" in fb.message
    assert nb01.check_gradient_ascent(math.inf, post_logvar, x=X, a=A, b=B, s=S).status == WRONG
