"""Static renderings of a finished run: plain text, JavaScript-free HTML, and the MIME bundle.

The bundle is what a finished `%%ptc` cell leaves behind: the saved trace (`Run.to_dict()`, for
the JupyterLab renderer), HTML that GitHub, nbviewer and VS Code show as it is (`<details>`
instead of scripts), and text for terminals. Every piece of trace content is HTML-escaped. The
HTML and the text list a bounded number of calls (see `calls_table`), so big runs stay small;
calls a saved trace left out are counted and marked. Costs are estimates and say so.

Runs are read through their attributes only; this module imports nothing from `trace`.
"""

from __future__ import annotations

import dataclasses
import json
from html import escape
from typing import TYPE_CHECKING, Any

from ptc_jupyter.constants import MIME_TYPE
from ptc_jupyter.display.calls_table import CallRow, table_rows
from ptc_jupyter.display.calls_table import table_html as calls_table_html
from ptc_jupyter.display.files import describe_file, files_html
from ptc_jupyter.display.formatting import (
    ERROR_STYLE,
    MUTED_STYLE,
    PRE_STYLE,
    format_bytes,
    format_cost,
    format_measure,
    format_seconds,
    step_failed,
    step_label,
    step_result_text,
    step_state,
)
from ptc_jupyter.display.wire import compare_html, round_trip_summary, wire_html
from ptc_jupyter.pricing import comparison_with_costs
from ptc_jupyter.trace.clipping import clip, preview
from ptc_jupyter.trace.files import EMBED_BUDGET_CHARS, embed_plan, not_embedded_note
from ptc_jupyter.trace.saved_calls import TableLimits, omitted_note

if TYPE_CHECKING:
    from ptc_jupyter.trace.run import Run

__all__ = [
    "HTML_LIMITS",
    "TEXT_LIMITS",
    "mime_bundle",
    "savings",
    "savings_line",
    "step_html",
    "summary",
    "to_html",
    "to_text",
    "usage_line",
]

HTML_LIMITS = TableLimits(head=30, tail=5, failed=30, preview_chars=80)
TEXT_LIMITS = TableLimits(head=8, tail=2, failed=10, preview_chars=60)
CODE_PREVIEW_CHARS = 20_000
STREAM_PREVIEW_CHARS = 4_000
TEXT_STREAM_CHARS = 1_000
TEXT_ROUND_TRIPS = 10  # round trips the text lists
MEASURE_ORDER = ("requests", "context_bytes", "input_tokens", "output_tokens", "cost_usd", "wall_s")
MEASURE_LABELS = {
    "requests": "requests",
    "context_bytes": "context",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "cost_usd": "cost (estimate)",
    "wall_s": "wall time",
    "calls": "calls",
}


def savings(comparison: dict[str, Any] | None) -> list[tuple[str, str, str, str, bool]]:
    """(label, ptc, direct, change, better) for every measure both sides have, known ones first."""
    if not comparison or not isinstance(comparison.get("ptc"), dict) or not isinstance(comparison.get("direct"), dict):
        return []
    ptc, direct = comparison["ptc"], comparison["direct"]
    keys = [k for k in MEASURE_ORDER if k in ptc and k in direct]
    out = []
    for key in keys:
        p, d = ptc[key], direct[key]
        if not isinstance(p, (int, float)) or not isinstance(d, (int, float)):
            continue
        change = ""
        if d > 0:
            if key.endswith("_s"):
                change = f"{d / p:.1f}× {'faster' if p <= d else 'slower'}" if p > 0 else ""
            else:
                pct = round(100 * (p - d) / d)
                change = f"{'−' if pct <= 0 else '+'}{abs(pct)}%"
        out.append((MEASURE_LABELS.get(key, key), format_measure(key, p), format_measure(key, d), change, p <= d))
    return out


def savings_line(run: Run) -> str:
    items = savings(comparison_with_costs(run))
    if not items:
        return ""
    parts = [f"{label} {p} vs {d}" + (f" ({c})" if c else "") for label, p, d, c, _ in items]
    return "PTC vs direct: " + ", ".join(parts)


def summary(run: Run) -> str:
    """The one-line headline: status, calls, round trips, time, backend."""
    failed, count = run.failed_count, run.call_count
    calls = f"{count:,} tool call{'s' if count != 1 else ''}"
    if failed:
        calls += f" ({failed:,} failed)"
    parts = [
        f"ptc{' (direct)' if run.mode == 'direct' else ''}: {run.status}",
        calls,
        f"{run.requests} round trip{'s' if run.requests != 1 else ''}",
    ]
    if run.files:
        parts.append(f"{len(run.files)} file{'s' if len(run.files) != 1 else ''}")
    if run.wall_s:
        parts.append(format_seconds(run.wall_s))
    parts.append(run.backend)
    return " · ".join(parts)


