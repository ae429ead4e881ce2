"""The latent explorer of notebooks/05_latent_space.ipynb: move (z1, z2), see the decoded digit.

``decode_point`` is the callback (slider values -> image, optionally drawn on given Axes); it is a
plain function that tests call without a browser. ``make_latent_widget`` wires it to two ipywidgets
sliders and an ``Output`` that shows a redrawn PNG (no ipympl needed). Clicking on the scatter is not
supported: a static PNG has no click events without ipympl, so the sliders are the interface.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import torch

from vaelib.latent import decode_probs, latent_scatter
from vaelib.models import VAE
from vaelib.widgets import live_figure


def decode_point(model: VAE, z1: float, z2: float, axes: tuple[plt.Axes, plt.Axes] | None = None,
                 mu: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Decode the 2-D latent (z1, z2) to pixel probabilities (784,); optionally draw scatter + marker and image."""
    device = next(model.parameters()).device
    z = torch.tensor([[z1, z2]], dtype=torch.float32, device=device)  # (1, 2)
    image = decode_probs(model, z)[0].cpu()  # (784,)
    if axes is not None:
        ax_map, ax_img = axes
        if mu is not None and labels is not None:
            latent_scatter(mu, labels, ax=ax_map, s=1.0)
        ax_map.plot([z1], [z2], marker="X", color="k", ms=12, mec="w")
        ax_map.set_title(f"z = ({z1:+.2f}, {z2:+.2f})")
        ax_img.imshow(image.reshape(28, 28).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax_img.set_axis_off()
        ax_img.set_title("decoded p(x|z)")
    return image


def make_latent_widget(model: VAE, mu: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                       lim: float = 3.0) -> Any:
    """Two sliders (z1, z2) and an Output that redraws the scatter, the marker and the decoded digit."""
    import ipywidgets as widgets

    style = {"description_width": "30px"}
    s1 = widgets.FloatSlider(value=0.0, min=-lim, max=lim, step=0.05, description="z1", style=style,
                             continuous_update=False)
    s2 = widgets.FloatSlider(value=0.0, min=-lim, max=lim, step=0.05, description="z2", style=style,
                             continuous_update=False)

    def draw(z1: float, z2: float) -> Figure:
        fig, axes = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [1.4, 1]})
        decode_point(model, z1, z2, axes=(axes[0], axes[1]), mu=mu, labels=labels)
        fig.tight_layout()
        return fig

    return live_figure([s1, s2], draw)
