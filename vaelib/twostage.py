"""The two-stage experiment of notebook 08: ex-post densities on a trained model's codes, sampled and scored.

A plain autoencoder, an RAE (Ghosh et al. 2020) and a VAE each get a density fitted to their training codes after
training (``vaelib.expost``); its samples are decoded and scored with the shipped classifier (``vaelib.scores``).
``ExPostModel`` makes "decoder + ex-post density" a model whose log p(x) the usual importance-sampling evaluation
bounds. ``run_study`` measures all of it; ``python -m vaelib.twostage`` runs it on the shipped models and writes
runs/nb08-study.json; with ``--ship`` (all models, the default ``StudyConfig``, or ``--merge`` of parts that together
are exactly that) it ships pretrained/nb08-study.json through ``vaelib.manifest.ship``; a partial result is refused.
``run_seeds`` (``--seeds``) retrains the models whose differences are small with other seeds. Derived in
notebooks/08_do_we_need_the_v.ipynb.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from vaelib.checkpoint import load_checkpoint, save_checkpoint
from vaelib.config import PRETRAINED_DIR, runs_dir
from vaelib.data import MNIST, grey, load_mnist
from vaelib.evaluate import evaluate, mean_se, paired_difference
from vaelib.expost import (
    GaussianMixtureDensity,
    KernelDensity,
    fit_gaussian,
    heldout_loglik,
    select_kde,
    select_mixture,
)
from vaelib.latent import encode_dataset
from vaelib.losses import DiagonalGaussian, LatentVariableModel, PointMass
from vaelib.manifest import ARTEFACT_KIND as FILE_KIND
from vaelib.manifest import EVAL_SEED, register_artefact
from vaelib.models import VAE
from vaelib.pretrained import load_artefact, load_classifier, load_eval_values, load_pretrained, manifest_entry
from vaelib.scores import classifier_features, feature_moments, score_samples
from vaelib.shipped import NB08_DIMS, shipped_configs
from vaelib.train import model_from_checkpoint, train

F64 = torch.float64
STUDY_NAME, SEEDS_NAME = "nb08-study.json", "nb08-seeds.json"  # shipped as pretrained/<name>, with the study's .pt
SHIP_STUDY, SHIP_SEEDS = "python -m vaelib.twostage --ship", "python -m vaelib.twostage --seeds --ship"
Density = GaussianMixtureDensity | KernelDensity


@dataclass(frozen=True)
class StudyConfig:
    """What ``run_study`` measures, and on how much."""

    ns: tuple[int, ...] = (500, 1000, 2000, 5000, 10_000, 20_000, 50_000)  # training codes per ex-post fit
    components: tuple[int, ...] = (1, 3, 10, 30, 100)     # mixture sizes K tried (chosen on validation codes)
    bandwidths: tuple[float, ...] = (0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0)  # KDE bandwidths tried (whitened units)
    seeds: tuple[int, ...] = (0, 1, 2)   # code subsets, for N <= repeat_below
    repeat_below: int = 5000
    kde_val: int = 2000                  # validation / test codes for the KDE (its cost is N x codes)
    kde_test: int = 5000
    curve_samples: int = 10_000          # samples scored per point of the N curves (one chunk)
    score_chunk: int = 10_000            # the score table: chunks of this many samples ...
    score_chunks: int = 4                # ... this many chunks (SE over chunks)
    proposal_scales: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)  # autoencoder proposal sd / code sd, tried ...
    proposal_images: int = 500           # ... on this many validation images, with k_proposal samples
    k_proposal: int = 100
    logpx_images: int = 2000             # test images for the log p(x) bounds, with k samples
    k: int = 500


SMOKE_STUDY = StudyConfig(ns=(200, 1000), components=(1, 2, 5), bandwidths=(0.2, 0.5), seeds=(0, 1), repeat_below=200,
                          kde_val=300, kde_test=500, curve_samples=1000, score_chunk=1000, score_chunks=2,
                          proposal_scales=(0.1, 0.3), proposal_images=50, k_proposal=10, logpx_images=100, k=20)


def training_codes(model: VAE, x: torch.Tensor, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """The codes (N, D) float64 an ex-post density is fitted to, for uint8 images x (N, 784) with one seeded
    binarization: an autoencoder's z, or one draw z ~ q(z|x) per image for a VAE (the aggregate posterior q(z) of
    notebook 06, which is what its decoder was trained on)."""
    post = encode_dataset(model, x, seed=seed, batch_size=batch_size, dtype=F64)
    if isinstance(post, PointMass):
        return post.z
    return post.rsample(generator=torch.Generator().manual_seed(seed + 1))


@dataclass(frozen=True)
class Codes:
    """A model's codes of the training, validation and test images (N, D) float64 each."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor


