"""Evaluation over a whole split: mean ELBO terms and the importance-weighted log p(x), with standard errors.

Every estimate here samples z (the ELBO with z = mu is not the ELBO; notebook 04 shows the
difference) and, for binarized data, draws one dynamic binarization of the split from its own seeded
generator (z has another), so a number is reproducible for a given seed and two models evaluated with
the same seed and batch size see the same binary images: their per-example values can be compared pairwise
(``per_example=True``). Used by notebooks 04-07 and the trainer.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from tqdm.auto import tqdm

from vaelib.checks import count, images, same_shape, tensor
from vaelib.data import batch_indices, pixels
from vaelib.losses import LatentVariableModel, elbo_terms, iwae_log_px


def mean_se(values: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error of the mean (std / sqrt(n), float64) of a 1-D tensor of per-example values; with
    one value the standard error is NaN (undefined), and no values or a NaN among them is refused.
    Derived in notebooks/01_elbo.ipynb (section 4, the Monte Carlo ELBO)."""
    v = tensor(values, "values", ndim=1, floating=False).double()
    se = v.std().item() / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return v.mean().item(), se


def paired_difference(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error of a - b over the same examples (N,): the SE of the *paired* differences,
    usually far smaller than the two SEs combined, since most of the spread is which image it is."""
    tensor(a, "a", ndim=1, floating=False)
    tensor(b, "b", ndim=1, floating=False)
    same_shape(a, b, "a", "b")
    return mean_se(a.double() - b.double())


@torch.no_grad()
def evaluate(model: LatentVariableModel, x: torch.Tensor, *, binarized: bool = True, k: int = 0, seed: int = 0,
             batch_size: int = 500, progress: bool = False, per_example: bool = False) -> dict[str, Any]:
    """Mean per-example ``elbo``, ``recon``, ``kl`` (and ``log_px`` with ``k`` importance samples if k > 0),
    each with its standard error ``*_se`` over examples, for images ``x`` (N, 784): uint8 pixels 0-255, or floats
    in [0, 1] (torchvision's ``ToTensor``), taken as they are; floats outside [0, 1] are refused (never rescaled).

    The KL is the closed form where the model has one, else the single-sample Monte Carlo KL (a VampPrior).
    ``per_example=True`` adds the (N,) float64 tensors under ``"values"``, for paired comparisons."""
    images(x, "x")
    if len(x) == 0:
        raise ValueError("evaluate got no images (x is empty): pass a non-empty (N, 784) uint8 tensor.")
    k, batch_size = count(k, "k", minimum=0), count(batch_size, "batch_size")
    if hasattr(model, "eval"):
        model.eval()
    bin_gen = torch.Generator(device=x.device).manual_seed(seed)  # the binarization: same for every model
    gen = torch.Generator(device=x.device).manual_seed(seed + 1_000_003)  # z
    parts: dict[str, list[torch.Tensor]] = {"elbo": [], "recon": [], "kl": [], "log_px": []}
    n = len(x)
    for idx in tqdm(list(batch_indices(n, batch_size, shuffle=False, device=x.device)),
                    desc=f"evaluate (k={k})", disable=not progress, leave=False):
        xb = pixels(x[idx], binarized, bin_gen)
        terms = elbo_terms(model, xb, gen)
        parts["elbo"].append(terms.elbo)
        parts["recon"].append(terms.recon)
        parts["kl"].append(terms.kl)
        if k > 0:
            parts["log_px"].append(iwae_log_px(model, xb, k, gen))
    out: dict[str, Any] = {"n": float(n), "k": float(k)}
    values = {name: torch.cat(chunks).double().cpu() for name, chunks in parts.items() if chunks}
    for name, v in values.items():
        if not bool(torch.isfinite(v).all()):
            raise ValueError(f"model gives a NaN or infinite {name} for {int((~torch.isfinite(v)).sum())} of {n} "
                             "images (diverged or damaged weights): "
                             "pass a model whose checkpoint loads with finite weights.")
        out[name], out[name + "_se"] = mean_se(v)
    if per_example:
        out["values"] = values
    return out
