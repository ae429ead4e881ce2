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
``VAELIB_EXERCISES_TIME_LIMIT``  seconds ``call`` lets the learner's code run (default 60; 0 = no limit).
``VAELIB_EXERCISES_REPORT``  no longer read: verdicts reach tools/grade.py only through ``_seal`` (docs/grading.md).

What a check can rely on: ``call`` hands the learner's code deep copies (it cannot change what it is judged
against), stops it after the time limit, and reports its exceptions, ``SystemExit`` and ``KeyboardInterrupt``
included, in one sentence. ``match``/``close`` never call NaN or inf right and accept float32 answers. A check
that finds a function it relies on replaced (of this module, its own module, torch, numpy, math) reports
"tampered", never "passed", and puts the originals back.

How to write a check: the README section "Exercises" (For authors), worked example ``vaelib/exercises/nb01.py``.
"""
from __future__ import annotations

import builtins
import copy
import functools
import hashlib
import hmac
import html
import json
import math
import os
import re
import signal
import sys
import threading
import time
import types
import weakref
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.distributions
import torch.nn.functional

NOT_ATTEMPTED, WRONG, PASSED, TAMPERED = "not attempted", "wrong", "passed", "tampered"
STATUSES = (NOT_ATTEMPTED, WRONG, PASSED, TAMPERED)
EXPECT_ENV, REPORT_ENV = "VAELIB_EXERCISES_EXPECT", "VAELIB_EXERCISES_REPORT"
TIME_LIMIT_ENV, DEFAULT_TIME_LIMIT = "VAELIB_EXERCISES_TIME_LIMIT", 60.0
VERDICT_MIME = "application/vnd.vaelib.verdict+json"  # the sealed verdict tools/grade.py reads
FLOAT32_RTOL, FLOAT32_ATOL = 1e-4, 1e-5  # what float32 arithmetic on the checks' small inputs stays within
_STYLE = {  # status -> (symbol, colour): colour-blind-safe pair (blue/orange) plus grey
    PASSED: ("\u2714", "#0072B2"),
    WRONG: ("\u2718", "#D55E00"),
    NOT_ATTEMPTED: ("\u25CB", "#777777"),
    TAMPERED: ("\u26A0", "#CC79A7"),
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
_VERDICTS: dict[str, Feedback] = {}  # exercise id -> the last verdict of its check (what ``_seal`` signs)


class _OutOfTime(BaseException):
    """Raised into the learner's code when its time is up (a BaseException, so ``except Exception`` lets it out)."""


# ------------------------------------------------------------------------------------- tamper guard
# What a check relies on, recorded when this module is imported (before any learner code in a graded run, whose
# setup cell imports vaelib.exercises): name -> (object, its code object). At check time anything rebound, or a
# function whose code was swapped, makes the verdict "tampered" and is put back (``_restore``).
_BUILTINS = ("abs", "all", "any", "bool", "callable", "dict", "enumerate", "float", "getattr", "hasattr", "int",
             "isinstance", "issubclass", "iter", "len", "list", "max", "min", "next", "range", "repr", "round",
             "sorted", "str", "sum", "tuple", "type", "zip")
_Guard = tuple[str, Any, dict[str, tuple[Any, Any]], bool]  # (label, owner, snapshot, new names count?)


def _snapshot(namespace: Mapping[str, Any], names: Sequence[str] | None = None) -> dict[str, tuple[Any, Any]]:
    """name -> (object, __code__ or None) for the callables and modules of a namespace."""
    keys = names if names is not None else list(namespace)
    return {k: (namespace[k], getattr(namespace[k], "__code__", None)) for k in keys
            if k in namespace and (callable(namespace[k]) or isinstance(namespace[k], types.ModuleType))}


def _guards_for(check_globals: Mapping[str, Any] | None = None) -> list[_Guard]:
    """The namespaces to compare: this module, torch (and Tensor's methods), numpy, math, some builtins."""
    guards = list(_GUARDS)
    if check_globals is not None and check_globals is not globals():
        guards.append((str(check_globals.get("__name__", "the check's module")), check_globals,
                       _CHECK_SNAPSHOTS.get(id(check_globals), {}), False))
    return guards


