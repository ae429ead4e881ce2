"""Checks for the exercises of notebooks/05_latent_space.ipynb (reading a VAE's latent space).

Each check makes its own inputs (float64) twice, with a fixed seed and sizes and with a seed and sizes drawn when it
runs (``vaelib.exercises.cases``), computes the reference from an independent route
(torch.distributions for the KL, scipy's Normal quantile function, the slerp formula in NumPy), and what
the usual mistaken formulas give on the same inputs, so that a wrong answer gets the hint that names its
mistake.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from scipy.stats import norm
from torch.distributions import Normal, kl_divergence

from vaelib import latent
from vaelib.exercises.cases import answer_tensor, forbidden_call, judge_all
from vaelib.exercises.core import Feedback, Mistake, Wrong, call, exercise, match, passed

F64 = torch.float64
_NO_KL_PER_DIM = [(latent, "kl_per_dim", "vaelib.latent.kl_per_dim"),
                  (latent, "kl_std_normal", "vaelib.latent.kl_per_dim")]
_NO_GRID = [(latent, "quantile_grid", "vaelib.latent.quantile_grid"),
            (latent, "normal_quantiles", "vaelib.latent.quantile_grid")]


def _as_tensor(value: Any, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The learner's tensor, array or list as float64 (float32 answers are judged with ``match``'s tolerances, which
    are float32-sized in this module's checks)."""
    return answer_tensor(value, name, shape=shape)[0]


