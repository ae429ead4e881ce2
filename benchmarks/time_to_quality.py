"""Time to quality: how long until vaelib's VAE is as good as pytorch/examples' after its 10 epochs.

One process, one machine, one model (MLP 784-400-20, ReLU) and one loss (grey-pixel BCE + KL):

* the tutorial (``pipelines.TutorialRun``: pytorch/examples vae/main.py's data pipeline and recipe) trains
  10 epochs; its test loss is the target, and its wall time (dataset set-up, 10 epochs, one test pass) is T1;
* vaelib (``pipelines.FastTrainer`` with ``pipelines.FAST``) trains with the recipe below and is scored on
  the full test set at check points; its wall time T2 (data loading, training, every test pass up to the
  first one at or below the target) ends at that check;
* the last line prints T1 / T2 as ``time-to-quality: X.XXx``.

Both are scored by ``pipelines.test_loss`` (BCE on grey pixels + KL, one z per image, all 10,000 test images,
the same seed, so both see the same noise). The two runs are interleaved (a tutorial epoch, then the same
share of vaelib's budget, ...), so a machine whose load changes during the run slows both alike; the
per-epoch ratio is printed too, and ``--profile`` prints torch.profiler's table of vaelib's training step.

The recipe (found by a search on the 2-core CPU; see the README's Speed section): batch 128; Adam with
betas (0.8, 0.999) and the learning rate rising linearly from 0 to 1.2e-2 over the first 10% of a 3-epoch
budget, then falling linearly to 0 at its end; the decoder's output bias starting at the logit of the mean
training image; bf16 autocast for the linear layers where the CPU has AMX tiles (fp32 elsewhere); fused Adam.
Checks at 2.5, 2.75 and 3 epochs. Bigger batches were cheaper per epoch but needed more epochs (B 192 and
256 ended 0.9 nat worse after 4-4.5 epochs); torch.compile cost 20-60 s and gave no faster step. If the
budget ends above the target, cool-down phases of one epoch each (lr from 1.2e-3 to 0) follow, and the table
says so. Wall and CPU seconds are both reported: on a shared machine the CPU-second ratio is the steadier.

    python benchmarks/time_to_quality.py [--threads 1] [--profile]
"""
from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace

import torch
from pipelines import FAST, TUTORIAL, FastTrainer, TutorialRun, sync, test_loss
from torch.profiler import ProfilerActivity, profile

from vaelib.config import get_device
from vaelib.data import load_mnist
from vaelib.evaluate import evaluate, paired_difference

COOL_DOWNS = 3  # at most this many one-epoch cool-down phases after the budget


def cpu_name() -> str:
    """The processor's model name (Linux), else what platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def check_steps(trainer: FastTrainer, start: float, every: float) -> list[int]:
    """Steps after which vaelib is scored: every ``every`` epochs from ``start``, and the budget's last step."""
    spe, total = trainer.steps_per_epoch, trainer.total
    steps = {total}
    e = start
    while e * spe < total:
        steps.add(max(1, round(e * spe)))
        e += every
    return sorted(trainer.step + s for s in steps)


class Scored:
    """vaelib's run: its seconds, and each check's (step, cumulative wall s, cumulative CPU s, test loss, weights)."""

    def __init__(self, trainer: FastTrainer, test_x: torch.Tensor, eval_seed: int) -> None:
        self.trainer, self.test_x, self.eval_seed = trainer, test_x, eval_seed
        self.train_s = self.eval_s = self.cpu_s = 0.0  # wall seconds training, testing; CPU seconds of both
        self.checks: list[tuple[int, float, float, float, dict[str, torch.Tensor]]] = []

    def advance(self, to_step: int, checks: list[int]) -> None:
        """Train up to ``to_step``, scoring the model at every check step on the way."""
        t = self.trainer
        for stop in [s for s in checks if t.step < s <= to_step] + [to_step]:
            if stop > t.step:
                t0, c0 = time.perf_counter(), time.process_time()
                t.run(stop - t.step)
                self.train_s += time.perf_counter() - t0
                self.cpu_s += time.process_time() - c0
            if stop in checks and (not self.checks or self.checks[-1][0] != stop):
                t0, c0 = time.perf_counter(), time.process_time()
                loss, _ = test_loss(t.model, self.test_x, self.eval_seed)
                sync(t.device)
                self.eval_s += time.perf_counter() - t0
                self.cpu_s += time.process_time() - c0
                weights = {k: v.detach().clone() for k, v in t.model.state_dict().items()}
                self.checks.append((stop, self.train_s + self.eval_s, self.cpu_s, loss, weights))

    def first_at(self, target: float) -> tuple[int, float, float, float, dict[str, torch.Tensor]] | None:
        """The first check at or below ``target``."""
        return next((c for c in self.checks if c[3] <= target), None)