def _dynamo_wrapper(label: str, name: str, now: Any, obj: Any) -> bool:
    """Whether ``torch.<name>`` is the wrapper torch itself puts around ``torch.manual_seed`` when it first imports
    ``torch._dynamo`` (lazily: creating the first optimizer does): not the learner's doing, so not tampering."""
    code = getattr(now, "__code__", None)
    return (label == "torch" and name == "manual_seed" and "torch._dynamo" in sys.modules
            and getattr(now, "__wrapped__", None) is obj and code is not None
            and code.co_filename.replace("\\", "/").endswith("torch/_compile.py"))  # torch._disable_dynamo


def _changes(guards: list[_Guard]) -> list[str]:
    """The names whose object or code differs from the snapshot (or that were added to a guarded class)."""
    changed = []
    for label, owner, snap, strict in guards:
        ns = owner if isinstance(owner, dict) else vars(owner)
        for k, (obj, code) in list(snap.items()):
            now = ns.get(k, _MISSING)
            if now is not obj and _dynamo_wrapper(label, k, now, obj):
                snap[k] = (now, now.__code__)  # torch's own wrapper, from now on the object to keep
                continue
            if now is not obj or (code is not None and getattr(now, "__code__", None) is not code):
                changed.append(f"{label}.{k}")
        if strict:
            changed += [f"{label}.{k}" for k in ns if k not in snap and callable(ns[k])]
    return changed


def _restore(guards: list[_Guard]) -> None:
    """Put every guarded name back as it was recorded."""
    for _label, owner, snap, strict in guards:
        ns = owner if isinstance(owner, dict) else vars(owner)
        for k, (obj, code) in snap.items():
            if code is not None and getattr(obj, "__code__", code) is not code:
                obj.__code__ = code
            if ns.get(k, _MISSING) is not obj:
                if isinstance(owner, dict):
                    owner[k] = obj
                else:
                    setattr(owner, k, obj)
        if strict:
            for k in [k for k in ns if k not in snap and callable(ns[k])]:
                delattr(owner, k)


def tampered(check_globals: Mapping[str, Any] | None = None) -> list[str]:
    """The functions a check relies on that were replaced since vaelib.exercises was imported ([] if none)."""
    return _changes(_guards_for(check_globals))


_MISSING = object()
_CHECK_SNAPSHOTS: dict[int, dict[str, tuple[Any, Any]]] = {}  # id(check module globals) -> snapshot


def _tamper_verdict(changed: list[str], guards: list[_Guard]) -> Feedback:
    _restore(guards)
    shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
    return Feedback("", TAMPERED, f"Functions this check relies on were replaced ({shown}); they have been put back: "
                                  "run your answer and this check again without replacing them.")


def exercise(exercise_id: str, title: str = "") -> Callable[[Callable[..., Feedback]], Callable[..., Feedback]]:
    """Decorate a check: catch the learner's errors, fill in the id, record it, and enforce CI's expectation."""
    if not re.fullmatch(r"\d\d\.[a-z0-9_]+", exercise_id):
        raise ValueError(f"Exercise id {exercise_id!r} must look like '01.posterior' (notebook number, dot, slug).")

    def decorate(check: Callable[..., Feedback]) -> Callable[..., Feedback]:
        check_globals = getattr(check, "__globals__", None)
        if check_globals is not None:  # the module's names so far (its imports), merged over its checks
            snap = _CHECK_SNAPSHOTS.setdefault(id(check_globals), {})
            snap.update(_snapshot(check_globals))
        code = check.__code__

        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Feedback:
            expect = _expectation()
            guards = _guards_for(check_globals)
            changed = _changes(guards) + ([check.__qualname__] if check.__code__ is not code else [])
            if check.__code__ is not code:
                check.__code__ = code
            if changed:
                verdict = _tamper_verdict(changed, guards)
            else:
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
                    verdict = wrong(f"The check could not use your answer ({_one_line(err)}); "
                                    "look at its type and shape.")
                changed = _changes(guards)  # the learner's code may have replaced something while it ran
                if changed:
                    verdict = _tamper_verdict(changed, guards)
            verdict = replace(verdict, exercise=exercise_id, title=title)
            _VERDICTS[exercise_id] = verdict
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
    if expect == "stub" and verdict.status in (PASSED, TAMPERED):
        raise AssertionError(f"{EXPECT_ENV}=stub, but the stub passes: {verdict!r}")


# ------------------------------------------------------------------------- the grader's verdict channel
def _begin(exercise_id: str) -> None:
    """Forget the last verdict of an exercise (tools/grade.py runs this just before the committed check cell)."""
    _VERDICTS.pop(exercise_id, None)


