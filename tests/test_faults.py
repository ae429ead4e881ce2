"""Faults and bad inputs (issue 14, section 2): each gives ONE sentence that says what is wrong and what to do, and
no file the user had is lost or overwritten. One test per fault; the comment above each names the fault."""
from __future__ import annotations

import errno
import gzip
import io
import json
import math
import os
import re
import shutil
import signal
import socket
import sys
import time
import urllib.error
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import vaelib.checkpoint as ckpt_mod
import vaelib.checks as checks
import vaelib.data as data_mod
import vaelib.pretrained as pretrained_mod
import vaelib.train as train_mod
import vaelib.twostage as twostage_mod
from vaelib.build import main as build_main
from vaelib.checkpoint import CheckpointError, file_digest, load_checkpoint, load_model_state, save_checkpoint
from vaelib.config import PRETRAINED_DIR, data_root, runs_dir
from vaelib.data import MNIST_MD5, DataError, load_mnist
from vaelib.evaluate import evaluate, mean_se
from vaelib.expost import fit_mixture, select_mixture
from vaelib.latent import encode_dataset
from vaelib.losses import iwae_log_px, kl_std_normal, reparameterize
from vaelib.models import ModelConfig, build_model
from vaelib.pretrained import PretrainedError, load_or_train, load_pretrained
from vaelib.scores import frechet_distance
from vaelib.train import TrainConfig, TrainingDiverged, model_from_checkpoint, train

TINY = TrainConfig(model=ModelConfig(latent_dim=3, hidden=(16,)), epochs=2, batch_size=100, seed=3)


def one_sentence(message: str) -> bool:
    """One line, ending in a full stop, and no full stop followed by a new sentence."""
    return "\n" not in message and message.rstrip().endswith(".") and not re.search(r"[.!?]\s+[A-Z]", message)


def assert_one_sentence(err: BaseException | str) -> str:
    message = str(err.value if hasattr(err, "value") else err)
    assert one_sentence(message), f"not one sentence: {message!r}"
    assert "delete" not in message.lower(), message  # never advise deleting a file
    return message


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes (to show that nothing was lost or overwritten)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- shipped files (items 1, 4, 6) ---------------------------------------------------------------------------------