def run(a: argparse.Namespace) -> dict[str, object]:
    """Both pipelines, interleaved; returns the numbers the table prints."""
    device = get_device(a.device)
    recipe = replace(FAST, lr=a.lr, batch_size=a.batch_size, epochs=a.budget, precision=a.precision)
    t0, c0 = time.perf_counter(), time.process_time()
    tut = TutorialRun(device, limit=a.limit)
    tut_setup, tut_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    data = load_mnist(val_size=0, limit=a.limit)
    train_x, test_x = data.train_x.to(device), data.test_x.to(device)
    trainer = FastTrainer(train_x, recipe)
    setup, setup_cpu = time.perf_counter() - t0, time.process_time() - c0
    scored = Scored(trainer, test_x, a.eval_seed)
    checks = check_steps(trainer, a.check_from, a.check_every)
    tut_epochs: list[float] = []
    for e in range(a.tutorial_epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        tut.epoch()
        sync(device)
        tut_epochs.append(time.perf_counter() - t0)
        tut_cpu += time.process_time() - c0
        scored.advance(round((e + 1) / a.tutorial_epochs * trainer.total), checks)
    t0, c0 = time.perf_counter(), time.process_time()
    target, _ = test_loss(tut.model, test_x, a.eval_seed)
    tut_eval, tut_cpu = time.perf_counter() - t0, tut_cpu + time.process_time() - c0
    cool_downs = 0
    while scored.first_at(target) is None and cool_downs < COOL_DOWNS:
        cool_downs += 1
        trainer.extend(1.0, recipe.lr / 10)
        scored.advance(trainer.step + trainer.total, check_steps(trainer, a.check_every, a.check_every))
    hit = scored.first_at(target)
    vaelib_epochs = trainer.step / trainer.steps_per_epoch
    out: dict[str, object] = {
        "device": device, "recipe": recipe, "n_test": len(test_x), "how": trainer.how, "target": target,
        "cool_downs": cool_downs,
        "tutorial": {"wall": tut_setup + sum(tut_epochs) + tut_eval, "train": sum(tut_epochs), "eval": tut_eval,
                     "setup": tut_setup, "epochs": len(tut_epochs), "s_per_epoch": sum(tut_epochs) / len(tut_epochs),
                     "cpu": tut_cpu},
        "vaelib_s_per_epoch": scored.train_s / vaelib_epochs,
        "checks": [(s / trainer.steps_per_epoch, loss) for s, _, _, loss, _ in scored.checks],
    }
    if hit is not None:
        step, seconds, cpu, loss, weights = hit
        n_checks = sum(1 for c in scored.checks if c[0] <= step)
        trainer.model.load_state_dict(weights)
        fresh = a.eval_seed + 1  # re-score both with noise neither was selected on
        tv = evaluate(tut.model, test_x, binarized=False, seed=fresh, per_example=True)
        vv = evaluate(trainer.model, test_x, binarized=False, seed=fresh, per_example=True)
        out["vaelib"] = {"wall": setup + seconds, "epochs": step / trainer.steps_per_epoch, "loss": loss,
                         "setup": setup, "checks": n_checks, "cpu": setup_cpu + cpu}
        out["rescored"] = (-tv["elbo"], tv["elbo_se"], -vv["elbo"], vv["elbo_se"],
                           paired_difference(-vv["values"]["elbo"], -tv["values"]["elbo"]))
    if a.profile:
        out["profile"] = profile_step(trainer)
        t0 = time.perf_counter()
        for _ in tut.loader:  # the tutorial's data pipeline alone: what vaelib's uint8 tensor replaces
            pass
        out["loader_s"] = time.perf_counter() - t0
    return out


def profile_step(trainer: FastTrainer, steps: int = 20) -> str:
    """torch.profiler's table of ``steps`` vaelib training steps (ops sorted by their own CPU time)."""
    trainer.run(5)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        trainer.run(steps)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=40)