def split_codes(model: VAE, data: MNIST, seed: int = 0) -> Codes:
    """``training_codes`` of the three splits (one seeded binarization each)."""
    splits = (data.train_x, data.val_x, data.test_x)
    return Codes(*(training_codes(model, x, seed=seed + i) for i, x in enumerate(splits)))


class ExPostModel:
    """A trained autoencoder or VAE whose prior is replaced by an ex-post density g: p(x) = integral g(z) p(x|z) dz.

    It implements the ``LatentVariableModel`` interface, so ``vaelib.evaluate`` bounds its log p(x) by importance
    sampling. ``encode`` returns the proposal: the VAE's own q(z|x), or, around an autoencoder's code,
    N(code, diag exp(proposal_logvar)). Every proposal gives a valid lower bound; a better one a tighter bound."""

    has_closed_kl = False  # the ELBO uses log r(z|x) - log g(z) at the sampled z

    def __init__(self, model: LatentVariableModel, density: Density,
                 proposal_logvar: torch.Tensor | None = None) -> None:
        self.model, self.density, self.proposal_logvar = model, density, proposal_logvar

    def eval(self) -> "ExPostModel":
        """Put the wrapped network in eval mode (as ``evaluate`` does with any model)."""
        if hasattr(self.model, "eval"):
            self.model.eval()
        return self

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """The proposal r(z|x) for a batch (B, 784)."""
        post = self.model.encode(x)
        if isinstance(post, PointMass):
            if self.proposal_logvar is None:
                raise ValueError("An autoencoder's code is a point: pass proposal_logvar (D,) for the proposal "
                                 "around it.")
            return DiagonalGaussian(post.z, self.proposal_logvar.to(post.z).expand_as(post.z))
        return post

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.model.log_px_given_z(x, z)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log g(z): z (..., D) -> (...,), in z's dtype."""
        return self.density.log_prob(z.reshape(-1, z.shape[-1])).reshape(z.shape[:-1]).to(z.dtype)


@torch.no_grad()
def decode_images(model: VAE, z: torch.Tensor, batch_size: int = 5000) -> torch.Tensor:
    """Decoded pixel probabilities (n, 784) float32 for codes z (n, D)."""
    model.eval()
    return torch.cat([torch.sigmoid(model.decode(z[a:a + batch_size].float())) for a in range(0, len(z), batch_size)])


def fit_families(train: torch.Tensor, val: torch.Tensor, cfg: StudyConfig,
                 seed: int = 0) -> dict[str, tuple[Density, dict]]:
    """The three ex-post densities of codes ``train``: family -> (density, its chosen setting)."""
    mixture = select_mixture(train, val, cfg.components, seed)
    kde = select_kde(train, val[:cfg.kde_val], cfg.bandwidths)
    return {"gaussian": (fit_gaussian(train), {}),
            "mixture": (mixture.density, {"n_components": mixture.density.n_components,
                                          "validation": [(r["n_components"], r["val_loglik"]) for r in mixture.table]}),
            "kde": (kde.density, {"bandwidth": kde.density.bandwidth})}


