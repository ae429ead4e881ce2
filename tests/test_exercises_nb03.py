"""Notebook 03's exercise checks: the stub is "not attempted", a reference solution passes, each usual mistake gets
its hint, and learner code that raises is reported, never raised. The solutions here are written independently
of the checks (NumPy loops, scipy quantile functions) and are the trusted references."""
from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from scipy.stats import kstest, laplace, lognorm, norm

from vaelib.exercises import nb03
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG
from vaelib.exercises.editions import solution_code

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "03_reparameterization.ipynb"

F64 = torch.float64


# ------------------------------------------------------------------------------------------ 03.score_function
def score_numpy(f, mu, logvar, eps, *, slip=None):
    """Per-sample f(z) * d log N(z; mu, e^logvar) / d(mu, logvar), the score written out from the density in NumPy."""
    m, v, e = mu.numpy(), logvar.numpy(), eps.numpy()
    s = np.exp(v) if slip == "log_sigma" else np.exp(v / 2)
    z = m + s * e
    fz = f(torch.from_numpy(eps.numpy() if slip == "f_eps" else z)).numpy()[:, None]
    d_mu = (z - m) / s**2
    d_lv = 0.5 * (z - m) ** 2 / s**2 - 0.5  # d/dv of -v/2 - (z - m)^2 e^-v / 2
    d_lv = {"sigma": ((z - m) ** 2 / s**3 - 1 / s), "no_half": 2 * d_lv, "no_one": d_lv + 0.5}.get(slip, d_lv)
    d_mu = {"mu_no_sigma": e, "mu_z_minus_mu": z - m, "mu_sigma2": e / s**2}.get(slip, d_mu)
    sign_mu, sign_lv = (-1 if slip == "sign_mu" else 1), (-1 if slip == "sign_lv" else 1)
    return torch.from_numpy(sign_mu * fz * d_mu), torch.from_numpy(sign_lv * fz * d_lv)


def pathwise_autograd(f, mu, logvar, eps):
    """Per-sample pathwise gradients with respect to (mu, logvar) by autograd through z = mu + e^(logvar/2) eps."""
    n = eps.shape[0]
    m = mu.expand(n, -1).clone().requires_grad_(True)
    lv = logvar.expand(n, -1).clone().requires_grad_(True)
    return torch.autograd.grad(f(m + (lv / 2).exp() * eps).sum(), (m, lv))


def test_score_grad_stub_solution_and_shapes():
    assert nb03.check_score_grad(lambda f, mu, lv, eps: (None, None)).status == NOT_ATTEMPTED
    assert nb03.check_score_grad(lambda f, mu, lv, eps: None).status == NOT_ATTEMPTED
    assert nb03.check_score_grad(score_numpy).status == PASSED
    fb = nb03.check_score_grad(lambda f, mu, lv, eps: tuple(g.mean(0) for g in score_numpy(f, mu, lv, eps)))
    assert fb.status == WRONG and "averaged over the samples" in fb.message
    fb = nb03.check_score_grad(lambda f, mu, lv, eps: score_numpy(f, mu, lv, eps)[0])
    assert fb.status == WRONG and "two results, (d/dμ, d/dlogvar)" in fb.message
    assert nb03.check_score_grad(lambda f, mu, lv, eps: 1 / 0).status == WRONG


@pytest.mark.parametrize("slip,phrase", [
    ("log_sigma", "You read logvar as log σ"),
    ("mu_no_sigma", "divide f(z)·ε by σ"),
    ("mu_z_minus_mu", "You used z − μ"),
    ("mu_sigma2", "instead of σ"),
    ("f_eps", "evaluated f at ε"),
    ("sign_mu", "d/dμ has the wrong sign"),
    ("sigma", "estimate of d/dσ"),
    ("no_half", "The factor ½ is missing"),
    ("no_one", "The −1 is missing"),
    ("sign_lv", "d/dlogvar has the wrong sign"),
])
def test_score_grad_mistakes_get_their_hints(slip, phrase):
    fb = nb03.check_score_grad(lambda f, mu, lv, eps: score_numpy(f, mu, lv, eps, slip=slip))
    assert fb.status == WRONG and phrase in fb.message, fb


