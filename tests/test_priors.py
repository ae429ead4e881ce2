"""vaelib.priors against torch.distributions, closed forms, and numerical integration (float64)."""
from __future__ import annotations

import math

import torch
from torch import nn

from vaelib.losses import DiagonalGaussian, kl_std_normal, mc_kl, reparameterize, std_normal_log_prob
from vaelib.priors import GaussianMixturePrior, VampPrior

from conftest import F64, gen


def linear_encoder(input_dim: int, D: int, seed: int = 0) -> nn.Linear:
    """A tiny float64 'encoder' u -> (mu, logvar) for tests: one linear layer, output split in two."""
    torch.manual_seed(seed)
    return nn.Linear(input_dim, 2 * D).double()


def encode_with(layer: nn.Linear):
    return lambda u: tuple(layer(u).chunk(2, dim=-1))


def grid_2d(half_width: float = 10.0, n: int = 401) -> tuple[torch.Tensor, float]:
    t = torch.linspace(-half_width, half_width, n, dtype=F64)
    zz = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)  # (n^2, 2)
    return zz, (t[1] - t[0]).item() ** 2


def test_vampprior_with_one_pseudo_input_mapped_to_the_origin_is_the_standard_normal():
    prior = VampPrior(1, input_dim=784, init=torch.zeros(1, 784, dtype=F64))
    encoder_fn = lambda u: (torch.zeros(u.shape[0], 4, dtype=F64), torch.zeros(u.shape[0], 4, dtype=F64))  # noqa: E731
    z = torch.randn(100, 4, generator=gen(), dtype=F64)
    assert torch.allclose(prior.log_prob(z, encoder_fn), std_normal_log_prob(z))


def test_vampprior_default_init_inputs_in_unit_box_and_shapes():
    prior = VampPrior(7, input_dim=784, init_mean=0.05, init_std=0.01, generator=gen())
    u = prior.pseudo_inputs
    assert u.shape == (7, 784) and abs(u.mean().item() - 0.05) < 0.001 and abs(u.std().item() - 0.01) < 0.001
    prior.pseudo_inputs.data[0, :3] = torch.tensor([-2.0, 0.5, 3.0])  # the hardtanh clips what the encoder sees
    assert prior.inputs()[0, :3].tolist() == [0.0, 0.5, 1.0] and (prior.inputs() >= 0).all()
    layer = linear_encoder(784, 3).float()
    assert prior.log_prob(torch.randn(2, 5, 3), encode_with(layer)).shape == (2, 5)
    assert prior.sample(11, encode_with(layer), gen()).shape == (11, 3)


def test_vampprior_normalizes_on_a_2d_grid():
    layer = linear_encoder(6, 2)
    with torch.no_grad():
        layer.weight[:2].mul_(3.0)  # spread the component means out ...
        layer.weight[2:].mul_(0.3)  # ... and make them narrower than N(0, I)
        layer.bias[2:].fill_(-1.0)
    prior = VampPrior(4, input_dim=6, init=torch.randn(4, 6, generator=gen(), dtype=F64))
    zz, dA = grid_2d()
    mu, logvar = prior.components(encode_with(layer))
    assert (mu.abs() + 6 * (0.5 * logvar).exp()).max() < 10  # all mass inside the grid
    total = prior.log_prob(zz, encode_with(layer)).exp().sum() * dA
    assert abs(total.item() - 1) < 1e-4


def test_gaussian_mixture_prior_normalizes_samples_and_learns():
    prior = GaussianMixturePrior(3, 2, init_scale=2.0, generator=gen()).double()
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([0.0, 1.0, -1.0]))
        prior.logvars.fill_(-1.0)
    zz, dA = grid_2d()
    assert abs((prior.log_prob(zz).exp().sum() * dA).item() - 1) < 1e-4
    z = prior.sample(40_000, gen(1))
    expected = (torch.softmax(prior.logits, 0).unsqueeze(-1) * prior.means).sum(0)
    assert (z.mean(0) - expected).abs().max() < 4 * z.std(0).max() / math.sqrt(40_000)
    prior.log_prob(z[:100]).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in prior.parameters())


def test_mc_kl_is_unbiased_for_the_closed_form_with_the_predicted_variance():
    g = gen()
    mu = torch.randn(4, 3, generator=g, dtype=F64)
    logvar = torch.randn(4, 3, generator=g, dtype=F64)
    n = 100_000
    z = reparameterize(mu, logvar, g, n_samples=n)  # (n, 4, 3)
    samples = mc_kl(DiagonalGaussian(mu, logvar), z, std_normal_log_prob(z))  # (n, 4)
    est, se = samples.mean(0), samples.std(0) / math.sqrt(n)
    assert ((est - kl_std_normal(mu, logvar)).abs() < 4 * se).all()
    var = logvar.exp()
    predicted = ((var - 1).pow(2) / 2 + mu.pow(2) * var).sum(-1)  # the docstring's variance formula
    assert torch.allclose(samples.var(0), predicted, rtol=0.05)


def test_gradients_reach_the_pseudo_inputs_and_the_encoder():
    layer = linear_encoder(10, 2)
    prior = VampPrior(3, input_dim=10, init=torch.rand(3, 10, generator=gen(), dtype=F64))
    x = torch.rand(8, 10, generator=gen(1), dtype=F64)
    mu, logvar = encode_with(layer)(x)
    z = reparameterize(mu, logvar, gen(2))
    kl = mc_kl(DiagonalGaussian(mu, logvar), z, prior.log_prob(z, encode_with(layer)))  # (8,)
    kl.mean().backward()
    assert prior.pseudo_inputs.grad is not None and prior.pseudo_inputs.grad.abs().sum() > 0
    assert layer.weight.grad.abs().sum() > 0
    # the prior's own path alone also reaches the encoder (it shares its parameters)
    layer.zero_grad()
    prior.log_prob(z.detach(), encode_with(layer)).sum().backward()
    assert layer.weight.grad.abs().sum() > 0


def test_vampprior_and_mixture_samples_have_the_component_standard_deviation_not_its_variance():
    # one component N(m, diag s^2) with s = (2, 0.5): variance (4, 0.25), standard deviation (2, 0.5)
    logvar = torch.log(torch.tensor([4.0, 0.25], dtype=F64))
    mean = torch.tensor([1.0, -3.0], dtype=F64)
    vamp = VampPrior(1, input_dim=3, init=torch.zeros(1, 3, dtype=F64))
    encoder_fn = lambda u: (mean.expand(len(u), 2), logvar.expand(len(u), 2))  # noqa: E731
    mog = GaussianMixturePrior(1, 2).double()
    with torch.no_grad():
        mog.means.copy_(mean[None])
        mog.logvars.copy_(logvar[None])
    n = 40_000
    for z in (vamp.sample(n, encoder_fn, gen(3)), mog.sample(n, gen(4))):
        # sample std of a Normal: SE ~ s / sqrt(2n) = 0.35% of s; 3% is far outside it and far from s^2
        assert torch.allclose(z.std(0), torch.tensor([2.0, 0.5], dtype=F64), rtol=0.03)
        assert torch.allclose(z.mean(0), mean, atol=4 * 2.0 / math.sqrt(n))
