"""results.py: return values become text the script can parse, capped with a visible marker."""

from __future__ import annotations

import dataclasses
import datetime
import json

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from ptc_jupyter.results import cap, to_text


class Price(BaseModel):
    ticker: str
    price: float


@dataclasses.dataclass
class Row:
    a: int
    when: datetime.date


def test_json_for_structured_values():
    assert json.loads(to_text({"a": [1, 2.5, None, True]})) == {"a": [1, 2.5, None, True]}
    assert to_text(3) == "3" and to_text(2.5) == "2.5" and to_text(None) == "null" and to_text(True) == "true"
    assert json.loads(to_text(Price(ticker="A", price=1.5))) == {"ticker": "A", "price": 1.5}
    assert json.loads(to_text(Row(1, datetime.date(2026, 1, 2)))) == {"a": 1, "when": "2026-01-02"}
    assert json.loads(to_text([Price(ticker="B", price=2)])) == [{"ticker": "B", "price": 2.0}]


def test_dataframe_as_records():
    df = pd.DataFrame({"region": ["West", "East"], "revenue": [1.5, 2.0]})
    assert json.loads(to_text(df)) == [{"region": "West", "revenue": 1.5}, {"region": "East", "revenue": 2.0}]
    assert json.loads(to_text(df["revenue"])) == {"0": 1.5, "1": 2.0}


def test_strings_pass_through_and_others_use_str():
    assert to_text("plain") == "plain"
    assert to_text(b"bytes") == "bytes"

    class Thing:
        def __str__(self) -> str:
            return "a thing"

    assert to_text(Thing()) == "a thing"


def test_cap_marks_truncation():
    text = to_text("x" * 500, max_bytes=100)
    assert len(text.encode()) <= 100
    assert text.endswith("[truncated: 61 of 500 bytes shown]")


@given(st.text(min_size=0, max_size=400), st.integers(min_value=60, max_value=300))
def test_cap_never_exceeds_limit_and_never_splits_characters(text, limit):
    out = cap(text, limit)
    assert len(out.encode("utf-8")) <= limit
    out.encode("utf-8").decode("utf-8")  # valid UTF-8
    if len(text.encode()) <= limit:
        assert out == text
    else:
        assert out.startswith(out.split("\n…[truncated")[0]) and "truncated" in out


def test_results_are_valid_utf8_without_nul():
    text = to_text("bad \ud800 surrogate and a \x00 NUL")
    assert text == "bad ? surrogate and a  NUL"
    text.encode("utf-8")
    assert to_text({"k": "\udcff"}) == '{"k": "?"}'  # and in JSON too
