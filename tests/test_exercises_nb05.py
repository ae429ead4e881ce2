"""Notebook 05's exercise checks: the stub is "not attempted", the reference solution passes, each usual mistake
gets its hint, and learner code that raises is reported, never raised. The solutions here take an independent
route (torch.distributions, scipy's Normal quantiles, the slerp formula via rotations) and are the trusted
references."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch.distributions import Normal, kl_divergence

from vaelib.exercises import nb05
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG
from vaelib.latent import quantile_grid


# ---------------------------------------------------------------------------------------- 05.kl_per_dim
def kl_ref(mu, logvar):
    q = Normal(mu, (0.5 * logvar).exp())
    return kl_divergence(q, Normal(0.0, 1.0)).mean(0)


def formula(mu, lv):
    return 0.5 * (mu**2 + lv.exp() - lv - 1)


def test_kl_per_dim_stub_solution_and_errors():
    assert nb05.check_kl_per_dimension(lambda m, lv: None).status == NOT_ATTEMPTED
    assert nb05.check_kl_per_dimension(kl_ref).status == PASSED
    assert nb05.check_kl_per_dimension(lambda m, lv: m.nope).status == WRONG
    assert nb05.check_kl_per_dimension(lambda m, lv: kl_ref(m, lv).numpy()).status == PASSED  # NumPy is fine


@pytest.mark.parametrize("fn,phrase", [
    (lambda m, lv: formula(m, lv).mean(1), "wrong axis"),
    (lambda m, lv: formula(m, lv).mean(), "one number"),
    (lambda m, lv: formula(m, lv).sum(0), "summed over the examples"),
    (lambda m, lv: formula(m, 2 * lv).mean(0), "log σ"),
    (lambda m, lv: 2 * formula(m, lv).mean(0), "factor ½"),
    (lambda m, lv: (formula(m, lv) + 0.5).mean(0), "−1"),
    (lambda m, lv: m.var(0), "other* criterion"),
    (lambda m, lv: m.var(0, unbiased=False), "other criterion"),
    (lambda m, lv: (0.5 * (m**2 + lv.exp() + lv - 1)).mean(0), "sign of logvar"),
])
def test_kl_per_dim_mistakes_get_their_hints(fn, phrase):
    fb = nb05.check_kl_per_dimension(fn)
    assert fb.status == WRONG and phrase in fb.message, fb


def test_kl_per_dim_reports_the_two_criteria_on_the_notebooks_model():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(200, 6, generator=g) * torch.tensor([1.0, 1.0, 0.5, 0.0, 0.0, 0.3])
    logvar = torch.randn(200, 6, generator=g) * 0.1 - torch.tensor([2.0, 2.0, 1.0, 0.0, 0.0, 0.5])
    active = mu.var(0) > 0.01  # 4 of 6 by the covariance criterion
    fb = nb05.check_kl_per_dimension(kl_ref, mu=mu, logvar=logvar, active=active)
    assert fb.status == PASSED
    assert "4 dimensions have an average KL above 0.01" in fb.message and "agree on 6 of 6" in fb.message, fb


# -------------------------------------------------------------------------------------- 05.quantile_grid
def grid_ref(n):
    """Loops over the picture: row r (top first) has z2 = Phi^-1(u_{n-1-r}), column c has z1 = Phi^-1(u_c)."""
    q = norm.ppf(np.linspace(0.05, 0.95, n))
    return torch.tensor([[q[c], q[n - 1 - r]] for r in range(n) for c in range(n)], dtype=torch.float64)


def test_quantile_grid_stub_solution_and_errors():
    assert nb05.check_quantile_grid(lambda n: None).status == NOT_ATTEMPTED
    assert nb05.check_quantile_grid(grid_ref).status == PASSED
    fb = nb05.check_quantile_grid(lambda n: quantile_grid(n))  # vaelib's own answer: the prompt forbids it
    assert fb.status == WRONG and "asks you not to use" in fb.message
    assert nb05.check_quantile_grid(lambda n: grid_ref(n).float()).status == PASSED  # float32
    assert nb05.check_quantile_grid(lambda n: grid_ref(n).numpy()).status == PASSED
    assert nb05.check_quantile_grid(lambda n: 1 / 0).status == WRONG


def _flipped_rows(n):
    return grid_ref(n).reshape(n, n, 2).flip(0).reshape(-1, 2)


@pytest.mark.parametrize("fn,phrase", [
    (lambda n: torch.tensor([[a, b] for b in np.linspace(norm.ppf(0.95), norm.ppf(0.05), n)
                             for a in np.linspace(norm.ppf(0.05), norm.ppf(0.95), n)]), "equally spaced in z"),
    (lambda n: torch.tensor([[a, b] for b in np.linspace(3, -3, n) for a in np.linspace(-3, 3, n)]), "[−3, 3]"),
    (_flipped_rows, "upside down"),
    (lambda n: grid_ref(n).flip(-1), "swapped"),
    (lambda n: grid_ref(n).reshape(n, n, 2).transpose(0, 1).reshape(-1, 2), "transpose"),
    (lambda n: grid_ref(n) / math.sqrt(2), "√2"),
    (lambda n: torch.tensor([[a, b] for b in np.linspace(0.95, 0.05, n) for a in np.linspace(0.05, 0.95, n)]),
     "probabilities u themselves"),
    (lambda n: torch.tensor([[a, b] for b in np.linspace(1, 0, n) for a in np.linspace(0, 1, n)]).double()
     .apply_(lambda v: norm.ppf(v)), "Φ⁻¹(0)"),
    (lambda n: grid_ref(n).reshape(n, n, 2), "flatten"),
])
def test_quantile_grid_mistakes_get_their_hints(fn, phrase):
    fb = nb05.check_quantile_grid(fn)
    assert fb.status == WRONG and phrase in fb.message, fb


# ------------------------------------------------------------------------------------------- 05.slerp
def slerp_ref(z0, z1, t):
    """The slerp weights applied in an orthonormal basis (u0, e) of the plane of z0 and z1 (Gram-Schmidt): a different
    route to the same point, a z0 + b z1 = (a |z0| + b |z1| cos Ω) u0 + b |z1| sin Ω e."""
    n0, n1 = z0.norm(), z1.norm()
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos((u0 @ u1).clamp(-1, 1))
    e = (u1 - (u0 @ u1) * u0) / (u1 - (u0 @ u1) * u0).norm()  # unit vector orthogonal to u0 in the plane
    t = t[:, None]
    a, b = torch.sin((1 - t) * omega) / torch.sin(omega), torch.sin(t * omega) / torch.sin(omega)  # weights
    return (a * n0 + b * n1 * torch.cos(omega)) * u0 + (b * n1 * torch.sin(omega)) * e


def test_slerp_reference_is_the_formula_and_ends_at_the_endpoints():
    g = torch.Generator().manual_seed(3)
    z0, z1 = torch.randn(2, 5, generator=g, dtype=torch.float64)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    path = slerp_ref(z0, z1, t)
    assert torch.allclose(path[0], z0) and torch.allclose(path[-1], z1)
    assert torch.allclose(torch.from_numpy(nb05._slerp_ref(z0.numpy(), z1.numpy(), t.numpy())), path, atol=1e-12)


def test_slerp_stub_solution_and_errors():
    assert nb05.check_slerp(lambda a, b, t: None).status == NOT_ATTEMPTED
    fb = nb05.check_slerp(slerp_ref)
    assert fb.status == PASSED and "straight line's midpoint" in fb.message, fb
    assert nb05.check_slerp(lambda a, b, t: a.nope).status == WRONG


@pytest.mark.parametrize("fn,phrase", [
    (lambda a, b, t: (1 - t)[:, None] * a + t[:, None] * b, "straight line"),
    (lambda a, b, t: slerp_ref(b, a, t), "backwards"),
    (lambda a, b, t: slerp_ref(a / a.norm(), b / b.norm(), t), "unit directions"),
    (lambda a, b, t: (torch.sin((1 - t)[:, None]) * a + torch.sin(t[:, None]) * b) / math.sin(1.0), "not a constant"),
    (lambda a, b, t: slerp_ref(a, b, t).T, "shape (T, D)"),
    (lambda a, b, t: (torch.sin((1 - t)[:, None] * torch.arccos(a @ b)) * a), "[−1, 1]"),
])
def test_slerp_mistakes_get_their_hints(fn, phrase):
    fb = nb05.check_slerp(fn)
    assert fb.status == WRONG and phrase in fb.message, fb


# ------------------------------------------------------------ answers written another way, and wrong answers that
# pass one input set: a size written as a number, inputs changed in place, NaN, a forbidden shortcut
def test_kl_per_dim_other_answers_and_shortcuts():
    from vaelib.latent import kl_per_dim

    def in_place(mu, logvar):
        var = logvar.exp()
        return mu.pow_(2).add_(var).sub_(logvar).sub_(1).mul_(0.5).mean(0)

    assert nb05.check_kl_per_dimension(in_place).status == PASSED
    assert nb05.check_kl_per_dimension(lambda mu, lv: formula(mu, lv).mean(0).float().numpy()).status == PASSED
    fb = nb05.check_kl_per_dimension(lambda mu, lv: kl_per_dim(mu, lv))
    assert fb.status == WRONG and "asks you not to use" in fb.message
    fb = nb05.check_kl_per_dimension(lambda mu, lv: (0.5 * (mu**2 + lv.exp() - lv - 1)).sum(0) / 7)  # N = 7
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb05.check_kl_per_dimension(lambda mu, lv: formula(mu, lv).mean(0) * math.nan).status == WRONG


def test_quantile_grid_other_answers_and_shortcuts():
    def erfinv_version(n):
        q = math.sqrt(2) * torch.erfinv(2 * torch.linspace(0.05, 0.95, n, dtype=torch.float64) - 1)
        z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")
        return torch.stack([z1.flatten(), z2.flatten()], 1).tolist()  # a list of [z1, z2] rows

    assert nb05.check_quantile_grid(erfinv_version).status == PASSED
    fb = nb05.check_quantile_grid(lambda n: grid_ref(6))  # n = 6 written in
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb05.check_quantile_grid(lambda n: grid_ref(n) * math.nan).status == WRONG


def test_slerp_other_answers_and_shortcuts():
    def via_torch(z0, z1, t):
        omega = torch.arccos(torch.dot(z0, z1) / (z0.norm() * z1.norm()))
        w0, w1 = torch.sin((1 - t) * omega) / torch.sin(omega), torch.sin(t * omega) / torch.sin(omega)
        return (w0[:, None] * z0 + w1[:, None] * z1).float()

    def in_place(z0, z1, t):
        path = via_torch(z0, z1, t).double()
        z0.zero_(), z1.zero_(), t.zero_()
        return path

    assert nb05.check_slerp(via_torch).status == PASSED
    assert nb05.check_slerp(in_place).status == PASSED
    fb = nb05.check_slerp(lambda z0, z1, t: via_torch(z0, z1, torch.linspace(0, 1, 7, dtype=torch.float64)))
    assert fb.status == WRONG and "second one drawn now" in fb.message  # T = 7 written in
    assert nb05.check_slerp(lambda z0, z1, t: via_torch(z0, z1, t) * math.nan).status == WRONG
