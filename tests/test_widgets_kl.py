"""The KL widget's callback and surface against torch.distributions (no browser needed)."""
from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaelib.plots import set_theme
from vaelib.widgets.kl import (
    KL_LEVELS,
    Y_MAX,
    KLView,
    kl_1d,
    kl_explorer,
    kl_surface,
    make_kl_widget,
    normal_pdf,
    plot_kl_surface,
)

# ipympl builds its toolbar widget with arguments traitlets warns about; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")


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
    for mu, sigma, name in [(0.0, 0.0, "sigma"), (0.0, -1.0, "sigma"), (0.0, float("nan"), "sigma"),
                            (0.0, float("inf"), "sigma"), (float("nan"), 1.0, "mu"), ("1", 1.0, "mu")]:
        message = rf"^{name} must be (a number|finite)[^:]* \(got .*\): pass (a value of|a finite number for) {name}"
        with pytest.raises((ValueError, TypeError), match=message) as err:
            kl_1d(mu, sigma)
        assert ". " not in str(err.value)  # one sentence


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


@pytest.mark.parametrize("context", ["notebook", "talk"])
def test_kl_surface_colorbar_is_labelled_at_every_level_evenly_spaced(context):
    with matplotlib.rc_context():
        set_theme(context)
        fig = plot_kl_surface(n=21)
        cbar = fig.axes[1]
        fig.canvas.draw()
        labels = [t.get_text() for t in cbar.get_yticklabels()]
        assert labels == [f"{v:g}" for v in KL_LEVELS]  # every level, as short numbers
        boxes = [t.get_window_extent() for t in cbar.get_yticklabels()]  # display pixels
        gaps = np.diff([(b.y0 + b.y1) / 2 for b in boxes])
        assert np.allclose(gaps, gaps[0], rtol=1e-3)  # evenly spaced along the bar
        assert all(a.y1 <= b.y0 for a, b in zip(boxes, boxes[1:]))  # no two labels overlap
    plt.close(fig)


@pytest.mark.parametrize("mu, sigma", [(1.0, 0.5), (-3.0, 3.0), (0.3, 0.05)])
def test_view_moves_q_and_its_shading_on_fixed_axes(mu, sigma):
    fig, ax = plt.subplots()
    view = KLView(ax)
    limits = (ax.get_xlim(), ax.get_ylim())
    out = view.update(mu, sigma)
    z = view.q_line.get_xdata()
    f64 = torch.float64
    ref = Normal(torch.tensor(mu, dtype=f64), torch.tensor(sigma, dtype=f64)).log_prob(torch.as_tensor(z)).exp().numpy()
    assert np.allclose(view.q_line.get_ydata(), ref, rtol=1e-12, atol=1e-300)
    xy = view.q_fill.get_xy()  # the shading: the same curve, closed along y = 0
    assert np.allclose(xy[1:-2, 1], ref) and xy[0, 1] == 0 and xy[-2, 1] == 0
    assert f"{out['kl']:.3f}" in ax.get_title()
    assert (ax.get_xlim(), ax.get_ylim()) == limits == ((-5.0, 5.0), (0.0, Y_MAX))
    plt.close(fig)


def test_make_kl_widget_builds_and_redraws():
    w = make_kl_widget(mu=0.5, sigma=1.5)
    mu_s, sigma_s = w.controls
    assert (mu_s.value, sigma_s.value) == (0.5, 1.5)
    mu_s.value = -1.0
    w.canvas.draw()
    kl = kl_divergence(Normal(torch.tensor(-1.0, dtype=torch.float64), torch.tensor(1.5, dtype=torch.float64)),
                       Normal(0.0, 1.0)).item()
    assert f"{kl:.3f}" in w.figure.axes[0].get_title()
    plt.close("all")
