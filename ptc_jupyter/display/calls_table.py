"""The calls table, as rows: which calls are listed, where the gaps are, and each cell's text.

The live view, the saved HTML and the text rendering all list a run's calls from these rows, so
they agree on what is shown and how it is cut short; they differ only in their limits and markup.

Which calls get a row follows the rule a saved trace keeps calls by (trace/saved_calls.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from ptc_jupyter.display.formatting import ERROR_STYLE, MUTED_STYLE, format_seconds
from ptc_jupyter.trace.clipping import PREVIEW_CHARS, preview
from ptc_jupyter.trace.saved_calls import TableLimits, call_numbers, listed, omitted_count

if TYPE_CHECKING:
    from ptc_jupyter.trace.run import ToolCall


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


def call_row(number: int, call: ToolCall, preview_chars: int = PREVIEW_CHARS) -> CallRow:
    done = call.status not in ("pending", "running")
    return CallRow(
        number=number,
        tool=call.name,
        input=preview(call.input, preview_chars),
        status=("✗ " if call.is_error else "") + call.status,
        took=format_seconds(call.duration_s) if done else "…",
        result=preview(call.output, preview_chars) if call.output is not None else "",
        failed=call.is_error,
    )


def table_rows(calls: Sequence[ToolCall], limits: TableLimits, omitted: dict[str, Any] | None = None) -> list[Row]:
    """The table of `calls` within `limits`: call rows, with a gap row wherever calls are skipped.

    `omitted`: the summary of calls a saved trace left out (`Run.calls_omitted`); rows then keep
    their numbers in the run and the gaps count the left-out calls too."""
    numbers = call_numbers(len(calls), omitted)
    total = len(calls) + omitted_count(omitted)
    rows: list[Row] = []
    previous = 0  # the run number of the last row
    for i in listed(calls, limits):
        if numbers[i] != previous + 1:
            rows.append(GapRow(numbers[i] - previous - 1))
        rows.append(call_row(numbers[i], calls[i], limits.preview_chars))
        previous = numbers[i]
    if previous != total:
        rows.append(GapRow(total - previous))
    return rows


#: The columns of every calls table, live or saved.
COLUMNS = ("#", "tool", "input", "status", "took", "result")


def row_html(row: Row) -> str:
    """One row as HTML: a call (failed ones marked), or a gap's label across the columns."""
    if isinstance(row, GapRow):
        return f'<tr><td colspan="{len(COLUMNS)}" style="{MUTED_STYLE}">{escape(row.label)}</td></tr>'
    err = f' style="{ERROR_STYLE}" data-error="1"' if row.failed else ""
    cells = (
        str(row.number),
        f"<code>{escape(row.tool)}</code>",
        f"<code>{escape(row.input)}</code>",
        escape(row.status),
        escape(row.took),
        f"<code>{escape(row.result)}</code>",
    )
    return f"<tr{err}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def table_html(rows: Sequence[Row]) -> str:
    """The table of `rows` (escaped, inline styles only), as the live view and the saved HTML show it."""
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in COLUMNS)
    body = "".join(row_html(row) for row in rows)
    return (
        f'<table cellpadding="3" style="border-collapse:collapse;font-size:12px"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
