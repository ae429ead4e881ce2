"""Checks for the exercises of notebooks/00_a_vae_in_one_page.ipynb.

Each check builds its own small float64 inputs twice, with a fixed seed and sizes and with a seed and sizes drawn
when it runs (``vaelib.exercises.cases``; in the fixed set every dimension differs, and every usual mistake gives a
different number), computes the reference with ``torch.distributions`` or the
exact formula, and names the mistake a wrong answer matches.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from vaelib.exercises.cases import answer_tensor, judge_all
from vaelib.exercises.core import Feedback, Mistake, Wrong, call, exercise, fmt, match, passed

ACTIVE_NATS = 0.01  # a latent dimension whose average KL is below this carries (almost) no information


def _gaussian_inputs(g: torch.Generator, rows: int, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """mu and logvar (rows, dims), float64, with variances on both sides of 1."""
    mu = torch.randn(rows, dims, generator=g, dtype=torch.float64)
    logvar = torch.randn(rows, dims, generator=g, dtype=torch.float64) * 1.5
    return mu, logvar


def _kl_dims(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, from torch.distributions (the trusted reference)."""
    return kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu)))


def _one_per_example(out: Any, name: str, shape: tuple[int, ...], per: str) -> tuple[torch.Tensor, float]:
    """The answer as a tensor of ``shape`` and its tolerance; a scalar answer gets the 'you reduced too much' hint."""
    if isinstance(out, torch.Tensor) and out.numel() == 1 and shape != (1,):
        raise Wrong(f"`{name}` returned one number; return one value per {per}, shape {shape}: "
                    "do not average or sum over that dimension.")
    return answer_tensor(out, name, shape=shape)