class _Sealed:
    """A verdict signed for tools/grade.py: displayed as one MIME bundle the grader reads from its own cell."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {VERDICT_MIME: self.payload, "text/plain": f"sealed verdict: {self.payload['status']}"}


def verdict_mac(key: str, exercise_id: str, status: str, message: str) -> str:
    """HMAC-SHA256 of a verdict under the grader's one-time key (tools/grade.py recomputes it)."""
    body = json.dumps([exercise_id, status, message], ensure_ascii=True).encode()
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def _seal(exercise_id: str, key: str) -> _Sealed:
    """The verdict the committed check cell just produced, signed with the key the grader reveals only now."""
    verdict = _VERDICTS.pop(exercise_id, None)
    if verdict is None:
        payload = {"exercise": exercise_id, "status": "", "message": "its check did not return a verdict"}
    else:
        payload = {"exercise": exercise_id, "status": verdict.status, "message": verdict.message}
    changed = tampered()
    if changed and payload["status"] == PASSED:  # replaced after the check: still never "passed"
        payload.update(status=TAMPERED, message=_tamper_verdict(changed, list(_GUARDS)).message)
    payload["mac"] = verdict_mac(key, exercise_id, payload["status"], payload["message"])
    return _Sealed(payload)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


# ---------------------------------------------------------------------------------------- helpers
def time_limit(limit: float | None = None) -> float:
    """Seconds learner code may run: ``limit``, else ``VAELIB_EXERCISES_TIME_LIMIT``, else 60 (0 = no limit)."""
    if limit is not None:
        return float(limit)
    raw = os.environ.get(TIME_LIMIT_ENV, "").strip()
    try:
        return float(raw) if raw else DEFAULT_TIME_LIMIT
    except ValueError:
        raise ValueError(f"{TIME_LIMIT_ENV}={raw!r}: give a number of seconds (0 for no limit).") from None


def _run_limited(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], limit: float) -> Any:
    """``fn(*args, **kwargs)``, stopped by ``_OutOfTime`` after ``limit`` seconds: SIGALRM on the main thread (a
    Jupyter kernel runs cells there), else a trace function; the alarm repeats so a swallowed one comes back."""
    if not limit or limit <= 0 or not math.isfinite(limit):
        return fn(*args, **kwargs)
    state = {"on": True}
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        def on_alarm(signum: int, frame: Any) -> None:
            if state["on"]:
                raise _OutOfTime()

        old_handler = signal.signal(signal.SIGALRM, on_alarm)
        old_timer = signal.setitimer(signal.ITIMER_REAL, limit, 0.05)
        try:
            return fn(*args, **kwargs)
        finally:
            state["on"] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
            if old_timer[0] > 0:
                signal.setitimer(signal.ITIMER_REAL, *old_timer)
    deadline = time.monotonic() + limit

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if state["on"] and time.monotonic() > deadline:
            raise _OutOfTime()
        return tracer

    old_trace = sys.gettrace()
    sys.settrace(tracer)
    try:
        return fn(*args, **kwargs)
    finally:
        state["on"] = False
        sys.settrace(old_trace)


