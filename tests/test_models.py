"""The architectures: output shapes and contracts (mu/logvar out, logits out, sample dims), configs."""
from __future__ import annotations

import math

import pytest
import torch

from vaelib.losses import bernoulli_log_prob, elbo_terms, iwae_log_px
from vaelib.models import MLPVAE, ConvVAE, ModelConfig, build_model, n_parameters

from conftest import F64

CONFIGS = [ModelConfig(latent_dim=5, hidden=(64, 32)),
           ModelConfig(arch="conv", latent_dim=4, hidden=(64,), channels=(8, 16))]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["mlp", "conv"])
def test_encoder_gives_mu_logvar_and_decoder_gives_logits_with_sample_dims(g, cfg):
    model = build_model(cfg)
    x = torch.bernoulli(torch.full((6, 784), 0.3), generator=g)
    post = model.encode(x)
    assert post.mu.shape == post.logvar.shape == (6, cfg.latent_dim)
    z = torch.randn(3, 6, cfg.latent_dim, generator=g)  # (k, B, D)
    logits = model.decode(z)
    assert logits.shape == (3, 6, 784)
    assert torch.allclose(logits[1], model.decode(z[1]), atol=1e-6)  # leading dims are only reshaped
    assert torch.allclose(model.log_px_given_z(x, z), bernoulli_log_prob(logits, x))
    terms = elbo_terms(model, x, g)
    assert terms.elbo.shape == (6,) and torch.isfinite(terms.elbo).all()
    assert iwae_log_px(model, x, k=4, generator=g).shape == (6,)
    assert model.sample(5, g).shape == (5, 784)


def test_mlp_widths_depth_and_decoder_mirror():
    cfg = ModelConfig(latent_dim=7, hidden=(100, 50, 25))
    model = MLPVAE(cfg)
    enc = [m.out_features for m in model.encoder if isinstance(m, torch.nn.Linear)]
    dec = [m.out_features for m in model.decoder if isinstance(m, torch.nn.Linear)]
    assert enc == [100, 50, 25, 14] and dec == [25, 50, 100, 784]
    own = MLPVAE(ModelConfig(latent_dim=7, hidden=(100,), decoder_hidden=(30, 30)))
    assert [m.out_features for m in own.decoder if isinstance(m, torch.nn.Linear)] == [30, 30, 784]
    assert n_parameters(model) == sum(p.numel() for p in model.parameters())


def test_conv_vae_is_convolutional():
    model = build_model(CONFIGS[1])
    assert isinstance(model, ConvVAE)
    assert any(isinstance(m, torch.nn.Conv2d) for m in model.encoder.modules())
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.decoder.modules())


def test_config_round_trip_and_unknown_arch():
    for cfg in CONFIGS:
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="Unknown architecture 'rnn'"):
        build_model(ModelConfig(arch="rnn"))  # type: ignore[arg-type]


# --- notebook 07: other priors and the hyperspherical latent -------------------------------------------------


def small(**kw) -> ModelConfig:
    return ModelConfig(**{"latent_dim": 3, "hidden": (32,), **kw})


def test_config_rejects_unknown_or_inconsistent_latent_and_prior():
    for bad in ({"latent": "no-such-latent"}, {"prior": "no-such-prior"}, {"latent": "vmf", "prior": "vamp"},
                {"latent": "vmf", "latent_dim": 1}):
        with pytest.raises(ValueError):
            small(**bad)
    old = {k: v for k, v in small().to_dict().items() if k not in ("latent", "prior", "n_components")}
    assert ModelConfig.from_dict(old) == small()  # configs saved before these fields load with the defaults


def test_vmf_model_encodes_unit_directions_and_kappa_at_least_one_with_the_closed_form_kl(g):
    model = build_model(small(latent="vmf", latent_dim=4)).double()
    x = torch.bernoulli(torch.full((7, 784), 0.3, dtype=F64), generator=g)
    post = model.encode(x)
    loc, kappa = post.loc, post.kappa
    assert loc.shape == (7, 4) and kappa.shape == (7,)
    assert torch.allclose(loc.norm(dim=-1), torch.ones(7, dtype=F64)) and (kappa >= 1).all()
    z = post.rsample(4000, g)  # (4000, 7, 4), on the sphere
    assert torch.allclose(z.norm(dim=-1), torch.ones((), dtype=F64), atol=1e-9)
    # the closed-form KL to the uniform prior is the mean of log q(z|x) - log p(z) (the Monte Carlo KL)
    mc = post.log_prob(z) - model.log_prior(z)  # (4000, 7)
    se = mc.std(0) / 4000**0.5
    assert ((mc.mean(0) - model.closed_kl(post)).abs() < 5 * se + 1e-9).all()
    # and log p(z) is the uniform density 1 / area(S^3) = 1 / (2 pi^2)
    assert torch.allclose(model.log_prior(z[:2]), torch.full((2, 7), -math.log(2 * math.pi**2), dtype=F64))


