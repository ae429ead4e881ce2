"""vaelib.expost against scipy.stats, scikit-learn, numpy's moments, brute-force sums and Monte Carlo (float64)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from scipy.stats import t as student_t
from sklearn.mixture import GaussianMixture
from torch.distributions import MultivariateNormal, kl_divergence

from vaelib.expost import (
    GaussianMixtureDensity,
    fit_gaussian,
    fit_kde,
    fit_mixture,
    fit_student_t,
    gaussian_expected_kl,
    heldout_loglik,
    select_kde,
    select_mixture,
)

from conftest import F64, gen


def random_spd(D: int, seed: int) -> torch.Tensor:
    a = torch.randn(D, D, generator=gen(seed), dtype=F64)
    return a @ a.T + 0.3 * torch.eye(D, dtype=F64)


def random_mixture(K: int = 3, D: int = 4, seed: int = 0, spread: float = 3.0) -> GaussianMixtureDensity:
    g = gen(seed)
    w = torch.rand(K, generator=g, dtype=F64) + 0.2
    covs = torch.stack([random_spd(D, seed + 10 + k) for k in range(K)])
    return GaussianMixtureDensity((w / w.sum()).log(), spread * torch.randn(K, D, generator=g, dtype=F64),
                                  torch.linalg.cholesky(covs))


def scipy_mixture_logpdf(m: GaussianMixtureDensity, z: np.ndarray) -> np.ndarray:
    covs = (m.chol @ m.chol.transpose(1, 2)).numpy()
    comps = [multivariate_normal(m.means[k].numpy(), covs[k]).logpdf(z) for k in range(m.n_components)]
    return logsumexp(np.stack(comps, 1) + m.log_weights.numpy(), axis=1)


def test_mixture_log_prob_matches_scipy_in_row_blocks():
    m = random_mixture()
    z = 2 * torch.randn(50, 4, generator=gen(1), dtype=F64)
    ours = m.log_prob(z, rows=7)  # several blocks, one partial
    assert torch.allclose(ours, torch.from_numpy(scipy_mixture_logpdf(m, z.numpy())), atol=1e-10, rtol=0)
    assert m.n_parameters == 2 + 3 * 4 + 3 * 10


def test_fit_gaussian_is_the_maximum_likelihood_gaussian():
    z = torch.randn(300, 5, generator=gen(2), dtype=F64) @ random_spd(5, 3) + 1.5
    g = fit_gaussian(z, ridge=0.0)
    cov = np.cov(z.numpy(), rowvar=False, bias=True)  # the MLE divides by N
    assert torch.allclose(g.means[0], z.mean(0)) and np.allclose((g.chol[0] @ g.chol[0].T).numpy(), cov, atol=1e-12)
    ref = multivariate_normal(z.mean(0).numpy(), cov).logpdf(z.numpy())
    assert np.allclose(g.log_prob(z).numpy(), ref, atol=1e-10)
    # it is the maximum: any other mean or a rescaled covariance fits the training codes worse
    worse = GaussianMixtureDensity(g.log_weights, g.means + 0.05, g.chol)
    assert g.log_prob(z).mean() > worse.log_prob(z).mean()
    assert g.log_prob(z).mean() > GaussianMixtureDensity(g.log_weights, g.means, 1.05 * g.chol).log_prob(z).mean()


def test_fit_gaussian_with_fewer_codes_than_dimensions_is_still_a_density():
    z = torch.randn(3, 6, generator=gen(4), dtype=F64)
    assert torch.isfinite(fit_gaussian(z).log_prob(z)).all()


def test_fit_mixture_maps_standardized_fit_back_exactly():
    truth = random_mixture(K=2, D=3, seed=5)
    z = truth.sample(2000, gen(6)) * torch.tensor([10.0, 0.1, 1.0], dtype=F64)  # very different scales
    m = fit_mixture(z, 2, seed=0)
    shift, scale = z.mean(0), z.std(0)
    sk = GaussianMixture(2, covariance_type="full", reg_covar=1e-6, max_iter=200, random_state=0)
    sk.fit(((z - shift) / scale).numpy())
    expected = sk.score_samples(((z - shift) / scale).numpy()) - scale.log().sum().item()  # change of variables
    assert np.allclose(m.log_prob(z).numpy(), expected, atol=1e-8)


def test_sample_has_the_mixture_weights_and_moments_and_is_seeded():
    m = random_mixture(K=3, D=2, seed=7)
    n = 40_000
    z = m.sample(n, gen(8))
    assert torch.equal(z, m.sample(n, gen(8))) and z.dtype == F64
    w = m.log_weights.exp()
    covs = m.chol @ m.chol.transpose(1, 2)
    mean = (w[:, None] * m.means).sum(0)
    cov = (w[:, None, None] * (covs + m.means[:, :, None] * m.means[:, None, :])).sum(0) - torch.outer(mean, mean)
    se = (cov.diagonal() / n).sqrt()
    assert ((z.mean(0) - mean).abs() < 5 * se).all()
    assert torch.allclose(torch.from_numpy(np.cov(z.numpy(), rowvar=False)), cov, rtol=0.05)
    # the draws are in random component order (scikit-learn's sample() sorts them by component)
    first = (z[:100, None, :] - m.means).norm(dim=-1).argmin(1)
    assert len(first.unique()) == 3


def test_select_mixture_prefers_the_true_number_of_well_separated_components():
    base = random_mixture(K=3, D=2, seed=9)
    truth = GaussianMixtureDensity(base.log_weights, torch.tensor([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]], dtype=F64),
                                   base.chol)  # three components far apart
    train, val = truth.sample(3000, gen(10)), truth.sample(2000, gen(11))
    sel = select_mixture(train, val, components=(1, 2, 3, 6, 2000))  # K = 2000 has < D + 1 codes each: skipped
    ks = [row["n_components"] for row in sel.table]
    lls = {row["n_components"]: row["val_loglik"] for row in sel.table}
    assert ks == [1, 2, 3, 6] and sel.density.n_components in (3, 6)
    se = max(row["val_loglik_se"] for row in sel.table)
    assert lls[3] > lls[2] + 4 * se and lls[2] > lls[1] + 4 * se  # a missing component costs far more than the SE
    test = truth.sample(4000, gen(12))
    ll, se = heldout_loglik(sel.density, test)
    true_ll, _ = heldout_loglik(truth, test)
    assert abs(ll - true_ll) < 0.05 and se > 0  # close to the true density on fresh codes


def test_kde_is_the_average_of_gaussian_kernels_with_the_codes_covariance():
    codes = torch.randn(40, 3, generator=gen(13), dtype=F64) @ random_spd(3, 14) + 2
    h = 0.4
    kde = fit_kde(codes, h)
    z = torch.randn(25, 3, generator=gen(15), dtype=F64) * 3 + 2
    cov = np.cov(codes.numpy(), rowvar=False, bias=True) * h ** 2  # kernel covariance h^2 Sigma
    brute = logsumexp([multivariate_normal(c, cov).logpdf(z.numpy()) for c in codes.numpy()], axis=0) - math.log(40)
    assert np.allclose(kde.log_prob(z).numpy(), brute, atol=1e-5)  # fit_gaussian's 1e-6 ridge: ~1e-6 relative


def test_kde_samples_have_the_smoothed_moments():
    codes = torch.randn(500, 2, generator=gen(16), dtype=F64) @ random_spd(2, 17)
    kde, n = fit_kde(codes, 0.5), 50_000
    z = kde.sample(n, gen(18))
    sigma = torch.from_numpy(np.cov(codes.numpy(), rowvar=False, bias=True))
    assert ((z.mean(0) - codes.mean(0)).abs() < 5 * (1.25 * sigma.diagonal() / n).sqrt()).all()
    white = torch.linalg.inv(torch.linalg.cholesky(sigma))
    emp = white @ torch.from_numpy(np.cov(z.numpy(), rowvar=False)) @ white.T
    assert torch.allclose(emp, 1.25 * torch.eye(2, dtype=F64), atol=0.03)  # (1 + h^2) Sigma


def test_select_kde_picks_a_middle_bandwidth():
    truth = random_mixture(K=2, D=2, seed=19)
    sel = select_kde(truth.sample(1000, gen(20)), truth.sample(1000, gen(21)), bandwidths=(0.01, 0.2, 5.0))
    assert sel.density.bandwidth == 0.2  # too narrow overfits, too wide blurs the two components into one


@pytest.mark.parametrize("D, n", [(2, 10), (5, 30)])
def test_gaussian_expected_kl_matches_monte_carlo_over_fits(D, n):
    cov, reps = random_spd(D, 22), 4000
    z = torch.randn(reps, n, D, generator=gen(23), dtype=F64) @ torch.linalg.cholesky(cov).T  # reps data sets
    means = z.mean(1)
    covs = (z - means[:, None]).transpose(1, 2) @ (z - means[:, None]) / n  # the MLE, as fit_gaussian (ridge 0)
    kls = kl_divergence(MultivariateNormal(torch.zeros(D, dtype=F64), cov), MultivariateNormal(means, covs))  # (reps,)
    mc, se = kls.mean().item(), kls.std().item() / math.sqrt(reps)
    assert abs(mc - gaussian_expected_kl(D, n)) < 4 * se
    one = fit_gaussian(z[0], ridge=0.0)
    assert torch.allclose(one.chol[0] @ one.chol[0].T, covs[0]) and torch.allclose(one.means[0], means[0])


def test_gaussian_expected_kl_tends_to_parameters_over_2n_and_rejects_tiny_n():
    for D in (2, 10, 20):
        p, n = D + D * (D + 1) / 2, 1_000_000
        assert math.isclose(gaussian_expected_kl(D, n), p / (2 * n), rel_tol=1e-3)
    with pytest.raises(ValueError, match="n <= D"):
        gaussian_expected_kl(5, 7)


@pytest.mark.parametrize("df,loc,scale", [(0.8, 0.0, 0.01), (3.0, -0.2, 0.05), (30.0, 1.0, 2.0)])
def test_fit_student_t_reaches_scipys_maximum_likelihood(df, loc, scale):
    x = student_t.rvs(df, loc, scale, size=2000, random_state=np.random.default_rng(int(df * 10)))
    ours = fit_student_t(torch.from_numpy(x))
    ref = student_t.fit(x)  # (df, loc, scale), Nelder-Mead on the same likelihood
    ll_ours = ours.log_prob(torch.from_numpy(x)).mean().item()
    ll_ref = student_t.logpdf(x, *ref).mean()
    assert ll_ours >= ll_ref - 1e-7  # at least as high a likelihood as scipy's optimum
    assert math.isclose(ll_ours, student_t.logpdf(x, ours.df.item(), ours.loc.item(), ours.scale.item()).mean(),
                        rel_tol=1e-12, abs_tol=1e-12)
    assert abs(ours.loc.item() - loc) < 5 * scale / math.sqrt(2000) * 3
    assert abs(math.log(ours.scale.item() / scale)) < 0.15