@pytest.fixture
def shipped(tmp_path, monkeypatch, synthetic_mnist):
    """A stand-in pretrained/ folder with one tiny shipped model and its manifest; runs/ in tmp too."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    monkeypatch.setattr(pretrained_mod, "PRETRAINED_DIR", folder)
    monkeypatch.setattr(pretrained_mod, "MANIFEST", folder / "manifest.json")
    monkeypatch.setenv("VAELIB_RUNS", str(tmp_path / "runs"))
    result = train(TINY, synthetic_mnist, "cpu", progress=False)
    file = save_checkpoint(folder / "tiny.pt", {"config": TINY.to_dict(), "epoch": TINY.epochs,
                                                 "history": result.history, "model": result.model.state_dict()})
    entry = {"name": "tiny", "kind": "vae", "file": "tiny.pt", "sha256": file_digest(file), "config": TINY.to_dict(),
             "command": "python -m vaelib.build tiny"}
    (folder / "manifest.json").write_text(json.dumps({"models": [entry]}))
    return folder


# fault 1: load_or_train skipped the sha256 check, so a changed shipped file loaded silently with other weights
def test_load_or_train_refuses_a_changed_shipped_file_and_trains_nothing(shipped, synthetic_mnist, tmp_path):
    assert load_or_train(TINY, synthetic_mnist, "cpu", progress=False).source == "loaded"  # intact: loaded
    data = bytearray((shipped / "tiny.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the weights
    (shipped / "tiny.pt").write_bytes(bytes(data))
    before = snapshot(shipped)
    for load in (lambda: load_or_train(TINY, synthetic_mnist, "cpu", progress=False), lambda: load_pretrained("tiny")):
        with pytest.raises(PretrainedError, match="does not match its sha256") as err:
            load()
        assert "git checkout" in assert_one_sentence(err) and "python -m vaelib.build tiny" in str(err.value)
    assert snapshot(shipped) == before and not (tmp_path / "runs").exists()  # nothing trained, nothing rewritten


# fault 4: a missing shipped file gave FileNotFoundError, and load_or_train trained ~100 epochs into pretrained/
def test_missing_shipped_file_says_how_to_restore_it_and_load_or_train_does_not_train(shipped, synthetic_mnist,
                                                                                      tmp_path):
    (shipped / "tiny.pt").unlink()
    for load in (lambda: load_or_train(TINY, synthetic_mnist, "cpu", progress=False), lambda: load_pretrained("tiny")):
        with pytest.raises(PretrainedError, match="is missing") as err:
            load()
        assert "git checkout -- pretrained/" in assert_one_sentence(err)
    assert sorted(p.name for p in shipped.iterdir()) == ["manifest.json"] and not (tmp_path / "runs").exists()


# fault 4 (the other half): an ordinary run must never write a shipped file
def test_training_into_pretrained_is_refused_by_train_and_by_the_cli(synthetic_mnist, monkeypatch, capsys):
    target = PRETRAINED_DIR / "mlp-d2.pt"
    before = target.read_bytes()
    with pytest.raises(ValueError, match="inside pretrained/") as err:
        train(TINY, synthetic_mnist, "cpu", checkpoint=PRETRAINED_DIR / "mlp-d2.pt", progress=False)
    assert_one_sentence(err)
    monkeypatch.setattr(train_mod, "load_mnist", lambda root=None: synthetic_mnist)
    with pytest.raises(SystemExit) as stop:
        train_mod.main(["--latent-dim", "2", "--hidden", "8", "--epochs", "1", "--device", "cpu",
                        "--out", str(PRETRAINED_DIR / "mlp-d2.pt")])
    assert stop.value.code != 0 and "inside pretrained/" in capsys.readouterr().err
    assert target.read_bytes() == before  # not rewritten, and no lock or temporary file made beside it
    assert not [p for p in PRETRAINED_DIR.iterdir() if p.name.startswith("mlp-d2.pt.")]


# fault 6: a missing manifest was not noticed (load_or_train trained quietly; load_pretrained said "available: []")
def test_missing_manifest_is_one_clear_error_not_a_training_run(shipped, synthetic_mnist, tmp_path):
    (shipped / "manifest.json").unlink()
    for load in (lambda: load_or_train(TINY, synthetic_mnist, "cpu", progress=False), lambda: load_pretrained("tiny")):
        with pytest.raises(PretrainedError, match="manifest.json is missing") as err:
            load()
        assert "git checkout" in assert_one_sentence(err)
    assert not (tmp_path / "runs").exists()


# fault 6: bad JSON in the manifest gave a raw JSONDecodeError
@pytest.mark.parametrize("text", ['{"models": [', '{"about": "no models key"}', "[]"], ids=["cut", "no-key", "list"])
def test_unreadable_manifest_is_one_clear_error(shipped, text):
    (shipped / "manifest.json").write_text(text)
    with pytest.raises(PretrainedError, match="is not a valid manifest") as err:
        load_pretrained("tiny")
    assert_one_sentence(err)
    assert (shipped / "manifest.json").read_text() == text  # left as it was, for the user to restore


# fault 6: vaelib installed away from its repository (plain `pip install .`) has no pretrained/ beside it
def test_vaelib_outside_its_repository_says_to_use_a_clone(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained_mod, "MANIFEST", tmp_path / "site-packages" / "pretrained" / "manifest.json")
    with pytest.raises(PretrainedError, match="use vaelib from a clone of the repository") as err:
        load_pretrained("mlp-d2")
    assert_one_sentence(err)


# --- the trainer (items 2, 3) --------------------------------------------------------------------------------------

# fault 2: a diverging run was saved as finished (NaN weights over a good checkpoint, exit status 0)
def test_diverging_run_stops_before_saving_and_keeps_the_last_good_checkpoint(synthetic_mnist, tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    real_epoch, calls = train_mod._train_epoch, []

    def nan_in_epoch_two(*args, **kwargs):
        calls.append(1)
        out = real_epoch(*args, **kwargs)
        if len(calls) == 2:
            with torch.no_grad():  # what a blown-up step leaves behind: NaN weights and a NaN loss
                for p in args[0].parameters():
                    p.fill_(math.nan)
            return (math.nan, *out[1:])
        return out

    monkeypatch.setattr(train_mod, "_train_epoch", nan_in_epoch_two)
    with pytest.raises(TrainingDiverged, match="epoch 2") as err:
        train(TINY, synthetic_mnist, "cpu", checkpoint=path, progress=False)
    message = assert_one_sentence(err)
    assert "still holds epoch 1" in message and "lower learning rate" in message
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and len(state["history"]["train_elbo"]) == 1
    assert not ckpt_mod.nonfinite_tensors(state["model"])  # the good epoch-1 weights, not the NaN ones
    assert not list(tmp_path.glob("*.tmp"))


# fault 2, for real and through the command line: a huge learning rate; exit non-zero with one sentence
def test_huge_learning_rate_makes_the_cli_exit_non_zero_with_one_sentence(synthetic_mnist, tmp_path, monkeypatch,
                                                                           capsys):
    monkeypatch.setattr(train_mod, "load_mnist", lambda root=None: synthetic_mnist)
    out = tmp_path / "lr.pt"
    with pytest.raises(SystemExit) as stop:
        train_mod.main(["--latent-dim", "3", "--hidden", "16", "--epochs", "2", "--lr", "1000", "--device", "cpu",
                        "--out", str(out)])
    assert stop.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: Training diverged in epoch 1") and "now 1000" in err
    assert_one_sentence(err.removeprefix("error: "))
    assert not out.exists()  # nothing finished, so nothing was saved as if it were


# fault 3: two runs writing one output path both reported success, and one run was lost
def test_second_run_on_the_same_output_fails_at_once_and_the_first_file_is_intact(synthetic_mnist, tmp_path,
                                                                                   monkeypatch):
    path = tmp_path / "shared.pt"
    other = replace(TINY, lr=3e-4, model=replace(TINY.model, latent_dim=5))
    real_epoch, seen = train_mod._train_epoch, []

    def second_run_meanwhile(*args, **kwargs):
        if not seen:  # while run A trains its first epoch, run B asks for the same output path
            t0 = time.perf_counter()
            try:
                train(other, synthetic_mnist, "cpu", checkpoint=path, progress=False)
            except CheckpointError as err:
                seen.append((str(err), time.perf_counter() - t0))
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_mod, "_train_epoch", second_run_meanwhile)
    first = train(TINY, synthetic_mnist, "cpu", checkpoint=path, progress=False)
    assert len(seen) == 1, "the second run was not refused"
    message, seconds = seen[0]
    assert "Another run is writing to" in message and "another output path" in assert_one_sentence(message)
    assert seconds < 5  # at once, not after waiting for the first run
    state = load_checkpoint(path)
    assert state["config"] == TINY.to_dict() and state["epoch"] == TINY.epochs
    assert all(torch.equal(a, b) for a, b in zip(state["model"].values(), first.model.state_dict().values()))


# item 9: the trainer never said that it resumed, or that the run was already finished
def test_train_says_when_it_resumes_and_when_the_run_is_already_finished(synthetic_mnist, tmp_path, monkeypatch,
                                                                         capsys):
    path = tmp_path / "resume.pt"
    real_epoch, calls = train_mod._train_epoch, []

    def interrupted_in_epoch_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_mod, "_train_epoch", interrupted_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(TINY, synthetic_mnist, "cpu", checkpoint=path, progress=False)
    monkeypatch.setattr(train_mod, "_train_epoch", real_epoch)
    capsys.readouterr()
    assert train(TINY, synthetic_mnist, "cpu", checkpoint=path).source == "resumed"
    assert "resuming resume.pt at epoch 2 of 2" in capsys.readouterr().out
    assert train(TINY, synthetic_mnist, "cpu", checkpoint=path).source == "loaded"
    assert "already holds all 2 epochs" in capsys.readouterr().out


# item 9: a Control-C in the command line printed a traceback instead of how to resume
def test_cli_interrupted_says_how_to_resume(synthetic_mnist, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(train_mod, "load_mnist", lambda root=None: synthetic_mnist)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "train", interrupted)
    with pytest.raises(SystemExit) as stop:
        train_mod.main(["--epochs", "1", "--out", str(tmp_path / "x.pt")])
    assert stop.value.code == 130 and "rerun the same command to resume" in capsys.readouterr().err


# --- checkpoints (items 5, 7, 8) -----------------------------------------------------------------------------------

def _save_and_get_killed(path: Path) -> int:
    """Fork; the child starts a save and is killed by SIGKILL half-way (no cleanup code can run); return its status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            def dying_save(obj, f, *args, **kwargs):
                f.write(b"x" * 100_000)  # half a checkpoint on disk, then the kill
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)

            torch.save = dying_save
            save_checkpoint(path, {"epoch": 99})
        finally:
            os._exit(1)
    return os.waitpid(pid, 0)[1]


