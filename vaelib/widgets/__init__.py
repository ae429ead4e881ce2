"""Interactive explorers, one module per notebook, drawn live with ipympl.

Each explorer has three layers: a plain callback that returns the numbers (tests call it without a
browser); a view that draws its figure once and then only changes its moving artists (``set_ydata``,
``set_data``, a title's text); and ``LiveFigure``, which wires ipywidgets controls to the view on an
ipympl canvas. Drawing the still layers (axes, ticks, legends, 05's scatter) takes 35-200 ms of CPU on
this project's 2-core machine, so the canvas draws them once and, on each change, pastes them back and
redraws only the moving artists (blitting: 11-29 ms a frame); only the changed pixels travel to the
browser (ipympl's diff frames).

The notebook's backend stays inline: each explorer makes its own ipympl canvas for its one figure,
outside pyplot. Where widgets cannot run (a static HTML page, a viewer without a kernel), the displayed
widget also offers its first figure as ``image/png``.
"""
from __future__ import annotations

import base64
import io
import itertools
import math
import struct
import time
import zlib
from typing import Any, Callable, Sequence

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np

# ipympl's import calls matplotlib.use(ipympl), which would close every pyplot figure and turn each
# plt.show() of the notebook into a widget. The explorers make their own ipympl canvases and need no
# backend, so that one call is skipped: the notebook keeps its backend (inline under Jupyter).
_use, mpl.use = mpl.use, lambda *args, **kwargs: None
try:
    from ipympl.backend_nbagg import Canvas, FigureManager
finally:
    mpl.use = _use

from matplotlib.artist import Artist  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vaelib.plots import FIGSIZE, figsize  # noqa: E402

PNG_SCALE = 2  # the static image has twice the figure's pixels (sharp on high-density screens)
DIRECT_FRAME_S = 0.05  # a change this long after the last frame is drawn at once; sooner ones wait for the browser
_figure_numbers = itertools.count(1)


def normal_pdf(z: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Density of N(mean, std^2) at each z: the curves of the ELBO and KL explorers (notebooks 01, 02)."""
    return np.exp(-0.5 * ((z - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def new_figure(width: float = 1.0, height: float = 1.0) -> Figure:
    """A figure outside pyplot (``plt`` neither shows nor keeps it), laid out by constrained layout until frozen.

    Its size is the theme's panel scaled by ``width`` and ``height``, through ``vaelib.plots.figsize``: in
    "talk" (``set_theme("talk")``, ``VAELIB_TALK=1``) it grows with the fonts, and so does its width cap
    (``MAX_WIDTH`` times the same factor), so the explorers are lecture-sized too.
    """
    w, h = FIGSIZE["notebook"]
    return Figure(figsize=figsize(panel=(w * width, h * height)), layout="constrained")


def freeze_layout(fig: Figure) -> None:
    """Lay the figure out once, then keep every Axes where it is, so updates never move or rescale them."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")


def figure_png(fig: Figure, scale: int = PNG_SCALE) -> bytes:
    """The figure as PNG bytes at ``scale`` times its dpi."""
    with io.BytesIO() as buf:
        fig.savefig(buf, format="png", dpi=scale * fig.dpi)
        return buf.getvalue()


