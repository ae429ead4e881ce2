"""vaelib.toy's closed forms against torch.distributions and Monte Carlo (float64)."""
from __future__ import annotations

import math

import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vaelib.losses import elbo_terms
from vaelib.toy import LinearGaussian, exact_elbo, kl_to_posterior, linear_gaussian_1d


def test_linear_gaussian_1d_matches_the_scalar_formulas():
    a, b, s = 1.5, 0.5, 0.8
    model = linear_gaussian_1d(a, b, s)
    x = torch.linspace(-3, 4, 11, dtype=torch.float64).unsqueeze(-1)  # (11, 1)
    ref = Normal(torch.tensor(b, dtype=torch.float64), math.sqrt(a**2 + s**2)).log_prob(x[:, 0])
    assert torch.allclose(model.log_px(x), ref, atol=1e-12)
    m, S = model.posterior(x)
    assert torch.allclose(m[:, 0], a * (x[:, 0] - b) / (a**2 + s**2), atol=1e-12)
    assert torch.allclose(S, torch.tensor([[s**2 / (a**2 + s**2)]], dtype=torch.float64), atol=1e-12)


def test_elbo_plus_kl_to_posterior_is_log_px_for_any_q(g):
    model = LinearGaussian.random(P=4, D=3, s=0.6, seed=1)
    x = model.sample(32, g)
    mu = torch.randn(32, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(32, 3, generator=g, dtype=torch.float64)
    kl = kl_to_posterior(model, x, mu, logvar)
    m, S = model.posterior(x)
    q = MultivariateNormal(mu, torch.diag_embed(logvar.exp()))
    assert torch.allclose(kl, kl_divergence(q, MultivariateNormal(m, S)), atol=1e-10)
    assert (kl >= 0).all()
    assert torch.allclose(exact_elbo(model, x, mu, logvar) + kl, model.log_px(x), atol=1e-10)


def test_exact_elbo_agrees_with_the_monte_carlo_elbo_within_error(g):
    model = LinearGaussian.random(P=3, D=2, seed=2, mean_shift=0.5, logvar_shift=0.3)
    x = model.sample(4, g)
    reps = 40_000
    est = elbo_terms(model, x.repeat(reps, 1), g).elbo.view(reps, 4)
    mu, logvar = model.encode(x).params()
    se = est.std(0) / math.sqrt(reps)
    assert ((est.mean(0) - exact_elbo(model, x, mu, logvar)).abs() < 5 * se).all()


def test_exact_elbo_is_log_px_at_the_posterior_in_1d(g):
    model = linear_gaussian_1d(2.0, -1.0, 0.5)
    x = model.sample(16, g)
    mu, logvar = model.encode(x).params()  # no spoilers: q is the exact posterior (D = 1)
    assert torch.allclose(exact_elbo(model, x, mu, logvar), model.log_px(x), atol=1e-12)
    assert torch.allclose(kl_to_posterior(model, x, mu, logvar), torch.zeros(16, dtype=torch.float64), atol=1e-12)
