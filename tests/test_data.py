"""Data root resolution, offline and corrupt-file errors, the splits, and both pixel forms."""
from __future__ import annotations

import hashlib
import shutil
import urllib.error

import pytest
import torch
from torchvision.datasets.mnist import read_image_file, read_label_file

import vaelib.data as data_mod
from vaelib.config import REPO_ROOT, data_root
from vaelib.data import (
    MNIST_MD5,
    DataError,
    batch_indices,
    binarize,
    ensure_mnist,
    grey,
    load_mnist,
    read_idx,
    verify_mnist,
)


def test_data_root_order_argument_then_env_then_repo(monkeypatch, tmp_path):
    monkeypatch.setenv("VAELIB_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert data_root() == (tmp_path / "env").resolve()
    monkeypatch.delenv("VAELIB_DATA")
    assert data_root() == REPO_ROOT / "data"


def test_missing_files_offline_give_one_clear_message(monkeypatch, tmp_path):
    def offline(root):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data_mod, "_download", offline)
    with pytest.raises(DataError) as err:
        ensure_mnist(tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "VAELIB_DATA" in msg
    assert all(name in msg for name in MNIST_MD5)


def test_missing_files_without_download_name_folder_files_and_variable(tmp_path):
    with pytest.raises(DataError, match="VAELIB_DATA") as err:
        verify_mnist(tmp_path)
    assert all(name in str(err.value) for name in MNIST_MD5)


def test_download_is_tried_when_files_are_missing(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(data_mod, "_download", lambda root: calls.append(root))
    with pytest.raises(DataError):  # the fake download fetched nothing, so verification still fails
        ensure_mnist(tmp_path)
    assert len(calls) == 1 and calls[0].parent == tmp_path.resolve()  # a staging folder inside the data root
    assert list(tmp_path.iterdir()) == []  # and gone again


def test_corrupt_file_is_reported_and_left_untouched(mnist, tmp_path):
    src = data_mod.raw_folder()
    dst = tmp_path / "MNIST" / "raw"
    dst.mkdir(parents=True)
    for name in MNIST_MD5:
        shutil.copy(src / name, dst / name)
    truncated = dst / "t10k-labels-idx1-ubyte"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    before = truncated.read_bytes()
    with pytest.raises(DataError, match="corrupt or truncated") as err:
        load_mnist(tmp_path)
    assert "t10k-labels-idx1-ubyte" in str(err.value)
    assert truncated.read_bytes() == before  # never deleted or overwritten


def test_splits_shapes_and_documented_validation_split(mnist):
    assert mnist.train_x.shape == (50_000, 784) and mnist.train_x.dtype == torch.uint8
    assert mnist.val_x.shape == (10_000, 784) and mnist.test_x.shape == (10_000, 784)
    assert set(mnist.train_y.unique().tolist()) == set(range(10))
    raw = read_image_file(str(data_mod.raw_folder() / "train-images-idx3-ubyte")).reshape(-1, 784)
    assert torch.equal(mnist.val_x, raw[50_000:]) and torch.equal(mnist.train_x, raw[:50_000])


def test_read_idx_equals_torchvisions_reader_on_every_file(mnist):
    """The trusted reference: torchvision's own MNIST readers, on the four canonical files."""
    folder = data_mod.raw_folder()
    for name in MNIST_MD5:
        ref = (read_image_file if "images" in name else read_label_file)(str(folder / name))
        mine = read_idx(folder / name)
        assert mine.dtype == torch.uint8 and mine.shape == ref.shape and torch.equal(mine.long(), ref.long()), name
    assert mnist.train_y.dtype == mnist.test_y.dtype == torch.int64  # labels as torchvision gives them


@pytest.mark.parametrize("content, expect", [
    (b"", "not an IDX file"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00", "not an IDX file"),  # 0x0d: float32, not bytes
    (b"\x00\x00\x08\x02\x00\x00\x00\x02", "not an IDX file"),  # says 2 sizes, holds 1
    (b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03" + bytes(5), "holds 5 values but its header says"),
])
def test_read_idx_refuses_a_malformed_file_in_one_sentence(tmp_path, content, expect):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=expect) as err:
        read_idx(path)
    assert str(err.value).count(". ") == 0 and str(err.value).endswith(".")
    assert path.read_bytes() == content  # left as it was


def test_read_idx_reads_the_shape_its_header_gives(tmp_path):
    path = tmp_path / "small-idx2-ubyte"
    path.write_bytes(b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03" + bytes(range(6)))
    assert torch.equal(read_idx(path), torch.arange(6, dtype=torch.uint8).reshape(2, 3))


def test_limit_caps_each_split(mnist):
    small = load_mnist(limit=100)
    assert len(small.train_x) == len(small.val_x) == len(small.test_x) == 100
    assert torch.equal(small.test_x, mnist.test_x[:100])


def test_grey_and_dynamic_binarization():
    x = torch.randint(0, 256, (64, 784), dtype=torch.uint8)
    g = grey(x)
    assert g.min() >= 0 and g.max() <= 1 and torch.allclose(g * 255, x.float())
    b1 = binarize(x, torch.Generator().manual_seed(0))
    b2 = binarize(x, torch.Generator().manual_seed(0))
    b3 = binarize(x, torch.Generator().manual_seed(1))
    assert set(b1.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(b1, b2) and not torch.equal(b1, b3)  # seeded, and fresh for another draw
    many = torch.stack([binarize(x) for _ in range(400)]).mean(0)
    assert (many - g).abs().max() < 0.15  # E[binarized] = grey intensity


def test_batch_indices_cover_every_example_once():
    idx = torch.cat(list(batch_indices(1000, 128, torch.Generator().manual_seed(0))))
    assert sorted(idx.tolist()) == list(range(1000))
    assert torch.equal(torch.cat(list(batch_indices(10, 4, shuffle=False))), torch.arange(10))


def test_file_digest_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 5000)  # > 1 MB, so more than one block is read
    for algorithm in ("md5", "sha256"):
        assert data_mod.file_digest(path, algorithm) == hashlib.new(algorithm, path.read_bytes()).hexdigest()
