"""The build command: how every shipped file in pretrained/ is made (``python -m vaelib.build --help``).

``python -m vaelib.build NAME ...`` trains each shipped config with ``vaelib.train`` (a resumable
checkpoint under runs/), exports a slim copy (no optimizer state) to pretrained/NAME.pt, evaluates it on
the test set (ELBO, and log p(x) by importance sampling with k samples; per-image values for paired
comparisons) and records it in pretrained/manifest.json with its sha256. ``classifier`` builds notebook
06's judge; other modules register their own artefacts (the sweep) with ``register_artefact``.
This is the only code that writes into pretrained/; ``vaelib.pretrained`` reads it.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from vaelib.checkpoint import file_digest, load_checkpoint, save_checkpoint
from vaelib.classifier import train_classifier
from vaelib.config import PRETRAINED_DIR, get_device, runs_dir
from vaelib.data import load_mnist
from vaelib.evaluate import evaluate, paired_difference
from vaelib.models import ModelConfig
from vaelib.pretrained import MANIFEST, read_manifest
from vaelib.train import TrainConfig, model_from_checkpoint, train

EVAL_SEED = 1234  # seed of the test-set binarization and of z in the manifest's numbers
EVAL_K = {"mlp-d2": 1000, "mlp-d50": 5000}  # importance samples for each model's test log p(x); others 500
SPHERE_DIMS = (2, 5, 10, 20)  # notebook 07: N-VAE in R^D vs S-VAE on S^D (in R^{D+1})
SPHERE_SAME_AMBIENT = (2, 5)  # ... and vs S-VAE on S^{D-1} (in R^D) at these D
LONG_EPOCHS = 100  # notebook 07: the D = 5 pair trained longer, to see whether the gap is a matter of training
VALUES_ONLY = ("nvae-d5-e100", "svae-d6-e100")  # evaluated and recorded, checkpoints not shipped (size budget)
CLASSIFIER = {"epochs": 3, "lr": 2e-3, "batch_size": 128, "seed": 0}
NB00_HIDDEN, NB00_EPOCHS = 320, 20  # notebook 00's one-page recipe: hidden units, epochs (see notebook00_configs)


def shipped_configs() -> dict[str, TrainConfig]:
    """Name -> TrainConfig of every shipped VAE (dynamic binarization, cosine LR throughout).

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
    * ``nb00-ae`` (notebook 00): the one-page VAE's network as a plain autoencoder (``notebook00_configs``).
    * notebook 08's autoencoders, RAEs, mixture-prior, Laplace and convolutional VAEs (``notebook08_configs``).
    """
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
    cfgs.update(notebook00_configs())
    cfgs.update(notebook08_configs())
    return cfgs


def notebook00_configs() -> dict[str, TrainConfig]:
    """Notebook 00's plain autoencoder ``nb00-ae``: the one-page VAE's recipe (MLP 784-H-D, ReLU, Adam, batch 128,
    cosine LR) with z = mu and no KL, so that the notebook trains only the VAE live. Keep it equal to the
    notebook's ``D, H``, ``train(...)`` defaults and ``EPOCHS`` (the notebook asserts it)."""
    model = ModelConfig(latent_dim=20, hidden=(NB00_HIDDEN,), activation="relu", latent="deterministic")
    return {"nb00-ae": TrainConfig(model=model, epochs=NB00_EPOCHS, batch_size=128, lr=3e-3, lr_schedule="cosine")}


def write_entry(entry: dict[str, Any], path: Path | None = None) -> None:
    """Add or replace one manifest entry (by name), under a lock: builds may run in parallel processes."""
    path = path if path is not None else MANIFEST
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        models = [m for m in (read_manifest(path) if path.exists() else []) if m["name"] != entry["name"]] + [entry]
        doc = {"about": "Everything shipped in pretrained/; built by `python -m vaelib.build` (see README).",
               "models": sorted(models, key=lambda m: m["name"])}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(path)


