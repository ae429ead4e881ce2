"""Whole-split evaluation: the per-example values, their means and standard errors, and paired comparisons."""
from __future__ import annotations

import math
import statistics

import pytest
import torch

from vaelib.evaluate import evaluate, mean_se, paired_difference
from vaelib.models import ModelConfig, build_model


class Recorder(torch.nn.Module):
    """Wraps a model and records every batch of binary images its encoder is given."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.seen = model, []

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.model, name)

    def encode(self, x):
        self.seen.append(x.clone())
        return self.model.encode(x)


def test_every_model_sees_the_same_binarization_whatever_randomness_it_draws():
    x = (torch.rand(300, 784) * 255).to(torch.uint8)
    gauss = Recorder(build_model(ModelConfig(latent_dim=3, hidden=(16,))))
    sphere = Recorder(build_model(ModelConfig(latent_dim=3, hidden=(16,), latent="vmf")))  # rejection sampling
    a = evaluate(gauss, x, k=7, seed=11, batch_size=100, per_example=True)
    b = evaluate(sphere, x, k=3, seed=11, batch_size=100, per_example=True)
    first = lambda r: torch.cat(r.seen[::2])  # noqa: E731  (elbo_terms, then iwae_log_px, per batch)
    assert torch.equal(first(gauss), first(sphere))
    assert set(first(gauss).unique().tolist()) == {0.0, 1.0}
    # the binarization is a Bernoulli(x / 255) draw per batch from a generator seeded with ``seed`` alone
    # (reference: torch.bernoulli with that seed; the models' own draws of z come from another generator)
    def reference(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.cat([torch.bernoulli(x[i:i + 100].float() / 255, generator=gen) for i in range(0, 300, 100)])

    assert torch.equal(first(gauss), reference(11))
    other = Recorder(gauss.model)
    evaluate(other, x, k=7, seed=12, batch_size=100)
    assert torch.equal(first(other), reference(12))  # another seed, another binarization
    p = x.double() / 255
    changed = (first(other) != first(gauss)).double().mean().item()
    expected = (2 * p * (1 - p)).mean().item()  # P(two independent draws differ), averaged over pixels
    assert abs(changed - expected) < 5 * (expected / (300 * 784)) ** 0.5
    for out in (a, b):
        v = out["values"]
        assert v["log_px"].shape == v["elbo"].shape == (300,) and v["log_px"].dtype == torch.float64
        assert (out["log_px"], out["log_px_se"]) == mean_se(v["log_px"])
        assert torch.allclose(v["elbo"], -(v["recon"] + v["kl"]))


def test_evaluate_is_reproducible_for_a_seed():
    x = (torch.rand(200, 784) * 255).to(torch.uint8)
    model = build_model(ModelConfig(latent_dim=2, hidden=(16,), prior="vamp", n_components=3))
    assert evaluate(model, x, k=5, seed=3) == evaluate(model, x, k=5, seed=3)


def test_mean_se_is_mean_and_standard_error(g):
    v = torch.randn(500, generator=g)
    m, se = mean_se(v)
    values = v.double().tolist()
    assert abs(m - statistics.fmean(values)) < 1e-12
    assert abs(se - statistics.stdev(values) / math.sqrt(500)) < 1e-12


def test_paired_difference_is_the_mean_and_se_of_the_differences_and_beats_unpaired_se():
    g = torch.Generator().manual_seed(0)
    base = 30 * torch.randn(2000, generator=g, dtype=torch.float64)  # image-to-image spread
    a = base + torch.randn(2000, generator=g, dtype=torch.float64)
    b = base + 0.5 + torch.randn(2000, generator=g, dtype=torch.float64)
    d, se = paired_difference(a, b)
    assert (d, se) == mean_se(a - b)
    assert abs(d + 0.5) < 5 * se  # the true difference is -0.5
    assert se < 0.1 * math.hypot(mean_se(a)[1], mean_se(b)[1])
    with pytest.raises(ValueError):
        paired_difference(a, b[:10])
