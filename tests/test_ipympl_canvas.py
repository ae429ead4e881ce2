"""The ipympl adapter (vaelib/widgets/ipympl_canvas.py): the private names it relies on still exist and behave
as assumed in the installed ipympl, its PNGs read back exactly (Pillow is the reference), and its diff frames
hold only the changed pixels. Cost: about 1 s.
"""
from __future__ import annotations

import base64
import io
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


def test_first_frame_is_full_then_diffs_hold_only_changed_pixels(canvas):
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


def test_no_frame_is_sent_before_a_browser_connects(canvas):
    sent = []
    canvas.send = lambda content, buffers=None: buffers and sent.append(buffers)
    canvas.draw()
    assert not sent and canvas.frames_sent == 0
    adapter.connect_browser(canvas)
    canvas.moving[0].set_ydata([0.5, 0.5])
    canvas.draw()
    assert sent and canvas.frames_sent == 1
