"""The speed benchmarks: their one score, their trainer, and their scripts' smoke paths (what CI can run).

References: the tutorial's own loss formula (sigmoid + F.binary_cross_entropy, the KL of
torch.distributions), vaelib.train (the fast trainer must take exactly its steps when nothing is sped up),
and the schedule's closed form. The GPU check runs here in its CPU smoke mode, the path CI can test.
"""
from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import replace

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from vaelib.config import REPO_ROOT
from vaelib.models import ModelConfig, build_model
from vaelib.train import TrainConfig, train

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import pipelines  # noqa: E402
import slowest_tests  # noqa: E402
import time_to_quality  # noqa: E402
import train_speed  # noqa: E402

SMALL = ModelConfig(latent_dim=3, hidden=(32,), activation="relu")


def test_schedule_rises_linearly_then_falls_to_zero():
    r = pipelines.Recipe(lr=1e-2, warmup=0.1, epochs=1.0)
    total = 100  # warm-up: steps 0..9 reach 1e-2 at step 9; then (100 - s) / 91 of the peak
    assert r.lr_at(0, total) == pytest.approx(1e-3)
    assert r.lr_at(9, total) == pytest.approx(1e-2)
    assert r.lr_at(55, total) == pytest.approx(1e-2 * 45 / 91)
    assert r.lr_at(99, total) == pytest.approx(1e-2 / 91)
    assert r.lr_at(100, total) == 0.0
    lrs = [r.lr_at(s, total) for s in range(total)]
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10])) and all(a > b for a, b in zip(lrs[9:], lrs[10:]))
    assert pipelines.TUTORIAL.lr_at(77, total) == 1e-3  # constant