def conversation_text(conversation: dict[str, Any]) -> str:
    """`turn 2 of conv_1a2b, continuing turn 1 ("Which region sold most?")`."""
    text = f"turn {conversation.get('turn')} of {conversation.get('id')}"
    earlier = conversation.get("continues")
    if isinstance(earlier, dict):
        text += f", continuing turn {earlier.get('turn')} ({json.dumps(earlier.get('prompt', ''), ensure_ascii=False)})"
    return text


def usage_line(run: Run) -> str:
    usage = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in run.usage.items() if isinstance(v, int) and v)
    parts = [f"model {run.model}"]
    if usage:
        parts.append(usage)
    parts.append(f"context from tools {format_bytes(run.context_bytes)}")
    parts.append(f"cost {format_cost(run.cost)}")
    if run.conversation:
        parts.append(conversation_text(run.conversation))
    if run.container_id:
        parts.append(f"container {run.container_id}")
    if run.stop_reason:
        parts.append(f"stop {run.stop_reason}")
    return " · ".join(parts)


def _titles(run: Run) -> list[str]:
    """Each step's title: `Script k of n` (or `Script`) for Python, else what the step is."""
    count, k, out = sum(1 for s in run.steps if s.kind == "python"), 0, []
    for step in run.steps:
        if step.kind == "python":
            k += 1
            title = f"Script {k} of {count}" if count > 1 else "Script"
            out.append(f"{title} (local)" if step.local else title)
        else:
            out.append(step_label(step))
    return out


# -- text ---------------------------------------------------------------------------------------


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def to_text(run: Run) -> str:
    lines = [summary(run)]
    if run.error:
        lines.append(f"error: {run.error}")
    lines += [f"note: {n}" for n in run.notices]
    if run.text:
        lines += ["answer:", _indent(clip(run.text, STREAM_PREVIEW_CHARS))]
    for title, step in zip(_titles(run), run.steps):
        what = _lines(len(step.code.splitlines())) if step.kind == "python" else preview(step.code, 60)
        lines.append(f"{title.lower()}: {what} ({step_state(step)})")
        stdout = "(encrypted)" if step.encrypted else step.stdout
        if stdout:
            lines += ["  stdout:", _indent(clip(stdout, TEXT_STREAM_CHARS))]
        if step.stderr:
            lines += ["  stderr:", _indent(clip(step.stderr, TEXT_STREAM_CHARS))]
    for n, f in enumerate(run.files, 1):
        lines.append(f"file {n}: {describe_file(f)}")
    note = not_embedded_note(run.files, embed_plan(run.files, EMBED_BUDGET_CHARS))
    if note:
        lines.append(note)
    if run.calls:
        lines.append("calls:")
        for row in table_rows(run.calls, TEXT_LIMITS, run.calls_omitted):
            if isinstance(row, CallRow):
                lines.append(
                    f"  #{row.number} {row.tool}({row.input}) -> {row.status} {row.took}: {row.result}".rstrip()
                )
            else:
                lines.append(f"  {row.label}")
    if omitted_note(run.calls_omitted):
        lines.append(omitted_note(run.calls_omitted))
    if run.exchanges:
        lines.append("wire:")
        lines += [f"  {round_trip_summary(e.row())}" for e in run.exchanges[:TEXT_ROUND_TRIPS]]
        if len(run.exchanges) > TEXT_ROUND_TRIPS:
            lines.append(f"  … {len(run.exchanges) - TEXT_ROUND_TRIPS:,} more round trips")
    lines.append(usage_line(run))
    if run.comparison:
        lines.append(savings_line(run))
    return "\n".join(lines)


# -- HTML (no JavaScript) -----------------------------------------------------------------------

# Inline styles only: GitHub, nbviewer and JupyterLab's sanitizer drop <style> elements.


def _lines(n: int) -> str:
    return f"{n} line{'s' if n != 1 else ''}"


def _stream_block(label: str, text: str | None) -> str:
    if not text:
        return ""
    return f'<div style="{MUTED_STYLE}">{label}</div><pre style="{PRE_STYLE}">{escape(clip(text, STREAM_PREVIEW_CHARS))}</pre>'


