"""vaelib.twostage: the ex-post model's log p(x) against exact marginals, the codes, the N study, the whole study."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
from torch.distributions import MultivariateNormal

from vaelib.build import export_half
from vaelib.checkpoint import load_checkpoint, save_checkpoint
from vaelib.classifier import SmallCNN
from vaelib.data import pixels
from vaelib.evaluate import evaluate
from vaelib.expost import GaussianMixtureDensity, heldout_loglik
from vaelib.latent import encode_dataset
from vaelib.losses import PointMass, iwae_log_px
from vaelib.manifest import EVAL_SEED
from vaelib.models import ModelConfig, build_model
from vaelib.pretrained import load_eval_values, manifest_entry
from vaelib.shipped import notebook08_configs
from vaelib.toy import LinearGaussian
from vaelib.twostage import (
    SMOKE_STUDY,
    Codes,
    ExPostModel,
    StudyConfig,
    density_vs_n,
    run_seeds,
    run_study,
    training_codes,
)

from conftest import F64, gen


def standard_normal_density(D: int) -> GaussianMixtureDensity:
    return GaussianMixtureDensity(torch.zeros(1, dtype=F64), torch.zeros(1, D, dtype=F64),
                                  torch.eye(D, dtype=F64)[None])


def two_blobs() -> GaussianMixtureDensity:
    chol = torch.linalg.cholesky(torch.tensor([[1.0, 0.4], [0.4, 0.5]], dtype=F64))
    return GaussianMixtureDensity(torch.tensor([0.3, 0.7], dtype=F64).log(),
                                  torch.tensor([[-3.0, 0.0], [3.0, 1.0]], dtype=F64), torch.stack([chol, 0.7 * chol]))


def toy_with_prior(D: int = 2, P: int = 3) -> tuple[LinearGaussian, torch.Tensor]:
    model = LinearGaussian.random(P, D, s=0.7, seed=24)
    return model, model.sample(40, gen(25))


def test_expost_model_with_the_true_prior_bounds_the_exact_log_px():
    model, x = toy_with_prior()
    wrapped = ExPostModel(model, standard_normal_density(2))  # the toy's own (exact-mean, diagonal) posterior proposes
    est = iwae_log_px(wrapped, x, 3000, gen(26))
    assert (est - model.log_px(x)).abs().max() < 0.02 and (est - model.log_px(x)).mean() < 0


def test_expost_model_with_another_density_matches_the_closed_form_marginal():
    model, x = toy_with_prior()
    cov = torch.tensor([[1.2, 0.3], [0.3, 0.8]], dtype=F64)
    g = GaussianMixtureDensity(torch.zeros(1, dtype=F64), torch.tensor([[0.3, -0.2]], dtype=F64),
                               torch.linalg.cholesky(cov)[None])
    exact = MultivariateNormal(model.b + model.W @ g.means[0],
                               model.W @ cov @ model.W.T + 0.49 * torch.eye(3, dtype=F64))
    est = iwae_log_px(ExPostModel(model, g), x, 3000, gen(28))
    assert (est - exact.log_prob(x)).abs().max() < 0.05


class PointEncoder(LinearGaussian):
    """The toy model seen as an autoencoder: its code is the posterior mean, with no spread."""

    def encode(self, x: torch.Tensor) -> PointMass:
        return PointMass(super().encode(x).mu)


def test_expost_model_around_a_point_code_needs_and_uses_a_proposal():
    base, x = toy_with_prior()
    model = PointEncoder(base.W, base.b, base.s)
    prior = standard_normal_density(2)
    with pytest.raises(ValueError, match="proposal_logvar"):
        ExPostModel(model, prior).encode(x)
    wrapped = ExPostModel(model, prior, proposal_logvar=base.posterior_cov.diagonal().log())
    assert (iwae_log_px(wrapped, x, 3000, gen(29)) - base.log_px(x)).abs().max() < 0.05


def test_training_codes_are_the_code_or_one_posterior_draw(mnist):
    x = mnist.train_x[:300]
    torch.manual_seed(0)
    ae = build_model(ModelConfig(latent_dim=3, hidden=(16,), latent="deterministic")).eval()
    with torch.no_grad():
        expected = ae.encode(pixels(x, True, torch.Generator().manual_seed(5))).z.double()
    assert torch.allclose(training_codes(ae, x, seed=5, batch_size=128), expected, atol=1e-6)
    vae = build_model(ModelConfig(latent_dim=3, hidden=(16,))).eval()
    codes = training_codes(vae, x, seed=5)
    post = encode_dataset(vae, x, seed=5, dtype=F64)
    white = (codes - post.mu) / (0.5 * post.logvar).exp()  # standard normal if codes ~ q(z|x)
    assert abs(white.mean().item()) < 4 / math.sqrt(white.numel()) and abs(white.var().item() - 1) < 0.1
    assert torch.equal(codes, training_codes(vae, x, seed=5))


def test_density_vs_n_rows_and_scores():
    truth = two_blobs()
    codes = Codes(truth.sample(2000, gen(31)), truth.sample(500, gen(32)), truth.sample(2000, gen(33)))
    cfg = StudyConfig(ns=(50, 2000), components=(1, 2, 4), bandwidths=(0.2, 0.5), seeds=(0, 1), repeat_below=100,
                      kde_val=300, kde_test=1000, curve_samples=300)
    calls = []
    rows, last = density_vs_n(codes, cfg, score=lambda z: calls.append(len(z)) or {"spread": z.std().item()})
    assert [(r["n"], r["seed"]) for r in rows[::3]] == [(50, 0), (50, 1), (2000, 0)]
    assert [r["family"] for r in rows[:3]] == ["gaussian", "mixture", "kde"] and calls == [300] * 3  # mixture only
    best = {r["family"]: r["test_loglik"] for r in rows if r["n"] == 2000}
    true_ll, _ = heldout_loglik(truth, codes.test)
    assert best["mixture"] > best["gaussian"] and true_ll - 0.05 < best["mixture"] < true_ll + 0.05
    assert best["kde"] < best["mixture"]  # the parametric family that contains the truth beats the kernel estimate
    small = [r["test_loglik"] for r in rows if r["n"] == 50 and r["family"] == "mixture"]
    assert max(small) < best["mixture"] and last["mixture"][0].n_components == 2  # 50 codes fit worse than 2000


def test_run_study_on_tiny_models_has_every_part(mnist):
    fields = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")
    small = type(mnist)(*(getattr(mnist, f)[:1000] for f in fields))
    torch.manual_seed(0)
    models = {"ae-d2": build_model(ModelConfig(latent_dim=2, hidden=(16,), latent="deterministic")),
              "nvae-d2": build_model(ModelConfig(latent_dim=2, hidden=(16,))),
              "mog-d2": build_model(ModelConfig(latent_dim=2, hidden=(16,), prior="mog", n_components=3))}
    clf = SmallCNN().eval()
    vae_values = torch.randn(1000, generator=gen(40), dtype=F64) - 500
    cfg = replace(SMOKE_STUDY, ns=(200, 500), kde_test=200, curve_samples=200, score_chunk=250, proposal_images=20,
                  logpx_images=50, k=5)  # every part, on less (a smaller SMOKE_STUDY: 4x cheaper)
    out = run_study(models, small, clf, cfg, float32={"ae-d2": models["ae-d2"]}, vae_log_px={2: vae_values})
    gens = [(r["model"], r["generator"]) for r in out["scores"]]
    assert gens == [("real", "training digits"), ("ae-d2", "gaussian"), ("ae-d2", "mixture"), ("nvae-d2", "gaussian"),
                    ("nvae-d2", "mixture"), ("nvae-d2", "prior"), ("mog-d2", "prior")]
    shift = out["scores"][1]["float16_shift"]
    assert shift["fid"][0] == 0 and shift["confidence"][0] == 0  # the same weights: the same scores
    assert {r["model"] for r in out["curves"]} == {"ae-d2", "nvae-d2"} and len(out["logpx"]) == 2
    ae_row = out["logpx"][0]
    assert ae_row["proposal_scale"] in cfg.proposal_scales and ae_row["log_px"] < 0
    assert math.isclose(ae_row["minus_vae"], ae_row["log_px"] - vae_values[:50].mean().item(), rel_tol=1e-9)
    tensors = out.pop("tensors")
    assert set(tensors) == {f"{m}/{f}/{k}" for m in ("ae-d2", "nvae-d2") for f in ("gaussian", "mixture")
                            for k in ("log_weights", "means", "chol")} | {"ae-d2/log_px", "nvae-d2/log_px"}
    assert math.isclose(tensors["ae-d2/log_px"].double().mean().item(), ae_row["log_px"], rel_tol=1e-6)
    mixture = GaussianMixtureDensity(**{k: tensors[f"nvae-d2/mixture/{k}"] for k in ("log_weights", "means", "chol")})
    assert mixture.n_components == out["logpx"][1]["n_components"]
    json.dumps(out)  # the rest is plain JSON


def test_export_half_rounds_the_weights_and_records_what_moved(mnist, tmp_path):
    cfg = notebook08_configs()["mog-d5"]
    torch.manual_seed(0)
    model = build_model(replace(cfg.model, hidden=(16,), n_components=3)).eval()
    cfg = replace(cfg, model=model.config)
    out = tmp_path / "m.pt"
    save_checkpoint(out, {"config": cfg.to_dict(), "epoch": cfg.epochs, "history": {}, "model": model.state_dict()})
    x = mnist.test_x[:200]
    test32 = evaluate(model, x, k=5, seed=EVAL_SEED, batch_size=100, per_example=True)
    test16, record = export_half(out, x, test32, 5, torch.device("cpu"))
    state = load_checkpoint(out)["model"]
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    rounded = {k: v.half().float() for k, v in model.state_dict().items()}
    assert all(torch.equal(state[k].float(), rounded[k]) for k in rounded)  # exactly the rounded weights
    assert record["weights_dtype"] == "float16" and set(record["float16_shift"]) == {"elbo", "recon", "kl", "log_px"}
    shift = record["float16_shift"]["log_px"]
    diff = test16["values"]["log_px"] - test32["values"]["log_px"]
    assert math.isclose(shift["shift"], diff.mean().item(), rel_tol=1e-9, abs_tol=1e-12)
    assert shift["float32"] == test32["log_px"] and abs(shift["shift"]) < 0.1 * shift["float32_se"]


def test_seed_replica_zero_repeats_the_shipped_evaluation_on_the_same_images(mnist):
    # seed 0 is the shipped model: with the manifest's k, seed and batch size (one whole batch of 100, so that the
    # draws of z line up too) it must reproduce the shipped per-image values (a wrong slice, seed or model would not)
    entry, n = manifest_entry("nvae-d20"), 100
    out = run_seeds(mnist, replace(StudyConfig(), k=entry["k"]), seeds=(0,), models=("nvae-d20",), test_images=n)
    (row,) = out["likelihood"]
    shipped = load_eval_values("nvae-d20")
    assert row["n_test"] == n and row["seed"] == 0
    assert row["train_seconds_per_epoch"] == entry["train_seconds_per_epoch"]
    assert math.isclose(row["log_px"], shipped["log_px"][:n].double().mean().item(), abs_tol=2e-3)
    assert math.isclose(row["elbo"], shipped["elbo"][:n].double().mean().item(), abs_tol=2e-3)
