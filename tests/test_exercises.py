"""Graded exercises: the core (feedback, never raising, CI expectations, reports), notebook 01's checks
against independent references (quadrature, torch.distributions, scipy), the layout of every notebook's
exercises, the editions builder and the grader on a tiny fake submission."""
from __future__ import annotations

import importlib
import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from scipy.special import logsumexp
from torch.distributions import Normal, kl_divergence

from vaelib.exercises import core, nb01
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, TAMPERED, WRONG, Feedback, exercise, passed
from vaelib.exercises.editions import (
    EditionError,
    check_cell,
    check_edition,
    instructor_edition,
    solution_cell,
    solution_code,
    stub_cell,
    validate,
)
from vaelib.toy import exact_elbo, linear_gaussian_1d

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
A, B, S, X = 1.5, 0.5, 0.8, -1.0  # notebook 01's model and its new observation x'


def quadrature_posterior(x: float, a: float, b: float, s: float) -> tuple[float, float]:
    """Mean and std of p(z|x) ∝ N(z; 0, 1) N(x; a z + b, s²) by brute-force quadrature (the trusted reference)."""
    z = torch.linspace(-12, 12, 400_001, dtype=torch.float64)
    w = (Normal(0.0, 1.0).log_prob(z) + Normal(a * z + b, s).log_prob(torch.tensor(x, dtype=torch.float64))).exp()
    w = w / torch.trapezoid(w, z)
    mean = torch.trapezoid(w * z, z).item()
    return mean, math.sqrt(torch.trapezoid(w * (z - mean) ** 2, z).item())


# ---------------------------------------------------------------------------------------------- core
def test_feedback_displays_as_text_and_html():
    fb = Feedback("01.x", WRONG, "Use `torch.logsumexp` & subtract log k.", "a title")
    assert repr(fb).startswith("\u2718 Exercise 01.x (a title): wrong.") and "`torch.logsumexp`" in repr(fb)
    html = fb._repr_html_()
    assert "<code>torch.logsumexp</code>" in html and "&amp;" in html and "wrong" in html
    for status in (PASSED, WRONG, NOT_ATTEMPTED):
        assert status in repr(Feedback("01.x", status, "m"))


def _demo_check():
    @exercise("99.demo", "a demo")
    def check_demo(fn) -> Feedback:
        value = core.call(fn, 2.0, name="fn")
        return core.match(core.as_float(value, "fn(2)"), 4.0, [core.Mistake(2.0, "You returned x, not x².")],
                          what="square")
    return check_demo


def test_check_reports_learner_errors_in_one_sentence_and_never_raises():
    check = _demo_check()
    fb = check(lambda x: 1 / 0)
    assert fb.status == WRONG and fb.exercise == "99.demo"
    assert fb.message == "Your `fn` raised ZeroDivisionError: division by zero. Fix it and run its cell again."
    assert check(lambda x: None).status == NOT_ATTEMPTED
    assert check(None).status == NOT_ATTEMPTED
    assert check(lambda x: "four").status == WRONG and "should be a number" in check(lambda x: "four").message
    assert check(lambda x: x).message == "You returned x, not x²."
    assert check(lambda x: x * x).status == PASSED


def test_a_pair_of_results_is_unpacked_or_named_as_the_mistake():
    assert core.as_estimate((1.5, torch.tensor(0.25)), "mc") == (1.5, 0.25)
    assert core.as_pair([torch.ones(2), 3], "f", "(a, b)")[1] == 3
    with pytest.raises(core.Wrong, match=r"`mc` should return two results, \(estimate, standard error\), not a float"):
        core.as_estimate(1.5, "mc")
    with pytest.raises(core.Wrong, match="two results"):
        core.as_pair((1, 2, 3), "f", "(a, b)")
    with pytest.raises(core.NotAttempted):
        core.as_pair((None, None), "f", "(a, b)")
    with pytest.raises(core.Wrong, match=r"mc\(\.\.\.\)\[1\], the standard error"):
        core.as_estimate((1.0, torch.ones(3)), "mc")


