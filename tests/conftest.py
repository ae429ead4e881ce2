"""Shared fixtures: the MNIST tensors (from $VAELIB_DATA, as `make test` sets it) and tiny configs."""
from __future__ import annotations

import os

import pytest
import torch

from vaelib.data import DataError, load_mnist

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def mnist():
    """The full MNIST tensors; skipped with a reason where the data is absent (never in CI)."""
    try:
        return load_mnist(download=False)
    except DataError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"MNIST not available: {err}")
