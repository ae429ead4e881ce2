"""A small MNIST classifier that scores generated digits: class balance and confidence of samples.

``python -m vaelib.build classifier`` trains it on the grey training images (about a minute on two CPU
cores) and ships pretrained/classifier.pt, a vaelib checkpoint of kind "classifier" listed in the manifest
with its test accuracy; ``vaelib.pretrained.load_classifier`` loads it. Generated samples are scored on
decoder means (pixel probabilities in [0, 1]), which look like grey digits.

Derived in notebooks/06_aggregate_posterior.ipynb (section 4).
"""
from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.checks import count, fail, tensor
from vaelib.checks import images as check_images
from vaelib.data import MNIST, batch_indices, grey
from vaelib.evaluate import mean_se


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

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 256 penultimate activations (B, 256): the space of the Frechet distance (notebook 08)."""
        return self.net[:-1](x)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of uint8 images ``x`` (N, 784) classified as ``y``."""
    check_images(x, "x")
    tensor(y, "y", ndim=1, floating=False)
    if len(y) != len(x) or y.is_floating_point():
        raise fail("y", "must hold one integer label per image", f"{tuple(y.shape)} {y.dtype}", "labels of shape (N,)")
    if len(x) == 0:
        raise fail("x", "is empty", "shape (0, 784)", "at least one image")
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


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities (N, 10) for images (N, 784) with values in [0, 1]."""
    tensor(images, "images", ndim=2, last=784)
    if images.numel():
        grey(images)  # floats in [0, 1] (or uint8), else one sentence
    batch_size = count(batch_size, "batch_size")
    model.eval()
    if len(images) == 0:
        return torch.empty(0, 10)
    return torch.cat([F.softmax(model(grey(images[a:a + batch_size])), -1) for a in range(0, len(images), batch_size)])


def sample_quality(probs: torch.Tensor) -> dict[str, Any]:
    """Class balance and confidence of classified samples (N, 10).

    ``entropy``: entropy (nats) of the predicted-class histogram (log 10 = perfectly balanced);
    ``kl_uniform`` = log 10 - entropy; ``confidence``: mean max-probability, with its standard error.
    """
    tensor(probs, "probs", ndim=2, last=10)
    hist = torch.bincount(probs.argmax(1), minlength=10).double() / len(probs)  # (10,)
    entropy = -(hist * hist.clamp_min(1e-12).log()).sum().item()
    conf = probs.max(1).values.double()
    confidence, confidence_se = mean_se(conf)
    return {"hist": hist.tolist(), "entropy": entropy, "entropy_ratio": entropy / math.log(10),
            "kl_uniform": math.log(10) - entropy, "confidence": confidence,
            "confidence_se": confidence_se, "n": len(probs)}
