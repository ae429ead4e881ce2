"""The latent explorer (notebooks/05_latent_space.ipynb): its callback, its first frame, the live map's kernel side.

References: the model's own decoder, matplotlib's drawing of the same figure (the scene the page draws over must put
the marker, the title and the digit where matplotlib puts them), matplotlib's gray_r colour map. What the page draws
is checked in tests/test_browser.py (a drag, then the canvas against a frame drawn from scratch).
"""
from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from vaelib.models import ModelConfig, build_model
from vaelib.widgets.latent import STEP, LatentMap, decode_point, digit_levels, make_latent_widget


def tiny_model():
    torch.manual_seed(0)
    return build_model(ModelConfig(latent_dim=2, hidden=(16,))).eval()


def test_decode_point_returns_the_decoded_probabilities():
    model = tiny_model()
    img = decode_point(model, 0.5, -1.0)
    ref = torch.sigmoid(model.decode(torch.tensor([[0.5, -1.0]])))[0]
    assert img.shape == (784,) and torch.allclose(img, ref)
    assert ((img > 0) & (img < 1)).all()


@pytest.mark.parametrize("z,name", [((float("nan"), 0.0), "z1"), ((0.0, float("inf")), "z2"),
                                    ((-float("inf"), 1.0), "z1"), ((1e39, 0.0), "z1"), ((0.0, "1"), "z2")])
def test_decode_point_refuses_coordinates_that_are_not_finite_numbers_in_range(z, name):
    message = rf"^{name} must be (a number|finite)[^:]* \(got .*\): pass (a value of|a finite number for) {name}.*\.$"
    with pytest.raises((ValueError, TypeError), match=message):
        decode_point(tiny_model(), *z)


def test_decode_point_draws_marker_scatter_and_image():
    model = tiny_model()
    fig, axes = plt.subplots(1, 2)
    mu, labels = torch.randn(20, 2), torch.arange(20) % 10
    img = decode_point(model, 1.0, 2.0, axes=(axes[0], axes[1]), mu=mu, labels=labels)
    marker = axes[0].lines[-1]
    assert list(marker.get_xdata()) == [1.0] and list(marker.get_ydata()) == [2.0]
    assert len(axes[0].collections[0].get_offsets()) == 20
    assert np.allclose(axes[1].images[0].get_array(), img.reshape(28, 28).numpy())
    plt.close(fig)


def test_digit_levels_are_the_grey_levels_matplotlib_draws():
    """The page draws the digit from these bytes: they must be imshow's own colours for the same probabilities."""
    p = torch.linspace(0, 1, 784)
    fig = plt.figure(figsize=(2.8, 2.8), dpi=10)  # 28 x 28 pixels: one pixel per image pixel
    fig.figimage(p.reshape(28, 28).numpy(), cmap="gray_r", vmin=0, vmax=1)
    FigureCanvasAgg(fig).draw()
    drawn = np.asarray(fig.canvas.buffer_rgba())[..., 0]  # row 0 at the top (origin "upper", as imshow)
    levels = np.frombuffer(digit_levels(p), np.uint8).reshape(28, 28)
    assert np.array_equal(levels, drawn) and levels[0, 0] == 255 and levels[-1, -1] == 0
    plt.close(fig)


@pytest.mark.parametrize("image,problem", [(torch.full((784,), 1.5), "outside"), (torch.full((784,), float("nan")),
                                                                                  "NaN"),
                                           (torch.rand(28, 28), "must be 1-D"), (torch.rand(10), "784 entries")])
def test_digit_levels_refuse_what_is_not_784_probabilities(image, problem):
    with pytest.raises(ValueError, match=rf"^image .*{problem}.*\.$"):
        digit_levels(image)


def test_the_widget_shows_the_sliders_the_map_and_its_first_frame():
    model = tiny_model()
    w = make_latent_widget(model, torch.randn(50, 2), torch.arange(50) % 10)
    s1, s2 = w.controls
    assert (s1.description, s2.description) == ("z1", "z2") and s1.min == -3.0 and s2.max == 3.0 and s1.step == STEP
    assert s1.continuous_update and s2.continuous_update  # the point follows a slider drag, not only the release
    assert w.values() == [0.0, 0.0] and w.map.digit == digit_levels(decode_point(model, 0.0, 0.0))
    ax_map, ax_img = w.figure.axes[:2]  # (then the colour bar of the scatter)
    assert ax_map.get_xlabel() and ax_map.get_ylabel() and ax_img.get_xlabel()  # every panel says what it shows
    assert ax_map.get_title() == "z = (+0.00, +0.00)"
    # in the browser the sliders and the map are one state: each slider is linked to its coordinate there
    assert [(link.source, link.target) for link in w.links] == [((s1, "value"), (w.map, "z1")),
                                                               ((s2, "value"), (w.map, "z2"))]
    w.close()
    plt.close("all")


