"""How values become short display text, the same in every view.

One clip marker (`… [+N chars]`) for everything cut short: saved call outputs, table cells,
streams, scripts. The units match the labextension's `format.ts`.
"""

from __future__ import annotations

import json
from typing import Any

PREVIEW_CHARS = 80


def clip_marker(hidden_chars: int) -> str:
    """What stands in for the characters left out."""
    return f"… [+{hidden_chars:,} chars]"


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


def format_seconds(s: float | None) -> str:
    if s is None:
        return ""
    return f"{round(s * 1000)} ms" if s < 1 else f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def format_bytes(n: float) -> str:
    if n < 1024:
        return f"{int(n):,} B"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def format_measure(key: str, value: float) -> str:
    """By the unit the key names (`_bytes`, `_s`), else as a count."""
    if key.endswith("_bytes"):
        return format_bytes(value)
    if key.endswith("_s"):
        return format_seconds(value)
    return f"{round(value):,}"
