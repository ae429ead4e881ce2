"""vaelib.aggregate on cases with known answers: a naive mixture, a degenerate encoder (I = 0), and an
encoder whose aggregate posterior is exactly N(0, I) in the large-N limit (I known in closed form)."""
from __future__ import annotations

import math

import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal, kl_divergence

from vaelib.aggregate import (
    aggregate_moments,
    aggregate_terms,
    gaussian_kl_to_std,
    grid_log_densities,
    marginal_density_1d,
    marginal_kl_1d,
    mmd_test,
)
from vaelib.losses import kl_std_normal
from vaelib.mixture import sample_mixture

from conftest import gen


def random_posteriors(n: int = 50, d: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64) - 1


def test_degenerate_encoder_has_zero_information_and_marginal_kl_equals_avg_kl():
    n, d = 500, 4
    mu = torch.full((n, d), 0.3, dtype=torch.float64)
    logvar = torch.full((n, d), math.log(0.5), dtype=torch.float64)
    t = aggregate_terms(mu, logvar, 2000, gen(3))
    assert abs(t.mi) < 1e-9 and abs(t.mi_loo) < 1e-9  # every posterior is q(z): nothing about x in z
    assert abs(t.marginal_kl - t.avg_kl) < 4 * t.marginal_kl_se + 1e-12
    assert abs(t.gap) < 4 * t.gap_se
    assert abs(t.self_weight - 1 / n) < 1e-9


def test_prior_matching_encoder_recovers_known_information_and_zero_marginal_kl():
    # mu_i ~ N(0, 1 - s^2), q(z|x_i) = N(mu_i, s^2 I)  =>  q(z) -> N(0, I) and I = (D/2) log(1/s^2) as N grows
    n, d, s2 = 10_000, 2, 0.25
    mu = torch.randn(n, d, generator=gen(4), dtype=torch.float64) * math.sqrt(1 - s2)
    logvar = torch.full((n, d), math.log(s2), dtype=torch.float64)
    t = aggregate_terms(mu, logvar, 3000, gen(5))
    i_true = 0.5 * d * math.log(1 / s2)
    assert abs(t.mi - i_true) < 4 * t.mi_se + 0.03
    assert t.marginal_kl > -4 * t.marginal_kl_se and t.marginal_kl < 0.02
    assert abs(t.gap) < 4 * t.gap_se
    assert 0 <= t.mi <= t.log_n
    assert abs(t.avg_kl - i_true) < 4 * t.avg_kl_se + 0.03


def test_information_never_exceeds_log_n_even_for_sharp_posteriors():
    mu, _ = random_posteriors(n=64, d=5)
    logvar = torch.full_like(mu, -12.0)  # far apart, tiny posteriors: I saturates at log N
    t = aggregate_terms(mu * 5, logvar, 500, gen(6))
    assert t.mi <= t.log_n + 1e-9 and abs(t.mi - t.log_n) < 1e-6
    assert t.mi_loo > t.log_n + 10  # without its own component, q(z) barely covers z
    assert abs(t.gap) < 4 * t.gap_se + 1e-9


def test_moments_match_monte_carlo_and_gaussian_kl_matches_torch():
    mu, logvar = random_posteriors(n=30, d=3)
    mean, cov = aggregate_moments(mu, logvar)
    z, _ = sample_mixture(200_000, mu, logvar, generator=gen(7))
    assert torch.allclose(mean, z.mean(0), atol=0.03)
    assert torch.allclose(cov, torch.cov(z.T), atol=0.05)
    ref = kl_divergence(MultivariateNormal(mean, cov), MultivariateNormal(torch.zeros(3, dtype=torch.float64),
                                                                           torch.eye(3, dtype=torch.float64)))
    assert math.isclose(gaussian_kl_to_std(mean, cov), ref.item(), rel_tol=1e-9)


def test_moments_equal_the_exact_mixture_moments_for_a_few_components():
    # q(z) = (1/N) sum_i N(mu_i, diag s_i^2): E z = mean_i mu_i and
    # Cov z = (1/N) sum_i (diag s_i^2 + mu_i mu_i^T) - m m^T exactly (a population of N components, so 1/N,
    # not 1/(N - 1)); few components make the difference large
    mu, logvar = random_posteriors(n=4, d=3, seed=1)
    mean, cov = aggregate_moments(mu, logvar)
    m = sum(mu[i] for i in range(4)) / 4
    second = sum(torch.diag(logvar[i].exp()) + torch.outer(mu[i], mu[i]) for i in range(4)) / 4
    assert torch.allclose(mean, m, atol=1e-12) and torch.allclose(cov, second - torch.outer(m, m), atol=1e-12)
    mixture = MixtureSameFamily(Categorical(logits=torch.zeros(4, dtype=torch.float64)),
                                Independent(Normal(mu, (0.5 * logvar).exp()), 1))
    assert torch.allclose(mean, mixture.mean, atol=1e-12)
    assert torch.allclose(cov.diagonal(), mixture.variance, atol=1e-12)


def test_marginal_kl_lower_bound_by_moment_matched_gaussian():
    mu, logvar = random_posteriors(n=200, d=2)
    t = aggregate_terms(mu, logvar, 4000, gen(8))
    assert t.marginal_kl > gaussian_kl_to_std(*aggregate_moments(mu, logvar)) - 4 * t.marginal_kl_se


def test_marginal_density_and_kl_1d_for_a_single_gaussian():
    mu = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    logvar = torch.tensor([[math.log(0.3), math.log(2.0)]], dtype=torch.float64)
    grid = torch.linspace(-3, 3, 7, dtype=torch.float64)
    assert torch.allclose(marginal_density_1d(mu[:, 0], logvar[:, 0], grid),
                          Normal(0.5, math.sqrt(0.3)).log_prob(grid).exp())
    assert torch.allclose(marginal_kl_1d(mu, logvar), kl_std_normal(mu[0, :, None], logvar[0, :, None]), atol=1e-4)


def test_grid_log_densities_orientation():
    mu = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    t, log_q, log_p = grid_log_densities(mu, torch.full_like(mu, -2.0), lim=3.0, n=31)
    row, col = divmod(int(log_q.argmax()), 31)
    assert abs(t[col] - 2.0) < 1e-9 and abs(t[row]) < 1e-9  # columns index z_1, rows index z_2
    assert int(log_p.argmax()) == 15 * 31 + 15


def test_mmd_same_distribution_not_significant_shifted_significant():
    x = torch.randn(300, 5, generator=gen(9))
    y = torch.randn(300, 5, generator=gen(10))
    same = mmd_test(x, y, n_perm=200, gen=gen(11))
    shifted = mmd_test(x, y + 0.5, n_perm=200, gen=gen(12))
    assert same.p_value > 0.05 and shifted.p_value < 0.01
    assert shifted.mmd2 > 10 * abs(same.mmd2)


def test_mmd_unbiased_estimate_matches_naive_double_loop():
    x = torch.randn(6, 2, generator=gen(13), dtype=torch.float64)
    y = torch.randn(5, 2, generator=gen(14), dtype=torch.float64) + 1
    h = 1.3
    k = lambda a, b: math.exp(-float((a - b).pow(2).sum()) / (2 * h * h))  # noqa: E731
    kxx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
    kyy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    kxy = sum(k(x[i], y[j]) for i in range(6) for j in range(5)) / 30
    assert math.isclose(mmd_test(x, y, n_perm=1, gen=gen(0), bandwidth=h).mmd2, kxx + kyy - 2 * kxy, rel_tol=1e-9)