def step_html(step: Any, title: str, *, open_: bool = False, live: bool = False) -> str:
    """One step as a `<details>`: its code (or command, editor operation, JSON input), its
    streams, what it returned, and its files. Everything escaped; inline styles only. `live`:
    an unfinished step is running, not `unfinished`."""
    state = escape("running…" if live and not step.finished else step_state(step))
    extra = _lines(len(step.code.splitlines())) if step.kind == "python" else escape(preview(step.code, 60))
    body = []
    if step.kind == "python":
        body.append(f'<pre style="{PRE_STYLE}"><code>{escape(clip(step.code, CODE_PREVIEW_CHARS))}</code></pre>')
    elif step.kind == "bash":
        body.append(f'<pre style="{PRE_STYLE}"><code>$ {escape(clip(step.code, CODE_PREVIEW_CHARS))}</code></pre>')
    elif step.kind == "other":
        body.append(_stream_block("input", preview(step.input, CODE_PREVIEW_CHARS)))
    body.append(_stream_block("stdout", "(encrypted)" if step.encrypted else step.stdout))
    body.append(_stream_block("stderr", step.stderr))
    result = step_result_text(step)
    if result:
        body.append(_stream_block("diff" if step.input.get("command") == "str_replace" else "result", result))
    if step.file_ids:
        body.append(f'<div style="{MUTED_STYLE}">files: {escape(", ".join(step.file_ids))}</div>')
    return (
        f"<details{' open' if open_ else ''}><summary>{escape(title)} · {extra} · "
        f'<span style="{ERROR_STYLE if step_failed(step) else MUTED_STYLE}">{state}</span></summary>{"".join(body)}</details>'
    )


def _steps_html(run: Run) -> str:
    return "".join(step_html(step, title, open_=len(run.steps) == 1) for title, step in zip(_titles(run), run.steps))


def _files_html(run: Run) -> str:
    if not run.files:
        return ""
    body = files_html(run.files, embed_plan(run.files, EMBED_BUDGET_CHARS))
    return f"<details open><summary>Files ({len(run.files)})</summary>{body}</details>"


def _calls_html(run: Run) -> str:
    if not run.calls:
        return ""
    table = calls_table_html(table_rows(run.calls, HTML_LIMITS, run.calls_omitted))
    failed, count = run.failed_count, run.call_count
    title = f"Tool calls ({count:,})" + (f' · <span style="{ERROR_STYLE}">{failed:,} failed</span>' if failed else "")
    note = omitted_note(run.calls_omitted)
    note_html = f'<div class="ptc-calls-note" style="{MUTED_STYLE}">{escape(note)}</div>' if note else ""
    return f"<details{' open' if count <= 20 or failed else ''}><summary>{title}</summary>{table}{note_html}</details>"


def to_html(run: Run, trace: dict[str, Any] | None = None) -> str:
    """Static HTML (no script, no stylesheet): collapsible `<details>` sections, everything escaped.
    `trace`: the run's saved form, if already made (the Wire section shows what it keeps)."""
    alarm = run.status in ("error", "cancelled")
    body = [
        (
            '<details class="ptc-trace" open style="font-size:13px;line-height:1.4">'
            f'<summary style="cursor:pointer"><b>{escape(summary(run))}</b></summary>'
        )
    ]
    if run.error:
        body.append(f'<div style="{ERROR_STYLE}">error: {escape(run.error)}</div>')
    if run.notices:
        items = "".join(f"<li>{escape(n)}</li>" for n in run.notices)
        body.append(f'<ul style="{ERROR_STYLE if alarm else MUTED_STYLE};margin:2px 0">{items}</ul>')
    if run.comparison:
        body.append(f"<div><b>{escape(savings_line(run))}</b></div>")
        body.append(compare_html(run.comparison))
    if run.text:
        body.append(
            f'<div style="{MUTED_STYLE}">Answer</div>'
            f'<pre style="{PRE_STYLE}">{escape(clip(run.text, STREAM_PREVIEW_CHARS))}</pre>'
        )
    body.append(
        f'<details><summary>Prompt</summary><pre style="{PRE_STYLE}">'
        f"{escape(clip(run.prompt, CODE_PREVIEW_CHARS))}</pre></details>"
    )
    body.append(_steps_html(run))
    body.append(_calls_html(run))
    body.append(_files_html(run))
    body.append(wire_html(trace if trace is not None else run.to_dict()))
    body.append(f'<div style="{MUTED_STYLE}">{escape(usage_line(run))}</div></details>')
    return "".join(body)


# -- the bundle ---------------------------------------------------------------------------------


def mime_bundle(run: Run) -> dict[str, Any]:
    """The cell's lasting output: the saved trace (`run.to_dict()`), HTML and text; no widget view.
    The trace is bounded by `trace.TRACE_BUDGET_BYTES` and the HTML and text list a bounded number
    of calls, so a 1,000-call run stays under 300 KB unless its scripts or prompt are huge; output
    images come on top, up to `files.EMBED_BUDGET_CHARS` in the trace and again in the HTML.
    A run of more calls than a trace keeps (`Run.saved_calls`) stays under 1 MB at 10,000 calls;
    all three parts say how many calls the trace left out."""
    shown = run
    calls, omitted = run.saved_calls()
    if omitted is not run.calls_omitted:  # the HTML and text count and mark the calls the trace leaves out
        shown = dataclasses.replace(run, calls=calls, calls_omitted=omitted)
    trace = run.to_dict()
    return {MIME_TYPE: trace, "text/html": to_html(shown, trace), "text/plain": to_text(shown)}
