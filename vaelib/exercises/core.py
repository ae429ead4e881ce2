"""The graded-exercise machinery: a ``Feedback`` object, the ``@exercise`` decorator and answer helpers.

A check tests the learner's own function or variables and *returns* a ``Feedback`` (status "not
attempted", "wrong" or "passed", and one message); it never raises because of the learner's code.
A check body signals its verdict by returning ``passed(...)`` / ``wrong(...)`` / ``not_attempted(...)``
or by raising ``Wrong`` / ``NotAttempted``; ``call`` runs the learner's function and turns its
exceptions into a one-sentence report. ``match`` compares an answer with the reference and with the
results of the usual mistaken formulas, and names the mistake it finds.

Environment (read when a check runs, never at import):
``VAELIB_EXERCISES_EXPECT``  "stub": a check that passes raises AssertionError (CI, learner edition);
                             "solution": a check that does not pass raises AssertionError (CI,
                             instructor edition). Unset (a learner): feedback only. In both CI modes
                             an error inside the check itself is raised, so a broken check fails CI.
``VAELIB_EXERCISES_REPORT``  a file: every check appends one JSON line (tools/grade.py reads it).

How to write a check: the README section "Exercises" (For authors), worked example ``vaelib/exercises/nb01.py``.
"""
from __future__ import annotations

import functools
import html
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

NOT_ATTEMPTED, WRONG, PASSED = "not attempted", "wrong", "passed"
STATUSES = (NOT_ATTEMPTED, WRONG, PASSED)
EXPECT_ENV, REPORT_ENV = "VAELIB_EXERCISES_EXPECT", "VAELIB_EXERCISES_REPORT"
_STYLE = {  # status -> (symbol, colour): colour-blind-safe pair (blue/orange) plus grey
    PASSED: ("\u2714", "#0072B2"),
    WRONG: ("\u2718", "#D55E00"),
    NOT_ATTEMPTED: ("\u25CB", "#777777"),
}


@dataclass(frozen=True)
class Feedback:
    """A check's verdict on one exercise: ``status`` (one of STATUSES) and a one-paragraph ``message``."""

    exercise: str
    status: str
    message: str
    title: str = ""

    @property
    def passed(self) -> bool:
        """True when the answer passed."""
        return self.status == PASSED

    def __repr__(self) -> str:
        symbol = _STYLE[self.status][0]
        head = f"Exercise {self.exercise}" + (f" ({self.title})" if self.title else "")
        return f"{symbol} {head}: {self.status}. {self.message}"

    def _repr_html_(self) -> str:
        symbol, colour = _STYLE[self.status]
        title = f" · {html.escape(self.title)}" if self.title else ""
        body = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(self.message))
        return (f'<div style="border-left: 4px solid {colour}; padding: 0.3em 0.8em; margin: 0.2em 0;">'
                f'<span style="color: {colour}; font-weight: bold;">{symbol} Exercise {html.escape(self.exercise)}'
                f"{title}: {self.status}.</span> {body}</div>")


class NotAttempted(Exception):
    """Raised inside a check body: the answer is still the stub (the message says what to fill in)."""


class Wrong(Exception):
    """Raised inside a check body: the answer is wrong; the message is the hint shown to the learner."""


class LearnerError(Wrong):
    """The learner's own code raised; the message reports it in one sentence."""


def not_attempted(message: str) -> Feedback:
    """A 'not attempted' verdict (the decorator fills in the exercise id)."""
    return Feedback("", NOT_ATTEMPTED, message)


def wrong(message: str) -> Feedback:
    """A 'wrong' verdict with a hint."""
    return Feedback("", WRONG, message)


def passed(message: str) -> Feedback:
    """A 'passed' verdict, with a sentence on what the answer shows."""
    return Feedback("", PASSED, message)


REGISTRY: dict[str, Callable[..., Feedback]] = {}  # exercise id -> check, filled when a nbNN module is imported


def exercise(exercise_id: str, title: str = "") -> Callable[[Callable[..., Feedback]], Callable[..., Feedback]]:
    """Decorate a check: catch the learner's errors, fill in the id, record it, and enforce CI's expectation."""
    if not re.fullmatch(r"\d\d\.[a-z0-9_]+", exercise_id):
        raise ValueError(f"Exercise id {exercise_id!r} must look like '01.posterior' (notebook number, dot, slug).")

    def decorate(check: Callable[..., Feedback]) -> Callable[..., Feedback]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Feedback:
            expect = _expectation()
            try:
                verdict = check(*args, **kwargs)
                if not isinstance(verdict, Feedback):
                    raise TypeError(f"check {check.__name__} returned {type(verdict).__name__}, not a Feedback")
            except NotAttempted as err:
                verdict = not_attempted(str(err))
            except Wrong as err:
                verdict = wrong(str(err))
            except Exception as err:  # a bug in the check (or an answer it did not foresee)
                if expect:
                    raise AssertionError(f"Exercise {exercise_id}: the check itself failed: {err!r}") from err
                verdict = wrong(f"The check could not use your answer ({_one_line(err)}); look at its type and shape.")
            verdict = replace(verdict, exercise=exercise_id, title=title)
            _report(verdict)
            _enforce(verdict, expect)
            return verdict

        run.exercise_id = exercise_id  # type: ignore[attr-defined]
        if exercise_id in REGISTRY and REGISTRY[exercise_id].__qualname__ != run.__qualname__:
            raise ValueError(f"Exercise id {exercise_id!r} is used by two checks; give each exercise its own id.")
        REGISTRY[exercise_id] = run
        return run

    return decorate


