"""The latent explorer's callback: decodes the slider point, draws marker and image; the widget wires up."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from vaelib.models import ModelConfig, build_model  # noqa: E402
from vaelib.widgets.latent import decode_point, make_latent_widget  # noqa: E402


def tiny_model():
    torch.manual_seed(0)
    return build_model(ModelConfig(latent_dim=2, hidden=(16,))).eval()


def test_decode_point_returns_the_decoded_probabilities():
    model = tiny_model()
    img = decode_point(model, 0.5, -1.0)
    ref = torch.sigmoid(model.decode(torch.tensor([[0.5, -1.0]])))[0]
    assert img.shape == (784,) and torch.allclose(img, ref)
    assert ((img > 0) & (img < 1)).all()


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


def test_widget_has_two_sliders_and_redraws_on_change():
    model = tiny_model()
    box = make_latent_widget(model)
    s1, s2 = box.children[0].children
    out = box.children[1]
    assert (s1.description, s2.description) == ("z1", "z2") and s1.min == -3.0 and s2.max == 3.0
    s1.value = 1.5  # the observer runs decode_point again; it must not raise
    assert s1.value == 1.5 and out is not None
    plt.close("all")
