"""Notebook 02's exercise checks: the stub is "not attempted", a reference solution passes, each usual mistake gets
its hint, and learner code that raises is reported, never raised. The solutions here are written independently
of the checks (scipy, NumPy, finite differences) and are the trusted references."""
from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from scipy.stats import norm

from vaelib.exercises import nb02
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG
from vaelib.exercises.editions import solution_code
from vaelib.losses import gaussian_log_prob, std_normal_log_prob

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "02_kl_closed_form.ipynb"


def kl_numpy(mu, logvar):
    """KL(N(mu, e^logvar) || N(0, 1)) per coordinate by one-dimensional quadrature (scipy densities)."""
    z = np.linspace(-25, 25, 200_001)
    out = np.empty(mu.shape)
    for idx in np.ndindex(mu.shape):
        q = norm(mu[idx], math.exp(logvar[idx] / 2))
        out[idx] = np.trapezoid(q.pdf(z) * (q.logpdf(z) - norm.logpdf(z)), z)
    return out


# ---------------------------------------------------------------------------------------------- 02.kl_grads
def kl_grads_fd(mu, logvar):
    """Central finite differences of the closed form, as the reference solution."""
    kl = lambda m, lv: 0.5 * (m**2 + lv.exp() - lv - 1)  # noqa: E731
    h = 1e-6
    return (kl(mu + h, logvar) - kl(mu - h, logvar)) / (2 * h), (kl(mu, logvar + h) - kl(mu, logvar - h)) / (2 * h)


def test_kl_grads_stub_solution_and_order():
    assert nb02.check_kl_grads(lambda mu, logvar: (None, None)).status == NOT_ATTEMPTED
    assert nb02.check_kl_grads(None).status == NOT_ATTEMPTED
    assert nb02.check_kl_grads(lambda mu, lv: (mu, 0.5 * (lv.exp() - 1))).status == PASSED
    fb = nb02.check_kl_grads(lambda mu, lv: (0.5 * (lv.exp() - 1), mu))
    assert fb.status == WRONG and "wrong order" in fb.message
    fb = nb02.check_kl_grads(lambda mu, lv: mu)
    assert fb.status == WRONG and "two results" in fb.message
    fb = nb02.check_kl_grads(lambda mu, lv: (mu.sum(-1), 0.5 * (lv.exp() - 1)))
    assert fb.status == WRONG and "shape" in fb.message
    assert nb02.check_kl_grads(lambda mu, lv: 1 / 0).status == WRONG


def test_kl_grads_reference_agrees_with_finite_differences():
    mu, lv = nb02._gaussians(5, 3, torch.Generator().manual_seed(21))
    g_mu, g_lv = kl_grads_fd(mu, lv)
    assert torch.allclose(g_mu, mu, atol=1e-7) and torch.allclose(g_lv, 0.5 * (lv.exp() - 1), atol=1e-7)


@pytest.mark.parametrize("grads,phrase", [
    (lambda mu, lv: (-mu, 0.5 * (lv.exp() - 1)), "∂KL/∂μ has the wrong sign"),
    (lambda mu, lv: (2 * mu, 0.5 * (lv.exp() - 1)), "∂(½μ²)/∂μ = μ"),
    (lambda mu, lv: (0.5 * mu**2, 0.5 * (lv.exp() - 1)), "not its derivative"),
    (lambda mu, lv: (mu, lv.exp() - 1), "twice the one with respect to log σ²"),
    (lambda mu, lv: (mu, 0.5 * lv.exp()), "−logvar term is missing"),
    (lambda mu, lv: (mu, 0.5 * (1 - lv.exp())), "∂KL/∂logvar has the wrong sign"),
    (lambda mu, lv: (mu, 0.5 * (lv.exp() - lv - 1)), "variance part of the KL itself"),
    (lambda mu, lv: (mu, (lv / 2).exp() - (-lv / 2).exp()), "That is ∂KL/∂σ"),
    (lambda mu, lv: (mu, (2 * lv).exp() - 1), "You read logvar as log σ"),
    (lambda mu, lv: (mu, 0.5 * (lv.exp() - 1) + 0.2), "none of the usual slips"),
])
def test_kl_grads_mistakes_get_their_hints(grads, phrase):
    fb = nb02.check_kl_grads(grads)
    assert fb.status == WRONG and phrase in fb.message, fb