def test_expectation_env_var_turns_the_wrong_outcome_into_an_assertion(monkeypatch):
    check = _demo_check()
    monkeypatch.setenv(core.EXPECT_ENV, "stub")
    assert check(lambda x: None).status == NOT_ATTEMPTED  # a stub is fine
    assert check(lambda x: x).status == WRONG  # so is a wrong answer
    with pytest.raises(AssertionError, match="the stub passes"):
        check(lambda x: x * x)
    monkeypatch.setenv(core.EXPECT_ENV, "solution")
    assert check(lambda x: x * x).passed
    with pytest.raises(AssertionError, match="=solution"):
        check(lambda x: x)
    monkeypatch.setenv(core.EXPECT_ENV, "maybe")
    with pytest.raises(ValueError, match="use 'stub', 'solution'"):
        check(lambda x: x)


def test_an_error_inside_the_check_is_feedback_for_a_learner_and_a_failure_in_ci(monkeypatch):
    @exercise("99.broken")
    def check_broken(value) -> Feedback:
        return passed(str(1 / value))

    assert check_broken(0).status == WRONG and "could not use your answer" in check_broken(0).message
    monkeypatch.setenv(core.EXPECT_ENV, "stub")
    with pytest.raises(AssertionError, match="the check itself failed"):
        check_broken(0)


def test_learner_code_gets_copies_and_is_judged_on_its_result():
    seen = {}

    @exercise("99.copies")
    def check_copies(fn) -> Feedback:
        x = torch.arange(3.0, dtype=torch.float64)
        out = core.call(fn, x, [x], name="fn")
        seen["x"] = x
        return core.match(core.as_tensor(out, "fn(x)", shape=(3,)), 2 * torch.arange(3.0), what="double")

    def vandal(x, xs):  # zeroes its inputs, then returns what the zeroed inputs would give
        x.zero_()
        xs[0].zero_()
        return 2 * x
    assert check_copies(vandal).status == WRONG and seen["x"].tolist() == [0.0, 1.0, 2.0]

    def in_place_after_use(x, xs):  # a right answer that changes its input after using it
        y = 2 * x
        x.mul_(0)
        return y
    assert check_copies(in_place_after_use).status == PASSED


@pytest.mark.parametrize("raise_it,phrase", [(SystemExit, "called exit"), (KeyboardInterrupt, "interrupted")])
def test_system_exit_and_keyboard_interrupt_from_learner_code_are_reported(raise_it, phrase):
    def fn(x):
        raise raise_it()
    fb = _demo_check()(fn)
    assert fb.status == WRONG and phrase in fb.message


def test_time_limit_comes_from_argument_then_environment(monkeypatch):
    monkeypatch.setenv(core.TIME_LIMIT_ENV, "7")
    assert core.time_limit() == 7.0 and core.time_limit(2) == 2.0
    monkeypatch.delenv(core.TIME_LIMIT_ENV)
    assert core.time_limit() == core.DEFAULT_TIME_LIMIT
    monkeypatch.setenv(core.TIME_LIMIT_ENV, "soon")
    with pytest.raises(ValueError, match="number of seconds"):
        core.time_limit()
    with pytest.raises(core.LearnerError, match="stopped after 0.2 s"):
        core.call(lambda: [None for _ in iter(int, 1)], name="spin", limit=0.2)


def test_nan_and_inf_are_never_right():
    nan, inf = float("nan"), float("inf")
    assert not core.close(nan, nan) and not core.close(inf, inf) and core.close(1.0, 1.0)
    assert core.close(inf, inf, same_inf=True) and not core.close(nan, nan, same_inf=True)
    fb = core.match(nan, 1.0, [core.Mistake(nan, "a NaN slip")], what="estimate")
    assert fb.status == WRONG and "NaN" in fb.message
    assert core.match(torch.tensor([1.0, inf]), torch.tensor([1.0, inf]), what="v").status == WRONG


def test_numpy_float32_lists_and_tuples_are_accepted_the_same_way():
    import numpy as np
    ref = torch.tensor([0.1, -512.3456789, 3.0], dtype=torch.float64)
    for answer in (ref.float(), ref.numpy(), ref.numpy().astype(np.float32), ref.tolist(), tuple(ref.tolist()),
                   [torch.tensor(v) for v in ref.tolist()]):
        t = core.as_tensor(answer, "v", shape=(3,))
        assert core.match(t, ref, what="v").status == PASSED, type(answer)
    assert core.as_float(np.float32(0.25), "x") == 0.25 and core.as_float(torch.tensor([2.0]), "x") == 2.0
    assert core.match(core.as_float(np.float32(-512.3456789), "x"), -512.3456789, what="x").passed
    assert not core.match(-512.3456789 * 1.001, -512.3456789, what="x").passed  # float64: the tight tolerance
    assert not core.match(core.as_float(np.float32(-512.3456789 * 1.001), "x"), -512.3456789, what="x").passed
    with pytest.raises(core.Wrong, match="should be a tensor"):
        core.as_tensor("abc", "v")


