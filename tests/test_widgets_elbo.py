"""The ELBO explorer's callback against exact formulas (notebooks/01_elbo.ipynb)."""
from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaelib.widgets.elbo import DEFAULTS, Q_STD_MIN, ELBOView, elbo_readout, make_elbo_widget

# ipympl builds its toolbar widget with arguments traitlets warns about; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")


X, A, B, S = DEFAULTS["x"], DEFAULTS["a"], DEFAULTS["b"], DEFAULTS["s"]
POST_MEAN = A * (X - B) / (A**2 + S**2)
POST_STD = math.sqrt(S**2 / (A**2 + S**2))


def f64(v: float) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float64)


@pytest.mark.parametrize("q_mean,q_std", [(0.0, 1.0), (-2.0, 0.3), (1.0, 0.47), (2.5, 1.9)])
def test_gap_is_the_kl_to_the_exact_posterior(q_mean, q_std):
    r = elbo_readout(q_mean, q_std)
    kl = kl_divergence(Normal(f64(q_mean), f64(q_std)), Normal(f64(POST_MEAN), f64(POST_STD))).item()
    assert r.gap == pytest.approx(kl, abs=1e-10)
    assert r.elbo <= r.log_px and r.gap >= 0
    assert r.log_px == pytest.approx(Normal(f64(B), f64(math.sqrt(A**2 + S**2))).log_prob(f64(X)).item(), abs=1e-12)


def test_gap_vanishes_at_the_posterior_for_any_observation():
    for x in (-3.0, 0.0, 4.0):
        post_mean = A * (x - B) / (A**2 + S**2)
        assert abs(elbo_readout(post_mean, POST_STD, x=x).gap) < 1e-12


def test_elbo_matches_the_textbook_decomposition():
    q_mean, q_std = 0.3, 0.6
    expected_lik = -0.5 * math.log(2 * math.pi * S**2) - ((X - A * q_mean - B) ** 2 + A**2 * q_std**2) / (2 * S**2)
    kl_prior = 0.5 * (q_mean**2 + q_std**2 - 2 * math.log(q_std) - 1)
    assert elbo_readout(q_mean, q_std).elbo == pytest.approx(expected_lik - kl_prior, abs=1e-12)


@pytest.mark.parametrize("q_mean,q_std,name", [(0.0, 0.0, "q_std"), (0.0, -0.5, "q_std"), (0.0, float("nan"), "q_std"),
                                               (float("inf"), 1.0, "q_mean"), ("0.3", 1.0, "q_mean")])
def test_a_non_positive_q_std_or_a_non_finite_value_is_refused_in_one_sentence(q_mean, q_std, name):
    message = rf"^{name} must be (a number|finite)[^:]* \(got .*\): pass (a value of|a finite number for) {name}.*\.$"
    with pytest.raises((ValueError, TypeError), match=message) as err:
        elbo_readout(q_mean, q_std)
    assert str(err.value).count(". ") == 0 and str(err.value).endswith(".")  # one sentence


def test_callback_draws_prior_posterior_and_q():
    fig, ax = plt.subplots()
    r = elbo_readout(0.0, 1.0, ax=ax)
    assert len(ax.lines) == 3 and f"{r.gap:.3f}" in ax.get_title()
    plt.close(fig)


@pytest.mark.parametrize("q_mean,q_std", [(0.0, 1.0), (-2.5, 0.25), (1.3, 2.0)])
def test_view_moves_q_to_the_exact_density_on_fixed_axes(q_mean, q_std):
    fig, ax = plt.subplots()
    view = ELBOView(ax)
    limits = (ax.get_xlim(), ax.get_ylim())
    r = view.update(q_mean, q_std)
    z = torch.as_tensor(view.q_line.get_xdata(), dtype=torch.float64)
    ref = Normal(f64(q_mean), f64(q_std)).log_prob(z).exp().numpy()
    assert np.allclose(view.q_line.get_ydata(), ref, rtol=1e-12, atol=1e-300)
    assert r == elbo_readout(q_mean, q_std)
    assert f"{r.elbo:.3f}" in ax.get_title() and f"{r.gap:.3f}" in ax.get_title()
    assert (ax.get_xlim(), ax.get_ylim()) == limits
    assert ax.get_ylim()[1] > Normal(0.0, Q_STD_MIN).log_prob(torch.tensor(0.0)).exp().item()  # no q peak is cut
    plt.close(fig)


def test_widget_sliders_drive_the_figure():
    w = make_elbo_widget()
    sliders = [c for c in w.controls if isinstance(c, widgets.FloatSlider)]
    assert [s.description for s in sliders] == ["q mean", "q std"]
    assert sliders[1].min == Q_STD_MIN
    sliders[0].value, sliders[1].value = 1.0, 0.5
    w.canvas.draw()  # the frame the browser asks for brings the artists up to date
    q_line = w.figure.axes[0].lines[2]
    ref = Normal(f64(1.0), f64(0.5)).log_prob(torch.as_tensor(q_line.get_xdata())).exp().numpy()
    assert np.allclose(q_line.get_ydata(), ref, rtol=1e-12, atol=1e-300)
    assert f"{elbo_readout(1.0, 0.5).gap:.3f}" in w.figure.axes[0].get_title()
