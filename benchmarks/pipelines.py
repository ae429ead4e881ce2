"""The pipelines the speed benchmarks compare, on the pytorch/examples VAE (MLP 784-400-20, ReLU, grey-pixel BCE).

* ``TutorialRun``: pytorch/examples ``vae/main.py`` as a user runs it -- ``torchvision.datasets.MNIST`` with
  ``ToTensor()``, a shuffled ``DataLoader`` (batch 128), Adam at 1e-3, sigmoid + ``F.binary_cross_entropy``
  and the KL, both summed over the batch, ``loss.item()`` every step. It trains vaelib's network
  (784-400-40 | 20-400-784 is the tutorial's fc1, fc21/fc22, fc3, fc4), so both pipelines train the same model.
* ``FastTrainer``: vaelib's data (one uint8 tensor on the device, batched by index) and loss
  (``vaelib.train.training_loss``) with a ``Recipe``: a per-step learning-rate schedule, Adam's betas, the
  decoder's output bias started at the mean image, bf16 autocast for the linear layers on CPUs with AMX tiles,
  and on CUDA the whole step (forward, backward, fused Adam) captured once as a CUDA graph and replayed. With
  the tutorial's recipe it takes exactly vaelib.train's steps (tests/test_benchmarks.py); it is the prototype
  of the changes proposed for ``vaelib.train``.
* ``test_loss``: the one score both are judged by -- the tutorial's test loss, i.e. minus
  ``vaelib.evaluate``'s single-sample ELBO on grey pixels, averaged over the test images.

torch.compile was tried for the CPU step and left out: 20-60 s to compile, and no faster steps after it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from vaelib.config import data_root
from vaelib.data import pixels
from vaelib.evaluate import evaluate
from vaelib.models import VAE, ModelConfig, build_model
from vaelib.train import TrainConfig, init_output_bias, training_loss

MODEL = ModelConfig(latent_dim=20, hidden=(400,), activation="relu")  # the pytorch/examples network
TUTORIAL_SEED = 1  # vae/main.py's default --seed


@dataclass(frozen=True)
class Recipe:
    """How ``FastTrainer`` trains: batch, Adam's peak learning rate and its schedule, precision, CUDA graphs."""

    batch_size: int = 128
    lr: float = 1.2e-2                     # peak learning rate
    betas: tuple[float, float] = (0.8, 0.999)  # Adam's; a shorter memory for the mean suits the high lr
    init_output_bias: bool = True          # decoder's last bias = logit of the mean training image
    schedule: Literal["constant", "warmup-linear"] = "warmup-linear"
    warmup: float = 0.1                    # fraction of the budget over which the lr rises linearly from 0
    epochs: float = 3.0                    # the budget: "warmup-linear" reaches lr 0 at its end
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 linear layers where the CPU has AMX tiles
    cuda_graph: bool = True                # on CUDA, replay the whole step as one graph
    seed: int = 0

    def lr_at(self, step: int, total: int) -> float:
        """Learning rate of step ``step`` (0-based) of ``total`` (stateless, like ``TrainConfig.lr_at``)."""
        if self.schedule == "constant":
            return self.lr
        rise = max(1, round(self.warmup * total))
        if step < rise:
            return self.lr * (step + 1) / rise
        return self.lr * max(0.0, total - step) / (total - rise + 1)

    def describe(self) -> str:
        """One line for tables."""
        sched = (f"lr {self.lr:g}" if self.schedule == "constant" else
                 f"lr 0->{self.lr:g} over {self.warmup:.0%} then ->0 at {self.epochs:g} ep")
        extra = f", betas {self.betas[0]:g}/{self.betas[1]:g}" if self.betas != (0.9, 0.999) else ""
        bias = ", mean-image output bias" if self.init_output_bias else ""
        return f"Adam {sched}{extra}, B {self.batch_size}{bias}"