# fault 5: killed saves left a new .tmp file each time (23 kills, 201 MB), and nothing cleaned them
def test_killed_saves_leave_only_their_own_tmp_and_the_next_save_cleans_them(tmp_path):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"epoch": 1})
    for _ in range(2):  # two real kills mid-save
        status = _save_and_get_killed(path)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "run.pt"]
    # each save (killed or not) first removes what an earlier killed save left: one .tmp, of its own unique name
    assert len(leftovers) == 1 and re.fullmatch(r"run\.pt\.\d+-[0-9a-f]{8}\.tmp", leftovers[0])
    assert load_checkpoint(path)["epoch"] == 1  # the previous checkpoint is intact
    save_checkpoint(path, {"epoch": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"] and load_checkpoint(path)["epoch"] == 2


# fault 5 (Control-C): an interrupt mid-save leaves no temporary file and the old checkpoint
def test_interrupted_save_leaves_no_tmp_and_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"epoch": 1})

    def interrupted_save(obj, f, *args, **kwargs):
        f.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"] and load_checkpoint(path)["epoch"] == 1


class _FullDisk(io.FileIO):
    """A file on a disk with ``room`` bytes left: writes past it fail with ENOSPC, as the kernel's would."""

    room = 50_000

    def write(self, b):  # type: ignore[override]
        if self.tell() + len(b) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(b)


# fault 7: a full disk gave PyTorch's raw "unexpected pos ..." error, which never says that the disk is full
def test_full_disk_during_torch_save_names_the_disk_and_its_free_space(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"epoch": 1})
    before = path.read_bytes()
    monkeypatch.setattr(ckpt_mod, "open", lambda p, mode="r": _FullDisk(p, mode.replace("b", "")), raising=False)
    with pytest.raises(CheckpointError, match=r"the disk that holds .* is full \(\d+ MB free there\)") as err:
        save_checkpoint(path, {"epoch": 2, "model": {"w": torch.zeros(100_000)}})  # 400 KB: does not fit
    assert str(tmp_path) in assert_one_sentence(err) and "another disk" in str(err.value)
    assert path.read_bytes() == before and not list(tmp_path.glob("*.tmp"))


# fault 7: ENOSPC can also come from the final flush to disk (fsync)
def test_full_disk_at_fsync_is_the_same_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"epoch": 1})

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt_mod.os, "fsync", no_space)
    with pytest.raises(CheckpointError, match="is full") as err:
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert_one_sentence(err)
    assert load_checkpoint(path)["epoch"] == 1 and not list(tmp_path.glob("*.tmp"))


# item 8: a folder that cannot be written gave a raw OSError
def test_unwritable_output_folder_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(CheckpointError, match="Could not write") as err:
        save_checkpoint(blocker / "sub" / "run.pt", {"epoch": 1})
    assert_one_sentence(err)
    assert blocker.read_text() == "a file where a folder should be"


def _saved_model(path: Path, cfg: TrainConfig, edit) -> Path:
    model = build_model(cfg.model)
    state = model.state_dict()
    edit(state)
    return save_checkpoint(path, {"config": cfg.to_dict(), "epoch": 1, "history": {}, "model": state})


# item 8: a checkpoint with a wrong tensor shape, a missing tensor, or NaN weights gave raw errors (or loaded)
@pytest.mark.parametrize("fault,edit,expected", [
    ("wrong shape", lambda s: s.update({"encoder.0.weight": torch.zeros(7, 784)}),
     r"shape encoder\.0\.weight \(7, 784\)"),
    ("missing key", lambda s: s.pop("decoder.0.bias"), "missing decoder.0.bias"),
    ("extra key", lambda s: s.update({"extra.weight": torch.zeros(2)}), "unexpected extra.weight"),
    ("NaN weights", lambda s: s["decoder.0.weight"].fill_(math.nan), "non-finite weights"),
], ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_damaged_or_mismatched_weights_are_one_clear_error(tmp_path, fault, edit, expected):
    path = _saved_model(tmp_path / "bad.pt", TINY, edit)
    with pytest.raises(CheckpointError, match=expected) as err:
        model_from_checkpoint(path)
    assert_one_sentence(err)


# item 8: resuming from a checkpoint with NaN weights must not continue training from them
def test_resuming_from_nan_weights_is_refused(tmp_path, synthetic_mnist):
    path = _saved_model(tmp_path / "nan.pt", TINY, lambda s: s["encoder.0.bias"].fill_(math.nan))
    with pytest.raises(CheckpointError, match="diverged run"):
        train(TINY, synthetic_mnist, "cpu", checkpoint=path, progress=False)


# --- data (item 8) -------------------------------------------------------------------------------------------------

@pytest.fixture
def raw_files():
    """The four canonical raw MNIST files (from $VAELIB_DATA); skipped where they are absent."""
    try:
        return data_mod.raw_folder(data_mod.verify_mnist())  # resolved root -> its MNIST/raw
    except DataError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"MNIST not available: {err}")


