"""vaelib.posteriors: the diagonal Laplace against torch.distributions, scipy (quadrature, KS test) and Monte Carlo."""
from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate, stats
from torch.distributions import Laplace, Normal

from vaelib.data import pixels
from vaelib.evaluate import evaluate
from vaelib.losses import elbo_terms, std_normal_log_prob
from vaelib.models import ModelConfig, build_model
from vaelib.posteriors import DiagonalLaplace, entropy_gap_gaussian_laplace, kl_laplace_std_normal

from conftest import F64, gen


def example(B: int = 4, D: int = 3) -> DiagonalLaplace:
    return DiagonalLaplace(torch.randn(B, D, generator=gen(1), dtype=F64),
                           torch.randn(B, D, generator=gen(2), dtype=F64))


def test_log_prob_and_entropy_match_torch_distributions():
    q = example()
    scale = (q.logvar.exp() / 2).sqrt()  # Var = 2 b^2 = exp(logvar)
    ref = Laplace(q.mu, scale)
    z = torch.randn(5, 4, 3, generator=gen(3), dtype=F64)
    assert torch.allclose(q.log_prob(z), ref.log_prob(z).sum(-1), atol=1e-12)
    assert torch.allclose(q.entropy(), ref.entropy().sum(-1), atol=1e-12)
    assert torch.allclose(ref.variance, q.logvar.exp())


def test_samples_are_laplace_and_reparameterized():
    q = DiagonalLaplace(torch.tensor([[0.7]], dtype=F64), torch.tensor([[math.log(2.5)]], dtype=F64))
    z = q.rsample(20_000, gen(4))[:, 0, 0]
    assert stats.kstest(z.numpy(), stats.laplace(loc=0.7, scale=math.sqrt(2.5 / 2)).cdf).pvalue > 0.01
    mu, logvar = torch.zeros(2, 3, requires_grad=True), torch.zeros(2, 3, requires_grad=True)
    DiagonalLaplace(mu, logvar).rsample(generator=gen(5)).sum().backward()
    assert torch.allclose(mu.grad, torch.ones(2, 3)) and logvar.grad.abs().sum() > 0  # z = mu + b * noise
    assert torch.equal(q.rsample(3, gen(6)), q.rsample(3, gen(6)))


def test_kl_to_standard_normal_matches_quadrature_and_monte_carlo():
    for m, lv in ((0.0, 0.0), (1.3, -1.0), (-0.4, 1.5)):
        b = math.sqrt(math.exp(lv) / 2)
        integrand = lambda z: stats.laplace.pdf(z, m, b) * (stats.laplace.logpdf(z, m, b) - stats.norm.logpdf(z))  # noqa: E731
        quad = integrate.quad(integrand, m, m + 60)[0] + integrate.quad(integrand, m - 60, m)[0]  # tails < e^-40
        ours = kl_laplace_std_normal(torch.tensor([m], dtype=F64), torch.tensor([lv], dtype=F64)).item()
        assert math.isclose(ours, quad, rel_tol=1e-7, abs_tol=1e-9)
    q = example()
    z = q.rsample(200_000, gen(7))
    mc = q.log_prob(z) - std_normal_log_prob(z)  # (n, B)
    se = mc.std(0) / math.sqrt(len(z))
    assert ((mc.mean(0) - kl_laplace_std_normal(q.mu, q.logvar)).abs() < 5 * se).all()


def test_entropy_gap_to_the_gaussian_at_equal_variance():
    logvar = torch.linspace(-3, 3, 7, dtype=F64)
    gauss = Normal(0.0, (0.5 * logvar).exp()).entropy()
    laplace = DiagonalLaplace(torch.zeros(7, 1, dtype=F64), logvar[:, None]).entropy()
    assert torch.allclose(gauss - laplace, torch.full((7,), entropy_gap_gaussian_laplace(), dtype=F64), atol=1e-12)
    assert 0.07 < entropy_gap_gaussian_laplace() < 0.075


@pytest.mark.parametrize("prior", ["standard", "mog"])
def test_laplace_vae_trains_through_the_usual_elbo_and_evaluation(mnist, prior):
    model = build_model(ModelConfig(latent_dim=3, hidden=(16,), latent="laplace", prior=prior, n_components=4))
    x = pixels(mnist.test_x[:20], True, gen(8))
    post = model.encode(x)
    assert isinstance(post, DiagonalLaplace)
    terms = elbo_terms(model, x, gen(9))
    if prior == "standard":
        assert torch.allclose(terms.kl, kl_laplace_std_normal(post.mu, post.logvar))  # the closed form
    terms.elbo.mean().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())
    out = evaluate(model, mnist.test_x[:20], k=20, seed=1, batch_size=10)
    assert out["log_px"] > out["elbo"] - 1.0  # IWAE_20 is (up to noise) above the ELBO
