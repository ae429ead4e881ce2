"""Checks for the exercises of notebooks/09_posterior_collapse.ipynb (posterior collapse: shown, detected, fixed).

Each check calls the learner's function on two inputs of different sizes, one of them drawn when the check runs
(so an answer cannot be tuned to fixed inputs), on copies; the reference comes from an independent route (scipy's
pdist, torch.distributions and autograd), and the usual mistaken formulas give the hints.
"""
from __future__ import annotations

import random
from typing import Any, Callable

import numpy as np
import torch
from scipy.spatial.distance import pdist
from torch.distributions import Normal, kl_divergence

from vaelib.exercises.core import Feedback, Mistake, Wrong, as_float, as_tensor, call, exercise, match, passed

F64 = torch.float64


def _fresh_rng() -> random.Random:
    """Randomness drawn when the check runs (not from a seed the learner could know)."""
    return random.Random()


# ---------------------------------------------------------------------------------------------- 09.spread
@exercise("09.spread", "how alike are the prior's samples?")
def check_sample_spread(spread_fn: Callable[..., Any]) -> Feedback:
    """Check ``spread_fn(probs)`` -> the mean Euclidean distance over all pairs of distinct rows of probs (n, 784)."""
    rng = _fresh_rng()
    g = torch.Generator().manual_seed(rng.randrange(2**31))
    for n in (5, rng.randint(7, 40)):
        probs = torch.rand(n, 784, generator=g, dtype=F64) ** rng.choice([1, 2, 3])  # (n, 784) in [0, 1]
        answer = as_float(call(spread_fn, probs.clone(), name="sample_spread_of"), "sample_spread_of(probs)")
        d = torch.cdist(probs, probs)  # (n, n), zero diagonal
        mistakes = [
            Mistake(d.mean().item(), "You averaged over all n² pairs, including each image with itself (distance 0): "
                                     "average over the n(n − 1)/2 pairs of different images."),
            Mistake(float(np.mean(pdist(probs.numpy(), "sqeuclidean"))),
                    "That is the mean *squared* distance; take the square root of each pair's sum of squares first."),
            Mistake(float(np.mean(pdist(probs.numpy(), "cityblock"))),
                    "That is the L1 (city-block) distance; use the Euclidean one, √Σ (p_i − p_j)²."),
            Mistake(probs.std(0).mean().item(), "That is the pixels' spread over the samples, not a distance between "
                                                "images: compare every pair of images."),
        ]
        verdict = match(answer, float(np.mean(pdist(probs.numpy()))), mistakes, what=f"spread of {n} images",
                        rtol=1e-6, atol=1e-9)
        if not verdict.passed:
            return verdict
    return passed("Right: the mean distance over all pairs of different images (torch.pdist(probs).mean() is one "
                  "line for it). A collapsed VAE decodes every prior sample to nearly the same image: spread near 0.")