def _no_download(monkeypatch):
    calls = []

    def offline(root):
        calls.append(root)
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(data_mod, "_download", offline)
    return calls


# item 8: a folder with only .gz files that fail torchvision's checksums gave a misleading "could not download"
@pytest.mark.parametrize("damage", ["not gzip", "cut short", "complete but other bytes"])
def test_gz_files_that_fail_the_checksum_are_named_and_left_untouched(tmp_path, monkeypatch, damage):
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    payload = bytes(torch.randint(0, 256, (20_000,), generator=torch.Generator().manual_seed(0)).tolist())
    whole = gzip.compress(payload)  # random bytes do not compress: cutting the stream in half really truncates it
    cut = whole[:len(whole) // 2]
    with pytest.raises(EOFError):
        gzip.decompress(cut)
    damaged = {"not gzip": b"<html>404</html>", "cut short": cut, "complete but other bytes": whole}[damage]
    for name in MNIST_MD5:
        (folder / f"{name}.gz").write_bytes(damaged)
    before = snapshot(tmp_path)
    calls = _no_download(monkeypatch)
    with pytest.raises(DataError, match=r"\.gz fails torchvision's checksum") as err:
        load_mnist(tmp_path)
    assert "replace the .gz" in assert_one_sentence(err)
    assert snapshot(tmp_path) == before and calls == []  # nothing deleted, written or fetched over them


# item 8: a mix of .gz and raw files said "MNIST not found" although every file was there
def test_a_mix_of_gz_and_raw_files_loads_and_existing_files_are_kept(tmp_path, monkeypatch, raw_files):
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    as_raw = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    as_gz = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    for name in as_raw:
        os.symlink(raw_files / name, folder / name)
    for name in as_gz:
        (folder / f"{name}.gz").write_bytes(gzip.compress((raw_files / name).read_bytes(), compresslevel=1))
    gz_before = {name: (folder / f"{name}.gz").read_bytes() for name in as_gz}
    calls = _no_download(monkeypatch)
    data = load_mnist(tmp_path, limit=50)
    assert calls == [] and torch.equal(data.test_x, load_mnist(limit=50).test_x)
    assert all((folder / name).is_symlink() for name in as_raw)  # the user's raw files are as they were
    assert {name: (folder / f"{name}.gz").read_bytes() for name in as_gz} == gz_before
    assert all(file_digest(folder / name, "md5") == MNIST_MD5[name] for name in as_gz)  # decompressed and verified


# item 8: VAELIB_DATA pointing at MNIST/raw itself was not understood
def test_vaelib_data_may_name_the_mnist_raw_folder_itself(tmp_path, monkeypatch, raw_files):
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for name in MNIST_MD5:
        os.symlink(raw_files / name, folder / name)
    _no_download(monkeypatch)
    for given in (folder, tmp_path / "MNIST"):
        monkeypatch.setenv("VAELIB_DATA", str(given))
        assert data_root() == tmp_path.resolve()
        assert len(load_mnist(limit=5).train_x) == 5


# item 8: the four files directly in the folder VAELIB_DATA names (not in MNIST/raw/): say exactly what to do
def test_files_directly_in_the_data_folder_say_where_they_belong(tmp_path, monkeypatch, raw_files):
    for name in MNIST_MD5:
        os.symlink(raw_files / name, tmp_path / name)
    before = snapshot(tmp_path)
    calls = _no_download(monkeypatch)
    monkeypatch.setenv("VAELIB_DATA", str(tmp_path))
    with pytest.raises(DataError, match="directly in") as err:
        load_mnist()
    assert f"move them into {tmp_path / 'MNIST' / 'raw'}/" in assert_one_sentence(err)
    assert calls == [] and snapshot(tmp_path) == before


# item 8: a failed offline download left empty MNIST/raw folders behind
def test_failed_download_leaves_no_empty_folders_and_keeps_what_was_there(tmp_path, monkeypatch):
    def torchvision_offline(root):  # what torchvision does offline: makes MNIST/raw, then fails
        os.makedirs(Path(root) / "MNIST" / "raw", exist_ok=True)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(data_mod, "_download", torchvision_offline)
    with pytest.raises(DataError, match="could not be downloaded") as err:
        load_mnist(tmp_path / "new")
    assert "VAELIB_DATA" in assert_one_sentence(err)
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError):
        load_mnist(tmp_path / "mine")
    assert snapshot(tmp_path / "mine") == {"notes.txt": b"keep me"}
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


# item 8: a partial data folder (two raw files) is completed by a download without touching the two it has
def test_download_fills_in_only_the_missing_files(tmp_path, monkeypatch, raw_files):
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        os.symlink(raw_files / name, folder / name)

    def torchvision_online(root):
        target = Path(root) / "MNIST" / "raw"
        target.mkdir(parents=True)
        for name in MNIST_MD5:
            shutil.copy(raw_files / name, target / name)

    monkeypatch.setattr(data_mod, "_download", torchvision_online)
    assert len(load_mnist(tmp_path, limit=3).test_x) == 3
    assert (folder / "train-images-idx3-ubyte").is_symlink() and (folder / "t10k-labels-idx1-ubyte").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MNIST"]  # the staging folder is gone