# ------------------------------------------------------------------------------------------ 02.kl_per_example
def kl_per_example_quadrature(z_mean, z_log_var):
    return torch.from_numpy(kl_numpy(z_mean.numpy(), z_log_var.numpy()).sum(-1))


def test_kl_per_example_stub_and_solution():
    assert nb02.check_kl_per_example(lambda m, lv: None).status == NOT_ATTEMPTED
    assert nb02.check_kl_per_example(kl_per_example_quadrature).status == PASSED  # quadrature, to ~1e-12
    keras_fixed = lambda m, lv: -0.5 * torch.sum(1 + lv - m.square() - lv.exp(), dim=-1)  # noqa: E731
    assert nb02.check_kl_per_example(keras_fixed).status == PASSED
    mu, lv = nb02._gaussians(6, 4, torch.Generator().manual_seed(22))
    assert np.allclose(keras_fixed(mu, lv).numpy(), kl_per_example_quadrature(mu, lv).numpy(), rtol=1e-7)
    assert nb02.check_kl_per_example(lambda m, lv: 1 / 0).status == WRONG


@pytest.mark.parametrize("fn,phrase", [
    (lambda m, lv: -0.5 * torch.mean(1 + lv - m.square() - lv.exp(), dim=-1), "hidden β = 1/D"),
    (lambda m, lv: 0.5 * torch.sum(1 + lv - m.square() - lv.exp(), dim=-1), "wrong sign"),
    (lambda m, lv: -torch.sum(1 + lv - m.square() - lv.exp(), dim=-1), "factor ½ is missing"),
    (lambda m, lv: -0.5 * torch.sum(1 + 2 * lv - m.square() - (2 * lv).exp(), dim=-1), "as log σ"),
    (lambda m, lv: -0.5 * torch.sum(lv - m.square() - lv.exp(), dim=-1), "`1 +`"),
    (lambda m, lv: -0.5 * torch.sum(1 + lv - m.square() - (lv / 2).exp(), dim=-1), "σ = e^(z_log_var/2)"),
    (lambda m, lv: -0.5 * torch.sum(1 + lv - m - lv.exp(), dim=-1), "μ must be squared"),
    (lambda m, lv: -0.5 * torch.sum(1 + lv - m.square() - lv.exp()), "reduced over the batch too"),
    (lambda m, lv: -0.5 * torch.mean(1 + lv - m.square() - lv.exp()), "reduced over the batch too"),
    (lambda m, lv: -0.5 * torch.sum(1 + lv - m.square() - lv.exp(), dim=0), "dim 0"),
    (lambda m, lv: -0.5 * (1 + lv - m.square() - lv.exp()), "shape"),
])
def test_kl_per_example_mistakes_get_their_hints(fn, phrase):
    fb = nb02.check_kl_per_example(fn)
    assert fb.status == WRONG and phrase in fb.message, fb


# ---------------------------------------------------------------------------------------------------- 02.mc_kl
def mc_kl_scipy(mu, logvar, eps):
    """The Monte Carlo KL with scipy densities and NumPy statistics."""
    m, s, e = mu.numpy(), np.exp(logvar.numpy() / 2), eps.numpy()
    z = m + s * e
    terms = (norm(m, s).logpdf(z) - norm.logpdf(z)).sum(-1)
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(len(terms)))