# ---------------------------------------------------------------------------------------------- 09.free_bits
def _fb_case(g: torch.Generator, B: int, D: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Posteriors where some dimensions are near the prior (KL < lambda) and others far from it."""
    used = torch.rand(D, generator=g) > 0.4
    used[0], used[1] = True, False  # at least one dimension of each kind
    scale = torch.where(used, 0.5 + 1.5 * torch.rand(D, generator=g, dtype=F64), 0.05)  # unused dims: mu near 0
    scale[0] = 2.0  # KL about 2.6 nats: above every lambda of the check
    mu = torch.randn(B, D, generator=g, dtype=F64) * scale
    logvar = torch.randn(B, D, generator=g, dtype=F64) * 0.1 - 2.0 * (scale > 0)  # used dims: narrow q
    return mu, logvar


def _fb_mean_and_grads(fn: Callable[..., Any], mu: torch.Tensor, logvar: torch.Tensor, lam: float, name: str
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
    m, lv = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    out = call(fn, m, lv, lam, name=name)
    if isinstance(out, torch.Tensor) and out.numel() == 1 and mu.shape[0] > 1:
        raise Wrong(f"`{name}` returned one number; return one value per example, shape (B,), whose mean over the "
                    "batch is the free-bits KL (as vaelib.losses.elbo_terms returns one KL per example).")
    values = as_tensor(out, f"{name}(mu, logvar, lam)", shape=(mu.shape[0],))
    if not out.requires_grad:
        return values.mean(), None
    (g_mu,) = torch.autograd.grad(out.mean(), (m,), allow_unused=True)
    return values.mean(), torch.zeros_like(mu) if g_mu is None else g_mu


@exercise("09.free_bits", "the free-bits KL")
def check_free_bits(free_bits_fn: Callable[..., Any]) -> Feedback:
    """Check ``free_bits_fn(mu, logvar, lam)`` -> (B,): its batch mean must be sum_d max(lam, mean_b KL_bd), with
    no gradient through the dimensions whose batch-average KL is below lam."""
    rng = _fresh_rng()
    drawn = (rng.randrange(2**31), (rng.randint(10, 40), rng.randint(3, 12)), rng.uniform(0.2, 0.8))
    cases = ((91, (8, 5), 1.0), drawn)
    for seed, (B, D), lam in cases:  # a fixed case where each usual mistake gives its own value, then a drawn one
        mu, logvar = _fb_case(torch.Generator().manual_seed(seed), B, D)
        mean, g_mu = _fb_mean_and_grads(free_bits_fn, mu, logvar, lam, "free_bits_term")
        q = Normal(mu.clone().requires_grad_(True), (0.5 * logvar).exp())
        kl_bd = kl_divergence(q, Normal(0.0, 1.0))  # (B, D) the reference, from torch.distributions
        kl_d = kl_bd.mean(0)  # (D,)
        kl_sigma = (0.5 * (mu**2 + (2 * logvar).exp() - 2 * logvar - 1)).mean(0)  # logvar read as log sigma
        mistakes = [
            Mistake(kl_d.sum().item(), "That is the plain KL: no dimension is held at λ."),
            Mistake(kl_bd.clamp(min=lam).mean(0).sum().item(), "You clamped each example's KL at λ; free bits clamps "
                    "the KL of each dimension *averaged over the batch*: max(λ, mean_b KL_bd), then the sum over d."),
            Mistake(kl_bd.sum(-1).clamp(min=lam * D).mean().item(), "You clamped the total KL at D·λ; free bits "
                    "works per dimension, so every dimension keeps its own λ nats."),
            Mistake(kl_bd.sum(-1).clamp(min=lam).mean().item(), "You clamped the total KL at λ; free bits clamps the "
                    "KL of each dimension (averaged over the batch) at λ, then sums over the D dimensions."),
            Mistake(kl_sigma.clamp(min=lam).sum().item(), "You read `logvar` as log σ; it is log σ²."),
            Mistake((kl_d.clamp(min=lam) / D).sum().item(), "You averaged over the dimensions: sum them (a mean is a "
                    "hidden β = 1/D, notebook 02)."),
        ]
        verdict = match(mean.item(), kl_d.clamp(min=lam).sum().item(), mistakes, what="free-bits KL (batch mean)",
                        rtol=1e-8, atol=1e-10)
        if not verdict.passed:
            return verdict
        if g_mu is None:
            raise Wrong("Your value is right but carries no gradient (did you detach it, or use .item()/NumPy?): "
                        "the KL term must train the encoder in the dimensions above λ.")
        ref_mu, = torch.autograd.grad(kl_d.clamp(min=lam).sum(), q.loc)
        below = kl_d.detach() < lam
        if not torch.allclose(g_mu, ref_mu, rtol=1e-6, atol=1e-10):
            if below.any() and g_mu[:, below].abs().max() > 0:
                raise Wrong("Your value is right but the dimensions below λ still get a gradient: their KL must "
                            "count as the constant λ (torch.clamp(kl, min=lam) or torch.maximum does that; a "
                            ".detach() trick that keeps the gradient does not).")
            raise Wrong("Your value is right but its gradient with respect to mu is not: use torch operations "
                        "throughout, and average over the batch before clamping.")
    return passed("Right: below λ a dimension's KL is the constant λ, so nothing pushes its posterior to the prior; "
                  "above λ it is the usual KL. vaelib.losses.free_bits_kl is the same, and TrainConfig(free_bits=λ) "
                  "trains with it.")


# ---------------------------------------------------------------------------------------------- 09.shuffle
def _index(out: Any, n: int, name: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise Wrong(f"`{name}` should return a torch tensor of indices, but it returned a {type(out).__name__}.")
    if tuple(out.shape) != (n,) or out.dtype not in (torch.int64, torch.int32):
        raise Wrong(f"`{name}({n}, generator)` should return an integer tensor of shape ({n},), got {out.dtype} of "
                    f"shape {tuple(out.shape)}.")
    if not torch.equal(out.sort().values.long(), torch.arange(n)):
        raise Wrong(f"`{name}({n}, ...)` is not a permutation of 0 … {n - 1}: every image must give its code to "
                    "exactly one other image.")
    return out.long()


@exercise("09.shuffle", "a shuffle that gives every image another image's code")
def check_shuffle_index(shuffle_index: Callable[..., Any]) -> Feedback:
    """Check ``shuffle_index(n, generator)`` -> a random permutation idx (n,) with idx[i] != i for every i,
    drawn from ``generator`` (the same seed gives the same idx; different seeds, different ones)."""
    rng = _fresh_rng()
    sizes = (2, rng.randint(5, 60))
    draws = []
    for trial in range(24):
        n = sizes[trial % 2] if trial < 4 else 8
        seed = rng.randrange(2**31)
        idx = _index(call(shuffle_index, n, torch.Generator().manual_seed(seed), name="shuffle_index"), n,
                     "shuffle_index")
        if (idx == torch.arange(n)).any():
            raise Wrong(f"With n = {n}, image {int((idx == torch.arange(n)).nonzero()[0, 0])} kept its own code. A "
                        "random permutation leaves one image in place on average, which hides part of the gap: make "
                        "sure no index maps to itself (e.g. a random order, each image taking the next one's code).")
        again = call(shuffle_index, n, torch.Generator().manual_seed(seed), name="shuffle_index")
        if not (isinstance(again, torch.Tensor) and torch.equal(again.long(), idx)):
            raise Wrong("The same generator seed gave two different shuffles: draw the randomness from `generator` "
                        "(torch.randperm(n, generator=generator)), so the test is reproducible.")
        if n == 8:
            draws.append(tuple(idx.tolist()))
    if len(set(draws)) < 3:
        raise Wrong("Different seeds gave the same shuffle: a fixed roll pairs each image with its neighbour every "
                    "time, and if the data are sorted (by digit, say) neighbours look alike. Draw a random order "
                    "first.")
    return passed(f"Right: a random derangement, reproducible from its generator (checked at n = {sizes[0]}, "
                  f"{sizes[1]} and 8). vaelib.collapse.derangement does the same for the shuffle test of diagnose; "
                  f"{len(set(draws))} of {len(draws)} seeds gave different shuffles of 8.")