def test_close_but_not_exact_band_is_narrow_near_minus_500():
    assert "close but not exact" in core.match(-500.05, -500.0, what="log p").message
    assert "close but not exact" not in core.match(-501.0, -500.0, what="log p").message  # 1 nat is a slip
    assert "close but not exact" in core.match(0.301, 0.3, what="p").message
    assert "close but not exact" not in core.match(0.33, 0.3, what="p").message


def test_a_replaced_helper_makes_the_check_tampered_and_is_put_back(monkeypatch):
    check = _demo_check()
    original = core.close
    core.close = lambda *a, **k: True  # the learner reassigns core's comparison
    try:
        fb = check(lambda x: 0.0)
    finally:
        assert core.close is original  # the check put it back
    assert fb.status == TAMPERED and "close" in fb.message and not fb.passed
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    assert check(lambda x: x * x).status == TAMPERED
    assert check(lambda x: x * x).status == PASSED  # restored: judged normally again

    def sneaky(x):  # replaces a torch function while the check runs it
        torch.isfinite = lambda t: torch.ones_like(t, dtype=torch.bool)
        return x * x
    assert check(sneaky).status == TAMPERED and core.tampered() == []


LAZY_DYNAMO = """
import functools, sys, torch
from vaelib.exercises import core
assert "torch._dynamo" not in sys.modules, "torch._dynamo was imported before the test could import it lazily"

@core.exercise("99.demo", "a demo")
def check(fn):
    return core.match(core.as_float(core.call(fn, 2.0, name="fn"), "fn(2)"), 4.0, what="square")

def answer(x):  # an honest answer that trains something: torch's first optimizer imports torch._dynamo,
    torch.optim.Adam(torch.nn.Linear(2, 1).parameters())  # which wraps torch.manual_seed
    return x * x

print(check(answer).status, "torch._dynamo" in sys.modules, check(lambda x: x * x).status)
seed = torch.manual_seed
torch.manual_seed = functools.wraps(seed)(lambda s: seed(0))  # a learner's wrapper that pins the seed
print(check(lambda x: x * x).status, torch.manual_seed is seed)
"""