def density_vs_n(codes: Codes, cfg: StudyConfig, score: Callable[[torch.Tensor], dict[str, Any]] | None = None
                 ) -> tuple[list[dict[str, Any]], dict[str, tuple[Density, dict]]]:
    """Ex-post density quality against the number of training codes N (notebook 08, section 4).

    For each N in ``cfg.ns`` (and each seed while N <= ``cfg.repeat_below``: another random subset of the codes) fit
    the three families and record the mean log-likelihood of the test codes with its SE; ``score`` (codes ->
    numbers) adds sample scores of ``cfg.curve_samples`` draws from the mixture. Returns the rows and the fits at the
    largest N (seed 0)."""
    rows, last = [], {}
    for n in cfg.ns:
        for seed in (cfg.seeds if n <= cfg.repeat_below else cfg.seeds[:1]):
            subset = codes.train[torch.randperm(len(codes.train), generator=torch.Generator().manual_seed(seed))[:n]]
            fits = fit_families(subset, codes.val, cfg, seed)
            for family, (density, setting) in fits.items():
                test = codes.test[:cfg.kde_test] if family == "kde" else codes.test
                ll, se = heldout_loglik(density, test)
                row = {"n": n, "seed": seed, "family": family, "test_loglik": ll, "test_loglik_se": se, **setting}
                if score is not None and family == "mixture":
                    row.update(score(density.sample(cfg.curve_samples, torch.Generator().manual_seed(seed))))
                rows.append(row)
            last = fits if seed == cfg.seeds[0] else last
    return rows, last


def proposal_logvar(codes: torch.Tensor, scale: float) -> torch.Tensor:
    """log of (scale x the codes' standard deviation)^2 per dimension (D,): an autoencoder's proposal variance."""
    return 2 * (scale * codes.std(0)).log()


def choose_proposal(model: VAE, density: Density, x: torch.Tensor, codes: torch.Tensor, scales: Sequence[float],
                    k: int) -> tuple[float, list[dict[str, float]]]:
    """The proposal scale with the highest mean log p(x) bound on images x (uint8), and the bound for each scale."""
    table = []
    for s in scales:
        out = evaluate(ExPostModel(model, density, proposal_logvar(codes, s)), x, k=k, seed=1, batch_size=100)
        table.append({"scale": s, "log_px": out["log_px"], "log_px_se": out["log_px_se"]})
    return max(table, key=lambda r: r["log_px"])["scale"], table


EXPOST_KINDS = ("ae", "rae", "nvae")  # models that get ex-post densities: autoencoder, RAE, VAE (two-stage VAE)


def _scores(clf: Any, images: torch.Tensor, reference: tuple[torch.Tensor, torch.Tensor],
            chunks: int) -> dict[str, Any]:
    return asdict(score_samples(clf, images, reference, chunks))


def two_stage_logpx(name: str, model: VAE, density: Density, codes: Codes, data: MNIST, cfg: StudyConfig,
                    vae_log_px: torch.Tensor | None = None) -> tuple[dict[str, Any], torch.Tensor]:
    """log p(x) bound of ``model`` with the ex-post ``density`` as its prior on the first ``cfg.logpx_images`` test
    images (the manifest's seed, so the images pair up with shipped per-image values ``vae_log_px``): a summary row
    and the per-image values."""
    scale, table, logvar = None, [], None
    if model.config.latent == "deterministic":  # an autoencoder: choose the proposal's width
        scale, table = choose_proposal(model, density, data.val_x[:cfg.proposal_images], codes.train,
                                       cfg.proposal_scales, cfg.k_proposal)
        logvar = proposal_logvar(codes.train, scale)
    x = data.test_x[:cfg.logpx_images]
    out = evaluate(ExPostModel(model, density, logvar), x, k=cfg.k, seed=EVAL_SEED, batch_size=100, per_example=True)
    row = {"model": name, "D": model.latent_dim, "density": "mixture", "n_components": density.n_components,
           "proposal_scale": scale, "proposal_table": table, "log_px": out["log_px"], "log_px_se": out["log_px_se"],
           "elbo": out["elbo"], "elbo_se": out["elbo_se"], "n": len(x), "k": cfg.k}
    if vae_log_px is not None:
        row["minus_vae"], row["minus_vae_se"] = paired_difference(out["values"]["log_px"], vae_log_px[:len(x)])
    return row, out["values"]["log_px"]


