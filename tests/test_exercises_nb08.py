"""Notebook 08's exercise checks: the stub is "not attempted", a reference solution passes, each usual mistake gets
its hint, and learner code that raises is reported, never raised. The reference solutions are independent of the
checks: scipy's sqrtm and multivariate normal, NumPy's covariance, scipy's Laplace quantile function."""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.linalg import sqrtm
from scipy.stats import laplace, multivariate_normal

from vaelib.exercises import nb08
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG


def frechet_scipy(ma, A, mb, B):
    ma, A, mb, B = (t.numpy() for t in (ma, A, mb, B))
    return float(((ma - mb) ** 2).sum() + np.trace(A + B - 2 * sqrtm(A @ B).real))


def test_frechet_stub_solution_and_hints():
    assert nb08.check_frechet(lambda *a: None).status == NOT_ATTEMPTED
    assert nb08.check_frechet(frechet_scipy).status == PASSED
    def commuting(ma, A, mb, B):
        return float(((ma - mb) ** 2).sum() + np.trace(A.numpy() + B.numpy() - 2 * sqrtm(A.numpy()).real
                                                       @ sqrtm(B.numpy()).real))

    cases = {
        "factor 2":
            lambda ma, A, mb, B: frechet_scipy(ma, A, mb, B) + float(np.trace(sqrtm(A.numpy() @ B.numpy()).real)),
        "commute": commuting,
        "squared distance": lambda ma, A, mb, B: frechet_scipy(ma, A, mb, B) - ((ma - mb) ** 2).sum().item()
        + (ma - mb).norm().item(),
        "no square root outside": lambda *a: math.sqrt(frechet_scipy(*a)),
        "covariance term": lambda ma, A, mb, B: ((ma - mb) ** 2).sum().item(),
        "mean term": lambda ma, A, mb, B: frechet_scipy(ma, A, mb, B) - ((ma - mb) ** 2).sum().item(),
    }
    for phrase, fn in cases.items():
        fb = nb08.check_frechet(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb)
    assert nb08.check_frechet(lambda *a: a[0].nonexistent).status == WRONG


def heldout_scipy(train, test):
    t = train.numpy()
    return float(multivariate_normal(t.mean(0), np.cov(t, rowvar=False, bias=True)).logpdf(test.numpy()).mean())


def test_gaussian_fit_stub_solution_and_hints():
    assert nb08.check_gaussian_fit(lambda tr, te: None).status == NOT_ATTEMPTED
    assert nb08.check_gaussian_fit(heldout_scipy).status == PASSED
    unbiased = lambda tr, te: float(multivariate_normal(tr.numpy().mean(0), np.cov(tr.numpy(), rowvar=False))  # noqa: E731
                                    .logpdf(te.numpy()).mean())
    diagonal = lambda tr, te: float(multivariate_normal(tr.numpy().mean(0), np.diag(tr.numpy().var(0)))  # noqa: E731
                                    .logpdf(te.numpy()).mean())
    on_train = lambda tr, te: heldout_scipy(tr, tr)  # noqa: E731
    total = lambda tr, te: heldout_scipy(tr, te) * len(te)  # noqa: E731
    hints = {"unbiased": unbiased, "diagonal": diagonal, "training codes": on_train, "not the sum": total}
    for phrase, fn in hints.items():
        fb = nb08.check_gaussian_fit(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb)
    def no_logdet(tr, te):
        return heldout_scipy(tr, te) + 0.5 * np.linalg.slogdet(np.cov(tr.numpy(), rowvar=False, bias=True))[1]

    assert "log det" in nb08.check_gaussian_fit(no_logdet).message
    assert "2π" in nb08.check_gaussian_fit(lambda tr, te: heldout_scipy(tr, te) + 1.5 * math.log(2 * math.pi)).message


