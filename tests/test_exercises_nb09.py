"""Notebook 09's exercise checks: the stub is "not attempted", reference solutions written independently of the
checks pass (also when written another way), each usual mistake gets its hint, NaN is wrong, and learner errors are
reported."""
from __future__ import annotations

import itertools
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

from vaelib.exercises import nb09
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, WRONG
from vaelib.exercises.editions import solution_code
from vaelib.losses import free_bits_kl

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "09_posterior_collapse.ipynb"


# ---------------------------------------------------------------------------------------------- 09.spread
def test_spread_solutions_pass_and_mistakes_get_hints():
    assert nb09.check_sample_spread(lambda p: None).status == NOT_ATTEMPTED
    assert nb09.check_sample_spread(lambda p: float(np.mean(pdist(p.numpy())))).status == PASSED  # scipy
    n_pairs = lambda p: len(p) * (len(p) - 1)  # noqa: E731
    assert nb09.check_sample_spread(lambda p: torch.cdist(p, p).sum() / n_pairs(p)).status == PASSED  # another way
    cases = [(lambda p: torch.cdist(p, p).mean(), "including each image with itself"),
             (lambda p: torch.pdist(p).pow(2).mean(), "squared"),
             (lambda p: torch.pdist(p, p=1).mean(), "L1"),
             (lambda p: p.std(0).mean(), "pixels' spread"),
             (lambda p: torch.tensor(float("nan")), "NaN"),
             (lambda p: torch.pdist(p[:5]).mean(), "spread of"),  # tuned to the fixed size only
             (lambda p: 1 / 0, "raised ZeroDivisionError")]
    for fn, phrase in cases:
        fb = nb09.check_sample_spread(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb)


# ---------------------------------------------------------------------------------------------- 09.free_bits
def fb_reference(mu, logvar, lam):
    kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1)  # (B, D)
    return torch.maximum(kl.mean(0), torch.tensor(lam, dtype=kl.dtype)).sum().expand(len(mu))  # every example alike


def test_free_bits_solutions_pass_and_mistakes_get_hints():
    assert nb09.check_free_bits(lambda mu, lv, lam: None).status == NOT_ATTEMPTED
    assert nb09.check_free_bits(fb_reference).status == PASSED
    assert nb09.check_free_bits(free_bits_kl).status == PASSED

    def kl(mu, lv):
        return 0.5 * (mu**2 + lv.exp() - lv - 1)

    def leaky(mu, lv, lam):  # right value, but the gradient flows below lambda
        k = kl(mu, lv).mean(0)
        return (k + (lam - k).clamp(min=0).detach()).sum().expand(len(mu))

    cases = [(lambda mu, lv, lam: kl(mu, lv).clamp(min=lam).sum(-1), "clamped each example's KL"),
             (lambda mu, lv, lam: kl(mu, lv).sum(-1).clamp(min=lam * mu.shape[1]), "D·λ"),
             (lambda mu, lv, lam: kl(mu, lv).sum(-1), "plain KL"),
             (lambda mu, lv, lam: kl(mu, 2 * lv).mean(0).clamp(min=lam).sum().expand(len(mu)), "log σ"),
             (lambda mu, lv, lam: kl(mu, lv).mean(0).clamp(min=lam).mean().expand(len(mu)), "averaged over the dim"),
             (lambda mu, lv, lam: kl(mu, lv).mean(0).clamp(min=lam).sum(), "returned one number"),
             (lambda mu, lv, lam: fb_reference(mu, lv, lam).detach(), "no gradient"),
             (leaky, "still get a gradient"),
             (lambda mu, lv, lam: torch.full((len(mu),), float("nan")), "NaN"),
             (lambda mu, lv, lam: fb_reference(mu, lv, lam) * (1 if len(mu) == 8 else 1.5), "not right")]
    for fn, phrase in cases:
        fb = nb09.check_free_bits(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb)


# ---------------------------------------------------------------------------------------------- 09.shuffle
def test_shuffle_solutions_pass_and_mistakes_get_hints():
    assert nb09.check_shuffle_index(lambda n, g: None).status == NOT_ATTEMPTED

    def cycle(n, g):
        order = torch.randperm(n, generator=g)
        idx = torch.empty_like(order)
        idx[order] = order.roll(-1)
        return idx

    def rejection(n, g):  # another correct way: redraw until no fixed point
        for _ in itertools.count():
            idx = torch.randperm(n, generator=g)
            if not (idx == torch.arange(n)).any():
                return idx

    assert nb09.check_shuffle_index(cycle).status == PASSED
    assert nb09.check_shuffle_index(rejection).status == PASSED
    cases = [(lambda n, g: torch.arange(n).roll(1), "fixed roll"),
             (lambda n, g: torch.randperm(n, generator=g), "kept its own code"),
             (lambda n, g: cycle(n, None), "same generator seed"),
             (lambda n, g: torch.arange(n), "kept its own code"),
             (lambda n, g: torch.zeros(n, dtype=torch.long), "not a permutation"),
             (lambda n, g: cycle(n, g).float(), "integer tensor"),
             (lambda n, g: cycle(n, g).tolist(), "torch tensor")]
    for fn, phrase in cases:
        fb = nb09.check_shuffle_index(fn)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb)


# ---------------------------------------------------------------------------------------------- the notebook
@pytest.mark.skipif(not NOTEBOOK.exists(), reason="notebook 09 not written yet")
def test_notebook_solutions_pass_and_stubs_do_not():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    ns_stub, ns_sol = {"torch": torch}, {"torch": torch}
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "exercise" in tags:
            exec(cell.source, ns_stub)
        if "solution" in tags:
            exec(solution_code(cell), ns_sol)
    checks = {"09.spread": ("check_sample_spread", "sample_spread_of"),
              "09.free_bits": ("check_free_bits", "free_bits_term"),
              "09.shuffle": ("check_shuffle_index", "shuffle_index")}
    for ex, (check, name) in checks.items():
        assert getattr(nb09, check)(ns_stub[name]).status == NOT_ATTEMPTED, ex
        assert getattr(nb09, check)(ns_sol[name]).status == PASSED, ex