def _machine(device: torch.device) -> str:
    return f"{device.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def build(name: str, k: int | None = None, n_test: int | None = None, device: str = "auto") -> dict[str, Any]:
    """Train (or resume) one shipped model, export it, evaluate it and record it in the manifest."""
    cfg = shipped_configs()[name]
    # a deterministic autoencoder has no density, hence no log p(x) bound: its "elbo" is -recon, k = 0
    k = 0 if cfg.model.latent == "deterministic" else (k or EVAL_K.get(name, 500))
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
    half = {}
    if out is not None and name in HALF_PRECISION:  # notebook 08: float16 weights, re-evaluated (``export_half``)
        test, half = export_half(out, test_x, test, k, dev)
    values_file = f"{name}.eval.pt"  # per-example test values (float32), for paired comparisons between models
    values = {key: test["values"][key].float() for key in ("elbo", "recon", "log_px") if key in test["values"]}
    save_checkpoint(PRETRAINED_DIR / values_file, {**values, "eval_seed": EVAL_SEED, "k": k}, kind="eval-values")
    entry = {
        "name": name, "kind": "vae", "file": out and out.name, "config": cfg.to_dict(), "epochs": cfg.epochs,
        "sha256": out and file_digest(out),
        "test_elbo": test["elbo"], "test_elbo_se": test["elbo_se"], "test_recon": test["recon"], "test_kl": test["kl"],
        "test_logpx": test.get("log_px"), "test_logpx_se": test.get("log_px_se"), "k": k, "n_test": len(test_x),
        "eval_seed": EVAL_SEED, "binarization": "dynamic (one Bernoulli draw of the test set, eval_seed)",
        "values_file": values_file, "values_sha256": file_digest(PRETRAINED_DIR / values_file),
        "train_seconds_per_epoch": sum(result.history["seconds"]) / len(result.history["seconds"]),
        "train_seconds_total": round(sum(result.history["seconds"]), 1),  # summed per-epoch times (survives resumes)
        "eval_wall_seconds": round(time.perf_counter() - t1, 1), "device": _machine(dev),
        "torch": torch.__version__, "command": f"python -m vaelib.build {name}", **half,
    }
    write_entry(entry)
    print(json.dumps(entry, indent=2))
    return entry


# --- Notebook 08 (do we need the V?): its models and their float16 export (notebook 08's block) -----------------

NB08_DIMS = (2, 5, 10, 20)  # latent sizes of the autoencoder / RAE / mixture-prior grid; the VAE is 07's nvae-dD
NB08_RAE = {"z_penalty": 0.02, "decoder_l2": 1e-3}  # RAE-L2 of Ghosh et al. (2020), rescaled to our losses (notebook 08)
HALF_PRECISION = frozenset([f"{tag}-d{d}" for tag in ("ae", "rae", "mog") for d in NB08_DIMS]
                           + ["laplace-d20", "conv-d20"])  # shipped with float16 weights (pretrained/ budget)


def notebook08_configs() -> dict[str, TrainConfig]:
    """Notebook 08's models, all on 07's N-VAE recipe (MLP encoder 256-128, decoder 128-256, ReLU, 30 epochs, batch
    128, cosine LR from 1e-3, 10-epoch KL warm-up), so that each differs from ``nvae-dD`` in one named way:

    * ``ae-dD``: a plain autoencoder (latent="deterministic": z = the encoder's output, no KL);
    * ``rae-dD``: the same plus the RAE-L2 terms ``NB08_RAE`` (z_penalty ||z||^2/2 per example, decoder_l2 times the
      sum of squared decoder weights);
    * ``mog-dD``: the VAE with a learned prior, a mixture of 500 diagonal Gaussians (K as 07's VampPrior);
    * ``laplace-d20``: the VAE with a diagonal Laplace q(z|x) (``vaelib.posteriors``), at 07's largest D;
    * ``conv-d20``: the convolutional VAE, channels 16-32 and width 128 (about the MLP's parameter count).
    """
    def nvae(d: int, **model: Any) -> TrainConfig:
        return TrainConfig(model=ModelConfig(latent_dim=d, hidden=(256, 128), activation="relu", **model),
                           epochs=30, lr_schedule="cosine", warmup_epochs=10)

    cfgs = {}
    for d in NB08_DIMS:
        cfgs[f"ae-d{d}"] = nvae(d, latent="deterministic")
        cfgs[f"rae-d{d}"] = replace(nvae(d, latent="deterministic"), **NB08_RAE)
        cfgs[f"mog-d{d}"] = nvae(d, prior="mog", n_components=500)
    cfgs["laplace-d20"] = nvae(20, latent="laplace")
    cfgs["conv-d20"] = TrainConfig(model=ModelConfig(arch="conv", latent_dim=20, hidden=(128,), channels=(16, 32),
                                                     activation="relu"), epochs=30, lr_schedule="cosine", warmup_epochs=10)
    return cfgs