def _kl_per_dim_ref(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Average over examples of KL(N(mu_d, sigma_d^2) || N(0, 1)) per dimension, from torch.distributions: (D,)."""
    q = Normal(mu.double(), (0.5 * logvar.double()).exp())
    return kl_divergence(q, Normal(torch.zeros_like(q.loc), torch.ones_like(q.loc))).mean(0)


@exercise("05.kl_per_dim", "active units by the KL criterion")
def check_kl_per_dimension(kl_per_dimension: Callable[..., Any], *, mu: torch.Tensor | None = None,
                           logvar: torch.Tensor | None = None, active: torch.Tensor | None = None) -> Feedback:
    """Check ``kl_per_dimension(mu, logvar)`` -> (D,), the average KL of each latent dimension; with the notebook's
    ``mu``, ``logvar`` and covariance-criterion mask ``active``, also compare the two criteria on that model."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        N, D = size["N"], size["D"]  # N != D, so that the wrong axis shows as a wrong shape
        scale = torch.tensor([1.5, 0.8, 0.0, 0.05, 1.0], dtype=F64)[torch.arange(D) % 5]  # some dimensions inactive
        shift = torch.tensor([-3.0, -1.0, 0.0, 0.1, -2.0], dtype=F64)[torch.arange(D) % 5]
        mu_c = torch.randn(N, D, generator=g, dtype=F64) * scale
        logvar_c = torch.randn(N, D, generator=g, dtype=F64) * 0.3 + shift
        out = forbidden_call(kl_per_dimension, call, mu_c.clone(), logvar_c.clone(), name="kl_per_dimension",
                         targets=_NO_KL_PER_DIM, reason="write the formula of notebook 02 yourself.")
        if getattr(out, "shape", None) is not None and tuple(out.shape) == (N,):
            raise Wrong("You got one number per example (shape (N,)): that is the wrong axis. Active units are about "
                        "dimensions: average over the N examples (dim 0) and keep the D dimensions, shape (D,).")
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            raise Wrong("You returned one number; return one average KL per latent dimension, shape (D,): reduce over "
                        "the examples (dim 0) only.")
        answer = _as_tensor(out, "kl_per_dimension(mu, logvar)", shape=(D,))
        ref = _kl_per_dim_ref(mu_c, logvar_c)
        per = 0.5 * (mu_c**2 + logvar_c.exp() - logvar_c - 1)  # (N, D) by the formula of notebook 02
        mistakes = [
            Mistake(per.sum(0), "You summed over the examples; average them (the KL per dimension of one typical "
                                "example, in nats), so the threshold 0.01 does not depend on how many images you use."),
            Mistake((0.5 * (mu_c**2 + (2 * logvar_c).exp() - 2 * logvar_c - 1)).mean(0),
                    "You read `logvar` as log σ; it is log σ², so σ² = exp(logvar): "
                    "KL_d = ½ (μ_d² + exp(logvar_d) − logvar_d − 1)."),
            Mistake(2 * per.mean(0), "Your KL is missing its factor ½."),
            Mistake(per.mean(0) + 0.5, "Your KL is missing the −1: for q = N(0, 1), the prior itself, it must be 0."),
            Mistake(mu_c.var(0), "That is Burda et al.'s activity Var_x(μ_d), the *other* criterion (section 6); here "
                                 "compute the average KL of each dimension."),
            Mistake(mu_c.var(0, unbiased=False), "That is the activity Var_x(μ_d), the other criterion (section 6); "
                                                 "here compute the average KL of each dimension."),
            Mistake((0.5 * (mu_c**2 + logvar_c.exp() + logvar_c - 1)).mean(0), "The sign of logvar is wrong: "
                    "KL_d = ½ (μ_d² + σ_d² − log σ_d² − 1)."),
        ]
        return match(answer, ref, mistakes, what="KL per dimension", rtol=1e-5, atol=1e-8,
                        success="Right: ½ (μ_d² + σ_d² − log σ_d² − 1) averaged over the examples, one number per "
                                "dimension; a dimension is active by this criterion if it exceeds 0.01 nats.")
    verdict = judge_all(judge, 51, N=(7, 8, 14), D=(5, 2, 7))
    if not verdict.passed or mu is None or logvar is None:
        return verdict
    kl = _kl_per_dim_ref(mu, logvar)  # (D,) on the notebook's model
    active_kl = kl > 0.01
    text = f"On the notebook's {len(kl)}-D model, {int(active_kl.sum())} dimensions have an average KL above 0.01 nats"
    if active is not None:
        same = int((active_kl == active.to(active_kl.device)).sum())
        text += (f"; the covariance criterion marks {int(active.sum())}, and the two criteria agree on {same} of "
                 f"{len(kl)} dimensions")
    return passed(f"Right. {text}. An inactive dimension has q(z_d|x) ≈ N(0, 1) for every x: both its mean's "
                  "variance and its KL vanish, which is why the two criteria agree.")


@exercise("05.quantile_grid", "a grid of Normal quantiles")
def check_quantile_grid(quantile_grid_2d: Callable[..., Any]) -> Feedback:
    """Check ``quantile_grid_2d(n)`` -> (n*n, 2): z = Phi^-1(u), u = linspace(0.05, 0.95, n), row-major from the top."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        n = size["n"]
        out = forbidden_call(quantile_grid_2d, call, n, name="quantile_grid_2d", targets=_NO_GRID,
                         reason="build the grid from Normal quantiles yourself.")
        if isinstance(out, (torch.Tensor, np.ndarray)) and tuple(out.shape) == (n, n, 2):
            raise Wrong("Your grid has shape (n, n, 2); flatten it row by row to (n*n, 2), e.g. with .reshape(-1, 2).")
        answer = _as_tensor(out, f"quantile_grid_2d({n})", shape=(n * n, 2))
        if not torch.isfinite(answer).all():
            raise Wrong("Your grid has inf or NaN: Φ⁻¹(0) = −∞ and Φ⁻¹(1) = +∞. Take u from 0.05 to 0.95.")
        u = np.linspace(0.05, 0.95, n)

        def grid(values: np.ndarray, flip: bool = True, swap: bool = False) -> torch.Tensor:
            q = torch.from_numpy(np.asarray(values, dtype=np.float64))
            z2, z1 = torch.meshgrid(q.flip(0) if flip else q, q, indexing="ij")  # row r: one z2; column c: one z1
            pts = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=-1)
            return pts.flip(-1) if swap else pts

        q = norm.ppf(u)
        from_erfinv = torch.erfinv(torch.from_numpy(2 * u - 1)).numpy()
        mistakes = [
            Mistake(grid(np.linspace(q[0], q[-1], n)),
                    "Your values are equally spaced in z; space them in probability: "
                    "z = Φ⁻¹(u) with u equally spaced, so that each step covers the same prior mass."),
            Mistake(grid(np.linspace(-3, 3, n)),
                    "A uniform grid over [−3, 3] spends most cells on the tails, where the "
                    "prior has almost no mass: use z = Φ⁻¹(u) with u = linspace(0.05, 0.95, n)."),
            Mistake(grid(q, flip=False), "Your first row has the smallest z₂, so the picture comes out upside down: "
                    "row 0 is the top of the image, so it must hold the largest z₂ (flip the z₂ values)."),
            Mistake(grid(q, swap=True),
                    "z₁ and z₂ are swapped: within a row z₁ (the horizontal axis) should change, and "
                    "z₂ should be constant; each row of your array is a point (z₁, z₂)."),
            Mistake(grid(q).reshape(n, n, 2).transpose(0, 1).reshape(-1, 2),
                    "Your grid is the transpose of the picture "
                    "(z₁ changes down a column; `torch.meshgrid` with indexing=\"ij\" gives the first tensor's values "
                    "along rows): each row of the image is one z₂, largest at the top, "
                    "and z₁ increases from left to right."),
            Mistake(grid(q, flip=False, swap=True),
                    "Your grid is the transpose, with the smallest z₂ first: each row of "
                    "the image is one z₂ (largest at the top), and z₁ increases from left to right."),
            Mistake(grid(from_erfinv), "Φ⁻¹(u) = √2 · erfinv(2u − 1): the factor √2 is missing."),
            Mistake(grid(u), "These are the probabilities u themselves; apply the Normal quantile function Φ⁻¹ "
                             "(scipy.stats.norm.ppf, or √2 · erfinv(2u − 1))."),
            Mistake(grid(norm.cdf(u)), "That is the Normal CDF Φ(u); the grid needs its inverse Φ⁻¹ (norm.ppf)."),
        ]
        steps = np.diff(q)
        return match(answer, grid(q), mistakes, what="quantile grid", rtol=1e-5, atol=1e-6,
                     success=f"Right. With n = {n} the steps between neighbours grow from {steps[n // 2 - 1]:.3f} in "
                             f"the centre to {steps[0]:.3f} at the edge, and each covers {0.9 / (n - 1):.2f} of the "
                             "prior's mass along its axis: the grid is dense where the prior puts its mass.")
    return judge_all(judge, 56, n=(6, 3, 10))


def _slerp_ref(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation, straight from the formula (NumPy, float64): (T, D)."""
    omega = np.arccos(np.clip(z0 @ z1 / (np.linalg.norm(z0) * np.linalg.norm(z1)), -1.0, 1.0))
    return (np.sin((1 - t) * omega)[:, None] * z0 + np.sin(t * omega)[:, None] * z1) / np.sin(omega)


@exercise("05.slerp", "spherical interpolation")
def check_slerp(slerp: Callable[..., Any]) -> Feedback:
    """Check ``slerp(z0, z1, t)`` -> (T, D): sin((1-t) Ω)/sin Ω · z0 + sin(t Ω)/sin Ω · z1, cos Ω = z0·z1/(|z0||z1|)."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        D, T = size["D"], size["T"]
        z0, z1 = torch.randn(2, D, generator=g, dtype=F64)  # two draws from N(0, I_D): norms near sqrt(D)
        t = torch.linspace(0, 1, T, dtype=F64)
        out = call(slerp, z0.clone(), z1.clone(), t.clone(), name="slerp")
        if isinstance(out, (torch.Tensor, np.ndarray)) and tuple(out.shape) == (D, len(t)) and D != len(t):
            raise Wrong(f"Your path has shape (D, T) = {tuple(out.shape)}; return one point per row, shape (T, D).")
        answer = _as_tensor(out, "slerp(z0, z1, t)", shape=(len(t), D))
        if not torch.isfinite(answer).all():
            raise Wrong("Your path has NaN or inf: arccos needs the cosine of the angle, z0·z1 / (|z0| |z1|), which "
                        "lies in [−1, 1]; the plain dot product z0·z1 does not.")
        a, b, tt = z0.numpy(), z1.numpy(), t.numpy()
        ref = torch.from_numpy(_slerp_ref(a, b, tt))
        linear = (1 - t)[:, None] * z0 + t[:, None] * z1
        unit = torch.from_numpy(_slerp_ref(a / np.linalg.norm(a), b / np.linalg.norm(b), tt))
        mistakes = [
            Mistake(linear, "That is the straight line (1 − t) z0 + t z1 of section 4. Slerp follows the arc: weights "
                            "sin((1 − t) Ω)/sin Ω and sin(t Ω)/sin Ω, with Ω the angle between z0 and z1."),
            Mistake(ref.flip(0), "Your path runs backwards: at t = 0 it must start at z0 (weight sin((1 − t) Ω)/sin Ω "
                                 "on z0) and end at z1."),
            Mistake(unit, "You interpolated the unit directions z/|z|, so your path lies on the unit sphere; use z0 "
                          "and z1 themselves (only the angle Ω comes from the normalized vectors)."),
            Mistake(torch.from_numpy((np.sin((1 - tt) * 1.0)[:, None] * a + np.sin(tt * 1.0)[:, None] * b)
                                     / np.sin(1.0)),
                    "Ω must be the angle between z0 and z1, Ω = arccos(z0·z1 / (|z0| |z1|)), not a constant."),
        ]
        verdict = match(answer, ref, mistakes, what="slerp path", rtol=1e-5, atol=1e-8)
        if not verdict.passed:
            return verdict
        mid = len(t) // 2
        return passed(f"Right. For two draws from N(0, I_{D}) with norms {z0.norm():.2f} and {z1.norm():.2f}, the "
                      f"straight line's midpoint has norm {linear[mid].norm():.2f}, while slerp's has "
                      f"{answer[mid].norm():.2f}. In {D} dimensions the prior's mass sits in a thin shell of "
                      f"radius ≈ √{D} = {math.sqrt(D):.2f}; the straight line cuts through the inside, "
                      "where codes are atypical, and the arc stays near the shell.")
    return judge_all(judge, 55, D=(50, 20, 80), T=(7, 3, 12))
