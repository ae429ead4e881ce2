"""vaelib.vmf against scipy Bessel functions, asymptotics, closed forms and Monte Carlo (float64)."""
from __future__ import annotations

import math

import pytest
import torch
from scipy.special import iv

from vaelib.vmf import (
    VonMisesFisher,
    householder_reflect,
    kl_vmf_uniform,
    log_bessel_iv,
    log_sphere_area,
    mean_resultant_length,
    sample_w,
)

from conftest import F64, gen


def random_loc(m: int, seed: int = 1) -> torch.Tensor:
    loc = torch.randn(m, generator=gen(seed), dtype=F64)
    return loc / loc.norm()


@pytest.mark.parametrize("v", [0.0, 0.5, 1.5, 4.0, 9.0])
def test_log_bessel_matches_scipy_where_it_does_not_overflow(v):
    kappa = torch.tensor([1e-3, 0.1, 1.0, 10.0, 100.0, 500.0], dtype=F64)
    ref = torch.tensor(iv(v, kappa.numpy()), dtype=F64).log()
    assert torch.allclose(log_bessel_iv(v, kappa), ref, rtol=1e-10, atol=1e-10)


def test_log_bessel_large_kappa_asymptotics_and_tiny_kappa_series():
    kappa = torch.tensor([1e3, 5e3, 1e4, 1e5], dtype=F64)  # iv overflows beyond ~700
    for v in (0.5, 4.0, 9.0):
        # Hankel: I_v(k) ~ e^k / sqrt(2 pi k) (1 - (mu-1)/(8k) + (mu-1)(mu-9)/(2!(8k)^2) - ...), mu = 4v^2
        mu, t = 4 * v**2, 8 * kappa
        series = 1 - (mu - 1) / t + (mu - 1) * (mu - 9) / (2 * t**2) - (mu - 1) * (mu - 9) * (mu - 25) / (6 * t**3)
        asym = kappa - 0.5 * (2 * math.pi * kappa).log() + series.log()
        out = log_bessel_iv(v, kappa)
        assert torch.isfinite(out).all() and torch.allclose(out, asym, rtol=0, atol=1e-6)
        assert (out - (kappa - 0.5 * (2 * math.pi * kappa).log())).abs().max() < 0.05  # the leading term alone
    tiny = torch.tensor([1e-300, 1e-200], dtype=F64)  # ive underflows: the series' leading term takes over
    assert torch.allclose(log_bessel_iv(9.0, tiny), 9.0 * (tiny / 2).log() - math.lgamma(10.0))


