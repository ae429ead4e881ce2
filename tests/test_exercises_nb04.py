"""Notebook 04's exercise checks: the stub is "not attempted", the reference solution passes, each usual mistake
gets its hint, and learner code that raises is reported, never raised. The solutions here are written
independently of the checks (elementwise formulas, scipy's logsumexp on NumPy arrays) and are the trusted
references; the IWAE check's exact log p(x) is tested against brute-force importance sampling."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import logsumexp

from vaelib.exercises import nb04
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG


# ------------------------------------------------------------------------------- reference solutions
def log_lik_ref(x_logits, x):
    """x log sigma(l) + (1 - x) log(1 - sigma(l)) = x l - log(1 + e^l), elementwise and stable (log1p of e^-|l|)."""
    xl = x_logits
    softplus = xl.clamp_min(0) + torch.log1p(torch.exp(-xl.abs()))
    return (x * xl - softplus).sum(-1)


def elbo_ref(model, x, eps):
    mu, logvar = model.encode(x).params()
    z = mu + torch.exp(logvar / 2) * eps
    kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)
    return log_lik_ref(model.decode(z), x) - kl


def log_weights(model, x, eps, sigma=lambda lv: torch.exp(lv / 2), q_sigma=None, prior=True, posterior=True,
                at_mu=False):
    """The per-sample log-weights (k, B), with switches that reproduce each usual mistake."""
    mu, logvar = model.encode(x).params()
    z = mu.expand_as(eps) if at_mu else mu + sigma(logvar) * eps
    s = (q_sigma or (lambda lv: torch.exp(lv / 2)))(logvar)
    log_w = log_lik_ref(model.decode(z), x)
    if prior:
        log_w = log_w - 0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    if posterior:
        log_w = log_w + 0.5 * (((z - mu) / s) ** 2 + 2 * torch.log(s) + math.log(2 * math.pi)).sum(-1)
    return log_w


def iwae_ref(model, x, eps):
    """scipy's logsumexp of NumPy log-weights, minus log k."""
    log_w = log_weights(model, x, eps).detach().numpy()
    return torch.from_numpy(logsumexp(log_w, axis=0) - math.log(log_w.shape[0]))


# ------------------------------------------------------------------------------------ 04.log_likelihood
def test_log_likelihood_stub_solution_and_errors():
    assert nb04.check_log_likelihood(lambda xl, x: None).status == NOT_ATTEMPTED
    assert nb04.check_log_likelihood(None).status == NOT_ATTEMPTED
    assert nb04.check_log_likelihood(log_lik_ref).status == PASSED
    assert nb04.check_log_likelihood(lambda xl, x: 1 / 0).status == WRONG


@pytest.mark.parametrize("fn,phrase", [
    (lambda xl, x: log_lik_ref(xl, x) / 784, "averaged over the 784 pixels"),
    (lambda xl, x: -log_lik_ref(xl, x), "binary cross-entropy"),
    (lambda xl, x: -log_lik_ref(xl, x) / 784, "mean binary cross-entropy per pixel"),
    (lambda xl, x: -F.binary_cross_entropy(torch.sigmoid(xl), x, reduction="none").sum(-1), "clamps log 0"),
    (lambda xl, x: -F.binary_cross_entropy_with_logits(torch.sigmoid(xl), x, reduction="none").sum(-1),
     "sigmoid before"),
    (lambda xl, x: -F.binary_cross_entropy_with_logits(x, xl, reduction="none").sum(-1), "swapped"),
    (lambda xl, x: (x * torch.log(torch.sigmoid(xl)) + (1 - x) * torch.log(1 - torch.sigmoid(xl))).sum(-1), "log 0"),
    (lambda xl, x: log_lik_ref(xl, x).sum(), "one number for the whole batch"),
    (lambda xl, x: log_lik_ref(xl.T, x.T), "reduced over the images"),
])
def test_log_likelihood_mistakes_get_their_hints(fn, phrase):
    fb = nb04.check_log_likelihood(fn)
    assert fb.status == WRONG and phrase in fb.message, fb


def test_log_likelihood_reference_is_torch_distributions():
    xl = torch.tensor([[40.0, -40.0, 0.3]], dtype=torch.float64)
    x = torch.tensor([[0.0, 1.0, 1.0]], dtype=torch.float64)
    expected = torch.distributions.Bernoulli(logits=xl).log_prob(x).sum(-1)
    assert torch.allclose(log_lik_ref(xl, x), expected, rtol=1e-12)
    assert abs(expected.item() - (-80.0 + math.log(torch.sigmoid(torch.tensor(0.3)).item()))) < 1e-6  # 40 nats twice


