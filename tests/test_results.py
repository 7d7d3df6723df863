"""results.py: return values become text the script can parse, capped with a visible marker."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from ptc_jupyter.calls import results
from ptc_jupyter.calls.results import UnusableResult, cap, json_pieces, sanitize, to_text


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


fragments = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
    st.characters(max_codepoint=0x9F),  # C0, C1 controls
    st.sampled_from(
        ["\x1b[1;31m", "\x1b[0m", "\x1b]0;title\x07", "\x1b]8;;http://x\x1b\\", "\x9b2J", "\x1b(B", "\r\n"]
    ),
)
messy_text = st.lists(fragments, max_size=60).map("".join)
UNSAFE_CHARS = {chr(c) for c in range(0x20) if chr(c) not in "\n\t"} | {chr(c) for c in range(0x7F, 0xA0)}


@settings(max_examples=200, deadline=None)
@given(messy_text, st.integers(min_value=60, max_value=400))
def test_any_text_becomes_wire_safe(text, limit):
    out = to_text(text, limit)
    json.dumps({"content": out}, ensure_ascii=False).encode("utf-8")  # strict: no lone surrogates
    assert not UNSAFE_CHARS & set(out)
    assert len(out.encode("utf-8")) <= limit
    assert sanitize(out) == out  # cleaning is idempotent


def test_terminal_sequences_are_stripped_and_printable_text_kept():
    text = (
        "\x1b[1;31mred\x1b[0m \x1b]8;;https://x.y\x1b\\link\x1b]8;;\x1b\\ \x9b2Jcleared\rnext\x07 \x1b(Bascii <b>é</b>"
    )
    assert to_text(text) == "red link clearednext ascii <b>é</b>"
    assert to_text({"k": "\x1b[31m"}) == '{"k": "\\u001b[31m"}'  # inside JSON: escaped data, not a terminal code


def test_a_surrogate_pair_is_joined():
    assert to_text("\ud83d\ude00 ok") == "😀 ok"


def test_a_huge_text_is_cleaned_only_up_to_the_cut():
    text = "\x1b[31m" + "a" * 200_000 + "\x00"
    out = to_text(text, 1_000)
    kept = out.split("\n…[truncated: ")[0]
    assert kept == "a" * len(kept) and len(out.encode()) <= 1_000
    assert out.endswith(f"[truncated: {len(kept):,} of {len(text):,} bytes shown]")


def test_an_escape_sequence_is_not_split_between_pieces():
    text = "a" * ((1 << 16) - 3) + "\x1b[1;31mred" + "b" * 10
    assert sanitize(text) == "a" * ((1 << 16) - 3) + "red" + "b" * 10


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=4), inner, max_size=6)),
    max_leaves=40,
)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_json_pieces_join_to_exactly_json_dumps(value):
    expected = json.dumps(value, ensure_ascii=False)
    assert "".join(json_pieces(value, batch_items=2, big_chars=3)) == expected
    assert "".join(json_pieces(value)) == expected


def test_a_huge_json_result_reports_its_whole_size():
    rows = [{"i": i, "s": "é" * 10} for i in range(20_000)]
    out = to_text(rows, 500)
    whole = json.dumps(rows, ensure_ascii=False).encode()
    assert out.startswith('[{"i": 0, "s": "éééééééééé"}') and out.endswith(f"of {len(whole):,} bytes shown]")


def test_a_big_dataframe_is_written_once_by_pandas(monkeypatch):
    monkeypatch.setattr(results, "REFORMAT_LIMIT_CHARS", 10)
    df = pd.DataFrame({"path": ["a/b", "c"], "n": [1, 2]})
    assert json.loads(to_text(df)) == [{"path": "a/b", "n": 1}, {"path": "c", "n": 2}]


class Opaque:
    pass


@pytest.mark.parametrize(
    "value, message",
    [
        ((i for i in range(2)), "returned a generator; return a list instead"),
        ({"g": (i for i in range(2))}, "returned a generator"),
        (Opaque(), "returned a Opaque object, which has no JSON or text form"),
        ([Opaque()], "returned a Opaque object"),
    ],
)
def test_values_that_are_bugs_are_refused(value, message):
    with pytest.raises(UnusableResult, match=re.escape(message)):
        to_text(value)
