"""Argument checks for the public functions: one sentence that names the argument and says what to pass instead.

Every message has the same shape, ``"<argument> <what is wrong> (got <what came>): pass <what to pass>."``, so a
learner who calls a function from a notebook with an empty tensor, a NaN, the wrong dtype or shape, or a count of
zero reads which argument was wrong and how to fix it, never a traceback from deep inside torch or scikit-learn and
never a silently wrong number. The bottom of the import graph: it imports only torch.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import torch


def fail(name: str, problem: str, got: str, instead: str, kind: type[Exception] = ValueError) -> Exception:
    """The exception (to ``raise``) for argument ``name``: "name problem (got ...): pass instead."."""
    return kind(f"{name} {problem} (got {got}): pass {instead}.")


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 40 else type(value).__name__


def count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (a whole float such as 2.0 is accepted); else one sentence."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, numbers.Real)):
        raise fail(name, f"must be a whole number >= {minimum}", _describe(value), f"{name}={max(minimum, 1)} or more",
                   TypeError)
    if isinstance(value, numbers.Integral):
        whole = int(value)
    elif math.isfinite(float(value)) and float(value).is_integer():
        whole = int(value)
    else:
        raise fail(name, f"must be a whole number >= {minimum}", repr(value), f"{name}={max(minimum, 1)} or more")
    if whole < minimum:
        raise fail(name, f"must be >= {minimum}", repr(value), f"{name}={max(minimum, 1)} or more")
    return whole


def number(value: Any, name: str, low: float = -math.inf, high: float = math.inf, strict_low: bool = False) -> float:
    """``value`` as a finite float in [low, high] (or (low, high] with ``strict_low``); else one sentence."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(name, "must be a number", _describe(value), f"a finite number for {name}", TypeError)
    x = float(value)
    bad_low = x <= low if strict_low else x < low
    if not math.isfinite(x) or bad_low or x > high:
        where = f"{'>' if strict_low else '>='} {low:g}" + (f" and <= {high:g}" if high < math.inf else "")
        raise fail(name, f"must be finite and {where}" if low > -math.inf else "must be finite", repr(value),
                   f"a value of {name} in that range")
    return x


def tensor(value: Any, name: str, *, ndim: int | tuple[int, ...] | None = None, last: int | None = None,
           floating: bool = True, finite: bool = True, nonempty: bool = True) -> torch.Tensor:
    """Check that ``value`` is a torch tensor (floating-point if asked) with ``ndim`` dims, last dim ``last``,
    at least one element and (if ``finite``) no NaN or inf; return it unchanged, or raise one sentence."""
    if not isinstance(value, torch.Tensor):
        raise fail(name, "must be a torch.Tensor", _describe(value), f"torch.as_tensor({name})", TypeError)
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if dims is not None and value.dim() not in dims:
        shape = " or ".join(f"{d}-D" for d in dims)
        raise fail(name, f"must be {shape}", f"shape {tuple(value.shape)}", f"a {shape} tensor")
    if last is not None and (value.dim() == 0 or value.shape[-1] != last):
        raise fail(name, f"must have {last} entries in its last dimension", f"shape {tuple(value.shape)}",
                   f"a tensor of shape (..., {last})")
    if floating and not (value.is_floating_point()):
        raise fail(name, "must be a floating-point tensor", f"dtype {str(value.dtype).removeprefix('torch.')}",
                   f"{name}.float()", TypeError)
    if nonempty and value.numel() == 0:
        raise fail(name, "is empty", f"shape {tuple(value.shape)}", "at least one value")
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise fail(name, "holds NaN or inf", f"{int((~torch.isfinite(value)).sum())} non-finite values",
                   "finite values (a NaN usually comes from a diverged model or a division by zero upstream)")
    return value


def same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """One sentence if two tensors that pair up element by element differ in shape."""
    if a.shape != b.shape:
        raise fail(f"{name_a} and {name_b}", "must have the same shape", f"{tuple(a.shape)} and {tuple(b.shape)}",
                   "tensors that pair up element by element")


def broadcastable(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """One sentence if two tensors do not broadcast against each other."""
    try:
        torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise fail(f"{name_a} and {name_b}", "do not broadcast", f"shapes {tuple(a.shape)} and {tuple(b.shape)}",
                   "tensors whose shapes match from the last dimension on") from None


def images(x: Any, name: str = "x", pixels: int = 784) -> torch.Tensor:
    """Check MNIST-like images (N, ``pixels``): uint8 values 0-255, or floats in [0, 1] (what torchvision's
    ``ToTensor`` gives); floats outside [0, 1] (0-255 floats, say) are refused, never rescaled a second time."""
    tensor(x, name, ndim=2, last=pixels, floating=False, finite=False)
    if x.dtype == torch.uint8:
        return x
    if not x.is_floating_point():
        dtype = str(x.dtype).removeprefix("torch.")
        raise fail(name, "must be uint8 pixels 0-255 or floats in [0, 1]", f"dtype {dtype}",
                   f"{name}.to(torch.uint8) or {name}.float() / 255", TypeError)
    unit_interval(x, name)
    return x


def unit_interval(x: torch.Tensor, name: str) -> None:
    """One sentence unless every value of the floating-point tensor ``x`` is finite and in [0, 1]."""
    if x.numel() == 0:
        return
    if not bool(torch.isfinite(x).all()):
        raise fail(name, "holds NaN or inf", f"{int((~torch.isfinite(x)).sum())} non-finite pixels",
                   "uint8 pixels 0-255 or floats in [0, 1]")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise fail(name, "holds floats outside [0, 1]", f"min {lo:g}, max {hi:g}",
                   f"uint8 pixels 0-255 ({name}.to(torch.uint8)) or floats in [0, 1] ({name} / 255), "
                   "never both scalings")


def gaussians(mu: Any, logvar: Any, mu_name: str = "mu", logvar_name: str = "logvar", ndim: int = 2) -> None:
    """Check a batch of diagonal Gaussians: ``mu`` and ``logvar`` finite, non-empty, ``ndim``-D, of one shape."""
    tensor(mu, mu_name, ndim=ndim)
    tensor(logvar, logvar_name, ndim=ndim)
    same_shape(mu, logvar, mu_name, logvar_name)
