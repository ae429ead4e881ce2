"""The KL widget's callback and surface against torch.distributions (no browser needed)."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.distributions import Normal, kl_divergence  # noqa: E402

from vaelib.widgets.kl import kl_1d, kl_explorer, kl_surface, make_kl_widget, normal_pdf, plot_kl_surface  # noqa: E402


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (1.0, 0.5), (-2.3, 2.7), (0.4, 0.05)])
def test_kl_explorer_matches_torch_distributions(mu, sigma):
    ref = float(kl_divergence(Normal(torch.tensor(mu, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64)),
                              Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))))
    out = kl_explorer(mu, sigma)
    assert math.isclose(out["kl"], ref, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(out["logvar"], 2 * math.log(sigma))
    assert out["kl"] >= 0


def test_kl_is_zero_only_at_the_prior_and_rejects_bad_sigma():
    assert kl_1d(0.0, 1.0) == pytest.approx(0.0, abs=1e-15)
    assert kl_1d(0.1, 1.0) > 0 and kl_1d(0.0, 1.1) > 0
    with pytest.raises(ValueError):
        kl_1d(0.0, 0.0)


def test_kl_explorer_draws_both_densities():
    fig, ax = plt.subplots()
    kl_explorer(1.0, 0.5, ax=ax)
    assert len(ax.lines) == 2
    prior, q = (line.get_ydata() for line in ax.lines)
    z = ax.lines[0].get_xdata()
    ref_q = Normal(1.0, 0.5).log_prob(torch.as_tensor(z)).exp().numpy()
    assert np.allclose(q, ref_q, atol=1e-6)
    assert np.allclose(prior, normal_pdf(z, 0.0, 1.0))
    assert np.trapezoid(q, z) == pytest.approx(1.0, abs=1e-3)
    plt.close(fig)


def test_kl_surface_matches_torch_and_has_minimum_at_origin():
    M, L, kl = kl_surface(mu_max=2.0, logvar_max=2.0, n=41)
    assert M.shape == L.shape == kl.shape == (41, 41)
    ref = kl_divergence(Normal(torch.as_tensor(M), torch.as_tensor(np.exp(0.5 * L))), Normal(0.0, 1.0)).numpy()
    assert np.allclose(kl, ref, atol=1e-12)
    i, j = np.unravel_index(kl.argmin(), kl.shape)
    assert M[i, j] == pytest.approx(0.0, abs=1e-12) and L[i, j] == pytest.approx(0.0, abs=1e-12)
    fig = plot_kl_surface(n=41)
    assert len(fig.axes) == 2  # the surface and its colour bar
    plt.close(fig)


def test_make_kl_widget_builds_and_redraws():
    pytest.importorskip("ipywidgets")
    box = make_kl_widget(mu=0.5, sigma=1.5)
    sliders = box.children[0].children
    assert [s.value for s in sliders] == [0.5, 1.5]
    sliders[0].value = -1.0  # triggers the redraw callback without a browser
    plt.close("all")