def test_n_needed_stub_solution_and_hints():
    def solution(D, delta):
        return math.ceil((D + D * (D + 1) / 2) / (2 * delta))

    assert nb08.check_n_needed(lambda D, d: None).status == NOT_ATTEMPTED
    assert nb08.check_n_needed(solution).status == PASSED
    cases = {
        "free numbers, not D²": lambda D, d: math.ceil((D + D * D) / (2 * d)),
        "diagonal": lambda D, d: math.ceil(2 * D / (2 * d)),
        "mean are parameters": lambda D, d: math.ceil(D * (D + 1) / 2 / (2 * d)),
        "factor 2": lambda D, d: math.ceil((D + D * (D + 1) / 2) / d),
        "Round up": lambda D, d: math.floor((D + D * (D + 1) / 2) / (2 * d)),
    }
    for phrase, fn in cases.items():
        fb = nb08.check_n_needed(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb)
    assert "whole number" in nb08.check_n_needed(lambda D, d: (D + D * (D + 1) / 2) / (2 * d) + 0.3).message


def laplace_scipy(mu, logvar, u):
    b = np.exp(logvar.numpy() / 2) / math.sqrt(2)
    return torch.from_numpy(laplace.ppf(u.numpy() + 0.5, loc=mu.numpy(), scale=b))


def laplace_torch(mu, logvar, u):
    return torch.distributions.Laplace(mu, (logvar / 2).exp() / math.sqrt(2)).icdf(u + 0.5)


def test_laplace_rsample_stub_solution_and_hints():
    assert nb08.check_laplace_rsample(lambda *a: None).status == NOT_ATTEMPTED
    assert nb08.check_laplace_rsample(laplace_torch).status == PASSED
    fb = nb08.check_laplace_rsample(lambda mu, lv, u: laplace_scipy(mu.detach(), lv.detach(), u))  # right values
    assert fb.status == WRONG and "differentiable" in fb.message
    noise = lambda u: -u.sign() * torch.log1p(-2 * u.abs())  # noqa: E731
    cases = {
        "not σ": lambda mu, lv, u: mu + (lv / 2).exp() * noise(u),
        "variance σ²": lambda mu, lv, u: mu + lv.exp() / math.sqrt(2) * noise(u),
        "sign is flipped": lambda mu, lv, u: mu - (lv / 2).exp() / math.sqrt(2) * noise(u),
        "log(1 − 2|u|)": lambda mu, lv, u: mu - (lv / 2).exp() / math.sqrt(2) * u.sign() * torch.log1p(-u.abs()),
    }
    for phrase, fn in cases.items():
        fb = nb08.check_laplace_rsample(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb)
    assert "shape" in nb08.check_laplace_rsample(lambda mu, lv, u: mu.sum()).message


# ------------------------------------------------------------ answers written another way, and wrong answers that
# pass one input set: a size written as a number, inputs changed in place, NaN, a forbidden shortcut
def frechet_eigh(ma, A, mb, B):  # the notebook's route: a symmetric square root from eigh
    evals, evecs = torch.linalg.eigh(A)
    root = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T
    cross = torch.linalg.eigvalsh(root @ B @ root).clamp_min(0).sqrt().sum()
    return (ma - mb).pow(2).sum() + A.trace() + B.trace() - 2 * cross  # a one-element tensor


def test_frechet_other_correct_answers_pass_and_shortcuts_fail():
    from vaelib.scores import frechet_distance_gaussians

    assert nb08.check_frechet(frechet_eigh).status == PASSED
    assert nb08.check_frechet(lambda *a: np.float32(frechet_scipy(*a))).status == PASSED

    def in_place(ma, A, mb, B):
        value = frechet_scipy(ma, A, mb, B)
        A.zero_(), B.zero_(), ma.zero_(), mb.zero_()
        return value

    assert nb08.check_frechet(in_place).status == PASSED
    fb = nb08.check_frechet(lambda *a: frechet_distance_gaussians(*a))
    assert fb.status == WRONG and "vaelib.scores" in fb.message

    def tamper(ma, A, mb, B):  # make both Gaussians the same so that a reference computed afterwards is 0
        mb.copy_(ma), B.copy_(A)
        return 0.0

    assert nb08.check_frechet(tamper).status == WRONG
    fb = nb08.check_frechet(lambda ma, A, mb, B: frechet_scipy(ma, A, mb, B) + 0.0 * torch.zeros(4).sum().item()
                            + (0.0 if len(ma) == 4 else 1.0))  # right only for F = 4
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb08.check_frechet(lambda *a: math.nan).status == WRONG


