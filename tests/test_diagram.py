"""The VAE diagrams: wired as the model computes (checked on the graph), and drawn legibly (checked on the
rendered figure: every box inside its panel, no two boxes overlapping, one arrow per edge)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.text import Annotation, Text  # noqa: E402

from vaelib.diagram import Diagram, draw_diagram, generative_diagram, training_diagram, vae_figure  # noqa: E402
from vaelib.plots import MAX_WIDTH, set_theme  # noqa: E402


def test_training_diagram_follows_the_computation():
    d = training_diagram()
    assert sorted(d.successors("encoder")) == ["logvar", "mu"]  # the encoder emits both parameters
    assert sorted(d.successors("z", dashed=True)) == ["decoder"]
    for path in (("x", "encoder", "mu", "z", "decoder", "px"), ("x", "logvar"), ("eps", "z")):
        assert all(d.reaches(a, b) for a, b in zip(path, path[1:])), path
    assert {e.src for e in d.edges if e.dst == "z"} == {"mu", "logvar", "eps"}  # z = mu + sigma * eps
    assert not any(e.dst in ("eps", "x") for e in d.edges)  # noise and data are inputs, nothing computes them
    assert not d.reaches("z", "encoder") and not d.reaches("eps", "mu")  # no feedback: eps cannot move mu
    # loss terms hang off what they are computed from, and are not on the data path
    assert {e.src for e in d.edges if e.dst == "kl"} == {"mu", "logvar"}
    assert {e.src for e in d.edges if e.dst == "recon"} == {"px"}
    assert all(e.dashed for e in d.edges if e.dst in ("kl", "recon")) and not d.reaches("x", "kl")


def test_generative_story_needs_no_encoder():
    d = generative_diagram()
    assert d.reaches("prior", "px") and "N}(0, I)" in d.node("prior").label
    assert not any(n.kind in ("param", "noise") or n.key == "encoder" for n in d.nodes)
    with pytest.raises(KeyError, match="encoder"):
        d.node("encoder")


def _boxes(ax: plt.Axes) -> dict[str, matplotlib.transforms.Bbox]:
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    return {t.get_gid(): t.get_bbox_patch().get_window_extent(renderer)
            for t in ax.texts if isinstance(t, Text) and t.get_gid()}


@pytest.mark.parametrize("context", ["notebook", "talk"])
@pytest.mark.parametrize("make", [training_diagram, generative_diagram])
def test_drawing_is_legible(make, context):
    set_theme(context)  # the projector theme's larger fonts must not make boxes collide
    d: Diagram = make()
    fig = draw_diagram(d)
    assert fig.get_figwidth() <= MAX_WIDTH
    ax = fig.axes[0]
    boxes = _boxes(ax)
    assert set(boxes) == {n.key for n in d.nodes}
    inside = ax.get_window_extent()
    for key, box in boxes.items():
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1, key
    keys = sorted(boxes)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert not boxes[a].overlaps(boxes[b]), (a, b)
    arrows = {(a.xyann, a.xy) for a in ax.texts if isinstance(a, Annotation)}  # (from, to) per arrow
    assert arrows == {(d.node(e.src).xy, d.node(e.dst).xy) for e in d.edges}
    plt.close(fig)


def test_thumbnails_sit_below_their_node_and_show_the_image():
    img = torch.zeros(784)
    img[:28] = 1.0  # top row on
    fig = draw_diagram(training_diagram(), images={"x": img})
    ax = fig.axes[0]
    (shown,) = ax.images
    assert shown.get_array()[0].min() == 1.0 and shown.get_array()[1:].max() == 0.0
    left, right, bottom, top = shown.get_extent()
    cx, cy = training_diagram().node("x").xy
    assert left < cx < right and top < cy and ax.get_ylim()[0] <= bottom
    plt.close(fig)


def test_vae_figure_has_both_panels_with_titles():
    fig = vae_figure(images={"x": torch.rand(784)}, samples={"px": torch.rand(784)})
    assert len(fig.axes) == 2 and fig.get_figwidth() <= MAX_WIDTH
    assert "training" in fig.axes[0].get_title() and "generating" in fig.axes[1].get_title()
    assert len(fig.axes[0].images) == 1 and len(fig.axes[1].images) == 1
    plt.close(fig)
