"""The one module that touches ipympl's and matplotlib webagg's internals: a canvas that blits, sends PNG frames
encoded by Pillow, and shows a first picture until the browser draws. Used by the explorers of notebooks 01-03.

Tested against ipympl 0.10 (requirements.txt pins ``ipympl>=0.10,<0.11``); ``tests/test_ipympl_canvas.py``
checks that every private name below still exists and behaves as assumed, so an ipympl upgrade fails there,
by name, rather than inside a notebook. The private names, all read or written only here:

- ``_png_is_old``, ``_force_full``, ``_last_buff``: matplotlib webagg's diff-frame state (``FigureCanvasWebAggCore``);
- ``_data_url``: ipympl's picture shown before the first frame; ``syncing_data_url`` (a trait) turns False
  when a browser view has connected.
"""
from __future__ import annotations

import io
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from PIL import Image

from vaelib.checks import count, fail

# ipympl's import calls matplotlib.use(ipympl), which would close every pyplot figure and turn each
# plt.show() of the notebook into a widget. The explorers make their own ipympl canvases and need no
# backend, so that one call is skipped: the notebook keeps its backend (inline under Jupyter).
_use, mpl.use = mpl.use, lambda *args, **kwargs: None
try:
    from ipympl.backend_nbagg import Canvas, FigureManager
finally:
    mpl.use = _use

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

TESTED_IPYMPL = "0.10"
SETTLE_S = 0.25  # a frame followed by no other for this long has been drawn by the browser (PNG decoded)
IDLE_RESEND_S = 1.0  # a "draw" event unanswered this long was lost (no view open): the next change sends another
_figure_numbers = itertools.count(1)


def encode_png(pixels: np.ndarray, level: int = 1) -> bytes:
    """A PNG of (H, W, 4) uint8 pixels by Pillow at zlib ``level`` 1 (frames are mostly empty: fast beats small).

    Measured on a 1280x800 frame (under load): a diff frame encodes in about the time of the hand-written
    unfiltered encoder it replaces; a full frame (first frame, resize) takes about twice as long, once.
    """
    if count(level, "level", minimum=0) > 9:
        raise fail("level", "must be a zlib compression level 0-9", repr(level), "level=1 (fast) up to level=9 (small)")
    with io.BytesIO() as buf:
        Image.fromarray(np.ascontiguousarray(pixels), "RGBA").save(buf, format="png", compress_level=level)
        return buf.getvalue()


