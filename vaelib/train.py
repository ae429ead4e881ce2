"""One trainer for the notebooks and the command line (``python -m vaelib.train --help``).

The whole dataset sits on the device as one uint8 tensor and is batched by index; one seeded
``torch.Generator`` drives shuffling, dynamic binarization and the reparameterization noise, and its
state goes into every checkpoint, so a run resumed from a checkpoint continues exactly as the
uninterrupted run would have. Used in notebooks/04_mnist_vae.ipynb and by the sweep of notebook 06.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from vaelib.checkpoint import check_config, load_checkpoint, save_checkpoint
from vaelib.config import get_device, runs_dir
from vaelib.data import MNIST, batch_indices, load_mnist, pixels
from vaelib.evaluate import evaluate
from vaelib.losses import elbo_terms
from vaelib.models import VAE, ModelConfig, build_model

HISTORY_KEYS = ("train_elbo", "train_recon", "train_kl", "val_elbo", "val_recon", "val_kl", "seconds")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (the device does not)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: Literal["constant", "cosine"] = "constant"
    seed: int = 0
    binarize: bool = True                     # dynamic binarization; False = grey pixels in BCE
    beta: float = 1.0                         # weight of the KL term
    warmup_epochs: int = 0                    # linear KL warm-up from 0 to beta over these epochs
    kl_reduction: Literal["sum", "mean"] = "sum"  # "mean" over latent dims = a hidden beta of 1/D
    limit: int | None = None                  # cap on each split's size (smoke mode)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {**asdict(self), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Inverse of ``to_dict``."""
        return cls(**{**d, "model": ModelConfig.from_dict(d["model"])})

    def key(self) -> str:
        """Short stable hash of the config, used in default checkpoint names."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    def lr_at(self, epoch: int) -> float:
        """Learning rate for ``epoch`` (stateless, so resuming needs no scheduler state)."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))
        return self.lr

    def beta_at(self, epoch: int) -> float:
        """KL weight for ``epoch`` under the linear warm-up."""
        return self.beta * min(1.0, (epoch + 1) / self.warmup_epochs) if self.warmup_epochs else self.beta


@dataclass
class TrainResult:
    """A trained model, its per-epoch history, and where it came from ("trained", "resumed", "loaded")."""

    model: VAE
    history: dict[str, list[float]]
    config: TrainConfig
    source: str
    path: Path | None = None


def _train_epoch(model: VAE, opt: torch.optim.Optimizer, cfg: TrainConfig, x: torch.Tensor,
                 gen: torch.Generator, beta: float) -> tuple[float, float, float]:
    model.train()
    sums = torch.zeros(3, device=x.device)  # elbo, recon, kl summed over examples (no per-step sync)
    for idx in batch_indices(len(x), cfg.batch_size, gen, device=x.device):
        terms = elbo_terms(model, pixels(x[idx], cfg.binarize, gen), gen)
        kl = terms.kl / model.latent_dim if cfg.kl_reduction == "mean" else terms.kl
        loss = (terms.recon + beta * kl).mean()  # per-example nats, averaged over the batch
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums += torch.stack([terms.elbo.sum(), terms.recon.sum(), terms.kl.sum()]).detach()
    elbo, recon, kl = (sums / len(x)).tolist()
    return elbo, recon, kl


def train(cfg: TrainConfig, data: MNIST, device: str | torch.device = "auto", checkpoint: str | Path | None = None,
          progress: bool = True) -> TrainResult:
    """Train (or resume, if ``checkpoint`` holds an unfinished run of this config) and return the result."""
    device = get_device(device) if isinstance(device, str) else device
    torch.manual_seed(cfg.seed)  # parameter initialization
    model = build_model(cfg.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=device.type in ("cpu", "cuda"))  # one kernel per step
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
    start, source = 0, "trained"
    if checkpoint is not None and Path(checkpoint).exists():
        state = _normalized(load_checkpoint(checkpoint, map_location=device))
        check_config(checkpoint, state, cfg.to_dict())  # fields added since it was saved take their defaults
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["rng"]["generator"].cpu())
        history, start, source = state["history"], state["epoch"], "resumed"
    train_x = data.train_x[:cfg.limit].to(device)
    val_x = data.val_x[:cfg.limit].to(device)
    bar = tqdm(range(start, cfg.epochs), initial=start, total=cfg.epochs, desc="epochs", disable=not progress)
    for epoch in bar:
        for group in opt.param_groups:
            group["lr"] = cfg.lr_at(epoch)
        t0 = time.perf_counter()
        elbo, recon, kl = _train_epoch(model, opt, cfg, train_x, gen, cfg.beta_at(epoch))
        seconds = time.perf_counter() - t0
        val = (evaluate(model, val_x, binarized=cfg.binarize, seed=cfg.seed + 1, batch_size=1000) if len(val_x)
               else {"elbo": math.nan, "recon": math.nan, "kl": math.nan})  # val_size=0: no validation split
        for key, value in zip(HISTORY_KEYS, (elbo, recon, kl, val["elbo"], val["recon"], val["kl"], seconds)):
            history[key].append(value)
        bar.set_postfix(train_elbo=f"{elbo:.2f}", val_elbo=f"{val['elbo']:.2f}", s_per_epoch=f"{seconds:.1f}")
        if checkpoint is not None:
            save_checkpoint(checkpoint, {
                "config": cfg.to_dict(), "epoch": epoch + 1, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "history": history,
                "rng": {"generator": gen.get_state(), "torch": torch.get_rng_state()},
            })
    model.eval()
    return TrainResult(model, history, cfg, source, Path(checkpoint) if checkpoint else None)


