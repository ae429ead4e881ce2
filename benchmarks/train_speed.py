"""Seconds per epoch: vaelib's trainers versus the usual tutorial pipeline, on the same model and recipe.

The model and recipe are pytorch/examples vae/main.py's: MLP 784-400-20 (ReLU), BCE on grey pixels summed
over pixels, batch 128, Adam at 1e-3, all 60,000 training images. Three pipelines train it in one process,
the tutorial's and the fast step's epochs interleaved (so a change in the machine's load hits both alike):

* tutorial: ``torchvision.datasets.MNIST`` + ``ToTensor()`` + a shuffled ``DataLoader`` and main.py's loop
  (``pipelines.TutorialRun``);
* vaelib.train: the package's trainer (uint8 tensor on the device, index batching, fused Adam), all its
  epochs in one call after the others' first epochs;
* vaelib fast step: ``pipelines.FastTrainer`` with the same recipe -- bf16 linear layers where the CPU has
  AMX tiles, and on CUDA the whole step replayed as one CUDA graph (the step proposed for vaelib.train).

Each is scored by the same test loss, so speed is not bought with quality.

    python benchmarks/train_speed.py --epochs 3 [--device auto] [--threads N] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from pipelines import MODEL, TUTORIAL, FastTrainer, TutorialRun, sync, test_loss

from vaelib.config import get_device
from vaelib.data import load_mnist
from vaelib.train import TrainConfig, train

CFG = TrainConfig(model=MODEL, batch_size=TUTORIAL.batch_size, lr=TUTORIAL.lr, binarize=False, seed=0)
FAST_SAME_RECIPE = replace(TUTORIAL, precision="auto", cuda_graph=True, seed=0)


def run(epochs: int, device: torch.device, limit: int | None = None) -> dict[str, dict[str, object]]:
    """Train the three pipelines ``epochs`` epochs each, interleaved; seconds per epoch and test loss of each."""
    data = load_mnist(val_size=0, limit=limit)  # all 60,000 training images, as pytorch/examples uses
    train_x, test_x = data.train_x.to(device), data.test_x.to(device)
    tut = TutorialRun(device, limit=limit)
    fast = FastTrainer(train_x, replace(FAST_SAME_RECIPE, epochs=float(epochs)))
    seconds: dict[str, list[float]] = {"tutorial": [], "vaelib.train": [], "vaelib fast step": []}
    for epoch in range(epochs):
        t0 = time.perf_counter()
        tut.epoch()
        sync(device)
        seconds["tutorial"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fast.run(fast.steps_per_epoch)
        seconds["vaelib fast step"].append(time.perf_counter() - t0)
        if epoch == 0:  # vaelib.train runs all its epochs in one call, between the others' first and second
            result = train(replace(CFG, epochs=epochs), data, device, progress=False)
            seconds["vaelib.train"] = result.history["seconds"]
    models = {"tutorial": tut.model, "vaelib.train": result.model, "vaelib fast step": fast.model}
    how = {"tutorial": "DataLoader + ToTensor", "vaelib.train": "uint8 tensor on the device, fused Adam",
           "vaelib fast step": fast.how}
    return {name: {"seconds": secs, "mean": sum(secs) / len(secs), "best": min(secs), "how": how[name],
                   "test_loss": test_loss(models[name], test_x)} for name, secs in seconds.items()}


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the three pipelines and print the table and the speedups."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--limit", type=int, default=None, help="cap the training and test images (smoke runs)")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = get_device(a.device)
    rows = run(a.epochs, device, a.limit)
    print(f"device: {device} | threads: {torch.get_num_threads()} | epochs: {a.epochs} | torch {torch.__version__}"
          " | one process")
    print(f"{'pipeline':<18} {'how':<44} {'s/epoch (mean)':>14} {'s/epoch (best)':>14} {'test loss (nats)':>17}")
    for name, r in rows.items():
        loss, se = r["test_loss"]
        print(f"{name:<18} {r['how']:<44} {r['mean']:>14.3f} {r['best']:>14.3f} {loss:>9.2f} ± {se:.2f}")
    out = {"device": str(device), "threads": torch.get_num_threads(), "epochs": a.epochs, "rows": rows}
    for name in ("vaelib.train", "vaelib fast step"):
        out[f"speedup {name}"] = rows["tutorial"]["mean"] / rows[name]["mean"]
        print(f"speedup ({name}): {out[f'speedup {name}']:.2f}x")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
    return out


if __name__ == "__main__":
    main()
