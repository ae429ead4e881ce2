"""The convolutional VAE (notebook 08, section 6) against values computed independently: a direct loop-free
reimplementation with torch.nn.functional in float64, a brute-force convolution, torch.distributions for the ELBO,
(tests/test_pretrained.py re-evaluates the shipped conv-d20 against its manifest numbers)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

from vaelib.losses import elbo_terms, iwae_log_px
from vaelib.models import ConvVAE, ModelConfig, build_model

from conftest import F64

CFG = ModelConfig(arch="conv", latent_dim=3, hidden=(16,), channels=(4, 6), activation="relu")


def model64(seed: int = 0) -> ConvVAE:
    torch.manual_seed(seed)
    return build_model(CFG).double().eval()


def reference_encoder(m: ConvVAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """mu, logvar written out with torch.nn.functional from the module's weights (not through its Sequential)."""
    c1, c2, l1, l2 = (layer for layer in m.encoder if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)))
    h = F.relu(F.conv2d(x.reshape(-1, 1, 28, 28), c1.weight, c1.bias, stride=2, padding=1))   # (B, 4, 14, 14)
    h = F.relu(F.conv2d(h, c2.weight, c2.bias, stride=2, padding=1))                          # (B, 6, 7, 7)
    out = F.linear(F.relu(F.linear(h.flatten(1), l1.weight, l1.bias)), l2.weight, l2.bias)   # (B, 2D)
    return out[:, :3], out[:, 3:]


def reference_decoder(m: ConvVAE, z: torch.Tensor) -> torch.Tensor:
    l1, l2, t1, t2 = (layer for layer in m.decoder if isinstance(layer, (torch.nn.Linear, torch.nn.ConvTranspose2d)))
    h = F.relu(F.linear(F.relu(F.linear(z, l1.weight, l1.bias)), l2.weight, l2.bias)).reshape(-1, 6, 7, 7)
    h = F.relu(F.conv_transpose2d(h, t1.weight, t1.bias, stride=2, padding=1))                # (B, 4, 14, 14)
    return F.conv_transpose2d(h, t2.weight, t2.bias, stride=2, padding=1).flatten(1)         # (B, 784) logits


def test_encoder_and_decoder_equal_a_functional_reimplementation():
    m = model64()
    g = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((5, 784), 0.3, dtype=F64), generator=g)
    mu, logvar = reference_encoder(m, x)
    post = m.encode(x)
    assert torch.allclose(post.mu, mu, atol=1e-12) and torch.allclose(post.logvar, logvar, atol=1e-12)
    z = torch.randn(5, 3, generator=g, dtype=F64)
    assert torch.allclose(m.decode(z), reference_decoder(m, z), atol=1e-12)


def test_first_convolution_equals_a_brute_force_sum():
    m = model64(2)
    conv = m.encoder[1]
    x = torch.rand(1, 784, generator=torch.Generator().manual_seed(3), dtype=F64)
    img = F.pad(x.reshape(28, 28), (1, 1, 1, 1))  # padding 1
    out = conv(x.reshape(1, 1, 28, 28))[0]        # (4, 14, 14)
    for c, i, j in [(0, 0, 0), (1, 5, 9), (3, 13, 13), (2, 7, 0)]:
        patch = img[2 * i:2 * i + 4, 2 * j:2 * j + 4]  # kernel 4, stride 2
        assert math.isclose(out[c, i, j].item(), (patch * conv.weight[c, 0]).sum().item() + conv.bias[c].item(),
                            abs_tol=1e-12)


def test_a_pixel_only_moves_the_first_layer_outputs_that_see_it():
    m = model64(4)
    x = torch.zeros(1, 784, dtype=F64)
    y = x.clone()
    y[0, 10 * 28 + 10] = 1.0  # pixel (10, 10)
    diff = (m.encoder[1](y.reshape(1, 1, 28, 28)) - m.encoder[1](x.reshape(1, 1, 28, 28)))[0].abs().sum(0)  # (14, 14)
    moved = {(i, j) for i in range(14) for j in range(14) if diff[i, j] > 0}
    assert moved == {(i, j) for i in (4, 5) for j in (4, 5)}  # padded row 11 lies in windows 2i..2i+3 for i = 4, 5


def test_elbo_and_iwae_equal_torch_distributions():
    m = model64(5)
    g = torch.Generator().manual_seed(6)
    x = torch.bernoulli(torch.full((4, 784), 0.2, dtype=F64), generator=g)
    terms = elbo_terms(m, x, torch.Generator().manual_seed(7))
    post = m.encode(x)
    q = Normal(post.mu, (0.5 * post.logvar).exp())
    recon = -Bernoulli(logits=m.decode(terms.z)).log_prob(x).sum(-1)
    kl = kl_divergence(q, Normal(torch.zeros_like(post.mu), torch.ones_like(post.mu))).sum(-1)
    assert torch.allclose(terms.recon, recon, atol=1e-9) and torch.allclose(terms.kl, kl, atol=1e-10)
    k = 50  # the IWAE bound by hand from the same draws
    z = post.rsample(k, torch.Generator().manual_seed(8))  # (k, B, D)
    log_w = (Bernoulli(logits=m.decode(z)).log_prob(x).sum(-1) + Normal(0.0, 1.0).log_prob(z).sum(-1)
             - q.log_prob(z).sum(-1))
    by_hand = torch.logsumexp(log_w, 0) - math.log(k)
    assert torch.allclose(iwae_log_px(m, x, k, torch.Generator().manual_seed(8)), by_hand, atol=1e-9)
