"""The architectures: output shapes and contracts (mu/logvar out, logits out, sample dims), configs."""
from __future__ import annotations

import pytest
import torch

from vaelib.losses import bernoulli_log_prob, elbo_terms, iwae_log_px
from vaelib.models import ConvVAE, MLPVAE, ModelConfig, build_model, n_parameters

g = torch.Generator().manual_seed(0)
CONFIGS = [ModelConfig(latent_dim=5, hidden=(64, 32)), ModelConfig(arch="conv", latent_dim=4, hidden=(64,), channels=(8, 16))]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["mlp", "conv"])
def test_encoder_gives_mu_logvar_and_decoder_gives_logits_with_sample_dims(cfg):
    model = build_model(cfg)
    x = torch.bernoulli(torch.full((6, 784), 0.3), generator=g)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (6, cfg.latent_dim)
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
