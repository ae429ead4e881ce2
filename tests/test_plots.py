"""Plot helpers draw what they are given (checked on the figure's data, not by eye)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from vaelib.plots import image_grid, learning_curves, set_theme  # noqa: E402


def test_image_grid_places_each_image():
    set_theme()
    imgs = torch.zeros(6, 784)
    imgs[4] = 1.0  # the fifth image is white-on-... fully on
    fig = image_grid(imgs, nrow=3)
    canvas = fig.axes[0].images[0].get_array()
    assert canvas.shape == (2 * 30 + 2, 3 * 30 + 2)
    assert np.allclose(canvas[32:60, 32:60], 1.0) and np.allclose(canvas[2:30, 2:30], 0.0)
    plt.close(fig)


def test_learning_curves_plots_train_and_val_per_key():
    h = {f"{s}_{k}": [float(i) for i in range(5)] for s in ("train", "val") for k in ("elbo", "recon", "kl")}
    fig = learning_curves(h)
    assert len(fig.axes) == 3 and all(len(ax.lines) == 2 for ax in fig.axes)
    assert list(fig.axes[0].lines[0].get_xdata()) == [1, 2, 3, 4, 5]
    plt.close(fig)
