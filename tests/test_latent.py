"""vaelib.latent against exact references: scipy's Normal quantiles, closed-form KL, a synthetic encoder."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.neighbors import KNeighborsClassifier

import vaelib.latent as latent_mod
from vaelib.latent import (
    active_units,
    decode_probs,
    draw_posteriors,
    encode_dataset,
    interpolate,
    kl_bars,
    kl_per_dim,
    knn_accuracy,
    latent_scatter,
    normal_quantiles,
    posterior_std,
    quantile_grid,
    unit_activity,
)
from vaelib.losses import DiagonalGaussian, kl_std_normal
from vaelib.models import ModelConfig, build_model


class SyntheticEncoder:
    """mu_d = a_d * (mean pixel of block d), sigma_d = 1 where a_d = 0: units with a_d = 0 are inactive."""

    def __init__(self, scales: list[float]) -> None:
        self.a = torch.tensor(scales)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        D = len(self.a)
        blocks = x[:, : (784 // D) * D].reshape(len(x), D, -1).mean(-1)  # (B, D), values vary across images
        mu = self.a * (blocks - 0.5) * 4
        logvar = torch.where(self.a == 0, torch.zeros_like(mu), torch.full_like(mu, -3.0))
        return DiagonalGaussian(mu, logvar)


def test_normal_quantiles_equal_scipy_ppf():
    for n, eps in [(15, 0.05), (20, 0.01), (2, 0.2)]:
        ref = norm.ppf(np.linspace(eps, 1 - eps, n))
        assert np.allclose(normal_quantiles(n, eps).numpy(), ref, atol=1e-5)


def test_quantile_grid_is_image_ordered_product_of_quantiles():
    n = 7
    z = quantile_grid(n)
    q = normal_quantiles(n)
    assert z.shape == (n * n, 2)
    assert torch.equal(z[:n, 0], q) and torch.allclose(z[:n, 1], q.max().expand(n))  # first row: top, z2 largest
    assert torch.allclose(z[::n, 1], q.flip(0))  # first column goes down in z2


def test_encode_dataset_in_batches_equals_one_pass(g):
    model = build_model(ModelConfig(latent_dim=3, hidden=(16,))).eval()
    x = torch.randint(0, 256, (37, 784), generator=g, dtype=torch.uint8)
    mu, logvar = encode_dataset(model, x, binarized=False, batch_size=10).params()
    ref = model.encode(x.float() / 255)
    assert mu.shape == (37, 3)
    assert torch.allclose(mu, ref.mu, atol=1e-6) and torch.allclose(logvar, ref.logvar, atol=1e-6)
    a = encode_dataset(model, x, binarized=True, seed=3, batch_size=10).mu
    b = encode_dataset(model, x, binarized=True, seed=3, batch_size=10).mu
    assert torch.equal(a, b)  # seeded binarization is reproducible
    assert encode_dataset(model, x, binarized=False, dtype=torch.float64).mu.dtype == torch.float64
    sphere = build_model(ModelConfig(latent_dim=3, hidden=(16,), latent="vmf")).eval()
    q = encode_dataset(sphere, x, batch_size=10)  # any posterior family, concatenated in one object
    assert q.loc.shape == (37, 3) and q.kappa.shape == (37,)


def test_interpolate_endpoints_and_linearity(g):
    z0, z1 = torch.randn(5, generator=g), torch.randn(5, generator=g)
    path = interpolate(z0, z1, 11)
    assert path.shape == (11, 5) and torch.allclose(path[0], z0) and torch.allclose(path[-1], z1)
    assert torch.allclose(path[5], (z0 + z1) / 2, atol=1e-6)
    assert torch.allclose(path.diff(dim=0), ((z1 - z0) / 10).expand(10, 5), atol=1e-6)


def test_kl_per_dim_sums_to_closed_form_kl(g):
    mu = torch.randn(100, 6, generator=g, dtype=torch.float64)
    logvar = torch.randn(100, 6, generator=g, dtype=torch.float64)
    per_dim = kl_per_dim(mu, logvar)
    assert per_dim.shape == (6,) and (per_dim >= 0).all()
    assert torch.allclose(per_dim.sum(), kl_std_normal(mu, logvar).mean())


def test_active_units_finds_the_known_active_dims(g):
    enc = SyntheticEncoder([1.0, 0.0, 2.0, 0.0, 0.0, 0.5, 0.0, 1e-3])
    x = torch.randint(0, 256, (500, 784), generator=g, dtype=torch.uint8)
    mu, logvar = encode_dataset(enc, x, binarized=True, seed=0, batch_size=128).params()
    expected = torch.tensor([True, False, True, False, False, True, False, False])  # 1e-3 scale: below 0.01
    assert torch.equal(active_units(mu, 0.01), expected)
    assert torch.allclose(unit_activity(mu).double(), mu.double().var(0))
    assert torch.allclose(kl_per_dim(mu, logvar)[enc.a == 0], torch.zeros(4), atol=1e-6)  # unused: q = prior


def test_decode_probs_are_sigmoid_of_logits(g):
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,))).eval()
    z = torch.randn(4, 2, generator=g)
    p = decode_probs(model, z)
    assert p.shape == (4, 784) and torch.allclose(p, torch.sigmoid(model.decode(z)))


def test_plot_helpers_draw_what_they_are_given(g):
    mu, logvar = torch.tensor([[0.0, 1.0], [2.0, -1.0]]), torch.log(torch.tensor([[0.04, 0.01], [0.09, 0.25]]))
    fig = draw_posteriors(mu, logvar, n_stds=(1.0, 2.0))
    widths = sorted((p.width, p.height) for p in fig.axes[0].patches)
    assert np.allclose(widths, sorted([(0.4, 0.2), (0.8, 0.4), (0.6, 1.0), (1.2, 2.0)]))
    plt.close(fig)
    fig = latent_scatter(torch.randn(30, 2, generator=g), torch.arange(30) % 10)
    assert len(fig.axes[0].collections[0].get_offsets()) == 30
    plt.close(fig)
    fig = kl_bars(torch.tensor([0.1, 3.0, 0.0]), torch.tensor([True, True, False]))
    assert [r.get_height() for r in fig.axes[0].patches] == pytest.approx([3.0, 0.1, 0.0])
    plt.close(fig)


def test_knn_accuracy_separates_informative_from_random_features(g):
    y = torch.arange(400) % 4
    informative = torch.nn.functional.one_hot(y, 4).float() * 5 + 0.1 * torch.randn(400, 4, generator=g)
    noise = torch.randn(400, 4, generator=g)
    assert knn_accuracy(informative, y) == 1.0
    assert knn_accuracy(noise, y) < 0.5


@pytest.mark.parametrize("k", [1, 4, 5])
def test_knn_accuracy_equals_scikit_learns_classifier_ties_included(g, k, monkeypatch):
    """The reference: sklearn's KNeighborsClassifier(k) fit on the first half and scored on the second. Labels
    that do not start at 0, an even k (tied votes go to the smallest label), and a chunk smaller than the rows."""
    monkeypatch.setattr(latent_mod, "KNN_CHUNK", 7)
    for n, d in [(120, 2), (301, 6)]:
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        y = 3 + (x[:, 0] > 0).long() + 2 * (torch.rand(n, generator=g) < 0.3).long()  # labels 3..6, noisy
        half = n // 2
        ref = KNeighborsClassifier(k).fit(x[:half].numpy(), y[:half].numpy()).score(x[half:].numpy(), y[half:].numpy())
        assert knn_accuracy(x, y, k) == pytest.approx(ref, abs=1e-12)
        assert knn_accuracy(x.float(), y, k) == pytest.approx(ref, abs=1.5 / (n - half))  # float32 input: at most 1 row


def test_posterior_std_is_the_square_root_of_the_variance(g):
    logvar = torch.randn(4, 3, generator=g, dtype=torch.float64) * 3
    assert torch.allclose(posterior_std(logvar), logvar.exp().sqrt(), rtol=1e-12)
