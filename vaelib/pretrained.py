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
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from vaelib.config import PRETRAINED_DIR, get_device, runs_dir
from vaelib.data import file_digest
from vaelib.models import ModelConfig

MANIFEST = PRETRAINED_DIR / "manifest.json"
EVAL_SEED = 1234  # seed of the test-set binarization and of z in the manifest's numbers
EVAL_K = {"mlp-d2": 1000, "mlp-d50": 5000}  # importance samples for each model's test log p(x); others 500
SPHERE_DIMS = (2, 5, 10, 20)  # notebook 07: N-VAE in R^D vs S-VAE on S^D (in R^{D+1})
SPHERE_SAME_AMBIENT = (2, 5)  # ... and vs S-VAE on S^{D-1} (in R^D) at these D
LONG_EPOCHS = 100  # notebook 07: the D = 5 pair trained longer, to see whether the gap is a matter of training
VALUES_ONLY = ("nvae-d5-e100", "svae-d6-e100")  # evaluated and recorded, checkpoints not shipped (<= 40 MB in all)


def shipped_configs() -> dict[str, Any]:
    """Name -> TrainConfig of every shipped model (dynamic binarization, cosine LR throughout).

    * ``mlp-d2``, ``mlp-d50`` (notebooks 04-06): MLP 784-512-512-D, ELU.
    * ``std-d40``, ``vamp-d40`` (notebook 07): MLP 784-300-300-40, ELU, batch 100, 10-epoch KL warm-up;
      identical except the prior (N(0, I) vs a VampPrior with K = 500 pseudo-inputs).
    * ``nvae-dD`` for D in ``SPHERE_DIMS`` and ``svae-dM`` (notebook 07): encoder 256-128, decoder 128-256,
      ReLU (Davidson et al.'s MNIST architecture), 10-epoch warm-up; identical except the latent: Gaussian
      in R^D, or vMF on the sphere S^{M-1} in R^M (M, the ambient dimension, is the name's number).
      The S-VAE is shipped at M = D + 1 (the same number of latent degrees of freedom as the N-VAE, as
      the authors' example code pairs them; ``svae-d3`` is the sphere S^2) and at M = D for D = 2, 5.
    * ``nvae-d5-e100``, ``svae-d6-e100``: the D = 5 pair trained for ``LONG_EPOCHS``; ``VALUES_ONLY``: the manifest
      records their test values (``file`` is null), the checkpoints are not shipped.
    """
    from vaelib.train import TrainConfig

    cfgs = {
        "mlp-d2": TrainConfig(model=ModelConfig(latent_dim=2, hidden=(512, 512)), epochs=100, lr_schedule="cosine"),
        "mlp-d50": TrainConfig(model=ModelConfig(latent_dim=50, hidden=(512, 512)), epochs=200, lr_schedule="cosine"),
    }
    for prior, name in (("standard", "std-d40"), ("vamp", "vamp-d40")):
        cfgs[name] = TrainConfig(model=ModelConfig(latent_dim=40, hidden=(300, 300), prior=prior, n_components=500),
                                 epochs=40, batch_size=100, lr_schedule="cosine", warmup_epochs=10)
    sphere = [("nvae", "gaussian", d) for d in SPHERE_DIMS] + [
        ("svae", "vmf", m) for m in sorted({d + 1 for d in SPHERE_DIMS} | set(SPHERE_SAME_AMBIENT))]
    for tag, latent, d in sphere:
        cfgs[f"{tag}-d{d}"] = TrainConfig(
            model=ModelConfig(latent_dim=d, hidden=(256, 128), activation="relu", latent=latent),
            epochs=30, lr_schedule="cosine", warmup_epochs=10)
    for name in VALUES_ONLY:
        base = cfgs[name.rsplit("-", 1)[0]]
        cfgs[name] = replace(base, epochs=LONG_EPOCHS)
    return cfgs


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
        if entry["file"] is not None and TrainConfig.from_dict(entry["config"]).to_dict() == config:
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
    if entry["file"] is None:
        raise FileNotFoundError(f"{name!r} is recorded by its test values only (its checkpoint is not shipped); "
                                f"train it with `python -m vaelib.pretrained build {name}`.")
    path = MANIFEST.parent / entry["file"]
    if verify and sha256(path) != entry["sha256"]:
        raise RuntimeError(f"{path} does not match the sha256 in {MANIFEST}: the file is corrupt or was replaced; "
                           f"rebuild it with `python -m vaelib.pretrained build {name}`.")
    model, _ = model_from_checkpoint(path, device)
    return model, entry


