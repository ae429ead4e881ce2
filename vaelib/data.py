"""MNIST as tensors: located, verified, loaded once, batched by index (no per-image transforms).

Used by notebooks 00, 02 and 04-08, by ``python -m vaelib.train`` and by the commands that rebuild pretrained/.

Splits (documented once, here): the 60,000 training images are split in file order into
``train`` = images 0..49,999 and ``val`` = images 50,000..59,999 -- the classic train/valid split
of ``mnist.pkl.gz`` -- and ``test`` is the official 10,000-image test file.

Two pixel forms:
* grey: ``x.float() / 255`` in [0, 1] (what pytorch/examples and Keras feed to BCE);
* dynamically binarized: a fresh ``torch.bernoulli(grey, generator=g)`` draw each time a batch is
  made, from the ``torch.Generator`` the caller passes (the trainer's own, so runs are seeded and
  resumable). This is the binarization of Burda et al. (2016) and the one our likelihoods use.
"""
from __future__ import annotations

import gzip
import math
import os
import shutil
import tempfile
import urllib.error
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from vaelib.checkpoint import file_digest
from vaelib.checks import count, unit_interval
from vaelib.config import data_root
from vaelib.remote import RemoteError, download

# MD5 of the uncompressed canonical files (the values torchvision's raw files have once extracted).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
VAL_SIZE = 10_000
# Where torchvision (and so most tutorials) fetch MNIST's four .gz archives; ``$VAELIB_MNIST_MIRROR`` overrides them.
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")


class DataError(RuntimeError):
    """The MNIST files are missing or corrupt; the message says what to do."""


def raw_folder(root: str | Path | None = None) -> Path:
    """The folder torchvision reads: ``<root>/MNIST/raw`` (root resolved by ``vaelib.config.data_root``)."""
    return _data_folder(root) / "MNIST" / "raw"


def _data_folder(root: str | Path | None) -> Path:
    """``data_root(root)``, refused with one sentence when it (or the MNIST folder inside it) is a file."""
    resolved = data_root(root)
    for path in (resolved, resolved / "MNIST", resolved / "MNIST" / "raw"):
        if path.exists() and not path.is_dir():
            source = "the root argument" if root is not None else "VAELIB_DATA"
            raise DataError(f"{path} is a file, not a folder ({source} names {resolved}): set VAELIB_DATA (or pass "
                            "root) to the folder that holds MNIST/raw/, and leave the file where it is.")
    return resolved


def verify_mnist(root: str | Path | None = None) -> Path:
    """Check the four raw files against the canonical MD5s; return the resolved root or raise DataError.

    A corrupt or truncated file is reported, never deleted or overwritten.
    """
    resolved = _data_folder(root)
    folder = resolved / "MNIST" / "raw"
    missing = [name for name in MNIST_MD5 if not (folder / name).is_file()]
    if missing and all((resolved / name).is_file() for name in missing):  # the files, but not in MNIST/raw/
        raise DataError(f"The MNIST files are directly in {resolved}, but vaelib reads them from {folder}: move "
                        f"them into {folder}/, or set VAELIB_DATA to a folder that holds MNIST/raw/.")
    if missing:
        raise DataError(f"MNIST not found in {folder} (missing {', '.join(missing)}): set VAELIB_DATA to the folder "
                        f"that holds MNIST/raw/ with {', '.join(MNIST_MD5)}, or run once with internet access "
                        "to download them.")
    for name, expected in MNIST_MD5.items():
        got = file_digest(folder / name, "md5")
        if got != expected:
            raise DataError(f"MNIST file {folder / name} is corrupt or truncated (md5 {got}, expected {expected}) and "
                            "was left untouched: replace it with the canonical file, or set VAELIB_DATA to another "
                            "folder.")
    return resolved


