"""The input sets a check runs the learner's code on, the learner's answer as a tensor, and shortcuts a check forbids.

Every check calls the learner's function on two input sets: the check's own (fixed seed and sizes, so its hints
and messages are reproducible) and a second one drawn when the check runs (a fresh seed, and sizes different from
the first), so an answer that writes a size or a value as a number cannot pass. Used by the ``nbNN`` checks.
"""
from __future__ import annotations

import contextlib
import secrets
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from vaelib.exercises.core import Feedback, NotAttempted, Wrong, as_tensor, wrong

FLOAT32_RTOL = 1e-5  # what float32 arithmetic (24-bit mantissa) leaves of a short computation


NO_AUTOGRAD = [(torch.autograd, "grad", "torch.autograd.grad"), (torch.autograd, "backward", "backward()"),
               (torch.Tensor, "backward", "backward()"), (torch.func, "grad", "torch.func.grad"),
               (torch.func, "vjp", "torch.func.vjp"),
               (torch.autograd.functional, "jacobian", "torch.autograd.functional"),
               (torch.autograd.functional, "vjp", "torch.autograd.functional")]  # for ``forbidding``: no autograd


def runs(seed: int, **dims: tuple[int, int, int]) -> list[tuple[torch.Generator, dict[str, int]]]:
    """The two input sets, as (generator, sizes): ``dims`` maps a size's name to (fixed, low, high); the first set
    uses ``seed`` and the fixed sizes, the second a fresh seed and sizes in [low, high], each more than 10 % from the
    fixed one."""
    fresh = torch.Generator().manual_seed(secrets.randbits(62))
    drawn = {}
    for name, (fixed, low, high) in dims.items():
        choices = [n for n in range(low, high + 1) if abs(n - fixed) > 0.1 * fixed]  # at least 10 % apart
        drawn[name] = choices[int(torch.randint(len(choices), (1,), generator=fresh))]
    return [(torch.Generator().manual_seed(seed), {k: v[0] for k, v in dims.items()}), (fresh, drawn)]


def judge_all(judge: Callable[[torch.Generator, dict[str, int]], Feedback], seed: int,
              **dims: tuple[int, int, int]) -> Feedback:
    """Run ``judge`` on each input set of ``runs``; the first verdict that is not "passed" is the answer's, and a
    failure on the drawn set only says that the first set passed (a size or value written as a number)."""
    verdict = None
    for i, (g, sizes) in enumerate(runs(seed, **dims)):
        try:
            verdict = judge(g, sizes)
        except Wrong as err:
            if i == 0:
                raise
            verdict = wrong(str(err))
        if not verdict.passed:
            if i == 0:
                return verdict
            shown = ", ".join(f"{k} = {v}" for k, v in sizes.items() if not k.startswith("_"))  # _name: a switch
            where = f" ({shown})" if shown else ""
            return wrong(f"Right on the check's first input set, but not on a second one drawn now{where}: "
                         f"{verdict.message} Look for a size or a value written as a number.")
    assert verdict is not None
    return verdict


def answer_tensor(value: Any, name: str, shape: Sequence[int] | None = None) -> tuple[torch.Tensor, float]:
    """The learner's result (torch tensor, NumPy array, list or tuple of numbers or of rows) as a float64 tensor,
    and the relative tolerance its precision allows (float32 arithmetic is good to about 1e-5, float64 to far
    better)."""
    if value is None:
        raise NotAttempted(f"`{name}` is None: compute it.")
    low = (isinstance(value, torch.Tensor) and value.dtype in (torch.float32, torch.float16, torch.bfloat16)) or \
          (isinstance(value, np.ndarray) and value.dtype in (np.float32, np.float16))
    if isinstance(value, (list, tuple)) and value:
        try:  # numbers, or nested lists of numbers (rows)
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, RuntimeError):
            pass
    if isinstance(value, np.ndarray):
        value = torch.as_tensor(np.asarray(value, dtype=np.float64))
    elif isinstance(value, np.number):
        value = torch.as_tensor(float(value))
    return as_tensor(value, name, shape), (FLOAT32_RTOL if low else 0.0)


