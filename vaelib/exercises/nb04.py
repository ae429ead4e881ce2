"""Checks for the exercises of notebooks/04_mnist_vae.ipynb (a VAE's per-image numbers on binary images).

Each check builds its own small random VAE (``vaelib.models``, float64) and binary images drawn from it twice, with
a fixed seed and sizes and with a seed and sizes drawn when it runs (``vaelib.exercises.cases``), computes the
reference with ``torch.distributions``, and what the usual mistaken formulas give on the same inputs, so that a
wrong answer gets the hint that names its mistake. The IWAE check also runs the learner's bound on a 1-D-latent
model whose log p(x) it computes exactly by quadrature.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

from vaelib.exercises.cases import answer_tensor, judge_all
from vaelib.exercises.core import Feedback, Mistake, Wrong, as_tensor, call, close, exercise, match, passed
from vaelib.losses import DiagonalGaussian
from vaelib.models import VAE, ModelConfig, build_model

F64 = torch.float64
PIXELS = 784


def _tiny_vae(seed: int, latent_dim: int) -> VAE:
    """A check's own VAE: MLP 784-16-D, ELU, float64, eval mode, fixed weights."""
    with torch.random.fork_rng():  # never move the learner's global random state
        torch.manual_seed(seed)
        return build_model(ModelConfig(latent_dim=latent_dim, hidden=(16,), activation="elu")).double().eval()


def _images(model: VAE, n: int, seed: int | torch.Generator) -> torch.Tensor:
    """n binary images drawn from the model itself: z ~ N(0, I), x ~ Bernoulli(decode(z)): (n, 784) float64."""
    g = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
    with torch.no_grad():
        probs = torch.sigmoid(model.decode(torch.randn(n, model.latent_dim, generator=g, dtype=F64)))
    return torch.bernoulli(probs, generator=g)


def _log_lik(x_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) summed over pixels from torch.distributions (the trusted reference): (..., B)."""
    return Bernoulli(logits=x_logits).log_prob(x).sum(-1)


def _normal(mu: torch.Tensor, logvar: torch.Tensor) -> Normal:
    return Normal(mu, (0.5 * logvar).exp())


def _std_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    return Normal(torch.zeros_like(z), torch.ones_like(z)).log_prob(z).sum(-1)


def _same_twice(fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> Any:
    """Run the learner's function twice on copies of the inputs; a result that changes means it draws its own noise."""
    with torch.no_grad():
        first = call(fn, *[a.clone() if isinstance(a, torch.Tensor) else a for a in args], name=name)
        second = call(fn, *[a.clone() if isinstance(a, torch.Tensor) else a for a in args], name=name)
    if isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor) and first.shape == second.shape:
        if not torch.equal(first.detach(), second.detach()) and not close(first, second, rtol=1e-12, atol=1e-12):
            raise Wrong(f"`{name}` gives a different result each time you call it: use the given `eps` "
                        "(z = mu + sigma * eps) instead of drawing your own noise with torch.randn.")
    return first