class BlitCanvas(Canvas):
    """ipympl's canvas that redraws only its ``moving`` artists over a cached picture of the rest.

    A frame draws the moving artists over all still ones, so give them a zorder above the still
    artists they cross (the spines have 2.5), and a frame equals a full redraw (a test checks).
    ``before_draw`` runs first (it brings the artists up to date). The still layers are drawn again
    only when the pixel size changes (a high-density screen) or after ``invalidate()``. Until a
    browser view has connected, frames are not sent, so the canvas's state keeps the first figure.

    ``draw_idle`` speaks ipympl's pull protocol with one frame per request and none without a change: it
    asks the browser for a draw request once (not once per change: a drag's mouse moves each change the
    figure), and a request that comes when nothing changed since the last frame is kept unanswered until
    the next change, which then draws at once. So after a burst the last state is drawn exactly once and
    no frame follows it (ipympl's browser side asks for a frame whenever one arrives).
    """

    def __init__(self, figure: Figure, moving: Sequence[Artist] = (), before_draw: Callable[[], Any] | None = None):
        super().__init__(figure)
        self.moving = sorted(moving, key=lambda a: a.get_zorder())  # the order a full draw would use
        self.before_draw = before_draw
        for artist in self.moving:
            artist.set_animated(True)  # left out of full draws: they are drawn over the background
        self._background, self._background_key = None, None
        self.last_frame = 0.0  # time.monotonic() of the last frame drawn
        self.draw_s = 0.0  # how long the last frame took to draw and send
        self.frames_sent = 0
        self._dirty: np.ndarray | None = None  # pixels changed since the last settled frame; None: last was full
        self._last_sent = 0.0
        self._changed = False  # draw_idle was called since the last frame
        self._asked = False  # the browser's draw request waits for a change (ipympl's browser waits for a frame)
        self._idle_sent = 0.0  # time.monotonic() of the "draw" event whose request has not come back yet; 0: none

    def invalidate(self) -> None:
        """Redraw the still layers at the next frame (call after changing anything that is not moving)."""
        self._background = None

    def draw(self) -> None:
        start = time.monotonic()
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
        self._changed, self._asked, self._idle_sent = False, False, 0.0  # this frame answers them
        self.manager.refresh_all()  # ipympl sends the pixels that changed since the last frame
        self.last_frame = time.monotonic()
        self.draw_s = self.last_frame - start

    def draw_idle(self, *args: Any, **kwargs: Any) -> None:
        """Draw soon: at once if the browser's request waits, else when it asks (one "draw" event per frame)."""
        self._changed = True
        if self._asked:
            self.draw()
        elif time.monotonic() - self._idle_sent > IDLE_RESEND_S:  # none on its way (or no view answered it)
            self._idle_sent = time.monotonic()
            super().draw_idle()  # the browser answers with a draw request, unless one is on its way already

    def handle_refresh(self, event: dict) -> None:
        """A browser view (re)connected: it waits for no frame and has been sent no event yet."""
        self._asked, self._idle_sent = False, 0.0
        super().handle_refresh(event)

    def handle_draw(self, event: dict) -> None:
        """The browser's draw request: a frame if anything changed (or a full frame is due), else wait for a change."""
        if self._changed or self._force_full:
            self.draw()
        else:
            self._asked = True

    def send_binary(self, data: bytes) -> None:
        if browser_connected(self):
            super().send_binary(data)
            self.frames_sent += 1

    def get_diff_image(self) -> bytes | None:
        """matplotlib's webagg frame (full, or changed pixels only) as a PNG (``encode_png``, level 1), safe to lose.

        ipympl's browser side draws a frame when its PNG has loaded, and a frame that arrives before the
        previous one has loaded replaces it unseen (notebook 05's drag left ghost markers that way). So a
        diff frame holds every pixel changed since the last *settled* frame (one followed by no other for
        ``SETTLE_S``, which the browser has surely drawn), not only since the last frame sent: whichever
        frames of a burst are lost, the next one that lands makes the picture exact.
        """
        if not self._png_is_old:
            return None
        pixels = np.asarray(self.get_renderer().buffer_rgba())  # (H, W, 4) uint8
        buff = pixels.view(np.uint32).squeeze(2)  # (H, W): one number per pixel
        now = time.monotonic()
        settled = now - self._last_sent >= SETTLE_S
        if (self._force_full or buff.shape != self._last_buff.shape or (pixels[:, :, 3] != 255).any()
                or (self._dirty is None and not settled)):  # a full frame that may be lost: send it again
            self.set_image_mode("full")
            output, self._dirty = buff, None
        else:
            self.set_image_mode("diff")
            changed = buff != self._last_buff
            self._dirty = changed if settled or self._dirty is None else self._dirty | changed  # (H, W) bool
            output = np.where(self._dirty, buff, 0)  # pixels outside it are transparent: the browser keeps them
        self._last_buff, self._force_full, self._png_is_old, self._last_sent = buff.copy(), False, False, now
        return encode_png(output.view(np.uint8).reshape(*output.shape, 4))


def browser_connected(canvas: Canvas) -> bool:
    """Whether a browser view has connected (ipympl stops syncing the first picture then)."""
    return not canvas.syncing_data_url


def connect_browser(canvas: Canvas) -> None:
    """Act as if a browser view had connected (what ipympl does on its 'initialized' message): for tests, benchmarks."""
    canvas.syncing_data_url = False


def set_first_picture(canvas: Canvas, png_b64: str) -> None:
    """The picture ipympl shows (and keeps in the widget state) until the first frame: a base64 PNG."""
    canvas._data_url = "data:image/png;base64," + png_b64


def first_picture(canvas: Canvas) -> str:
    """The base64 PNG ``set_first_picture`` stored."""
    return canvas._data_url.removeprefix("data:image/png;base64,")


def live_canvas(fig: Figure, moving: Sequence[Artist] = (),
                before_draw: Callable[[], Any] | None = None) -> BlitCanvas:
    """A ``BlitCanvas`` for ``fig``: no header, footer, toolbar, resize handle or matplotlib key bindings."""
    canvas = BlitCanvas(fig, moving, before_draw)
    manager = FigureManager(canvas, next(_figure_numbers))  # webagg routes resize/refresh through a manager
    canvas.mpl_disconnect(manager.key_press_handler_id)  # no 'l' = log scale, 'g' = grid... while typing
    canvas.header_visible = canvas.footer_visible = canvas.resizable = False
    canvas.toolbar_visible = False
    return canvas
