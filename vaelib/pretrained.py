"""Where a trained model comes from: the shipped files in pretrained/, found, verified and loaded; else training.

The manifest of pretrained/ (what is shipped, its sha256, the command that rebuilds it) is ``vaelib.manifest``;
this module reads through it. Every load here checks the sha256 first, so a changed or damaged file is reported
with the command that restores it, never used; a shipped file is never written by an ordinary run.

``load_or_train(cfg)`` is the one entry point the notebooks use for a model: the shipped model of exactly
that config if there is one, else a checkpoint under runs/ (trained, resumed or loaded by vaelib.train).
Used by notebooks 00 and 04-08 (``load_eval_values`` and ``compare_with_shipped`` by 07 and 08, the classifier
by 06 and 08, ``load_artefact`` by 06-08).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vaelib.checkpoint import load_checkpoint, load_model_state
from vaelib.classifier import SmallCNN
from vaelib.config import PRETRAINED_DIR, get_device, runs_dir
from vaelib.data import MNIST, load_mnist
from vaelib.evaluate import evaluate, paired_difference
from vaelib.manifest import MANIFEST, PretrainedError, manifest_entry, read_manifest, verified_file
from vaelib.models import VAE
from vaelib.train import TrainConfig, TrainResult, model_from_checkpoint, train

__all__ = ["MANIFEST", "PRETRAINED_DIR", "PretrainedError", "classifier_info", "compare_with_shipped",
           "find_pretrained", "load_artefact", "load_classifier", "load_eval_values", "load_or_train",
           "load_pretrained", "manifest_entry", "read_manifest", "verified_file"]
# Every function below reads this module's MANIFEST (a test may point it at a stand-in folder).


def find_pretrained(config: dict[str, Any], path: str | Path | None = None) -> dict[str, Any] | None:
    """The manifest entry of the shipped VAE checkpoint trained with exactly ``config`` (a TrainConfig dict), or
    None (also for an entry recorded by its test values only)."""
    for entry in read_manifest(path if path is not None else MANIFEST):
        if (entry.get("kind", "vae") == "vae" and entry.get("file") is not None
                and TrainConfig.from_dict(entry["config"]).to_dict() == config):
            return entry
    return None


def load_pretrained(name: str, device: str | torch.device = "cpu") -> tuple[VAE, dict[str, Any]]:
    """Load shipped model ``name`` (sha256-checked, ``weights_only=True``); return (model in eval mode, entry)."""
    entry = manifest_entry(name, MANIFEST)
    model, _ = model_from_checkpoint(verified_file(entry, manifest=MANIFEST), device)
    return model, entry


def load_or_train(cfg: TrainConfig, data: MNIST | None = None, device: str | torch.device = "auto",
                  path: str | Path | None = None, progress: bool = True) -> TrainResult:
    """The model of exactly ``cfg``: the shipped one if the manifest has it (sha256-checked), else the
    checkpoint at ``path`` (default runs/vae-<config hash>.pt), trained, resumed or loaded by vaelib.train.

    Prints which it did. Shipped files are only read: a shipped entry whose file is missing or changed is an
    error that says how to restore it, never a reason to train into pretrained/."""
    device = get_device(device, verbose=progress) if isinstance(device, str) else device
    shipped = find_pretrained(cfg.to_dict()) if path is None else None
    if shipped is not None:
        file = verified_file(shipped, manifest=MANIFEST)
        model, state = model_from_checkpoint(file, device)
        print(f"load_or_train: loaded the shipped {file.name} ({state['epoch']} epochs, sha256 checked); "
              "no training needed")
        return TrainResult(model, state["history"], cfg, "loaded", file)
    path = Path(path) if path is not None else runs_dir() / f"vae-{cfg.key()}.pt"
    if not path.exists():
        print(f"load_or_train: no checkpoint for this config yet; training {cfg.epochs} epochs into {path}")
    result = train(cfg, data if data is not None else load_mnist(), device, checkpoint=path, progress=progress)
    print(f"load_or_train: {result.source} {path} ({len(result.history['seconds'])} epochs)")
    return result


def load_eval_values(name: str) -> dict[str, torch.Tensor]:
    """Per-example test values of shipped model ``name`` (``elbo``, and ``log_px`` where the model has a density;
    each (n_test,) float64), as the manifest's numbers were computed: the same binarization (``eval_seed``) for
    every model, so they pair up."""
    entry = manifest_entry(name, MANIFEST)
    if "values_file" not in entry:
        raise KeyError(f"{name!r} was built without per-example values: rebuild it with `{entry['command']}`.")
    values = load_checkpoint(verified_file(entry, "values_file", MANIFEST), kind="eval-values")
    return {key: values[key].double() for key in ("log_px", "elbo", "recon") if key in values}


def compare_with_shipped(model: Any, name: str, x: torch.Tensor, k: int, batch_size: int = 100) -> dict[str, Any]:
    """Re-evaluate ``model`` on ``x`` = the first n test images with the manifest's seed, and pair the result with
    shipped model ``name``'s per-image values on the same images (and the same binarization).

    Returns the live evaluation under ``"live"`` and (mean, SE) of live minus shipped for ``"elbo"`` and
    ``"log_px"``: the ELBO differs only by the draws of z (zero on average); with k at most the manifest's k,
    log p(x) is no higher. With the manifest's k and batch size the run repeats the shipped one (up to float
    rounding, which differs between torch versions).
    """
    entry = manifest_entry(name, MANIFEST)
    live = evaluate(model, x, k=k, seed=entry["eval_seed"], batch_size=batch_size, per_example=True)
    shipped = load_eval_values(name)
    n = len(x)
    return {"live": live, **{key: paired_difference(live["values"][key], shipped[key][:n])
                             for key in ("elbo", "log_px") if key in shipped and key in live["values"]}}


def load_classifier(device: str | torch.device = "cpu") -> SmallCNN:
    """The shipped sample-quality classifier of notebook 06 (sha256-checked, eval mode)."""
    state = load_checkpoint(verified_file(manifest_entry("classifier", MANIFEST), manifest=MANIFEST),
                            map_location=device, kind="classifier")
    return load_model_state(SmallCNN(), state["model"], "pretrained/classifier.pt").to(device).eval()


def classifier_info() -> dict[str, Any]:
    """The classifier's manifest entry: its test accuracy and how it was trained."""
    return manifest_entry("classifier", MANIFEST)


def load_artefact(name: str) -> Path:
    """Path of a shipped intermediate result (manifest kind "artefact", e.g. "sweep"), sha256-checked."""
    return verified_file(manifest_entry(name, MANIFEST), manifest=MANIFEST)