def test_score_grad_pathwise_answer_is_named():
    fb = nb03.check_score_grad(pathwise_autograd)
    assert fb.status == WRONG and "asks you not to use" in fb.message  # autograd is switched off while it runs
    mu_right = lambda f, mu, lv, eps: (score_numpy(f, mu, lv, eps)[0], pathwise_autograd(f, mu, lv, eps)[1])  # noqa: E731
    fb = nb03.check_score_grad(mu_right)
    assert fb.status == WRONG and "asks you not to use" in fb.message


# ------------------------------------------------------------------------------------------------ 03.baseline
def loo_loop(fz):
    """The leave-one-out mean by a Python loop over NumPy values."""
    v = fz.numpy()
    return torch.tensor([np.delete(v, i).mean() for i in range(len(v))], dtype=F64)


def test_loo_baseline_stub_solution_and_effect():
    assert nb03.check_loo_baseline(lambda fz: None).status == NOT_ATTEMPTED
    fb = nb03.check_loo_baseline(loo_loop)
    assert fb.status == PASSED and "cuts the variance" in fb.message
    ratio = float(fb.message.split("(")[1].split("x)")[0])
    assert ratio > 10  # the +100 offset makes the plain estimator far noisier
    assert nb03.check_loo_baseline(lambda fz: 1 / 0).status == WRONG


@pytest.mark.parametrize("fn,phrase", [
    (lambda fz: fz.mean(), "returned one number"),
    (lambda fz: fz.mean().expand(len(fz)), "includes f(z_i) itself"),
    (lambda fz: (fz.sum() - fz) / len(fz), "not by n"),
    (lambda fz: fz.sum().expand(len(fz)) / (len(fz) - 1), "Subtract f(z_i) from the sum first"),
    (lambda fz: fz - loo_loop(fz), "return the baseline b_i itself"),
    (lambda fz: torch.zeros_like(fz), "A baseline of 0"),
    (lambda fz: loo_loop(fz)[:-1], "shape"),
])
def test_loo_baseline_mistakes_get_their_hints(fn, phrase):
    fb = nb03.check_loo_baseline(fn)
    assert fb.status == WRONG and phrase in fb.message, fb


# ------------------------------------------------------------------------------------------------- 03.laplace
def laplace_scipy(n, generator):
    """Laplace(0, 1) draws through scipy's quantile function of uniform draws from the generator."""
    u = torch.rand(n, 1, generator=generator, dtype=F64).numpy()
    return torch.from_numpy(laplace.ppf(u))


def test_laplace_stub_solution_and_gradient():
    assert nb03.check_laplace_eps(lambda n, g: None).status == NOT_ATTEMPTED
    fb = nb03.check_laplace_eps(laplace_scipy)
    assert fb.status == PASSED and "(exact 1.4)" in fb.message and "(exact 5.2)" in fb.message
    assert nb03.check_laplace_eps(lambda n, g: 1 / 0).status == WRONG


def test_ks_distance_agrees_with_scipy():
    x = laplace_scipy(5000, torch.Generator().manual_seed(0))[:, 0]
    assert math.isclose(nb03._ks_distance(x), kstest(x.numpy(), "laplace").statistic, rel_tol=1e-9)


def _u(n, g):
    return torch.rand(n, 1, generator=g, dtype=F64) - 0.5


@pytest.mark.parametrize("fn,phrase", [
    (lambda n, g: laplace_scipy(n, g)[:, 0], "shape (n, 1)"),
    (lambda n, g: laplace_scipy(n, g).float(), "float64"),
    (lambda n, g: torch.distributions.Laplace(0.0, 1.0).sample((n, 1)).double(), "same seed gave different noise"),
    (lambda n, g: torch.log(1 - 2 * (_u(n, g) + 0.5)), "NaN"),
    (lambda n, g: torch.log(1 - 2 * _u(n, g).abs()), "All your draws are ≤ 0"),
    (lambda n, g: -torch.log(torch.rand(n, 1, generator=g, dtype=F64)), "Exponential(1)"),
    (lambda n, g: torch.randn(n, 1, generator=g, dtype=F64), "Gaussian noise"),
    (lambda n, g: laplace_scipy(n, g) / math.sqrt(2), "scale 1/√2"),
    (lambda n, g: laplace_scipy(n, g) + 0.3, "not Laplace(0, 1)"),
])
def test_laplace_mistakes_get_their_hints(fn, phrase):
    fb = nb03.check_laplace_eps(fn)
    assert fb.status == WRONG and phrase in fb.message, fb