def export_half(out: Path, test_x: torch.Tensor, test32: dict[str, Any], k: int, device: torch.device
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Re-save the exported checkpoint ``out`` with float16 weights, re-evaluate the model it now holds (same seed, so
    the same images and draws of z) and return that evaluation and a record of what the rounding moved: for each
    reported number, the paired shift (float16 minus float32) over test images with its SE, and the float32 value."""
    state = load_checkpoint(out)
    state["model"] = {key: v.half() if v.is_floating_point() else v for key, v in state["model"].items()}
    save_checkpoint(out, {key: v for key, v in state.items() if key not in ("format", "kind")})
    model16, _ = model_from_checkpoint(out, device)
    test16 = evaluate(model16, test_x, binarized=True, k=k, seed=EVAL_SEED, batch_size=100, per_example=True)
    shifts = {}
    for key in test16["values"]:
        mean, se = paired_difference(test16["values"][key], test32["values"][key])
        shifts[key] = {"float32": test32[key], "float32_se": test32[key + "_se"], "shift": mean, "shift_se": se}
    return test16, {"weights_dtype": "float16", "float16_shift": shifts}


def build_classifier(limit: int | None = None) -> dict[str, Any]:
    """Train notebook 06's sample-quality classifier, ship it as pretrained/classifier.pt and record it."""
    data = load_mnist()
    model, info = train_classifier(data, limit=limit, **CLASSIFIER)
    out = PRETRAINED_DIR / "classifier.pt"
    save_checkpoint(out, {"config": {"arch": "SmallCNN", **CLASSIFIER}, "model": model.state_dict()}, kind="classifier")
    entry = {"name": "classifier", "kind": "classifier", "file": out.name, "sha256": file_digest(out), **info,
             "device": _machine(torch.device("cpu")), "torch": torch.__version__,
             "command": "python -m vaelib.build classifier"}
    write_entry(entry)
    print(json.dumps(entry, indent=2))
    return entry


def register_artefact(name: str, path: Path, command: str, **info: Any) -> dict[str, Any]:
    """Record an expensive intermediate result shipped in pretrained/ (e.g. notebook 06's sweep) with its sha256."""
    entry = {"name": name, "kind": "artefact", "file": path.name, "sha256": file_digest(path), "command": command,
             **info}
    write_entry(entry)
    return entry


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m vaelib.build [NAME ...] [--k K] [--n-test N] [--device D]``, or ``list``."""
    names = [*shipped_configs(), "classifier"]
    p = argparse.ArgumentParser(prog="python -m vaelib.build", description="Build the files shipped in pretrained/.",
                                epilog="examples:\n  python -m vaelib.build list\n  python -m vaelib.build std-d40 "
                                       "vamp-d40\n  python -m vaelib.build classifier",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help=f"what to build (default: everything): 'list', or any of {names}")
    p.add_argument("--k", type=_positive_int, default=None,
                   help=f"importance samples for test log p(x) (default {EVAL_K}, else 500)")
    p.add_argument("--n-test", type=_positive_int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    if a.names == ["list"]:
        for m in read_manifest():
            numbers = (f"test_elbo={m['test_elbo']:.2f} test_logpx(k={m['k']})={m['test_logpx'] or float('nan'):.2f}"
                       if m.get("kind", "vae") == "vae" else m.get("kind"))
            print(f"{m['name']:<14} {numbers}   rebuild: {m.get('command', '?')}")
        return
    unknown = [n for n in a.names if n not in names]
    if unknown:
        p.error(f"unknown name(s) {unknown}: use 'list' to see what is shipped, or one of {names}")
    for name in a.names or names:
        try:
            build_classifier() if name == "classifier" else build(name, k=a.k, n_test=a.n_test, device=a.device)
        except (ValueError, RuntimeError) as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None


if __name__ == "__main__":
    main()