def load_eval_values(name: str, verify: bool = True) -> dict[str, torch.Tensor]:
    """Per-example test values of shipped model ``name`` (``log_px``, ``elbo``, each (n_test,) float64), as the
    manifest's numbers were computed: the same binarization (``eval_seed``) for every model, so they pair up."""
    entry = manifest_entry(name)
    if "values_file" not in entry:
        raise KeyError(f"{name!r} was built without per-example values; rebuild it with "
                       f"`python -m vaelib.pretrained build {name}`.")
    path = MANIFEST.parent / entry["values_file"]
    if verify and sha256(path) != entry["values_sha256"]:
        raise RuntimeError(f"{path} does not match the sha256 in {MANIFEST}")
    values = torch.load(path, weights_only=True)
    return {"log_px": values["log_px"].double(), "elbo": values["elbo"].double()}


def compare_with_shipped(model: Any, name: str, x: torch.Tensor, k: int, batch_size: int = 100) -> dict[str, Any]:
    """Re-evaluate ``model`` on ``x`` = the first n test images with the manifest's seed, and pair the result with
    shipped model ``name``'s per-image values on the same images (and the same binarization).

    Returns the live evaluation under ``"live"`` and (mean, SE) of live minus shipped for ``"elbo"`` and
    ``"log_px"``: the ELBO differs only by the draws of z (zero on average); with k at most the manifest's k,
    log p(x) is no higher. With the manifest's k and batch size the run repeats the shipped one exactly.
    """
    from vaelib.evaluate import evaluate, paired_difference

    entry = manifest_entry(name)
    live = evaluate(model, x, k=k, seed=entry["eval_seed"], batch_size=batch_size, per_example=True)
    shipped = load_eval_values(name)
    n = len(x)
    return {"live": live, "elbo": paired_difference(live["values"]["elbo"], shipped["elbo"][:n]),
            "log_px": paired_difference(live["values"]["log_px"], shipped["log_px"][:n])}


def _write_entry(entry: dict[str, Any], path: Path | None = None) -> None:
    import fcntl

    path = path if path is not None else MANIFEST
    with open(path.with_suffix(".lock"), "w") as lock:  # builds may run in parallel processes
        fcntl.flock(lock, fcntl.LOCK_EX)
        models = [m for m in read_manifest(path) if m["name"] != entry["name"]] + [entry]
        doc = {"about": "Shipped VAE checkpoints; built by `python -m vaelib.pretrained build` (see README).",
               "models": sorted(models, key=lambda m: m["name"])}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(path)


def build(name: str, k: int | None = None, n_test: int | None = None, device: str = "auto") -> dict[str, Any]:
    """Train (or resume) one shipped model, export it, evaluate it and record it in the manifest."""
    from vaelib.checkpoint import save_checkpoint
    from vaelib.data import load_mnist
    from vaelib.evaluate import evaluate
    from vaelib.train import train

    cfg = shipped_configs()[name]
    k = k or EVAL_K.get(name, 500)
    dev = get_device(device)
    data = load_mnist()
    result = train(cfg, data, dev, checkpoint=runs_dir() / f"build-{name}.pt")
    out = None if name in VALUES_ONLY else PRETRAINED_DIR / f"{name}.pt"  # values-only: the checkpoint stays in runs/
    if out is not None:
        save_checkpoint(out, {"config": cfg.to_dict(), "epoch": cfg.epochs, "history": result.history,
                              "model": {k_: v.cpu() for k_, v in result.model.state_dict().items()}})
    t1 = time.perf_counter()
    test_x = data.test_x[:n_test].to(dev)
    test = evaluate(result.model, test_x, binarized=True, k=k, seed=EVAL_SEED, batch_size=100, progress=True,
                    per_example=True)
    values_file = f"{name}.eval.pt"  # per-example test values (float32), for paired comparisons between models
    save_checkpoint(PRETRAINED_DIR / values_file, {"log_px": test["values"]["log_px"].float(),
                                                   "elbo": test["values"]["elbo"].float(), "eval_seed": EVAL_SEED, "k": k})
    entry = {
        "name": name, "file": out and out.name, "config": cfg.to_dict(), "epochs": cfg.epochs,
        "sha256": out and sha256(out),
        "test_elbo": test["elbo"], "test_elbo_se": test["elbo_se"], "test_recon": test["recon"], "test_kl": test["kl"],
        "test_logpx": test["log_px"], "test_logpx_se": test["log_px_se"], "k": k, "n_test": len(test_x),
        "eval_seed": EVAL_SEED, "binarization": "dynamic (one Bernoulli draw of the test set, eval_seed)",
        "values_file": values_file, "values_sha256": sha256(PRETRAINED_DIR / values_file),
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