def test_laplace_infinite_draws_are_named():
    def with_inf(n, g):
        x = laplace_scipy(n, g)
        x[0, 0] = math.inf
        return x
    fb = nb03.check_laplace_eps(with_inf)
    assert fb.status == WRONG and "infinite" in fb.message


# ----------------------------------------------------------------------------------------------- 03.lognormal
def lognormal_scipy_values(mu, logvar, eps):
    """exp(mu + sigma eps) as scipy's log-normal quantile at the Gaussian probability of eps (no gradient)."""
    s = np.exp(logvar.detach().numpy() / 2)
    return torch.from_numpy(lognorm.ppf(norm.cdf(eps.numpy()), s=s, scale=np.exp(mu.detach().numpy())))


def test_lognormal_reference_is_scipys_quantile():
    mu, lv = torch.tensor([0.2, -0.4], dtype=F64), torch.tensor([-0.5, 0.3], dtype=F64)
    eps = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    assert torch.allclose(lognormal_scipy_values(mu, lv, eps), (mu + (lv / 2).exp() * eps).exp(), rtol=1e-10)


def test_lognormal_stub_solution_and_gradient():
    assert nb03.check_lognormal_rsample(lambda mu, lv, eps: None).status == NOT_ATTEMPTED
    fb = nb03.check_lognormal_rsample(lambda mu, lv, eps: torch.exp(mu + torch.exp(0.5 * lv) * eps))
    assert fb.status == PASSED and f"{math.exp(0.3 + 0.125):.4g}" in fb.message
    fb = nb03.check_lognormal_rsample(lognormal_scipy_values)  # right values, no gradient
    assert fb.status == WRONG and "no gradient" in fb.message
    fb = nb03.check_lognormal_rsample(
        lambda mu, lv, eps: torch.distributions.LogNormal(mu, (lv / 2).exp()).rsample(eps.shape[:1]))
    assert fb.status == WRONG and "same `eps` gave different z" in fb.message
    fake = lambda mu, lv, eps: (mu.detach() + (lv.detach() / 2).exp() * eps).exp() * (1 + 0 * lv.sum())  # noqa: E731
    fb = nb03.check_lognormal_rsample(fake)
    assert fb.status == WRONG and "gradient with respect to `mu` or `logvar`" in fb.message
    assert nb03.check_lognormal_rsample(lambda mu, lv, eps: 1 / 0).status == WRONG


@pytest.mark.parametrize("fn,phrase", [
    (lambda mu, lv, eps: torch.exp(mu + lv.exp() * eps), "σ = e^logvar"),
    (lambda mu, lv, eps: torch.exp(mu + 0.5 * lv * eps), "not logvar/2"),
    (lambda mu, lv, eps: mu + (lv / 2).exp() * eps, "Gaussian sample"),
    (lambda mu, lv, eps: mu.exp() + (lv / 2).exp() * eps, "Shift and scale come before"),
    (lambda mu, lv, eps: torch.exp(mu + (lv / 2).exp() * eps)[0], "shape"),
])
def test_lognormal_mistakes_get_their_hints(fn, phrase):
    fb = nb03.check_lognormal_rsample(fn)
    assert fb.status == WRONG and phrase in fb.message, fb


