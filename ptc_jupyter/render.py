"""Static renderings of a `Run`: plain text, JavaScript-free HTML, and the MIME bundle saved in a notebook.

The bundle is what a finished `%%ptc` cell leaves behind: the JSON trace (for the JupyterLab
renderer), HTML that GitHub, nbviewer and VS Code show as it is (`<details>` instead of scripts),
and text for terminals. Every piece of trace content is HTML-escaped. Big runs stay small: the JSON
keeps shorter outputs the more calls there are, and the HTML and text list a bounded number of calls.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from .trace import MIME_TYPE, Run, ToolCall, compact_calls

#: What the whole bundle may take (as compact JSON); the trace's call outputs are clipped to fit.
BUNDLE_BUDGET_CHARS = 295_000
MIN_OUTPUT_CHARS = 16
#: Calls listed in the HTML table / the text: the first ones, the last ones, and failed ones.
HTML_HEAD_CALLS, HTML_TAIL_CALLS, HTML_FAILED_CALLS = 30, 5, 30
TEXT_HEAD_CALLS, TEXT_TAIL_CALLS, TEXT_FAILED_CALLS = 8, 2, 10
PREVIEW_CHARS = 80
CODE_PREVIEW_CHARS = 20_000
STREAM_PREVIEW_CHARS = 4_000
MEASURE_ORDER = ("requests", "context_bytes", "input_tokens", "output_tokens", "wall_s")
MEASURE_LABELS = {"requests": "requests", "context_bytes": "context", "input_tokens": "input tokens",
                  "output_tokens": "output tokens", "wall_s": "wall time", "calls": "calls"}


# -- small formatting helpers (the same units the labextension shows) ---------------------------

def format_seconds(s: float | None) -> str:
    if s is None:
        return ""
    return f"{round(s * 1000)} ms" if s < 1 else f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def format_bytes(n: float) -> str:
    if n < 1024:
        return f"{int(n):,} B"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def format_measure(key: str, value: float) -> str:
    if key.endswith("_bytes"):
        return format_bytes(value)
    if key.endswith("_s"):
        return format_seconds(value)
    return f"{round(value):,}"


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """One line: strings as they are, anything else as compact JSON; clipped with an ellipsis."""
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        except (TypeError, ValueError):
            value = str(value)
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def clip(text: str | None, limit: int) -> str:
    if not text or len(text) <= limit:
        return text or ""
    return text[:limit] + f"\n… [{len(text) - limit:,} more characters]"


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
    items = savings(run.comparison)
    if not items:
        return ""
    parts = [f"{label} {p} vs {d}" + (f" ({c})" if c else "") for label, p, d, c, _ in items]
    return "PTC vs direct: " + ", ".join(parts)


def summary(run: Run) -> str:
    """The one-line headline: status, calls, round trips, time, backend."""
    failed = len(run.errors)
    calls = f"{len(run.calls):,} tool call{'s' if len(run.calls) != 1 else ''}"
    if failed:
        calls += f" ({failed:,} failed)"
    parts = [f"ptc{' (direct)' if run.mode == 'direct' else ''}: {run.status}", calls,
             f"{run.requests} round trip{'s' if run.requests != 1 else ''}"]
    if run.wall_s:
        parts.append(format_seconds(run.wall_s))
    parts.append(run.backend)
    return " · ".join(parts)


def usage_line(run: Run) -> str:
    usage = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in run.usage.items() if isinstance(v, int) and v)
    parts = [f"model {run.model}"]
    if usage:
        parts.append(usage)
    parts.append(f"context from tools {format_bytes(run.context_bytes)}")
    if run.container_id:
        parts.append(f"container {run.container_id}")
    if run.stop_reason:
        parts.append(f"stop {run.stop_reason}")
    return " · ".join(parts)


def listed_calls(calls: list[ToolCall], head: int, tail: int, failed: int) -> list[tuple[int, ToolCall]]:
    """The calls worth listing: the first `head`, the last `tail`, and up to `failed` failed ones."""
    keep = []
    for i, call in enumerate(calls):
        if i < head or i >= len(calls) - tail:
            keep.append((i, call))
        elif call.is_error and failed > 0:
            failed -= 1
            keep.append((i, call))
    return keep


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
    for n, script in enumerate(run.scripts_detail, 1):
        state = (f"exit {script.return_code}" if script.return_code is not None
                 else script.error_code or "unfinished")
        lines.append(f"script {n} ({len(script.code.splitlines())} lines, {state})")
        if script.stdout:
            lines += ["  stdout:", _indent(clip(script.stdout, 1_000))]
        if script.stderr:
            lines += ["  stderr:", _indent(clip(script.stderr, 1_000))]
    if run.calls:
        lines.append("calls:")
        shown = listed_calls(run.calls, TEXT_HEAD_CALLS, TEXT_TAIL_CALLS, TEXT_FAILED_CALLS)
        previous = -1
        for i, call in shown:
            if i != previous + 1:
                lines.append(f"  … {i - previous - 1:,} more")
            previous = i
            mark = "✗ " if call.is_error else ""
            lines.append(f"  #{i + 1} {call.name}({preview(call.input, 60)}) -> {mark}{call.status} "
                         f"{format_seconds(call.duration_s)}: {preview(call.output, 60)}".rstrip())
        if previous != len(run.calls) - 1:
            lines.append(f"  … {len(run.calls) - previous - 1:,} more")
    lines.append(usage_line(run))
    if run.comparison:
        lines.append(savings_line(run))
    return "\n".join(line for line in lines if line is not None)


# -- HTML (no JavaScript) -----------------------------------------------------------------------

# Inline styles only: GitHub, nbviewer and JupyterLab's sanitizer drop <style> elements.
_PRE = ("white-space:pre-wrap;word-break:break-word;margin:2px 0;padding:4px 6px;"
        "background:rgba(127,127,127,.08);max-height:24em;overflow:auto")
_ERR = "color:#b00020"
_MUTED = "opacity:.7"


def _lines(n: int) -> str:
    return f"{n} line{'s' if n != 1 else ''}"


def _stream_block(label: str, text: str | None) -> str:
    if not text:
        return ""
    return f'<div style="{_MUTED}">{label}</div><pre style="{_PRE}">{escape(clip(text, STREAM_PREVIEW_CHARS))}</pre>'


def _scripts_html(run: Run) -> str:
    parts = []
    count = len(run.scripts_detail)
    for n, script in enumerate(run.scripts_detail, 1):
        state = (f"exit {script.return_code}" if script.return_code is not None
                 else script.error_code or "unfinished")
        failed = (script.return_code not in (None, 0)) or script.error_code is not None
        title = f"Script {n} of {count}" if count > 1 else "Script"
        parts.append(
            f'<details{" open" if count == 1 else ""}><summary>{title} · {_lines(len(script.code.splitlines()))} · '
            f'<span style="{_ERR if failed else _MUTED}">{escape(state)}</span></summary>'
            f'<pre style="{_PRE}"><code>{escape(clip(script.code, CODE_PREVIEW_CHARS))}</code></pre>'
            f"{_stream_block('stdout', script.stdout)}{_stream_block('stderr', script.stderr)}</details>"
        )
    return "".join(parts)


def _calls_html(run: Run) -> str:
    if not run.calls:
        return ""
    shown = listed_calls(run.calls, HTML_HEAD_CALLS, HTML_TAIL_CALLS, HTML_FAILED_CALLS)
    failed = len(run.errors)
    rows = []
    previous = -1
    for i, call in shown:
        if i != previous + 1:
            rows.append(f'<tr><td colspan="6" style="{_MUTED}">… {i - previous - 1:,} calls not listed '
                        "(all are in the JSON trace)</td></tr>")
        previous = i
        err = f' style="{_ERR}" data-error="1"' if call.is_error else ""
        status = ("✗ " if call.is_error else "") + call.status
        cells = (str(i + 1), f"<code>{escape(call.name)}</code>", f"<code>{escape(preview(call.input))}</code>",
                 escape(status), escape(format_seconds(call.duration_s)), f"<code>{escape(preview(call.output))}</code>")
        rows.append(f"<tr{err}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if previous != len(run.calls) - 1:
        rows.append(f'<tr><td colspan="6" style="{_MUTED}">… {len(run.calls) - previous - 1:,} calls not '
                    "listed</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("#", "tool", "input", "status", "took", "result"))
    title = f"Tool calls ({len(run.calls):,})" + (f' · <span style="{_ERR}">{failed:,} failed</span>' if failed else "")
    return (f"<details{' open' if len(run.calls) <= 20 or failed else ''}><summary>{title}</summary>"
            f'<table cellpadding="3" style="border-collapse:collapse;font-size:12px"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></details>")


def to_html(run: Run) -> str:
    """Static HTML (no script, no stylesheet): collapsible `<details>` sections, everything escaped."""
    alarm = run.status in ("error", "cancelled")
    body = [('<details class="ptc-trace" open style="font-size:13px;line-height:1.4">'
            f'<summary style="cursor:pointer"><b>{escape(summary(run))}</b></summary>')]
    if run.error:
        body.append(f'<div style="{_ERR}">error: {escape(run.error)}</div>')
    if run.notices:
        items = "".join(f"<li>{escape(n)}</li>" for n in run.notices)
        body.append(f'<ul style="{_ERR if alarm else _MUTED};margin:2px 0">{items}</ul>')
    if run.comparison:
        body.append(f"<div><b>{escape(savings_line(run))}</b></div>")
    if run.text:
        body.append(f'<div style="{_MUTED}">Answer</div>'
                    f'<pre style="{_PRE}">{escape(clip(run.text, STREAM_PREVIEW_CHARS))}</pre>')
    body.append(f'<details><summary>Prompt</summary><pre style="{_PRE}">'
                f"{escape(clip(run.prompt, CODE_PREVIEW_CHARS))}</pre></details>")
    body.append(_scripts_html(run))
    body.append(_calls_html(run))
    body.append(f'<div style="{_MUTED}">{escape(usage_line(run))}</div></details>')
    return "".join(body)


# -- the bundle ---------------------------------------------------------------------------------

def _compact_call(call: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """Times to the millisecond; keys left out where their value is the reader's default
    (`Run.from_dict` and the labextension both fill these back in)."""
    out = {}
    for key, value in call.items():
        if key not in shared and (key, value) in (("is_error", False), ("script_id", None)):
            continue
        out[key] = round(value, 3) if isinstance(value, float) else value
    return out


def _clip_marker(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… [+{len(text) - limit:,} chars]"


def _json_chars(data: Any) -> int:
    return len(json.dumps(data, ensure_ascii=False, default=str))


def trace_json(run: Run, *, budget_chars: int = BUNDLE_BUDGET_CHARS) -> dict[str, Any]:
    """`Run.to_dict()`, bounded: when the trace would exceed the budget, call outputs are clipped
    evenly (never below MIN_OUTPUT_CHARS) until it fits."""
    data = run.to_dict()
    data["wall_s"] = round(data["wall_s"], 3)
    shared, calls = compact_calls(data["calls"])
    calls = data["calls"] = [_compact_call(c, shared) for c in calls]
    data["call_defaults"] = shared
    size = _json_chars(data)
    if calls and size > budget_chars:
        outputs = sum(_json_chars(c.get("output")) for c in calls)
        per_call = max(MIN_OUTPUT_CHARS, (budget_chars - (size - outputs)) // len(calls) - 20)
        for call in calls:
            if isinstance(call.get("output"), str):
                call["output"] = _clip_marker(call["output"], per_call)
    return data


def mime_bundle(run: Run) -> dict[str, Any]:
    """The cell's lasting output: trace JSON + HTML + text (no widget-view key), within the budget
    when the calls' inputs allow (a 1,000-call run with short results stays under 300 KB)."""
    html, text = to_html(run), to_text(run)
    budget = BUNDLE_BUDGET_CHARS - _json_chars(html) - _json_chars(text)
    return {MIME_TYPE: trace_json(run, budget_chars=budget), "text/html": html, "text/plain": text}
