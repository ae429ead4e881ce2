"""One trainer for the notebooks and the command line (``python -m vaelib.train --help``).

The whole dataset sits on the device as one uint8 tensor and is batched by index; one seeded
``torch.Generator`` drives shuffling, dynamic binarization and the reparameterization noise, and its
state goes into every checkpoint, so a run resumed from a checkpoint continues exactly as the
uninterrupted run would have. A run holds a lock on its checkpoint, stops at the first epoch whose loss
is not finite (keeping the last good checkpoint), and says when it resumed or was already finished.

This module never looks at the shipped models: ``vaelib.pretrained.load_or_train`` does that, then calls
``train``. Used in notebooks/04_mnist_vae.ipynb, by the sweep of notebook 06 and by ``vaelib.build``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from vaelib.checkpoint import (
    CheckpointError,
    check_config,
    checkpoint_lock,
    load_checkpoint,
    load_model_state,
    nonfinite_tensors,
    required,
    save_checkpoint,
)
from vaelib.checks import images, number, tensor
from vaelib.config import PRETRAINED_DIR, get_device, runs_dir
from vaelib.data import MNIST, DataError, batch_indices, grey, load_mnist, pixels
from vaelib.evaluate import evaluate
from vaelib.losses import elbo_terms, free_bits_kl
from vaelib.models import VAE, ModelConfig, build_model

HISTORY_KEYS = ("train_elbo", "train_recon", "train_kl", "val_elbo", "val_recon", "val_kl", "seconds")


_KEY_SKIPS_DEFAULT = {"free_bits": 0.0}  # fields added after runs/ names were first hashed -> their defaults


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (the device does not)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: Literal["constant", "cosine", "warmup-linear"] = "constant"
    lr_warmup: float = 0.1                    # "warmup-linear": fraction of all steps over which lr rises from 0
    seed: int = 0
    binarize: bool = True                     # dynamic binarization; False = grey pixels in BCE
    beta: float = 1.0                         # weight of the KL term
    warmup_epochs: int = 0                    # linear KL warm-up from 0 to beta over these epochs
    kl_reduction: Literal["sum", "mean"] = "sum"  # "mean" over latent dims = a hidden beta of 1/D
    limit: int | None = None                  # cap on each split's size (smoke mode)
    z_penalty: float = 0.0                    # + z_penalty * ||z||^2 / 2 per example (RAE, Ghosh et al. 2020)
    decoder_l2: float = 0.0                   # + decoder_l2 * (sum of squared decoder weights) per batch (RAE)
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: the linear layers under autocast (pays on CPUs with AMX)
    adam_beta1: float = 0.9                   # Adam's first beta (0.8 suits the fast recipe's high peak lr)
    init_output_bias: bool = False            # decoder's last bias = logit of the mean training image
    free_bits: float = 0.0                    # nats per latent dim the KL term leaves free (Kingma et al. 2016; nb 09)

    def __post_init__(self) -> None:
        problems = [msg for bad, msg in (
            (self.epochs < 1, f"epochs must be >= 1 (got {self.epochs})"),
            (self.batch_size < 1, f"batch_size must be >= 1 (got {self.batch_size})"),
            (not self.lr > 0, f"lr must be > 0 (got {self.lr})"),
            (self.lr_schedule not in ("constant", "cosine", "warmup-linear"),
             f"lr_schedule must be 'constant', 'cosine' or 'warmup-linear' (got {self.lr_schedule!r})"),
            (not 0 <= self.lr_warmup < 1, f"lr_warmup must be in [0, 1) (got {self.lr_warmup})"),
            (self.precision not in ("fp32", "bf16"), f"precision must be 'fp32' or 'bf16' (got {self.precision!r})"),
            (not 0 <= self.adam_beta1 < 1, f"adam_beta1 must be in [0, 1) (got {self.adam_beta1})"),
            (self.beta < 0, f"beta must be >= 0 (got {self.beta})"),
            (self.warmup_epochs < 0, f"warmup_epochs must be >= 0 (got {self.warmup_epochs})"),
            (self.kl_reduction not in ("sum", "mean"),
             f"kl_reduction must be 'sum' or 'mean' (got {self.kl_reduction!r})"),
            (self.limit is not None and self.limit < 1, f"limit must be >= 1 or None (got {self.limit})"),
            (self.z_penalty < 0 or self.decoder_l2 < 0, "z_penalty and decoder_l2 must be >= 0"),
            (not self.free_bits >= 0, f"free_bits must be >= 0 (got {self.free_bits})"),
            (self.free_bits > 0 and (self.model.latent, self.model.prior) != ("gaussian", "standard"),
             "free_bits needs the Gaussian posterior and the standard prior (its KL per dimension)"),
        ) if bad]
        if problems:
            raise ValueError("Invalid training config: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {**asdict(self), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Inverse of ``to_dict``; fields added since ``d`` was written take their defaults."""
        return cls(**{**d, "model": ModelConfig.from_dict(d["model"])})

    def key(self) -> str:
        """Short stable hash of the config, used in default checkpoint names; a field added later leaves the hash
        of a config that keeps its default unchanged, so runs/ files trained before it are still found."""
        d = {k: v for k, v in self.to_dict().items() if not (k in _KEY_SKIPS_DEFAULT and v == _KEY_SKIPS_DEFAULT[k])}
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]

    def lr_at(self, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
        """Learning rate for step ``step`` of ``epoch`` (stateless, so resuming needs no scheduler state).

        "constant" and "cosine" change only between epochs; "warmup-linear" changes every step: a linear rise
        from 0 to ``lr`` over the first ``lr_warmup`` of all steps, then a linear fall to 0 after the last one
        (the fast recipe of benchmarks/time_to_quality.py)."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))
        if self.lr_schedule == "warmup-linear":
            s, total = epoch * steps_per_epoch + step, self.epochs * steps_per_epoch
            rise = max(1, round(self.lr_warmup * total))
            return self.lr * ((s + 1) / rise if s < rise else (total - s) / (total - rise + 1))
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


def training_loss(model: VAE, cfg: TrainConfig, x: torch.Tensor, gen: torch.Generator, beta: float
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The minimized loss for one batch of model inputs x (B, 784), averaged over the batch, and the
    per-example ELBO terms (elbo, recon, kl) stacked as (3, B) for the epoch's history.

    loss = mean_b [recon_b + beta * kl_b (/ D with kl_reduction="mean") + z_penalty ||z_b||^2 / 2]
           + decoder_l2 * sum of squared decoder weights,
    where with ``free_bits`` > 0 kl_b is the free-bits KL (``vaelib.losses.free_bits_kl``); the history keeps the
    true KL.
    """
    tensor(x, "x", ndim=2, last=784, finite=False)
    beta = number(beta, "beta", low=0.0)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
        terms = elbo_terms(model, x, gen)  # the model returns fp32 from its bf16 layers: the terms stay fp32
    kl = free_bits_kl(*terms.post.params(), cfg.free_bits) if cfg.free_bits else terms.kl
    kl = kl / model.latent_dim if cfg.kl_reduction == "mean" else kl
    per_example = terms.recon + beta * kl
    if cfg.z_penalty:
        per_example = per_example + cfg.z_penalty * 0.5 * terms.z.pow(2).sum(-1)
    loss = per_example.mean()  # per-example nats, averaged over the batch
    if cfg.decoder_l2:
        loss = loss + cfg.decoder_l2 * sum(p.pow(2).sum() for n, p in model.decoder.named_parameters() if "weight" in n)
    return loss, torch.stack([terms.elbo, terms.recon, terms.kl]).detach()


@torch.no_grad()
def init_output_bias(model: VAE, train_x: torch.Tensor) -> None:
    """Set the decoder's last bias to the logit of the mean training image (uint8 ``train_x`` (N, 784)), so the
    untrained model already predicts every pixel's average: a data-dependent initialization that saves about
    an epoch of the fast recipe (benchmarks/time_to_quality.py); the architecture is unchanged."""
    images(train_x, "train_x")
    mean = grey(train_x).mean(0).clamp(1e-3, 1 - 1e-3)  # (784,): uint8 or floats in [0, 1], scaled once
    last = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    last.bias.copy_(torch.logit(mean))


def _train_epoch(model: VAE, opt: torch.optim.Optimizer, cfg: TrainConfig, x: torch.Tensor,
                 gen: torch.Generator, beta: float, epoch: int = 0) -> tuple[float, float, float]:
    model.train()
    sums = torch.zeros(3, device=x.device)  # elbo, recon, kl summed over examples (no per-step sync)
    steps = math.ceil(len(x) / cfg.batch_size)
    for step, idx in enumerate(batch_indices(len(x), cfg.batch_size, gen, device=x.device)):
        for group in opt.param_groups:
            group["lr"] = cfg.lr_at(epoch, step, steps)
        loss, terms = training_loss(model, cfg, pixels(x[idx], cfg.binarize, gen), gen, beta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums += terms.sum(1)
    elbo, recon, kl = (sums / len(x)).tolist()
    return elbo, recon, kl


def _announce(message: str, progress: bool) -> None:
    if progress:
        print(message)


def train(cfg: TrainConfig, data: MNIST, device: str | torch.device = "auto", checkpoint: str | Path | None = None,
          progress: bool = True) -> TrainResult:
    """Train (or resume, if ``checkpoint`` holds an unfinished run of this config) and return the result.

    With a ``checkpoint`` path the run holds its lock, saves after every epoch, says whether it resumed or
    found the run already finished, and raises TrainingDiverged (keeping the last good file) if the loss
    stops being finite."""
    if checkpoint is not None and Path(checkpoint).resolve().is_relative_to(PRETRAINED_DIR.resolve()):
        raise ValueError(f"{checkpoint} is inside pretrained/, whose shipped files only `make pretrained` writes: "
                         "pass an output path under runs/ instead.")
    device = get_device(device, verbose=progress) if isinstance(device, str) else device
    if checkpoint is None:
        return _run(cfg, data, device, None, progress)
    with checkpoint_lock(checkpoint):
        return _run(cfg, data, device, Path(checkpoint), progress)


def _run(cfg: TrainConfig, data: MNIST, device: torch.device, checkpoint: Path | None, progress: bool) -> TrainResult:
    torch.manual_seed(cfg.seed)  # parameter initialization
    model = build_model(cfg.model).to(device)
    if cfg.init_output_bias:  # (a resumed run then loads its saved weights over it)
        init_output_bias(model, data.train_x[:cfg.limit])
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, 0.999),
                           fused=device.type in ("cpu", "cuda"))  # one kernel per step
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
    start, source = 0, "trained"
    if checkpoint is not None and checkpoint.exists():
        state = _normalized(load_checkpoint(checkpoint, map_location=device), checkpoint)
        check_config(checkpoint, state, cfg.to_dict())  # fields added since it was saved take their defaults
        weights, history, start = required(state, checkpoint, "model", "history", "epoch")
        load_model_state(model, weights, checkpoint)
        if start >= cfg.epochs:
            _announce(f"train: {checkpoint.name} already holds all {cfg.epochs} epochs of this config; nothing to do",
                      progress)
            return TrainResult(model.eval(), history, cfg, "loaded", checkpoint)
        opt_state, rng = required(state, checkpoint, "optimizer", "rng")
        bad = nonfinite_tensors(opt_state)
        if bad:
            raise CheckpointError(f"{checkpoint} holds a non-finite optimizer state "
                                  f"(NaN or inf in {', '.join(bad[:3])}): it comes from a diverged run; "
                                  "pass another output path to train afresh.")
        opt.load_state_dict(opt_state)
        gen.set_state(rng["generator"].cpu())
        source = "resumed"
        _announce(f"train: resuming {checkpoint.name} at epoch {start + 1} of {cfg.epochs}", progress)
    train_x = data.train_x[:cfg.limit].to(device)
    val_x = data.val_x[:cfg.limit].to(device)
    if len(train_x) == 0:
        raise DataError("There are no training images (limit or data too small): pass a positive limit.")
    bar = tqdm(range(start, cfg.epochs), initial=start, total=cfg.epochs, desc="epochs", disable=not progress)
    for epoch in bar:
        t0 = time.perf_counter()
        elbo, recon, kl = _train_epoch(model, opt, cfg, train_x, gen, cfg.beta_at(epoch), epoch)
        seconds = time.perf_counter() - t0
        _check_diverged(model, opt, elbo, epoch, cfg, checkpoint)  # before the save: a good epoch is never overwritten
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
    return TrainResult(model, history, cfg, source, checkpoint)