def _extract_missing(folder: Path) -> None:
    """Decompress ``X.gz`` for each raw file X that is missing (what torchvision does after a download), checking
    the result against the canonical MD5; nothing that exists is overwritten, and a bad .gz is reported."""
    for name in MNIST_MD5:
        gz, target = folder / f"{name}.gz", folder / name
        if target.exists() or not gz.is_file():
            continue
        tmp = folder / f"{name}.tmp"
        try:
            dst = open(tmp, "wb")
        except OSError as err:  # a read-only data folder: say so, not "fails the checksum"
            raise DataError(f"{name} is missing and {gz} cannot be decompressed beside it ({err.strerror or err}): "
                            f"decompress it yourself (gunzip -k {gz}), or set VAELIB_DATA to a folder you can "
                            "write to.") from None
        try:
            with dst, gzip.open(gz, "rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
            ok = file_digest(tmp, "md5") == MNIST_MD5[name]
        except (OSError, EOFError, zlib.error):  # not gzip, or cut short
            ok = False
        if not ok:
            tmp.unlink(missing_ok=True)  # only our own half-written file; the .gz stays as it was
            raise DataError(f"{gz} fails torchvision's checksum (a corrupt or incomplete download) and {name} is "
                            "missing: replace the .gz with the canonical file, or move it aside and run once with "
                            "internet access to download MNIST again.")
        os.replace(tmp, target)


def mnist_mirrors() -> list[str]:
    """Where MNIST's archives are fetched from: ``$VAELIB_MNIST_MIRROR`` if set, else torchvision's mirrors."""
    env = os.environ.get("VAELIB_MNIST_MIRROR", "").strip()
    return [env.rstrip("/") + "/"] if env else list(MIRRORS)


def _download(root: Path) -> None:
    """Fetch MNIST's four archives (needs internet) into ``root/MNIST/raw`` from the first mirror that answers, and
    decompress them, each checked against the canonical MD5 of its content."""
    folder = root / "MNIST" / "raw"
    for name in MNIST_MD5:
        errors = []
        for mirror in mnist_mirrors():
            try:
                download(f"{mirror}{name}.gz", folder / f"{name}.gz")
                break
            except RemoteError as err:
                errors.append(err)
        else:
            raise errors[-1]
    _extract_missing(folder)


def _download_missing(resolved: Path, missing: list[str]) -> None:
    """Download into a fresh staging folder inside ``resolved`` and move in only the ``missing`` raw files, so no
    existing file is replaced; on failure remove the staging folder and any empty folder this call made."""
    folder = resolved / "MNIST" / "raw"
    created = [p for p in (resolved, resolved / "MNIST", folder) if not p.exists()]
    try:
        resolved.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".mnist-download-", dir=resolved))
    except OSError as err:  # a read-only data folder (or a parent that is a file): nothing was written
        raise DataError(f"MNIST is not complete in {folder} (missing {', '.join(missing)}) and {resolved} cannot be "
                        f"written ({err.strerror or type(err).__name__}): set VAELIB_DATA to a folder that holds "
                        "MNIST/raw/ with all four files, or to a folder you can write to.") from None
    try:
        _download(staging)
        folder.mkdir(parents=True, exist_ok=True)
        for name in missing:
            os.replace(staging / "MNIST" / "raw" / name, folder / name)
    except (urllib.error.URLError, OSError, RuntimeError) as err:  # offline: say so once, clearly
        shutil.rmtree(staging, ignore_errors=True)
        for path in reversed(created):  # only folders made here, and only if still empty
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        raise DataError(f"MNIST is not complete in {folder} (missing {', '.join(missing)}) and could not be "
                        f"downloaded ({type(err).__name__}): set VAELIB_DATA to the folder that holds MNIST/raw/ "
                        f"with {', '.join(MNIST_MD5)}, or run once with internet access.") from None
    shutil.rmtree(staging, ignore_errors=True)


def ensure_mnist(root: str | Path | None = None, download: bool = True) -> Path:
    """Return a verified data root: raw files as they are, missing ones decompressed from their ``.gz`` or, with
    ``download``, fetched from a mirror (``mnist_mirrors``); an existing file is never replaced or deleted."""
    resolved = _data_folder(root)  # resolved once; every step below uses this folder
    folder = resolved / "MNIST" / "raw"
    _extract_missing(folder)
    missing = [name for name in MNIST_MD5 if not (folder / name).exists()]
    if download and missing and not all((resolved / name).is_file() for name in missing):
        _download_missing(resolved, missing)
    return verify_mnist(resolved)


