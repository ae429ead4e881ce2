"""vaelib.mixture against torch.distributions, a direct sum, brute-force leave-one-out, and analytic moments.

The density forms its quadratic terms in float64 and sums exponentials in float32 after subtracting the
row maximum, so it agrees with float64 references to ~1e-6 nats (tolerance below), not to 1e-12.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from vaelib.mixture import log_mixture_density, sample_mixture

from conftest import F64, gen

TOL = 1e-6


def random_mixture(K: int = 5, D: int = 3, seed: int = 0):
    g = gen(seed)
    return (torch.randn(K, D, generator=g, dtype=F64) * 2, torch.randn(K, D, generator=g, dtype=F64),
            torch.randn(K, generator=g, dtype=F64))


def reference(means, logvars, logits):
    return MixtureSameFamily(Categorical(logits=logits), Independent(Normal(means, (0.5 * logvars).exp()), 1))


def test_density_equals_torch_distributions_with_weights_and_leading_dims():
    means, logvars, logits = random_mixture()
    z = torch.randn(6, 4, 3, generator=gen(1), dtype=F64) * 3  # arbitrary leading dims
    out = log_mixture_density(z, means, logvars, logits)
    assert out.shape == (6, 4) and out.dtype == F64
    assert torch.allclose(out, reference(means, logvars, logits).log_prob(z), atol=TOL, rtol=0)
    comps = Independent(Normal(means, (0.5 * logvars).exp()), 1)
    w = torch.softmax(logits, 0)
    direct = sum(w[k] * comps.log_prob(z.unsqueeze(-2))[..., k].exp() for k in range(len(w))).log()
    assert torch.allclose(out, direct, atol=TOL, rtol=0)


def test_uniform_weights_and_blocking_do_not_change_the_answer():
    means, logvars, _ = random_mixture(K=50)
    z = torch.randn(40, 3, generator=gen(2), dtype=F64) * 2
    ref = reference(means, logvars, torch.zeros(50, dtype=F64)).log_prob(z)
    for rows, chunk in ((7, 7), (40, 50), (2048, 4096), (1, 3)):
        assert torch.allclose(log_mixture_density(z, means, logvars, rows=rows, chunk=chunk), ref, atol=TOL, rtol=0)


def test_leave_one_out_drops_exactly_one_component():
    means, logvars, _ = random_mixture(K=20)
    z, idx = sample_mixture(30, means, logvars, generator=gen(3))
    got = log_mixture_density(z, means, logvars, exclude=idx, chunk=6, rows=7)
    for m in range(len(z)):
        keep = torch.arange(20) != idx[m]
        ref = reference(means[keep], logvars[keep], torch.zeros(19, dtype=F64)).log_prob(z[m])
        assert abs(got[m] - ref) < TOL


def test_far_away_codes_stay_finite_and_float32_inputs_give_float32():
    means, logvars, logits = random_mixture()
    assert torch.isfinite(log_mixture_density(torch.full((1, 3), 1e3, dtype=F64), means, logvars)).all()
    out = log_mixture_density(torch.zeros(2, 3), means.float(), logvars.float())
    assert out.dtype == torch.float32


def test_gradients_match_the_float64_reference():
    means, logvars, logits = (t.clone().requires_grad_() for t in random_mixture())
    z = torch.randn(8, 3, generator=gen(4), dtype=F64)
    log_mixture_density(z, means, logvars, logits).sum().backward()
    got = [t.grad.clone() for t in (means, logvars, logits)]
    for t in (means, logvars, logits):
        t.grad = None
    reference(means, logvars, logits).log_prob(z).sum().backward()
    for a, t in zip(got, (means, logvars, logits)):
        assert torch.allclose(a, t.grad, atol=1e-5, rtol=1e-5)


def test_samples_have_the_mixture_moments_and_weights():
    # mean = sum_k w_k m_k; var_d = sum_k w_k (s_kd^2 + m_kd^2) - mean_d^2 (the std is exp(logvar / 2))
    means = torch.tensor([[-2.0, 0.0], [3.0, 1.0]], dtype=F64)
    logvars = torch.tensor([[0.0, math.log(4.0)], [math.log(0.25), 0.0]], dtype=F64)
    logits = torch.log(torch.tensor([0.3, 0.7], dtype=F64))
    n = 200_000
    z, k = sample_mixture(n, means, logvars, logits, gen(5))
    w = torch.softmax(logits, 0)
    mean = (w[:, None] * means).sum(0)
    var = (w[:, None] * (logvars.exp() + means ** 2)).sum(0) - mean ** 2
    assert torch.allclose(z.mean(0), mean, atol=4 * (var / n).sqrt().max().item())
    assert torch.allclose(z.var(0), var, rtol=0.02)
    assert abs((k == 1).double().mean() - 0.7) < 4 * math.sqrt(0.21 / n)
    within = z[k == 0] - means[0]  # component 0 alone: std (1, 2)
    assert torch.allclose(within.std(0), torch.tensor([1.0, 2.0], dtype=F64), rtol=0.02)
