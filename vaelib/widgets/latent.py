"""The latent explorer of notebooks/05_latent_space.ipynb: move (z1, z2), see the decoded digit.

``decode_point`` is the callback (a latent point -> pixel probabilities, optionally drawn on given
Axes); tests call it without a browser. ``LatentView`` draws the scatter of encoder means once and
then moves only the marker and the decoded image. ``make_latent_widget`` wires two sliders to it;
the sliders update while dragged, and pressing or dragging the mouse on the map moves the point too.
"""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.backend_bases import MouseButton

from vaelib import figcheck
from vaelib.checks import number
from vaelib.latent import decode_probs, latent_scatter
from vaelib.models import VAE
from vaelib.widgets import LiveFigure, new_figure


def decode_point(model: VAE, z1: float, z2: float, axes: tuple[plt.Axes, plt.Axes] | None = None,
                 mu: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Decode the 2-D latent (z1, z2) to pixel probabilities (784,); optionally draw scatter + marker and image."""
    z1, z2 = number(z1, "z1", low=-1e4, high=1e4), number(z2, "z2", low=-1e4, high=1e4)  # the sliders give -3..3
    device = next(model.parameters()).device
    z = torch.tensor([[z1, z2]], dtype=torch.float32, device=device)  # (1, 2)
    image = decode_probs(model, z)[0].cpu()  # (784,)
    if axes is not None:
        LatentView(axes, mu, labels).show(z1, z2, image)
    return image


class LatentView:
    """The map of encoder means (drawn once) and the decoded digit; ``show`` moves the marker and the image."""

    def __init__(self, axes: tuple[plt.Axes, plt.Axes], mu: torch.Tensor | None = None,
                 labels: torch.Tensor | None = None, lim: float = 3.0):
        self.ax_map, self.ax_img = axes
        if mu is not None and labels is not None:
            latent_scatter(mu, labels, ax=self.ax_map, s=1.0, lim=lim)
        self.ax_map.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="$z_1$", ylabel="$z_2$", aspect="equal")
        figcheck.mark(self.ax_map, "zoom")  # the sliders' square: the few means outside it are left out on purpose
        (self.marker,) = self.ax_map.plot([0.0], [0.0], marker="X", color="k", ms=14, mec="w", mew=1.5, ls="none",
                                          zorder=4)  # moving: over the scatter, contours and spines
        self.image = self.ax_img.imshow(np.zeros((28, 28)), cmap="gray_r", vmin=0, vmax=1)
        self.ax_img.set_xticks([])
        self.ax_img.set_yticks([])
        self.ax_img.set_xlabel("28 × 28 pixels\n(dark = likely on)")
        self.ax_img.set_title("decoded p(x | z)")
        # the image's frame is redrawn over it each frame, as a full draw would (spines above images)
        self.moving = [self.marker, self.ax_map.title, self.image, *self.ax_img.spines.values()]

    def show(self, z1: float, z2: float, image: torch.Tensor) -> None:
        """Put the marker at (z1, z2) and show ``image`` (784 pixel probabilities)."""
        self.marker.set_data([z1], [z2])
        self.ax_map.set_title(f"z = ({z1:+.2f}, {z2:+.2f})")
        self.image.set_data(image.reshape(28, 28).numpy())


def _snap(value: float, slider: widgets.FloatSlider) -> float:
    """``value`` on the slider's grid (whole steps from its minimum, as the browser's slider counts), within range."""
    k = round((value - slider.min) / slider.step)
    on_grid = round(slider.min + k * slider.step, 10)  # 0.35, not 0.35000000000000003
    return float(np.clip(on_grid, slider.min, slider.max))


def follow_mouse(view: LatentView, sliders: tuple[widgets.FloatSlider, widgets.FloatSlider]) -> None:
    """Pressing, or dragging with a button held, on the map moves the sliders (and so the point) there.

    While the button is down the sliders' ``continuous_update`` is off: the browser's slider, handed a value,
    otherwise sends back its own float rounding of it as a change, and during a drag those echoes arrive after
    newer positions (the browser lags), so the figure stepped back to older points after the release. It is on
    again at the release (or, if the button went up off the map, at the next mouse move over it).
    """

    def hold(on: bool) -> None:
        for slider in sliders:
            if slider.continuous_update == on:
                slider.continuous_update = not on

    def on_mouse(event) -> None:
        held = event.name == "button_press_event" or MouseButton.LEFT in (getattr(event, "buttons", None) or ())
        if not held or event.name == "button_release_event":
            hold(False)
            return
        if event.inaxes is not view.ax_map or event.xdata is None:
            return
        hold(True)
        with sliders[0].hold_trait_notifications(), sliders[1].hold_trait_notifications():
            for slider, v in zip(sliders, (event.xdata, event.ydata)):
                slider.value = _snap(v, slider)

    canvas = view.ax_map.figure.canvas
    for name in ("button_press_event", "motion_notify_event", "button_release_event"):
        canvas.mpl_connect(name, on_mouse)


def make_latent_widget(model: VAE, mu: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                       lim: float = 3.0) -> LiveFigure:
    """Two sliders (z1, z2) above the live map and decoded digit; the mouse on the map moves the point too."""
    lim = number(lim, "lim", low=0.0, strict_low=True)
    style = {"description_width": "30px"}
    s1 = widgets.FloatSlider(value=0.0, min=-lim, max=lim, step=0.05, description="z1", style=style)
    s2 = widgets.FloatSlider(value=0.0, min=-lim, max=lim, step=0.05, description="z2", style=style)
    fig = new_figure(width=1.45, height=1.1)
    ax_map, ax_img = fig.subplots(1, 2, width_ratios=[1.5, 1])
    view = LatentView((ax_map, ax_img), mu, labels, lim)

    def update(z1: float, z2: float) -> torch.Tensor:
        image = decode_point(model, z1, z2)
        view.show(z1, z2, image)
        return image

    ui = LiveFigure([s1, s2], fig, update, moving=view.moving)
    follow_mouse(view, (s1, s2))
    return ui