def run_study(models: dict[str, VAE], data: MNIST, clf: Any, cfg: StudyConfig, float32: dict[str, VAE] | None = None,
              vae_log_px: dict[int, torch.Tensor] | None = None, progress: bool = False) -> dict[str, Any]:
    """Everything notebook 08 reads, for models named KIND-dD (KIND in ae, rae, nvae, mog, laplace, conv):

    * ``scores``: classifier confidence, class balance and Fréchet distance to the test images of samples from each
      generator (the prior of the VAEs; the full-covariance Gaussian and the mixture fitted ex post to all training
      codes of ae, rae, nvae), plus real training digits; with ``float32`` (the same models before the float16
      export) the per-chunk shift of the scores that the rounding caused;
    * ``curves``: ``density_vs_n`` for ae, rae, nvae;
    * ``logpx``: ``two_stage_logpx`` with the mixture, paired with the VAE's shipped values ``vae_log_px[D]``;
    * ``tensors``: the ex-post densities fitted to all training codes (``name/gaussian``, ``name/mixture``: their
      ``state()``) and the per-image log p(x) bounds (``name/log_px``), for the notebook's live checks (not JSON).
    """
    reference = feature_moments(classifier_features(clf, grey(data.test_x)))
    n_score = cfg.score_chunk * cfg.score_chunks
    out: dict[str, Any] = {"config": asdict(cfg), "scores": [], "curves": [], "logpx": [], "seconds": {}, "tensors": {}}
    out["scores"].append({"model": "real", "kind": "real", "D": None, "generator": "training digits",
                          **_scores(clf, grey(data.train_x[:n_score]), reference, cfg.score_chunks)})
    for name, model in models.items():
        t0, c0, kind, D = time.perf_counter(), time.process_time(), name.split("-")[0], model.latent_dim
        gen, generators = torch.Generator().manual_seed(7), {}
        if kind in EXPOST_KINDS:
            codes = split_codes(model, data)
            curve_score = lambda z, m=model: {k: v for k, v in _scores(clf, decode_images(m, z), reference, 1).items()  # noqa: E731
                                              if k in ("fid", "confidence", "confidence_se", "entropy_ratio")}
            rows, fits = density_vs_n(codes, cfg, curve_score)
            out["curves"] += [{"model": name, "kind": kind, "D": D, **r} for r in rows]
            generators = {family: fits[family][0].sample(n_score, gen) for family in ("gaussian", "mixture")}
            row, values = two_stage_logpx(name, model, fits["mixture"][0], codes, data, cfg, (vae_log_px or {}).get(D))
            out["logpx"].append(row)
            out["tensors"].update({f"{name}/{f}/{key}": t for f in ("gaussian", "mixture")
                                   for key, t in fits[f][0].state().items()} | {f"{name}/log_px": values.float()})
        if kind not in ("ae", "rae"):
            generators["prior"] = model.sample_prior(n_score, gen).double()
        for generator, z in generators.items():
            row = {"model": name, "kind": kind, "D": D, "generator": generator,
                   **_scores(clf, decode_images(model, z), reference, cfg.score_chunks)}
            if float32 and name in float32:
                s32 = _scores(clf, decode_images(float32[name], z), reference, cfg.score_chunks)
                row["float16_shift"] = {
                    key: mean_se(torch.tensor(row[key + "_chunks"]) - torch.tensor(s32[key + "_chunks"]))
                    for key in ("fid", "entropy_ratio")}
                row["float16_shift"]["confidence"] = (row["confidence"] - s32["confidence"], math.nan)
            out["scores"].append(row)
        out["seconds"][name] = {"wall": round(time.perf_counter() - t0, 1), "cpu": round(time.process_time() - c0, 1)}
        if progress:
            print(f"twostage: {name} done in {out['seconds'][name]['wall']:.0f} s", flush=True)
    return out