def test_test_loss_is_the_tutorials_test_loss():
    """With sigma -> 0 (z = mu), the score must equal pytorch/examples' formula computed by hand in float64."""
    model = build_model(pipelines.MODEL)
    last = model.encoder[-1]
    with torch.no_grad():  # logvar = -40 for every image: z = mu up to 2e-9
        last.weight[20:].zero_()
        last.bias[20:].fill_(-40.0)
    x = torch.randint(0, 256, (300, 784), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    loss, se = pipelines.test_loss(model, x)
    with torch.no_grad():
        xg = x.double() / 255
        mu, logvar = model.encoder(x.float() / 255).chunk(2, -1)
        recon = torch.sigmoid(model.decoder(mu).double())
        bce = F.binary_cross_entropy(recon, xg, reduction="none").sum(-1)
        kl = kl_divergence(Normal(mu.double(), (0.5 * logvar.double()).exp()), Normal(0.0, 1.0)).sum(-1)
        per_image = bce + kl
    assert loss == pytest.approx(per_image.mean().item(), rel=1e-5)
    assert se == pytest.approx(per_image.std().item() / math.sqrt(len(x)), rel=1e-3)


def test_fast_trainer_takes_vaelib_trains_steps_when_nothing_is_sped_up(synthetic_mnist):
    cfg = TrainConfig(model=SMALL, epochs=2, batch_size=64, lr=1e-3, binarize=True, seed=7)
    reference = train(cfg, synthetic_mnist, "cpu", progress=False).model
    recipe = replace(pipelines.TUTORIAL, batch_size=64, epochs=2, seed=7)  # fp32, Adam 1e-3, default init
    fast = pipelines.FastTrainer(synthetic_mnist.train_x, recipe, model=SMALL, binarize=True)
    fast.run(2 * fast.steps_per_epoch)  # 300 images: 5 steps an epoch, the last one of 44
    for (name, a), b in zip(reference.state_dict().items(), fast.model.state_dict().values()):
        assert torch.equal(a, b), name
    elbo, recon, kl = fast.take_means()
    assert elbo == pytest.approx(-(recon + kl)) and fast.seen == 0


def test_fast_trainer_takes_bf16_and_the_output_bias_from_vaelib_train(synthetic_mnist):
    """The numerics are vaelib.train's (training_loss's autocast, init_output_bias: tests/test_train.py tests them);
    the trainer only switches them on."""
    x = synthetic_mnist.train_x
    for precision in ("fp32", "bf16"):
        t = pipelines.FastTrainer(x, pipelines.Recipe(precision=precision, seed=3), model=SMALL)
        loss, terms = t._loss(x[:128].float() / 255)
        assert t.bf16 == (precision == "bf16") and t.cfg.precision == precision
        assert loss.dtype == terms.dtype == torch.float32
    mean = (x.double() / 255).mean(0).clamp(1e-3, 1 - 1e-3)
    assert torch.allclose(torch.sigmoid(t.model.decoder[-1].bias.double()), mean, atol=1e-6)
    plain = pipelines.FastTrainer(x, replace(pipelines.FAST, init_output_bias=False, precision="fp32"), model=SMALL)
    assert plain.model.decoder[-1].bias.abs().max() < 1 / math.sqrt(32)  # PyTorch's default, U(+-1/sqrt(fan_in))


def test_uses_bf16_only_where_asked_or_on_amx():
    assert pipelines.uses_bf16("bf16", torch.device("cpu")) and not pipelines.uses_bf16("fp32", torch.device("cpu"))
    assert not pipelines.uses_bf16("auto", torch.device("cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graph_step_trains(synthetic_mnist):
    x = synthetic_mnist.train_x.to("cuda")
    t = pipelines.FastTrainer(x, pipelines.Recipe(batch_size=64, epochs=4), model=SMALL)
    t.run(t.steps_per_epoch)
    first, _, _ = t.take_means()
    t.run(3 * t.steps_per_epoch)
    last, _, _ = t.take_means()
    assert t.how.startswith("CUDA graph") and math.isfinite(last) and last > first


def test_time_to_quality_smoke_prints_the_ratio_last(mnist, capsys):
    result = time_to_quality.main(["--device", "cpu", "--threads", "1", "--limit", "256", "--tutorial-epochs", "2",
                                   "--budget", "2", "--check-from", "1", "--check-every", "0.5"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"time-to-quality: (\d+\.\d\dx|not reached .*)", lines[-1]), lines[-1]
    assert any(re.fullmatch(r"per-epoch ratio: \d+\.\d\dx", line) for line in lines[-3:-1]), lines[-3:]
    assert [e for e, _ in result["checks"]] == [1.0, 1.5, 2.0]  # 256 images, B 128: 2 steps an epoch
    if "vaelib" in result:  # the stop is the first check at or below the target
        first = next(loss for _, loss in result["checks"] if loss <= result["target"])
        assert result["vaelib"]["loss"] == first


def test_train_speed_smoke_writes_three_pipelines(mnist, tmp_path):
    out = train_speed.main(["--epochs", "1", "--limit", "256", "--device", "cpu", "--json", str(tmp_path / "s.json")])
    saved = json.loads((tmp_path / "s.json").read_text())
    assert list(saved["rows"]) == ["tutorial", "vaelib.train", "vaelib fast step"]
    assert all(r["mean"] > 0 and math.isfinite(r["test_loss"][0]) for r in saved["rows"].values())
    rows = saved["rows"]
    assert out["speedup vaelib.train"] == pytest.approx(rows["tutorial"]["mean"] / rows["vaelib.train"]["mean"])


@pytest.mark.slow
def test_gpu_check_smoke_runs_every_row_on_the_cpu(mnist, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from vaelib.config import get_device\nprint(get_device('auto'))")]
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(REPO_ROOT / "benchmarks" / "gpu_check.sh"), "--smoke", "--json",
                           str(tmp_path / "g.json"), "--notebooks", str(tmp_path / "tiny.ipynb")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {row: (result, target) for row, result, target in json.loads((tmp_path / "g.json").read_text())["rows"]}
    assert {"epoch ratio, vaelib.train", "epoch ratio, vaelib fast step", "mlp-d50 evaluation", "total"} <= set(rows)
    assert rows["notebook tiny.ipynb (smoke, device auto)"][1] == "runs: met"
    assert "gpu check | device cpu" in proc.stdout


def test_gpu_check_says_what_to_do_about_a_missing_data_folder(tmp_path):
    proc = subprocess.run(["bash", str(REPO_ROOT / "benchmarks" / "gpu_check.sh"), "--data", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "MNIST/raw not found" in proc.stderr and "pass the folder" in proc.stderr


@pytest.mark.parametrize("target", ["test", "unit"])
def test_the_slowest_tests_record_runs_the_makefiles_own_command(target):
    """benchmarks/slowest_tests.py times what `make test` (or `make unit`) runs: the same variables and arguments
    (`make -n` prints the recipe without running it), apart from the record's --durations and -q."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    recipe = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO_ROOT), target], env=env,
                            capture_output=True, text=True, check=True).stdout
    line = shlex.split(next(ln for ln in recipe.splitlines() if " -m pytest " in ln))
    python = next(i for i, word in enumerate(line) if word.endswith("/python"))
    variables = dict(word.split("=", 1) for word in line[:python])
    unit = target == "unit"
    script = slowest_tests.pytest_command(unit, workers=2, top=20)
    script_args = [a.replace(f"{REPO_ROOT}/", "") for a in script[1:] if a != "-q" and not a.startswith("--durations")]
    assert variables == slowest_tests.pytest_env(unit)
    assert line[python + 1:] == script_args
