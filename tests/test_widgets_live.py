"""The live-figure machinery of the ipympl explorers (vaelib/widgets/__init__.py), and every explorer's first frame.

References: a full matplotlib redraw of the same state (the blitted frame must equal it pixel for
pixel), Pillow (reads our PNGs), the figure as first drawn (axes never move or rescale), and the
geometry of legends (never over an Axes' data area).
"""
from __future__ import annotations

import base64
import io
import os
import subprocess
import sys

import matplotlib
import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text
from nbclient import NotebookClient
from PIL import Image

from vaelib import figcheck
from vaelib.models import ModelConfig, build_model
from vaelib.plots import MAX_WIDTH, set_theme
from vaelib.widgets import LiveFigure
from vaelib.widgets.elbo import make_elbo_widget
from vaelib.widgets.ipympl_canvas import connect_browser, first_picture
from vaelib.widgets.kl import make_kl_widget
from vaelib.widgets.latent import LatentExplorer, make_latent_widget
from vaelib.widgets.reparam import make_reparam_widget

# ipympl builds its toolbar widget with arguments traitlets warns about; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def tiny_latent_widget() -> LatentExplorer:
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=2, hidden=(16,))).eval()
    return make_latent_widget(model, torch.randn(300, 2), torch.arange(300) % 10)


# The explorers drawn live by ipympl (notebooks 01-03); 05's map is drawn in the page (tests/test_widgets_latent.py),
# and shares with them only its first frame, checked here by the tests that take ALL.
MAKERS = {"elbo": make_elbo_widget, "kl": make_kl_widget, "reparam": lambda: make_reparam_widget(batches=50)}
ALL = {**MAKERS, "latent": tiny_latent_widget}


@pytest.fixture(params=list(MAKERS))
def widget(request):
    w = MAKERS[request.param]()
    w.canvas.draw()  # the first frame: still layers, then the moving artists
    yield w
    plt.close("all")


@pytest.fixture(params=list(ALL))
def explorer(request):
    w = ALL[request.param]()
    yield w
    plt.close("all")


def pixels(canvas) -> np.ndarray:
    return np.asarray(canvas.get_renderer().buffer_rgba()).copy()  # (H, W, 4)


def full_redraw(canvas) -> np.ndarray:
    """The same figure drawn from scratch, every artist in the normal pass (the reference for a blit)."""
    for a in canvas.moving:
        a.set_animated(False)
    try:
        FigureCanvasAgg.draw(canvas)
        return pixels(canvas)
    finally:
        for a in canvas.moving:
            a.set_animated(True)


def step_every_control(w: LiveFigure) -> None:
    """Move each control one step (or to its other option), drawing a frame after each."""
    for c in w.controls:
        if hasattr(c, "options"):
            c.index = (c.index + 1) % len(c.options)
        else:
            c.value = min(c.max, c.value + 3 * c.step)
        w.canvas.draw()


def test_a_blitted_frame_equals_a_full_redraw(widget):
    before = pixels(widget.canvas)
    step_every_control(widget)
    blitted = pixels(widget.canvas)
    assert (blitted != before).any(), "moving the controls changed nothing"
    assert np.array_equal(blitted, full_redraw(widget.canvas)), "the blitted frame differs from a full redraw"


def test_axes_never_move_or_rescale(widget):
    fig = widget.figure
    before = [(ax.get_position().bounds, ax.get_xlim(), ax.get_ylim()) for ax in fig.axes]
    for _ in range(3):
        step_every_control(widget)
    assert [(ax.get_position().bounds, ax.get_xlim(), ax.get_ylim()) for ax in fig.axes] == before


def test_legends_stay_off_the_data(explorer):
    fig = explorer.figure
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), f"a legend covers the Axes {ax.get_title()!r}"


def test_the_mime_bundle_has_the_widget_and_the_first_figure_as_png(explorer):
    data, metadata = explorer._repr_mimebundle_()
    assert set(data) == {"text/plain", "image/png", WIDGET_MIME}
    assert data[WIDGET_MIME]["model_id"] == explorer.model_id
    png = base64.b64decode(data["image/png"])
    image = Image.open(io.BytesIO(png))
    w, h = explorer.figure.get_size_inches() * explorer.figure.dpi
    # twice the pixels, shown at the figure's size
    assert abs(image.size[0] - 2 * w) <= 1 and abs(image.size[1] - 2 * h) <= 1
    assert metadata["image/png"] == {"width": round(w), "height": round(h)}
    if isinstance(explorer, LiveFigure):  # ipympl shows the same picture until its first frame
        assert first_picture(explorer.canvas) == data["image/png"]
    assert np.asarray(image.convert("L")).std() > 10  # a drawing, not a blank image


