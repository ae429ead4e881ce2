"""The VAE in one picture: what the training pass computes, and the generative story it fits.

Training pass: x -> encoder -> (mu, logvar) -> z = mu + sigma * eps (eps ~ N(0, I)) -> decoder -> p(x|z),
with the two loss terms attached where they are computed (the KL from mu and logvar, the reconstruction
from p(x|z) scored on x). Generative story: z ~ p(z) = N(0, I) -> decoder -> x ~ p(x|z); no encoder.

A diagram is data first (``Node``s and ``Edge``s, whose wiring the tests check) and a drawing second:
each node is a text box, each edge an arrow clipped at the two boxes. Drawn in
notebooks/00_a_vae_in_one_page.ipynb.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from vaelib.plots import MAX_WIDTH, get_axes

Kind = Literal["data", "net", "param", "noise", "latent", "loss"]

# Light fills from seaborn's colour-blind palette, one per kind of node; networks are the darkest.
FILL: dict[str, str] = {"data": "#cfe3f3", "net": "#f6d7a7", "param": "#d5ecd4", "noise": "#ececec",
                        "latent": "#e8d3ee", "loss": "#ffffff"}
IMAGE_SIZE = 1.0  # side of a thumbnail, in the diagram's data units
FONT_PER_UNIT = 0.17  # label size in points per point of one data unit: the layout holds at any figure size
GAP = 0.4  # from a node's centre down to the top of its thumbnail


@dataclass(frozen=True)
class Node:
    """One box: ``key`` names it in edges and tests, ``label`` is what it shows (mathtext), ``xy`` its centre."""

    key: str
    label: str
    xy: tuple[float, float]
    kind: Kind


@dataclass(frozen=True)
class Edge:
    """An arrow from ``src`` to ``dst``; ``dashed`` marks a loss term read off a value, not a computation."""

    src: str
    dst: str
    dashed: bool = False
    bend: float = 0.0  # arc3 curvature, to route an arrow around a box in its way


@dataclass(frozen=True)
class Diagram:
    """Nodes, edges, a title, and the data box ``(width, height)`` the nodes are placed in."""

    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    size: tuple[float, float]

    def node(self, key: str) -> Node:
        """The node called ``key`` (KeyError names the known keys)."""
        for n in self.nodes:
            if n.key == key:
                return n
        raise KeyError(f"no node {key!r} in {self.title!r}; nodes: {[n.key for n in self.nodes]}")

    def successors(self, key: str, dashed: bool = False) -> list[str]:
        """Keys the arrows out of ``key`` point to (solid arrows only, unless ``dashed``)."""
        return [e.dst for e in self.edges if e.src == key and (dashed or not e.dashed)]

    def reaches(self, src: str, dst: str) -> bool:
        """True if solid arrows lead from ``src`` to ``dst`` (the data flow, loss arrows excluded)."""
        seen, todo = set(), [src]
        while todo:
            key = todo.pop()
            if key == dst:
                return True
            if key not in seen:
                seen.add(key)
                todo.extend(self.successors(key))
        return False


def training_diagram() -> Diagram:
    """What one training step computes for one image x, and where recon and KL are read off."""
    nodes = (
        Node("x", r"image $x$", (0.55, 1.9), "data"),
        Node("encoder", "encoder\nnetwork", (1.95, 1.9), "net"),
        Node("mu", r"$\mu$", (3.4, 2.5), "param"),
        Node("logvar", r"$\log\sigma^2$", (3.4, 1.3), "param"),
        Node("eps", r"$\varepsilon \sim \mathcal{N}(0, I)$", (5.05, 0.5), "noise"),
        Node("z", r"$z = \mu + \sigma \odot \varepsilon$", (5.05, 1.9), "latent"),
        Node("decoder", "decoder\nnetwork", (6.75, 1.9), "net"),
        Node("px", "$p(x \\mid z)$:\npixel probabilities", (8.65, 1.9), "data"),
        Node("kl", r"kl = KL$(q(z \mid x)\,\|\,\mathcal{N}(0, I))$", (3.4, 3.5), "loss"),
        Node("recon", r"recon = $-\log p(x \mid z)$", (8.65, 3.5), "loss"),
    )
    edges = (Edge("x", "encoder"), Edge("encoder", "mu"), Edge("encoder", "logvar"), Edge("mu", "z"),
             Edge("logvar", "z"), Edge("eps", "z"), Edge("z", "decoder"), Edge("decoder", "px"),
             Edge("mu", "kl", dashed=True), Edge("logvar", "kl", dashed=True, bend=0.6),
             Edge("px", "recon", dashed=True))
    return Diagram("training: encode, sample z, decode; loss = recon + kl", nodes, edges, (10.0, 3.9))


def generative_diagram() -> Diagram:
    """The generative story the decoder defines: z ~ N(0, I), then x ~ p(x|z); no encoder, no data."""
    nodes = (
        Node("prior", r"$z \sim p(z) = \mathcal{N}(0, I)$", (1.95, 0.75), "latent"),
        Node("decoder", "decoder\nnetwork", (5.05, 0.75), "net"),
        Node("px", r"$x \sim p(x \mid z)$", (8.65, 0.75), "data"),
    )
    edges = (Edge("prior", "decoder"), Edge("decoder", "px"))
    return Diagram("generating: sample z from the prior, decode it", nodes, edges, (10.0, 1.5))


def _bottom(diagram: Diagram, images: Mapping[str, torch.Tensor] | None) -> float:
    """The lowest y the drawing needs: 0, or the bottom of the lowest thumbnail."""
    return min([0.0, *(diagram.node(k).xy[1] - GAP - IMAGE_SIZE for k in images or {})])


def draw_diagram(diagram: Diagram, ax: plt.Axes | None = None,
                 images: Mapping[str, torch.Tensor] | None = None) -> Figure:
    """Draw ``diagram`` on ``ax``: one text box per node, one arrow per edge; ``images`` maps a node key to
    a (784,) image in [0, 1] shown as a thumbnail just below that node's box. Labels are sized to the
    Axes (``FONT_PER_UNIT``), so boxes never overlap, whatever the figure size or theme."""
    width, height = diagram.size
    bottom = _bottom(diagram, images)
    fig, ax = get_axes(ax, (MAX_WIDTH, MAX_WIDTH * (height - bottom) / width + 0.5))
    ax.set(xlim=(0, width), ylim=(bottom, height), aspect="equal")
    ax.set_axis_off()
    ax.set_title(diagram.title)
    ax.apply_aspect()  # the Axes' final box, so the label size can be fixed in data units
    points_per_unit = ax.get_position().width * fig.get_figwidth() * 72 / width
    fontsize = FONT_PER_UNIT * points_per_unit
    boxes = {}
    for n in diagram.nodes:
        boxes[n.key] = ax.text(*n.xy, n.label, ha="center", va="center", fontsize=fontsize, zorder=3, gid=n.key,
                               bbox=dict(boxstyle="round,pad=0.3", fc=FILL[n.kind], ec="0.35",
                                         ls="--" if n.kind == "loss" else "-"))
    for e in diagram.edges:
        # zorder=4: after the boxes, so each arrow is clipped to their drawn size
        ax.annotate("", xy=diagram.node(e.dst).xy, xytext=diagram.node(e.src).xy, zorder=4,
                    arrowprops=dict(arrowstyle="-|>", color="0.25", lw=1.2, ls="--" if e.dashed else "-",
                                    patchA=boxes[e.src].get_bbox_patch(), patchB=boxes[e.dst].get_bbox_patch(),
                                    shrinkA=2, shrinkB=2, connectionstyle=f"arc3,rad={e.bend}"))
    for key, image in (images or {}).items():
        cx, cy = diagram.node(key).xy
        top = cy - GAP
        ax.imshow(image.detach().float().cpu().reshape(28, 28).numpy(), cmap="gray_r", vmin=0, vmax=1,
                  extent=(cx - IMAGE_SIZE / 2, cx + IMAGE_SIZE / 2, top - IMAGE_SIZE, top), zorder=1)
    ax.set(xlim=(0, width), ylim=(bottom, height))  # imshow resets the limits to the image
    return fig


def vae_figure(images: Mapping[str, torch.Tensor] | None = None,
               samples: Mapping[str, torch.Tensor] | None = None) -> Figure:
    """Both diagrams, training above generating, ``MAX_WIDTH`` wide; ``images``/``samples`` add thumbnails to
    either (by node key)."""
    parts = [(training_diagram(), images), (generative_diagram(), samples)]
    heights = [d.size[1] - _bottom(d, imgs) for d, imgs in parts]  # data units
    title = 0.45  # inches above each panel for its title
    inches = [MAX_WIDTH * 0.98 * h / parts[0][0].size[0] for h in heights]
    total = sum(inches) + 2 * title
    fig = plt.figure(figsize=(MAX_WIDTH, total))
    grid = fig.add_gridspec(2, 1, height_ratios=inches, left=0.01, right=0.99, bottom=0.0,
                            top=1 - title / total, hspace=title / (sum(inches) / 2))
    for row, (d, imgs) in enumerate(parts):
        draw_diagram(d, fig.add_subplot(grid[row]), imgs)
    return fig
