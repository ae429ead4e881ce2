"""A small MNIST classifier that scores generated digits: class balance and confidence of samples.

``python -m vaelib.classifier`` trains it on the grey training images (about a minute on two CPU cores)
and ships pretrained/classifier.pt (a plain state dict, read with ``weights_only=True``) and
pretrained/classifier.json (its test accuracy and how it was trained). Generated samples are scored on
decoder means (pixel probabilities in [0, 1]), which look like grey digits.

Derived in notebooks/06_aggregate_posterior.ipynb (section 4).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.config import PRETRAINED_DIR
from vaelib.data import MNIST, batch_indices, grey, load_mnist
from vaelib.evaluate import mean_se

CLASSIFIER_PATH = PRETRAINED_DIR / "classifier.pt"
FORMAT = "vaelib-classifier-v1"


class SmallCNN(nn.Module):
    """(B, 784) in [0, 1] -> 10 logits: two 5x5 conv + max-pool blocks, then a linear layer (~6k parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),    # (B, 8, 12, 12)
            nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),   # (B, 16, 4, 4)
            nn.Flatten(), nn.Linear(256, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of uint8 images ``x`` (N, 784) classified as ``y``."""
    return (predict_proba(model, grey(x), batch_size).argmax(1) == y).double().mean().item()


def train_classifier(data: MNIST, epochs: int = 3, lr: float = 2e-3, batch_size: int = 128, seed: int = 0,
                     limit: int | None = None) -> tuple[SmallCNN, dict[str, Any]]:
    """Train on grey training images; return the model (eval mode) and a record with its test accuracy."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = data.train_x[:limit], data.train_y[:limit]
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for idx in batch_indices(len(x), batch_size, gen):
            loss = F.cross_entropy(model(grey(x[idx])), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    info = {"arch": "SmallCNN", "epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed,
            "n_train": len(x), "input": "grey pixels x/255", "train_seconds": round(time.perf_counter() - t0, 1),
            "test_accuracy": accuracy(model, data.test_x, data.test_y), "n_test": len(data.test_x)}
    return model, info


def load_classifier(path: str | Path = CLASSIFIER_PATH) -> SmallCNN:
    """Load the shipped classifier with ``torch.load(weights_only=True)`` (eval mode)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a vaelib classifier; rebuild it with `python -m vaelib.classifier`.")
    model = SmallCNN()
    model.load_state_dict(state["model"])
    return model.eval()


def classifier_info(path: str | Path = CLASSIFIER_PATH) -> dict[str, Any]:
    """The record shipped beside the classifier (test accuracy, training settings)."""
    return json.loads(Path(path).with_suffix(".json").read_text())


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities (N, 10) for images (N, 784) with values in [0, 1]."""
    model.eval()
    return torch.cat([F.softmax(model(images[a:a + batch_size].float()), -1) for a in range(0, len(images), batch_size)])


def sample_quality(probs: torch.Tensor) -> dict[str, Any]:
    """Class balance and confidence of classified samples (N, 10).

    ``entropy``: entropy (nats) of the predicted-class histogram (log 10 = perfectly balanced);
    ``kl_uniform`` = log 10 - entropy; ``confidence``: mean max-probability, with its standard error.
    """
    hist = torch.bincount(probs.argmax(1), minlength=10).double() / len(probs)  # (10,)
    entropy = -(hist * hist.clamp_min(1e-12).log()).sum().item()
    conf = probs.max(1).values.double()
    confidence, confidence_se = mean_se(conf)
    return {"hist": hist.tolist(), "entropy": entropy, "entropy_ratio": entropy / math.log(10),
            "kl_uniform": math.log(10) - entropy, "confidence": confidence,
            "confidence_se": confidence_se, "n": len(probs)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: train and ship the classifier."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m vaelib.classifier", description="Train the sample-quality classifier.")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--out", default=str(CLASSIFIER_PATH))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    model, info = train_classifier(load_mnist(), epochs=a.epochs, seed=a.seed, limit=a.limit)
    info["command"] = " ".join(["python -m vaelib.classifier", *argv])
    torch.save({"format": FORMAT, "model": model.state_dict()}, a.out)
    Path(a.out).with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info, indent=1))
    return info


if __name__ == "__main__":
    main()