def _private_copy(value: Any) -> Any:
    """The learner's own copy of an argument: a tensor is cloned (a clone of a tensor that needs gradients stays on
    the check's graph, so the check can still differentiate through the learner's result), an array copied,
    lists/tuples/dicts copied deeply, other objects (a model) deep-copied; functions, classes and modules as they
    are."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if type(value) in (list, tuple):
        return type(value)(_private_copy(v) for v in value)
    if type(value) is dict:
        return {k: _private_copy(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, types.FunctionType,
                                           types.BuiltinFunctionType, types.ModuleType, type)):
        return value
    try:
        return copy.deepcopy(value)
    except Exception:  # an object that cannot be copied: handed over as it is
        return value


def call(fn: Any, *args: Any, name: str | None = None, kwargs: Mapping[str, Any] | None = None,
         limit: float | None = None, copy_args: bool = True) -> Any:
    """Run the learner's function on deep copies of ``args``/``kwargs`` (``copy_args=False`` hands over the check's
    own objects, e.g. to read their ``.grad``), stopped after ``limit`` seconds (``time_limit``). None or
    NotImplementedError means not attempted; any exception, SystemExit and KeyboardInterrupt included, is reported in
    one sentence (``LearnerError``, a ``Wrong``)."""
    name = name or getattr(fn, "__name__", "your function")
    if fn is None:
        raise NotAttempted(f"Define `{name}` first.")
    if not callable(fn):
        raise Wrong(f"`{name}` should be a function, but it is a {type(fn).__name__}.")
    if copy_args:
        args = tuple(_private_copy(a) for a in args)
        kwargs = {k: _private_copy(v) for k, v in (kwargs or {}).items()}
    seconds = time_limit(limit)
    try:
        out = _run_limited(fn, args, dict(kwargs or {}), seconds)
    except NotImplementedError:
        raise NotAttempted(f"`{name}` is still the stub: fill in its body.") from None
    except _OutOfTime:
        raise LearnerError(f"Your `{name}` was stopped after {seconds:g} s on the check's small inputs; look for a "
                           f"loop that never ends (or set {TIME_LIMIT_ENV} higher).") from None
    except SystemExit as err:
        raise LearnerError(f"Your `{name}` called exit ({_one_line(err)}); return a result instead.") from None
    except KeyboardInterrupt:
        raise LearnerError(f"Your `{name}` was interrupted (KeyboardInterrupt) before it returned.") from None
    except Exception as err:
        raise LearnerError(f"Your `{name}` raised {_one_line(err)}. Fix it and run its cell again.") from None
    if out is None:
        raise NotAttempted(f"`{name}` returns None: fill in its body and `return` the result.")
    return out


class _Float32(float):
    """A float that came from a float32 (or lower-precision) answer: ``match`` gives it float32's tolerance."""


_LOW_PRECISION: set[int] = set()  # ids of as_tensor's results from float32 answers (dropped when they are freed)
_LOW_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _is_low(value: Any) -> bool:
    if isinstance(value, _Float32):
        return True
    if isinstance(value, torch.Tensor):
        return id(value) in _LOW_PRECISION or value.dtype in _LOW_DTYPES
    if isinstance(value, (np.ndarray, np.generic)):
        return value.dtype in (np.float32, np.float16)
    return False


def _numeric(value: Any) -> torch.Tensor | None:
    """A tensor view of a number, tensor, numpy array or (nested) list/tuple of numbers; None if it is none of these."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.kind not in "biuf":
            return None
        return torch.from_numpy(np.asarray(value, dtype=np.float64))
    if isinstance(value, (bool, int, float)):
        return torch.tensor(float(value), dtype=torch.float64)
    if isinstance(value, (list, tuple)):
        parts = [_numeric(v) for v in value]
        if any(p is None for p in parts):
            return None
        try:
            return torch.stack([p.to(torch.float64) for p in parts]) if parts else torch.zeros(0, dtype=torch.float64)
        except RuntimeError:  # ragged
            return None
    return None


def as_float(value: Any, name: str) -> float:
    """The learner's number as a float: a Python number, or a one-element torch tensor or numpy array (float32 or
    float64); None means not attempted. A float32 answer keeps float32's tolerance in ``match``."""
    if value is None:
        raise NotAttempted(f"Set `{name}`.")
    t = _numeric(value)
    if t is None:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise Wrong(f"`{name}` should be a number, but it is a {type(value).__name__}.") from None
    if t.numel() != 1:
        raise Wrong(f"`{name}` should be one number, but it has shape {tuple(t.shape)}.")
    number = float(t.to(torch.float64).reshape(()).item())
    return _Float32(number) if _is_low(value) else number


def as_pair(value: Any, name: str, what: str) -> tuple[Any, Any]:
    """The two results a learner's function returns (a tuple or a list), e.g. ``what="(estimate, standard error)"``;
    (None, None) means not attempted."""
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
    """The learner's result as a float64 tensor of the expected ``shape``: a torch tensor, numpy array or list/tuple
    of numbers, float32 or float64 (a float32 answer keeps float32's tolerance in ``match``). A wrong shape is a
    hint, not an error."""
    if value is None:
        raise NotAttempted(f"`{name}` is None: compute it.")
    t = _numeric(value)
    if t is None:
        raise Wrong(f"`{name}` should be a tensor (torch or numpy) of numbers, but it is a {type(value).__name__}.")
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise Wrong(f"`{name}` has shape {tuple(t.shape)}, but it should have shape {tuple(shape)}: "
                    "check which dimension you reduced over.")
    out = t.to(torch.float64)
    if out is t:
        out = t.clone()
    if _is_low(value):
        _LOW_PRECISION.add(id(out))
        weakref.finalize(out, _LOW_PRECISION.discard, id(out))
    return out