def test_torchs_own_wrapper_of_manual_seed_is_not_tampering_but_a_learners_wrapper_is():
    """torch imports torch._dynamo lazily (the first optimizer) and so replaces torch.manual_seed after the guard's
    snapshot: an honest answer that trains must pass. Run in a fresh interpreter, where _dynamo is not yet imported."""
    run = subprocess.run([sys.executable, "-c", LAZY_DYNAMO], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == [PASSED, "True", PASSED, TAMPERED, "True"]


def test_a_stub_that_is_tampered_fails_ci(monkeypatch):
    check = _demo_check()
    monkeypatch.setenv(core.EXPECT_ENV, "stub")
    monkeypatch.setattr(core, "match", lambda *a, **k: passed("yes"))
    with pytest.raises(AssertionError, match="the stub passes"):
        check(lambda x: None)


def test_exercise_ids_are_checked():
    with pytest.raises(ValueError, match="must look like"):
        exercise("nb01-posterior")


# ------------------------------------------------------------------------------ notebook 01's checks
def test_posterior_reference_is_the_quadrature_posterior():
    mean, std = quadrature_posterior(X, A, B, S)
    assert nb01.check_posterior(mean, std, x=X, a=A, b=B, s=S).status == PASSED
    assert nb01.check_posterior(torch.tensor([[mean]]), std, x=torch.tensor([[X]]), a=A, b=B, s=S).passed
    assert nb01.check_posterior(None, None, x=X, a=A, b=B, s=S).status == NOT_ATTEMPTED
    assert nb01.check_posterior(mean, None, x=X, a=A, b=B, s=S).status == NOT_ATTEMPTED


MEAN, STD = quadrature_posterior(X, A, B, S)
VAR = STD**2


@pytest.mark.parametrize("mean,std,phrase", [
    (-MEAN, STD, "wrong sign"),
    (A * X / (A**2 + S**2), STD, "offset b is missing"),
    (A * (X - B) / S**2, STD, "divide it by the precision"),
    ((X - B) / A, STD, "maximum likelihood"),
    (A * (X - B) / (A**2 + S), STD, "You used s where s² belongs"),
    (MEAN, VAR, "posterior variance"),
    (MEAN, math.log(VAR), "That is log σ²_post"),
    (MEAN, 0.5 * math.log(VAR), "That is log σ_post"),
    (MEAN, S / (A**2 + S**2), "its square root is s/√(a² + s²)"),
    (MEAN, math.sqrt(A**2 + S**2), "standard deviation of p(x)"),
    (MEAN, 1.0, "prior's standard deviation"),
    (MEAN + 0.3, STD, "none of the usual slips"),
    (round(MEAN, 2), STD, "close but not exact"),
])
def test_posterior_mistakes_get_their_hints(mean, std, phrase):
    fb = nb01.check_posterior(mean, std, x=X, a=A, b=B, s=S)
    assert fb.status == WRONG and phrase in fb.message


def elbo_reference(model, x, mu, logvar, eps):
    """Monte Carlo log-likelihood with torch.distributions, minus torch's closed-form KL: (B,)."""
    z = mu + (0.5 * logvar).exp() * eps  # (n, B, D)
    log_lik = Normal(z @ model.W.T + model.b, model.s).log_prob(x).sum(-1)  # (n, B)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    return log_lik.mean(0) - kl


def elbo_variant(**slip):
    def elbo_estimate(model, x, mu, logvar, eps):
        sigma = logvar.exp() if slip.get("z_log_sigma") else (0.5 * logvar).exp()
        z = mu + sigma * eps
        log_lik = Normal(z @ model.W.T + model.b, model.s).log_prob(x).sum(-1)
        lv = 2 * logvar if slip.get("kl_log_sigma") else logvar
        kl_d = (0.5 if not slip.get("no_half") else 1.0) * (mu**2 + lv.exp() - lv - (0 if slip.get("no_one") else 1))
        kl = kl_d.mean(-1) if slip.get("kl_mean") else kl_d.sum(-1)
        recon = log_lik.sum(0) if slip.get("sum_samples") else log_lik.mean(0)
        if slip.get("batch_mean"):
            return (recon - kl).mean()
        return recon + slip.get("kl_sign", -1) * kl
    return elbo_estimate


def test_elbo_estimate_reference_is_torch_distributions():
    assert nb01.check_elbo_estimate(elbo_reference).status == PASSED
    assert nb01.check_elbo_estimate(elbo_variant()).status == PASSED
    assert nb01.check_elbo_estimate(lambda model, x, mu, logvar, eps: None).status == NOT_ATTEMPTED


@pytest.mark.parametrize("slip,phrase", [
    ({"z_log_sigma": True}, "You sampled z = mu + exp(logvar) * eps"),
    ({"z_log_sigma": True, "kl_log_sigma": True}, "in z and in the KL"),
    ({"kl_log_sigma": True}, "Your KL reads logvar as log σ"),
    ({"kl_mean": True}, "hidden β = 1/D"),
    ({"no_half": True}, "factor ½"),
    ({"no_one": True}, "missing the −1"),
    ({"kl_sign": 0}, "The KL term is missing"),
    ({"kl_sign": +1}, "wrong sign"),
    ({"sum_samples": True}, "summed log p(x|z) over the n samples"),
    ({"batch_mean": True}, "returned one number"),
])
def test_elbo_estimate_mistakes_get_their_hints(slip, phrase):
    fb = nb01.check_elbo_estimate(elbo_variant(**slip))
    assert fb.status == WRONG and phrase in fb.message, fb


def test_elbo_estimate_learner_error_is_reported():
    fb = nb01.check_elbo_estimate(lambda model, x, mu, logvar, eps: model.encoder(x))
    assert fb.status == WRONG and "raised AttributeError" in fb.message


def iwae_reference(log_w):
    return torch.from_numpy(logsumexp(log_w.numpy(), axis=0) - math.log(log_w.shape[0]))


@pytest.mark.parametrize("fn,phrase", [
    (lambda lw: torch.logsumexp(lw, 0), "The −log k is missing"),
    (lambda lw: torch.logsumexp(lw, 0) + math.log(lw.shape[0]), "sign of log k"),
    (lambda lw: torch.logsumexp(lw, 0) / lw.shape[0], "Dividing by k happens inside the log"),
    (lambda lw: lw.mean(0), "average log-weight"),
    (lambda lw: torch.log(torch.exp(lw).mean(0)), "underflows"),
    (lambda lw: lw.max(0).values - math.log(lw.shape[0]), "largest log-weight"),
    (lambda lw: torch.logsumexp(lw, 1) - math.log(lw.shape[1]), "one value per sample"),
    (lambda lw: torch.logsumexp(lw, 0).tolist()[:-1], "has shape"),
    (lambda lw: torch.logsumexp(lw, 0).numpy(), "The −log k is missing"),  # a NumPy answer is judged, not refused
    (lambda lw: lw.logsumexp(dim=3), "raised IndexError"),
])
def test_iwae_mistakes_get_their_hints(fn, phrase):
    fb = nb01.check_iwae_bound(fn)
    assert fb.status == WRONG and phrase in fb.message, fb


def test_iwae_reference_is_scipy_logsumexp():
    assert nb01.check_iwae_bound(iwae_reference).status == PASSED

    def stub(log_w):
        """The notebook's stub."""
    assert nb01.check_iwae_bound(stub).status == NOT_ATTEMPTED


def ascend(steps: int, lr_mu: float = 0.2, lr_logvar: float = 1.0, sign: float = 1.0):
    model = linear_gaussian_1d(A, B, S)
    x = torch.tensor([[X]], dtype=torch.float64)
    mu = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    logvar = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        g_mu, g_lv = torch.autograd.grad(exact_elbo(model, x, mu, logvar).sum(), (mu, logvar))
        with torch.no_grad():
            mu += sign * lr_mu * g_mu
            logvar += sign * lr_logvar * g_lv
    return mu, logvar


def test_gradient_ascent_check():
    kw = dict(x=X, a=A, b=B, s=S)
    mu, logvar = ascend(100)
    assert abs(mu.item() - MEAN) < 1e-6 and abs(logvar.item() - math.log(VAR)) < 1e-6  # the reference converges
    assert nb01.check_gradient_ascent(mu, logvar, **kw).status == PASSED
    assert nb01.check_gradient_ascent(torch.zeros(1, 1, requires_grad=True), torch.zeros(1, 1), **kw).status \
        == NOT_ATTEMPTED
    cases = [((MEAN, 0.5 * math.log(VAR)), "log σ, half of log σ²"), ((MEAN, 0.0), "never moved"),
             (ascend(3, sign=-1.0), "ELBO went down"), (ascend(2), "On the way"), ((float("nan"), 0.1), "NaN")]
    for (m, lv), phrase in cases:
        fb = nb01.check_gradient_ascent(m, lv, **kw)
        assert fb.status == WRONG and phrase in fb.message, (phrase, fb)


# ------------------------------------------------------------------ the notebooks' exercise layout
def _nb(name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "notebooks" / name, as_version=4)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_exercise_has_a_registered_check_and_a_valid_layout(path):
    nb = nbformat.read(path, as_version=4)
    ids = validate(nb)
    if not ids:
        pytest.skip(f"{path.name} has no tagged exercises yet")
    assert len(ids) >= 3, f"{path.name} has {len(ids)} graded exercises; the series asks for at least 3"
    number = path.name[:2]
    assert all(ex.startswith(f"{number}.") for ex in ids), ids
    importlib.import_module(f"vaelib.exercises.nb{number}")
    registered = {ex for ex in core.REGISTRY if ex.startswith(f"{number}.")}
    assert set(ids) == registered, f"notebook only: {set(ids) - registered}; checks only: {registered - set(ids)}"
    for cell in nb.cells:  # the check cells call this notebook's checks
        if "check" in cell.metadata.get("tags", []):
            assert re.search(rf"\bnb{number}\.check_\w+\(", cell.source), cell.source


def _exec_cells(nb, role, namespace):
    """Execute the notebook-01 exercise cells of one role (stub or solution code) in a namespace, then the checks."""
    out = {}
    for cell in nb.cells:
        if role in cell.metadata.get("tags", []):
            exec(solution_code(cell) if role == "solution" else cell.source, namespace)
    for cell in nb.cells:
        if "check" in cell.metadata.get("tags", []):
            out[cell.metadata["exercise"]] = eval(cell.source, namespace)
    return out


def _nb01_namespace():
    model = linear_gaussian_1d(A, B, S)
    return {"torch": torch, "math": math, "nb01": nb01, "exact_elbo": exact_elbo, "model": model,
            "a": A, "b": B, "s": S, "x_new": torch.tensor([[X]], dtype=torch.float64)}


def test_notebook_01_stubs_are_not_attempted_and_its_solutions_pass():
    nb = _nb("01_elbo.ipynb")
    stubs = _exec_cells(nb, "exercise", _nb01_namespace())
    assert len(stubs) >= 3 and all(fb.status == NOT_ATTEMPTED for fb in stubs.values()), stubs
    solved = _exec_cells(nb, "solution", _nb01_namespace())
    assert set(solved) == set(stubs) and all(fb.passed for fb in solved.values()), solved


# ------------------------------------------------------------------------------------- editions
def _tiny_notebook(solution: str = "answer = 4.0") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Tiny\n\n## Setup", id="title"),
        nbformat.v4.new_code_cell("from vaelib.exercises import nb01", id="setup"),
        stub_cell("01.posterior", "my_post_mean, my_post_std = None, None  # YOUR CODE HERE", "stub1"),
        check_cell("01.posterior", f"nb01.check_posterior(my_post_mean, my_post_std, x={X}, a={A}, b={B}, s={S})",
                   "check1"),
        nbformat.v4.new_markdown_cell("## Solutions", id="solutions"),
        solution_cell("01.posterior", "Solution 1", solution, "Section 4.", "sol1"),
    ]
    return nb