# ------------------------------------------------------------------------------------ 04.elbo_sampled
def test_elbo_sampled_stub_solution_and_errors():
    assert nb04.check_elbo_sampled(lambda m, x, e: None).status == NOT_ATTEMPTED
    assert nb04.check_elbo_sampled(elbo_ref).status == PASSED
    assert nb04.check_elbo_sampled(lambda m, x, e: m.no_such_thing).status == WRONG


def _elbo_variant(z_at_mu=False, sigma_exp=False, kl_log_sigma=False, kl_mean=False, recon_mean=False, kl_sign=1.0,
                  kl_scale=1.0):
    def fn(model, x, eps):
        mu, logvar = model.encode(x).params()
        sigma = logvar.exp() if sigma_exp else torch.exp(logvar / 2)
        z = mu if z_at_mu else mu + sigma * eps
        lv = 2 * logvar if kl_log_sigma else logvar
        per_dim = 0.5 * (mu**2 + lv.exp() - lv - 1)
        kl = per_dim.mean(-1) if kl_mean else per_dim.sum(-1)
        recon = log_lik_ref(model.decode(z), x) / (784 if recon_mean else 1)
        return recon - kl_sign * kl_scale * kl
    return fn


@pytest.mark.parametrize("kwargs,phrase", [
    ({"z_at_mu": True}, "z = μ 'ELBO'"),
    ({"sigma_exp": True}, "σ = exp(logvar)"),
    ({"sigma_exp": True, "kl_log_sigma": True}, "in z and in the KL"),
    ({"kl_log_sigma": True}, "Your KL reads `logvar` as log σ"),
    ({"kl_mean": True}, "averaged the KL"),
    ({"recon_mean": True}, "averaged log p(x|z) over the 784 pixels"),
    ({"kl_sign": -1.0}, "wrong sign"),
    ({"kl_scale": 0.0}, "KL term is missing"),
    ({"kl_scale": 2.0}, "factor ½"),
])
def test_elbo_sampled_mistakes_get_their_hints(kwargs, phrase):
    fb = nb04.check_elbo_sampled(_elbo_variant(**kwargs))
    assert fb.status == WRONG and phrase in fb.message, (kwargs, fb)


def test_elbo_sampled_own_noise_and_batch_mean_are_named():
    fb = nb04.check_elbo_sampled(lambda m, x, e: elbo_ref(m, x, torch.randn_like(e)))
    assert fb.status == WRONG and "different result each time" in fb.message
    fb = nb04.check_elbo_sampled(lambda m, x, e: elbo_ref(m, x, e).mean())
    assert fb.status == WRONG and "one number for the batch" in fb.message


# ----------------------------------------------------------------------------------------- 04.iwae
def test_iwae_stub_solution_and_errors():
    assert nb04.check_iwae(lambda m, x, e: None).status == NOT_ATTEMPTED
    fb = nb04.check_iwae(iwae_ref)
    assert fb.status == PASSED and "k = 100 closes" in fb.message, fb
    assert nb04.check_iwae(lambda m, x, e: [][0]).status == WRONG


def _lse(log_w):
    return torch.logsumexp(log_w, dim=0)


@pytest.mark.parametrize("fn,phrase", [
    (lambda m, x, e: _lse(log_weights(m, x, e)), "−log k is missing"),
    (lambda m, x, e: _lse(log_weights(m, x, e)) + math.log(len(e)), "sign of log k"),
    (lambda m, x, e: log_weights(m, x, e).mean(0), "average log-weight"),
    (lambda m, x, e: log_weights(m, x, e).max(0).values - math.log(len(e)), "largest log-weight"),
    (lambda m, x, e: _lse(log_weights(m, x, e, sigma=torch.exp)) - math.log(len(e)), "σ = exp(logvar) in z"),
    (lambda m, x, e: _lse(log_weights(m, x, e, sigma=torch.exp, q_sigma=torch.exp)) - math.log(len(e)),
     "in z and in log q"),
    (lambda m, x, e: _lse(log_weights(m, x, e, q_sigma=torch.exp)) - math.log(len(e)), "Your log q(z|x) reads"),
    (lambda m, x, e: _lse(log_weights(m, x, e, posterior=False)) - math.log(len(e)), "log q(z|x) is missing"),
    (lambda m, x, e: _lse(log_weights(m, x, e, prior=False)) - math.log(len(e)), "log p(z) (the prior"),
    (lambda m, x, e: _lse(log_weights(m, x, e, at_mu=True)) - math.log(len(e)), "Every sample sits at z = μ"),
    (lambda m, x, e: torch.log(log_weights(m, x, e).exp().mean(0)), "exp(−1000) is 0"),
    (lambda m, x, e: _lse(log_weights(m, x, e).T) - math.log(len(e)), "one value per sample"),
    (lambda m, x, e: iwae_ref(m, x, torch.randn_like(e)), "different result each time"),
])
def test_iwae_mistakes_get_their_hints(fn, phrase):
    fb = nb04.check_iwae(fn)
    assert fb.status == WRONG and phrase in fb.message, fb


