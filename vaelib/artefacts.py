"""Expensive intermediates of notebooks 06 and 07: computed by one function, shipped, rechecked live on a subset.

Notebook 06 needs log q(z) of the 50,000-component aggregate posterior at 5,000 draws (i, z) per model, with
and without each draw's own component, on a 161 x 161 grid and at 20,000 prior draws, plus the 1-D marginal
KLs; notebook 07 needs log q(z) of a 10,000-component mixture at 4,000 draws per model. That is about 3e9
Gaussian evaluations (minutes on a 2-core CPU) that teach nothing a subset does not show. So

    python -m vaelib.artefacts nb06 nb07

computes them once at full size (always the complete result, from the shipped models) and ships them as
pretrained/nb06-aggregate.pt and pretrained/nb07-aggregate.pt (float32) through ``vaelib.manifest.ship``, each
recorded with its sha256, this command and the ``config`` it was computed with (sizes, seeds and the sha256 of
each model checkpoint); ``make pretrained`` runs it after ``vaelib.build``, whose models it reads.
``nb06_values`` / ``nb07_values`` return the shipped values when the notebook asks for exactly that config, and
otherwise compute them now (smoke mode: a small N), through the same code. Each notebook then recomputes a random
subset live and asserts that it agrees.

Derived in notebooks/06_aggregate_posterior.ipynb and notebooks/07_beyond_gaussian.ipynb.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

import torch

from vaelib.aggregate import latent_grid, marginal_kl_1d
from vaelib.checkpoint import config_diff, load_checkpoint, save_checkpoint
from vaelib.config import runs_dir
from vaelib.data import load_mnist
from vaelib.latent import encode_dataset
from vaelib.manifest import ARTEFACT_KIND, register_artefact
from vaelib.mixture import log_mixture_density, sample_mixture
from vaelib.pretrained import load_artefact, load_pretrained, manifest_entry, read_manifest

FILE_KIND = ARTEFACT_KIND  # the file format's kind for values computed from shipped models
ENCODE_SEED = 0    # the binarization of the training images that are encoded (encode_dataset's seed)
DRAW_SEED = 6001   # the draws (i, z) of the ELBO-surgery estimates
PRIOR_SEED = 6002  # notebook 06's prior draws z ~ N(0, I) (the holes)
GRID_LIM = 4.0     # notebook 06's grid of the 2-D latent space: [-GRID_LIM, GRID_LIM]^2
NB06 = {"name": "nb06-aggregate", "models": ("mlp-d2", "mlp-d50"), "n": 50_000, "draws": 5_000, "grid_n": 161,
        "prior_n": 20_000, "marginal_grid": {"mlp-d2": (6.0, 401), "mlp-d50": (6.0, 241)}}
NB07 = {"name": "nb07-aggregate", "models": ("std-d40", "vamp-d40"), "n": 10_000, "draws": 4_000}

Posteriors = dict[str, tuple[torch.Tensor, torch.Tensor]]  # model name -> (mu, logvar), each (N, D) float64


def encode_train(model: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The aggregate posterior's components: q(z|x_i) of uint8 images x (N, 784), one seeded binarization, float64."""
    return encode_dataset(model, x, seed=ENCODE_SEED, dtype=torch.float64).params()