class BlitCanvas(Canvas):
    """ipympl's canvas that redraws only its ``moving`` artists over a cached picture of the rest.

    A frame draws the moving artists over all still ones, so give them a zorder above the still
    artists they cross (the spines have 2.5), and a frame equals a full redraw (a test checks).
    ``before_draw`` runs first (it brings the artists up to date). The still layers are drawn again
    only when the pixel size changes (a high-density screen) or after ``invalidate()``. Until a
    browser view has connected, frames are not sent, so the canvas's state keeps the first figure.
    """

    def __init__(self, figure: Figure, moving: Sequence[Artist] = (), before_draw: Callable[[], Any] | None = None):
        super().__init__(figure)
        self.moving = sorted(moving, key=lambda a: a.get_zorder())  # the order a full draw would use
        self.before_draw = before_draw
        for artist in self.moving:
            artist.set_animated(True)  # left out of full draws: they are drawn over the background
        self._background, self._background_key = None, None
        self.last_frame = 0.0  # time.monotonic() of the last frame drawn

    def invalidate(self) -> None:
        """Redraw the still layers at the next frame (call after changing anything that is not moving)."""
        self._background = None

    def draw(self) -> None:
        if self.before_draw is not None:
            self.before_draw()
        renderer = self.get_renderer()
        key = (renderer.width, renderer.height, self.figure.dpi)
        if self._background is None or key != self._background_key:
            FigureCanvasAgg.draw(self)  # the still layers only: animated artists are skipped
            self._background, self._background_key = self.copy_from_bbox(self.figure.bbox), key
        else:
            self.restore_region(self._background)
        for artist in self.moving:
            self.figure.draw_artist(artist)
        self._png_is_old = True
        self.manager.refresh_all()  # ipympl sends the pixels that changed since the last frame
        self.last_frame = time.monotonic()

    def send_binary(self, data: bytes) -> None:
        if not self.syncing_data_url:  # ipympl's flag: False once a browser view has said 'initialized'
            super().send_binary(data)

    def get_diff_image(self) -> bytes | None:
        """matplotlib's webagg frame (full, or only the changed pixels) as a fast PNG (``rgba_png``).

        Same logic as ``FigureCanvasWebAggCore.get_diff_image``, whose encoder (Pillow, level 6) takes
        about 10 ms of CPU a frame against 3 ms here, for a transfer that stays on this machine.
        """
        if not self._png_is_old:
            return None
        pixels = np.asarray(self.get_renderer().buffer_rgba())  # (H, W, 4) uint8
        buff = pixels.view(np.uint32).squeeze(2)  # (H, W): one number per pixel
        if self._force_full or buff.shape != self._last_buff.shape or (pixels[:, :, 3] != 255).any():
            self.set_image_mode("full")
            output = buff
        else:
            self.set_image_mode("diff")
            output = np.where(buff != self._last_buff, buff, 0)  # unchanged pixels become transparent
        self._last_buff, self._force_full, self._png_is_old = buff.copy(), False, False
        return rgba_png(output.view(np.uint8).reshape(*output.shape, 4))


def rgba_png(pixels: np.ndarray, level: int = 1) -> bytes:
    """A PNG of (H, W, 4) uint8 pixels: no row filters, zlib ``level`` (fast for frames that are mostly empty)."""
    h, w, _ = pixels.shape
    rows = np.zeros((h, 1 + 4 * w), np.uint8)  # each row: filter type 0, then RGBA bytes
    rows[:, 1:] = pixels.reshape(h, 4 * w)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)  # 8 bits per channel, colour type 6 = RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
            + chunk(b"IEND", b""))


def live_canvas(fig: Figure, moving: Sequence[Artist] = (),
                before_draw: Callable[[], Any] | None = None) -> BlitCanvas:
    """A ``BlitCanvas`` for ``fig``: no header, footer, toolbar, resize handle or matplotlib key bindings."""
    canvas = BlitCanvas(fig, moving, before_draw)
    manager = FigureManager(canvas, next(_figure_numbers))  # webagg routes resize/refresh through a manager
    canvas.mpl_disconnect(manager.key_press_handler_id)  # no 'l' = log scale, 'g' = grid... while typing
    canvas.header_visible = canvas.footer_visible = canvas.resizable = False
    canvas.toolbar_visible = False
    return canvas


class LiveFigure(widgets.VBox):
    """Controls above a figure that ``update(*values)`` changes in place, redrawn when a control changes.

    ``update`` receives the controls' values in order and may change only the ``moving`` artists; it
    runs once here, then before each frame, with the latest values. A change after a quiet moment is
    drawn at once; during a burst (a drag) ipympl's browser side asks for one frame at a time, so
    values that arrive meanwhile are skipped instead of queued. The figure is laid out once
    (``freeze_layout``). Displayed, it is the widget view plus the first figure as ``image/png`` (for
    renderers without widgets); the canvas's state holds that PNG too.
    """

    def __init__(self, controls: Sequence[widgets.ValueWidget], fig: Figure, update: Callable[..., Any],
                 moving: Sequence[Artist]):
        self.controls, self.figure, self.update = list(controls), fig, update
        self.shown = self.values()  # the values the figure shows
        update(*self.shown)
        freeze_layout(fig)
        self._png = figure_png(fig)  # before the moving artists become animated (savefig skips those)
        self._png_b64 = base64.b64encode(self._png).decode("ascii")
        w, h = fig.get_size_inches() * fig.dpi
        self._png_css_size = {"width": int(round(w)), "height": int(round(h))}  # shown at the figure's size
        self.canvas = live_canvas(fig, moving, before_draw=self.refresh)
        self.canvas._data_url = "data:image/png;base64," + self._png_b64  # ipympl shows it until its first frame
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
        if time.monotonic() - self.canvas.last_frame >= DIRECT_FRAME_S:
            self.canvas.draw()  # a single step: answer at once
        else:
            self.canvas.draw_idle()  # a burst (a drag): the browser asks for the next frame when ready

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict]:
        data = super()._repr_mimebundle_(**kwargs)  # text/plain + the widget view
        data["image/png"] = self._png_b64
        return data, {"image/png": dict(self._png_css_size)}