def test_exact_model_log_px_is_the_brute_force_importance_sampling_estimate():
    """The quadrature log p(x) of the check's 1-D model against plain Monte Carlo over the prior (200,000 draws)."""
    vae = nb04._tiny_vae(seed=47, latent_dim=1)
    x = nb04._images(vae, 3, seed=48)
    exact = nb04._ExactModel(vae, x).log_px  # (3,)
    z = torch.randn(200_000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        logits = vae.decode(z)  # (M, 784)
        log_lik = (logits @ x.T - F.softplus(logits).sum(-1, keepdim=True)).numpy()  # (M, 3)
    mc = logsumexp(log_lik, axis=0) - math.log(len(z))  # log of the prior average of p(x|z)
    assert np.allclose(exact.numpy(), mc, atol=0.02), (exact, mc)


# ------------------------------------------------------------ answers written another way, and wrong answers that
# pass one input set: a size written as a number, inputs changed in place, NaN
def test_log_likelihood_other_answers_and_shortcuts():
    def in_place(x_logits, x):
        return x.mul_(x_logits).sub_(F.softplus(x_logits)).sum(-1)

    assert nb04.check_log_likelihood(in_place).status == PASSED
    assert nb04.check_log_likelihood(lambda xl, x: (-F.binary_cross_entropy_with_logits(xl, x, reduction="none")
                                                    .sum(-1)).float().numpy()).status == PASSED
    fb = nb04.check_log_likelihood(
        lambda xl, x: log_lik_ref(xl, x)[:3] if len(xl) >= 3 else log_lik_ref(xl, x)[:1].repeat(3))
    assert fb.status == WRONG and "second one drawn now" in fb.message  # B = 3 written in
    assert nb04.check_log_likelihood(lambda xl, x: log_lik_ref(xl, x) * math.nan).status == WRONG

    def tamper(xl, x):  # the image equal to the sign of the logits would make the reference tiny
        x.copy_((xl > 0).double())
        return torch.zeros(len(x), dtype=torch.float64)

    assert nb04.check_log_likelihood(tamper).status == WRONG


def test_elbo_sampled_other_answers_and_shortcuts():
    def torch_dists(model, x, eps):
        q = model.encode(x)
        mu, logvar = q.params()
        normal = torch.distributions.Normal(mu, (logvar / 2).exp())
        kl = torch.distributions.kl_divergence(normal, torch.distributions.Normal(0.0, 1.0)).sum(-1)
        return (model.log_px_given_z(x, mu + normal.scale * eps) - kl).float()

    def in_place(model, x, eps):
        mu, logvar = model.encode(x).params()
        kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)
        return model.log_px_given_z(x, eps.mul_(logvar.div_(2).exp_()).add_(mu)) - kl

    assert nb04.check_elbo_sampled(torch_dists).status == PASSED
    assert nb04.check_elbo_sampled(in_place).status == PASSED
    fb = nb04.check_elbo_sampled(lambda m, x, eps: elbo_ref(m, x, eps)[:4] if len(x) >= 4 else torch.zeros(4))
    assert fb.status == WRONG and "second one drawn now" in fb.message  # B = 4 written in
    assert nb04.check_elbo_sampled(lambda m, x, eps: elbo_ref(m, x, eps) * math.nan).status == WRONG


def test_iwae_other_answers_and_shortcuts():
    def by_max(model, x, eps):  # the max trick by hand, float32 result
        log_w = log_weights(model, x, eps)
        m = log_w.max(0).values
        return (m + torch.log(torch.exp(log_w - m).mean(0))).float()

    assert nb04.check_iwae(by_max).status == PASSED
    fb = nb04.check_iwae(lambda m, x, eps: torch.logsumexp(log_weights(m, x, eps), 0) - math.log(6))  # k = 6 written in
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb04.check_iwae(lambda m, x, eps: iwae_ref(m, x, eps) * math.nan).status == WRONG

    def tamper(model, x, eps):  # eps = 0 everywhere would put every sample at mu
        eps.zero_()
        return iwae_ref(model, x, eps)

    assert nb04.check_iwae(tamper).status == WRONG
