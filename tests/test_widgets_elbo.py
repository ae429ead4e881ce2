"""The ELBO explorer's callback against exact formulas (notebooks/01_elbo.ipynb)."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.distributions import Normal, kl_divergence  # noqa: E402

from vaelib.widgets.elbo import DEFAULTS, elbo_readout, make_elbo_widget  # noqa: E402

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


def test_callback_draws_prior_posterior_and_q():
    fig, ax = plt.subplots()
    r = elbo_readout(0.0, 1.0, ax=ax)
    assert len(ax.lines) == 3 and f"{r.gap:.3f}" in ax.get_title()
    plt.close(fig)


def test_widget_has_two_sliders():
    import ipywidgets as widgets

    box = make_elbo_widget()
    sliders = [w for w in box.children[0].children if isinstance(w, widgets.FloatSlider)]
    assert [s.description for s in sliders] == ["q mean", "q std"]
    sliders[0].value = 1.0  # triggers a redraw without error
    plt.close("all")