# --- the command line (item 9) -------------------------------------------------------------------------------------

# fault 9: the command line accepted nonsense values
@pytest.mark.parametrize("argv", [["--limit", "-5"], ["--warmup-epochs", "-1"], ["--batch-size", "0"],
                                  ["--latent-dim", "0"], ["--epochs", "0"], ["--lr", "0"], ["--hidden", "64", "0"],
                                  ["--eval-k", "-1"]], ids=lambda a: " ".join(a))
def test_cli_rejects_nonsense_values(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        train_mod._parse(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[0]}" in err and ("must be > 0" in err or "must be >= 0" in err)


# fault 9: values argparse cannot judge alone (the config's own checks) end in one sentence and a non-zero status
@pytest.mark.parametrize("argv,expected", [(["--beta", "-1"], "beta must be >= 0"),
                                           (["--device", "gpu0"], "Unknown device 'gpu0'")])
def test_cli_config_errors_are_one_sentence_and_non_zero(argv, expected, synthetic_mnist, monkeypatch, capsys,
                                                         tmp_path):
    monkeypatch.setattr(train_mod, "load_mnist", lambda root=None: synthetic_mnist)
    with pytest.raises(SystemExit) as stop:
        train_mod.main([*argv, "--epochs", "1", "--out", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and expected in err and "Traceback" not in err
    assert_one_sentence(err.removeprefix("error: "))


# fault 9: --help showed no defaults and no example
def test_cli_help_shows_defaults_and_an_example(capsys):
    with pytest.raises(SystemExit) as stop:
        train_mod._parse(["--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and out.startswith("usage: python -m vaelib.train")
    assert "B, images per step (default: 128)" in out and "D, the latent dimension (default: 50)" in out
    assert "\n  python -m vaelib.train --latent-dim 50 --hidden 512 512 --epochs 200" in out  # the example, on one line


# the build command took --k and --n-test of 0 or below
@pytest.mark.parametrize("argv", [["mlp-d2", "--k", "0"], ["mlp-d2", "--n-test", "-3"], ["no-such-model"]])
def test_build_cli_rejects_nonsense_before_doing_anything(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        build_main(argv)
    assert stop.value.code == 2 and "error:" in capsys.readouterr().err


# --- numerics outside the sliders' ranges (item 10) ----------------------------------------------------------------

# fault 10: iwae_log_px on an empty batch raised ZeroDivisionError
def test_iwae_on_an_empty_batch_is_empty():
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,)))
    out = iwae_log_px(model, torch.zeros(0, 784), k=10)
    assert out.shape == (0,)


# fault 10: evaluate on an empty batch returned a dict without "elbo"
def test_evaluate_on_no_images_is_one_clear_error():
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,)))
    with pytest.raises(ValueError, match="x is empty") as err:
        evaluate(model, torch.zeros(0, 784, dtype=torch.uint8), k=5)
    assert_one_sentence(err)


# fault 10: the KL overflowed in float16 at D = 1000 (a sum of 1000 terms passes float16's 65,504)
def test_kl_of_half_precision_inputs_is_computed_in_float32_without_overflow(g):
    D = 1000
    mu = (12 + torch.randn(4, D, generator=g)).half()  # each dimension contributes ~72 nats: ~72,000 in all
    logvar = torch.randn(4, D, generator=g).half()
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu.double(), (0.5 * logvar.double()).exp()), torch.distributions.Normal(0.0, 1.0)
    ).sum(-1)
    assert ref.min() > 65_504  # the true value does not fit in float16
    got = kl_std_normal(mu, logvar)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    assert torch.allclose(got.double(), ref, rtol=1e-6)


# fault 10: a standard deviation of 0 (logvar = -inf) is the exact limit, not an error: KL = inf, z = mu
def test_zero_standard_deviation_gives_the_exact_limits():
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[-math.inf, 0.0]])
    assert kl_std_normal(mu, logvar).item() == math.inf  # -log sigma^2 -> +inf
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert z[0, 0] == 0.5 and torch.isfinite(z).all()  # no noise where sigma = 0


# --- issue 23: regressions and open cases, one sentence each -------------------------------------------------------