@dataclass(frozen=True)
class Mistake:
    """A usual mistake: what the mistaken formula gives on the check's inputs, and the hint that names it."""

    value: Any
    hint: str


def close(a: Any, b: Any, rtol: float = 1e-6, atol: float = 1e-8, *, same_inf: bool = False) -> bool:
    """True when two numbers or tensors agree; NaN is never close, nor is inf unless ``same_inf`` (then infinities
    of the same sign in the same places agree: how ``match`` recognises a mistake that overflows). When ``a`` is a
    float32 answer (from ``as_float``/``as_tensor``, or a float32 tensor or array) the tolerance is at least
    float32's."""
    ta, tb = _numeric(a), _numeric(b)
    if ta is None or tb is None:
        return False
    ta, tb = ta.to(torch.float64), tb.to(torch.float64)
    if ta.shape != tb.shape or bool(torch.isnan(ta).any()) or bool(torch.isnan(tb).any()):
        return False
    fa, fb = torch.isfinite(ta), torch.isfinite(tb)
    if not (bool(fa.all()) and bool(fb.all())):
        if not same_inf or not bool((fa == fb).all()) or not bool((ta[~fa] == tb[~fb]).all()):
            return False
        ta, tb = ta[fa], tb[fb]
    if _is_low(a):
        rtol, atol = max(rtol, FLOAT32_RTOL), max(atol, FLOAT32_ATOL)
    return bool(((ta - tb).abs() <= atol + rtol * tb.abs()).all())


def nearly(a: Any, b: Any) -> bool:
    """The "close but not exact" band: within 0.5 % and at most 0.1 absolute (so 0.1 nat near −500), or 1e-4."""
    ta, tb = _numeric(a), _numeric(b)
    if ta is None or tb is None or ta.shape != tb.shape:
        return False
    ta, tb = ta.to(torch.float64), tb.to(torch.float64)
    if not bool(torch.isfinite(ta).all()):
        return False
    band = torch.clamp(5e-3 * tb.abs(), max=0.1).clamp(min=1e-4)
    return bool(((ta - tb).abs() <= band).all())


def match(answer: Any, reference: Any, mistakes: Sequence[Mistake] = (), *, what: str,
          rtol: float = 1e-6, atol: float = 1e-8, success: str = "") -> Feedback:
    """Passed if ``answer`` matches ``reference`` (never when it holds NaN or inf); else the first mistake it matches
    gives the hint."""
    t = _numeric(answer)
    if t is None:
        return wrong(f"Your {what} should be a number or a tensor, not a {type(answer).__name__}.")
    if close(answer, reference, rtol, atol):
        return passed(success or f"Your {what} is right.")
    for m in mistakes:
        if close(answer, m.value, rtol, atol, same_inf=True):
            return wrong(m.hint)
    if not bool(torch.isfinite(t.to(torch.float64)).all()):
        return wrong(f"Your {what} contains inf or NaN: look for an exp that overflows or a log of 0.")
    if nearly(answer, reference):
        return wrong(f"Your {what} is close but not exact: compute it in code (float64) instead of rounding, "
                     "or look for a small slip.")
    return wrong(f"Your {what} is not right, and it is none of the usual slips; go through the formula again.")


def fmt(value: float) -> str:
    """A number for a message, 4 significant digits."""
    return f"{value:.4g}" if math.isfinite(value) else str(value)


# Recorded last, when everything above exists: this module, torch, numpy, math and a few builtins.
_GUARDS: list[_Guard] = [
    (__name__, globals(), _snapshot(globals()), False),
    ("torch", torch, _snapshot(vars(torch)), False),
    ("torch.Tensor", torch.Tensor, _snapshot(vars(torch.Tensor)), True),
    ("torch.TensorBase", torch._C.TensorBase, _snapshot(vars(torch._C.TensorBase)), False),
    ("torch.nn.functional", torch.nn.functional, _snapshot(vars(torch.nn.functional)), False),
    ("torch.distributions", torch.distributions, _snapshot(vars(torch.distributions)), False),
    ("numpy", np, _snapshot(vars(np)), False),
    ("math", math, _snapshot(vars(math)), False),
    ("builtins", builtins, _snapshot(vars(builtins), _BUILTINS), False),
]