@exercise("04.log_likelihood", "the log-likelihood of a binary image, from logits")
def check_log_likelihood(bernoulli_log_likelihood: Callable[..., Any]) -> Feedback:
    """Check ``bernoulli_log_likelihood(x_logits, x)``: log p(x|z) of each binary image, summed over pixels, (B,)."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        B = size["B"]
        x_logits = torch.randn(B, PIXELS, generator=g, dtype=F64) * 3  # (B, 784)
        x = torch.bernoulli(torch.full((B, PIXELS), 0.3, dtype=F64), generator=g)
        x_logits[0, :4] = torch.tensor([40.0, -40.0, 40.0, -40.0], dtype=F64)  # confident: sigmoid rounds to 1 or 0
        x[0, :4] = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=F64)  # right, wrong (40 nats), wrong (40 nats), right
        out = call(bernoulli_log_likelihood, x_logits.clone(), x.clone(), name="bernoulli_log_likelihood")
        if isinstance(out, torch.Tensor) and out.numel() == 1 and B != 1:
            raise Wrong("You returned one number for the whole batch; return one log-likelihood per image, shape (B,): "
                        "sum over the 784 pixels (the last dimension) only.")
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (PIXELS,):
            raise Wrong("You reduced over the images (dim 0) and kept the pixels; sum over the pixels (dim −1) "
                        "instead, so that each image gets its own log-likelihood, shape (B,).")
        answer, rtol = answer_tensor(out, "bernoulli_log_likelihood(x_logits, x)", shape=(B,))
        ref = _log_lik(x_logits, x)
        if not torch.isfinite(answer).all():
            raise Wrong("Your result has inf or NaN: log(sigmoid(l)) and log(1 − sigmoid(l)) become log 0 for "
                        "confident logits (±40 here, where sigmoid rounds to 0 or 1). Work from the logits: "
                        "`F.binary_cross_entropy_with_logits(x_logits, x, reduction=\"none\")` or `F.logsigmoid`.")
        bce_on_probs = -F.binary_cross_entropy(torch.sigmoid(x_logits), x, reduction="none").sum(-1)
        mistakes = [
            Mistake(ref / PIXELS, "You averaged over the 784 pixels; sum them. log p(x|z) is a sum of one "
                                  "log-probability per pixel, and the mean is 784 times smaller: not nats per image."),
            Mistake(-ref, "That is the binary cross-entropy (a loss, ≥ 0); the log-likelihood is its negative."),
            Mistake(-ref / PIXELS, "That is the mean binary cross-entropy per pixel: "
                                   "negate it and sum over the pixels."),
            Mistake(bce_on_probs, "`F.binary_cross_entropy` on probabilities clamps log 0 to −100, so confident pixels "
                                  "(σ(40) rounds to 1) get the wrong value: use `F.binary_cross_entropy_with_logits` "
                                  "on the logits."),
            Mistake(_log_lik(torch.sigmoid(x_logits), x),
                    "You applied the sigmoid before a function that takes logits: "
                    "`binary_cross_entropy_with_logits` applies it itself."),
            Mistake(-F.binary_cross_entropy_with_logits(x, x_logits, reduction="none").sum(-1),
                    "The arguments are swapped: the logits come first, the binary image (the target) second."),
        ]
        return match(answer, ref, mistakes, what="log-likelihood", rtol=max(rtol, 1e-9), atol=1e-9,
                     success="Right, and stable at logits of ±40, where log σ(l) would round to log 0. This is "
                             "vaelib.losses.bernoulli_log_prob, "
                             "the reconstruction term −recon of every ELBO in the series.")
    return judge_all(judge, 41, B=(3, 2, 7))


@exercise("04.elbo_sampled", "the evaluated ELBO samples z")
def check_elbo_sampled(elbo_per_image: Callable[..., Any]) -> Feedback:
    """Check ``elbo_per_image(model, x, eps)``: log p(x|z) − KL(q ‖ N(0, I)) per image, z = mu + sigma * eps, (B,)."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        B, D = size["B"], size["D"]
        model = _tiny_vae(seed=int(torch.randint(2**31, (1,), generator=g)), latent_dim=D)
        x = _images(model, B, g)  # (B, 784)
        eps = torch.randn(B, D, generator=g, dtype=F64)  # (B, D)
        out = _same_twice(elbo_per_image, (model, x, eps), "elbo_per_image")
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            raise Wrong("You returned one number for the batch; return one ELBO per image, shape (B,): do not average "
                        "over the images.")
        answer, rtol = answer_tensor(out, "elbo_per_image(model, x, eps)", shape=(B,))
        with torch.no_grad():
            mu, logvar = model.encode(x).params()
            q = _normal(mu, logvar)
            prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
            kl = kl_divergence(q, prior)  # (B, D)
            z = mu + q.scale * eps
            recon = _log_lik(model.decode(z), x)  # (B,) = log p(x|z)
            at_mu = _log_lik(model.decode(mu), x)
            log_sigma_z = _log_lik(model.decode(mu + logvar.exp() * eps), x)
            kl_log_sigma = kl_divergence(Normal(mu, logvar.exp()), prior)  # logvar read as log sigma
        mistakes = [
            Mistake(at_mu - kl.sum(-1), "That is the z = μ 'ELBO' of section 5.2: it skips the noise that the bound "
                                        "accounts for and is optimistic. Sample z = μ + σ·ε with the given `eps`."),
            Mistake(log_sigma_z - kl.sum(-1), "You used σ = exp(logvar): `logvar` is log σ², so σ = exp(logvar / 2)."),
            Mistake(log_sigma_z - kl_log_sigma.sum(-1), "You read `logvar` as log σ (in z and in the KL); it is log "
                                                        "σ², so σ = exp(logvar / 2) and σ² = exp(logvar)."),
            Mistake(recon - kl_log_sigma.sum(-1), "Your KL reads `logvar` as log σ; with logvar = log σ² it is "
                                                  "½ Σ (μ² + exp(logvar) − logvar − 1)."),
            Mistake(recon - kl.mean(-1), "You averaged the KL over the latent dimensions; sum it (a mean is a hidden "
                                         "β = 1/D, notebook 02)."),
            Mistake(recon / PIXELS - kl.sum(-1), "You averaged log p(x|z) over the 784 pixels; "
                                                 "sum them (section 5.1)."),
            Mistake(recon + kl.sum(-1), "The KL has the wrong sign: the ELBO subtracts it."),
            Mistake(recon, "The KL term is missing: ELBO = log p(x|z) − KL(q(z|x) ‖ N(0, I))."),
            Mistake(recon - 2 * kl.sum(-1), "Your KL is missing its factor ½."),
        ]
        return match(answer, recon - kl.sum(-1), mistakes, what="ELBO", rtol=max(rtol, 1e-9), atol=1e-9,
                     success="Right: one sampled z per image, as vaelib.losses.elbo_terms and vaelib.evaluate compute "
                             "it. Averaged over images it estimates the ELBO without bias; the z = μ version does not.")
    return judge_all(judge, 42, B=(4, 2, 7), D=(3, 1, 6))