def test_log_bessel_gradient_passes_gradcheck():
    kappa = torch.tensor([1e-2, 0.3, 2.0, 30.0, 800.0, 1e4], dtype=F64, requires_grad=True)
    for v in (0.0, 0.5, 9.0):
        assert torch.autograd.gradcheck(lambda k: log_bessel_iv(v, k), (kappa,), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_householder_maps_e1_to_loc_and_is_orthogonal():
    for m in (2, 3, 10):
        loc = random_loc(m)
        eye = torch.eye(m, dtype=F64)
        H = householder_reflect(eye, loc)  # rows: H e_i; H is symmetric
        assert torch.allclose(H[0], loc)
        assert torch.allclose(H @ H.T, eye, atol=1e-12)
    e1 = torch.eye(3, dtype=F64)[0]
    assert torch.allclose(householder_reflect(torch.eye(3, dtype=F64), e1), torch.eye(3, dtype=F64))


@pytest.mark.parametrize("m,kappa", [(3, 0.5), (3, 50.0), (10, 5.0), (20, 1000.0)])
def test_samples_are_on_the_sphere_with_the_right_mean(m, kappa):
    n = 20_000
    loc = random_loc(m)
    q = VonMisesFisher(loc, torch.tensor([kappa], dtype=F64))
    z = q.sample(n, gen())  # (n, m)
    assert z.shape == (n, m) and torch.allclose(z.norm(dim=-1), torch.ones(n, dtype=F64), atol=1e-10)
    mean = z.mean(0)
    se = z.std(0).norm() / math.sqrt(n)  # error scale of ||mean||
    assert abs(mean.norm() - q.mean_resultant_length()) < 4 * se
    assert (mean - q.mean_resultant_length() * loc).norm() < 5 * se  # direction along loc


def test_batched_rsample_shapes():
    loc = torch.nn.functional.normalize(torch.randn(4, 5, generator=gen(), dtype=F64), dim=-1)
    q = VonMisesFisher(loc, torch.full((4, 1), 3.0, dtype=F64))
    z = q.rsample(7, gen())
    assert z.shape == (7, 4, 5) and q.log_prob(z).shape == (7, 4) and q.entropy().shape == (4,)
    assert VonMisesFisher(loc, torch.full((4,), 3.0, dtype=F64)).rsample(None, gen()).shape == (4, 5)


def test_log_prob_m3_matches_closed_form_and_m2_integrates_to_one():
    loc = random_loc(3)
    for kappa in (0.1, 2.0, 1000.0):
        q = VonMisesFisher(loc, torch.tensor(kappa, dtype=F64))
        x = torch.nn.functional.normalize(torch.randn(50, 3, generator=gen(), dtype=F64), dim=-1)
        log_sinh = kappa + math.log1p(-math.exp(-2 * kappa)) - math.log(2)
        ref = math.log(kappa / (4 * math.pi)) - log_sinh + kappa * (x @ loc)  # kappa/(4 pi sinh kappa) e^{kappa mu.x}
        assert torch.allclose(q.log_prob(x), ref, rtol=1e-10, atol=1e-10)
    theta = torch.linspace(0, 2 * math.pi, 20_001, dtype=F64)[:-1]
    circle = torch.stack([theta.cos(), theta.sin()], -1)
    for kappa in (0.3, 5.0, 80.0):
        q = VonMisesFisher(random_loc(2), torch.tensor(kappa, dtype=F64))
        assert abs(q.log_prob(circle).exp().sum() * (2 * math.pi / 20_000) - 1) < 1e-8


@pytest.mark.parametrize("m", [3, 10, 20])
def test_entropy_and_closed_form_kl_match_monte_carlo(m):
    n = 20_000
    for kappa in (0.5, 10.0, 200.0):
        q = VonMisesFisher(random_loc(m), torch.tensor(kappa, dtype=F64))
        log_q = q.log_prob(q.sample(n, gen(m)))  # (n,)
        se = log_q.std() / math.sqrt(n)
        assert abs(-log_q.mean() - q.entropy()) < 4 * se + 1e-12
        kl_mc = log_q + log_sphere_area(m)  # log q(z) - log u(z), u = 1/area
        assert abs(kl_mc.mean() - kl_vmf_uniform(torch.tensor(kappa, dtype=F64), m)) < 4 * se + 1e-12


def test_kl_is_nonnegative_increasing_and_vanishes_as_kappa_goes_to_zero():
    kappa = torch.tensor([1e-4, 0.1, 1.0, 10.0, 100.0, 1000.0], dtype=F64)
    for m in (3, 5, 10, 20):
        kl = kl_vmf_uniform(kappa, m)
        assert torch.isfinite(kl).all() and (kl >= 0).all() and (kl.diff() > 0).all()
        assert kl[0] < 1e-8 and abs(kl[1] - 0.1**2 / (2 * m)) < 1e-4  # small kappa: KL ~ kappa^2 / (2m)
        # large kappa: q ~ Gaussian with variance 1/kappa on the (m-1)-dim tangent plane
        big = kl_vmf_uniform(torch.tensor(1e4, dtype=F64), m)
        gauss = log_sphere_area(m) - (m - 1) / 2 * math.log(2 * math.pi * math.e / 1e4)
        assert abs(big - gauss) < 0.01 * m
    assert kl_vmf_uniform(torch.tensor([1.0, 100.0]), 10).dtype == torch.float32


def test_mean_resultant_length_and_kl_are_differentiable():
    kappa = torch.tensor([0.05, 1.0, 30.0], dtype=F64, requires_grad=True)
    big = torch.tensor([2000.0, 1e4], dtype=F64, requires_grad=True)  # finite differences too noisy here
    for m in (3, 20):
        assert torch.autograd.gradcheck(lambda k: mean_resultant_length(k, m), (kappa,), eps=1e-6, atol=1e-7)
        assert torch.autograd.gradcheck(lambda k: kl_vmf_uniform(k, m), (kappa,), eps=1e-6, atol=1e-6)
        grad, = torch.autograd.grad(kl_vmf_uniform(big, m).sum(), big)  # KL ~ const + (m-1)/2 log kappa
        assert torch.allclose(grad, (m - 1) / (2 * big), rtol=0.01)
    A = mean_resultant_length(torch.tensor([1e-3, 1e4], dtype=F64), 10)
    assert abs(A[0] - 1e-3 / 10) < 1e-8 and abs(A[1] - (1 - 9 / 2e4)) < 1e-6  # A ~ k/m, and 1 - (m-1)/(2k)


def fd_mean_resultant_length(kappa: float, m: int) -> float:
    h = 1e-4 * kappa
    A = lambda k: mean_resultant_length(torch.tensor(k, dtype=F64), m).item()  # noqa: E731
    return (A(kappa + h) - A(kappa - h)) / (2 * h)


@pytest.mark.parametrize("m,kappa", [(3, 1.0), (3, 10.0), (10, 10.0), (20, 100.0)])
def test_kappa_gradient_through_the_sampler_matches_finite_differences(m, kappa):
    """d/dkappa E[mu.z] = A_m'(kappa): g_rep + g_cor is unbiased; g_rep alone is close for large kappa."""
    k = torch.tensor(kappa, dtype=F64, requires_grad=True)
    w, log_pi = sample_w(k, m, (20_000,), gen(m))
    g_rep, = torch.autograd.grad(w.mean(), k, retain_graph=True)
    g_cor, = torch.autograd.grad(((w - w.mean()).detach() * log_pi).mean(), k)
    ref = fd_mean_resultant_length(kappa, m)
    assert abs(g_rep + g_cor - ref) < 0.03 * ref
    assert abs(g_rep - ref) < 0.3 * ref
    if kappa >= 100:
        assert abs(g_rep - ref) < 0.02 * ref  # ignoring g_cor is harmless for concentrated posteriors
    if m == 3 and kappa == 1.0:
        assert abs(g_rep - ref) > 0.1 * ref  # the documented bias of ignoring g_cor is real


def test_loc_gradient_through_the_sampler_for_a_linear_function():
    """E[c.z] = A c.mu, so d/dp of E[c.z] with mu = p/||p|| is A (I - mu mu^T) c / ||p||."""
    kappa = 4.0
    p = torch.tensor([0.3, -1.2, 0.5, 2.0, 0.1], dtype=F64, requires_grad=True)
    c = torch.tensor([1.0, 2.0, -1.0, 0.5, 0.0], dtype=F64)
    q = VonMisesFisher(p / p.norm(), torch.tensor(kappa, dtype=F64))
    (q.rsample(40_000, gen()) @ c).mean().backward()
    mu = (p / p.norm()).detach()
    ref = q.mean_resultant_length().detach() * (c - (c @ mu) * mu) / p.norm().detach()
    assert torch.allclose(p.grad, ref, atol=0.02)


def test_rsample_gradient_reaches_kappa_and_loc_in_float32():
    loc = torch.nn.functional.normalize(torch.randn(8, 3, generator=gen()), dim=-1).requires_grad_()
    kappa = torch.full((8, 1), 20.0, requires_grad=True)
    z = VonMisesFisher(loc, kappa).rsample(4, gen())
    assert z.dtype == torch.float32
    z[..., 0].sum().backward()
    assert torch.isfinite(loc.grad).all() and torch.isfinite(kappa.grad).all() and kappa.grad.abs().sum() > 0
