"""Where a trained model comes from: the shipped files in pretrained/, found, verified and loaded; else training.

pretrained/manifest.json lists everything shipped: each entry has a ``name``, a ``kind`` ("vae" by
default, "classifier", or "artefact" for an expensive intermediate such as the sweep of notebook 06), the
``file`` and its ``sha256``, the training ``config`` and the test numbers, and the command that rebuilds
it (``python -m vaelib.build NAME``, module ``vaelib.build``). Every load here checks the sha256 first,
so a changed or damaged file is reported, never used; a shipped file is never written by an ordinary run.

``load_or_train(cfg)`` is the one entry point the notebooks use for a model: the shipped model of exactly
that config if there is one, else a checkpoint under runs/ (trained, resumed or loaded by vaelib.train).
Used by notebooks 04-08.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vaelib.checkpoint import file_digest, load_checkpoint, load_model_state
from vaelib.classifier import SmallCNN
from vaelib.config import PRETRAINED_DIR, get_device, runs_dir
from vaelib.data import MNIST, load_mnist
from vaelib.evaluate import evaluate, paired_difference
from vaelib.models import VAE
from vaelib.remote import fetch_shipped
from vaelib.train import TrainConfig, TrainResult, model_from_checkpoint, train

MANIFEST = PRETRAINED_DIR / "manifest.json"
RESTORE = "restore it with `git checkout -- pretrained/` or rebuild it with `python -m vaelib.build {name}`"


class PretrainedError(RuntimeError):
    """The manifest or a shipped file is missing, unreadable or changed; the message says how to restore it."""


def read_manifest(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The manifest's entries (default: pretrained/manifest.json); PretrainedError if it is missing or not JSON."""
    path = Path(path) if path is not None else MANIFEST
    if not path.parent.is_dir():  # e.g. `pip install .` copied vaelib away from the repository's pretrained/
        raise PretrainedError(f"There is no folder {path.parent}, so no shipped model can be found: use vaelib from a "
                              "clone of the repository (`pip install -e .` there), where pretrained/ sits beside it.")
    if not path.is_file():
        raise PretrainedError(f"{path} is missing, so no shipped model can be found: restore it with "
                              f"`git checkout -- {path.parent.name}/{path.name}`.")
    try:
        return json.loads(path.read_text())["models"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise PretrainedError(f"{path} is not a valid manifest ({type(err).__name__}: {err}): restore it with "
                              f"`git checkout -- {path.parent.name}/{path.name}`.") from None


def manifest_entry(name: str, path: str | Path | None = None) -> dict[str, Any]:
    """The manifest entry called ``name`` (KeyError with the available names if absent)."""
    entries = {m["name"]: m for m in read_manifest(path)}
    if name not in entries:
        raise KeyError(f"No shipped entry {name!r} in {path or MANIFEST}; available: {sorted(entries)}. "
                       f"Build it with `python -m vaelib.build {name}`.")
    return entries[name]


def verified_file(entry: dict[str, Any], key: str = "file", manifest: str | Path | None = None) -> Path:
    """Path of a shipped file (``entry[key]``) after checking that it exists and matches its sha256."""
    folder = Path(manifest).parent if manifest is not None else PRETRAINED_DIR
    if entry.get(key) is None:
        raise PretrainedError(f"{entry['name']!r} is recorded by its test values only (its checkpoint is not shipped); "
                              f"train it with `python -m vaelib.build {entry['name']}`.")
    path = folder / entry[key]
    digest_key = "sha256" if key == "file" else key.replace("file", "sha256")
    fetch_shipped(path, entry[digest_key])  # an installed vaelib fetches a missing file (vaelib.remote); a clone never
    if not path.is_file():
        raise PretrainedError(f"The shipped file {path} is missing: " + RESTORE.format(name=entry["name"]) + ".")
    if file_digest(path, "sha256") != entry[digest_key]:
        raise PretrainedError(f"The shipped file {path} does not match its sha256 in the manifest (changed or damaged): "
                              + RESTORE.format(name=entry["name"]) + ".")
    return path


def find_pretrained(config: dict[str, Any], path: str | Path | None = None) -> dict[str, Any] | None:
    """The manifest entry of the shipped VAE checkpoint trained with exactly ``config`` (a TrainConfig dict), or
    None (also for an entry recorded by its test values only)."""
    for entry in read_manifest(path):
        if (entry.get("kind", "vae") == "vae" and entry.get("file") is not None
                and TrainConfig.from_dict(entry["config"]).to_dict() == config):
            return entry
    return None


def load_pretrained(name: str, device: str | torch.device = "cpu") -> tuple[VAE, dict[str, Any]]:
    """Load shipped model ``name`` (sha256-checked, ``weights_only=True``); return (model in eval mode, entry)."""
    entry = manifest_entry(name)
    model, _ = model_from_checkpoint(verified_file(entry), device)
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
        file = verified_file(shipped)
        model, state = model_from_checkpoint(file, device)
        print(f"load_or_train: loaded the shipped {file.name} ({state['epoch']} epochs, sha256 checked); no training needed")
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
    entry = manifest_entry(name)
    if "values_file" not in entry:
        raise KeyError(f"{name!r} was built without per-example values; rebuild it with `python -m vaelib.build {name}`.")
    values = load_checkpoint(verified_file(entry, "values_file"), kind="eval-values")
    return {key: values[key].double() for key in ("log_px", "elbo", "recon") if key in values}


def compare_with_shipped(model: Any, name: str, x: torch.Tensor, k: int, batch_size: int = 100) -> dict[str, Any]:
    """Re-evaluate ``model`` on ``x`` = the first n test images with the manifest's seed, and pair the result with
    shipped model ``name``'s per-image values on the same images (and the same binarization).

    Returns the live evaluation under ``"live"`` and (mean, SE) of live minus shipped for ``"elbo"`` and
    ``"log_px"``: the ELBO differs only by the draws of z (zero on average); with k at most the manifest's k,
    log p(x) is no higher. With the manifest's k and batch size the run repeats the shipped one (up to float
    rounding, which differs between torch versions).
    """
    entry = manifest_entry(name)
    live = evaluate(model, x, k=k, seed=entry["eval_seed"], batch_size=batch_size, per_example=True)
    shipped = load_eval_values(name)
    n = len(x)
    return {"live": live, **{key: paired_difference(live["values"][key], shipped[key][:n])
                             for key in ("elbo", "log_px") if key in shipped and key in live["values"]}}


def load_classifier(device: str | torch.device = "cpu") -> SmallCNN:
    """The shipped sample-quality classifier of notebook 06 (sha256-checked, eval mode)."""
    state = load_checkpoint(verified_file(manifest_entry("classifier")), map_location=device, kind="classifier")
    return load_model_state(SmallCNN(), state["model"], "pretrained/classifier.pt").to(device).eval()


def classifier_info() -> dict[str, Any]:
    """The classifier's manifest entry: its test accuracy and how it was trained."""
    return manifest_entry("classifier")


def load_artefact(name: str) -> Path:
    """Path of a shipped intermediate result (manifest kind "artefact", e.g. "sweep"), sha256-checked."""
    return verified_file(manifest_entry(name))
