"""The ipympl adapter (vaelib/widgets/ipympl_canvas.py): the private names it relies on still exist and behave
as assumed in the installed ipympl, its PNGs read back exactly (Pillow is the reference), and its diff frames
hold only the changed pixels. Cost: about 1 s.
"""
from __future__ import annotations

import base64
import io
import json
from importlib.metadata import version

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from vaelib.widgets import ipympl_canvas as adapter

# ipympl builds its toolbar widget with arguments traitlets warns about; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")


def frame_pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


@pytest.fixture
def canvas():
    fig = Figure(figsize=(2, 1.5), dpi=50)
    ax = fig.add_subplot()
    (line,) = ax.plot([0, 1], [0, 1])
    return adapter.live_canvas(fig, moving=[line])


def test_the_installed_ipympl_is_the_tested_one():
    assert version("ipympl").startswith(adapter.TESTED_IPYMPL + "."), \
        "ipympl changed: run tests/test_ipympl_canvas.py and tests/test_widgets_live.py, then update TESTED_IPYMPL"


def test_the_private_names_exist_with_the_assumed_meaning(canvas):
    assert canvas._png_is_old is True and canvas._force_full is True  # webagg: a first frame is due, in full
    assert isinstance(canvas._last_buff, np.ndarray)
    assert canvas.syncing_data_url and not adapter.browser_connected(canvas)
    adapter.connect_browser(canvas)
    assert adapter.browser_connected(canvas)
    adapter.set_first_picture(canvas, base64.b64encode(b"png").decode())
    assert canvas._data_url == "data:image/png;base64,cG5n" and adapter.first_picture(canvas) == "cG5n"


@pytest.mark.parametrize("shape", [(1, 1, 4), (3, 5, 4), (40, 17, 4)])
def test_encode_png_reads_back_exactly(shape):
    rgba = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    assert np.array_equal(frame_pixels(adapter.encode_png(rgba)), rgba)


def test_first_frame_is_full_then_diffs_hold_only_changed_pixels(canvas, monkeypatch):
    monkeypatch.setattr(adapter, "SETTLE_S", 0.0)  # each frame has been drawn by the browser before the next
    sent = []
    canvas.send = lambda content, buffers=None: buffers and sent.append((canvas._current_image_mode, buffers[0]))
    adapter.connect_browser(canvas)
    canvas.draw()
    assert [mode for mode, _ in sent] == ["full"]
    first = frame_pixels(bytes(sent[0][1]))
    assert (first[..., 3] == 255).all() and np.array_equal(first, np.asarray(canvas.get_renderer().buffer_rgba()))
    canvas.moving[0].set_ydata([1, 0])
    canvas.draw()
    assert [mode for mode, _ in sent] == ["full", "diff"]
    diff = frame_pixels(bytes(sent[1][1]))
    now = np.asarray(canvas.get_renderer().buffer_rgba())
    changed = (now != first).any(-1)
    assert changed.any() and np.array_equal(diff[changed], now[changed]) and (diff[~changed] == 0).all()


def test_a_full_frame_followed_too_soon_is_sent_again_in_full(canvas, monkeypatch):
    monkeypatch.setattr(adapter, "SETTLE_S", 60.0)
    sent = []
    canvas.send = lambda content, buffers=None: buffers and sent.append(canvas._current_image_mode)
    adapter.connect_browser(canvas)
    canvas.draw()
    canvas.moving[0].set_ydata([1, 0])
    canvas.draw()
    assert sent == ["full", "full"]


def test_no_frame_is_sent_before_a_browser_connects(canvas):
    sent = []
    canvas.send = lambda content, buffers=None: buffers and sent.append(buffers)
    canvas.draw()
    assert not sent and canvas.frames_sent == 0
    adapter.connect_browser(canvas)
    canvas.moving[0].set_ydata([0.5, 0.5])
    canvas.draw()
    assert sent and canvas.frames_sent == 1


def composite(frames: list[tuple[str, bytes]]) -> np.ndarray:
    """What ipympl's browser side shows after drawing ``frames`` in order (a diff keeps transparent pixels)."""
    shown = None
    for mode, png in frames:
        px = frame_pixels(bytes(png))
        shown = px.copy() if mode == "full" or shown is None else np.where(px[..., 3:] == 0, shown, px)
    return shown


def test_losing_frames_of_a_burst_leaves_no_ghost(canvas, monkeypatch):
    """Notebook 05's drag bug: a frame replaced before the browser drew it must not leave stale pixels."""
    sent = []
    canvas.send = lambda content, buffers=None: buffers and sent.append((canvas._current_image_mode, buffers[0]))
    adapter.connect_browser(canvas)
    monkeypatch.setattr(adapter, "SETTLE_S", 0.0)
    canvas.draw()  # the first frame, settled
    canvas.moving[0].set_ydata([0.5, 0.5])
    canvas.draw()  # a single step, settled
    monkeypatch.setattr(adapter, "SETTLE_S", 60.0)  # every frame below comes within a burst
    for y in ([1, 0], [0.2, 0.8], [0.5, 0.5]):  # away and back to where it started
        canvas.moving[0].set_ydata(y)
        canvas.draw()
    now = np.asarray(canvas.get_renderer().buffer_rgba())
    assert [m for m, _ in sent] == ["full", "diff", "diff", "diff", "diff"]
    for lost in ([], [2], [3], [2, 3]):
        kept = [f for i, f in enumerate(sent) if i not in lost]
        assert np.array_equal(composite(kept), now), f"frames {lost} lost: stale pixels"


def test_a_burst_asks_once_per_frame_and_draws_nothing_after_its_last_state(canvas):
    """ipympl's pull protocol as the browser plays it: one "draw" event per frame, however many changes come, a
    request answered by a frame only if something changed, and a waiting request answered at the next change."""
    events, frames = [], []  # the "type" of each message (ipympl sends {"data": json}), the frames
    canvas.send = lambda content, buffers=None: (frames if buffers else events).append(json.loads(content["data"]))
    adapter.connect_browser(canvas)
    canvas.handle_event({"type": "refresh"})  # a view connects: the first frame is due
    assert events[-1]["type"] == "draw"
    canvas.handle_event({"type": "draw"})  # the browser asks for it
    assert len(frames) == 1
    n_events = sum(e["type"] == "draw" for e in events)
    for y in ([1, 0], [0.2, 0.8], [0.5, 0.5]):  # a burst of changes before the browser asks again
        canvas.moving[0].set_ydata(y)
        canvas.draw_idle()
    assert sum(e["type"] == "draw" for e in events) == n_events + 1 and len(frames) == 1
    canvas.handle_event({"type": "draw"})  # the browser's request: one frame, the latest state
    assert len(frames) == 2
    canvas.handle_event({"type": "draw"})  # it asks again on receiving that frame: nothing changed, no frame
    assert len(frames) == 2
    canvas.moving[0].set_ydata([0, 1])
    canvas.draw_idle()  # the waiting request is answered at once, with no new event
    assert len(frames) == 3 and sum(e["type"] == "draw" for e in events) == n_events + 1
