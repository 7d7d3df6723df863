"""prompt.py: what a cell body becomes: placeholders filled, code kept, big values described or capped."""

from __future__ import annotations

import pandas as pd
import pytest

from ptc_jupyter.notebook.prompt import PROMPT_VALUE_CHARS, PromptError, build_prompt
from ptc_jupyter.trace.clipping import clip_marker


def test_placeholders_outside_code_only():
    body = "Use {{n}} items.\n```python\nprint({'a': 1}, f'{{x}}')\n```\nKeep \\{{n}}."
    assert build_prompt(body, {"n": 3}) == "Use 3 items.\n```python\nprint({'a': 1}, f'{{x}}')\n```\nKeep {{n}}."


def test_a_dataframe_is_described_not_dumped():
    df = pd.DataFrame({"region": ["West", "East"] * 50_000, "sales": range(100_000)})
    text = build_prompt("Data: {{df}}", {"df": df})
    assert text.startswith("Data: DataFrame of 100,000 rows × 2 columns: region (")
    assert "sales (int64)" in text and "first 5 rows:" in text and "99999" not in text
    assert len(text) < PROMPT_VALUE_CHARS


def test_a_series_is_described():
    text = build_prompt("{{df.sales}}", {"df": pd.DataFrame({"sales": range(1000)})})
    assert text.startswith("Series 'sales' of 1,000 values (dtype int64)") and "999" not in text


def test_other_large_values_are_capped_with_the_visible_marker():
    big = list(range(100_000))
    text = build_prompt("{{big}}", {"big": big})
    assert len(text) == PROMPT_VALUE_CHARS and str(big).startswith(text[:1000])
    kept = text.index(clip_marker(1)[:3])  # where the marker begins
    assert text[kept:] == clip_marker(len(str(big)) - kept)


def test_small_values_are_left_as_they_are():
    assert build_prompt("{{x}} and {{y}}", {"x": [1, 2], "y": "text"}) == "[1, 2] and text"


@pytest.mark.parametrize(
    "body, message",
    [("{{missing}}", "no variable 'missing'"), ("  \n", "empty"), ("{{x.nope}}", "no attribute 'nope'")],
)
def test_mistakes_are_prompt_errors(body, message):
    with pytest.raises(PromptError, match=message):
        build_prompt(body, {"x": 1})
