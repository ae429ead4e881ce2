"""Seconds per epoch: vaelib's trainer versus the usual tutorial pipeline, on the same model.

The model is the pytorch/examples VAE setting: MLP 784-400-20 (ReLU), BCE on grey pixels summed over
pixels, batch 128, Adam at 1e-3, all 60,000 training images. The tutorial pipeline is
``torchvision.datasets.MNIST`` + ``transforms.ToTensor()`` + a shuffled ``DataLoader`` with the loop of
pytorch/examples (``loss.item()`` every step). Both are scored by the same test-set evaluation, so
speed is not bought with quality.

    python benchmarks/train_speed.py --epochs 3 [--device auto]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from vaelib.config import data_root, get_device
from vaelib.data import load_mnist
from vaelib.evaluate import evaluate
from vaelib.losses import bernoulli_log_prob, kl_std_normal, reparameterize
from vaelib.models import ModelConfig, build_model
from vaelib.train import TrainConfig, train

CFG = TrainConfig(model=ModelConfig(latent_dim=20, hidden=(400,), activation="relu"),
                  batch_size=128, lr=1e-3, binarize=False, seed=0)


def tutorial_pipeline(epochs: int, device: torch.device) -> tuple[torch.nn.Module, list[float]]:
    """pytorch/examples vae/main.py, with vaelib's model so that both pipelines train the same network."""
    cuda = device.type == "cuda"
    loader = DataLoader(datasets.MNIST(str(data_root()), train=True, download=False, transform=transforms.ToTensor()),
                        batch_size=CFG.batch_size, shuffle=True, **({"num_workers": 1, "pin_memory": True} if cuda else {}))
    torch.manual_seed(CFG.seed)
    model = build_model(CFG.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=CFG.lr)
    seconds = []
    for _ in range(epochs):
        t0, train_loss = time.perf_counter(), 0.0
        model.train()
        for data, _ in loader:
            x = data.to(device).view(-1, 784)
            mu, logvar = model.encode(x)
            z = reparameterize(mu, logvar)
            loss = -bernoulli_log_prob(model.decode(z), x).sum() + kl_std_normal(mu, logvar).sum()  # BCE + KLD, summed
            opt.zero_grad()
            loss.backward()
            train_loss += loss.item()
            opt.step()
        if cuda:
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t0)
    return model.eval(), seconds


def main() -> None:
    """Run both pipelines and print the table and the speedup."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    device = get_device(a.device)
    data = load_mnist(val_size=0)  # all 60,000 training images, as pytorch/examples uses
    test_x = data.test_x.to(device)
    rows = []
    model, seconds = tutorial_pipeline(a.epochs, device)
    rows.append(("tutorial: MNIST+ToTensor+DataLoader", seconds, evaluate(model, test_x, binarized=False)))
    result = train(replace(CFG, epochs=a.epochs), data, device, progress=False)
    rows.append(("vaelib.train (tensors on device)", result.history["seconds"], evaluate(result.model, test_x, binarized=False)))
    print(f"device: {device} | threads: {torch.get_num_threads()} | epochs: {a.epochs} | torch {torch.__version__}")
    print(f"{'pipeline':<38} {'s/epoch (mean)':>14} {'s/epoch (best)':>14} {'test loss (BCE+KL, nats)':>25}")
    for name, secs, test in rows:
        print(f"{name:<38} {sum(secs) / len(secs):>14.2f} {min(secs):>14.2f} {-test['elbo']:>17.2f} ± {test['elbo_se']:.2f}")
    speedup = (sum(rows[0][1]) / len(rows[0][1])) / (sum(rows[1][1]) / len(rows[1][1]))
    print(f"speedup: {speedup:.2f}x")


if __name__ == "__main__":
    main()