# a silently wrong number: grey floats in [0, 1] were divided by 255 a second time (ELBO -41,932 instead of -136)
@pytest.mark.parametrize("fn", ["evaluate", "encode_dataset"])
def test_grey_floats_are_taken_as_they_are_and_0_255_floats_are_refused(fn):
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,)))
    x = torch.randint(0, 256, (20, 784), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    run = (lambda xs: evaluate(model, xs, seed=3)["elbo"]) if fn == "evaluate" else \
          (lambda xs: encode_dataset(model, xs, seed=3).mu)
    as_uint8, as_floats = run(x), run(x.float() / 255)  # what torchvision's ToTensor gives
    assert (as_uint8 == as_floats) if fn == "evaluate" else torch.equal(as_uint8, as_floats)
    with pytest.raises(ValueError, match=r"x holds floats outside \[0, 1\] \(got min 0, max 255\)") as err:
        run(x.float())  # 0-255 floats: never rescaled, refused
    assert "never both scalings" in assert_one_sentence(err)
    with pytest.raises(ValueError, match="x holds NaN or inf"):
        run(torch.full((2, 784), math.inf))


# regression: VAELIB_DATA naming a file gave a raw FileExistsError (data.py:111)
def test_vaelib_data_naming_a_file_is_one_sentence_and_the_file_is_kept(tmp_path, monkeypatch):
    afile = tmp_path / "mnist.tar"
    afile.write_bytes(b"keep me")
    monkeypatch.setenv("VAELIB_DATA", str(afile))
    _no_download(monkeypatch)
    with pytest.raises(DataError, match="is a file, not a folder") as err:
        load_mnist()
    assert "VAELIB_DATA" in assert_one_sentence(err) and afile.read_bytes() == b"keep me"


# regression: a missing MNIST file was no longer named when the download failed
def test_a_missing_file_is_named_when_the_download_fails(tmp_path, monkeypatch, raw_files):
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for name in list(MNIST_MD5)[:3]:
        os.symlink(raw_files / name, folder / name)
    _no_download(monkeypatch)
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte") as err:
        load_mnist(tmp_path)
    assert_one_sentence(err)


# regression: a read-only data folder gave a raw OSError (data.py:112); as root, chmod does not stop writes, so the
# folder's refusal is simulated where the download would make its staging folder
def test_a_read_only_data_folder_is_one_sentence(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(data_mod.tempfile, "mkdtemp", read_only)
    _no_download(monkeypatch)
    with pytest.raises(DataError, match="cannot be written \\(Permission denied\\)") as err:
        load_mnist(tmp_path)
    assert "missing train-images-idx3-ubyte" in assert_one_sentence(err)


# regression: a read-only --out folder gave a raw OSError from the lock (checkpoint.py:156) before the save's sentence
def test_a_read_only_output_folder_is_one_sentence_from_the_lock_too(tmp_path, monkeypatch, synthetic_mnist, capsys):
    real_open = open

    def read_only_open(path, mode="r", *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(ckpt_mod, "open", read_only_open, raising=False)
    with pytest.raises(CheckpointError, match="Could not write .* \\(Permission denied\\)") as err:
        train(TINY, synthetic_mnist, "cpu", checkpoint=tmp_path / "run.pt", progress=False)
    assert "a folder you can write to" in assert_one_sentence(err)
    monkeypatch.setattr(train_mod, "load_mnist", lambda root=None: synthetic_mnist)
    with pytest.raises(SystemExit) as stop:
        train_mod.main(["--epochs", "1", "--latent-dim", "2", "--hidden", "8", "--out", str(tmp_path / "cli.pt")])
    err_text = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err_text and "Permission denied" in err_text


# still open: VAELIB_RUNS naming a file gave a raw FileExistsError
def test_vaelib_runs_naming_a_file_is_one_sentence(tmp_path, monkeypatch):
    afile = tmp_path / "runs"
    afile.write_text("not a folder")
    monkeypatch.setenv("VAELIB_RUNS", str(afile))
    with pytest.raises(ValueError, match="VAELIB_RUNS names .* which is a file") as err:
        runs_dir()
    assert_one_sentence(err)
    assert afile.read_text() == "not a folder"


# still open: a checkpoint without its model or config key gave a raw KeyError (and a traceback from the CLI)
@pytest.mark.parametrize("key", ["model", "config", "history", "optimizer"])
def test_a_checkpoint_without_a_key_is_one_sentence_in_python_and_in_the_cli(key, tmp_path, synthetic_mnist,
                                                                             monkeypatch, capsys):
    path = tmp_path / "run.pt"
    cfg = replace(TINY, epochs=3)
    train(replace(cfg, epochs=1), synthetic_mnist, "cpu", checkpoint=path, progress=False)  # an unfinished run of cfg
    state = load_checkpoint(path)
    state["config"] = cfg.to_dict()
    del state[key]
    save_checkpoint(path, {k: v for k, v in state.items() if k not in ("format", "kind")})
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=f"has no '{key}' entry") as err:
        train(cfg, synthetic_mnist, "cpu", checkpoint=path, progress=False)
    assert_one_sentence(err)
    if key in ("model", "config"):
        with pytest.raises(CheckpointError, match=f"has no '{key}' entry"):
            model_from_checkpoint(path)
    monkeypatch.setattr(train_mod, "load_mnist", lambda root=None: synthetic_mnist)
    with pytest.raises(SystemExit) as stop:
        train_mod.main(["--latent-dim", "3", "--hidden", "16", "--epochs", "3", "--batch-size", "100", "--seed", "3",
                        "--device", "cpu", "--out", str(path)])
    err_text = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err_text and f"has no '{key}' entry" in err_text
    assert path.read_bytes() == before  # the damaged file is left for the user to look at


def _writer(path: str, tag: int, n: int, queue) -> None:
    """A process that saves ``n`` times to one path without any run lock (as build and artefacts do)."""
    failures = []
    for i in range(n):
        try:
            save_checkpoint(path, {"epoch": tag * 1000 + i, "model": {"w": torch.full((2000,), float(tag))}})
        except Exception as err:  # noqa: BLE001 -- every failure is reported back
            failures.append(str(err))
    queue.put(failures)


# two writers of one file without the lock: 652 of 1,437 saves failed with "(No such file or directory)"
def test_concurrent_writers_of_one_file_all_succeed_and_the_file_is_always_whole(tmp_path):
    ctx = torch.multiprocessing.get_context("fork")
    queue, path = ctx.Queue(), tmp_path / "shared.pt"
    writers = [ctx.Process(target=_writer, args=(str(path), tag, 25, queue)) for tag in (1, 2, 3)]
    for w in writers:
        w.start()
    seen = []
    while any(w.is_alive() for w in writers):  # a reader meanwhile: always a whole checkpoint of one writer
        if path.exists():
            state = load_checkpoint(path)
            seen.append(state["epoch"])
            assert torch.equal(state["model"]["w"], torch.full((2000,), float(state["epoch"] // 1000)))
    failures = [f for _ in writers for f in queue.get(timeout=60)]
    for w in writers:
        w.join()
    assert failures == [] and load_checkpoint(path)["epoch"] % 1000 == 24
    assert [p.name for p in tmp_path.iterdir()] == ["shared.pt"]  # no temporary file and no lock file left


# --- issue 23 point 7: the quick tests guard the guards ---------------------------------------------------------

# checkpoint: non-finite weights (NaN and inf) are refused, finite ones load
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_load_model_state_refuses_nan_and_inf_and_loads_finite_weights(bad):
    model = build_model(TINY.model)
    good = build_model(TINY.model).state_dict()
    assert load_model_state(model, good, "ok.pt") is model  # finite: loads
    damaged = {**good, "decoder.0.bias": good["decoder.0.bias"].clone()}
    damaged["decoder.0.bias"][3] = bad  # one value is enough
    with pytest.raises(CheckpointError, match=r"non-finite weights .*decoder\.0\.bias") as err:
        load_model_state(model, damaged, "bad.pt")
    assert_one_sentence(err)
    assert ckpt_mod.nonfinite_tensors({"state": {0: {"exp_avg": torch.tensor([1.0, bad])}}}) == ["state.0.exp_avg"]
    assert ckpt_mod.nonfinite_tensors({"state": {0: {"exp_avg": torch.tensor([1.0, 2.0])}}}) == []


# checkpoint: config differences are named, down to a relative difference of 1e-12 in a float
def test_config_diff_names_every_difference_and_only_real_ones():
    saved = TINY.to_dict()
    assert ckpt_mod.config_diff(saved, TINY.to_dict()) == []
    assert ckpt_mod.config_diff(saved, {**saved, "lr": saved["lr"] * (1 + 1e-14)}) == []  # round-off: the same
    assert ckpt_mod.config_diff(saved, {**saved, "lr": saved["lr"] * (1 + 1e-9)}) != []  # a real difference
    other = replace(TINY, beta=0.5, model=replace(TINY.model, latent_dim=4)).to_dict()
    assert ckpt_mod.config_diff(saved, other) == ["beta: checkpoint has 1.0, requested 0.5",
                                                  "model.latent_dim: checkpoint has 3, requested 4"]
    assert ckpt_mod.config_diff({"a": 1}, {}) == ["a: checkpoint has 1, requested '<missing>'"]
    ckpt_mod.check_config("x.pt", {"config": saved}, TINY.to_dict())  # equal: no error
    with pytest.raises(CheckpointError, match="beta: checkpoint has 1.0, requested 0.5") as err:
        ckpt_mod.check_config("x.pt", {"config": saved}, other)
    assert_one_sentence(err)


def _blow_up_in_the_last_step(what: str):
    """An epoch whose mean loss is finite but whose last step left inf weights or a NaN optimizer state."""
    real_epoch, calls = train_mod._train_epoch, []

    def epoch(model, opt, *args, **kwargs):
        calls.append(1)
        out = real_epoch(model, opt, *args, **kwargs)
        if len(calls) == 2:
            with torch.no_grad():
                if what == "weights":
                    next(model.parameters())[0, 0] = math.inf
                else:
                    next(iter(opt.state.values()))["exp_avg_sq"][0] = math.nan
        return out

    return epoch


# train's divergence guard: weights or optimizer state that blew up in an epoch's last step never overwrite
# the last good epoch (the mean loss alone stays finite there)
@pytest.mark.parametrize("what", ["weights", "optimizer"])
def test_divergence_guard_checks_weights_and_optimizer_state_before_the_save(what, synthetic_mnist, tmp_path,
                                                                             monkeypatch):
    path = tmp_path / "run.pt"
    monkeypatch.setattr(train_mod, "_train_epoch", _blow_up_in_the_last_step(what))
    label = "the weights" if what == "weights" else "the optimizer state"
    with pytest.raises(TrainingDiverged, match=f"epoch 2 \\({label} .*became NaN or infinite\\)") as err:
        train(TINY, synthetic_mnist, "cpu", checkpoint=path, progress=False)
    assert "still holds epoch 1" in assert_one_sentence(err)
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and not ckpt_mod.nonfinite_tensors(state["model"])
    assert not ckpt_mod.nonfinite_tensors(state["optimizer"]["state"])


def test_divergence_guard_passes_a_finite_epoch_and_stops_a_nan_or_inf_loss():
    model = build_model(TINY.model)
    opt = torch.optim.Adam(model.parameters())
    train_mod._check_diverged(model, opt, -500.0, 0, TINY, None)  # all finite: no error
    for loss in (math.nan, math.inf, -math.inf):
        with pytest.raises(TrainingDiverged, match="the loss became NaN or infinite"):
            train_mod._check_diverged(model, opt, loss, 0, TINY, None)


# expost's model selection: a K is skipped exactly when it has fewer than D + 1 training codes per component
def test_select_mixture_skips_k_exactly_below_d_plus_1_codes_per_component():
    g = torch.Generator().manual_seed(0)
    D = 2
    val = torch.randn(30, D, generator=g, dtype=torch.float64)
    at = select_mixture(torch.randn(2 * (D + 1), D, generator=g, dtype=torch.float64), val, components=(1, 2))
    assert [r["n_components"] for r in at.table] == [1, 2]  # N = K (D + 1): kept
    below = select_mixture(torch.randn(2 * (D + 1) - 1, D, generator=g, dtype=torch.float64), val, components=(1, 2))
    assert [r["n_components"] for r in below.table] == [1]  # one code fewer: skipped
    best = max(at.table, key=lambda r: r["val_loglik"])
    assert at.density.n_components == best["n_components"]  # the highest validation log-likelihood wins
    with pytest.raises(ValueError, match="components has no K") as err:
        select_mixture(torch.randn(5, D, generator=g, dtype=torch.float64), val, components=(2, 3))
    assert_one_sentence(err)


# twostage's proposal: the variance is (scale x the codes' std)^2, and the scale with the highest bound is chosen
def test_twostage_proposal_variance_and_choice(monkeypatch):
    codes = torch.randn(200, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for scale in (0.5, 2.0):
        expected = (scale ** 2 * codes.var(0)).log()  # log sigma^2 with sigma = scale x std
        assert torch.allclose(twostage_mod.proposal_logvar(codes, scale), expected, rtol=0, atol=1e-12)
    bound = {0.25: -100.0, 0.5: -90.0, 1.0: -95.0}  # a stand-in evaluation: the bound each scale gives

    def fake_evaluate(model, x, **kwargs):
        scale = math.sqrt((model.proposal_logvar.exp() / codes.var(0)).mean().item())
        return {"log_px": bound[round(scale, 2)], "log_px_se": 1.0}

    monkeypatch.setattr(twostage_mod, "evaluate", fake_evaluate)
    best, table = twostage_mod.choose_proposal(build_model(TINY.model), None, None, codes, (0.25, 0.5, 1.0), k=2)
    assert best == 0.5 and [r["log_px"] for r in table] == [-100.0, -90.0, -95.0]


# the validators: one sentence that names the argument and says what to pass
@pytest.mark.parametrize("call,match", [
    (lambda: checks.count(0, "k"), r"^k must be >= 1 \(got 0\): pass k=1 or more\.$"),
    (lambda: checks.count(2.5, "n"), r"^n must be a whole number >= 1 \(got 2\.5\)"),
    (lambda: checks.count("3", "n"), r"^n must be a whole number"),
    (lambda: checks.tensor(torch.tensor([1.0, math.inf]), "mu"), r"^mu holds NaN or inf \(got 1 non-finite values\)"),
    (lambda: checks.tensor(torch.zeros(0, 2), "mu"), r"^mu is empty"),
    (lambda: checks.tensor(torch.zeros(2, 3), "mu", last=2), r"^mu must have 2 entries in its last dimension"),
    (lambda: checks.images(torch.zeros(2, 784, dtype=torch.int64)), r"^x must be uint8 pixels 0-255 or floats"),
])
def test_checks_give_one_sentence_naming_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match) as err:
        call()
    assert_one_sentence(err)
    assert checks.count(2.0, "k") == 2 and checks.count(0, "k", minimum=0) == 0


# make lab said nothing when the asked port was busy (Jupyter's notice is below the log level it sets)
def test_make_lab_picks_the_next_free_port_and_says_so(monkeypatch, capsys):
    makefile = (Path(__file__).parent.parent / "Makefile").read_text()
    code = re.search(r"^export LAB_FREE_PORT := (.*)$", makefile, re.M).group(1)  # the one-liner the recipe runs
    assert "is busy, so Lab takes port" in makefile
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setattr(sys, "argv", ["-c", str(port)])
        exec(code, {})  # noqa: S102 -- the Makefile's own code, run here instead of in a subprocess
        taken = int(capsys.readouterr().out)
        assert port < taken < port + 50


def _issue_calls():
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,)))
    x = torch.randint(0, 256, (4, 784), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    feats = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    nan_feats = feats.clone()
    nan_feats[0, 0] = math.nan
    codes = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    nan_codes = codes.clone()
    nan_codes[3, 1] = math.inf
    return {  # each call the issue lists, and the start of the sentence it gives now
        "mean_se(no values)": (lambda: mean_se(torch.zeros(0)), r"values is empty"),
        "mean_se(NaN)": (lambda: mean_se(torch.tensor([1.0, math.nan])), r"values holds NaN or inf"),
        "frechet_distance(empty)": (lambda: frechet_distance(feats[:0], feats), r"features_a is empty"),
        "frechet_distance(NaN)": (lambda: frechet_distance(feats, nan_feats), r"features_b holds NaN or inf"),
        "frechet_distance(one sample)": (lambda: frechet_distance(feats[:1], feats),
                                         r"features_a needs at least 2 samples for a covariance"),
        "frechet_distance(other F)": (lambda: frechet_distance(feats, feats[:, :2]),
                                      r"features_a and features_b must have the same number of features"),
        "iwae_log_px(k=0)": (lambda: iwae_log_px(model, x.float() / 255, k=0), r"k must be >= 1 \(got 0\)"),
        "evaluate(batch_size=0)": (lambda: evaluate(model, x, batch_size=0), r"batch_size must be >= 1 \(got 0\)"),
        "evaluate(wrong shape)": (lambda: evaluate(model, x[:, :100]), r"x must have 784 entries in its last dim"),
        "kl_std_normal(shapes)": (lambda: kl_std_normal(torch.zeros(3, 2), torch.zeros(4, 2)),
                                  r"mu and logvar do not broadcast"),
        "kl_std_normal(int)": (lambda: kl_std_normal(torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 2)),
                               r"mu must be a floating-point tensor"),
        "fit_mixture(K=0)": (lambda: fit_mixture(codes, 0), r"n_components must be >= 1 \(got 0\)"),
        "fit_mixture(K=2.5)": (lambda: fit_mixture(codes, 2.5), r"n_components must be a whole number"),
        "fit_mixture(no codes)": (lambda: fit_mixture(codes[:0], 2), r"codes is empty"),
        "fit_mixture(NaN codes)": (lambda: fit_mixture(nan_codes, 2), r"codes holds NaN or inf"),
        "fit_mixture(K > N)": (lambda: fit_mixture(codes[:3], 5), r"codes needs at least 5 codes here"),
    }


# issue 23's listed calls: silent NaN or inf, and raw tracebacks from scikit-learn and torch
@pytest.mark.parametrize("case", list(_issue_calls()))
def test_the_calls_the_issue_lists_give_one_sentence(case):
    call, match = _issue_calls()[case]
    with pytest.raises((ValueError, TypeError), match=match) as err:
        call()
    assert_one_sentence(err)