def test_gaussian_fit_other_correct_answers_pass_and_shortcuts_fail():
    from vaelib.expost import fit_gaussian, heldout_loglik

    def torch_version(train, test):
        m = train.mean(0)
        C = (train - m).T @ (train - m) / len(train)
        return torch.distributions.MultivariateNormal(m, C).log_prob(test).mean()

    assert nb08.check_gaussian_fit(torch_version).status == PASSED
    assert nb08.check_gaussian_fit(lambda tr, te: np.float32(heldout_scipy(tr, te))).status == PASSED
    fb = nb08.check_gaussian_fit(lambda tr, te: heldout_loglik(fit_gaussian(tr, ridge=0.0), te)[0])
    assert fb.status == WRONG and "vaelib.expost" in fb.message

    def twelve(train, test):  # N = 12 written as a number
        m = train.mean(0)
        C = (train - m).T @ (train - m) / 12
        return torch.distributions.MultivariateNormal(m, C).log_prob(test).mean().item()

    fb = nb08.check_gaussian_fit(twelve)
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb08.check_gaussian_fit(lambda tr, te: math.inf).status == WRONG


def test_n_needed_rounding_and_other_answers():
    p = lambda D: D + D * (D + 1) / 2  # noqa: E731
    assert nb08.check_n_needed(lambda D, d: int(np.ceil(p(D) / 2 / d))).status == PASSED  # NumPy integer
    assert nb08.check_n_needed(lambda D, d: torch.tensor(p(D) / (d * 2)).ceil()).status == PASSED  # a tensor
    fb = nb08.check_n_needed(lambda D, d: round(p(D) / (2 * d)))
    assert fb.status == WRONG and "nearest" in fb.message
    fb = nb08.check_n_needed(lambda D, d: math.floor(p(D) / (2 * d)) + 1)
    assert fb.status == WRONG and "math.ceil" in fb.message
    table = {(2, 0.07): 36, (5, 0.03): 334, (10, 0.15): 217, (20, 0.013): 8847, (50, 0.45): 1473, (3, 0.08): 57,
             (2, 0.125): 20}
    assert all(table[k] == math.ceil(p(k[0]) / (2 * k[1])) for k in table)
    fb = nb08.check_n_needed(lambda D, d: table.get((D, d), 1))  # the fixed cases' answers written in
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb08.check_n_needed(lambda D, d: math.nan).status == WRONG


def test_laplace_rsample_gradient_and_other_answers():
    def in_place(mu, logvar, u):  # changes its own (differentiable) inputs
        b = logvar.mul_(0.5).exp() / math.sqrt(2)
        return mu.sub_(b * u.sign() * torch.log1p(-2 * u.abs()))

    assert nb08.check_laplace_rsample(in_place).status == PASSED
    assert nb08.check_laplace_rsample(lambda *a: laplace_torch(*a).float()).status == PASSED
    fb = nb08.check_laplace_rsample(lambda mu, lv, u: mu + ((lv / 2).exp() / math.sqrt(2)).detach()
                                    * (-u.sign() * torch.log1p(-2 * u.abs())))
    assert fb.status == WRONG and "gradient with respect to `logvar`" in fb.message
    fb = nb08.check_laplace_rsample(lambda mu, lv, u: laplace_torch(mu, lv, u).detach())
    assert fb.status == WRONG and "differentiable" in fb.message
    fb = nb08.check_laplace_rsample(lambda mu, lv, u: laplace_torch(mu, lv, u).reshape(3, 4))  # B, D = 3, 4 written in
    assert fb.status == WRONG and "second one drawn now" in fb.message
    assert nb08.check_laplace_rsample(lambda *a: laplace_torch(*a) * math.nan).status == WRONG