@exercise("00.kl_monte_carlo", "the KL as an average over samples")
def check_kl_monte_carlo(kl_monte_carlo: Callable[..., Any]) -> Feedback:
    """Check ``kl_monte_carlo(mu, logvar, eps)``: mean over the n samples of log q(z|x) - log p(z), (B,)."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        n, B, D = size["n"], size["B"], size["D"]
        mu, logvar = _gaussian_inputs(g, rows=B, dims=D)  # (B, D)
        eps = torch.randn(n, B, D, generator=g, dtype=torch.float64)  # (n, B, D)
        out = call(kl_monte_carlo, mu.clone(), logvar.clone(), eps.clone(), name="kl_monte_carlo")
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (n, B):
            raise Wrong("`kl_monte_carlo` returned one value per sample and example, shape (n, B): "
                        "average over the n samples (dim 0).")
        answer, rtol = _one_per_example(out, "kl_monte_carlo(mu, logvar, eps)", (B,), "example")
        std = (0.5 * logvar).exp()
        z = mu + std * eps  # (n, B, D)
        prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))

        def estimate(q_std: torch.Tensor, z_: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
            log_ratio = Normal(mu, q_std).log_prob(z_) - prior.log_prob(z_)  # (n, B, D)
            return getattr(log_ratio, reduce)(-1).mean(0)

        closed = _kl_dims(mu, logvar).sum(-1)  # (B,)
        mistakes = [
            Mistake(-estimate(std, z), "The sign is flipped: the KL averages log q(z|x) − log p(z), the log-density "
                                       "of the posterior minus that of the prior."),
            Mistake(estimate(std, z, "mean"), "You averaged over the latent dimensions; a log-density of a vector "
                                              "with independent coordinates is the SUM over dimensions."),
            Mistake(estimate(logvar.exp(), mu + logvar.exp() * eps), "You used exp(logvar) = σ² as the standard "
                    "deviation; σ = exp(logvar / 2)."),
            Mistake(estimate(std, mu + logvar.exp() * eps), "z should be μ + σ·ε with σ = exp(logvar / 2); "
                    "you scaled ε by σ² = exp(logvar)."),
            Mistake(estimate(logvar.exp(), z), "The density of q uses exp(logvar) as its standard deviation; "
                                               "logvar is log σ², so σ = exp(logvar / 2)."),
            Mistake(closed, "That is the closed-form KL; this exercise asks for the Monte Carlo estimate from "
                            "the samples ε you are given."),
        ]
        reference = estimate(std, z)
        return match(answer, reference, mistakes, what="Monte Carlo KL", rtol=max(rtol, 1e-8), atol=1e-10,
                     success=f"Right. With only n = {n} samples your estimates {[fmt(v) for v in reference.tolist()]} "
                             f"scatter around the closed form {[fmt(v) for v in closed.tolist()]}: the closed form "
                             "is the same number without the noise.")
    return judge_all(judge, 3, n=(4, 2, 8), B=(3, 2, 6), D=(2, 1, 5))


@exercise("00.kl_per_dim", "which latent dimensions does the VAE use?")
def check_kl_per_dim(kl_per_dim: Callable[..., Any], mu_data: torch.Tensor | None = None,
                     logvar_data: torch.Tensor | None = None) -> Feedback:
    """Check ``kl_per_dim(mu, logvar)``: the closed-form KL per latent dimension averaged over examples, (D,).

    With ``mu_data``/``logvar_data`` (a trained VAE's encodings), a passing answer also reports how many
    dimensions carry more than ``ACTIVE_NATS`` nats on average."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        N, D = size["N"], size["D"]
        mu, logvar = _gaussian_inputs(g, rows=N, dims=D)  # (N, D)
        out = call(kl_per_dim, mu.clone(), logvar.clone(), name="kl_per_dim")
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (N,) and N != D:
            raise Wrong("`kl_per_dim` returned one value per example, shape (N,): you summed over the latent "
                        "dimensions; average over the examples (dim 0) instead.")
        answer, rtol = _one_per_example(out, "kl_per_dim(mu, logvar)", (D,), "latent dimension")
        per = _kl_dims(mu, logvar)  # (N, D)
        as_log_std = 0.5 * (mu.pow(2) + (2 * logvar).exp() - 2 * logvar - 1)
        mistakes = [
            Mistake(per.sum(0), "You summed over the examples; average over them (dim 0), so the number does not "
                                "grow with the size of the data set."),
            Mistake(as_log_std.mean(0), "You treated logvar as log σ; it is log σ², so σ² = exp(logvar)."),
            Mistake(2 * per.mean(0), "The factor 1/2 is missing: KL = ½ (μ² + σ² − log σ² − 1) per dimension."),
            Mistake(-per.mean(0), "The sign is flipped: KL = ½ (μ² + σ² − log σ² − 1) ≥ 0."),
            Mistake((per + 0.5).mean(0), "The −1 inside the bracket is missing: KL = ½ (μ² + σ² − log σ² − 1), "
                                         "which is 0 when q = N(0, 1)."),
        ]
        return match(answer, per.mean(0), mistakes, what="KL per dimension", rtol=max(rtol, 1e-8), atol=1e-10)
    verdict = judge_all(judge, 5, N=(5, 6, 12), D=(3, 1, 5))
    if not verdict.passed or mu_data is None or logvar_data is None:
        return verdict
    used = call(kl_per_dim, mu_data.detach(), logvar_data.detach(), name="kl_per_dim")
    used, _ = answer_tensor(used, "kl_per_dim(mu_val, logvar_val)", shape=(mu_data.shape[-1],))
    n_active = int((used > ACTIVE_NATS).sum())
    return passed(f"Right. Your VAE spends {fmt(used.sum().item())} nats per image on its code, and "
                  f"{n_active} of its {used.numel()} dimensions carry more than {ACTIVE_NATS} nats; "
                  "a dimension at ≈ 0 copies the prior for every image and so tells the decoder "
                  "nothing (notebook 05 calls the others active units).")


@exercise("00.negative_elbo", "the loss, reduced the right way")
def check_negative_elbo(negative_elbo: Callable[..., Any]) -> Feedback:
    """Check ``negative_elbo(x_logits, x, mu, logvar)``: mean over the batch of (recon summed over pixels +
    KL summed over latent dimensions), one number in nats per image."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        B, P, D = size["B"], size["P"], size["D"]
        x_logits = torch.randn(B, P, generator=g, dtype=torch.float64) * 2  # (B, P)
        x = torch.bernoulli(torch.full((B, P), 0.4, dtype=torch.float64), generator=g)
        mu, logvar = _gaussian_inputs(g, rows=B, dims=D)  # (B, D)
        out = call(negative_elbo, x_logits.clone(), x.clone(), mu.clone(), logvar.clone(), name="negative_elbo")
        if getattr(out, "shape", None) is not None and tuple(out.shape) == (B,):
            raise Wrong("`negative_elbo` returned one value per example; the loss is one number: average the "
                        "per-example values over the batch.")
        if isinstance(out, (int, float)):
            out = torch.tensor(float(out), dtype=torch.float64)
        answer, rtol = answer_tensor(out, "negative_elbo(...)")
        if answer.numel() != 1:
            raise Wrong(f"`negative_elbo` returned a tensor of shape {tuple(answer.shape)}; the loss is one number.")
        bce = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none")  # (B, P)
        kl = _kl_dims(mu, logvar)  # (B, D)
        recon, kl_sum = bce.sum(-1), kl.sum(-1)
        mistakes = [
            Mistake(bce.mean() + kl.mean(), "Everything is averaged: the pixels and the latent dimensions must be "
                    "SUMMED (log-densities of independent coordinates add); only the batch is averaged. Averaging "
                    "pixels and dims trains a different model (a hidden β = P/D)."),
            Mistake(bce.mean() + kl_sum.mean(), "The reconstruction is averaged over pixels "
                    "(`reduction=\"mean\"`); sum it over pixels, so both terms are in nats per image."),
            Mistake(recon.mean() + kl.mean(-1).mean(), "The KL is averaged over latent dimensions: a hidden β = 1/D. "
                                                       "Sum it over dimensions."),
            Mistake((recon + kl_sum).sum(), "You summed over the batch; average over it, so the loss is nats per "
                                            "image and the step size does not depend on the batch size."),
            Mistake(recon.mean(), "The KL term is missing."),
            Mistake(-(recon + kl_sum).mean(), "The sign is flipped: the loss is minus the ELBO, recon + KL, "
                                              "which the optimizer minimizes."),
            Mistake((recon - kl_sum).mean(), "The KL must be added to the reconstruction term: −ELBO = recon + KL."),
            Mistake(F.binary_cross_entropy_with_logits(torch.sigmoid(x_logits), x, reduction="none").sum(-1).mean()
                    + kl_sum.mean(), "`x_logits` are already logits: `binary_cross_entropy_with_logits` applies "
                                     "the sigmoid itself, so do not apply it first."),
            Mistake(recon.mean() + (0.5 * (mu.pow(2) + (2 * logvar).exp() - 2 * logvar - 1)).sum(-1).mean(),
                    "The KL treats logvar as log σ; it is log σ², so σ² = exp(logvar)."),
        ]
        return match(answer.reshape(()), (recon + kl_sum).mean(), mistakes, what="loss", rtol=max(rtol, 1e-8),
                     atol=1e-10,
                     success="Right: sum within an image (pixels, latent dimensions), mean over the batch. "
                             "The number is −ELBO in nats per image.")
    return judge_all(judge, 6, B=(3, 2, 7), P=(10, 5, 16), D=(2, 1, 5))
