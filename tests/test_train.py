"""The trainer: exact resume, checkpoints (atomic, weights_only, origin and config checks), load-or-train."""
from __future__ import annotations

import math
import os
from dataclasses import replace

import pytest
import torch

import vaelib.train as train_mod
from vaelib.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from vaelib.config import get_device
from vaelib.data import pixels
from vaelib.losses import elbo_terms
from vaelib.models import ModelConfig, build_model
from vaelib.pretrained import load_or_train
from vaelib.train import TrainConfig, estimate_seconds, model_from_checkpoint, train, training_loss

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
    with pytest.raises(CheckpointError, match="Could not write"):
        save_checkpoint(path, {"config": {}, "epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1 and not list(tmp_path.glob("*.tmp"))


def test_checkpoint_with_another_config_is_one_clear_error(mnist, tmp_path):
    path = tmp_path / "run.pt"
    train(replace(TINY, epochs=1), mnist, "cpu", checkpoint=path, progress=False)
    other = replace(TINY, epochs=1, lr=3e-4, model=replace(TINY.model, latent_dim=5))
    with pytest.raises(CheckpointError,
                       match=r"different config \(lr: .*model\.latent_dim: checkpoint has 3, requested 5\)"):
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


def test_every_epoch_shuffles_in_a_new_order_from_the_seeded_generator(synthetic_mnist, monkeypatch):
    orders, real = [], train_mod.batch_indices

    def recording(*args, **kwargs):
        batches = list(real(*args, **kwargs))
        orders.append(torch.cat(batches))
        return iter(batches)

    monkeypatch.setattr(train_mod, "batch_indices", recording)
    cfg = replace(TINY, epochs=3, limit=None)
    train(cfg, synthetic_mnist, "cpu", progress=False)
    first_run, orders[:] = list(orders), []
    train(cfg, synthetic_mnist, "cpu", progress=False)
    n = len(synthetic_mnist.train_x)
    assert len(first_run) == 3 and all(torch.equal(o.sort().values, torch.arange(n)) for o in first_run)
    for a in range(3):  # a new permutation every epoch (two equal ones by chance: probability 1/300!)
        for b in range(a + 1, 3):
            assert not torch.equal(first_run[a], first_run[b]), (a, b)
        assert torch.equal(first_run[a], orders[a])  # ... and the same ones for the same seed


class _RunsCode:
    """Pickles to a call of os.mkdir: what a malicious "checkpoint" could run if it were unpickled freely."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __reduce__(self):
        return (os.mkdir, (self.folder,))


def test_checkpoint_holding_arbitrary_pickled_code_is_refused_and_never_run(tmp_path):
    marker, path = tmp_path / "code-ran", tmp_path / "evil.pt"
    payload = _RunsCode(str(marker))
    torch.save({"format": FORMAT, "kind": "vae", "config": {}, "epoch": 1, "model": {}, "payload": payload}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_checkpoint(path)  # torch.load(weights_only=True) refuses the os.mkdir global
    assert not marker.exists()
    with pytest.raises(CheckpointError):
        model_from_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_training_loss_is_recon_plus_beta_kl_with_the_configured_kl_reduction(reduction):
    cfg = replace(TINY, kl_reduction=reduction, model=replace(TINY.model, latent_dim=5))
    model = build_model(cfg.model)
    x = pixels(torch.randint(0, 256, (20, 784), generator=torch.Generator().manual_seed(1), dtype=torch.uint8), True,
               torch.Generator().manual_seed(2))
    loss, stacked = training_loss(model, cfg, x, torch.Generator().manual_seed(3), beta=0.7)
    terms = elbo_terms(model, x, torch.Generator().manual_seed(3))  # the same z draws
    kl = terms.kl / 5 if reduction == "mean" else terms.kl  # "mean" over D = 5 latent dims: a hidden beta of 1/5
    assert terms.kl.min() > 0.01  # so the two reductions differ
    assert torch.allclose(loss, (terms.recon + 0.7 * kl).mean(), rtol=1e-6, atol=0)
    assert torch.allclose(stacked, torch.stack([terms.elbo, terms.recon, terms.kl]))  # history: the true ELBO terms


def test_estimate_seconds_extrapolates_its_timed_steps_to_the_whole_run(synthetic_mnist):
    cfg = replace(TINY, epochs=4, limit=None)  # 300 images, batch 100: 3 steps per epoch
    t = estimate_seconds(cfg, synthetic_mnist, "cpu", steps=3, warmup_steps=1)
    assert 0 < t["seconds_per_step"] and 3 * t["seconds_per_step"] <= t["seconds_per_epoch"]  # + one validation pass
    assert math.isclose(t["seconds_total"], 4 * t["seconds_per_epoch"], rel_tol=1e-12)


def test_warmup_linear_lr_rises_over_the_warmup_then_falls_every_step():
    cfg = replace(TINY, epochs=2, lr=1e-2, lr_schedule="warmup-linear", lr_warmup=0.1)
    lrs = [cfg.lr_at(epoch, step, 50) for epoch in range(2) for step in range(50)]  # 100 steps, 10 of warm-up
    assert lrs[0] == pytest.approx(1e-3) and lrs[9] == pytest.approx(1e-2) and lrs[-1] == pytest.approx(1e-2 / 91)
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10])) and all(a > b for a, b in zip(lrs[9:], lrs[10:]))
    assert replace(TINY, lr_schedule="cosine").lr_at(1, 7, 50) == replace(TINY, lr_schedule="cosine").lr_at(1)


def test_bf16_layers_keep_the_loss_terms_in_fp32_and_close(synthetic_mnist):
    model = build_model(TINY.model)
    x = pixels(synthetic_mnist.train_x[:100], True, torch.Generator().manual_seed(1))
    l32, t32 = training_loss(model, TINY, x, torch.Generator().manual_seed(2), 1.0)
    l16, t16 = training_loss(model, replace(TINY, precision="bf16"), x, torch.Generator().manual_seed(2), 1.0)
    assert l16.dtype == t16.dtype == torch.float32 and l16.item() == pytest.approx(l32.item(), rel=1e-2)


def test_init_output_bias_starts_the_decoder_at_the_mean_training_image(synthetic_mnist):
    model = build_model(TINY.model)
    train_mod.init_output_bias(model, synthetic_mnist.train_x)
    mean = (synthetic_mnist.train_x.double() / 255).mean(0).clamp(1e-3, 1 - 1e-3)
    z = torch.zeros(1, TINY.model.latent_dim)
    assert torch.allclose(torch.sigmoid(model.decoder[-1].bias.double()), mean, atol=1e-6)
    assert model.decode(z).shape == (1, 784)
