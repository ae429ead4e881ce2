"""vaelib.gradients against autograd, torch.distributions and closed-form expectations (float64)."""
from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

from vaelib.gradients import (
    Quadratic,
    batch_means,
    pathwise_grad,
    random_quadratic,
    score_function_grad,
    standard_normal,
    total_variance,
    variance_of_batch_mean,
    z_scores,
)

D = 6


def setup(seed: int = 0, dim: int = D):
    g = torch.Generator().manual_seed(seed)
    q = random_quadratic(dim, g)
    mu = torch.randn(dim, generator=g, dtype=torch.float64)
    sigma = 0.5 + torch.rand(dim, generator=g, dtype=torch.float64)
    return g, q, mu, sigma


def test_score_is_autograd_of_normal_log_prob():
    g, q, mu, sigma = setup()
    eps = standard_normal(5, mu, g)
    g_mu, g_sigma = score_function_grad(q, mu, sigma, 5, eps=eps)
    for i in range(5):
        m, s = mu.clone().requires_grad_(), sigma.clone().requires_grad_()
        z = (mu + sigma * eps[i]).detach()
        dm, ds = torch.autograd.grad(Normal(m, s).log_prob(z).sum(), (m, s))
        assert torch.allclose(g_mu[i], q(z) * dm) and torch.allclose(g_sigma[i], q(z) * ds)


def test_pathwise_is_autograd_through_the_sample():
    g, q, mu, sigma = setup()
    eps = standard_normal(5, mu, g)
    g_mu, g_sigma = pathwise_grad(q, mu, sigma, 5, eps=eps)
    for i in range(5):
        m, s = mu.clone().requires_grad_(), sigma.clone().requires_grad_()
        dm, ds = torch.autograd.grad(q(m + s * eps[i]), (m, s))
        assert torch.allclose(g_mu[i], dm) and torch.allclose(g_sigma[i], ds)


def test_quadratic_expectation_and_grad():
    g, q, mu, sigma = setup()
    z = mu + sigma * standard_normal(200_000, mu, g)
    fz = q(z)
    assert abs(fz.mean() - q.expectation(mu, sigma)) < 5 * fz.std() / len(fz) ** 0.5
    m, s = mu.clone().requires_grad_(), sigma.clone().requires_grad_()
    dm, ds = torch.autograd.grad(q.expectation(m, s), (m, s))
    gm, gs = q.grad(mu, sigma)
    assert torch.allclose(gm, dm) and torch.allclose(gs, ds)


@pytest.mark.parametrize("estimator", ["score", "score_loo", "pathwise"])
def test_estimators_are_unbiased(estimator):
    g, q, mu, sigma = setup(1)
    if estimator == "pathwise":
        grads = pathwise_grad(q, mu, sigma, 50_000, g)
    else:
        grads = score_function_grad(q, mu, sigma, 50_000, g, baseline="loo" if "loo" in estimator else "none")
    for est, exact in zip(grads, q.grad(mu, sigma)):
        assert z_scores(est, exact).abs().max() < 5


def test_pathwise_variance_is_much_lower_and_baseline_helps():
    g, q, mu, sigma = setup(2, dim=10)
    plain = score_function_grad(q, mu, sigma, 20_000, g)
    loo = score_function_grad(q, mu, sigma, 20_000, g, baseline="loo")
    path = pathwise_grad(q, mu, sigma, 20_000, g)
    tv = [total_variance(a) + total_variance(b) for a, b in (plain, loo, path)]
    assert tv[0] > tv[1] > 10 * tv[2]


def test_batch_means_and_variance_of_batch_mean_scale_as_one_over_n():
    g = torch.arange(12.0).reshape(6, 2)
    assert torch.equal(batch_means(g, 3), torch.tensor([[2.0, 3.0], [8.0, 9.0]]))
    gen, q, mu, sigma = setup(3)
    v1 = variance_of_batch_mean(pathwise_grad, q, mu, sigma, 1, 20_000, gen)
    v10 = variance_of_batch_mean(pathwise_grad, q, mu, sigma, 10, 4_000, gen)
    assert 7 < v1 / v10 < 14


def test_bad_baseline_raises():
    g, q, mu, sigma = setup()
    with pytest.raises(ValueError):
        score_function_grad(q, mu, sigma, 4, g, baseline="mean")


def test_quadratic_accepts_batches():
    q = Quadratic(A=torch.eye(2), b=torch.ones(2))
    assert torch.allclose(q(torch.tensor([[1.0, 2.0], [0.0, 0.0]])), torch.tensor([8.0, 0.0]))