def test_no_frame_is_sent_before_a_browser_view_connects(widget):
    sent = []  # binary frames (messages with buffers); events such as 'draw' carry none
    widget.canvas.send = lambda content, buffers=None: buffers and sent.append(buffers)
    step_every_control(widget)
    assert not sent and first_picture(widget.canvas)
    connect_browser(widget.canvas)  # what ipympl does when the browser says 'initialized'
    step_every_control(widget)
    assert sent


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("context", ["notebook", "talk"])
def test_every_text_fits_in_the_figure_at_extreme_values(name, context):
    with matplotlib.rc_context():
        set_theme(context)
        w = ALL[name]()
        for c in w.controls:  # the widest readouts: the controls at their ends
            if hasattr(c, "options"):
                c.index = len(c.options) - 1
            else:
                c.value = c.min if c.min < 0 else c.max
        if isinstance(w, LatentExplorer):  # the map's title at the same point (the page draws it where this one is)
            w.view.show(w.controls[0].min, w.controls[1].min, torch.zeros(784))
            FigureCanvasAgg(w.figure).draw()
            renderer = w.figure.canvas.get_renderer()
        else:
            w.canvas.draw()
            renderer = w.canvas.get_renderer()
    fig_box = w.figure.bbox
    unused_ticks = {label for ax in w.figure.axes for axis in (ax.xaxis, ax.yaxis)
                    for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                    if not axis.get_view_interval().min() <= tick.get_loc() <= axis.get_view_interval().max()
                    for label in (tick.label1, tick.label2)}  # made by matplotlib but not drawn
    for text in w.figure.findobj(Text):
        if text.get_visible() and text.get_text().strip() and text not in unused_ticks:
            box = text.get_window_extent(renderer)
            assert fig_box.x0 - 1 <= box.x0 and box.x1 <= fig_box.x1 + 1 and fig_box.y0 - 1 <= box.y0 \
                and box.y1 <= fig_box.y1 + 1, f"{name} ({context}): {text.get_text()!r} is cut at the figure's edge"
    plt.close("all")


def test_widgets_live_outside_pyplot():
    before = plt.get_fignums()
    for make in ALL.values():
        make()
    assert plt.get_fignums() == before  # nothing for plt.show() or the inline backend to pick up


@pytest.mark.parametrize("context", ["notebook", "talk"])
def test_the_width_cap_grows_with_talk_mode(context):
    with matplotlib.rc_context():
        set_theme(context)
        cap = MAX_WIDTH * (1.25 if context == "talk" else 1.0)  # FIGSIZE: talk panels are 1.25x the notebook's
        widths = {name: make().figure.get_size_inches()[0] for name, make in ALL.items()}
    assert all(w <= cap + 1e-9 for w in widths.values()), widths
    assert max(widths.values()) == pytest.approx(cap), widths  # the widest explorers use the whole width
    plt.close("all")


# Fresh processes (vaelib.widgets is imported once per process). In a Jupyter kernel, as the notebooks do
# it: a figure drawn after the import must still come out as a PNG, not as an ipympl widget; and an
# explorer, the last expression of a cell, is recorded with its first figure (what nbconvert and the site show).
KERNEL_CELLS = {
    "pyplot first": ["import matplotlib.pyplot as plt\nimport vaelib.widgets.elbo", "plt.plot([0, 1]);"],
    "widgets first": ["import vaelib.widgets.elbo\nimport matplotlib.pyplot as plt", "plt.plot([0, 1]);"],
}


@pytest.mark.slow
@pytest.mark.parametrize("order", list(KERNEL_CELLS))
def test_in_a_kernel_figures_stay_inline_pngs_after_importing_the_widgets(order):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in KERNEL_CELLS[order]]
                                  + [nbformat.v4.new_code_cell("import matplotlib; matplotlib.get_backend()"),
                                     nbformat.v4.new_code_cell("vaelib.widgets.elbo.make_elbo_widget()")])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    plot_outputs = [o for o in nb.cells[1].outputs if o["output_type"] == "display_data"]
    assert [sorted(o["data"]) for o in plot_outputs] == [["image/png", "text/plain"]], nb.cells[1].outputs
    assert nb.cells[2].outputs[0]["data"]["text/plain"] == "'module://matplotlib_inline.backend_inline'"
    (explorer,) = nb.cells[3].outputs
    assert set(explorer["data"]) == {"text/plain", "image/png", WIDGET_MIME}, explorer
    assert Image.open(io.BytesIO(base64.b64decode(explorer["data"]["image/png"]))).format == "PNG"


PROBE = """
import sys, matplotlib as mpl
import vaelib.widgets
assert "ipympl.backend_nbagg" in sys.modules  # the import that would switch the backend did happen
print(mpl.get_backend(auto_select=False))
"""


@pytest.mark.slow
def test_outside_jupyter_importing_the_widgets_chooses_no_backend():
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["None"]  # matplotlib still picks one at the first plot, as without vaelib


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("context", ["notebook", "talk"])
def test_the_first_frame_passes_the_figure_check(name, context):
    """vaelib.figcheck on each explorer's first frame, built in each theme (shown uncropped, as ipympl shows it)."""
    with matplotlib.rc_context():
        set_theme(context)
        w = make_reparam_widget() if name == "reparam" else ALL[name]()  # 03's default: 400 batches, as shown
        found = figcheck.check_figure(w.figure, context, cropped=False)
    assert not found, "\n".join(map(str, found))
    plt.close("all")
