"""Integrity checks of the shipped files (marker ``integrity``): sha256, sizes, manifest coherence, live re-evaluation.

None of these is a test against an independent reference: they compare the shipped files with the manifest's
own record of them, so they catch a changed, damaged or stale file, not a wrong formula (the reference tests
elsewhere do that).

The integrity checks compare files with the manifest's own record (they catch a changed or damaged file,
not a wrong model). The re-evaluation tests are the numerical ones: each model is re-evaluated on a subset
of the test set with the manifest's ``eval_seed`` and few importance
samples, and compared with the manifest's full-test-set numbers within Monte Carlo error: the subset's
standard error (SE) is the yardstick, since which images are in the subset dominates the difference.
"""
from __future__ import annotations

import pytest
import torch

from vaelib.checkpoint import file_digest, load_checkpoint
from vaelib.evaluate import evaluate
from vaelib.manifest import verify_all
from vaelib.pretrained import (
    MANIFEST,
    PretrainedError,
    compare_with_shipped,
    find_pretrained,
    load_pretrained,
    read_manifest,
)
from vaelib.shipped import VALUES_ONLY, shipped_configs
from vaelib.train import TrainConfig

ENTRIES = read_manifest(MANIFEST)
MODELS = [m for m in ENTRIES if m.get("kind", "vae") == "vae"]
SHIPPED = [m for m in MODELS if m["file"] is not None]  # the rest are recorded by their test values only
N_SUBSET, K_SUBSET, Z = 200, 50, 4.0  # test images, importance samples, SEs of tolerance
pytestmark = pytest.mark.integrity  # every test here checks shipped files against their manifest record


def test_manifest_lists_every_shipped_config_with_that_config():
    by_name = {m["name"]: m for m in ENTRIES}
    for name, cfg in shipped_configs().items():
        assert name in by_name, f"{name} is a shipped config but not built: python -m vaelib.build {name}"
        assert TrainConfig.from_dict(by_name[name]["config"]) == cfg, f"{name} was built with another config"
        if name in VALUES_ONLY:  # evaluated and recorded, but no checkpoint to load
            assert by_name[name]["file"] is None and find_pretrained(cfg.to_dict()) is None
            with pytest.raises(PretrainedError, match="test values only"):
                load_pretrained(name)
        else:
            assert find_pretrained(cfg.to_dict())["name"] == name


@pytest.mark.parametrize("entry", [m for m in ENTRIES if m.get("file")],
                         ids=[m["name"] for m in ENTRIES if m.get("file")])
def test_integrity_file_matches_sha256_and_has_a_rebuild_command(entry):
    path = MANIFEST.parent / entry["file"]
    assert path.is_file(), f"{path} is listed in the manifest but missing"
    assert file_digest(path) == entry["sha256"]
    assert entry["command"].startswith("python -m vaelib.")


def test_integrity_every_file_the_manifest_names_matches_its_sha256():
    assert verify_all(MANIFEST) == []  # file and values_file of every entry, each against its own sha256


def test_integrity_every_file_in_pretrained_is_listed():
    listed = {m[k] for m in ENTRIES for k in ("file", "values_file") if m.get(k)} | {"manifest.json"}
    present = {p.name for p in MANIFEST.parent.iterdir() if p.is_file() and not p.name.endswith((".lock", ".tmp"))}
    assert present <= listed, f"unlisted files in pretrained/: {sorted(present - listed)}"


def test_integrity_everything_shipped_is_at_most_60_mb():
    total = sum(p.stat().st_size for p in MANIFEST.parent.iterdir() if p.is_file())
    assert total <= 60 * 1000**2, f"pretrained/ holds {total / 1000**2:.1f} MB"


@pytest.mark.parametrize("entry", [m for m in ENTRIES if "values_file" in m],
                         ids=[m["name"] for m in ENTRIES if "values_file" in m])
def test_integrity_per_example_values_are_intact_and_average_to_the_manifest(entry):
    path = MANIFEST.parent / entry["values_file"]
    assert file_digest(path) == entry["values_sha256"]
    values = load_checkpoint(path, kind="eval-values")
    assert values["elbo"].shape == (entry["n_test"],) and values["k"] == entry["k"]
    assert abs(values["elbo"].double().mean().item() - entry["test_elbo"]) < 1e-4
    if entry["k"]:  # k = 0: a deterministic autoencoder, no log p(x) to ship
        assert values["log_px"].shape == (entry["n_test"],)
        assert abs(values["log_px"].double().mean().item() - entry["test_logpx"]) < 1e-4
    else:
        assert "log_px" not in values and entry["test_logpx"] is None


@pytest.mark.parametrize("entry", MODELS, ids=[m["name"] for m in MODELS])
def test_integrity_manifest_numbers_are_coherent(entry):
    assert abs(entry["test_elbo"] + entry["test_recon"] + entry["test_kl"]) < 1e-3  # elbo = -(recon + kl)
    assert entry["test_kl"] >= 0
    if entry["config"]["model"].get("latent") == "deterministic":  # no density: no log p(x) bound
        assert entry["k"] == 0 and entry["test_logpx"] is None and entry["test_kl"] == 0
    else:
        assert entry["test_elbo"] <= entry["test_logpx"] < 0 and entry["k"] >= 1


@pytest.mark.parametrize("entry", SHIPPED, ids=[m["name"] for m in SHIPPED])
def test_reevaluation_agrees_with_manifest(entry, mnist):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    model, _ = load_pretrained(entry["name"], "cpu")  # sha256-checked, torch.load(weights_only=True)
    k = 0 if entry["k"] == 0 else K_SUBSET  # k = 0: a deterministic autoencoder, no log p(x)
    x = mnist.test_x[:N_SUBSET]
    if "values_file" in entry:  # same images *and* the same binarization as the shipped per-image values: pair them
        paired = compare_with_shipped(model, entry["name"], x, k=k)
        live = paired["live"]
        d, se = paired["elbo"]
        assert abs(d) <= Z * se + 1e-4, (d, se)  # only the draws of z differ (none for an autoencoder)
        if k:
            d, se = paired["log_px"]
            assert d <= Z * se, (d, se)  # k = 50 <= the manifest's k
    else:
        live = evaluate(model, x, binarized=True, k=k, seed=entry["eval_seed"], batch_size=100)
    # the subset's ELBO is a sample mean of the full test set's per-image ELBOs
    assert abs(live["elbo"] - entry["test_elbo"]) < Z * live["elbo_se"], (live, entry)
    if k:  # L_k with k=50 <= log p(x) in expectation, and the ELBO (k=1) <= L_k
        assert live["log_px"] <= entry["test_logpx"] + Z * live["log_px_se"], (live, entry)
        assert live["log_px"] >= entry["test_elbo"] - Z * live["elbo_se"], (live, entry)
        assert live["log_px"] > live["elbo"]  # same images: the k=50 bound is above the single-sample ELBO


def test_comparison_with_shipped_values_repeats_the_shipped_evaluation(mnist):
    entry = next(m for m in SHIPPED if "values_file" in m and m["k"])  # a model with a log p(x)
    model, _ = load_pretrained(entry["name"])
    paired = compare_with_shipped(model, entry["name"], mnist.test_x[:100], k=entry["k"])
    for diff, se in (paired["elbo"], paired["log_px"]):  # same seed, k and batch size: the same draws, up to
        assert abs(diff) < 1e-3 and se < 1e-3            # float rounding (it differs between torch versions)
    other = compare_with_shipped(model, entry["name"], mnist.test_x[100:110], k=entry["k"])  # wrong images (10)
    assert other["elbo"][1] > 0 and other["log_px"][1] > 0
