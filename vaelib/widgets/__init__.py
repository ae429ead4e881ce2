"""Interactive explorers, one module per notebook, drawn live with ipympl.

Each explorer has three layers: a plain callback that returns the numbers (tests call it without a
browser); a view that draws its figure once and then only changes its moving artists (``set_ydata``,
``set_data``, a title's text); and ``LiveFigure``, which wires ipywidgets controls to the view on an
ipympl canvas. Drawing the still layers (axes, ticks, legends, 05's scatter) takes 35-200 ms of CPU on
this project's 2-core machine, so the canvas draws them once and, on each change, pastes them back and
redraws only the moving artists (blitting: 11-29 ms a frame); only the changed pixels travel to the
browser (ipympl's diff frames). Everything that touches ipympl's internals lives in
``vaelib.widgets.ipympl_canvas``.

The notebook's backend stays inline: each explorer makes its own ipympl canvas for its one figure,
outside pyplot. Where widgets cannot run (a static HTML page, a viewer without a kernel), the displayed
widget also offers its first figure as ``image/png`` (``FirstPicture``).

Notebook 05's explorer is the exception: its map is dragged with the mouse, which needs more frames a second
than a PNG per frame gives on two cores, so the page draws what moves there (``vaelib.widgets.latent``).
"""
from __future__ import annotations

import base64
import io
import math
import time
from typing import Any, Callable, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.artist import Artist
from matplotlib.figure import Figure

from vaelib import figcheck
from vaelib.checks import count, number
from vaelib.plots import FIGSIZE, figsize
from vaelib.widgets.ipympl_canvas import BlitCanvas, encode_png, live_canvas, set_first_picture

__all__ = ["BlitCanvas", "FirstPicture", "LiveFigure", "encode_png", "figure_png", "freeze_layout", "live_canvas",
           "new_figure", "normal_pdf"]

PNG_SCALE = 2  # the static image has twice the figure's pixels (sharp on high-density screens)
DIRECT_FRAME_S = 0.03  # a change this long after the last frame is drawn at once; sooner ones wait for the browser
DRAW_SHARE = 1.5  # ... and at least this many times the last frame's drawing time: a drag spends at most 2/3 drawing


def normal_pdf(z: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Density of N(mean, std^2) at each z: the curves of the ELBO and KL explorers (notebooks 01, 02)."""
    mean, std = number(mean, "mean"), number(std, "std", low=0.0, strict_low=True)
    return np.exp(-0.5 * ((z - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def _same_value(a: Any, b: Any) -> bool:
    """Whether two control values are the same, floats within 1e-9 (a browser slider's rounding of 0.35 is not news)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9)
    return a == b


def new_figure(width: float = 1.0, height: float = 1.0) -> Figure:
    """A figure outside pyplot (``plt`` neither shows nor keeps it), laid out by constrained layout until frozen.

    Its size is the theme's panel scaled by ``width`` and ``height``, through ``vaelib.plots.figsize``: in
    "talk" (``set_theme("talk")``, ``VAELIB_TALK=1``) it grows with the fonts, and so does its width cap
    (``MAX_WIDTH`` times the same factor), so the explorers are lecture-sized too.
    """
    width, height = number(width, "width", low=0.0, strict_low=True), number(height, "height", low=0.0, strict_low=True)
    w, h = FIGSIZE["notebook"]
    return Figure(figsize=figsize(panel=(w * width, h * height)), layout="constrained")


def freeze_layout(fig: Figure) -> None:
    """Lay the figure out once, then keep every Axes where it is, so updates never move or rescale them."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")


def figure_png(fig: Figure, scale: int = PNG_SCALE) -> bytes:
    """The figure as PNG bytes at ``scale`` times its dpi."""
    scale = count(scale, "scale")
    with io.BytesIO() as buf:
        fig.savefig(buf, format="png", dpi=scale * fig.dpi)
        return buf.getvalue()


class FirstPicture:
    """An explorer's figure as first drawn: checked by the figure check, and offered as ``image/png`` beside the widget.

    Renderers without widgets (a static HTML page, nbconvert, a viewer without a kernel) show that PNG; it has
    ``PNG_SCALE`` times the figure's pixels and is shown at the figure's size.
    """

    def __init__(self, fig: Figure):
        if figcheck.enabled_path():  # the first frame, as the figure check sees every notebook figure
            figcheck.record(fig, cropped=False, where="widget first frame", talk=False)
        self.png = figure_png(fig)
        self.png_b64 = base64.b64encode(self.png).decode("ascii")
        w, h = fig.get_size_inches() * fig.dpi
        self.css_size = {"width": int(round(w)), "height": int(round(h))}

    def bundle(self, data: dict) -> tuple[dict, dict]:
        """A widget's mime bundle (``_repr_mimebundle_``'s data) with the picture added, and its display size."""
        return {**data, "image/png": self.png_b64}, {"image/png": dict(self.css_size)}


class LiveFigure(widgets.VBox):
    """Controls above a figure that ``update(*values)`` changes in place, redrawn when a control changes.

    ``update`` receives the controls' values in order and may change only the ``moving`` artists; it
    runs once here, then before each frame, with the latest values. A change is drawn at once if the
    last frame is old enough (a quiet moment, or, in a drag, 1.5 times that frame's drawing time); else its
    frame waits for ipympl's browser side to ask for one, so values that arrive meanwhile are skipped
    instead of queued, and a change that leaves the values as drawn draws nothing. The figure is laid out once
    (``freeze_layout``). Displayed, it is the widget view plus the first figure as ``image/png`` (for
    renderers without widgets); the canvas's state holds that PNG too.
    """

    def __init__(self, controls: Sequence[widgets.ValueWidget], fig: Figure, update: Callable[..., Any],
                 moving: Sequence[Artist]):
        self.controls, self.figure, self.update = list(controls), fig, update
        self.shown = self.values()  # the values the figure shows
        update(*self.shown)
        freeze_layout(fig)
        self.picture = FirstPicture(fig)  # before the moving artists become animated (savefig skips those)
        self.canvas = live_canvas(fig, moving, before_draw=self.refresh)
        set_first_picture(self.canvas, self.picture.png_b64)  # ipympl shows it until its first frame
        for control in self.controls:
            control.observe(self._on_change, names="value")
        super().__init__([widgets.HBox(self.controls, layout=widgets.Layout(flex_flow="row wrap")), self.canvas])

    def values(self) -> list[Any]:
        """The controls' current values, in order."""
        return [c.value for c in self.controls]

    def refresh(self) -> None:
        """Bring the moving artists up to the controls' values (the canvas calls it before each frame)."""
        values = self.values()
        if values != self.shown:
            self.update(*values)
            self.shown = values

    def _on_change(self, _change: object = None) -> None:
        if all(_same_value(v, s) for v, s in zip(self.values(), self.shown)):  # already drawn: no second frame
            return  # (two sliders set together notify twice; a browser slider sends back its float rounding)
        since = time.monotonic() - self.canvas.last_frame
        if since >= max(DIRECT_FRAME_S, DRAW_SHARE * self.canvas.draw_s):
            self.canvas.draw()  # a step after a quiet moment, or a drag's next frame when its time has come
        else:  # too soon: the frame waits for the browser's request, and shows the latest values then, so a
            self.canvas.draw_idle()  # burst (a drag, a held key) leaves no backlog and its last state is drawn

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict]:
        return self.picture.bundle(super()._repr_mimebundle_(**kwargs))  # text/plain + the widget view + PNG