@dataclass
class MNIST:
    """The three splits as flat uint8 images ``(N, 784)`` and int64 labels ``(N,)``."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def to(self, device: torch.device | str) -> "MNIST":
        """Copy every split to ``device`` (the whole dataset is ~55 MB as uint8)."""
        return MNIST(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def __repr__(self) -> str:
        return (f"MNIST(train={len(self.train_x)}, val={len(self.val_x)}, test={len(self.test_x)}, "
                f"device={self.train_x.device})")


def read_idx(path: str | Path) -> torch.Tensor:
    """An IDX file of unsigned bytes (MNIST's format) as a uint8 tensor of the shape its header gives.

    The header is two zero bytes, the type code 0x08 (unsigned byte), the number of dimensions d, then d
    big-endian 32-bit sizes; the values follow, row-major. MNIST's image files are (N, 28, 28), its label
    files (N,). Read with numpy (no torchvision: its import costs a second and a half of every kernel start).
    """
    raw = Path(path).read_bytes()
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or len(raw) < 4 + 4 * raw[3]:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (header {raw[:4].hex() or 'empty'}): replace it "
                        "with the canonical MNIST file.")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=raw[3], offset=4))
    start = 4 + 4 * len(shape)
    if len(raw) - start != math.prod(shape):
        raise DataError(f"{path} holds {len(raw) - start} values but its header says {shape}: replace it with the "
                        "canonical MNIST file.")
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(shape).copy())


def load_mnist(root: str | Path | None = None, *, val_size: int = VAL_SIZE, limit: int | None = None,
               device: torch.device | str = "cpu", download: bool = True) -> MNIST:
    """Load MNIST once into tensors (``read_idx``); ``limit`` caps each split (smoke mode)."""
    val_size = count(val_size, "val_size", minimum=0)
    limit = None if limit is None else count(limit, "limit")
    folder = ensure_mnist(root, download=download) / "MNIST" / "raw"
    images = read_idx(folder / "train-images-idx3-ubyte").reshape(-1, 784)  # (60000, 784) uint8
    labels = read_idx(folder / "train-labels-idx1-ubyte").long()  # (60000,) int64
    test_x = read_idx(folder / "t10k-images-idx3-ubyte").reshape(-1, 784)
    test_y = read_idx(folder / "t10k-labels-idx1-ubyte").long()
    n_train = len(images) - val_size
    cap = (lambda t: t[:limit]) if limit is not None else (lambda t: t)
    data = MNIST(cap(images[:n_train]), cap(labels[:n_train]), cap(images[n_train:]), cap(labels[n_train:]),
                 cap(test_x), cap(test_y))
    return data.to(device)


def grey(x: torch.Tensor) -> torch.Tensor:
    """Float intensities in [0, 1]: uint8 pixels are divided by 255; floats already in [0, 1] (torchvision's
    ``ToTensor``) are taken as they are, and floats outside [0, 1] are refused, so nothing is scaled twice."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of pixels (got {type(x).__name__}): pass uint8 pixels 0-255 or "
                        "floats in [0, 1].")
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.is_floating_point():
        raise TypeError(f"x must be uint8 pixels 0-255 or floats in [0, 1] (got dtype {x.dtype}): pass "
                        "x.to(torch.uint8) or x.float() / 255.")
    unit_interval(x, "x")
    return x.float()


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: one fresh Bernoulli(pixel intensity) draw per pixel, from ``generator``."""
    return torch.bernoulli(grey(x), generator=generator)


def pixels(x: torch.Tensor, binarized: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """The model's input for uint8 images: a dynamic binarization, or grey intensities."""
    return binarize(x, generator) if binarized else grey(x)


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None = None,
                  shuffle: bool = True, device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """Yield index tensors that cover ``range(n)`` once, shuffled with ``generator`` if asked."""
    n, batch_size = count(n, "n", minimum=0), count(batch_size, "batch_size")
    order = (torch.randperm(n, generator=generator, device=device) if shuffle
             else torch.arange(n, device=device))
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]
