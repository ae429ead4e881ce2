"""Checks for the exercises of notebooks/01_elbo.ipynb (the 1-D model z ~ N(0, 1), x | z ~ N(a z + b, s^2)).

Each check recomputes the reference from exact formulas in float64, plus what the usual mistaken
formulas give on the same inputs, so that a wrong answer gets the hint that names its mistake. The function
exercises run on two input sets (a fixed one and one drawn when the check runs, of other sizes); the variable
exercises are judged at the notebook's own model and x', which the check knows (``NOTEBOOK``), so rebinding
``x_new`` or ``a`` in an answer cell cannot move the target.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch.distributions import Normal, kl_divergence

from vaelib.exercises.cases import answer_tensor, judge_all
from vaelib.exercises.core import (
    Feedback,
    Mistake,
    NotAttempted,
    Wrong,
    as_float,
    call,
    exercise,
    fmt,
    match,
    passed,
    wrong,
)
from vaelib.toy import LinearGaussian, exact_elbo, linear_gaussian_1d

NOTEBOOK = {"x": -1.0, "a": 1.5, "b": 0.5, "s": 0.8}  # section 4's model and the new observation x' of exercises 1, 4


def _notebook_model(x: Any, a: Any, b: Any, s: Any) -> tuple[float, float, float, float]:
    """The model the check cell passes, as floats, after checking that it is still the notebook's."""
    given = {"x": as_float(x, "x_new"), "a": as_float(a, "a"), "b": as_float(b, "b"), "s": as_float(s, "s")}
    changed = [name for name, value in given.items() if not math.isclose(value, NOTEBOOK[name], abs_tol=1e-12)]
    if changed:
        names = ", ".join(f"`{'x_new' if n == 'x' else n}`" for n in changed)
        raise Wrong(f"{names} no longer hold the notebook's values (x' = {NOTEBOOK['x']}, a = {NOTEBOOK['a']}, "
                    f"b = {NOTEBOOK['b']}, s = {NOTEBOOK['s']}): leave them as section 4 set them and run the "
                    "notebook from the top.")
    return given["x"], given["a"], given["b"], given["s"]


@exercise("01.posterior", "the exact posterior for a new x")
def check_posterior(post_mean: Any, post_std: Any, *, x: float, a: float, b: float, s: float) -> Feedback:
    """Check the learner's posterior mean and standard deviation of p(z | x) for the 1-D model."""
    if post_mean is None and post_std is None:
        raise NotAttempted("Set `my_post_mean` and `my_post_std` to numbers.")
    mean, std = as_float(post_mean, "my_post_mean"), as_float(post_std, "my_post_std")
    x, a, b, s = _notebook_model(x, a, b, s)
    var = s**2 / (a**2 + s**2)  # sigma^2_post
    ref_mean = a * (x - b) / (a**2 + s**2)
    mean_fb = match(mean, ref_mean, [
        Mistake(-ref_mean, "Your mean has the wrong sign: it is a(x − b)/(a² + s²)."),
        Mistake(a * x / (a**2 + s**2), "The offset b is missing: the decoder's mean is a·z + b, so use x − b."),
        Mistake(a * (x - b) / s**2, "You have a(x − b)/s², the coefficient of z in log p(z|x); divide it by "
                                    "the precision 1 + a²/s² (multiply by σ²_post)."),
        Mistake((x - b) / a, "(x − b)/a is the z that explains x best with no prior (maximum likelihood); "
                             "the prior N(0, 1) pulls the posterior mean towards 0."),
        Mistake(a * (x - b) / (a**2 + s), "You used s where s² belongs (s is a standard deviation)."),
    ], what="posterior mean", rtol=1e-4, atol=1e-6)
    if not mean_fb.passed:
        return mean_fb
    std_fb = match(std, math.sqrt(var), [
        Mistake(var, "That is the posterior variance σ²_post = s²/(a² + s²); take its square root."),
        Mistake(math.log(var), "That is log σ²_post; the exercise asks for the standard deviation σ_post."),
        Mistake(0.5 * math.log(var), "That is log σ_post; the exercise asks for σ_post itself."),
        Mistake(s / (a**2 + s**2), "The variance is s²/(a² + s²), so its square root is s/√(a² + s²)."),
        Mistake(math.sqrt(a**2 + s**2), "√(a² + s²) is the standard deviation of p(x), not of p(z|x)."),
        Mistake(1.0, "1 is the prior's standard deviation; observing x makes the posterior narrower."),
    ], what="posterior standard deviation", rtol=1e-4, atol=1e-6)
    if not std_fb.passed:
        return std_fb
    return passed(f"p(z | x = {fmt(x)}) = N({fmt(ref_mean)}, {fmt(math.sqrt(var))}²). The width does not depend "
                  "on x in this model; the mean moves with x − b.")


