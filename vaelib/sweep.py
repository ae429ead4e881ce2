"""Does q(z) get closer to N(0, I) with more latent dimensions or a deeper encoder? A cached sweep.

``python -m vaelib.sweep --help``. Each run trains an MLP VAE with ``vaelib.train`` -- identical except for
the latent dimension D or the encoder depth (the decoder is fixed) -- then encodes its training images
and estimates the ELBO-surgery terms with ``vaelib.aggregate`` (avg KL = I_q(x;z) + KL(q(z)||p(z))), the
KL of the moment-matched Gaussian, the active units and the test ELBO. The result, with its config,
command line and wall time, goes to runs/sweep.json (``--out``); ``--ship`` runs the full default grid and ships
it as pretrained/sweep.json (``vaelib.manifest.ship``), which notebook 06 reads in full mode. A trial with other
settings (e.g. ``--epochs 1``) can never replace the shipped file.

Derived in notebooks/06_aggregate_posterior.ipynb.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from vaelib.aggregate import aggregate_moments, aggregate_terms, gaussian_kl_to_std
from vaelib.config import PRETRAINED_DIR, get_device, runs_dir
from vaelib.data import MNIST, load_mnist
from vaelib.evaluate import evaluate
from vaelib.latent import active_units, encode_dataset
from vaelib.manifest import register_artefact
from vaelib.models import ModelConfig
from vaelib.pretrained import load_artefact
from vaelib.train import TrainConfig, train

SHIP_COMMAND = "python -m vaelib.sweep --ship"  # the shipped sweep's own command (the default grid)


@dataclass(frozen=True)
class SweepConfig:
    """The grid (D at a fixed depth, then depth at a fixed D) and the shared training/estimation settings."""

    latent_dims: tuple[int, ...] = (2, 5, 10, 20, 50)
    depths: tuple[int, ...] = (1, 2, 3)       # encoder hidden layers
    base_depth: int = 2                       # depth of the D sweep
    depth_latent_dim: int = 10                # D of the depth sweep
    width: int = 256                          # every hidden layer; the decoder is always width x 2
    epochs: int = 20
    lr_schedule: str = "cosine"
    limit: int | None = 10_000                # cap on each split: N = training images in the mixture
    n_samples: int = 2000                     # Monte Carlo draws (i, z) for the surgery terms
    seed: int = 0

    def runs(self) -> list[tuple[int, int]]:
        """(D, depth) of every run, without duplicates, D sweep first."""
        grid = [(d, self.base_depth) for d in self.latent_dims] + [(self.depth_latent_dim, k) for k in self.depths]
        return list(dict.fromkeys(grid))

    def train_config(self, latent_dim: int, depth: int) -> TrainConfig:
        """The training config of one run."""
        model = ModelConfig(latent_dim=latent_dim, hidden=(self.width,) * depth, decoder_hidden=(self.width,) * 2)
        return TrainConfig(model=model, epochs=self.epochs, lr_schedule=self.lr_schedule,  # type: ignore[arg-type]
                           seed=self.seed, limit=self.limit)


def smoke_sweep_config() -> SweepConfig:
    """Two tiny runs (D=2 at depths 2 and 1, one epoch, 500 images): exercises the code path in seconds."""
    return SweepConfig(latent_dims=(2,), depths=(1,), depth_latent_dim=2, width=64, epochs=1, limit=500,
                       n_samples=200)


def run_one(cfg: SweepConfig, latent_dim: int, depth: int, data: MNIST, device: torch.device,
            progress: bool = False) -> dict[str, Any]:
    """Train one config and measure its aggregate posterior and test ELBO."""
    t0 = time.perf_counter()
    result = train(cfg.train_config(latent_dim, depth), data, device, progress=progress)
    t1 = time.perf_counter()
    mu, logvar = encode_dataset(result.model, data.train_x[:cfg.limit].to(device), seed=cfg.seed,
                                dtype=torch.float64).params()
    gen = torch.Generator().manual_seed(cfg.seed)
    terms = aggregate_terms(mu.cpu(), logvar.cpu(), cfg.n_samples, gen)
    mean, cov = aggregate_moments(mu.cpu(), logvar.cpu())
    test = evaluate(result.model, data.test_x[:cfg.limit].to(device), seed=cfg.seed + 1)
    return {"latent_dim": latent_dim, "depth": depth, **terms.to_dict(),
            "gaussian_kl": gaussian_kl_to_std(mean, cov),
            "active_units": int(active_units(mu).sum()),
            "test_elbo": test["elbo"], "test_elbo_se": test["elbo_se"], "test_kl": test["kl"],
            "test_recon": test["recon"], "val_elbo": result.history["val_elbo"],
            "train_seconds": round(t1 - t0, 1), "eval_seconds": round(time.perf_counter() - t1, 1)}


def run_sweep(cfg: SweepConfig, data: MNIST, device: str | torch.device = "cpu",
              progress: bool = True) -> dict[str, Any]:
    """Every run of ``cfg``; returns the sweep document (config, environment, runs, wall time)."""
    device = get_device(device) if isinstance(device, str) else device
    t0 = time.perf_counter()
    runs = [run_one(cfg, d, k, data, device, progress=progress)
            for d, k in tqdm(cfg.runs(), desc="sweep", disable=not progress)]
    return {"config": asdict(cfg), "runs": runs, "wall_seconds": round(time.perf_counter() - t0, 3),
            "device": f"{device.type} ({platform.machine()}, {torch.get_num_threads()} threads, nice {os.nice(0)})",
            "torch": torch.__version__}


def load_sweep(path: str | Path | None = None) -> dict[str, Any]:
    """The sweep document at ``path``; by default the shipped one (pretrained/sweep.json, sha256-checked)."""
    return json.loads((Path(path) if path is not None else load_artefact("sweep")).read_text())


def select(sweep: dict[str, Any], by: str) -> list[dict[str, Any]]:
    """Runs of the D sweep (``by="latent_dim"``) or of the depth sweep (``by="depth"``), sorted."""
    c = sweep["config"]
    if by == "latent_dim":
        dims = (*c["latent_dims"], c["depth_latent_dim"])  # the shared run belongs to both sweeps
        rows = [r for r in sweep["runs"] if r["depth"] == c["base_depth"] and r["latent_dim"] in dims]
    else:
        depths = (*c["depths"], c["base_depth"])
        rows = [r for r in sweep["runs"] if r["latent_dim"] == c["depth_latent_dim"] and r["depth"] in depths]
    return sorted(rows, key=lambda r: r[by])


PANELS = (("marginal_kl", "KL(q(z) || p(z))"), ("mi", "I_q(x; z)"), ("avg_kl", "average KL"),
          ("test_elbo", "test ELBO"))


def plot_sweep(sweep: dict[str, Any], axes: Sequence[Sequence[plt.Axes]] | None = None) -> Figure:
    """Two rows (against D, against encoder depth) x four panels, each point with a 2-SE error bar."""
    if axes is None:
        _, axes = plt.subplots(2, 4, figsize=(15, 6.4))
    axes = np.asarray(axes)
    for row, by in zip(axes, ("latent_dim", "depth")):
        rows = select(sweep, by)
        x = [r[by] for r in rows]
        for ax, (key, title) in zip(row, PANELS):
            ax.errorbar(x, [r[key] for r in rows], yerr=[2 * r[key + "_se"] for r in rows], marker="o", capsize=3)
            if key == "mi":
                ax.plot(x, [r["log_n"] for r in rows], "k--", lw=1, label="log N")
                ax.legend()
            ax.set_xlabel("latent dimension D" if by == "latent_dim" else "encoder hidden layers")
            ax.set_ylabel("nats")
            ax.set_title(title)
            ax.set_xticks(x)
        if by == "latent_dim":
            for ax in row:
                ax.set_xscale("log")
                ax.set_xticks(x, [str(v) for v in x])
                ax.minorticks_off()
    fig = axes.flat[0].figure
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: run the sweep and write it to ``--out`` (default runs/sweep.json); ``--ship``: the default grid,
    shipped as pretrained/sweep.json and recorded in the manifest."""
    argv = sys.argv[1:] if argv is None else argv
    d = SweepConfig()
    p = argparse.ArgumentParser(prog="python -m vaelib.sweep", description=__doc__.split("\n")[0])
    p.add_argument("--latent-dims", type=int, nargs="+", default=list(d.latent_dims))
    p.add_argument("--depths", type=int, nargs="+", default=list(d.depths), help="encoder hidden layers")
    p.add_argument("--base-depth", type=int, default=d.base_depth, help="encoder depth of the D sweep")
    p.add_argument("--depth-latent-dim", type=int, default=d.depth_latent_dim, help="D of the depth sweep")
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--limit", type=int, default=d.limit, help="cap each split (N of the mixture); 0 = all")
    p.add_argument("--n-samples", type=int, default=d.n_samples, help="Monte Carlo draws of (i, z)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="where to write the JSON (default: runs/sweep.json)")
    p.add_argument("--ship", action="store_true",
                   help="run the default grid and ship it as pretrained/sweep.json (other grid settings are refused)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = replace(d, latent_dims=tuple(a.latent_dims), depths=tuple(a.depths), base_depth=a.base_depth,
                  depth_latent_dim=a.depth_latent_dim, width=a.width, epochs=a.epochs, limit=a.limit or None,
                  n_samples=a.n_samples, seed=a.seed)
    if a.ship and (cfg != d or a.out is not None):
        p.error("--ship ships only the complete default grid into pretrained/: drop the grid options and --out, or "
                "drop --ship to write a trial under runs/")
    out = Path(a.out) if a.out is not None else (runs_dir() / "build" if a.ship else runs_dir()) / "sweep.json"
    if not a.ship and out.resolve().is_relative_to(PRETRAINED_DIR.resolve()):
        p.error(f"--out {a.out} is inside pretrained/, which only `{SHIP_COMMAND}` writes: pass a path under runs/")
    doc = {"command": " ".join(["python -m vaelib.sweep", *argv]), **run_sweep(cfg, load_mnist(), a.device)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    if a.ship:
        register_artefact("sweep", out, SHIP_COMMAND, notebook="06_aggregate_posterior")
    print(f"wrote {out} ({len(doc['runs'])} runs, {doc['wall_seconds']:.0f} s){' and shipped it' if a.ship else ''}")
    return doc


if __name__ == "__main__":
    main()
