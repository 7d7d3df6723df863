"""The calls table, as rows: which calls are listed, where the gaps are, and each cell's text.

The live view, the saved HTML and the text rendering all list a run's calls from these rows, so
they agree on what is shown and how it is cut short; they differ only in their limits and markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .formatting import PREVIEW_CHARS, format_seconds, preview

if TYPE_CHECKING:
    from .trace import ToolCall


@dataclass(frozen=True)
class TableLimits:
    """Which calls get a row: the first `head`, the last `tail`, and up to `failed` failed ones
    between them; cells are previews of at most `preview_chars` characters."""

    head: int
    tail: int
    failed: int
    preview_chars: int = PREVIEW_CHARS


@dataclass(frozen=True)
class CallRow:
    number: int  # 1-based position of the call in the run
    tool: str
    input: str  # one-line preview
    status: str  # e.g. "ok", or "✗ error" for a failed call
    took: str  # "…" while the call runs
    result: str  # one-line preview, "" before there is a result
    failed: bool


@dataclass(frozen=True)
class GapRow:
    hidden: int  # consecutive calls without a row here

    @property
    def label(self) -> str:
        return f"… {self.hidden:,} calls not listed"


Row = CallRow | GapRow


def listed(calls: Sequence[ToolCall], limits: TableLimits) -> list[int]:
    """Indexes of the calls that get a row, in order."""
    keep, failed, first_tail = [], limits.failed, len(calls) - limits.tail
    for i, call in enumerate(calls):
        if i < limits.head or i >= first_tail:
            keep.append(i)
        elif call.is_error and failed > 0:
            failed -= 1
            keep.append(i)
    return keep


def call_row(number: int, call: ToolCall, preview_chars: int = PREVIEW_CHARS) -> CallRow:
    done = call.status not in ("pending", "running")
    return CallRow(
        number=number, tool=call.name, input=preview(call.input, preview_chars),
        status=("✗ " if call.is_error else "") + call.status,
        took=format_seconds(call.duration_s) if done else "…",
        result=preview(call.output, preview_chars) if call.output is not None else "",
        failed=call.is_error,
    )


def table_rows(calls: Sequence[ToolCall], limits: TableLimits) -> list[Row]:
    """The table of `calls` within `limits`: call rows, with a gap row wherever calls are skipped."""
    rows: list[Row] = []
    previous = -1
    for i in listed(calls, limits):
        if i != previous + 1:
            rows.append(GapRow(i - previous - 1))
        rows.append(call_row(i + 1, calls[i], limits.preview_chars))
        previous = i
    if previous != len(calls) - 1:
        rows.append(GapRow(len(calls) - previous - 1))
    return rows
