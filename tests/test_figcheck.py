"""The figure check (vaelib.figcheck): each rule fails on a figure made to break it and passes on a clean one;
and the notebooks' part (tests/notebook_figures.py, which fails a notebook's last cell when its figures have a
finding outside the allow-list) reports what it should. Cost: about 2 s.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
from matplotlib.figure import Figure
from notebook_figures import NotebookFigureCheck, findings_report

from vaelib import figcheck
from vaelib.plots import legend_outside, set_theme


@pytest.fixture(autouse=True)
def _theme():
    set_theme("notebook")
    yield
    plt.close("all")


def rules(fig: Figure, **kw) -> set[str]:
    return {f.rule for f in figcheck.check_figure(fig, **kw)}


def clean() -> Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    x = np.linspace(0, 1, 50)
    ax.plot(x, x ** 2, label="x squared")
    ax.set(xlabel="x", ylabel="y", title="a clean figure")
    legend_outside(ax)
    fig.tight_layout()
    return fig


def test_clean_figure_passes_in_both_themes():
    found = figcheck.check_both(clean())
    assert found == {"notebook": [], "talk": []}


def test_overlapping_titles_fail():
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.0))
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set(xlabel="x", ylabel="y", title="a long title that runs into its neighbour's")
    fig.tight_layout()
    found = figcheck.check_figure(fig)
    assert any(f.rule == "text-overlap" and "title" in f.artist and "title" in f.detail for f in found), found


def test_legend_over_data_fails_and_outside_passes():
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    x = np.linspace(0, 1, 200)
    ax.plot(x, np.full_like(x, 0.98), label="a line along the top")
    ax.plot(x, np.zeros_like(x), label="a line along the bottom")
    ax.set(xlabel="x", ylabel="y")
    ax.legend(loc="upper right")
    fig.tight_layout()
    found = figcheck.check_figure(fig)
    assert [f.artist for f in found if f.rule == "legend-covers-data"] == ["axes 1 legend"], found
    legend_outside(ax)
    fig.tight_layout()
    assert "legend-covers-data" not in rules(fig)


def test_scatter_under_legend_fails():
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.scatter([0.05, 0.5, 0.95], [0.95, 0.5, 0.05], label="points")
    ax.set(xlabel="x", ylabel="y")
    ax.legend(loc="upper left")
    assert "legend-covers-data" in rules(fig)


def test_clipped_data_fail_unless_marked_as_zoom():
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.hist(np.r_[np.zeros(50), np.linspace(0, 1, 50)], bins=10, density=True)  # a spike of density 5.5
    ax.set(xlabel="value", ylabel="density", ylim=(0, 1))
    found = [f for f in figcheck.check_figure(fig) if f.rule == "clipped-data"]
    assert [f.artist for f in found] == ["axes 1"] and "above the plot area" in found[0].detail, found
    figcheck.mark(ax, "zoom")
    assert "clipped-data" not in rules(fig)
    ax.set_ylim(auto=True)
    ax.autoscale_view()
    assert "clipped-data" not in rules(fig)


def test_unlabelled_axis_fails_but_image_grids_and_shared_labels_pass():
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("x")
    assert [f.artist for f in figcheck.check_figure(fig) if f.rule == "unlabelled-axis"] == ["axes 1 y axis"]
    figcheck.mark(ax, "image")
    assert "unlabelled-axis" not in rules(fig)
    fig, axes = plt.subplots(1, 2, sharey=True, figsize=(6.4, 3.0))
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("x")
    axes[0].set_ylabel("y")
    axes[1].tick_params(labelleft=True)
    fig.tight_layout()
    assert "unlabelled-axis" not in rules(fig)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.bar(["AE", "VAE"], [1, 2])
    ax.set_ylabel("score")  # the x axis names categories, not a quantity
    assert "unlabelled-axis" not in rules(fig)


def test_small_plot_fails_at_display_size():
    fig, axes = plt.subplots(1, 8, figsize=(16, 2.0))  # shown shrunk to the output width
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set(xlabel="x", ylabel="y")
    found = [f for f in figcheck.check_figure(fig) if f.rule == "small-plot"]
    assert len(found) == 8 and "minimum" in found[0].detail


def test_a_wide_figure_shown_shrunk_has_small_text():
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.4))
    for ax in axes.flat:
        ax.plot([0, 1], [0, 1])
        ax.set(xlabel="x", ylabel="y", title="panel")
    fig.tight_layout()
    found = [f for f in figcheck.check_figure(fig) if f.rule == "small-text"]
    assert len(found) == 1 and "shrunk" in found[0].detail, found
    assert "small-text" not in rules(clean())


def test_text_outside_fails_only_where_the_figure_is_not_cropped():
    fig = clean()
    fig.axes[0].set_title("a title far too long for its figure " * 3)
    assert "text-outside" in rules(fig, cropped=False)
    assert "text-outside" not in rules(fig, cropped=True)


def test_talk_copy_catches_what_only_the_larger_fonts_break():
    fig, axes = plt.subplots(1, 3, figsize=(8.0, 2.6))
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set(xlabel="x", ylabel="y", title="the longer title of a panel here")
    fig.tight_layout()
    found = figcheck.check_both(fig)
    assert found["notebook"] == []
    assert any(f.rule == "text-overlap" for f in found["talk"]), found["talk"]
    assert plt.get_fignums() == [fig.number]  # the copy is never shown


def test_mark_rejects_unknown_marks():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="Unknown figure-check mark"):
        figcheck.mark(ax, "picture")


def test_record_writes_one_line_per_figure(tmp_path):
    path = tmp_path / "figs.jsonl"
    figcheck.enable(str(path))
    figcheck._pre_run_cell(None)  # what IPython calls before a cell
    try:
        fig = plt.figure()  # figure.hooks: watched from birth
        fig.canvas.draw()
        figcheck._post_run_cell(None)  # what IPython calls after a cell
        lines = [json.loads(s) for s in path.read_text().splitlines()]
        assert len(lines) == 1 and set(lines[0]["findings"]) == {"notebook", "talk"}
    finally:
        figcheck._state["path"] = None
        plt.rcParams["figure.hooks"] = [h for h in plt.rcParams["figure.hooks"] if "figcheck" not in h]


# --- the notebooks' part: tests/notebook_figures.py fails a notebook's last cell on its own findings only -------
class IPyNbCell:  # the name nbval gives its items; the plugin looks at nothing else
    def __init__(self, path: Path, parent: object):
        self.path, self.parent = path, parent


def test_a_notebooks_last_cell_fails_on_its_own_figure_findings_only(tmp_path, monkeypatch):
    cells = {"a.ipynb": "fig, ax = plt.subplots()  # a", "b.ipynb": "fig, ax = plt.subplots()  # b",
             "05_map.ipynb": "fig, ax = plt.subplots()  # 05"}
    for name, source in cells.items():
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), tmp_path / name)
    overlap = {"rule": "text-overlap", "artist": "axes 1 title", "detail": "runs into the suptitle"}
    clipped = {"rule": "clipped-data", "artist": "axes 1 'latent means'", "detail": "3 points outside"}
    records = [(cells["a.ipynb"], [overlap]), (cells["b.ipynb"], []), (cells["05_map.ipynb"], [clipped])]
    findings = tmp_path / "findings.jsonl"
    findings.write_text("".join(json.dumps({"cwd": str(tmp_path), "cell": src, "execution_count": 1, "where": "",
                                            "findings": {"notebook": fs, "talk": []}, "error": ""}) + "\n"
                                for src, fs in records))
    monkeypatch.setenv(figcheck.ENV, str(findings))
    plugin, parents = NotebookFigureCheck(), {name: object() for name in cells}
    last = {name: IPyNbCell(tmp_path / name, parents[name]) for name in cells}
    with pytest.raises(AssertionError, match=r"1 problem\(s\) in 1 figures:\na.ipynb cell 0 \(notebook\): "
                                             r"text-overlap: axes 1 title"):
        plugin.pytest_runtest_teardown(last["a.ipynb"], None)
    plugin.pytest_runtest_teardown(last["a.ipynb"], IPyNbCell(tmp_path / "a.ipynb", parents["a.ipynb"]))  # not last
    plugin.pytest_runtest_teardown(last["b.ipynb"], last["a.ipynb"])  # clean
    plugin.pytest_runtest_teardown(last["05_map.ipynb"], None)  # allowed: 05's maps clip outliers on purpose
    assert findings_report(findings) == (3, [ln for ln in findings_report(findings)[1] if ln.startswith("a.ipynb")])