def report(a: argparse.Namespace, r: dict[str, object]) -> None:
    """Print the table; the last line is the time-to-quality ratio."""
    tut, recipe = r["tutorial"], r["recipe"]
    print(f"time to quality | MNIST VAE 784-400-20, grey-pixel BCE + KL | device {r['device']} ({cpu_name()}) | "
          f"threads {torch.get_num_threads()} | torch {torch.__version__} | interleaved in one process")
    print(f"target: the tutorial's test loss after {tut['epochs']} epochs = {r['target']:.2f} nats "
          f"({r['n_test']:,} test images, eval seed {a.eval_seed})")
    head = f"{'pipeline':<9} {'recipe':<78} {'epochs':>6} {'wall s':>7} {'CPU s':>7} {'s/epoch':>7} {'test loss':>9}"
    print(head)
    print(f"{'tutorial':<9} {TUTORIAL.describe() + ', DataLoader + ToTensor':<78} {tut['epochs']:>6} "
          f"{tut['wall']:>7.1f} {tut['cpu']:>7.1f} {tut['s_per_epoch']:>7.2f} {r['target']:>9.2f}")
    v = r.get("vaelib")
    desc = f"{recipe.describe()}, {r['how']}"
    if v is not None:
        print(f"{'vaelib':<9} {desc:<78} {v['epochs']:>6.2f} {v['wall']:>7.1f} {v['cpu']:>7.1f} "
              f"{r['vaelib_s_per_epoch']:>7.2f} {v['loss']:>9.2f}")
        print(f"vaelib's wall time: {v['setup']:.1f} s loading data and building, {v['checks']} test passes counted; "
              f"tutorial's: {tut['setup']:.1f} s set-up, {tut['eval']:.1f} s for its one test pass")
    print("vaelib's checks (epoch: test loss): " + ", ".join(f"{e:.2f}: {loss:.2f}" for e, loss in r["checks"]))
    if r["cool_downs"]:
        print(f"the {recipe.epochs:g}-epoch budget ended above the target: "
              f"{r['cool_downs']} one-epoch cool-down(s) followed")
    if "rescored" in r:
        t, tse, vl, vse, (d, dse) = r["rescored"]
        print(f"re-scored with a fresh seed: tutorial {t:.2f} ± {tse:.2f}, vaelib {vl:.2f} ± {vse:.2f}, "
              f"vaelib - tutorial {d:+.2f} ± {dse:.2f} (paired)")
    if "profile" in r:
        print("one vaelib training step, torch.profiler (20 steps):")
        print(r["profile"])
        print(f"the tutorial's DataLoader + ToTensor alone, one epoch without the model: {r['loader_s']:.2f} s "
              f"(of its {tut['s_per_epoch']:.2f} s/epoch)")
    print(f"per-epoch ratio: {tut['s_per_epoch'] / r['vaelib_s_per_epoch']:.2f}x")
    if v is None:
        print(f"time-to-quality: not reached (vaelib stayed above {r['target']:.2f} after the budget and "
              f"{COOL_DOWNS} cool-downs)")
    else:
        print(f"time-to-quality in CPU seconds (steadier under load): {tut['cpu'] / v['cpu']:.2f}x")
        print(f"time-to-quality: {tut['wall'] / v['wall']:.2f}x")


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu (the benchmark), or auto/cuda")
    p.add_argument("--threads", type=int, default=None, help="torch threads for both pipelines (default: torch's)")
    p.add_argument("--tutorial-epochs", type=int, default=10)
    p.add_argument("--budget", type=float, default=FAST.epochs, help="vaelib's budget in epochs (lr reaches 0)")
    p.add_argument("--lr", type=float, default=FAST.lr, help="vaelib's peak learning rate")
    p.add_argument("--batch-size", type=int, default=FAST.batch_size)
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=FAST.precision)
    p.add_argument("--check-from", type=float, default=2.5, help="first check, in epochs")
    p.add_argument("--check-every", type=float, default=0.25, help="epochs between checks")
    p.add_argument("--eval-seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="cap the training and test images (smoke runs)")
    p.add_argument("--profile", action="store_true", help="print torch.profiler's table of vaelib's step")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    result = run(a)
    report(a, result)
    return result


if __name__ == "__main__":
    main()