def _check_diverged(model: VAE, opt: torch.optim.Optimizer, elbo: float, epoch: int, cfg: TrainConfig,
                    checkpoint: Path | None) -> None:
    """Raise TrainingDiverged if the epoch's mean loss, any weight or any optimizer state is NaN or infinite (a
    blow-up in an epoch's last step leaves a finite mean loss but non-finite weights)."""
    what = None
    if not math.isfinite(elbo):
        what = "the loss"
    elif bad := nonfinite_tensors(model.state_dict()):
        what = f"the weights ({', '.join(bad[:2])})"
    elif bad := nonfinite_tensors(opt.state_dict()["state"]):
        what = f"the optimizer state ({', '.join(bad[:2])})"
    if what is None:
        return
    kept = f"; {checkpoint} still holds epoch {epoch}" if checkpoint is not None and epoch else ""
    raise TrainingDiverged(f"Training diverged in epoch {epoch + 1} ({what} became NaN or infinite){kept}: "
                           f"try a lower learning rate (now {cfg.lr:g}) or a KL warm-up (--warmup-epochs).")


def estimate_seconds(cfg: TrainConfig, data: MNIST, device: str | torch.device = "auto", steps: int = 30,
                     warmup_steps: int = 5) -> dict[str, float]:
    """How long ``train(cfg, ...)`` will take here, from a short timed warm-up: ``steps`` training steps of a
    throw-away copy of the model (after ``warmup_steps`` untimed ones) and one validation pass, extrapolated to
    every epoch. Returns seconds per step, per epoch and in total. Used by notebooks/04_mnist_vae.ipynb."""
    device = get_device(device, verbose=False) if isinstance(device, str) else device
    model = build_model(cfg.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, 0.999),
                           fused=device.type in ("cpu", "cuda"))
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    train_x = data.train_x[:cfg.limit].to(device)
    n_steps = math.ceil(len(train_x) / cfg.batch_size)

    def step() -> None:
        idx = torch.randint(len(train_x), (cfg.batch_size,), generator=gen, device=device)
        loss, _ = training_loss(model, cfg, pixels(train_x[idx], cfg.binarize, gen), gen, cfg.beta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup_steps):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    per_step = (time.perf_counter() - t0) / steps
    t1 = time.perf_counter()
    evaluate(model, data.val_x[:cfg.limit].to(device), binarized=cfg.binarize, seed=0, batch_size=1000)
    _sync(device)
    per_epoch = per_step * n_steps + (time.perf_counter() - t1)
    return {"seconds_per_step": per_step, "seconds_per_epoch": per_epoch, "seconds_total": per_epoch * cfg.epochs}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _normalized(state: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Fill config fields added after a checkpoint was written with their defaults (one sentence if it has no
    config, or one this version cannot read)."""
    (config,) = required(state, path, "config")
    try:
        state["config"] = TrainConfig.from_dict(config).to_dict()
    except (TypeError, KeyError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{path} holds a training config this version of vaelib cannot read "
                              f"({type(err).__name__}: {str(err).rstrip('.')}); "
                              "pass a checkpoint written by this version's trainer.") from None
    return state


def model_from_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[VAE, dict[str, Any]]:
    """Rebuild the model a checkpoint describes; return it (in eval mode) and the checkpoint dict."""
    state = _normalized(load_checkpoint(path, map_location=device), path)
    model = build_model(TrainConfig.from_dict(state["config"]).model).to(device)
    load_model_state(model, required(state, path, "model")[0], path)
    return model.eval(), state


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


EXAMPLE = """example (the shipped mlp-d50, 200 epochs; resumable: rerun the same command after an interruption):
  python -m vaelib.train --latent-dim 50 --hidden 512 512 --epochs 200 --lr-schedule cosine --eval-k 5000"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    # every option's default (a None default is explained in its help text instead); the example keeps its lines
    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    d, m = TrainConfig(), ModelConfig()
    p = argparse.ArgumentParser(prog="python -m vaelib.train", description="Train a VAE on MNIST.", epilog=EXAMPLE,
                                formatter_class=lambda prog: _HelpFormatter(prog, width=110))
    p.add_argument("--arch", choices=["mlp", "conv"], default=m.arch, help="architecture")
    p.add_argument("--latent-dim", type=_positive(int), default=m.latent_dim, help="D, the latent dimension")
    p.add_argument("--latent", choices=["gaussian", "vmf", "deterministic"], default=m.latent,
                   help="q(z|x): Gaussian, vMF on the sphere, or none (a plain autoencoder)")
    p.add_argument("--hidden", type=_positive(int), nargs="+", default=list(m.hidden), help="encoder widths")
    p.add_argument("--activation", default=m.activation, choices=["relu", "elu", "tanh", "gelu"], help="nonlinearity")
    p.add_argument("--epochs", type=_positive(int), default=d.epochs, help="passes over the training images")
    p.add_argument("--batch-size", type=_positive(int), default=d.batch_size, help="B, images per step")
    p.add_argument("--lr", type=_positive(float), default=d.lr, help="Adam learning rate")
    p.add_argument("--lr-schedule", choices=["constant", "cosine", "warmup-linear"],
                   default=d.lr_schedule, help="learning rate schedule")
    p.add_argument("--lr-warmup", type=float, default=d.lr_warmup, help="warmup-linear: fraction of steps to reach lr")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=d.precision,
                   help="bf16: linear layers in bf16 (autocast); pays on CPUs with AMX tiles")
    p.add_argument("--adam-beta1", type=float, default=d.adam_beta1, help="Adam's first beta")
    p.add_argument("--init-output-bias", action="store_true", help="start the decoder at the mean training image")
    p.add_argument("--seed", type=int, default=d.seed, help="seeds initialization, shuffling, binarization, z")
    p.add_argument("--grey", action="store_true", help="train on grey pixels (BCE) instead of binarized")
    p.add_argument("--beta", type=float, default=d.beta, help="weight of the KL term")
    p.add_argument("--warmup-epochs", type=_non_negative, default=d.warmup_epochs, help="linear KL warm-up")
    p.add_argument("--kl-reduction", choices=["sum", "mean"], default=d.kl_reduction,
                   help="KL over latent dims: sum (the ELBO) or mean (a hidden beta of 1/D)")
    p.add_argument("--limit", type=_positive(int), default=None, help="cap each split (quick runs; default: no cap)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--data", default=None, help="data root (default: $VAELIB_DATA or <repo>/data)")
    p.add_argument("--out", default=None, help="checkpoint path (default: runs/vae-<config hash>.pt)")
    p.add_argument("--eval-k", type=_non_negative, default=0, help="after training, test log p(x) with k samples")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> TrainResult:
    """Command-line entry point; errors end the process with one sentence and a non-zero status."""
    a = _parse(argv)
    out = None
    try:
        model_cfg = ModelConfig(arch=a.arch, latent_dim=a.latent_dim, hidden=tuple(a.hidden), activation=a.activation,
                                latent=a.latent)
        cfg = replace(TrainConfig(), model=model_cfg, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
                      lr_schedule=a.lr_schedule, lr_warmup=a.lr_warmup, precision=a.precision, seed=a.seed,
                      adam_beta1=a.adam_beta1, init_output_bias=a.init_output_bias, binarize=not a.grey, beta=a.beta,
                      warmup_epochs=a.warmup_epochs, kl_reduction=a.kl_reduction, limit=a.limit)
        data = load_mnist(a.data)
        out = Path(a.out) if a.out else runs_dir() / f"vae-{cfg.key()}.pt"
        result = train(cfg, data, a.device, checkpoint=out)
    except (ValueError, RuntimeError) as err:  # our errors are one sentence each; no traceback for them
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        kept = f"{out} holds the last finished epoch; " if out is not None and out.exists() else ""
        print(f"interrupted: {kept}rerun the same command to resume.", file=sys.stderr)
        raise SystemExit(130) from None
    print(f"checkpoint: {out}")
    if a.eval_k:
        device = next(result.model.parameters()).device
        test = evaluate(result.model, data.test_x[:cfg.limit].to(device), binarized=cfg.binarize, k=a.eval_k,
                        progress=True)
        print(json.dumps({k: round(v, 4) for k, v in test.items()}))
    return result


if __name__ == "__main__":
    main()