# --------------------------------------------------------------------------------------- the notebook's own cells
@pytest.mark.parametrize("role,expected", [("exercise", NOT_ATTEMPTED), ("solution", PASSED)])
def test_notebook_stubs_are_not_attempted_and_its_solutions_pass(role, expected):
    """Run the notebook's stub cells (or its folded solutions), then its check cells, in one namespace."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    namespace = {"torch": torch, "math": math, "nb03": nb03}
    for cell in nb.cells:
        if role in cell.metadata.get("tags", []):
            exec(solution_code(cell) if role == "solution" else cell.source, namespace)
    verdicts = [eval(cell.source, namespace) for cell in nb.cells if "check" in cell.metadata.get("tags", [])]
    assert len(verdicts) >= 3 and all(v.status == expected for v in verdicts), verdicts


# ------------------------------------------------------------ answers written another way, and wrong answers that
# pass one input set: a size written as a number, inputs changed in place, NaN, a scale off by 2 %
def test_score_grad_other_correct_answers_pass_and_shortcuts_fail():
    def in_place(f, mu, logvar, eps):
        sigma = logvar.div_(2).exp_()
        fz = f(mu + sigma * eps)[:, None]
        return fz * eps / sigma, fz * eps.pow_(2).sub_(1).div_(2)

    assert nb03.check_score_grad(in_place).status == PASSED
    assert nb03.check_score_grad(lambda *a: [t.float().numpy() for t in score_numpy(*a)]).status == PASSED
    fb = nb03.check_score_grad(lambda f, mu, lv, eps: tuple(t.reshape(7, 3) for t in score_numpy(f, mu, lv, eps)))
    assert fb.status == WRONG and "second one drawn now" in fb.message  # (n, D) = (7, 3) written in
    assert nb03.check_score_grad(lambda *a: (score_numpy(*a)[0] * math.nan, score_numpy(*a)[1])).status == WRONG


def test_loo_baseline_other_correct_answers_pass_and_shortcuts_fail():
    assert nb03.check_loo_baseline(lambda fz: ((fz.sum() - fz) / (len(fz) - 1)).numpy()).status == PASSED
    assert nb03.check_loo_baseline(lambda fz: fz.sum().sub(fz).div_(len(fz) - 1).float()).status == PASSED
    fb = nb03.check_loo_baseline(lambda fz: (fz.sum() - fz) / 5)  # n - 1 = 5 written in
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb03.check_loo_baseline(lambda fz: fz * math.nan).status == WRONG

    def tamper(fz):  # a constant fz makes every baseline equal to it
        fz.fill_(1.0)
        return torch.ones_like(fz)

    assert nb03.check_loo_baseline(tamper).status == WRONG


def test_laplace_seeded_draws_other_forms_and_a_two_percent_scale():
    def uniform_(n, g):  # u drawn with uniform_, the mirror-image formula
        u = torch.empty(n, 1, dtype=F64).uniform_(-0.5, 0.5, generator=g)
        return u.sign() * torch.log1p(-2 * u.abs())

    assert nb03.check_laplace_eps(uniform_).status == PASSED
    fb = nb03.check_laplace_eps(lambda n, g: laplace_scipy(n, g) * 1.02)
    assert fb.status == WRONG and "not Laplace(0, 1)" in fb.message
    assert nb03.check_laplace_eps(lambda n, g: laplace_scipy(n, g) * 0.98).status == WRONG
    fb = nb03.check_laplace_eps(lambda n, g: laplace_scipy(200_000, g))  # n written in
    assert fb.status == WRONG and "second one drawn now" in fb.message


def test_lognormal_other_correct_answers_nan_hint_and_shortcuts():
    def in_place(mu, logvar, eps):
        return eps.mul(logvar.mul_(0.5).exp()).add_(mu).exp_()

    assert nb03.check_lognormal_rsample(in_place).status == PASSED
    assert nb03.check_lognormal_rsample(
        lambda mu, lv, eps: torch.distributions.LogNormal(mu, (lv / 2).exp()).icdf(torch.distributions.Normal(0.0, 1.0)
                                                                                   .cdf(eps)).float()).status == PASSED
    fb = nb03.check_lognormal_rsample(lambda mu, lv, eps: (mu + (lv / 2).exp() * eps).exp() * math.nan)
    assert fb.status == WRONG and "NaN" in fb.message and "different z" not in fb.message
    fb = nb03.check_lognormal_rsample(lambda mu, lv, eps: (mu + (lv / 2).exp() * eps).exp().reshape(6, 3))
    assert fb.status == WRONG and "second one drawn now" in fb.message
    fb = nb03.check_lognormal_rsample(lambda mu, lv, eps: (mu + (lv / 2).exp().detach() * eps).exp())
    assert fb.status == WRONG and "gradient" in fb.message
