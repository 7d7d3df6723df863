"""Which calls a listing keeps, and what a saved trace says of the calls it leaves out.

A run can make 10,000 calls. The saved trace keeps the first, the last and the failed ones between
(`SAVED_CALLS`) and summarises the others (`omitted_summary`): how many, by status and by tool, and
where they were (`gaps`), so rows keep their run numbers. The views list calls by the same rule
(`listed`) with their own, smaller limits (display/calls_table.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ptc_jupyter.trace.clipping import PREVIEW_CHARS

if TYPE_CHECKING:
    from ptc_jupyter.trace.run import ToolCall


@dataclass(frozen=True)
class TableLimits:
    """Which calls get a row: the first `head`, the last `tail`, and up to `failed` failed ones
    between them; cells are previews of at most `preview_chars` characters."""

    head: int
    tail: int
    failed: int
    preview_chars: int = PREVIEW_CHARS


#: The calls a saved trace keeps of a run that made more than head + tail + failed (2,000).
SAVED_CALLS = TableLimits(head=1_000, tail=500, failed=500)
#: Tools named one by one in a summary of left-out calls; the rest are counted together.
SUMMARY_NAMES = 50
OTHER_TOOLS = "(other tools)"


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


# -- calls a saved trace leaves out --------------------------------------------------------------


def omitted_count(omitted: dict[str, Any] | None) -> int:
    count = omitted.get("count") if isinstance(omitted, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0


def call_numbers(count: int, omitted: dict[str, Any] | None = None) -> list[int]:
    """The run numbers (1-based) of `count` saved calls, given where calls were left out: each
    `[position, hidden]` of `omitted["gaps"]` says `hidden` calls came before saved call `position`."""
    hidden_at: dict[int, int] = {}
    for gap in (omitted or {}).get("gaps") or ():
        if isinstance(gap, list) and len(gap) == 2 and all(isinstance(v, int) and v >= 0 for v in gap):
            hidden_at[gap[0]] = hidden_at.get(gap[0], 0) + gap[1]
    numbers, skipped = [], 0
    for position in range(count):
        skipped += hidden_at.get(position, 0)
        numbers.append(position + 1 + skipped)
    return numbers


def omitted_summary(
    calls: Sequence[ToolCall], keep: Sequence[int], previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a saved trace says of `calls` it leaves out (all but the indexes `keep`), on top of
    what `previous` (the summary `calls` came with) already left out: how many, how many failed,
    by status, by tool (the SUMMARY_NAMES commonest), by script id, and the gaps the saved calls have."""
    kept = set(keep)
    dropped = [c for i, c in enumerate(calls) if i not in kept]
    before = previous if isinstance(previous, dict) else {}

    def counts(key: str, values: list[str]) -> Counter[str]:
        value = before.get(key)
        old: dict[str, Any] = value if isinstance(value, dict) else {}
        return Counter({str(k): v for k, v in old.items() if isinstance(v, int)}) + Counter(values)

    by_status = counts("by_status", [c.status for c in dropped])
    by_name = counts("by_name", [c.name for c in dropped]).most_common()
    named = dict(by_name[:SUMMARY_NAMES])
    if len(by_name) > SUMMARY_NAMES:
        named[OTHER_TOOLS] = named.get(OTHER_TOOLS, 0) + sum(n for _, n in by_name[SUMMARY_NAMES:])
    numbers = call_numbers(len(calls), previous)
    total = len(calls) + omitted_count(previous)
    kept_numbers = [numbers[i] for i in sorted(kept)]
    gaps, last = [], 0
    for position, number in enumerate(kept_numbers):
        if number != last + 1:
            gaps.append([position, number - last - 1])
        last = number
    if total > last:
        gaps.append([len(kept_numbers), total - last])
    by_script = counts("by_script", [c.script_id for c in dropped if c.script_id])
    failed_before = before.get("failed")
    failed = failed_before if isinstance(failed_before, int) else 0
    return {
        "count": omitted_count(previous) + len(dropped),
        "failed": failed + sum(c.is_error for c in dropped),
        "by_status": dict(by_status.most_common()),
        "by_name": named,
        "by_script": dict(by_script),
        "gaps": gaps,
    }


def omitted_note(omitted: dict[str, Any] | None) -> str:
    """The marker a saved trace shows for the calls it left out ("" when it left none out)."""
    count = omitted_count(omitted)
    if not count:
        return ""
    return f"… {count:,} more call{'s' if count != 1 else ''} not saved; r.to_json(path) writes the full trace"
