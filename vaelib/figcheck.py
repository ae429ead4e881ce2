"""The figure check: inspects a matplotlib figure as the reader sees it and says what is unreadable.

``check_figure(fig)`` returns a ``Finding`` per problem, naming the artist:

- ``text-overlap``: two texts (titles, axis and tick labels, legends, colourbar labels, annotations, suptitles) overlap;
- ``text-outside``: a text leaves the figure (only where the figure is shown uncropped, as the widgets show it);
- ``legend-covers-data``: a legend's box holds data points or line vertices of the Axes under it;
- ``unlabelled-axis``: an axis with numeric tick labels has no label (nor a shared or figure-level one);
- ``small-plot``: a plot area is smaller than ``MIN_PLOT_PX`` at its display size;
- ``small-text``: a text is smaller than ``MIN_TEXT_PX`` at its display size (a wide figure shown shrunk);
- ``clipped-data``: data (line vertices, patch outlines, scatter points) lie outside the plot area.

An x and a y tick label of the same Axes may touch at its lower-left corner (both stay readable).

Two markers say what a figure means on purpose: ``mark(ax, "image")`` for an image grid (no axis labels
needed, no minimum size) and ``mark(ax, "zoom")`` for limits that cut the data deliberately (a zoomed panel);
``mark(ax, "inset")`` exempts an inset from the minimum size. ``talk_copy(fig)`` is the same figure with
the talk theme's scaling applied, so one run checks both themes. ``enable(path)`` (called by
``vaelib.plots.set_theme`` when ``VAELIB_FIGCHECK`` names a file) inspects every figure a notebook cell
shows and appends one JSON line per figure to that file; ``tests/notebook_figures.py`` fails each notebook's
last cell on that notebook's findings, naming notebook, cell and artist. The checks are defined for the series'
notebooks; GUIDE.md's figure rules.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import sys
import time
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox, Transform, offset_copy

from vaelib.checks import number

ENV = "VAELIB_FIGCHECK"
MIN_PLOT_PX = (150.0, 100.0)  # smallest plot area (width, height) in CSS px as displayed
MIN_TEXT_PX = 9.0  # smallest font size in CSS px as displayed (a figure wider than the output area is shrunk)
OUTPUT_PX = {"notebook": 848.0, "talk": 1060.0}  # JupyterLab's output width; wider figures are shrunk to fit
TALK_FONT, TALK_SIZE = 1.5, 1.25  # seaborn's "talk" fonts against "notebook"; vaelib.plots.figsize's growth
TOL_PX = 1.0  # overlaps and overshoots smaller than this (CSS px) are antialiasing, not collisions
MARKS = ("image", "zoom", "inset")
_NUMBER = re.compile(r"[\s\d.,+\-\u2212eE\u00d7^%]*\d[\s\d.,+\-\u2212eE\u00d7^%]*")


@dataclass(frozen=True)
class Finding:
    """One problem in one figure: the rule broken, the artist that breaks it, and what was measured."""

    rule: str
    artist: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.artist}: {self.detail}"


def mark(ax: Axes, *what: str) -> Axes:
    """Mark an Axes as an image grid, a deliberate zoom or an inset (see the module docstring); returns it."""
    unknown = set(what) - set(MARKS)
    if unknown:
        raise ValueError(f"Unknown figure-check mark(s) {sorted(unknown)}: use {', '.join(MARKS)}.")
    ax.figcheck_marks = set(getattr(ax, "figcheck_marks", set())) | set(what)
    return ax


def _marked(ax: Axes, what: str) -> bool:
    return what in getattr(ax, "figcheck_marks", ())


def _short(s: str, n: int = 40) -> str:
    s = " ".join(s.split())
    return repr(s if len(s) <= n else s[: n - 1] + "…")


def _axes_name(fig: Figure, ax: Axes) -> str:
    i = fig.axes.index(ax) + 1
    if ax.get_label() == "<colorbar>":
        return f"colourbar (axes {i})"
    title = next((t.get_text() for t in (ax.title, ax._left_title, ax._right_title) if t.get_text()), "")
    return f"axes {i}" + (f" {_short(title, 30)}" if title else "")


def _visible(t: Text) -> bool:
    return t.get_visible() and bool(t.get_text().strip()) and t.get_alpha() != 0


def _tick_labels(axis: Axis) -> Iterator[Text]:
    """The tick labels the axis draws: visible, non-empty, at ticks inside the view interval."""
    lo, hi = sorted(axis.get_view_interval())
    span = (hi - lo) * 1e-9
    for ticks, locs in ((axis.get_major_ticks(len(axis.get_majorticklocs())), axis.get_majorticklocs()),
                        (axis.get_minor_ticks(len(axis.get_minorticklocs())), axis.get_minorticklocs())):
        for tick, loc in zip(ticks, locs):
            if lo - span <= loc <= hi + span and tick.get_visible():
                for label in (tick.label1, tick.label2):
                    if _visible(label):
                        yield label


def texts(fig: Figure) -> list[tuple[str, Text | Any]]:
    """(name, artist) for every visible text of the figure; a legend counts as one box."""
    out: list[tuple[str, Any]] = []
    for name, t in (("suptitle", fig._suptitle), ("supxlabel", fig._supxlabel), ("supylabel", fig._supylabel)):
        if t is not None and _visible(t):
            out.append((f"{name} {_short(t.get_text())}", t))
    sup = (fig._suptitle, fig._supxlabel, fig._supylabel)
    out += [(f"figure text {_short(t.get_text())}", t) for t in fig.texts if _visible(t) and t not in sup]
    out += [(f"figure legend {i + 1}", leg) for i, leg in enumerate(fig.legends) if leg.get_visible()]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        name = _axes_name(fig, ax)
        for kind, t in (("title", ax.title), ("left title", ax._left_title), ("right title", ax._right_title)):
            if _visible(t):
                out.append((f"{name} {kind} {_short(t.get_text())}", t))
        if ax.axison:
            for axis, xy in ((ax.xaxis, "x"), (ax.yaxis, "y")):
                if _visible(axis.label):
                    out.append((f"{name} {xy} label {_short(axis.label.get_text())}", axis.label))
                if _visible(axis.get_offset_text()):
                    out.append((f"{name} {xy} offset text", axis.get_offset_text()))
                out += [(f"{name} {xy} tick label {_short(t.get_text(), 16)}", t) for t in _tick_labels(axis)]
        out += [(f"{name} text {_short(t.get_text())}", t) for t in ax.texts if _visible(t)]
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            out.append((f"{name} legend", legend))
    return out


def _corner_ticks(a: str, b: str) -> bool:
    """An x and a y tick label of the same Axes: they can only meet at its lower-left corner, where both are read."""
    def split(name: str) -> tuple[str, str]:
        for xy in ("x", "y"):
            if f" {xy} tick label " in name:
                return name.split(f" {xy} tick label ")[0], xy
        return name, ""
    (ax_a, xy_a), (ax_b, xy_b) = split(a), split(b)
    return ax_a == ax_b and {xy_a, xy_b} == {"x", "y"}


def _overlap(a: Bbox, b: Bbox, tol: float) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def _data_points(ax: Axes) -> np.ndarray:
    """Display coordinates (N, 2) of the Axes' line vertices (segments sampled every few px) and scatter points."""
    pts = []
    for line in ax.get_lines():
        if not line.get_visible() or line.get_animated():
            continue
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), float))
        xy = xy[np.isfinite(xy).all(1)]
        if line.get_linestyle() not in ("None", "", " ") and len(xy) > 1:
            steps = np.maximum(1, (np.hypot(*np.diff(xy, axis=0).T) // 3).astype(int))  # a point every ~3 px
            if steps.sum() < 200_000:
                xy = np.concatenate([np.linspace(a, b, n, endpoint=False) for a, b, n in zip(xy[:-1], xy[1:], steps)]
                                    + [xy[-1:]])
        pts.append(xy)
    for coll in ax.collections:  # scatter points (not fills or line collections)
        if isinstance(coll, PathCollection) and coll.get_visible() and len(coll.get_offsets()):
            pts.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float)))
    return np.concatenate(pts) if pts else np.empty((0, 2))