def _normalized(state: dict[str, Any]) -> dict[str, Any]:
    """Fill config fields added after a checkpoint was written with their defaults."""
    if isinstance(state.get("config"), dict) and "model" in state["config"]:
        state["config"] = TrainConfig.from_dict(state["config"]).to_dict()
    return state


def model_from_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[VAE, dict[str, Any]]:
    """Rebuild the model a checkpoint describes; return it (in eval mode) and the checkpoint dict."""
    state = load_checkpoint(path, map_location=device)
    model = build_model(TrainConfig.from_dict(state["config"]).model).to(device)
    model.load_state_dict(state["model"])
    return model.eval(), state


def load_or_train(cfg: TrainConfig, data: MNIST | None = None, device: str | torch.device = "auto",
                  path: str | Path | None = None, progress: bool = True) -> TrainResult:
    """Load a finished checkpoint of exactly ``cfg`` (a shipped one in pretrained/ first), else train one.

    Prints which of the two it did. A checkpoint at ``path`` with another config is an error, never
    silently overwritten.
    """
    from vaelib.pretrained import find_pretrained

    device = get_device(device) if isinstance(device, str) else device
    shipped = find_pretrained(cfg.to_dict()) if path is None else None
    path = Path(path) if path is not None else (shipped or runs_dir() / f"vae-{cfg.key()}.pt")
    if path.exists():
        state = _normalized(load_checkpoint(path, map_location=device))
        check_config(path, state, cfg.to_dict())
        if state["epoch"] >= cfg.epochs:
            model = build_model(cfg.model).to(device)
            model.load_state_dict(state["model"])
            print(f"load_or_train: loaded {path.name} ({state['epoch']} epochs) -- no training needed")
            return TrainResult(model.eval(), state["history"], cfg, "loaded", path)
        print(f"load_or_train: resuming {path.name} from epoch {state['epoch']} of {cfg.epochs}")
    else:
        print(f"load_or_train: no checkpoint for this config, training {cfg.epochs} epochs -> {path}")
    data = data if data is not None else load_mnist()
    return train(cfg, data, device, checkpoint=path, progress=progress)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    d, m = TrainConfig(), ModelConfig()
    p = argparse.ArgumentParser(prog="python -m vaelib.train", description="Train a VAE on MNIST.")
    p.add_argument("--arch", choices=["mlp", "conv"], default=m.arch)
    p.add_argument("--latent-dim", type=int, default=m.latent_dim, help="D")
    p.add_argument("--hidden", type=int, nargs="+", default=list(m.hidden), help="encoder widths")
    p.add_argument("--activation", default=m.activation, choices=["relu", "elu", "tanh", "gelu"])
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default=d.lr_schedule)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--grey", action="store_true", help="train on grey pixels (BCE) instead of binarized")
    p.add_argument("--beta", type=float, default=d.beta)
    p.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs)
    p.add_argument("--kl-reduction", choices=["sum", "mean"], default=d.kl_reduction)
    p.add_argument("--limit", type=int, default=None, help="cap each split (quick runs)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--data", default=None, help="data root (default: $VAELIB_DATA or <repo>/data)")
    p.add_argument("--out", default=None, help="checkpoint path (default: runs/vae-<hash>.pt)")
    p.add_argument("--eval-k", type=int, default=0, help="after training, test log p(x) with k samples")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> TrainResult:
    """Command-line entry point."""
    a = _parse(argv)
    model_cfg = ModelConfig(arch=a.arch, latent_dim=a.latent_dim, hidden=tuple(a.hidden), activation=a.activation)
    cfg = replace(TrainConfig(), model=model_cfg, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
                  lr_schedule=a.lr_schedule, seed=a.seed, binarize=not a.grey, beta=a.beta,
                  warmup_epochs=a.warmup_epochs, kl_reduction=a.kl_reduction, limit=a.limit)
    data = load_mnist(a.data)
    out = Path(a.out) if a.out else runs_dir() / f"vae-{cfg.key()}.pt"
    result = train(cfg, data, a.device, checkpoint=out)
    print(f"checkpoint: {out}")
    if a.eval_k:
        device = next(result.model.parameters()).device
        test = evaluate(result.model, data.test_x[:cfg.limit].to(device), binarized=cfg.binarize, k=a.eval_k,
                        progress=True)
        print(json.dumps({k: round(v, 4) for k, v in test.items()}))
    return result


if __name__ == "__main__":
    main()
