"""Tables for people: named columns, values rounded to their precision, no index, HTML and text.

    table([{"model": "D = 50", "test log p(x) (nats)": pm(-85.8012, 0.2234)}, ...])

renders as HTML in Jupyter and in the static HTML site (``_repr_html_``) and as aligned text
elsewhere (``str``/``repr``). A mean with its standard error, ``pm(mean, se)``, prints as
"−85.80 ± 0.22": the SE keeps two significant digits and the mean is rounded to the same decimal
place, so no digit is shown that the SE says is noise. Plain floats get 4 significant digits (or the
``digits=`` you give per column, as decimal places); integers get thousands separators; negative
numbers use the minus sign (U+2212); None and NaN show as "–".
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

MINUS, MISSING = "\u2212", "\u2013"


@dataclass(frozen=True)
class MeanSE:
    """A mean and its standard error; formats as "mean ± se" rounded to the SE's precision."""

    mean: float
    se: float

    def __str__(self) -> str:
        return format_mean_se(self.mean, self.se)


def pm(mean: Any, se: Any) -> MeanSE:
    """A table cell for a mean ± standard error (floats, 0-d tensors or NumPy scalars)."""
    return MeanSE(_to_number(mean), _to_number(se))


def _to_number(value: Any) -> Any:
    """Tensors and NumPy scalars as Python numbers (so no ``np.float64(...)`` or ``tensor(...)`` is printed)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"A table cell holds one number, not a tensor of shape {tuple(value.shape)}.")
        return value.detach().cpu().reshape(()).item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _minus(text: str) -> str:
    return text.replace("-", MINUS) if text.startswith("-") else text


def _decimals_for_se(se: float, sig: int = 2) -> int:
    """Decimal places that show ``sig`` significant digits of the SE (negative: round to tens, hundreds...)."""
    return sig - 1 - math.floor(math.log10(abs(se)))


def _fixed(value: float, decimals: int) -> str:
    """``value`` rounded to ``decimals`` places (negative: to tens, hundreds...), without a "−0"."""
    if decimals >= 0:
        text = f"{value:.{decimals}f}"
    else:
        step = 10 ** (-decimals)
        text = f"{round(value / step) * step:.0f}"
    return text.lstrip("-") if float(text) == 0 else _minus(text)


def format_mean_se(mean: float, se: float) -> str:
    """ "mean ± se" with the SE to two significant digits and the mean to the same decimal place."""
    if not math.isfinite(mean):
        return MISSING if math.isnan(mean) else _minus(str(mean))
    if not math.isfinite(se) or se <= 0:
        return f"{format_number(mean)} ± {MISSING if math.isnan(se) or se < 0 else se}"
    decimals = _decimals_for_se(se)
    se_text = _fixed(se, decimals)
    if float(se_text) >= 10 ** (2 - decimals):  # 0.0996 -> "0.100" has 3 digits: show "0.10"
        decimals -= 1
        se_text = _fixed(se, decimals)
    return f"{_fixed(mean, decimals)} ± {se_text}"


def format_number(value: Any, decimals: int | None = None) -> str:
    """One cell as text: int with separators, float to ``decimals`` places or 4 significant digits, bool yes/no."""
    value = _to_number(value)
    if value is None:
        return MISSING
    if isinstance(value, MeanSE):
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return _minus(f"{value:,}")
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if math.isinf(value):
            return _minus(str(value))
        if decimals is not None:
            return _fixed(value, decimals)
        if value != 0 and not 1e-3 <= abs(value) < 1e6:
            mantissa, exponent = f"{value:.2e}".split("e")
            return f"{_minus(mantissa)}e{_minus(str(int(exponent)))}"
        return _minus(f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}")
    return str(value)


@dataclass(frozen=True)
class Table:
    """A formatted table: ``columns`` (names), ``cells`` (text, row by row), numeric columns right-aligned."""

    columns: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    caption: str = ""

    def __str__(self) -> str:
        widths = [max([len(c)] + [len(r[j]) for r in self.cells]) for j, c in enumerate(self.columns)]

        def line(values: Sequence[str]) -> str:
            return "  ".join(v.rjust(w) if num else v.ljust(w)
                             for v, w, num in zip(values, widths, self.numeric)).rstrip()

        rule = "  ".join("-" * w for w in widths)
        out = [line(self.columns), rule] + [line(r) for r in self.cells]
        return "\n".join(([self.caption] if self.caption else []) + out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        def cell(tag: str, text: str, num: bool) -> str:
            align = "right" if num else "left"
            return f'<{tag} style="text-align: {align}; white-space: nowrap;">{html.escape(text)}</{tag}>'

        head = "".join(cell("th", c, n) for c, n in zip(self.columns, self.numeric))
        body = "".join("<tr>" + "".join(cell("td", v, n) for v, n in zip(r, self.numeric)) + "</tr>"
                       for r in self.cells)
        out = f'<table class="vaelib-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        if not self.caption:
            return out
        # above the table and as wide as the output, not a <caption> (as narrow as the table: a model name
        # column squeezed a sentence into four lines in notebook 08)
        return (f'<div class="vaelib-table-captioned"><p class="vaelib-table-caption" style="margin: 0 0 0.4em;">'
                f"{html.escape(self.caption)}</p>{out}</div>")

    def to_markdown(self) -> str:
        """The table as GitHub-flavoured Markdown (for a README)."""
        sep = ["---:" if n else "---" for n in self.numeric]
        rows = [self.columns, tuple(sep)] + list(self.cells)
        return "\n".join("| " + " | ".join(v.replace("|", "\\|") for v in r) + " |" for r in rows)


def table(rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]], *, digits: Mapping[str, int] | None = None,
          caption: str = "") -> Table:
    """A table for people from rows (a list of dicts) or columns (a dict of lists); keys are the column names.

    ``digits`` maps a column name to its number of decimal places (floats only); mean ± SE cells
    (``pm(mean, se)``) always round to their SE.
    """
    if isinstance(rows, Mapping):
        lengths = {len(v) for v in rows.values()}
        if len(lengths) > 1:
            raise ValueError(f"Columns have different lengths {sorted(lengths)}: give every column one value per row.")
        n = lengths.pop() if lengths else 0
        rows = [{k: v[i] for k, v in rows.items()} for i in range(n)]
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    digits = dict(digits or {})
    unknown = set(digits) - set(columns)
    if unknown:
        raise ValueError(f"digits= names columns {sorted(unknown)} that the table does not have: {columns}.")
    values = [[_to_number(r.get(c)) for c in columns] for r in rows]
    numeric = tuple(all(v is None or (isinstance(v, (int, float, MeanSE)) and not isinstance(v, bool))
                        for v in (row[j] for row in values)) and any(row[j] is not None for row in values)
                    for j in range(len(columns)))
    cells = tuple(tuple(format_number(v, digits.get(c)) for v, c in zip(row, columns)) for row in values)
    return Table(tuple(columns), cells, numeric, caption)