def _plain(s: str) -> str:
    return re.sub(r"\\mathdefault|[${}\\]", "", s)  # "$\\mathdefault{10^{2}}$" -> "10^2"


def _numeric(labels: list[Text]) -> bool:
    return bool(labels) and all(_NUMBER.fullmatch(_plain(t.get_text())) for t in labels)


def _has_label(fig: Figure, ax: Axes, xy: str) -> bool:
    axis = ax.xaxis if xy == "x" else ax.yaxis
    if axis.label.get_text().strip():
        return True
    sup = fig._supxlabel if xy == "x" else fig._supylabel
    if sup is not None and sup.get_text().strip():
        return True
    shared = ax.get_shared_x_axes() if xy == "x" else ax.get_shared_y_axes()
    return any((o.xaxis if xy == "x" else o.yaxis).label.get_text().strip()
               for o in shared.get_siblings(ax) if o is not ax)


def _clipped(ax: Axes, renderer: RendererBase, tol: float) -> list[str]:
    """Where data (line vertices, patch outlines, scatter points) fall outside the plot area: "3 above", ...

    Measured on the artists as they are now (not on ``dataLim``), so data changed after the limits were
    set (an explorer's histogram) count too. Clipping never happens by accident with autoscaled limits.
    """
    box = ax.get_window_extent(renderer).padded(tol)
    pts = [_data_points(ax)]
    for patch in ax.patches:
        if patch.get_visible() and patch.get_clip_on():
            pts.append(patch.get_transform().transform(patch.get_path().vertices))
    xy = np.concatenate(pts)
    xy = xy[np.isfinite(xy).all(1)]
    sides = {"left of": xy[:, 0] < box.x0, "right of": xy[:, 0] > box.x1,
             "below": xy[:, 1] < box.y0, "above": xy[:, 1] > box.y1}
    return [f"{int(m.sum())} data points {side} the plot area" for side, m in sides.items() if m.any()]