TUTORIAL = Recipe(lr=1e-3, betas=(0.9, 0.999), init_output_bias=False, schedule="constant", epochs=10,
                  precision="fp32", cuda_graph=False, seed=TUTORIAL_SEED)
FAST = Recipe()  # the winner of the search in benchmarks/time_to_quality.py's docstring


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock times are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def test_loss(model: VAE, test_x: torch.Tensor, seed: int = 0) -> tuple[float, float]:
    """The tutorial's test loss (BCE on grey pixels + KL, one z per image, nats per image) and its standard
    error over images: minus vaelib.evaluate's ELBO, with one seed so every model sees the same noise."""
    result = evaluate(model, test_x, binarized=False, seed=seed, batch_size=2000)
    return -result["elbo"], result["elbo_se"]


def uses_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast for the linear layers: asked for, or "auto" on a CPU with AMX tiles (where it pays)."""
    if precision != "auto":
        return precision == "bf16"
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    return device.type == "cpu" and bool(amx())


class TutorialRun:
    """pytorch/examples vae/main.py's training loop, one epoch per ``epoch()`` call (a user's run)."""

    def __init__(self, device: torch.device, limit: int | None = None) -> None:
        self.device = device
        dataset = datasets.MNIST(str(data_root()), train=True, download=False, transform=transforms.ToTensor())
        cuda = device.type == "cuda"
        self.loader = DataLoader(dataset if limit is None else Subset(dataset, range(limit)), batch_size=128,
                                 shuffle=True, **({"num_workers": 1, "pin_memory": True} if cuda else {}))
        torch.manual_seed(TUTORIAL.seed)
        self.model = build_model(MODEL).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=TUTORIAL.lr)
        self.epochs_done = 0

    def epoch(self) -> float:
        """Train one epoch; return its average training loss per image (as main.py prints it)."""
        self.model.train()
        train_loss = 0.0
        for data, _ in self.loader:
            x = data.to(self.device).view(-1, 784)
            mu, logvar = self.model.encode(x).params()
            std = torch.exp(0.5 * logvar)
            z = mu + torch.randn_like(std) * std
            recon = torch.sigmoid(self.model.decode(z))
            loss = (F.binary_cross_entropy(recon, x, reduction="sum")
                    - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()))  # BCE + KLD, summed over the batch
            self.opt.zero_grad()
            loss.backward()
            train_loss += loss.item()
            self.opt.step()
        self.epochs_done += 1
        return train_loss / len(self.loader.dataset)


class FastTrainer:
    """vaelib's data and loss with a ``Recipe``; ``run(n)`` takes n steps (an epoch is ceil(N / B) steps)."""

    def __init__(self, train_x: torch.Tensor, recipe: Recipe = FAST, model: ModelConfig = MODEL,
                 binarize: bool = False) -> None:
        self.x, self.recipe, self.device = train_x, recipe, train_x.device
        self.bf16 = uses_bf16(recipe.precision, self.device)
        self.cfg = TrainConfig(model=model, batch_size=recipe.batch_size, lr=recipe.lr, binarize=binarize,
                               seed=recipe.seed, precision="bf16" if self.bf16 else "fp32")  # autocast: training_loss
        self.steps_per_epoch = math.ceil(len(train_x) / recipe.batch_size)
        self.total = max(1, round(recipe.epochs * self.steps_per_epoch))
        self.graphed = recipe.cuda_graph and self.device.type == "cuda"
        torch.manual_seed(recipe.seed)  # parameter initialization (and the default CUDA generator of the graph)
        self.model = build_model(model).to(self.device)
        if recipe.init_output_bias:
            init_output_bias(self.model, train_x)
        lr0 = recipe.lr_at(0, self.total)
        lr = torch.tensor(lr0, device=self.device) if self.graphed else lr0  # a tensor: graph replays read it anew
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, betas=recipe.betas,
                                    fused=self.device.type in ("cpu", "cuda"), capturable=self.graphed)
        self.gen = torch.Generator(device=self.device).manual_seed(recipe.seed)
        self.sums = torch.zeros(3, device=self.device)  # elbo, recon, kl summed over images since take_means()
        self.seen, self.step, self.phase_start = 0, 0, 0
        self._order, self._pos = torch.empty(0, dtype=torch.long), len(train_x)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.how = ("CUDA graph" if self.graphed else "eager") + (", bf16 linear layers" if self.bf16 else ", fp32")

    def _loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the graph draws z from the default CUDA generator, which graphs replay correctly; eager steps use self.gen;
        # bf16 (self.cfg.precision) is training_loss's autocast, and the model returns fp32 from its bf16 layers
        return training_loss(self.model, self.cfg, x, None if self.graphed else self.gen, 1.0)

    def _eager_step(self, x: torch.Tensor) -> None:
        loss, terms = self._loss(x)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sums += terms.sum(1)

    def _set_lr(self, lr: float) -> None:
        group = self.opt.param_groups[0]
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr

    def _capture(self) -> torch.cuda.CUDAGraph:
        """Record one full-batch step; warm-up steps on a side stream first, then undone in place."""
        self.static_x = torch.zeros(self.recipe.batch_size, 784, device=self.device)
        self.static_x.copy_(pixels(self.x[:self.recipe.batch_size], self.cfg.binarize, self.gen))
        start = [p.detach().clone() for p in self.model.parameters()]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):  # creates Adam's state and lets cuBLAS pick its kernels
                self._eager_step(self.static_x)
        torch.cuda.current_stream(self.device).wait_stream(side)
        with torch.no_grad():  # undo the warm-up in place: the graph records these very tensors
            for p, p0 in zip(self.model.parameters(), start):
                p.copy_(p0)
            for state in self.opt.state.values():
                for value in state.values():
                    value.zero_()  # step, exp_avg, exp_avg_sq
            self.sums.zero_()
        self.opt.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            loss, terms = self._loss(self.static_x)
            loss.backward()
            self.opt.step()
            self.sums += terms.sum(1)
        return graph

    def run(self, n_steps: int) -> None:
        """Take ``n_steps`` training steps (reshuffling at each epoch's start); returns when the device is done."""
        self.model.train()
        if self.graphed and self.graph is None:
            try:
                self.graph = self._capture()
            except RuntimeError as err:  # an old driver or torch: say so and train eagerly
                self.graphed, self.how = False, f"eager (CUDA graph capture failed: {str(err).splitlines()[0][:80]})"
        n, bsz = len(self.x), self.recipe.batch_size
        for _ in range(n_steps):
            if self._pos >= n:
                self._order, self._pos = torch.randperm(n, generator=self.gen, device=self.device), 0
            idx = self._order[self._pos:self._pos + bsz]
            self._pos += bsz
            self._set_lr(self.recipe.lr_at(self.step - self.phase_start, self.total))
            x = pixels(self.x[idx], self.cfg.binarize, self.gen)
            if self.graph is not None and len(idx) == bsz:
                self.static_x.copy_(x)
                self.graph.replay()
            else:  # the epoch's last, smaller batch (or no graph)
                self._eager_step(x)
            self.step += 1
            self.seen += len(idx)
        sync(self.device)

    def extend(self, epochs: float, lr: float) -> None:
        """Start another phase of ``epochs`` epochs whose lr falls linearly from ``lr`` to 0 (a cool-down)."""
        self.recipe = replace(self.recipe, lr=lr, schedule="warmup-linear", warmup=0.0, epochs=epochs)
        self.phase_start, self.total = self.step, max(1, round(epochs * self.steps_per_epoch))

    def take_means(self) -> tuple[float, float, float]:
        """Mean training (elbo, recon, kl) per image since the last call."""
        elbo, recon, kl = (self.sums / max(1, self.seen)).tolist()
        self.sums.zero_()
        self.seen = 0
        return elbo, recon, kl