def finite(value: torch.Tensor | float, what: str) -> None:
    """Raise ``Wrong`` when the learner's result contains NaN or inf."""
    if not bool(torch.isfinite(torch.as_tensor(value, dtype=torch.float64)).all()):
        raise Wrong(f"Your {what} contains NaN or inf: look for a log of 0, a division by 0 or an exp that overflows.")


def is_low_precision(value: Any) -> bool:
    """True when a learner's number is a float32 (or narrower) tensor, array or scalar."""
    dtype = getattr(value, "dtype", None)
    return dtype in (torch.float32, torch.float16, torch.bfloat16, np.float32, np.float16)


class _Forbidden:
    """Stands in for a function the prompt forbids; calling it raises ``Wrong`` with the prompt's reason."""

    def __init__(self, label: str, reason: str) -> None:
        self.label, self.reason = label, reason

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise Wrong(f"Your function calls `{self.label}`, which this exercise asks you not to use: {self.reason}")


@contextlib.contextmanager
def forbidding(targets: Sequence[tuple[Any, str, str]], reason: str) -> Iterator[None]:
    """While the learner's code runs, replace each ``(owner, attribute, label)`` by a function that raises ``Wrong``
    naming it; everything is put back afterwards, whatever happens."""
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in targets]
    try:
        for owner, attr, label in targets:
            setattr(owner, attr, _Forbidden(label, reason))
        yield
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)


def _global_names(code: Any) -> set[str]:
    """The global and attribute names a code object (and the functions defined inside it) refers to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _global_names(const)
    return names


def forbidden_call(fn: Callable[..., Any], call: Callable[..., Any], *args: Any, name: str,
                   targets: Sequence[tuple[Any, str, str]], reason: str) -> Any:
    """``call(fn, *args, name=name)`` with ``targets`` forbidden; the learner's use of one is a ``Wrong`` hint.
    A function that names a forbidden vaelib function (imported under its own name) is refused before it runs."""
    code = getattr(fn, "__code__", None)
    if code is not None:
        used = _global_names(code)
        for owner, attr, label in targets:
            named = getattr(owner, "__name__", "").startswith("vaelib") and label.endswith(f".{attr}")
            if named and attr in used:  # e.g. `paired_difference(a, b)` after `from vaelib.evaluate import ...`
                raise Wrong(f"Your function calls `{label}`, which this exercise asks you not to use: {reason}")
    with forbidding(targets, reason):
        try:
            return call(fn, *args, name=name)
        except Wrong as err:
            for _, _, label in targets:
                if f"`{label}`" in str(err):
                    raise Wrong(f"Your function calls `{label}`, which this exercise asks you not to use: "
                                f"{reason}") from None
            raise


def with_grads(fn: Callable[..., Any], wrt: Sequence[int], weights: torch.Tensor) -> Callable[..., Any]:
    """Wrap a learner's function for ``call``: the arguments at positions ``wrt`` become differentiable (non-leaf
    copies, so that in-place ops on them are allowed), and the wrapper returns (result, gradients of
    sum(result * weights) with respect to them), or (result, None) when the result is not a differentiable tensor of
    the weights' shape. The check owns the gradients, however ``call`` copies the arguments."""
    def run(*args: Any) -> Any:
        leaves = {i: args[i].detach().clone().requires_grad_(True) for i in wrt}
        out = fn(*(leaves[i] * 1 if i in leaves else a for i, a in enumerate(args)))
        if out is None:
            return None
        if not (isinstance(out, torch.Tensor) and out.requires_grad and out.shape == weights.shape):
            return out, None
        grads = torch.autograd.grad((out * weights.to(out.dtype)).sum(), [leaves[i] for i in wrt], allow_unused=True)
        return out.detach(), grads
    run.__name__ = getattr(fn, "__name__", "your function")
    return run
