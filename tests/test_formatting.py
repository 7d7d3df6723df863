"""formatting.py: the one clip marker and the units every view shows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ptc_jupyter.display.formatting import format_bytes, format_seconds
from ptc_jupyter.trace.clipping import clip, clip_marker, preview


def test_clip_keeps_short_text_and_marks_what_it_leaves_out():
    assert clip("short", 10) == "short" and clip(None, 10) == ""
    clipped = clip("x" * 100, 40)
    assert len(clipped) <= 40 and clipped == "x" * clipped.index("…") + clip_marker(100 - clipped.index("…"))
    assert clip_marker(1234) == "… [+1,234 chars]"


@given(st.text(max_size=200), st.integers(20, 120))
def test_clipping_again_changes_nothing(text, limit):
    once = clip(text, limit)
    assert once == text if len(text) <= limit else len(once) <= limit
    assert clip(once, limit) == once


def test_preview_is_one_line_of_json_or_text():
    assert preview({"a": [1, 2]}) == '{"a":[1,2]}'
    assert preview("a\n  b") == "a b"
    long = preview("word " * 100, 60)
    assert len(long) <= 60 and long.endswith(" chars]")


def test_units_match_the_labextension():
    assert [format_seconds(s) for s in (None, 0.1234, 2.5, 12.34)] == ["", "123 ms", "2.50 s", "12.3 s"]
    assert [format_bytes(n) for n in (12, 2048, 3 * 1024 * 1024)] == ["12 B", "2.0 KB", "3.0 MB"]
