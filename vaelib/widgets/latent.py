"""The latent explorer of notebooks/05_latent_space.ipynb: move (z1, z2), see the decoded digit.

Three layers, as in the other explorers, but the live one runs in the browser:

- ``decode_point``, the callback: a latent point -> pixel probabilities (tests call it without a browser).
- ``LatentView``, the figure in matplotlib: the map of encoder means with the marker, and the decoded digit. It is
  the explorer's first frame, the picture a static page shows, and what the figure check inspects.
- ``LatentMap``, the same figure live (``latent_map.js``, through anywidget). Matplotlib draws the still layers
  once, as one PNG; the page draws the marker, the title and the digit itself. A drag on the map moves the point at
  the screen's frame rate, with no round trip to the kernel. The kernel only decodes each new point and sends back
  784 grey levels (3 ms a step on the reference CPU, ``benchmarks/widget_latency.py``).

Why not ipympl, as in notebooks 01-03? Each frame of a drag would travel as a PNG: the kernel draws and encodes it,
and the page decodes and repaints it. On the 2-core reference CPU that pipeline showed 11-17 frames a second
(``docs/maintaining.md`` has the measurements). ``make_latent_widget`` puts two sliders above the map. They are
linked to it in the browser (``jslink``), so a drag moves the sliders and a slider moves the point, without the
kernel in between.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import traitlets
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.markers import MarkerStyle

from vaelib import figcheck
from vaelib.checks import number, tensor, unit_interval
from vaelib.latent import decode_probs, latent_scatter
from vaelib.models import VAE
from vaelib.widgets import FirstPicture, figure_png, freeze_layout, new_figure

STEP = 0.05  # the sliders' step; a drag on the map snaps to the same grid
DIGIT_CMAP = "gray_r"  # dark = likely on


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


def digit_levels(image: torch.Tensor) -> bytes:
    """784 pixel probabilities -> 784 grey levels (bytes), exactly as ``imshow(..., cmap="gray_r", vmin=0, vmax=1)``
    colours them: what ``LatentMap`` sends to the page for each new point."""
    tensor(image, "image", ndim=1, last=784)
    unit_interval(image, "image")
    rgba = colormaps[DIGIT_CMAP](image.detach().cpu().numpy(), bytes=True)  # (784, 4) uint8, grey
    return rgba[:, 0].tobytes()


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
                                          zorder=4)  # over the scatter, contours and spines
        self.image = self.ax_img.imshow(np.zeros((28, 28)), cmap=DIGIT_CMAP, vmin=0, vmax=1)
        self.ax_img.set_xticks([])
        self.ax_img.set_yticks([])
        self.ax_img.set_xlabel("28 × 28 pixels\n(dark = likely on)")
        self.ax_img.set_title("decoded p(x | z)")

    def show(self, z1: float, z2: float, image: torch.Tensor) -> None:
        """Put the marker at (z1, z2) and show ``image`` (784 pixel probabilities)."""
        self.marker.set_data([z1], [z2])
        self.ax_map.set_title(f"z = ({z1:+.2f}, {z2:+.2f})")
        self.image.set_data(image.reshape(28, 28).numpy())

    def scene(self) -> dict[str, Any]:
        """Where the page draws what moves, in the figure's pixels from its top left (the figure laid out and frozen):
        the map's Axes and limits, the digit's Axes, the marker's outline and colours, the title's anchor and font."""
        fig = self.ax_map.figure
        px = fig.dpi / 72  # pixels per point
        height = fig.bbox.height

        def box(ax: plt.Axes) -> dict[str, float]:
            b = ax.get_window_extent()
            return {"x": float(b.x0), "y": float(height - b.y1), "w": float(b.width), "h": float(b.height)}

        style = MarkerStyle(self.marker.get_marker())
        outline = style.get_path().transformed(style.get_transform()).vertices * self.marker.get_markersize() * px
        title = self.ax_map.title
        x, y = title.get_transform().transform(title.get_position())
        spine = self.ax_img.spines["left"]
        return {
            "width": float(fig.bbox.width), "height": float(height),
            "map": {**box(self.ax_map), "xlim": list(self.ax_map.get_xlim()), "ylim": list(self.ax_map.get_ylim())},
            "image": box(self.ax_img),
            "marker": {"path": [[float(dx), float(-dy)] for dx, dy in outline],
                       "face": to_hex(self.marker.get_markerfacecolor()),
                       "edge": to_hex(self.marker.get_markeredgecolor()),
                       "lw": float(self.marker.get_markeredgewidth() * px)},
            "title": {"x": float(x), "y": float(height - y), "color": to_hex(title.get_color()),
                      "font": f"{title.get_fontweight()} {title.get_fontsize() * px:.2f}px "
                              "'DejaVu Sans', 'Bitstream Vera Sans', Verdana, sans-serif"},
            "spine": {"lw": float(spine.get_linewidth() * px), "color": to_hex(spine.get_edgecolor())},
        }

    def background_png(self) -> bytes:
        """The figure without what moves (marker, title, digit) as PNG: the page draws those over it."""
        moving = (self.marker, self.image)
        text = self.ax_map.get_title()
        for artist in moving:
            artist.set_visible(False)
        self.ax_map.set_title("")
        try:
            return figure_png(self.ax_map.figure)
        finally:
            for artist in moving:
                artist.set_visible(True)
            self.ax_map.set_title(text)


class LatentMap(anywidget.AnyWidget):
    """The map and the decoded digit, live in the browser (``latent_map.js``); ``z1``, ``z2`` is the point.

    Setting ``z1`` or ``z2`` here (or in the page: a drag, a click, the arrow keys, a linked slider) decodes the new
    point and sends its grey levels (``digit``) to the page. Values must lie in [-lim, lim].
    """

    _esm = (Path(__file__).with_name("latent_map.js")).read_text(encoding="utf-8")
    z1 = traitlets.Float(0.0).tag(sync=True)
    z2 = traitlets.Float(0.0).tag(sync=True)
    lim = traitlets.Float(3.0).tag(sync=True)
    step = traitlets.Float(STEP).tag(sync=True)
    scene = traitlets.Dict().tag(sync=True)
    background = traitlets.Bytes().tag(sync=True)
    digit = traitlets.Bytes().tag(sync=True)

    def __init__(self, model: VAE, view: LatentView, lim: float, **kwargs: Any):
        self.model = model
        super().__init__(lim=lim, scene=view.scene(), background=view.background_png(), **kwargs)
        self.digit = digit_levels(decode_point(model, self.z1, self.z2))

    @traitlets.validate("z1", "z2")
    def _in_range(self, proposal: traitlets.Bunch) -> float:
        name = proposal["trait"].name
        return number(proposal["value"], name, low=-self.lim, high=self.lim)

    @traitlets.observe("z1", "z2")
    def _decode(self, _change: traitlets.Bunch) -> None:
        self.digit = digit_levels(decode_point(self.model, self.z1, self.z2))  # equal bytes send nothing


class LatentExplorer(widgets.VBox):
    """Two sliders (z1, z2) above the live map (``map``); the matplotlib ``figure`` is its first frame.

    The sliders and the map are linked in the browser, so from Python move the point with ``map.z1``/``map.z2``
    (``values()`` reads it). Displayed, it is the widget view plus the first frame as ``image/png``.
    """

    def __init__(self, model: VAE, mu: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                 lim: float = 3.0):
        lim = number(lim, "lim", low=0.0, strict_low=True)
        style = {"description_width": "30px"}
        self.controls = [widgets.FloatSlider(value=0.0, min=-lim, max=lim, step=STEP, description=name, style=style)
                         for name in ("z1", "z2")]
        self.figure: Figure = new_figure(width=1.45, height=1.1)
        FigureCanvasAgg(self.figure)  # drawn by matplotlib only for its first frame and the page's background
        ax_map, ax_img = self.figure.subplots(1, 2, width_ratios=[1.5, 1])
        self.view = LatentView((ax_map, ax_img), mu, labels, lim)
        self.view.show(0.0, 0.0, decode_point(model, 0.0, 0.0))
        freeze_layout(self.figure)
        self.picture = FirstPicture(self.figure)
        self.map = LatentMap(model, self.view, lim)
        self.links = [widgets.jslink((slider, "value"), (self.map, name))
                      for slider, name in zip(self.controls, ("z1", "z2"))]
        super().__init__([widgets.HBox(self.controls, layout=widgets.Layout(flex_flow="row wrap")), self.map])

    def values(self) -> list[float]:
        """The point (z1, z2) as the kernel last heard it."""
        return [self.map.z1, self.map.z2]

    def close(self) -> None:
        """Close the links, the map and the sliders (also of an explorer whose construction failed part way)."""
        for part in [*getattr(self, "links", ()), getattr(self, "map", None), *getattr(self, "controls", ())]:
            if part is not None:
                part.close()
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict]:
        return self.picture.bundle(super()._repr_mimebundle_(**kwargs))  # text/plain + the widget view + PNG


def make_latent_widget(model: VAE, mu: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                       lim: float = 3.0) -> LatentExplorer:
    """Two sliders (z1, z2) above the live map and decoded digit; a drag, a click or arrow keys on the map move it."""
    return LatentExplorer(model, mu, labels, lim)