def test_mc_kl_stub_solution_and_shapes():
    assert nb02.check_mc_kl(lambda mu, lv, eps: None).status == NOT_ATTEMPTED
    assert nb02.check_mc_kl(lambda mu, lv, eps: (None, None)).status == NOT_ATTEMPTED
    fb = nb02.check_mc_kl(mc_kl_scipy)
    assert fb.status == PASSED and "standard errors away" in fb.message
    ddof0 = lambda mu, lv, eps: (mc_kl_scipy(mu, lv, eps)[0], mc_kl_scipy(mu, lv, eps)[1] * math.sqrt(399 / 400))  # noqa: E731
    assert nb02.check_mc_kl(ddof0).status == PASSED  # n or n - 1 in the standard deviation: both accepted
    as_tensors = lambda mu, lv, eps: tuple(torch.tensor(v, dtype=torch.float64) for v in mc_kl_scipy(mu, lv, eps))  # noqa: E731
    assert nb02.check_mc_kl(as_tensors).status == PASSED
    fb = nb02.check_mc_kl(lambda mu, lv, eps: eps.sum(-1))
    assert fb.status == WRONG and "return two numbers" in fb.message
    assert nb02.check_mc_kl(lambda mu, lv, eps: 1 / 0).status == WRONG


def mc_kl_variant(z_log_sigma=False, both_log_sigma=False, dim_mean=False, sign=1, no_jacobian=False,
                  sum_n=False, closed=False, se="right"):
    def fn(mu, lv, eps):
        m, e = mu.numpy(), eps.numpy()
        s_q = np.exp(lv.numpy()) if both_log_sigma else np.exp(lv.numpy() / 2)
        s_z = np.exp(lv.numpy()) if (z_log_sigma or both_log_sigma) else np.exp(lv.numpy() / 2)
        z = m + s_z * e
        log_q = norm.logpdf(e) if no_jacobian else norm(m, s_q).logpdf(z)
        per_dim = sign * (log_q - norm.logpdf(z))
        terms = per_dim.mean(-1) if dim_mean else per_dim.sum(-1)
        n, sd = len(terms), terms.std(ddof=1)
        est = terms.sum() if sum_n else terms.mean()
        if closed:
            est = (0.5 * (m**2 + np.exp(lv.numpy()) - lv.numpy() - 1)).sum()
        se_val = {"right": sd / math.sqrt(n), "sd": sd, "n": sd / n, "var_sqrt": sd**2 / math.sqrt(n),
                  "var_n": sd**2 / n}[se]
        return float(est), float(se_val)
    return fn


@pytest.mark.parametrize("slip,phrase", [
    ({"z_log_sigma": True}, "Your z is μ + e^logvar·ε"),
    ({"both_log_sigma": True}, "in z and in log q"),
    ({"dim_mean": True}, "averaged the log-ratio over the D dimensions"),
    ({"sign": -1}, "Wrong sign"),
    ({"no_jacobian": True}, "change of variables"),
    ({"sum_n": True}, "summed the n log-ratios"),
    ({"closed": True}, "That is the closed form"),
    ({"se": "sd"}, "divided by √n"),
    ({"se": "n"}, "not by n"),
    ({"se": "var_sqrt"}, "variance by √n"),
    ({"se": "var_n"}, "variance of the average"),
])
def test_mc_kl_mistakes_get_their_hints(slip, phrase):
    fb = nb02.check_mc_kl(mc_kl_variant(**slip))
    assert fb.status == WRONG and phrase in fb.message, fb


