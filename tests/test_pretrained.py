"""The shipped checkpoints: intact (sha256), small (< 30 MB), and as good as the manifest says.

Each model is re-evaluated on a subset of the test set with the manifest's ``eval_seed`` and few importance
samples, and compared with the manifest's full-test-set numbers within Monte Carlo error: the subset's
standard error (SE) is the yardstick, since which images are in the subset dominates the difference.
"""
from __future__ import annotations

import pytest
import torch

from vaelib.evaluate import evaluate
from vaelib.pretrained import MANIFEST, load_pretrained, read_manifest, sha256

pytestmark = pytest.mark.skipif(not MANIFEST.exists(), reason=f"no {MANIFEST.name} yet: build the shipped models "
                                "with `python -m vaelib.pretrained build` (see README)")
ENTRIES = read_manifest(MANIFEST) if MANIFEST.exists() else []
N_SUBSET, K_SUBSET, Z = 200, 50, 4.0  # test images, importance samples, SEs of tolerance


def test_manifest_lists_both_shipped_models():
    assert {m["name"] for m in ENTRIES} >= {"mlp-d2", "mlp-d50"}


@pytest.mark.parametrize("entry", ENTRIES, ids=[m["name"] for m in ENTRIES])
def test_file_matches_sha256(entry):
    path = MANIFEST.parent / entry["file"]
    assert path.is_file(), f"{path} is listed in the manifest but missing"
    assert sha256(path) == entry["sha256"]


def test_total_size_under_30_mb():
    total = sum((MANIFEST.parent / m["file"]).stat().st_size for m in ENTRIES)
    assert total < 30 * 1024**2, f"shipped checkpoints take {total / 1024**2:.1f} MiB"


@pytest.mark.parametrize("entry", ENTRIES, ids=[m["name"] for m in ENTRIES])
def test_manifest_numbers_are_coherent(entry):
    assert entry["test_elbo"] <= entry["test_logpx"] < 0
    assert abs(entry["test_elbo"] + entry["test_recon"] + entry["test_kl"]) < 1e-3  # elbo = -(recon + kl)
    assert entry["test_kl"] >= 0 and entry["k"] >= 1


@pytest.mark.parametrize("entry", ENTRIES, ids=[m["name"] for m in ENTRIES])
def test_reevaluation_agrees_with_manifest(entry, mnist):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    model, _ = load_pretrained(entry["name"], "cpu")  # sha256-checked, torch.load(weights_only=True)
    live = evaluate(model, mnist.test_x[:N_SUBSET], binarized=True, k=K_SUBSET, seed=entry["eval_seed"], batch_size=100)
    # the subset's ELBO is a sample mean of the full test set's per-image ELBOs
    assert abs(live["elbo"] - entry["test_elbo"]) < Z * live["elbo_se"], (live, entry)
    # L_k with k=50 <= log p(x) in expectation, and the ELBO (k=1) <= L_k
    assert live["log_px"] <= entry["test_logpx"] + Z * live["log_px_se"], (live, entry)
    assert live["log_px"] >= entry["test_elbo"] - Z * live["elbo_se"], (live, entry)
    assert live["log_px"] > live["elbo"]  # same images: the k=50 bound is above the single-sample ELBO
