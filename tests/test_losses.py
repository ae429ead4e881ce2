"""vaelib.losses against torch.distributions, Monte Carlo, and an exact linear-Gaussian model (float64)."""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vaelib.losses import (
    DiagonalGaussian,
    PointMass,
    bernoulli_log_prob,
    closed_form_kl,
    elbo_terms,
    gaussian_log_prob,
    iwae_log_px,
    kl_diag_gaussians,
    kl_std_normal,
    reduce_batch,
    reparameterize,
    std_normal_log_prob,
)
from vaelib.models import ModelConfig, build_model
from vaelib.toy import LinearGaussian


def rand_gauss(g: torch.Generator, B: int = 64, D: int = 7):
    mu = torch.randn(B, D, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(B, D, generator=g, dtype=torch.float64) * 1.5
    return mu, logvar


def test_kl_std_normal_matches_torch_distributions(g):
    mu, logvar = rand_gauss(g)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(kl_std_normal(mu, logvar), ref, rtol=1e-12, atol=1e-12)


def test_kl_diag_gaussians_matches_torch_distributions_and_reduces_to_std_normal(g):
    mu_q, lv_q = rand_gauss(g)
    mu_p, lv_p = rand_gauss(g)
    q = Independent(Normal(mu_q, (0.5 * lv_q).exp()), 1)
    p = Independent(Normal(mu_p, (0.5 * lv_p).exp()), 1)
    assert torch.allclose(kl_diag_gaussians(mu_q, lv_q, mu_p, lv_p), kl_divergence(q, p), rtol=1e-12, atol=1e-10)
    zeros = torch.zeros_like(mu_q)
    assert torch.allclose(kl_diag_gaussians(mu_q, lv_q, zeros, zeros), kl_std_normal(mu_q, lv_q))


def test_kl_closed_form_agrees_with_monte_carlo_within_error(g):
    mu, logvar = rand_gauss(g, B=4, D=3)
    n = 200_000
    z = reparameterize(mu, logvar, g, n_samples=n)  # (n, 4, 3)
    samples = gaussian_log_prob(z, mu, logvar) - std_normal_log_prob(z)  # (n, 4)
    est, se = samples.mean(0), samples.std(0) / math.sqrt(n)
    assert ((est - kl_std_normal(mu, logvar)).abs() < 5 * se).all()


def test_gaussian_log_prob_matches_torch_distributions(g):
    mu, logvar = rand_gauss(g)
    z = torch.randn(3, *mu.shape, generator=g, dtype=torch.float64)
    ref = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    assert torch.allclose(gaussian_log_prob(z, mu, logvar), ref)
    assert torch.allclose(std_normal_log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_bernoulli_log_prob_matches_torch_and_is_stable_for_extreme_logits(g):
    logits = torch.randn(16, 784, generator=g, dtype=torch.float64) * 5
    x = torch.bernoulli(torch.sigmoid(logits), generator=g)
    assert torch.allclose(bernoulli_log_prob(logits, x), Bernoulli(logits=logits).log_prob(x).sum(-1))
    extreme = torch.full((2, 784), 200.0, dtype=torch.float64)
    lp = bernoulli_log_prob(extreme, torch.zeros(2, 784, dtype=torch.float64))
    assert torch.isfinite(lp).all() and torch.allclose(lp, torch.full((2,), -200.0 * 784, dtype=torch.float64))


def test_reparameterize_has_the_right_moments(g):
    mu, logvar = torch.tensor([[1.5, -2.0]]), torch.tensor([[0.0, math.log(0.25)]])
    z = reparameterize(mu, logvar, g, n_samples=200_000)  # (n, 1, 2)
    assert torch.allclose(z.mean(0), mu, atol=0.01)
    assert torch.allclose(z.std(0), (0.5 * logvar).exp(), atol=0.01)


def test_elbo_terms_per_example_and_equal_to_log_px_when_q_is_the_posterior(g):
    model = LinearGaussian.random(P=3, D=1, s=0.7)  # D=1: the exact posterior is in the q family
    x = model.sample(8, g)
    reps = 20_000
    xr = x.repeat(reps, 1)
    terms = elbo_terms(model, xr, g)
    assert terms.elbo.shape == (8 * reps,)
    assert torch.allclose(terms.elbo, -terms.recon - terms.kl)
    est = terms.elbo.view(reps, 8)
    assert ((est.mean(0) - model.log_px(x)).abs() < 5 * est.std(0) / math.sqrt(reps)).all()


def test_mc_kl_and_closed_form_kl_agree_in_expectation(g):
    model = LinearGaussian.random(P=4, D=2, mean_shift=0.3, logvar_shift=0.5)
    x = model.sample(4, g).repeat(50_000, 1)
    closed, mc = elbo_terms(model, x, g, kl="closed"), elbo_terms(model, x, g, kl="mc")
    diff = mc.kl - closed.kl
    assert diff.mean().abs() < 5 * diff.std() / math.sqrt(len(diff))


def test_reduce_batch_is_explicit():
    v = torch.arange(6.0)
    assert reduce_batch(v, "sum") == 15.0 and reduce_batch(v, "mean") == 2.5
    with pytest.raises(ValueError, match="Unknown reduction"):
        reduce_batch(v, "median")  # type: ignore[arg-type]


def test_iwae_is_exact_when_q_is_the_posterior(g):
    model = LinearGaussian.random(P=5, D=1)
    x = model.sample(10, g)
    assert torch.allclose(iwae_log_px(model, x, k=7, generator=g), model.log_px(x), atol=1e-10)


def test_elbo_le_iwae_k_le_log_px_and_iwae_rises_with_k(g):
    model = LinearGaussian.random(P=6, D=3, s=0.5, mean_shift=0.4, logvar_shift=-0.7)  # a poor q
    x = model.sample(400, g)
    log_px = model.log_px(x).mean().item()
    elbo = elbo_terms(model, x.repeat(200, 1), g).elbo.view(200, -1).mean(0)  # (400,) accurate ELBO
    means, ses = [elbo.mean().item()], [elbo.std().item() / 20]
    for k in (10, 100, 1000):
        est = iwae_log_px(model, x, k, g)
        means.append(est.mean().item())
        ses.append(est.std().item() / 20)
    for (a, sa), (b, sb) in zip(zip(means, ses), zip(means[1:] + [log_px], ses[1:] + [0.0])):
        assert a < b + 3 * math.hypot(sa, sb), (means, log_px)  # ELBO <= IWAE_10 <= ... <= log p(x)
    assert means[0] + 1.0 < means[1] < means[3]  # the gap is large for ELBO and shrinks with k
    assert log_px - means[3] < 0.25 * (log_px - means[0])


def test_iwae_memory_is_bounded_at_k_5000(g):
    model = build_model(ModelConfig(latent_dim=4, hidden=(32,)))
    rows = []
    original = model.decode
    model.decode = lambda z: (rows.append(z[..., 0].numel()), original(z))[1]  # type: ignore[method-assign]
    x = torch.bernoulli(torch.full((20, 784), 0.3), generator=g)
    est = iwae_log_px(model, x, k=5000, generator=g, max_rows=10_000)
    assert est.shape == (20,) and torch.isfinite(est).all()
    assert max(rows) <= 10_000 and sum(rows) == 5000 * 20


def test_bernoulli_log_prob_broadcasts_x_over_sample_dims(g):
    logits = torch.randn(5, 3, 784, generator=g, dtype=torch.float64)  # (k, B, 784)
    x = torch.bernoulli(torch.full((3, 784), 0.4, dtype=torch.float64), generator=g)  # (B, 784)
    ref = Bernoulli(logits=logits).log_prob(x.expand(5, 3, 784)).sum(-1)
    assert torch.allclose(bernoulli_log_prob(logits, x), ref)
    assert torch.allclose(bernoulli_log_prob(logits[0], x.expand(5, 3, 784)), ref[0].expand(5, 3))


def test_closed_form_kl_defaults_to_the_gaussian_one_and_defers_to_a_models_own(g):
    mu, logvar = rand_gauss(g, B=5, D=4)
    post = DiagonalGaussian(mu, logvar)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(closed_form_kl(LinearGaussian.random(P=3, D=4), post), ref, rtol=1e-12)  # no closed_kl

    class OwnKL:
        def closed_kl(self, q):
            return torch.full((5,), 7.0)

    assert torch.equal(closed_form_kl(OwnKL(), post), torch.full((5,), 7.0))


def test_point_mass_samples_its_code_has_no_density_and_no_kl(g):
    z = torch.randn(3, 2, generator=g)
    q = PointMass(z)
    assert q.rsample() is z and torch.equal(q.rsample(4), z.expand(4, 3, 2)) and q.params() == (z,)
    with pytest.raises(ValueError, match="has no density"):
        q.log_prob(z)
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,), latent="deterministic"))
    x = torch.bernoulli(torch.full((3, 784), 0.3), generator=g)
    terms = elbo_terms(model, x, g)
    assert torch.equal(terms.kl, torch.zeros(3)) and torch.equal(terms.z, model.encode(x).z)
    assert torch.allclose(terms.recon, -bernoulli_log_prob(model.decode(terms.z), x))
