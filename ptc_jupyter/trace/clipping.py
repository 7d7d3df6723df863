"""The one clip marker (`… [+N chars]`) for everything cut short: saved call outputs, steps, table
cells, streams, prompts. Part of the record because a saved trace holds clipped text; every view
clips with the same marker (the labextension's `format.ts` matches it)."""

from __future__ import annotations

import json
from typing import Any

PREVIEW_CHARS = 80


def clip_marker(hidden_chars: int, unit: str = "chars") -> str:
    """What stands in for the characters left out (or, with `unit="items"`, a list's items)."""
    return f"… [+{hidden_chars:,} {unit}]"


def cut(text: str, kept: int) -> str:
    """The first `kept` characters of `text` and the marker for the rest."""
    return text if kept >= len(text) else text[:kept] + clip_marker(len(text) - kept)


def clip(text: str | None, limit: int) -> str:
    """`text` if it fits in `limit` characters; else its start and the clip marker, `limit`
    characters in all (never fewer than the marker). Clipping to the same limit again changes
    nothing, so a clipped trace saved twice stays the same."""
    if not text:
        return ""
    if len(text) <= limit:
        return text
    return cut(text, max(0, limit - len(clip_marker(len(text)))))


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """One line: strings as they are, anything else as compact JSON; clipped with the marker."""
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        except (TypeError, ValueError):
            value = str(value)
    return clip(" ".join(value.split()), limit)


def json_size(value: Any) -> int:
    """Length of `value` as JSON with non-ASCII escaped: an upper bound of its UTF-8 bytes."""
    return len(json.dumps(value, default=str))


def clip_to_json_size(text: str, size: int) -> str:
    """`text` cut to the longest start whose JSON, with the clip marker, is at most `size` long."""
    if json_size(text) <= size:
        return text
    room = size - json_size(clip_marker(len(text)))  # the quotes are counted once, here
    low, high = 0, min(len(text), max(0, room))  # k characters take at least k in JSON
    while low < high:  # the JSON of a start only grows with its length
        middle = (low + high + 1) // 2
        if json_size(text[:middle]) - 2 <= room:
            low = middle
        else:
            high = middle - 1
    return cut(text, low)