def test_vmf_prior_samples_are_uniform_on_the_sphere():
    model = build_model(small(latent="vmf", latent_dim=5)).double()
    z = model.sample_prior(20_000, torch.Generator().manual_seed(1)).double()
    assert torch.allclose(z.norm(dim=-1), torch.ones((), dtype=F64), atol=1e-6)
    assert z.mean(0).abs().max() < 5 * (1 / 5 / 20_000) ** 0.5  # E z = 0 with Var z_d = 1/D
    assert torch.allclose(z.T @ z / len(z), torch.eye(5, dtype=F64) / 5, atol=0.01)  # E zz^T = I / D


def test_vamp_model_prior_is_the_mixture_of_the_encoder_posteriors_at_the_pseudo_inputs(g):
    model = build_model(small(prior="vamp", n_components=6)).double()
    mu, logvar = model.encode(model.prior.inputs()).params()  # (6, 3) each
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=torch.zeros(6, dtype=F64)),
        torch.distributions.Independent(torch.distributions.Normal(mu, (0.5 * logvar).exp()), 1))
    z = torch.randn(2, 50, 3, generator=g, dtype=F64)
    assert torch.allclose(model.log_prior(z), mixture.log_prob(z), atol=1e-6)  # vaelib.mixture: float32 sum, ~1e-7
    assert not model.has_closed_kl
    with pytest.raises(ValueError):
        model.closed_kl(model.encode(torch.rand(2, 784, dtype=F64)))
    # elbo_terms chooses the Monte Carlo KL: log q(z|x) - log p(z) at the z it decoded
    x = torch.bernoulli(torch.full((5, 784), 0.3, dtype=F64), generator=g)
    a, b = (elbo_terms(model, x, torch.Generator().manual_seed(3), kl=kl) for kl in ("auto", "mc"))
    assert torch.equal(a.kl, b.kl) and torch.equal(a.elbo, b.elbo)
    # prior samples: the mixture's mean is the mean of the component means
    s = model.sample_prior(40_000, torch.Generator().manual_seed(2)).double()
    assert ((s.mean(0) - mu.mean(0)).abs() < 5 * s.std(0) / 200).all()


def test_mog_model_log_prior_matches_torch_distributions_and_gradients_reach_the_prior(g):
    model = build_model(small(prior="mog", n_components=4)).double()
    p = model.prior
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=p.logits),
        torch.distributions.Independent(torch.distributions.Normal(p.means, (0.5 * p.logvars).exp()), 1))
    z = torch.randn(30, 3, generator=g, dtype=F64)
    assert torch.allclose(model.log_prior(z), mixture.log_prob(z), atol=1e-6)
    x = torch.bernoulli(torch.full((5, 784), 0.3, dtype=F64), generator=g)
    elbo_terms(model, x, g).elbo.sum().backward()
    assert p.means.grad.abs().sum() > 0 and p.logits.grad.abs().sum() > 0


class _ZBlindDecoder(torch.nn.Module):
    """A decoder that ignores z: then log p(x) = log p(x|z) exactly, for any prior."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(z), -1)


@pytest.mark.parametrize("kw", [{"latent": "vmf"}, {"prior": "vamp", "n_components": 5}], ids=["vmf", "vamp"])
def test_iwae_rises_to_the_exact_log_px_for_other_latents_and_priors(g, kw):
    model = build_model(small(**kw)).double()
    logits = torch.randn(784, generator=g, dtype=F64)
    model.decoder = _ZBlindDecoder(logits)
    x = torch.bernoulli(torch.full((4, 784), 0.3, dtype=F64), generator=g)
    exact = bernoulli_log_prob(logits, x)  # (4,)
    gen = torch.Generator().manual_seed(5)
    elbo = torch.stack([elbo_terms(model, x, gen).elbo for _ in range(400)])  # (400, 4)
    # the ELBO is log p(x) - KL(q(z|x) || p(z|x)) with p(z|x) = p(z): below log p(x) by the mean KL
    assert ((elbo.mean(0) - exact) < 0).all()
    # the weights w = p(x, z) / q(z|x) average to p(x) (the estimate is unbiased for p(x), not for log p(x)),
    # so log of the k-sample average approaches log p(x) as k grows: k = 5000 closes most of the gap
    # the k-sample estimate's own noise: SE of log(mean w) ~ std(w) / (mean(w) sqrt(k)), from one draw of the weights
    k = 5000
    iwae = iwae_log_px(model, x, k, gen)
    post = model.encode(x)
    z = post.rsample(k, gen)
    w = (model.log_prior(z) - post.log_prob(z)).exp()  # p(x|z) cancels: the decoder ignores z
    se = w.std(0) / (w.mean(0) * k**0.5)
    assert ((exact - iwae).abs() < 4 * se + 1e-9).all()
    assert ((exact - iwae).abs() < (exact - elbo.mean(0)).abs()).all()  # far closer than the ELBO
