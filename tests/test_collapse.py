"""vaelib.collapse (notebook 09) against exact references: a model whose encoder outputs the prior and whose decoder
ignores z (KL 0, no active unit, shuffle gap 0, spread 0), a model with known posteriors (KL per dimension from
torch.distributions, activity from NumPy), a two-image model whose shuffle gap is computed by hand, and the
free-bits KL of vaelib.losses with its TrainConfig knob."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from torch.distributions import Normal, kl_divergence

from vaelib.collapse import CollapseReport, derangement, diagnose, sample_spread
from vaelib.losses import DiagonalGaussian, bernoulli_log_prob, free_bits_kl, kl_std_normal
from vaelib.models import ModelConfig, build_model
from vaelib.train import TrainConfig, training_loss

F64 = torch.float64


class LinearVAE:
    """mu = x W_enc + b_enc, a fixed logvar per dimension, decoder logits = z W_dec + b_dec (all float64)."""

    def __init__(self, w_enc, b_enc, logvar, w_dec, b_dec):
        self.w_enc, self.b_enc, self.logvar, self.w_dec, self.b_dec = w_enc, b_enc, logvar, w_dec, b_dec

    def encode(self, x):
        mu = x.to(F64) @ self.w_enc + self.b_enc  # (B, D)
        return DiagonalGaussian(mu, self.logvar.expand_as(mu))

    def decode(self, z):
        return z @ self.w_dec + self.b_dec  # (..., 784)

    def log_px_given_z(self, x, z):
        return bernoulli_log_prob(self.decode(z), x.to(F64))


def images(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 784, generator=g) < 0.3).to(torch.uint8) * 255  # black and white: grey = binary, exactly


def test_a_prior_encoder_and_a_decoder_that_ignores_z_is_fully_collapsed():
    D = 6
    model = LinearVAE(torch.zeros(784, D, dtype=F64), torch.zeros(D, dtype=F64), torch.zeros(D, dtype=F64),
                      torch.zeros(D, 784, dtype=F64), torch.linspace(-2, 2, 784, dtype=F64))
    rep = diagnose(model, images(50), binarized=False)
    assert isinstance(rep, CollapseReport)
    assert torch.equal(rep.kl_per_dim, torch.zeros(D, dtype=F64)) and rep.kl == 0.0
    assert rep.n_active == 0 and rep.shuffle_gap == 0.0 and rep.shuffle_gap_se == 0.0 and rep.sample_spread == 0.0
    assert "0 of 6 units active" in str(rep) and rep.row()["active units"] == "0 of 6"


def test_kl_per_dimension_and_active_units_match_known_posteriors():
    D, N = 5, 300
    g = torch.Generator().manual_seed(3)
    scale = torch.tensor([1e-2, 1e-4, 0.0, 3e-3, 5e-5], dtype=F64)  # dims 2 and 4: mu (nearly) constant in x
    model = LinearVAE(torch.randn(784, D, generator=g, dtype=F64) * scale,
                      torch.tensor([0.0, 0.5, -1.0, 0.0, 0.2], dtype=F64),
                      torch.tensor([-2.0, -0.1, 0.3, -1.0, 0.0], dtype=F64),
                      torch.randn(D, 784, generator=g, dtype=F64), torch.zeros(784, dtype=F64))
    x = images(N, seed=4)
    rep = diagnose(model, x, binarized=False, threshold=0.01)
    mu = x.to(F64) / 255 @ model.w_enc + model.b_enc
    q = Normal(mu, (0.5 * model.logvar).exp().expand_as(mu))
    ref = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).mean(0)  # (D,)
    assert torch.allclose(rep.kl_per_dim.double(), ref, rtol=1e-10, atol=1e-12)
    activity = np.var(mu.numpy(), axis=0, ddof=1)
    assert torch.equal(rep.active, torch.from_numpy(activity > 0.01))
    assert 0 < rep.n_active < D  # the test case has both kinds


def test_the_shuffle_gap_of_two_images_is_the_hand_computed_cross_reconstruction():
    D = 3
    g = torch.Generator().manual_seed(5)
    model = LinearVAE(torch.randn(784, D, generator=g, dtype=F64) * 0.05, torch.zeros(D, dtype=F64),
                      torch.full((D,), -80.0, dtype=F64), torch.randn(D, 784, generator=g, dtype=F64),
                      torch.zeros(784, dtype=F64))  # sigma = e^-40: z = mu to 1e-17
    x = images(2, seed=6)
    rep = diagnose(model, x, binarized=False)
    xs = x.numpy().astype(np.float64) / 255
    mu = xs @ model.w_enc.numpy()

    def recon(img, z):  # -log Bernoulli(img; sigmoid(l)), with log sigmoid(l) = -log1p(e^-l)
        lg = z @ model.w_dec.numpy()
        return float(np.sum(img * np.logaddexp(0, -lg) + (1 - img) * np.logaddexp(0, lg)))

    own = (recon(xs[0], mu[0]) + recon(xs[1], mu[1])) / 2
    cross = (recon(xs[0], mu[1]) + recon(xs[1], mu[0])) / 2  # the only derangement of two
    assert rep.recon_own == pytest.approx(own, rel=1e-9) and rep.recon_shuffled == pytest.approx(cross, rel=1e-9)
    assert rep.shuffle_gap == pytest.approx(cross - own, rel=1e-8) and rep.shuffle_gap > 1.0


def test_derangement_is_a_random_permutation_without_fixed_points():
    for n in (2, 3, 17, 100):
        idx = derangement(n, torch.Generator().manual_seed(n))
        assert torch.equal(idx.sort().values, torch.arange(n)) and not (idx == torch.arange(n)).any()
    draws = {tuple(derangement(8, torch.Generator().manual_seed(s)).tolist()) for s in range(10)}
    assert len(draws) > 5  # random, not one fixed roll
    with pytest.raises(ValueError, match="n must be >= 2"):
        derangement(1)


def test_sample_spread_is_scipys_mean_pairwise_distance():
    p = torch.rand(30, 784, generator=torch.Generator().manual_seed(8))
    assert sample_spread(p) == pytest.approx(pdist(p.double().numpy()).mean(), rel=1e-12)


def test_free_bits_kl_is_the_clamped_batch_kl_with_no_gradient_below_the_threshold():
    g = torch.Generator().manual_seed(9)
    B, D, lam = 64, 6, 0.5
    mu = (torch.randn(B, D, generator=g, dtype=F64) * torch.tensor([2.0, 0.05, 1.0, 0.01, 0.6, 0.0])).requires_grad_()
    logvar = (torch.randn(B, D, generator=g, dtype=F64) * 0.1 + torch.tensor([-3.0, 0.0, -1.0, 0.0, -0.3, 0.0]))
    kl_bd = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).mean(0)  # (D,) the reference
    out = free_bits_kl(mu, logvar, lam)
    assert out.shape == (B,)
    assert torch.allclose(out.mean(), torch.clamp(kl_bd, min=lam).sum(), rtol=1e-12)
    (grad,) = torch.autograd.grad(out.sum(), mu)
    below = kl_bd.detach() < lam
    assert below.any() and (~below).any()
    assert torch.equal(grad[:, below], torch.zeros_like(grad[:, below])) and (grad[:, ~below] != 0).any()
    assert torch.allclose(free_bits_kl(mu, logvar, 0.0), kl_std_normal(mu, logvar), rtol=1e-12)


def test_free_bits_knob_keeps_old_config_hashes_and_enters_the_loss():
    cfg = TrainConfig(model=ModelConfig(latent_dim=4, hidden=(16,)))
    old = {k: v for k, v in cfg.to_dict().items() if k != "free_bits"}  # the dict hashed before the field existed
    assert cfg.key() == hashlib.sha1(json.dumps(old, sort_keys=True).encode()).hexdigest()[:10]
    assert replace(cfg, free_bits=1.0).key() != cfg.key()
    assert TrainConfig.from_dict(old) == cfg  # a checkpoint written before the field loads with free_bits = 0
    with pytest.raises(ValueError, match="free_bits"):
        TrainConfig(free_bits=-1.0)
    with pytest.raises(ValueError, match="free_bits needs"):
        TrainConfig(model=ModelConfig(latent="vmf"), free_bits=1.0)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    x = (torch.rand(32, 784, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    fb = replace(cfg, free_bits=2.0, beta=3.0)
    loss, terms = training_loss(model, fb, x, torch.Generator().manual_seed(2), fb.beta)
    post = model.encode(x)
    z = post.rsample(generator=torch.Generator().manual_seed(2))
    ref = (-model.log_px_given_z(x, z) + 3.0 * free_bits_kl(post.mu, post.logvar, 2.0)).mean()
    assert torch.allclose(loss, ref, rtol=1e-6)
    assert torch.allclose(terms[2], kl_std_normal(post.mu, post.logvar), rtol=1e-6)  # the history keeps the true KL
