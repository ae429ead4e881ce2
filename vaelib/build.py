"""The build command: trains, evaluates and ships the models in pretrained/ (``python -m vaelib.build --help``).

``python -m vaelib.build NAME ...`` trains each shipped config of ``vaelib.shipped`` with ``vaelib.train`` (a
resumable checkpoint under runs/), exports a slim copy (no optimizer state), evaluates it on the test set (ELBO,
and log p(x) by importance sampling with k samples; per-image values for paired comparisons) and ships both with
``vaelib.manifest.ship`` (sha256 recorded). ``classifier`` builds notebook 06's judge. A trial build (``--k`` or
``--n-test``) is not the entry's own command: its files stay in runs/build/ and nothing shipped changes.
Its peers ``vaelib.artefacts``, ``vaelib.sweep`` and ``vaelib.twostage`` ship the other entries; ``make pretrained``
runs them all, in dependency order.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from vaelib.checkpoint import file_digest, load_checkpoint, save_checkpoint
from vaelib.classifier import train_classifier
from vaelib.config import get_device, runs_dir
from vaelib.data import load_mnist
from vaelib.evaluate import evaluate, paired_difference
from vaelib.manifest import EVAL_SEED, read_manifest, ship
from vaelib.shipped import CLASSIFIER, EVAL_K, HALF_PRECISION, VALUES_ONLY, shipped_configs
from vaelib.train import model_from_checkpoint, train


def staging_dir() -> Path:
    """runs/build/: where a build writes its files before ``vaelib.manifest.ship`` copies them into pretrained/
    (and where a trial build, e.g. with ``--n-test``, leaves them: it is not the entry's own command)."""
    return runs_dir() / "build"


def _machine(device: torch.device) -> str:
    return f"{device.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def build(name: str, k: int | None = None, n_test: int | None = None, device: str = "auto") -> dict[str, Any]:
    """Train (or resume) one shipped model, export it, evaluate it and ship it (files and manifest entry).

    With ``k`` or ``n_test`` it is a trial: the files stay in runs/build/ and the entry is only returned."""
    cfg = shipped_configs()[name]
    complete = k is None and n_test is None  # the entry's own command, `python -m vaelib.build NAME`
    # a deterministic autoencoder has no density, hence no log p(x) bound: its "elbo" is -recon, k = 0
    k = 0 if cfg.model.latent == "deterministic" else (k or EVAL_K.get(name, 500))
    dev = get_device(device)
    data = load_mnist()
    result = train(cfg, data, dev, checkpoint=runs_dir() / f"build-{name}.pt")
    stage = staging_dir()
    out = None if name in VALUES_ONLY else stage / f"{name}.pt"  # values-only: the checkpoint stays in runs/
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
    values_file = stage / f"{name}.eval.pt"  # per-example test values (float32), for paired comparisons
    values = {key: test["values"][key].float() for key in ("elbo", "recon", "log_px") if key in test["values"]}
    save_checkpoint(values_file, {**values, "eval_seed": EVAL_SEED, "k": k}, kind="eval-values")
    entry = {
        "name": name, "kind": "vae", "file": out and out.name, "config": cfg.to_dict(), "epochs": cfg.epochs,
        "sha256": out and file_digest(out),
        "test_elbo": test["elbo"], "test_elbo_se": test["elbo_se"], "test_recon": test["recon"], "test_kl": test["kl"],
        "test_logpx": test.get("log_px"), "test_logpx_se": test.get("log_px_se"), "k": k, "n_test": len(test_x),
        "eval_seed": EVAL_SEED, "binarization": "dynamic (one Bernoulli draw of the test set, eval_seed)",
        "values_file": values_file.name, "values_sha256": file_digest(values_file),
        "train_seconds_per_epoch": sum(result.history["seconds"]) / len(result.history["seconds"]),
        "train_seconds_total": round(sum(result.history["seconds"]), 1),  # summed per-epoch times (survives resumes)
        "eval_wall_seconds": round(time.perf_counter() - t1, 1), "device": _machine(dev),
        "torch": torch.__version__, "command": f"python -m vaelib.build {name}", **half,
    }
    if complete:
        entry = ship(entry, {"values_file": values_file, **({"file": out} if out is not None else {})})
    print(json.dumps(entry, indent=2))
    if not complete:
        print(f"build: a trial (--k/--n-test), not shipped: its files are in {stage}", file=sys.stderr)
    return entry


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
    """Train notebook 06's sample-quality classifier and ship it as pretrained/classifier.pt (with ``limit``, a trial
    on fewer images: left in runs/build/, not shipped)."""
    data = load_mnist()
    model, info = train_classifier(data, limit=limit, **CLASSIFIER)
    out = save_checkpoint(staging_dir() / "classifier.pt", {"config": {"arch": "SmallCNN", **CLASSIFIER},
                                                             "model": model.state_dict()}, kind="classifier")
    entry = {"name": "classifier", "kind": "classifier", "file": out.name, "sha256": file_digest(out), **info,
             "device": _machine(torch.device("cpu")), "torch": torch.__version__,
             "command": "python -m vaelib.build classifier"}
    if limit is None:
        entry = ship(entry, {"file": out})
    print(json.dumps(entry, indent=2))
    return entry


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m vaelib.build [NAME ...] [--k K] [--n-test N] [--device D]``, or ``list``."""
    names = [*shipped_configs(), "classifier"]
    p = argparse.ArgumentParser(prog="python -m vaelib.build",
                                description="Train, evaluate and ship the models in pretrained/.",
                                epilog="examples:\n  python -m vaelib.build list\n  python -m vaelib.build std-d40 "
                                       "vamp-d40\n  python -m vaelib.build classifier",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help=f"what to build (default: everything): 'list', or any of {names}")
    p.add_argument("--k", type=_positive_int, default=None,
                   help=f"a trial with K importance samples for log p(x) (shipped: {EVAL_K}, else 500); not shipped")
    p.add_argument("--n-test", type=_positive_int, default=None,
                   help="a trial on the first N test images only; its files stay in runs/build/, not shipped")
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    if a.names == ["list"]:
        for m in read_manifest():
            numbers = (f"test_elbo={m['test_elbo']:.2f} test_logpx(k={m['k']})={m['test_logpx'] or float('nan'):.2f}"
                       if m.get("kind", "vae") == "vae" else m.get("kind"))
            print(f"{m['name']:<18} {numbers}   rebuild: {m['command']}")
        return
    unknown = [n for n in a.names if n not in names]
    if unknown:
        others = {m["name"]: m["command"] for m in read_manifest() if m["name"] in unknown}
        if others:  # shipped, but rebuilt by one of build's peers (artefacts, sweep, twostage)
            p.error("; ".join(f"{n} is rebuilt by `{c}`" for n, c in others.items()) + ", not by this command")
        p.error(f"unknown name(s) {unknown}: use 'list' to see what is shipped, or one of {names}")
    for name in a.names or names:
        try:
            build_classifier() if name == "classifier" else build(name, k=a.k, n_test=a.n_test, device=a.device)
        except (ValueError, RuntimeError) as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None


if __name__ == "__main__":
    main()