def _elbo_inputs(g: torch.Generator, P: int, D: int, B: int, n: int
                 ) -> tuple[LinearGaussian, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One test case: a model with P outputs and D latents, B (x, q) pairs and n noise draws, float64."""
    model = LinearGaussian.random(P=P, D=D, s=0.7, seed=int(torch.randint(2**31, (1,), generator=g)))
    x = model.sample(B, g)  # (B, P)
    mu = torch.randn(B, D, generator=g, dtype=torch.float64)  # (B, D)
    logvar = torch.randn(B, D, generator=g, dtype=torch.float64) - 0.5  # (B, D)
    eps = torch.randn(n, B, D, generator=g, dtype=torch.float64)  # (n, B, D)
    return model, x, mu, logvar, eps


def _kl(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, var) || N(0, 1)) per latent dimension, (B, D), from torch.distributions (the trusted reference)."""
    return kl_divergence(Normal(mu, var.sqrt()), Normal(torch.zeros_like(mu), torch.ones_like(mu)))


@exercise("01.elbo_estimate", "the ELBO as a VAE computes it")
def check_elbo_estimate(elbo_estimate: Callable[..., Any]) -> Feedback:
    """Check ``elbo_estimate(model, x, mu, logvar, eps)``: Monte Carlo reconstruction minus closed-form KL, (B,)."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        model, x, mu, logvar, eps = _elbo_inputs(g, size["P"], size["D"], size["B"], size["n"])
        out = call(elbo_estimate, model, x.clone(), mu.clone(), logvar.clone(), eps.clone(), name="elbo_estimate")
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            raise Wrong("`elbo_estimate` returned one number; return one ELBO per example, shape (B,): "
                        "average over the samples (dim 0), not over the batch.")
        answer, rtol = answer_tensor(out, "elbo_estimate(...)", shape=(x.shape[0],))
        var = logvar.exp()
        log_lik = model.log_px_given_z(x, mu + var.sqrt() * eps)  # (n, B): z = mu + sigma * eps
        kl = _kl(mu, var)  # (B, D)
        log_lik_bad = model.log_px_given_z(x, mu + var * eps)  # logvar read as log sigma
        kl_bad = _kl(mu, (2 * logvar).exp())  # logvar read as log sigma
        mistakes = [
            Mistake(log_lik_bad.mean(0) - kl.sum(-1),
                    "You sampled z = mu + exp(logvar) * eps: logvar is log σ², so σ = exp(logvar / 2)."),
            Mistake(log_lik_bad.mean(0) - kl_bad.sum(-1),
                    "You read logvar as log σ (in z and in the KL); it is log σ², so σ = exp(logvar / 2)."),
            Mistake(log_lik.mean(0) - kl_bad.sum(-1),
                    "Your KL reads logvar as log σ; with logvar = log σ² it is "
                    "½ Σ (mu² + exp(logvar) − logvar − 1)."),
            Mistake(log_lik.mean(0) - kl.mean(-1),
                    "You averaged the KL over the latent dimensions; sum it "
                    "(a mean is a hidden β = 1/D, notebook 02)."),
            Mistake(log_lik.mean(0) - 2 * kl.sum(-1), "Your KL is missing its factor ½."),
            Mistake(log_lik.mean(0) - (kl + 0.5).sum(-1),
                    "Your KL is missing the −1 inside the sum (one per dimension)."),
            Mistake(log_lik.mean(0), "The KL term is missing: ELBO = E_q[log p(x|z)] − KL(q ‖ p(z))."),
            Mistake(log_lik.mean(0) + kl.sum(-1), "The KL has the wrong sign: the ELBO subtracts it."),
            Mistake(log_lik.sum(0) - kl.sum(-1), "You summed log p(x|z) over the n samples; average them."),
        ]
        return match(answer, log_lik.mean(0) - kl.sum(-1), mistakes, what="ELBO estimate", rtol=max(rtol, 1e-8),
                     atol=1e-8, success="Your ELBO matches on two models (D = 2, and D drawn when the check ran); "
                                        "this is the sum that vaelib.losses.elbo_terms computes per example for a VAE.")
    return judge_all(judge, 101, P=(3, 1, 5), D=(2, 1, 4), B=(3, 2, 6), n=(5, 2, 9))


@exercise("01.iwae", "the IWAE bound from log-weights")
def check_iwae_bound(iwae_bound: Callable[..., Any]) -> Feedback:
    """Check ``iwae_bound(log_w)``: log (1/k) sum_i exp(log_w[i]) per column of a (k, B) tensor, stably."""
    def judge(g: torch.Generator, size: dict[str, int]) -> Feedback:
        k, B = size["k"], size["B"]
        log_w = torch.randn(k, B, generator=g, dtype=torch.float64) * 2 - 3  # (k, B)
        log_w[:, 2] -= 1000.0  # weights of e^-1000: exp underflows to 0 in float64
        out = call(iwae_bound, log_w.clone(), name="iwae_bound")
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (k,) and k != B:
            raise Wrong("`iwae_bound` returned one value per sample (shape (k,)); average over the k samples, "
                        "dim 0, so that you get one bound per example, shape (B,).")
        answer, rtol = answer_tensor(out, "iwae_bound(log_w)", shape=(B,))
        lse = torch.logsumexp(log_w, dim=0)  # (B,)
        naive = torch.log(torch.exp(log_w).mean(0))  # (B,): -inf in column 2
        mistakes = [
            Mistake(lse, "The −log k is missing: (1/k) Σ w_i is an average, so subtract log k from the logsumexp."),
            Mistake(lse + math.log(k), "The sign of log k is wrong: log((1/k) Σ w_i) = logsumexp − log k."),
            Mistake(lse / k, "Dividing by k happens inside the log: subtract log k instead of dividing by k."),
            Mistake(log_w.mean(0), "That is the average log-weight, an ELBO estimate; IWAE takes the log of the "
                                   "average weight."),
            Mistake(naive, "exp(log_w) underflows to 0 for log-weights near −1000 (as for MNIST images), giving "
                           "−inf: use torch.logsumexp(log_w, dim=0) − log k."),
            Mistake(log_w.max(0).values - math.log(k), "The largest log-weight is not the sum: use torch.logsumexp."),
        ]
        return match(answer, lse - math.log(k), mistakes, what="IWAE bound", rtol=max(rtol, 1e-9), atol=1e-9,
                     success="Right, and stable for log-weights of −1000 as well; vaelib.losses.iwae_log_px computes "
                             "the same thing in chunks.")
    return judge_all(judge, 7, k=(6, 2, 12), B=(4, 3, 8))


def _elbo_1d(model: LinearGaussian, x: float, mean: float, logvar: float) -> float:
    """The closed-form ELBO of q = N(mean, exp(logvar)) at one scalar x."""
    def t(v: float) -> torch.Tensor:
        return torch.tensor([[v]], dtype=torch.float64)  # (1, 1)
    return exact_elbo(model, t(x), t(mean), t(logvar)).item()


@exercise("01.gradient_ascent", "variational inference by gradient ascent")
def check_gradient_ascent(mu: Any, logvar: Any, *, x: float, a: float, b: float, s: float) -> Feedback:
    """Check the learner's fitted q = N(mu, exp(logvar)) against the exact posterior p(z | x)."""
    m, lv = as_float(mu, "mu"), as_float(logvar, "logvar")
    x, a, b, s = _notebook_model(x, a, b, s)
    post_mean, post_logvar = a * (x - b) / (a**2 + s**2), math.log(s**2 / (a**2 + s**2))
    if m == 0.0 and lv == 0.0:
        raise NotAttempted("`mu` and `logvar` are still at their start, q = N(0, 1) (the prior): write the loop.")
    if not (math.isfinite(m) and math.isfinite(lv)):
        return wrong("Your iterates ran off to inf or NaN: the step size is too large (or you stepped downhill).")
    model = linear_gaussian_1d(a, b, s)
    best = _elbo_1d(model, x, post_mean, post_logvar)  # = log p(x)
    gap_start, gap_now = best - _elbo_1d(model, x, 0.0, 0.0), best - _elbo_1d(model, x, m, lv)
    if abs(m - post_mean) < 1e-4 and abs(lv - post_logvar) < 1e-4:
        return passed(f"q = N({fmt(m)}, {fmt(math.exp(lv / 2))}²) is the exact posterior: the gap to log p(x) is "
                      f"{gap_now:.1e} nats. Maximizing the ELBO over q is posterior inference.")
    if abs(m - post_mean) < 1e-4 and abs(lv - post_logvar / 2) < 1e-4:
        return wrong("Your mean is right but your `logvar` is log σ, half of log σ²: "
                     "check how you turn logvar into a variance.")
    if abs(m - post_mean) < 1e-4 and abs(lv) < 1e-6:
        return wrong("Your mean is right but `logvar` never moved: update it too.")
    if gap_now > gap_start:
        return wrong(f"Your ELBO went down (gap {fmt(gap_start)} -> {fmt(gap_now)} nats): gradient ascent steps "
                     "along +gradient (or minimize −ELBO with an optimizer).")
    return wrong(f"On the way (gap {fmt(gap_start)} -> {fmt(gap_now)} nats) but not at the posterior yet: "
                 "take more steps, or larger ones.")