class _ExactModel:
    """A 1-D-latent VAE decoder whose log p(x) is computed by quadrature, with a deliberately imperfect q(z|x):
    the exact posterior's mean shifted by two posterior standard deviations, and half its variance."""

    def __init__(self, vae: VAE, x: torch.Tensor) -> None:
        self.vae = vae
        z = torch.linspace(-8.0, 8.0, 8001, dtype=F64)  # (G,) grid, step 0.002
        with torch.no_grad():
            logits = vae.decode(z[:, None])  # (G, 784)
            log_lik = logits @ x.T - F.softplus(logits).sum(-1, keepdim=True)  # (G, B): sum_i x_i l_i - log(1 + e^l_i)
        log_joint = log_lik + Normal(0.0, 1.0).log_prob(z)[:, None]  # (G, B)
        log_w = torch.full_like(z, math.log(z[1] - z[0]))
        log_w[[0, -1]] -= math.log(2.0)  # trapezoid weights
        self.log_px = torch.logsumexp(log_joint + log_w[:, None], dim=0)  # (B,) exact to ~1e-6 nats
        post = (log_joint + log_w[:, None] - self.log_px).exp()  # (G, B) posterior weights, summing to 1
        mean = (post * z[:, None]).sum(0)
        var = (post * (z[:, None] - mean) ** 2).sum(0)
        self.mu, self.logvar = (mean + 2 * var.sqrt())[:, None], (var / 2).log()[:, None]  # (B, 1) each

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """q(z|x) for the images the model was built with."""
        return DiagonalGaussian(self.mu, self.logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.vae.log_px_given_z(x, z)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        return _std_normal_log_prob(z)

    @property
    def latent_dim(self) -> int:
        return 1


def _gaps_closed(iwae_bound: Callable[..., Any], repeats: int = 4) -> str:
    """Run the learner's (already checked) bound on the exact model for several k: a sentence on the gaps."""
    vae = _tiny_vae(seed=47, latent_dim=1)
    x = _images(vae, 8, seed=48)  # (B=8, 784)
    model = _ExactModel(vae, x)
    g = torch.Generator().manual_seed(49)
    gaps = {}
    for k in (1, 10, 100, 1000):
        draws = []
        for _ in range(repeats):  # 4 x 8 = 32 independent bounds per k
            with torch.no_grad():
                eps = torch.randn(k, 8, 1, generator=g, dtype=F64)
                bound = as_tensor(call(iwae_bound, model, x.clone(), eps, name="iwae_bound"), "iwae_bound(...)", (8,))
            draws.append(model.log_px - bound)
        gaps[k] = torch.cat(draws).mean().item()
    trend = "falls" if all(gaps[a] > gaps[b] for a, b in zip(gaps, list(gaps)[1:])) else "changes"
    listed = ", ".join(f"{gap:.2f} at k = {k}" for k, gap in gaps.items())
    return (f"On a model with a 1-D latent, where the check computes log p(x) exactly (by quadrature), the average gap "
            f"log p(x) − 𝓛_k {trend} with k: {listed} nats; k = 100 closes {1 - gaps[100] / gaps[1]:.0%} of the "
            "ELBO's gap (k = 1).")


@exercise("04.iwae", "the IWAE bound of a VAE")
def check_iwae(iwae_bound: Callable[..., Any]) -> Feedback:
    """Check ``iwae_bound(model, x, eps)``: log (1/k) Σ_i p(x, z_i)/q(z_i|x) with z_i = mu + sigma * eps_i, (B,)."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        k, B, D = size["k"], size["B"], size["D"]
        model = _tiny_vae(seed=int(torch.randint(2**31, (1,), generator=g)), latent_dim=D)
        x = _images(model, B, g)  # (B, 784)
        with torch.no_grad():  # then every pixel's logit +3: the x_i = 0 pixels cost ~3 nats each, log-weights < -1000
            model.decoder[-1].bias.add_(3.0)
        eps = torch.randn(k, B, D, generator=g, dtype=F64)  # (k, B, D): k != B
        out = _same_twice(iwae_bound, (model, x, eps), "iwae_bound")
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (k,) and k != B:
            raise Wrong("You returned one value per sample (shape (k,)); combine the k samples (dim 0) so that each "
                        "image gets one bound, shape (B,).")
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            raise Wrong("You returned one number for the batch; return one bound per image, shape (B,).")
        answer, rtol = answer_tensor(out, "iwae_bound(model, x, eps)", shape=(B,))
        with torch.no_grad():
            mu, logvar = model.encode(x).params()

            def log_weights(z: torch.Tensor, q: Normal, prior: bool = True, posterior: bool = True) -> torch.Tensor:
                log_w = _log_lik(model.decode(z), x)  # (k, B)
                if prior:
                    log_w = log_w + _std_normal_log_prob(z)
                if posterior:
                    log_w = log_w - q.log_prob(z).sum(-1)
                return log_w

            q = _normal(mu, logvar)
            log_w = log_weights(mu + q.scale * eps, q)  # (k, B)
            q_log_sigma = Normal(mu, logvar.exp())  # logvar read as log sigma
            lse, log_k = torch.logsumexp(log_w, dim=0), math.log(k)
            at_mu = log_weights(mu.expand(k, *mu.shape), q)
        if not torch.isfinite(answer).all():
            raise Wrong("Your bound has inf or NaN: the log-weights here are below −1000 nats, and exp(−1000) is 0 "
                        "even in float64. Stay in logs: torch.logsumexp(log_w, dim=0) − log k.")
        mistakes = [
            Mistake(lse, "The −log k is missing: (1/k) Σ w_i is an average, so subtract log k from the logsumexp. "
                         "Without it the 'bound' can exceed log p(x) by up to log k nats."),
            Mistake(lse + log_k, "The sign of log k is wrong: log((1/k) Σ w_i) = logsumexp − log k."),
            Mistake(log_w.mean(0), "That is the average log-weight, an ELBO estimate (it does not improve with k); "
                                   "IWAE takes the log of the average weight: logsumexp − log k."),
            Mistake(log_w.max(0).values - log_k, "The largest log-weight is not the sum of the weights: use "
                                                 "torch.logsumexp over the k samples."),
            Mistake(torch.logsumexp(log_weights(mu + logvar.exp() * eps, q), 0) - log_k,
                    "You used σ = exp(logvar) in z: `logvar` is log σ², so σ = exp(logvar / 2)."),
            Mistake(torch.logsumexp(log_weights(mu + logvar.exp() * eps, q_log_sigma), 0) - log_k,
                    "You read `logvar` as log σ (in z and in log q); it is log σ², so σ = exp(logvar / 2)."),
            Mistake(torch.logsumexp(log_weights(mu + q.scale * eps, q_log_sigma), 0) - log_k,
                    "Your log q(z|x) reads `logvar` as log σ; with logvar = log σ² it is "
                    "−½ Σ ((z − μ)²/exp(logvar) + logvar + log 2π)."),
            Mistake(torch.logsumexp(log_weights(mu + q.scale * eps, q, posterior=False), 0) - log_k,
                    "log q(z|x) is missing from the log-weight: w = p(x|z) p(z) / q(z|x)."),
            Mistake(torch.logsumexp(log_weights(mu + q.scale * eps, q, prior=False), 0) - log_k,
                    "log p(z) (the prior N(0, I)) is missing from the log-weight: w = p(x|z) p(z) / q(z|x)."),
            Mistake(torch.logsumexp(at_mu, 0) - log_k, "Every sample sits at z = μ: use z_i = μ + σ·ε_i with the k "
                                                       "rows of `eps`, one z per sample."),
        ]
        return match(answer, lse - log_k, mistakes, what="IWAE bound", rtol=max(rtol, 1e-9), atol=1e-9)
    verdict = judge_all(judge, 45, k=(6, 2, 10), B=(4, 3, 8), D=(3, 1, 5))
    if not verdict.passed:
        return verdict
    return passed("Right, and stable with log-weights below −1000 nats. " + _gaps_closed(iwae_bound))