SOLVED = f"my_post_mean, my_post_std = {MEAN!r}, {STD!r}"


def test_instructor_edition_puts_each_solution_in_its_stub_cell_and_keeps_ids():
    nb = _tiny_notebook(SOLVED)
    inst = instructor_edition(nb)
    assert [c.id for c in inst.cells] == [c.id for c in nb.cells]
    assert inst.cells[2].source == SOLVED and inst.cells[2].metadata["exercise"] == "01.posterior"
    assert "<details open>" in inst.cells[5].source
    assert nb.cells[2].source.startswith("my_post_mean, my_post_std = None")  # the source is untouched
    nb01_inst = instructor_edition(_nb("01_elbo.ipynb"))
    stubs = [c for c in nb01_inst.cells if "exercise" in c.metadata.get("tags", [])]
    assert stubs and all("YOUR CODE HERE" not in c.source for c in stubs)


def test_check_edition_runs_stubs_then_solutions():
    ids = [c.id for c in check_edition(_tiny_notebook(SOLVED)).cells]
    assert ids == ["expect-stub", "title", "setup", "stub1", "check1", "solutions", "sol1", "ci-solutions",
                   "expect-solution", "stub1-solved", "check1-recheck0"]


@pytest.mark.parametrize("breakage,message", [
    (lambda nb: nb.cells.pop(5), "needs exactly one solution cell"),
    (lambda nb: nb.cells.pop(3), "has no check cell"),
    (lambda nb: nb.cells.append(nbformat.v4.new_code_cell("x = 1")), "below every code cell"),
    (lambda nb: setattr(nb.cells[5], "source", nb.cells[5].source + "\n```python\ny = 2\n```"), "exactly one"),
    (lambda nb: nb.cells[2].metadata.pop("exercise"), "no metadata 'exercise' id"),
    (lambda nb: nb.cells.insert(2, nb.cells.pop(3)), "comes before its stub"),
])
def test_layout_faults_are_named(breakage, message):
    nb = _tiny_notebook()
    breakage(nb)
    with pytest.raises(EditionError, match=message):
        validate(nb)


def test_editions_cli_writes_four_editions(tmp_path):
    editions = _load_tool("editions")
    src = tmp_path / "01_tiny.ipynb"
    nbformat.write(_tiny_notebook(SOLVED), src)
    editions.main([str(src), "--out", str(tmp_path / "out")])
    for name in ("learner", "student", "instructor", "check"):
        assert (tmp_path / "out" / name / "01_tiny.ipynb").is_file()
    learner = nbformat.read(tmp_path / "out" / "learner" / "01_tiny.ipynb", as_version=4)
    assert learner.cells == _tiny_notebook(SOLVED).cells


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tools_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# -------------------------------------------------------------- a kernel: CI's check edition, the grader
@pytest.mark.slow
def test_check_edition_fails_when_a_solution_does_not_pass(tmp_path):
    nb = check_edition(_tiny_notebook("my_post_mean, my_post_std = 0.0, 1.0  # wrong on purpose"))
    with pytest.raises(CellExecutionError, match="=solution"):
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    ran = [c.id for c in nb.cells if c.get("execution_count")]
    assert ran[-1] == "check1-recheck0" and "check1" in ran  # the stub run passed, the solution's check failed
