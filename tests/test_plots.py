"""Plot helpers draw what they are given (checked on the figure's data, not by eye); the theme's two contexts;
legends placed outside the data (checked on the rendered bounding boxes); retina figures in a real kernel."""
from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from vaelib import plots  # noqa: E402
from vaelib.plots import figsize, image_grid, learning_curves, legend_outside, set_theme  # noqa: E402


@pytest.fixture(autouse=True)
def _theme(monkeypatch):
    monkeypatch.delenv(plots.TALK_ENV, raising=False)
    yield
    set_theme("notebook")
    plt.close("all")


def test_image_grid_places_each_image():
    set_theme()
    imgs = torch.zeros(6, 784)
    imgs[4] = 1.0  # the fifth image is white-on-... fully on
    fig = image_grid(imgs, nrow=3)
    canvas = fig.axes[0].images[0].get_array()
    assert canvas.shape == (2 * 30 + 2, 3 * 30 + 2)
    assert np.allclose(canvas[32:60, 32:60], 1.0) and np.allclose(canvas[2:30, 2:30], 0.0)
    assert image_grid(torch.zeros(40, 784), nrow=20).get_figwidth() <= plots.MAX_WIDTH


def test_learning_curves_plots_train_and_val_per_key():
    h = {f"{s}_{k}": [float(i) for i in range(5)] for s in ("train", "val") for k in ("elbo", "recon", "kl")}
    fig = learning_curves(h)
    assert len(fig.axes) == 3 and all(len(ax.lines) == 2 for ax in fig.axes)
    assert list(fig.axes[0].lines[0].get_xdata()) == [1, 2, 3, 4, 5]
    assert fig.get_figwidth() <= plots.MAX_WIDTH


def test_talk_context_is_lecture_sized_and_env_switches_it(monkeypatch):
    assert set_theme() == "notebook"
    small = {k: plt.rcParams[k] for k in ("axes.labelsize", "legend.fontsize", "lines.linewidth")}
    assert small["legend.fontsize"] >= 11  # never the 7-8 px legends of issue 13
    assert set_theme("talk") == "talk"
    assert plt.rcParams["axes.labelsize"] >= 1.4 * small["axes.labelsize"]
    assert plt.rcParams["legend.fontsize"] >= 16 and plt.rcParams["lines.linewidth"] >= 2.2
    assert tuple(plt.rcParams["figure.figsize"]) == plots.FIGSIZE["talk"]
    monkeypatch.setenv(plots.TALK_ENV, "1")
    assert set_theme() == "talk"
    with pytest.raises(ValueError, match="'notebook' or 'talk'"):
        set_theme("poster")


THEME_PROBE = """
import json, sys, matplotlib as mpl
from vaelib import plots

def rc():
    out = {k: repr(v) for k, v in mpl.rcParams.items()}
    out["axes.prop_cycle"] = [mpl.colors.to_hex(c) for c in mpl.rcParams["axes.prop_cycle"].by_key()["color"]]
    return out

ours = {c: (plots.set_theme(c), rc())[1] for c in ("notebook", "talk")}
imported = "seaborn" in sys.modules
import seaborn as sns
theirs = {}
for c in ("notebook", "talk"):
    sns.set_theme(context=c, style="whitegrid", palette="colorblind",
                  rc={**plots._RC, "figure.figsize": plots.FIGSIZE[c]})
    theirs[c] = rc()
print(json.dumps({"ours": ours, "theirs": theirs, "imported": imported}))
"""


def test_the_theme_is_seaborns_whitegrid_colorblind_look_without_importing_seaborn():
    """The reference: seaborn's own set_theme, in a fresh interpreter, after vaelib's in the same one. vaelib
    writes the values out so that importing it (and each notebook's first cell) does not import seaborn."""
    run = subprocess.run([sys.executable, "-c", THEME_PROBE], capture_output=True, text=True, check=True)
    found = json.loads(run.stdout)
    assert not found["imported"], "importing vaelib.plots and setting the theme imported seaborn"
    for context in ("notebook", "talk"):
        mine, theirs = found["ours"][context], found["theirs"][context]
        differ = {k: (mine.get(k), v) for k, v in theirs.items() if mine.get(k) != v}
        assert not differ, f"{context}: rcParams that differ from seaborn's (vaelib, seaborn): {differ}"


def test_default_figure_sizes_fit_jupyterlab():
    for context, (w, h) in plots.FIGSIZE.items():
        assert w <= plots.MAX_WIDTH, context
    set_theme()
    assert figsize(1) == plots.FIGSIZE["notebook"]
    w, h = figsize(3)
    assert w == pytest.approx(plots.MAX_WIDTH) and h == pytest.approx(plots.FIGSIZE["notebook"][1] * w / (3 * 6.4))
    assert figsize(2, panel=(3.0, 2.0)) == (6.0, 2.0)
    set_theme("talk")  # panels grow with the fonts, and so does the width limit
    assert figsize(2, panel=(3.0, 2.0)) == pytest.approx((7.5, 2.5))
    assert figsize(3, panel=(4.0, 3.0))[0] == pytest.approx(1.25 * plots.MAX_WIDTH)


def _boxes(fig, ax, legend):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return ax.get_window_extent(renderer), ax.xaxis.get_tightbbox(renderer), legend.get_window_extent(renderer)


@pytest.mark.parametrize("context", ["notebook", "talk"])
def test_legend_outside_never_overlaps_the_data_area(context):
    set_theme(context)
    fig, ax = plt.subplots()
    for i in range(4):
        ax.plot(np.linspace(0, 1, 50), np.linspace(0, 1, 50) ** (i + 1), label=f"curve {i}")
    ax.set_xlabel("x label")
    data, _, legend = _boxes(fig, ax, legend_outside(ax))
    assert legend.x0 >= data.x1  # to the right of the data area
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    ax.plot([0, 1], [1, 0], label="b")
    ax.set_xlabel("x label")
    data, xaxis, legend = _boxes(fig, ax, legend_outside(ax, "below"))
    assert legend.y1 <= xaxis.y0 + 1e-6  # below the tick labels and the x label
    # with the inline backend's bbox_inches="tight", the saved figure keeps the whole legend
    full = fig.get_tightbbox(fig.canvas.get_renderer()).transformed(fig.dpi_scale_trans)
    assert full.y0 <= legend.y0 and full.x1 >= legend.x1
    with pytest.raises(ValueError, match="'right' or 'below'"):
        legend_outside(ax, "left")


def _png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


@pytest.mark.slow
def test_figures_are_retina_pngs_in_a_jupyter_kernel(tmp_path):
    """Also after importing ipympl (the explorers do), which switches pyplot to its widget backend."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nimport ipympl\nfrom vaelib.plots import set_theme\nset_theme()\n"
        "fig, ax = plt.subplots(figsize=(4, 3)); ax.plot([0, 1]); plt.show()")]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    (png,) = [o for o in nb.cells[0].outputs if "image/png" in o.get("data", {})]
    width, height = _png_size(base64.b64decode(png["data"]["image/png"]))
    shown = png["metadata"]["image/png"]["width"]  # CSS pixels: half the PNG's pixels = sharp at 2x density
    assert width == 2 * shown or width == 2 * shown + 1