def load_study() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The shipped study: pretrained/nb08-study.json (numbers) and its tensors (densities, per-image bounds),
    both sha256-checked."""
    result = json.loads(load_artefact("nb08-study").read_text())
    return result, load_checkpoint(load_artefact("nb08-study-tensors"), kind=FILE_KIND)


def load_seeds() -> dict[str, Any]:
    """The shipped seed replicas (pretrained/nb08-seeds.json, ``python -m vaelib.twostage --seeds``), sha256-checked."""
    return json.loads(load_artefact("nb08-seeds").read_text())


def study_density(tensors: dict[str, torch.Tensor], name: str, family: str = "mixture") -> GaussianMixtureDensity:
    """The ex-post ``family`` ("gaussian" or "mixture") fitted to all training codes of model ``name`` in the study."""
    keys = ("log_weights", "means", "chol")
    return GaussianMixtureDensity(**{key: tensors[f"{name}/{family}/{key}"] for key in keys})


def study_model_names(dims: Sequence[int] = NB08_DIMS) -> list[str]:
    """The shipped models the study reads: ae, rae, nvae (07's VAE), mog at each D, the two D = 20 variants, and 07's
    N(0, I) / VampPrior pair at D = 40 (prior samples only)."""
    return ([f"{kind}-d{d}" for d in dims for kind in ("ae", "rae", "nvae", "mog")]
            + ["laplace-d20", "conv-d20", "std-d40", "vamp-d40"])


def merge_parts(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One study from parts run on disjoint sets of models (in parallel processes): the lists concatenated, the real
    digits' row once (every part computes the same one), per-model seconds joined; the parts' configs must agree."""
    if any(p["config"] != parts[0]["config"] for p in parts):
        raise ValueError("The study parts were run with different StudyConfigs: rerun them with one config.")
    out = {"config": parts[0]["config"], "scores": [parts[0]["scores"][0]], "curves": [], "logpx": [], "seconds": {},
           "tensors": {}}
    for part in parts:
        out["scores"] += [r for r in part["scores"] if r["kind"] != "real"]
        out["curves"] += part["curves"]
        out["logpx"] += part["logpx"]
        out["seconds"].update(part["seconds"])
        out["tensors"].update(part.get("tensors", {}))
    return out


# --- several training seeds where a difference is small (notebook 08, section 5) -------------------------------------

SEED_LIKELIHOOD_MODELS = ("nvae-d20", "laplace-d20")  # Gaussian vs Laplace q: log p(x) within a nat
SEED_TEST_IMAGES = 2000  # the first test images (the manifest's binarization: seed 0 pairs with the shipped values)
REPLICA_SEEDS = (0, 1, 2)


def replica(name: str, seed: int, data: MNIST, progress: bool = False) -> tuple[VAE, float]:
    """The shipped model ``name`` (seed 0) or the same config trained with another seed into runs/ (resumable), and
    its training seconds per epoch."""
    if seed == 0:
        model, _ = load_pretrained(name)
        return model, manifest_entry(name)["train_seconds_per_epoch"]
    cfg = replace(shipped_configs()[name], seed=seed)
    result = train(cfg, data, "cpu", checkpoint=runs_dir() / f"nb08-{name}-s{seed}.pt", progress=progress)
    return result.model, sum(result.history["seconds"]) / len(result.history["seconds"])


def run_seeds(data: MNIST, cfg: StudyConfig, seeds: Sequence[int] = REPLICA_SEEDS,
              models: Sequence[str] = SEED_LIKELIHOOD_MODELS, test_images: int | None = None,
              progress: bool = False) -> dict[str, Any]:
    """Each of ``models`` retrained with other ``seeds`` (seed 0 is the shipped model): its test ELBO and log p(x)
    on the first ``test_images`` test images (k = ``cfg.k``, the manifest's binarization, so seed 0 pairs with the
    shipped per-image values) and its training seconds per epoch."""
    x_test = data.test_x[:test_images]
    out: dict[str, Any] = {"config": asdict(cfg), "seeds": list(seeds), "likelihood": []}
    for seed in seeds:  # seed-major: an interrupted run still has every model of the first seeds
        for name in models:
            model, epoch_seconds = replica(name, seed, data, progress)
            test = evaluate(model, x_test, k=cfg.k, seed=EVAL_SEED, batch_size=100)
            out["likelihood"].append({"model": name, "seed": seed, "D": model.latent_dim,
                                      "train_seconds_per_epoch": epoch_seconds,
                                      **{k: test[k] for k in ("elbo", "elbo_se", "log_px", "log_px_se")},
                                      "n_test": len(x_test), "k": cfg.k})
            if progress:
                print(f"twostage seeds: {name} seed {seed} done", flush=True)
    return out


def incomplete_study(result: dict[str, Any]) -> str | None:
    """Why ``result`` is not the complete result of ``python -m vaelib.twostage --ship`` (every model of
    ``study_model_names()``, the default ``StudyConfig``), or None if it is: only a complete study is shipped."""
    if json.loads(json.dumps(result["config"])) != json.loads(json.dumps(asdict(StudyConfig()))):
        return "it was run with another StudyConfig than the default"
    missing = sorted(set(study_model_names()) - set(result["seconds"]))
    extra = sorted(set(result["seconds"]) - set(study_model_names()))
    if missing or extra:
        return f"its models differ from the study's ({'missing ' + ', '.join(missing[:4]) if missing else ''}" \
               f"{'; extra ' + ', '.join(extra[:4]) if extra else ''})"
    return None


def write_study(result: dict[str, Any], path: Path, command: str, ship: bool = False) -> None:
    """Write a study as JSON (numbers) and .pt (tensors) at ``path``; with ``ship``, a complete study (else a
    ValueError) is then shipped as pretrained/nb08-study.json and .pt, recorded in the manifest."""
    why = incomplete_study(result) if ship else None
    if why is not None:
        raise ValueError(f"Not shipping this study, because {why}: ship only the result of `{SHIP_STUDY}` "
                         "(or --merge of parts that together are that run).")
    tensors = result.pop("tensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    save_checkpoint(path.with_suffix(".pt"), tensors, kind=FILE_KIND)
    if ship:
        register_artefact("nb08-study", path, SHIP_STUDY, wall_seconds=result["wall_seconds"],
                          cpu_seconds=result["cpu_seconds"])
        register_artefact("nb08-study-tensors", path.with_suffix(".pt"), SHIP_STUDY,
                          about="the ex-post densities and per-image log p(x) bounds behind nb08-study.json")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line (``python -m vaelib.twostage --help``): run the study on the shipped models and ship its result;
    or run it in parts (``--models ... --out runs/part.json``) and ``--merge`` them; or ``--seeds``."""
    p = argparse.ArgumentParser(prog="python -m vaelib.twostage", description="Notebook 08's two-stage study.",
                                epilog="examples:\n  python -m vaelib.twostage                      # everything, "
                                       "one process\n  python -m vaelib.twostage --models ae-d20 rae-d20 --out "
                                       "runs/a.json\n  python -m vaelib.twostage --ship --merge runs/a.json "
                                       "runs/b.json   # -> pretrained/\n  python -m vaelib.twostage --seeds --ship"
                                       "         # -> pretrained/nb08-seeds.json",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dims", type=int, nargs="+", default=list(NB08_DIMS), help="latent sizes D")
    p.add_argument("--models", nargs="+", default=None, help="only these shipped models (default: all of the D's)")
    p.add_argument("--merge", nargs="+", default=None, metavar="PART", help="merge study parts (JSON files) into --out")
    p.add_argument("--seeds", action="store_true", help="retrain the close models with other seeds (REPLICA_SEEDS)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None,
                   help="where to write the JSON (default: runs/nb08-study.json or nb08-seeds.json)")
    p.add_argument("--ship", action="store_true", help="ship the complete result into pretrained/ (a partial one is "
                                                        "refused)")
    a = p.parse_args(argv)
    if a.ship and (a.out is not None or a.models is not None or a.dims != list(NB08_DIMS)):
        p.error("--ship ships only the complete study (or seeds) into pretrained/: drop --out, --models and --dims")
    if a.out is not None and Path(a.out).resolve().is_relative_to(PRETRAINED_DIR.resolve()):
        p.error(f"--out {a.out} is inside pretrained/, which only --ship writes: pass a path under runs/")
    torch.set_num_threads(a.threads)
    command = " ".join(["python -m vaelib.twostage", *(sys.argv[1:] if argv is None else argv)])
    folder = runs_dir() / "build" if a.ship else runs_dir()  # shipped from runs/build/, trials stay in runs/
    path = Path(a.out) if a.out else folder / (SEEDS_NAME if a.seeds else STUDY_NAME)
    if a.merge:
        parts = [json.loads(Path(f).read_text()) | {"tensors": load_checkpoint(Path(f).with_suffix(".pt"),
                                                                                kind=FILE_KIND)} for f in a.merge]
        result = merge_parts(parts)
        result.update(command=command,
                      parts=[{k: q[k] for k in ("command", "wall_seconds", "cpu_seconds")} for q in parts],
                      wall_seconds=max(q["wall_seconds"] for q in parts),
                      cpu_seconds=sum(q["cpu_seconds"] for q in parts),
                      threads=parts[0]["threads"], torch=torch.__version__,
                      float32_checked=sorted(set().union(*(q["float32_checked"] for q in parts))))
        try:
            write_study(result, path, command, ship=a.ship)
        except ValueError as err:
            p.error(str(err))
        print(f"twostage: merged {len(parts)} parts into {path}{' and shipped it' if a.ship else ''}")
        return result
    data, clf = load_mnist(), load_classifier()
    t0, c0 = time.perf_counter(), time.process_time()
    if a.seeds:
        result = run_seeds(data, StudyConfig(), test_images=SEED_TEST_IMAGES, progress=True)
        result.update(command=command, wall_seconds=round(time.perf_counter() - t0, 1),
                      cpu_seconds=round(time.process_time() - c0, 1), threads=a.threads, torch=torch.__version__)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
        if a.ship:  # the seeds run has no options that change it: always the complete result
            register_artefact("nb08-seeds", path, SHIP_SEEDS, wall_seconds=result["wall_seconds"])
        print(f"twostage: wrote {path} ({result['wall_seconds'] / 60:.1f} min)")
        return result
    names = a.models or study_model_names(a.dims)
    models = {n: load_pretrained(n)[0] for n in names}
    float32 = {n: model_from_checkpoint(runs_dir() / f"build-{n}.pt")[0] for n in names
               if manifest_entry(n).get("weights_dtype") == "float16" and (runs_dir() / f"build-{n}.pt").exists()}
    vae_log_px = {d: load_eval_values(f"nvae-d{d}")["log_px"] for d in {m.latent_dim for m in models.values()}
                  if d in NB08_DIMS}
    result = run_study(models, data, clf, StudyConfig(), float32, vae_log_px, progress=True)
    result.update(command=command, wall_seconds=round(time.perf_counter() - t0, 1),
                  cpu_seconds=round(time.process_time() - c0, 1), threads=a.threads, torch=torch.__version__,
                  float32_checked=sorted(float32))
    write_study(result, path, command, ship=a.ship)
    print(f"twostage: wrote {path} ({result['wall_seconds'] / 60:.1f} min){' and shipped it' if a.ship else ''}")
    return result


if __name__ == "__main__":
    main()
