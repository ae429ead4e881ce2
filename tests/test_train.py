"""The trainer: exact resume, checkpoints (atomic, weights_only, origin and config checks), load-or-train."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
import torch

import vaelib.train as train_mod
from vaelib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from vaelib.config import get_device
from vaelib.models import ModelConfig
from vaelib.pretrained import load_or_train
from vaelib.train import TrainConfig, model_from_checkpoint, train

TINY = TrainConfig(model=ModelConfig(latent_dim=3, hidden=(32,)), epochs=3, batch_size=100, limit=500, seed=7)


def test_training_improves_the_validation_elbo(mnist):
    result = train(replace(TINY, epochs=4, limit=2000), mnist, "cpu", progress=False)
    h = result.history
    assert len(h["val_elbo"]) == 4 and h["val_elbo"][-1] > h["val_elbo"][0] + 5
    for key in ("train", "val"):  # elbo = -(recon + kl), per example
        assert abs(h[f"{key}_elbo"][-1] + h[f"{key}_recon"][-1] + h[f"{key}_kl"][-1]) < 1e-3


def test_resumed_run_equals_uninterrupted_run(mnist, tmp_path, monkeypatch):
    full = train(TINY, mnist, "cpu", checkpoint=tmp_path / "full.pt", progress=False)
    real_epoch, calls = train_mod._train_epoch, []

    def crash_on_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run dies mid-way; epoch 1's checkpoint is on disk
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_mod, "_train_epoch", crash_on_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(TINY, mnist, "cpu", checkpoint=tmp_path / "resumed.pt", progress=False)
    monkeypatch.setattr(train_mod, "_train_epoch", real_epoch)
    assert load_checkpoint(tmp_path / "resumed.pt")["epoch"] == 1
    resumed = train(TINY, mnist, "cpu", checkpoint=tmp_path / "resumed.pt", progress=False)
    assert resumed.source == "resumed"
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    for key in ("train_elbo", "val_elbo", "val_kl"):
        assert full.history[key] == resumed.history[key]


def test_checkpoint_holds_everything_and_loads_with_weights_only(mnist, tmp_path):
    path = tmp_path / "run.pt"
    train(replace(TINY, epochs=1), mnist, "cpu", checkpoint=path, progress=False)
    state = torch.load(path, weights_only=True)
    assert {"format", "config", "epoch", "model", "optimizer", "history", "rng"} <= set(state)
    model, _ = model_from_checkpoint(path)
    assert model.latent_dim == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_atomic_write_keeps_the_old_file_when_saving_fails(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"config": {}, "epoch": 1})

    def broken_save(obj, f, *a, **k):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, {"config": {}, "epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1 and not list(tmp_path.glob("*.tmp"))


def test_checkpoint_with_another_config_is_one_clear_error(mnist, tmp_path):
    path = tmp_path / "run.pt"
    train(replace(TINY, epochs=1), mnist, "cpu", checkpoint=path, progress=False)
    other = replace(TINY, epochs=1, lr=3e-4, model=replace(TINY.model, latent_dim=5))
    with pytest.raises(CheckpointError, match=r"different config \(lr: .*model\.latent_dim: checkpoint has 3, requested 5\)"):
        train(other, mnist, "cpu", checkpoint=path, progress=False)


@pytest.mark.parametrize("content", [b"not a torch file at all", None])
def test_a_file_that_is_not_ours_is_one_clear_error(tmp_path, content):
    path = tmp_path / "foreign.pt"
    if content is None:
        torch.save({"state_dict": {}}, path)  # a torch file, but not a vaelib checkpoint
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="is not a (readable )?vaelib checkpoint"):
        load_checkpoint(path)


def test_load_or_train_trains_once_then_loads(mnist, tmp_path, capsys):
    path = tmp_path / "lot.pt"
    first = load_or_train(replace(TINY, epochs=1), mnist, "cpu", path=path, progress=False)
    assert first.source == "trained" and "training" in capsys.readouterr().out
    second = load_or_train(replace(TINY, epochs=1), mnist, "cpu", path=path, progress=False)
    assert second.source == "loaded" and "loaded" in capsys.readouterr().out
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)


def test_config_round_trips_and_key_is_stable():
    assert TrainConfig.from_dict(TINY.to_dict()) == TINY
    assert TINY.key() == TrainConfig.from_dict(TINY.to_dict()).key() != replace(TINY, seed=8).key()


def test_lr_schedule_and_kl_warmup():
    cfg = replace(TINY, epochs=10, lr=1.0, lr_schedule="cosine", beta=2.0, warmup_epochs=4)
    assert cfg.lr_at(0) == 1.0 and abs(cfg.lr_at(5) - 0.5) < 1e-12
    assert [cfg.beta_at(e) for e in range(5)] == [0.5, 1.0, 1.5, 2.0, 2.0]


def test_unknown_device_is_one_clear_error():
    with pytest.raises(ValueError, match="Unknown device 'gpu0'.*'auto', 'cpu'"):
        get_device("gpu0")
    assert get_device("cpu").type == "cpu"


def test_cli_help_runs():
    out = subprocess.run([sys.executable, "-m", "vaelib.train", "--help"], capture_output=True, text=True, check=True)
    assert "--latent-dim" in out.stdout and "--kl-reduction" in out.stdout