def test_a_new_point_sends_its_decoded_digit_and_only_a_change_sends():
    model = tiny_model()
    w = make_latent_widget(model)
    sent = []
    w.map.observe(lambda change: sent.append(change["new"]), names="digit")
    w.map.z1, w.map.z2 = 1.5, -0.5
    assert w.values() == [1.5, -0.5]
    assert sent[-1] == digit_levels(decode_point(model, 1.5, -0.5))
    n = len(sent)
    w.map.z1 = 1.5  # the same point: no message
    assert len(sent) == n
    w.close()
    plt.close("all")


@pytest.mark.parametrize("value", [3.5, -3.05, float("nan")])
def test_the_map_refuses_a_point_outside_its_square(value):
    w = make_latent_widget(tiny_model())
    with pytest.raises((ValueError, TypeError), match=r"^z1 must be .*\.$"):
        w.map.z1 = value
    assert w.values() == [0.0, 0.0]
    w.close()
    plt.close("all")


def _drawn(fig) -> np.ndarray:
    FigureCanvasAgg(fig).draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)


def test_the_scene_puts_marker_title_and_digit_where_matplotlib_draws_them():
    """The page draws the moving parts at the scene's pixels; matplotlib's full drawing of the same state is the
    reference: the pixels that the marker, the title and the image change lie where the scene says."""
    w = make_latent_widget(tiny_model(), torch.randn(50, 2), torch.arange(50) % 10)
    scene, view, fig = w.map.scene, w.view, w.figure
    assert (scene["width"], scene["height"]) == pytest.approx(tuple(fig.bbox.size))
    full = _drawn(fig)
    for artist in (view.marker, view.image):
        artist.set_visible(False)
    view.ax_map.set_title("")
    still = _drawn(fig)
    ys, xs = np.nonzero((full != still).any(axis=2))  # what moves, in pixels from the top left
    m, im = scene["map"], scene["image"]
    z_px = (m["x"] + (0 - m["xlim"][0]) / (m["xlim"][1] - m["xlim"][0]) * m["w"],
            m["y"] + (m["ylim"][1] - 0) / (m["ylim"][1] - m["ylim"][0]) * m["h"])
    outline = np.array(scene["marker"]["path"])
    near_marker = (np.abs(xs - z_px[0]) <= np.abs(outline[:, 0]).max() + 2) \
        & (np.abs(ys - z_px[1]) <= np.abs(outline[:, 1]).max() + 2)
    in_image = (xs >= im["x"] - 2) & (xs <= im["x"] + im["w"] + 2) & (ys >= im["y"] - 2) & (ys <= im["y"] + im["h"] + 2)
    t = scene["title"]
    size = float(t["font"].split("px")[0].split()[-1])  # the font's size in pixels
    in_title = ys < m["y"]  # above the map's Axes: only the title moves there
    tx, ty = xs[in_title], ys[in_title]
    assert abs((tx.min() + tx.max()) / 2 - t["x"]) <= 2, "the title is not centred where the scene says"
    assert t["y"] - 1 <= ty.max() <= t["y"] + 0.3 * size and ty.min() >= t["y"] - size, \
        "the title's baseline is not where the scene says"
    assert near_marker.any() and in_image.any()
    assert (near_marker | in_image | in_title).all(), "matplotlib draws a moving part where the scene does not say"
    # the background the page draws over is the still figure (twice the pixels)
    bg = np.asarray(Image.open(io.BytesIO(w.map.background)).convert("RGB"))
    assert bg.shape[:2] == (2 * still.shape[0], 2 * still.shape[1])
    w.close()
    plt.close("all")


def test_the_map_script_ships_with_the_package():
    assert "export default" in LatentMap._esm and "freshFrame" in LatentMap._esm
