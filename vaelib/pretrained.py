"""Shipped checkpoints: what we ship, how it is built, and how it is found and verified.

``python -m vaelib.pretrained build [NAME ...]`` trains each shipped config with ``vaelib.train``
(resumable checkpoints under runs/), exports a slim copy (no optimizer state) to pretrained/NAME.pt,
evaluates it on the test set (ELBO, and log p(x) by importance sampling with k samples) and records it
in pretrained/manifest.json: ``name``, ``file``, ``config``, ``epochs``, ``sha256``, ``test_elbo``,
``test_logpx``, ``k`` and how it was evaluated. ``load_or_train`` finds these by config, so notebooks
04-06 load in seconds what the full configs would train for minutes.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from vaelib.config import PRETRAINED_DIR, get_device, runs_dir
from vaelib.data import file_digest
from vaelib.models import ModelConfig

MANIFEST = PRETRAINED_DIR / "manifest.json"
EVAL_SEED = 1234  # seed of the test-set binarization and of z in the manifest's numbers
EVAL_K = {"mlp-d2": 1000, "mlp-d50": 5000}  # importance samples for each model's test log p(x)


def shipped_configs() -> dict[str, Any]:
    """Name -> TrainConfig of every shipped model (MLP 784-512-512-D, ELU, cosine LR, dynamic binarization)."""
    from vaelib.train import TrainConfig

    return {
        "mlp-d2": TrainConfig(model=ModelConfig(latent_dim=2, hidden=(512, 512)), epochs=100, lr_schedule="cosine"),
        "mlp-d50": TrainConfig(model=ModelConfig(latent_dim=50, hidden=(512, 512)), epochs=200, lr_schedule="cosine"),
    }


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    return file_digest(path, "sha256")


def read_manifest(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The manifest's model entries (empty if there is no manifest); default: pretrained/manifest.json."""
    path = Path(path) if path is not None else MANIFEST
    return json.loads(path.read_text())["models"] if path.exists() else []


def find_pretrained(config: dict[str, Any], path: str | Path | None = None) -> Path | None:
    """Path of a shipped checkpoint trained with exactly ``config``, or None."""
    from vaelib.train import TrainConfig

    for entry in read_manifest(path):
        if TrainConfig.from_dict(entry["config"]).to_dict() == config:
            return Path(path if path is not None else MANIFEST).parent / entry["file"]
    return None


def manifest_entry(name: str, path: str | Path | None = None) -> dict[str, Any]:
    """The manifest entry of shipped model ``name`` (KeyError with the available names if absent)."""
    entries = {m["name"]: m for m in read_manifest(path)}
    if name not in entries:
        raise KeyError(f"No shipped model {name!r} in {path or MANIFEST}; available: {sorted(entries)}. "
                       "Build it with `python -m vaelib.pretrained build NAME`.")
    return entries[name]


def load_pretrained(name: str, device: str | torch.device = "cpu", verify: bool = True) -> tuple[Any, dict[str, Any]]:
    """Load shipped model ``name`` (sha256-checked, ``weights_only=True``); return (model in eval mode, entry)."""
    from vaelib.train import model_from_checkpoint

    entry = manifest_entry(name)
    path = MANIFEST.parent / entry["file"]
    if verify and sha256(path) != entry["sha256"]:
        raise RuntimeError(f"{path} does not match the sha256 in {MANIFEST}: the file is corrupt or was replaced; "
                           f"rebuild it with `python -m vaelib.pretrained build {name}`.")
    model, _ = model_from_checkpoint(path, device)
    return model, entry


def _write_entry(entry: dict[str, Any], path: Path | None = None) -> None:
    path = path if path is not None else MANIFEST
    models = [m for m in read_manifest(path) if m["name"] != entry["name"]] + [entry]
    doc = {"about": "Shipped VAE checkpoints; built by `python -m vaelib.pretrained build` (see README).",
           "models": sorted(models, key=lambda m: m["name"])}
    path.write_text(json.dumps(doc, indent=2) + "\n")


def build(name: str, k: int | None = None, n_test: int | None = None, device: str = "auto") -> dict[str, Any]:
    """Train (or resume) one shipped model, export it, evaluate it and record it in the manifest."""
    from vaelib.checkpoint import save_checkpoint
    from vaelib.data import load_mnist
    from vaelib.evaluate import evaluate
    from vaelib.train import train

    cfg = shipped_configs()[name]
    k = k or EVAL_K.get(name, 5000)
    dev = get_device(device)
    data = load_mnist()
    result = train(cfg, data, dev, checkpoint=runs_dir() / f"build-{name}.pt")
    out = PRETRAINED_DIR / f"{name}.pt"
    save_checkpoint(out, {"config": cfg.to_dict(), "epoch": cfg.epochs, "history": result.history,
                          "model": {k_: v.cpu() for k_, v in result.model.state_dict().items()}})
    t1 = time.perf_counter()
    test_x = data.test_x[:n_test].to(dev)
    test = evaluate(result.model, test_x, binarized=True, k=k, seed=EVAL_SEED, batch_size=100, progress=True)
    entry = {
        "name": name, "file": out.name, "config": cfg.to_dict(), "epochs": cfg.epochs, "sha256": sha256(out),
        "test_elbo": test["elbo"], "test_elbo_se": test["elbo_se"], "test_recon": test["recon"], "test_kl": test["kl"],
        "test_logpx": test["log_px"], "test_logpx_se": test["log_px_se"], "k": k, "n_test": len(test_x),
        "eval_seed": EVAL_SEED, "binarization": "dynamic (one Bernoulli draw of the test set, eval_seed)",
        "train_seconds_per_epoch": sum(result.history["seconds"]) / len(result.history["seconds"]),
        "train_seconds_total": round(sum(result.history["seconds"]), 1),  # summed per-epoch times (survives resumes)
        "eval_wall_seconds": round(time.perf_counter() - t1, 1),
        "device": f"{dev.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "torch": torch.__version__,
    }
    _write_entry(entry)
    print(json.dumps(entry, indent=2))
    return entry


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m vaelib.pretrained build [NAME ...] [--k K] [--n-test N]``."""
    p = argparse.ArgumentParser(prog="python -m vaelib.pretrained")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="train, export, evaluate and record shipped models")
    b.add_argument("names", nargs="*", help=f"default: all of {list(shipped_configs())}")
    b.add_argument("--k", type=int, default=None, help=f"importance samples for test log p(x) (default {EVAL_K})")
    b.add_argument("--n-test", type=int, default=None, help="evaluate on the first N test images only")
    b.add_argument("--device", default="auto")
    sub.add_parser("list", help="print the manifest")
    a = p.parse_args(argv)
    if a.cmd == "list":
        for m in read_manifest():
            print(f"{m['name']:<10} epochs={m['epochs']:<4} test_elbo={m['test_elbo']:.2f} "
                  f"test_logpx(k={m['k']})={m['test_logpx']:.2f}")
        return
    for name in a.names or list(shipped_configs()):
        build(name, k=a.k, n_test=a.n_test, device=a.device)


if __name__ == "__main__":
    main()
