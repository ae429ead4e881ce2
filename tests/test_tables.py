"""The table helper against hand-computed strings: rounding to the standard error, numbers, text and HTML."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelib.tables import format_mean_se, format_number, pm, table

M = "\u2212"  # the minus sign tables print


@pytest.mark.parametrize("mean,se,text", [
    (-85.8012, 0.2234, f"{M}85.80 ± 0.22"),      # README's log p(x): SE 2 significant digits, mean to 0.01
    (-89.4349, 0.2449, f"{M}89.43 ± 0.24"),
    (-138.7526, 0.5149, f"{M}138.75 ± 0.51"),
    (0.98346, 0.00127, "0.9835 ± 0.0013"),
    (12.3456, 0.0996, "12.35 ± 0.10"),           # 0.0996 rounds up to 0.100: two digits, "0.10"
    (1234.5, 23.4, "1234 ± 23"),
    (15_903.0, 234.0, "15900 ± 230"),            # SE ≥ 100: round both to tens
    (-0.001, 0.22, "0.00 ± 0.22"),               # no "−0.00"
    (3.0, 0.0, "3 ± 0.0"),
])
def test_mean_se_is_rounded_to_the_precision_of_its_standard_error(mean, se, text):
    assert format_mean_se(mean, se) == text
    assert str(pm(torch.tensor(mean), np.float64(se))) == text


@pytest.mark.parametrize("value,decimals,text", [
    (0.123456, None, "0.1235"),
    (-2.5, None, f"{M}2.5"),
    (123.456, None, "123.5"),
    (123456.7, None, "123,457"),
    (1.5e-5, None, "1.50e\u22125"),
    (2.5e7, None, "2.50e7"),
    (0.0, None, "0"),
    (50_000, None, "50,000"),
    (-3, None, f"{M}3"),
    (0.123456, 2, "0.12"),
    (-0.004, 2, "0.00"),
    (True, None, "yes"),
    (None, None, "\u2013"),
    (float("nan"), None, "\u2013"),
    (float("-inf"), None, f"{M}inf"),
    (np.float64(0.5), None, "0.5"),
    (torch.tensor(7), None, "7"),
    ("D = 50", None, "D = 50"),
])
def test_cells_are_formatted_for_people(value, decimals, text):
    assert format_number(value, decimals) == text


def test_table_text_is_aligned_and_has_no_index():
    t = table([{"model": "D = 2", "test ELBO (nats)": pm(-138.7526, 0.5149), "epochs": 100},
               {"model": "D = 50", "test ELBO (nats)": pm(-89.4349, 0.2449), "epochs": 200}], caption="Shipped")
    assert str(t).splitlines() == [
        "Shipped",
        "model   test ELBO (nats)  epochs",
        "------  ----------------  ------",
        f"D = 2     {M}138.75 ± 0.51     100",   # numbers right-aligned, text left-aligned
        f"D = 50     {M}89.43 ± 0.24     200",
    ]
    assert repr(t) == str(t)


def test_table_html_has_named_columns_right_aligned_numbers_and_escaped_text():
    t = table({"name": ["a<b"], "KL (nats)": [1.25]})
    html = t._repr_html_()
    nowrap = "white-space: nowrap;"  # no model name broken at its hyphen ("nvae-/d10", notebook 08)
    assert html.startswith(f'<table class="vaelib-table"><thead><tr><th style="text-align: left; {nowrap}">name</th>')
    assert f'<th style="text-align: right; {nowrap}">KL (nats)</th>' in html
    row = f'<td style="text-align: left; {nowrap}">a&lt;b</td><td style="text-align: right; {nowrap}">1.25</td>'
    assert row in html
    assert "<caption>" not in html and "vaelib-table-caption" not in html


def test_a_caption_sits_above_the_table_not_inside_its_width():
    html = table({"model": ["nvae-/d10"]}, caption="Test ELBO <nats>")._repr_html_()
    assert html.startswith('<div class="vaelib-table-captioned"><p class="vaelib-table-caption"')
    assert html.index("Test ELBO &lt;nats&gt;</p>") < html.index('<table class="vaelib-table">')
    assert "<caption>" not in html and html.endswith("</table></div>")


def test_columns_dict_digits_and_markdown():
    t = table({"k": [1, 64], "gap": [0.51234, 0.0071]}, digits={"gap": 3})
    assert t.cells == (("1", "0.512"), ("64", "0.007"))
    assert t.to_markdown().splitlines() == ["| k | gap |", "| ---: | ---: |", "| 1 | 0.512 |", "| 64 | 0.007 |"]


def test_table_errors_say_what_to_do():
    with pytest.raises(ValueError, match="one value per row"):
        table({"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match="does not have"):
        table({"a": [1.0]}, digits={"b": 2})
    with pytest.raises(ValueError, match="one number, not a tensor"):
        table({"a": [torch.ones(3)]})


def test_rows_may_miss_columns():
    t = table([{"a": 1}, {"b": 2.5}])
    assert t.columns == ("a", "b") and t.cells == (("1", "\u2013"), ("\u2013", "2.5"))