def _expectation() -> str:
    """The CI expectation from ``VAELIB_EXERCISES_EXPECT``: "", "stub" or "solution"."""
    value = os.environ.get(EXPECT_ENV, "").strip().lower()
    if value not in ("", "stub", "solution"):
        raise ValueError(f"{EXPECT_ENV}={value!r}: use 'stub', 'solution', or leave it unset.")
    return value


def _enforce(verdict: Feedback, expect: str) -> None:
    if expect == "solution" and verdict.status != PASSED:
        raise AssertionError(f"{EXPECT_ENV}=solution, but {verdict!r}")
    if expect == "stub" and verdict.status == PASSED:
        raise AssertionError(f"{EXPECT_ENV}=stub, but the stub passes: {verdict!r}")


def _report(verdict: Feedback) -> None:
    path = os.environ.get(REPORT_ENV, "").strip()
    if not path:
        return
    line = json.dumps({"exercise": verdict.exercise, "status": verdict.status, "message": verdict.message})
    try:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as err:  # grading bookkeeping must never break the learner's notebook
        warnings.warn(f"could not append to the exercise report {path}: {err}", stacklevel=3)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


# ---------------------------------------------------------------------------------------- helpers
def call(fn: Any, *args: Any, name: str | None = None) -> Any:
    """Run the learner's function; None or NotImplementedError means not attempted, an exception is reported."""
    name = name or getattr(fn, "__name__", "your function")
    if fn is None:
        raise NotAttempted(f"Define `{name}` first.")
    if not callable(fn):
        raise Wrong(f"`{name}` should be a function, but it is a {type(fn).__name__}.")
    try:
        out = fn(*args)
    except NotImplementedError:
        raise NotAttempted(f"`{name}` is still the stub: fill in its body.") from None
    except Exception as err:
        raise LearnerError(f"Your `{name}` raised {_one_line(err)}. Fix it and run its cell again.") from None
    if out is None:
        raise NotAttempted(f"`{name}` returns None: fill in its body and `return` the result.")
    return out


def as_float(value: Any, name: str) -> float:
    """The learner's number as a float (a Python number or a one-element tensor/array); None means not attempted."""
    if value is None:
        raise NotAttempted(f"Set `{name}`.")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise Wrong(f"`{name}` should be one number, but it is a tensor of shape {tuple(value.shape)}.")
        return float(value.detach().reshape(()).item())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Wrong(f"`{name}` should be a number, but it is a {type(value).__name__}.") from None


def as_pair(value: Any, name: str, what: str) -> tuple[Any, Any]:
    """The two results a learner's function returns, e.g. ``what="(estimate, standard error)"``; (None, None) means
    not attempted."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise Wrong(f"`{name}` should return two results, {what}, not a {type(value).__name__}.")
    if value[0] is None and value[1] is None:
        raise NotAttempted(f"`{name}` still returns (None, None): fill in its body.")
    return value[0], value[1]


def as_estimate(value: Any, name: str) -> tuple[float, float]:
    """A learner's Monte Carlo result, (estimate, standard error), as two floats."""
    est, se = as_pair(value, name, "(estimate, standard error)")
    return as_float(est, f"{name}(...)[0], the estimate"), as_float(se, f"{name}(...)[1], the standard error")


def as_tensor(value: Any, name: str, shape: Sequence[int] | None = None) -> torch.Tensor:
    """The learner's result as a float64 tensor of the expected ``shape`` (a wrong shape is a hint, not an error)."""
    if value is None:
        raise NotAttempted(f"`{name}` is None: compute it.")
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"`{name}` should be a torch tensor, but it is a {type(value).__name__}.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise Wrong(f"`{name}` has shape {tuple(value.shape)}, but it should have shape {tuple(shape)}: "
                    "check which dimension you reduced over.")
    return value.detach().to(torch.float64)


@dataclass(frozen=True)
class Mistake:
    """A usual mistake: what the mistaken formula gives on the check's inputs, and the hint that names it."""

    value: Any
    hint: str


def close(a: Any, b: Any, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """True when two numbers or tensors agree (infinities of the same sign count as equal)."""
    ta = torch.as_tensor(a, dtype=torch.float64)
    tb = torch.as_tensor(b, dtype=torch.float64)
    if ta.shape != tb.shape:
        return False
    return bool(torch.allclose(ta, tb, rtol=rtol, atol=atol, equal_nan=False))


def match(answer: Any, reference: Any, mistakes: Sequence[Mistake] = (), *, what: str,
          rtol: float = 1e-6, atol: float = 1e-8, success: str = "") -> Feedback:
    """Passed if ``answer`` matches ``reference``; else the first mistake it matches gives the hint."""
    if close(answer, reference, rtol, atol):
        return passed(success or f"Your {what} is right.")
    for m in mistakes:
        if close(answer, m.value, rtol, atol):
            return wrong(m.hint)
    t = torch.as_tensor(answer, dtype=torch.float64)
    if not torch.isfinite(t).all():
        return wrong(f"Your {what} contains inf or NaN: look for an exp that overflows or a log of 0.")
    if close(answer, reference, rtol=1e-2, atol=1e-4):
        return wrong(f"Your {what} is close but not exact: compute it in code (float64) instead of rounding, "
                     "or look for a small slip.")
    return wrong(f"Your {what} is not right, and it is none of the usual slips; go through the formula again.")


def fmt(value: float) -> str:
    """A number for a message, 4 significant digits."""
    return f"{value:.4g}" if math.isfinite(value) else str(value)