# --------------------------------------------------------------------------------------- the notebook's own cells
@pytest.mark.parametrize("role,expected", [("exercise", NOT_ATTEMPTED), ("solution", PASSED)])
def test_notebook_stubs_are_not_attempted_and_its_solutions_pass(role, expected):
    """Run the notebook's stub cells (or its folded solutions), then its check cells, in one namespace."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    namespace = {"torch": torch, "math": math, "nb02": nb02, "gaussian_log_prob": gaussian_log_prob,
          "std_normal_log_prob": std_normal_log_prob}
    for cell in nb.cells:
        if role in cell.metadata.get("tags", []):
            exec(solution_code(cell) if role == "solution" else cell.source, namespace)
    verdicts = [eval(cell.source, namespace) for cell in nb.cells if "check" in cell.metadata.get("tags", [])]
    assert len(verdicts) >= 3 and all(v.status == expected for v in verdicts), verdicts


# ------------------------------------------------------------ answers written another way, and wrong answers that
# pass one input set: a size written as a number, inputs changed in place, NaN, a forbidden shortcut
def test_kl_grads_other_correct_answers_pass_and_autograd_is_refused():
    def in_place(mu, logvar):  # changes its own inputs after using them
        return mu.clone(), logvar.exp_().sub_(1).mul_(0.5)

    assert nb02.check_kl_grads(in_place).status == PASSED
    assert nb02.check_kl_grads(lambda mu, lv: [mu.numpy(), (0.5 * (lv.exp() - 1)).float()]).status == PASSED

    def by_autograd(mu, logvar):
        mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
        kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1)
        return torch.autograd.grad(kl.sum(), (mu, logvar))

    def by_backward(mu, logvar):
        mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
        (0.5 * (mu**2 + logvar.exp() - logvar - 1)).sum().backward()
        return mu.grad, logvar.grad

    for fn in (by_autograd, by_backward):
        fb = nb02.check_kl_grads(fn)
        assert fb.status == WRONG and "asks you not to use" in fb.message, fb
    assert torch.autograd.grad is not None and nb02.torch.autograd.grad.__module__ == "torch.autograd"  # restored
    fb = nb02.check_kl_grads(lambda mu, lv: (mu, 0.5 * (lv.exp() - 1)) if mu.shape == (5, 3) else (mu, lv))
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb02.check_kl_grads(lambda mu, lv: (mu * math.nan, lv)).status == WRONG


def test_kl_per_example_other_correct_answers_pass_and_shortcuts_fail():
    def in_place(z_mean, z_log_var):
        return z_log_var.exp().sub_(z_log_var.add_(1)).add_(z_mean.pow_(2)).sum(-1).mul_(0.5)

    assert nb02.check_kl_per_example(in_place).status == PASSED
    assert nb02.check_kl_per_example(
        lambda m, lv: (-0.5 * torch.sum(1 + lv - m.square() - lv.exp(), dim=-1)).numpy()).status == PASSED
    fb = nb02.check_kl_per_example(lambda m, lv: -0.5 * torch.mean(1 + lv - m.square() - lv.exp(), dim=-1) * 4)  # D = 4
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb02.check_kl_per_example(lambda m, lv: m.sum(-1) * math.inf).status == WRONG

    def tamper(m, lv):  # zero the inputs so that the reference would be 0
        m.zero_(), lv.zero_()
        return torch.zeros(len(m), dtype=torch.float64)

    assert nb02.check_kl_per_example(tamper).status == WRONG


def test_mc_kl_other_correct_answers_pass_and_shortcuts_fail():
    def numpy_version(mu, logvar, eps):
        mu, lv, e = mu.numpy(), logvar.numpy(), eps.numpy()
        z = mu + np.exp(lv / 2) * e
        r = (-0.5 * (lv + (z - mu) ** 2 / np.exp(lv)) + 0.5 * z**2).sum(-1)  # the 2π terms cancel
        return [r.mean(), r.std() / np.sqrt(len(r))]  # SE with 1/n

    assert nb02.check_mc_kl(numpy_version).status == PASSED
    fb = nb02.check_mc_kl(lambda mu, lv, eps: (numpy_version(mu, lv, eps)[0], numpy_version(mu, lv, eps)[1]
                                               * math.sqrt(len(eps)) / 20))  # √400 written in
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb02.check_mc_kl(lambda *a: (math.nan, 0.1)).status == WRONG
    assert nb02.check_mc_kl(lambda mu, lv, eps: (numpy_version(mu, lv, eps)[0], math.inf)).status == WRONG
