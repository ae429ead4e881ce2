"""vaelib.config: the smoke switch, paths from the environment, seeding, the device choice."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from vaelib.config import REPO_ROOT, data_root, get_device, pick, runs_dir, seed_everything, smoke


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), (" yes ", True), ("0", False), ("", False)])
def test_smoke_switch_reads_the_environment_each_time(monkeypatch, value, expected):
    monkeypatch.setenv("VAELIB_SMOKE", value)
    assert smoke() is expected and pick("full", "smoke") == ("smoke" if expected else "full")


def test_runs_dir_from_the_environment_or_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv("VAELIB_RUNS", str(tmp_path / "r"))
    assert runs_dir() == (tmp_path / "r").resolve()
    monkeypatch.delenv("VAELIB_RUNS")
    assert runs_dir() == REPO_ROOT / "runs"


def test_data_root_accepts_the_mnist_or_raw_folder_itself_but_keeps_a_real_root(tmp_path):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    assert data_root(tmp_path / "MNIST" / "raw") == data_root(tmp_path / "MNIST") == data_root(tmp_path) == tmp_path
    nested = tmp_path / "MNIST" / "MNIST" / "raw"  # a root that happens to be called MNIST stays itself
    nested.mkdir(parents=True)
    assert data_root(tmp_path / "MNIST") == tmp_path / "MNIST"


def test_seed_everything_seeds_python_numpy_torch_and_returns_a_seeded_generator():
    draws = []
    for _ in range(2):
        g = seed_everything(123)
        draws.append((random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g).item()))
    assert draws[0] == draws[1]
    assert draws[0][3] == torch.rand(1, generator=torch.Generator().manual_seed(123)).item()


def test_device_choice_is_explicit_and_errors_say_what_to_use(capsys):
    assert get_device("cpu").type == "cpu"
    auto = get_device("auto")
    assert "resolved to" in capsys.readouterr().out and auto.type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="use one of 'auto', 'cpu'"):
        get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available here: use 'auto' or 'cpu'"):
            get_device("cuda:0")
