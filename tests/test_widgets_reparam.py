"""The notebook-03 widget callback returns correct, reproducible numbers and draws both histograms."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vaelib.widgets.reparam import make_reparam_widget, reparam_panel  # noqa: E402


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


def test_panel_draws_two_histograms_and_the_exact_line():
    fig, ax = plt.subplots()
    out = reparam_panel(0.5, 1.0, 3, ax=ax)
    assert len(ax.containers) == 2
    assert ax.lines[0].get_xdata()[0] == pytest.approx(out["exact"])
    plt.close(fig)


def test_panel_rejects_bad_input_and_widget_builds():
    with pytest.raises(ValueError):
        reparam_panel(0.0, 0.0, 3)
    ui = make_reparam_widget(batches=50)
    assert {c.description for c in ui.children[:4]} >= {"μ", "σ", "n per batch"}
    plt.close("all")
