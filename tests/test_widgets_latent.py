"""The latent explorer's callback: decodes the slider point, draws marker and image; the widget wires up."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.backend_bases import MouseButton, MouseEvent

from vaelib.models import ModelConfig, build_model
from vaelib.widgets.latent import _snap, decode_point, make_latent_widget

# ipympl builds its toolbar widget with arguments traitlets warns about; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")


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


def test_widget_sliders_move_the_marker_and_the_decoded_digit():
    model = tiny_model()
    w = make_latent_widget(model, torch.randn(50, 2), torch.arange(50) % 10)
    s1, s2 = w.controls
    assert (s1.description, s2.description) == ("z1", "z2") and s1.min == -3.0 and s2.max == 3.0
    assert s1.continuous_update and s2.continuous_update  # the figure follows a drag, not only the release
    s1.value, s2.value = 1.5, -0.5
    w.canvas.draw()
    ax_map, ax_img = w.figure.axes[:2]  # (then the colour bar of the scatter)
    marker = [ln for ln in ax_map.lines if ln.get_marker() == "X"][0]
    assert list(marker.get_xdata()) == [1.5] and list(marker.get_ydata()) == [-0.5]
    ref = torch.sigmoid(model.decode(torch.tensor([[1.5, -0.5]])))[0].reshape(28, 28).detach().numpy()
    assert np.allclose(ax_img.images[0].get_array(), ref)
    assert ax_map.get_xlabel() and ax_map.get_ylabel() and ax_img.get_xlabel()  # every panel says what it shows
    plt.close("all")


def test_pressing_or_dragging_on_the_map_moves_the_sliders():
    w = make_latent_widget(tiny_model())
    s1, s2 = w.controls
    ax_map = w.figure.axes[0]
    canvas = w.canvas

    def mouse(name, z, **kw):
        x, y = ax_map.transData.transform(z)
        MouseEvent(name, canvas, x, y, **kw)._process()

    mouse("button_press_event", (1.23, -2.01), button=MouseButton.LEFT)
    assert (s1.value, s2.value) == (pytest.approx(1.25), pytest.approx(-2.0))  # rounded to the sliders' step
    mouse("motion_notify_event", (0.5, 0.5), buttons={MouseButton.LEFT})  # a drag
    assert (s1.value, s2.value) == (pytest.approx(0.5), pytest.approx(0.5))
    mouse("motion_notify_event", (-1.0, 2.0))  # hovering, no button: nothing moves
    assert (s1.value, s2.value) == (pytest.approx(0.5), pytest.approx(0.5))
    mouse("button_press_event", (9.0, 9.0), button=MouseButton.LEFT)  # outside the map's Axes
    assert (s1.value, s2.value) == (pytest.approx(0.5), pytest.approx(0.5))
    plt.close("all")


def test_while_the_button_is_down_the_browser_sliders_send_no_echo_and_values_are_on_the_grid():
    """Issue 20: the browser's sliders sent their own rounding of each value back, late, during a drag."""
    w = make_latent_widget(tiny_model())
    s1, s2 = w.controls
    ax_map = w.figure.axes[0]

    def mouse(name, z, **kw):
        x, y = ax_map.transData.transform(z)
        MouseEvent(name, w.canvas, x, y, **kw)._process()

    mouse("button_press_event", (0.349, -0.851), button=MouseButton.LEFT)
    assert not s1.continuous_update and not s2.continuous_update
    assert (s1.value, s2.value) == (0.35, -0.85)  # exactly: not 0.35000000000000003
    mouse("motion_notify_event", (1.0, 1.0), buttons={MouseButton.LEFT})
    assert not s1.continuous_update
    mouse("button_release_event", (1.0, 1.0), button=MouseButton.LEFT)
    assert s1.continuous_update and s2.continuous_update  # slider drags update continuously again
    mouse("button_press_event", (0.0, 0.0), button=MouseButton.LEFT)
    mouse("motion_notify_event", (2.0, 0.0))  # the button went up off the map: the next hover restores
    assert s1.continuous_update and s2.continuous_update
    assert _snap(-3.2, s1) == -3.0 and _snap(2.999, s1) == 3.0
    plt.close("all")


def test_a_value_that_differs_only_by_float_rounding_draws_no_frame():
    w = make_latent_widget(tiny_model())
    s1, _ = w.controls
    s1.value = 0.35
    w.canvas.draw()
    drawn = w.canvas.last_frame
    s1.value = 0.35000000000000003  # what a browser slider may send back
    assert w.canvas.last_frame == drawn and not w.canvas._changed
    plt.close("all")
