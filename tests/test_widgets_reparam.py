"""The notebook-03 widget callback returns correct, reproducible numbers and draws both histograms."""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from vaelib.plots import figsize, set_theme
from vaelib.widgets.reparam import EDGES, X_LIM, Y_MAX, ReparamView, binned_density, make_reparam_widget, reparam_panel

# ipympl builds its toolbar widget with arguments traitlets warns about; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")


@pytest.mark.parametrize("wrt", ["mu", "sigma"])
def test_panel_estimates_are_unbiased_and_pathwise_is_tighter(wrt):
    out = reparam_panel(1.5, 0.8, n=4, wrt=wrt, batches=2000, seed=1)
    assert out["exact"] == pytest.approx(3.0 if wrt == "mu" else 1.6)
    for name in ("score", "pathwise"):
        assert out[name].shape == (2000,)
        assert abs(out[f"{name}_mean"] - out["exact"]) < 5 * out[f"{name}_std"] / np.sqrt(2000)
    assert out["pathwise_std"] < out["score_std"]


def test_panel_is_reproducible_and_std_shrinks_with_n():
    a, b = reparam_panel(1.0, 1.0, 5, seed=3), reparam_panel(1.0, 1.0, 5, seed=3)
    assert np.array_equal(a["score"], b["score"])
    big = reparam_panel(1.0, 1.0, 20, seed=3)
    assert big["pathwise_std"] < a["pathwise_std"] and big["score_std"] < a["score_std"]


def test_binned_density_counts_every_estimate_in_the_total():
    g = np.array([-20.0, -0.1, 0.1, 0.2, 30.0])  # two of five outside the axis
    dens = binned_density(g)
    assert np.sum(dens * np.diff(EDGES)) == pytest.approx(3 / 5)
    assert dens[np.searchsorted(EDGES, 0.1) - 1] == pytest.approx(2 / 5 / 0.25)  # 0.1 and 0.2 share a bin


def test_panel_draws_both_histograms_and_the_exact_line_on_fixed_axes():
    fig, ax = plt.subplots()
    out = reparam_panel(0.5, 1.0, 3, ax=ax)
    limits = (ax.get_xlim(), ax.get_ylim())
    stairs = [p for p in ax.patches if hasattr(p, "get_data")]
    assert len(stairs) == 2
    for name, st in zip(("score", "pathwise"), stairs):
        assert np.array_equal(st.get_data().values, binned_density(out[name]))
        assert np.array_equal(st.get_data().edges, EDGES)
    assert ax.lines[0].get_xdata()[0] == pytest.approx(out["exact"])
    assert ax.get_title() == "n = 3 per batch" and ax.get_legend() is None  # a short title; the legend is the caller's
    view = ReparamView(ax)
    view.show(reparam_panel(-3.0, 3.0, 100, "sigma", batches=50))
    assert (ax.get_xlim(), ax.get_ylim()) == limits == (X_LIM, (0.0, Y_MAX))
    plt.close(fig)


@pytest.mark.parametrize("context", ["notebook", "talk"])
def test_panels_side_by_side_have_no_legends_and_titles_that_fit(context):
    with matplotlib.rc_context():  # as notebook 03 draws them: two panels of figsize(2, ...), tight_layout
        set_theme(context)
        fig, axes = plt.subplots(1, 2, figsize=figsize(2, panel=(3.6, 3.4)))
        for ax, n in zip(axes, (1, 100)):
            reparam_panel(-3.0, 3.0, n, batches=50, ax=ax)  # the widest numbers
        fig.tight_layout()
        fig.canvas.draw()
    assert not any(ax.get_legend() for ax in axes) and not fig.legends
    boxes = [ax.title.get_window_extent() for ax in axes]
    assert boxes[0].x1 < boxes[1].x0 and all(len(ax.get_title().splitlines()) == 1 for ax in axes)
    plt.close(fig)


@pytest.mark.parametrize("args,name", [((0.0, 0.0, 3), "sigma"), ((0.0, 1.0, 0), "n"), ((0.0, 1.0, 2.5), "n"),
                                       ((0.0, 1.0, 3, "logvar"), "wrt"), ((float("nan"), 1.0, 3), "mu"),
                                       (("1", 1.0, 3), "mu"), ((0.0, float("inf"), 3), "sigma"),
                                       ((0.0, 1.0, 3, "mu", 0), "batches")])
def test_panel_rejects_bad_input_in_one_sentence(args, name):
    with pytest.raises((ValueError, TypeError), match=rf"^{name} must [^:]* \(got .*\): pass .*\.$") as err:
        reparam_panel(*args)
    assert ". " not in str(err.value)  # one sentence


def test_widget_controls_drive_the_histograms_and_the_readout():
    ui = make_reparam_widget(batches=50)
    assert [c.description for c in ui.controls] == ["μ", "σ", "n per batch", "gradient with respect to"]
    assert ui.controls[3].options == (("the mean μ", "mu"), ("the spread σ", "sigma"))  # words, arrow keys
    mu, sigma, n, wrt = ui.controls
    mu.value, n.value, wrt.value = 2.0, 10, "sigma"
    ui.canvas.draw()
    ax = ui.figure.axes[0]
    assert ax.lines[0].get_xdata()[0] == pytest.approx(2 * sigma.value)  # exact d/dsigma E[z^2] = 2 sigma
    out = reparam_panel(2.0, sigma.value, 10, "sigma", batches=50)  # the readout: the callback's numbers
    off = np.mean(np.abs(out["score"]) > X_LIM[1])  # the axis is symmetric
    assert ax.get_title() == (f"n = 10: std score {out['score_std']:.2f}, pathwise {out['pathwise_std']:.2f} · "
                              f"score: {off:.0%} off the axis")
    plt.close("all")