def surgery_draws(mu: torch.Tensor, logvar: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """M seeded draws i ~ Uniform{1..N}, z ~ q(z|x_i): z (M, D) float64 and i (M,), the draws the shipped values use."""
    return sample_mixture(m, mu.double(), logvar.double(), generator=torch.Generator().manual_seed(DRAW_SEED))


def prior_draws(n: int, d: int) -> torch.Tensor:
    """n seeded draws z ~ N(0, I) (n, d) float64: notebook 06's prior samples for the holes of q(z)."""
    return torch.randn(n, d, generator=torch.Generator().manual_seed(PRIOR_SEED), dtype=torch.float64)


def _config(post: Posteriors, **sizes: Any) -> dict[str, Any]:
    """What the values depend on: the model checkpoints (sha256), N, the seeds and the sizes (JSON-normal)."""
    lengths = {len(mu) for mu, _ in post.values()}
    if len(lengths) != 1:
        raise ValueError(f"The posteriors have different numbers of components {sorted(lengths)}: encode the same "
                         "images.")
    cfg = {"models": {name: manifest_entry(name)["sha256"] for name in post}, "n_components": lengths.pop(),
           "encode_seed": ENCODE_SEED, "draw_seed": DRAW_SEED, **sizes}
    return json.loads(json.dumps(cfg))  # tuples -> lists, as the manifest stores them


def load_or_compute(name: str, config: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The values of artefact ``name`` if they were shipped for exactly ``config`` (sha256-checked), else ``compute()``.

    Prints which it did (and, when it computes, why the shipped values do not apply)."""
    entry = next((e for e in read_manifest() if e["name"] == name), None)
    if entry is not None and entry.get("config") == config:
        values = load_checkpoint(load_artefact(name), kind=FILE_KIND)["values"]
        print(f"{name}: loaded the shipped values (pretrained/{entry['file']}, sha256 checked; rebuilt by "
              f"`{entry['command']}`)")
        return values
    why = "nothing shipped" if entry is None else "; ".join(config_diff(entry.get("config", {}), config)[:3])
    t0 = time.perf_counter()
    values = compute()
    print(f"{name}: computed now in {time.perf_counter() - t0:.1f} s ({why})")
    return values


def _surgery_values(mu: torch.Tensor, logvar: torch.Tensor, draws: int, loo: bool) -> dict[str, torch.Tensor]:
    """log q(z) (and without the own component) at the seeded draws, float32, and the components i as int32."""
    z, idx = surgery_draws(mu, logvar, draws)
    out = {"idx": idx.int(), "log_qz": log_mixture_density(z, mu, logvar).float()}  # (M,) each
    if loo:
        out["log_qz_loo"] = log_mixture_density(z, mu, logvar, exclude=idx).float()
    return out


def _nb06(post: Posteriors, draws: int, grid_n: int, prior_n: int, marginal_grid: dict[str, tuple[float, int]],
          grid_model: str) -> tuple[dict[str, Any], Callable[[], dict[str, Any]]]:
    """Notebook 06's config and the function that computes its values."""
    cfg = _config(post, draws=draws, grid={"model": grid_model, "lim": GRID_LIM, "n": grid_n}, prior_n=prior_n,
                  prior_seed=PRIOR_SEED, marginal_grid={k: list(v) for k, v in marginal_grid.items()})

    def compute() -> dict[str, Any]:
        mu2, lv2 = post[grid_model]
        return {"surgery": {name: _surgery_values(mu, lv, draws, loo=True) for name, (mu, lv) in post.items()},
                "grid_log_q": log_mixture_density(latent_grid(GRID_LIM, grid_n)[1], mu2, lv2).float(),
                "prior_log_q": log_mixture_density(prior_draws(prior_n, mu2.shape[1]), mu2, lv2).float(),
                "marginal_kl": {name: marginal_kl_1d(mu, lv, *marginal_grid[name]).float()
                                for name, (mu, lv) in post.items()}}

    return cfg, compute


def nb06_values(post: Posteriors, draws: int, grid_n: int, prior_n: int,
                marginal_grid: dict[str, tuple[float, int]], grid_model: str = "mlp-d2") -> dict[str, Any]:
    """Notebook 06's intermediates for the posteriors ``post`` (name -> (mu, logvar)), shipped or computed now:
    ``surgery[name]`` (idx, log_qz, log_qz_loo at ``surgery_draws``), ``grid_log_q`` (grid_n * grid_n,) on
    ``latent_grid(GRID_LIM, grid_n)`` and ``prior_log_q`` (prior_n,) at ``prior_draws`` for ``grid_model``, and
    ``marginal_kl[name]`` (D,) = KL(q(z_d) || N(0, 1)) by ``marginal_kl_1d`` on ``marginal_grid[name]`` = (lim, n)."""
    return load_or_compute(NB06["name"], *_nb06(post, draws, grid_n, prior_n, marginal_grid, grid_model))


def _nb07(post: Posteriors, draws: int) -> tuple[dict[str, Any], Callable[[], dict[str, Any]]]:
    """Notebook 07's config and the function that computes its values."""
    return _config(post, draws=draws), lambda: {
        "surgery": {name: _surgery_values(mu, lv, draws, loo=False) for name, (mu, lv) in post.items()}}


def nb07_values(post: Posteriors, draws: int) -> dict[str, Any]:
    """Notebook 07's intermediates, shipped or computed now: ``surgery[name]`` (idx, log_qz) at ``surgery_draws``."""
    return load_or_compute(NB07["name"], *_nb07(post, draws))


def build(which: str) -> dict[str, Any]:
    """Compute notebook ``which``'s ("nb06" or "nb07") intermediates at full size under runs/build/ and ship them."""
    spec = {"nb06": NB06, "nb07": NB07}[which]
    data = load_mnist()
    post = {name: encode_train(load_pretrained(name)[0], data.train_x[:spec["n"]]) for name in spec["models"]}
    cfg, compute = (_nb06(post, spec["draws"], spec["grid_n"], spec["prior_n"], spec["marginal_grid"], "mlp-d2")
                    if which == "nb06" else _nb07(post, spec["draws"]))
    t0 = time.perf_counter()
    values = compute()
    seconds = round(time.perf_counter() - t0, 1)
    path = save_checkpoint(runs_dir() / "build" / f"{spec['name']}.pt", {"config": cfg, "values": values},
                           kind=FILE_KIND)
    entry = register_artefact(spec["name"], path, f"python -m vaelib.artefacts {which}", config=cfg,
                              notebook={"nb06": "06_aggregate_posterior", "nb07": "07_beyond_gaussian"}[which],
                              compute_seconds=seconds, torch=torch.__version__)
    print(f"shipped pretrained/{path.name} ({path.stat().st_size / 1024:.0f} KB, sha256 {entry['sha256'][:12]}..., "
          f"computed in {seconds} s)")
    return entry


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m vaelib.artefacts [nb06] [nb07]`` (default: both)."""
    p = argparse.ArgumentParser(prog="python -m vaelib.artefacts", description=__doc__.split("\n")[0],
                                epilog="example:\n  python -m vaelib.artefacts nb06   # about 3 min on a 2-core CPU",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", nargs="*", help="nb06 and/or nb07 (default: both)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    a = p.parse_args(argv)
    unknown = sorted(set(a.which) - {"nb06", "nb07"})
    if unknown:
        p.error(f"unknown name(s) {unknown}: choose nb06 and/or nb07")
    if a.threads:
        torch.set_num_threads(a.threads)
    for which in a.which or ["nb06", "nb07"]:
        build(which)


if __name__ == "__main__":
    main()
