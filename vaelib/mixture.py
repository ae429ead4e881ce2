"""Mixtures of diagonal Gaussians: one log-density and one sampler for every mixture in the series.

Three mixtures appear: the aggregate posterior q(z) = (1/N) sum_i N(mu_i, diag sigma_i^2) of N training
images (notebook 06), the VampPrior, whose components are the encoder's posteriors at K pseudo-inputs,
and a learned Gaussian-mixture prior (notebook 07). They differ only in where the components come from,
so they share this code.

The density avoids a (M, K, D) tensor of differences: each component's log-density is a quadratic form
in z that two matrix products give for all K components at once,

    log N(z; m, diag s^2) = -1/2 [D log 2pi + sum log s^2 + sum m^2/s^2] + z . (m/s^2) - 1/2 z^2 . (1/s^2).

The terms cancel (each can be ~1e4 nats for sharp components), so they are formed in float64; the sum of
exponentials is then taken in float32 after subtracting each row's float64 maximum (error ~1e-7 nats,
half the memory traffic). Gradients flow through it (the priors are trained with it).

Derived in notebooks/06_aggregate_posterior.ipynb (section 1) and used in notebooks/07_beyond_gaussian.ipynb.
"""
from __future__ import annotations

import math

import torch

from vaelib.checks import count, same_shape, tensor
from vaelib.losses import LOG_2PI


def log_mixture_density(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor,
                        log_weights: torch.Tensor | None = None, exclude: torch.Tensor | None = None,
                        rows: int = 2048, chunk: int = 4096) -> torch.Tensor:
    """log sum_k w_k N(z; means_k, diag exp(logvars_k)): z (..., D), means/logvars (K, D) -> (...,).

    The result has the wider of z's and the components' dtypes (float64 components give a float64 answer).

    ``log_weights`` (K,) need not be normalized (they go through log_softmax); None means uniform 1/K.
    ``exclude`` (M,) with z of shape (M, D) drops component ``exclude[m]`` for row m and renormalizes the
    uniform weights over the K - 1 others (leave-one-out: the mixture of the *other* training images).
    Work is blocked ``rows`` codes x ``chunk`` components at a time, so memory stays bounded.
    """
    tensor(z, "z", finite=False, nonempty=False)
    tensor(means, "means", ndim=2)
    tensor(logvars, "logvars", ndim=2)
    same_shape(means, logvars, "means", "logvars")
    rows, chunk = count(rows, "rows"), count(chunk, "chunk")
    K, D = means.shape
    if z.shape[-1] != D:
        raise ValueError(f"z has {z.shape[-1]} dimensions but the mixture's components have {D}.")
    if exclude is not None and (log_weights is not None or z.dim() != 2 or K < 2):
        raise ValueError("exclude= needs uniform weights, z of shape (M, D) and at least two components.")
    out_dtype = torch.promote_types(z.dtype, means.dtype)
    if z.numel() == 0:
        return torch.empty(z.shape[:-1], dtype=out_dtype, device=z.device)
    flat = z.reshape(-1, D).double()
    means, logvars = means.double(), logvars.double()
    prec = (-logvars).exp()  # (K, D)
    mp = means * prec
    const = -0.5 * (D * LOG_2PI + logvars.sum(-1) + (means * mp).sum(-1))  # (K,)
    if log_weights is None:
        const = const - math.log(K - 1 if exclude is not None else K)
    else:
        const = const + torch.log_softmax(log_weights.double(), dim=-1)
    out = []
    for r in range(0, len(flat), rows):
        zr = flat[r:r + rows]  # (R, D)
        parts = []
        for a in range(0, K, chunk):
            logp = torch.addmm(const[a:a + chunk], zr, mp[a:a + chunk].T)  # (R, C): log w + const + z.m/s^2
            logp = logp - 0.5 * (zr * zr) @ prec[a:a + chunk].T  # ... - z^2/(2 s^2)
            if exclude is not None:
                local = exclude[r:r + rows].to(zr.device) - a  # (R,) component index inside this chunk
                hit = (local >= 0) & (local < logp.shape[1])
                mask = torch.zeros_like(logp, dtype=torch.bool)
                mask[torch.arange(len(zr), device=zr.device)[hit], local[hit]] = True
                logp = logp.masked_fill(mask, -math.inf)
            top = logp.detach().max(dim=1, keepdim=True).values  # (R, 1) float64
            top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))  # a chunk with nothing left
            parts.append((logp - top).float().exp().sum(1).double().log() + top[:, 0])  # (R,)
        out.append(torch.logsumexp(torch.stack(parts), dim=0))
    return torch.cat(out).reshape(z.shape[:-1]).to(out_dtype)


def sample_mixture(n: int, means: torch.Tensor, logvars: torch.Tensor, log_weights: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """n draws from the mixture, without gradients: a component k per draw, then z ~ N(means_k, exp(logvars_k)).

    Returns z (n, D) and the components k (n,). ``log_weights`` None means uniform (e.g. i ~ Uniform{1..N}
    for the aggregate posterior). The standard deviation is exp(logvar / 2).
    """
    n = count(n, "n", minimum=0)
    tensor(means, "means", ndim=2)
    tensor(logvars, "logvars", ndim=2)
    same_shape(means, logvars, "means", "logvars")
    K, D = means.shape
    with torch.no_grad():
        if log_weights is None:
            k = torch.randint(K, (n,), generator=generator, device=means.device)
        else:
            k = torch.multinomial(torch.softmax(log_weights.detach(), -1), n, replacement=True, generator=generator)
        eps = torch.randn((n, D), generator=generator, dtype=means.dtype, device=means.device)
        return means[k] + (0.5 * logvars[k]).exp() * eps, k
