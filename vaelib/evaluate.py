"""Evaluation over a whole split: mean ELBO terms and the importance-weighted log p(x), with standard errors.

Every estimate here samples z (the ELBO with z = mu is not the ELBO; notebook 04 shows the
difference) and, for binarized data, draws one dynamic binarization of the split from the seeded
generator, so a number is reproducible for a given seed. Used by notebooks 04-06 and the trainer.
"""
from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from vaelib.data import batch_indices, pixels
from vaelib.losses import LatentVariableModel, elbo_terms, iwae_log_px


def mean_se(values: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error of the mean (std / sqrt(n), float64) of a 1-D tensor of per-example values."""
    v = values.double()
    se = v.std().item() / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return v.mean().item(), se


@torch.no_grad()
def evaluate(model: LatentVariableModel, x: torch.Tensor, *, binarized: bool = True, k: int = 0, seed: int = 0,
             batch_size: int = 500, progress: bool = False) -> dict[str, float]:
    """Mean per-example ``elbo``, ``recon``, ``kl`` (and ``log_px`` with ``k`` importance samples if k > 0),
    each with its standard error ``*_se`` over examples, for uint8 images ``x`` (N, 784)."""
    if hasattr(model, "eval"):
        model.eval()
    gen = torch.Generator(device=x.device).manual_seed(seed)
    parts: dict[str, list[torch.Tensor]] = {"elbo": [], "recon": [], "kl": [], "log_px": []}
    n = len(x)
    for idx in tqdm(list(batch_indices(n, batch_size, shuffle=False, device=x.device)),
                    desc=f"evaluate (k={k})", disable=not progress, leave=False):
        xb = pixels(x[idx], binarized, gen)
        terms = elbo_terms(model, xb, gen)
        parts["elbo"].append(terms.elbo)
        parts["recon"].append(terms.recon)
        parts["kl"].append(terms.kl)
        if k > 0:
            parts["log_px"].append(iwae_log_px(model, xb, k, gen))
    out: dict[str, float] = {"n": float(n), "k": float(k)}
    for name, chunks in parts.items():
        if chunks:
            out[name], out[name + "_se"] = mean_se(torch.cat(chunks))
    return out