def check_figure(fig: Figure, theme: str = "notebook", cropped: bool = True) -> list[Finding]:
    """Every problem of ``fig`` as shown in ``theme``; ``cropped``: shown cropped to its contents (inline)."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # a figure outside pyplot (a widget's, before its canvas exists)
    fig.draw_without_rendering()
    renderer: RendererBase = fig.canvas.get_renderer()
    px = 100.0 / fig.dpi  # CSS px per display px: figures are shown at 100 px per inch
    shown = fig.get_tightbbox(renderer) if cropped else fig.bbox_inches
    width_px = shown.width * 100.0  # inches to CSS px
    shrink = min(1.0, OUTPUT_PX[theme] / width_px)  # the output area scales wide images down
    found: list[Finding] = []
    items = [(n, a, a.get_window_extent(renderer)) for n, a in texts(fig)]
    sizes = [(t.get_fontsize() * 100.0 / 72.0 * shrink, n) for n, a, _ in items
             for t in (a.get_texts() if hasattr(a, "get_texts") else [a])]
    if sizes and min(sizes)[0] < MIN_TEXT_PX - 0.05:
        px_, name_ = min(sizes)
        found.append(Finding("small-text", name_, f"{px_:.1f} px as shown ({width_px:.0f} px wide figure shrunk to "
                                                  f"{100 * shrink:.0f}%; minimum {MIN_TEXT_PX:.0f} px)"))
    for i, (name, artist, box) in enumerate(items):
        page = fig.bbox.padded(TOL_PX / px)
        if not cropped and not (page.contains(box.x0, box.y0) and page.contains(box.x1, box.y1)):
            found.append(Finding("text-outside", name, "leaves the figure"))
        for other, _, obox in items[i + 1:]:
            if _corner_ticks(name, other):
                continue
            if _overlap(box, obox, TOL_PX / px):
                found.append(Finding("text-overlap", name, f"overlaps {other}"))
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        name = _axes_name(fig, ax)
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            box = legend.get_window_extent(renderer).padded(-TOL_PX / px)
            pts = _data_points(ax)
            inside = ((pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1))
            if inside.any():
                found.append(Finding("legend-covers-data", f"{name} legend",
                                     f"{int(inside.sum())} data points under it"))
        if not ax.axison or _marked(ax, "image"):
            continue
        for xy, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            if _numeric(list(_tick_labels(axis))) and not _has_label(fig, ax, xy):
                found.append(Finding("unlabelled-axis", f"{name} {xy} axis", "numeric ticks but no label"))
        if not _marked(ax, "zoom"):
            found += [Finding("clipped-data", name, f"{c} (limits: x {ax.get_xlim()[0]:.3g}..{ax.get_xlim()[1]:.3g},"
                                                    f" y {ax.get_ylim()[0]:.3g}..{ax.get_ylim()[1]:.3g})")
                      for c in _clipped(ax, renderer, TOL_PX / px)]
        if ax.get_label() != "<colorbar>" and not _marked(ax, "inset"):
            area = ax.get_window_extent(renderer)
            w, h = area.width * px * shrink, area.height * px * shrink
            if w < MIN_PLOT_PX[0] - 0.5 or h < MIN_PLOT_PX[1] - 0.5:
                found.append(Finding("small-plot", name, f"plot area {w:.0f}x{h:.0f} px shown "
                                                         f"(minimum {MIN_PLOT_PX[0]:.0f}x{MIN_PLOT_PX[1]:.0f})"))
    return found


def talk_copy(fig: Figure) -> Figure:
    """A copy of ``fig`` as the talk theme would make it: 1.25x the size, 1.5x the fonts, laid out again.

    Laid out again by its layout engine, or by ``tight_layout`` where the original was (its subplot
    parameters differ from the defaults); legends placed by ``legend_outside(ax, "below")`` are placed again.
    """
    sp = fig.subplotpars  # tight_layout leaves its mark here: lay the copy out again only if the original was
    laid_out = any(abs(getattr(sp, k) - plt.rcParams[f"figure.subplot.{k}"]) > 1e-9
                   for k in ("left", "right", "bottom", "top"))
    copy: Figure = pickle.loads(pickle.dumps(fig))
    plt.close(copy)  # unpickling re-registers a pyplot figure with pyplot; the copy must never be shown
    FigureCanvasAgg(copy)  # drawn off screen
    w, h = copy.get_size_inches()
    copy.set_size_inches(w * TALK_SIZE, h * TALK_SIZE)
    for t in copy.findobj(Text):
        t.set_fontsize(t.get_fontsize() * TALK_FONT)
    for ax in copy.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for which in ("major", "minor"):
                ticks = axis.get_major_ticks() if which == "major" else axis.get_minor_ticks()
                size = ticks[0].label1.get_fontsize() if ticks else plt.rcParams["xtick.labelsize"]
                axis.set_tick_params(which=which, labelsize=size)  # new ticks get the scaled size too
    for _ in range(2):  # lay out, place the legends below their axes again, lay out with them
        if copy.get_layout_engine() is None and laid_out:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                copy.tight_layout()
        copy.draw_without_rendering()
        for ax in copy.axes:
            legend = ax.get_legend()
            if legend is not None and getattr(legend, "figcheck_below", False):
                legend.set_bbox_to_anchor((0.5, 0.0), transform=below_x_labels(ax))
    return copy


def below_x_labels(ax: Axes, gap_pt: float = 4.0) -> Transform:
    """Axes coordinates shifted down past the x tick labels and x label (measured now), ``gap_pt`` below them.

    ``vaelib.plots.legend_outside(ax, "below")`` anchors its legend here; ``talk_copy`` measures again.
    """
    gap_pt = number(gap_pt, "gap_pt", low=0.0)
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    xaxis = ax.xaxis.get_tightbbox(renderer)  # tick labels and x label, display pixels
    drop = (ax.get_window_extent(renderer).y0 - xaxis.y0) * 72 / fig.dpi if xaxis is not None else 0.0
    return offset_copy(ax.transAxes, fig=fig, y=-(drop + gap_pt), units="points")


def check_both(fig: Figure, theme: str = "notebook", cropped: bool = True,
               talk: bool = True) -> dict[str, list[Finding]]:
    """Findings in the current theme and, when that is "notebook" and ``talk``, in a talk-theme copy as well."""
    out = {theme: check_figure(fig, theme, cropped)}
    if theme == "notebook" and talk:
        out["talk"] = check_figure(talk_copy(fig), "talk", cropped)
    return out


# --- the notebook hook: every figure a cell shows is inspected after the cell and recorded -------------------
_state: dict[str, Any] = {"path": None, "theme": "notebook", "cell": "", "count": 0, "shown": [], "hooks": False}


def record(fig: Figure, cropped: bool = True, where: str = "", talk: bool = True) -> None:
    """Inspect ``fig`` (in both themes unless ``talk`` is False) and append one JSON line to the ``enable``d file.

    The explorers pass ``talk=False``: their talk-theme figures are built and checked for real by
    tests/test_widgets_live.py, which a copy of a frozen layout cannot imitate.
    """
    if _state["path"] is None:
        return
    start = time.perf_counter()
    try:
        result = check_both(fig, _state["theme"], cropped, talk)
        error = ""
    except Exception as err:  # noqa: BLE001 - a figure the check cannot read is itself a finding
        result, error = {}, f"{type(err).__name__}: {err}"
    line = {"cwd": os.getcwd(), "cell": _state["cell"], "execution_count": _state["count"], "where": where,
            "findings": {t: [asdict(f) for f in fs] for t, fs in result.items()}, "error": error,
            "seconds": round(time.perf_counter() - start, 3)}
    with open(_state["path"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")


def _on_draw(event: Any) -> None:
    fig = event.canvas.figure
    if all(f() is not fig for f in _state["shown"]):
        _state["shown"].append(weakref.ref(fig))


def watch(fig: Figure) -> None:
    """Note each draw of ``fig`` (the inline backend draws a figure to show it); the ``figure.hooks`` entry."""
    fig.canvas.mpl_connect("draw_event", _on_draw)


def _pre_run_cell(info: Any) -> None:
    _state["cell"] = getattr(info, "raw_cell", "") or ""
    _state["shown"] = []


def _post_run_cell(result: Any) -> None:
    _state["count"] = getattr(result, "execution_count", None) or _state["count"] + 1
    shown, _state["shown"] = [f() for f in _state["shown"]], []
    for fig in shown:
        if fig is not None:
            record(fig)


def enable(path: str, theme: str = "notebook") -> None:
    """Inspect every figure that pyplot creates and a cell shows; findings go to ``path`` (JSON lines).

    Under IPython the figures are checked after each cell; ``theme`` is the theme they are drawn in.
    """
    _state["path"], _state["theme"] = path, theme
    hooks = list(plt.rcParams["figure.hooks"])
    if "vaelib.figcheck:watch" not in hooks:
        plt.rcParams["figure.hooks"] = hooks + ["vaelib.figcheck:watch"]
    ipython = sys.modules.get("IPython")  # present only inside IPython; never imported here
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and not _state["hooks"]:
        shell.events.register("pre_run_cell", _pre_run_cell)
        shell.events.register("post_run_cell", _post_run_cell)
        _state["hooks"] = True


def enabled_path() -> str | None:
    """The findings file named by ``VAELIB_FIGCHECK`` (None when the check is off)."""
    return os.environ.get(ENV) or None
