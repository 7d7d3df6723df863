"""The Wire view as JavaScript-free HTML: one `<details>` per API round trip, and PTC vs direct side by side.

Each round trip's summary says what went out, what came back, the stop reason and the bytes that
entered Claude's context; opened, it shows the request and the response as JSON with the PTC parts
marked (the `marks` the record computed, `trace/exchanges.py`), so this view, the live view and the
labextension mark the same things. It reads the saved form (`Run.to_dict()`'s `exchanges`).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from ptc_jupyter.display.formatting import ERROR_STYLE, MUTED_STYLE, PRE_STYLE, format_bytes

__all__ = ["compare_html", "json_html", "round_trip_summary", "wire_html"]

#: A background per PTC part (inline: no stylesheet reaches GitHub or nbviewer).
PART_COLORS = {
    "code_execution_tool": "rgba(33,150,243,.16)",
    "allowed_callers": "rgba(33,150,243,.16)",
    "container": "rgba(156,39,176,.16)",
    "server_tool_use": "rgba(76,175,80,.2)",
    "tool_use_from_script": "rgba(255,152,0,.2)",
    "tool_use_direct": "rgba(244,67,54,.16)",
    "tool_results_only": "rgba(255,193,7,.2)",
    "code_execution_tool_result": "rgba(0,150,136,.18)",
}
BAR_STYLE = "display:inline-block;height:9px;vertical-align:middle;background:{color};width:{width}px"
BAR_PX = 160


def _key(key: str) -> str:
    return escape(json.dumps(key, ensure_ascii=False))


def json_html(value: Any, marks: dict[str, dict[str, str]], path: str = "", indent: int = 0) -> str:
    """`value` as indented JSON, escaped; each subtree whose JSON Pointer is in `marks` highlighted
    and followed by its label (`← the script (server_tool_use)`)."""
    pad = "  " * indent
    if isinstance(value, dict) and value:
        items = [
            f"{pad}  {_key(k)}: {json_html(v, marks, f'{path}/{_pointer_part(k)}', indent + 1)}"
            for k, v in value.items()
        ]
        text = "{\n" + ",\n".join(items) + f"\n{pad}}}"
    elif isinstance(value, list) and value:
        items = [f"{pad}  {json_html(v, marks, f'{path}/{i}', indent + 1)}" for i, v in enumerate(value)]
        text = "[\n" + ",\n".join(items) + f"\n{pad}]"
    else:
        text = escape(json.dumps(value, ensure_ascii=False))
    mark = marks.get(path)
    if mark is None:
        return text
    color = PART_COLORS.get(mark.get("part", ""), "rgba(127,127,127,.2)")
    label = escape(mark.get("label", mark.get("part", "")))
    return (
        f'<span data-part="{escape(mark.get("part", ""))}" style="background:{color}">{text}</span>'
        f'<b style="{MUTED_STYLE}">  ← {label}</b>'
    )


def _pointer_part(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def round_trip_summary(exchange: dict[str, Any]) -> str:
    """`#2 → 2 tool_results (1.6 KB) ← script result, text · end_turn · context +11 B · 214 in / 10 out tokens`."""
    parts = [
        f"#{exchange.get('index')} → {exchange.get('sent') or '?'} ({format_bytes(exchange.get('request_bytes') or 0)})",
        f"← {exchange.get('received') or exchange.get('error') or 'no response'}",
    ]
    if exchange.get("stop_reason"):
        parts.append(str(exchange["stop_reason"]))
    parts.append(f"context +{format_bytes(exchange.get('context_bytes') or 0)}")
    tokens_in, tokens_out = exchange.get("input_tokens"), exchange.get("output_tokens")
    if isinstance(tokens_in, int) and isinstance(tokens_out, int):
        parts.append(f"{tokens_in:,} in / {tokens_out:,} out tokens")
    return " · ".join(parts)


def _round_trip_html(exchange: dict[str, Any]) -> str:
    marks = {m["path"]: m for m in exchange.get("marks") or [] if isinstance(m, dict) and "path" in m}
    notes = []
    if exchange.get("earlier_messages"):
        notes.append(
            f"messages: only the new ones; the {exchange['earlier_messages']:,} before them were sent "
            "again as they were"
        )
    if exchange.get("tools_as_in"):
        notes.append(f"tools: the same as in round trip #{exchange['tools_as_in']}, sent again")
    note_html = "".join(f'<div style="{MUTED_STYLE}">{escape(n)}</div>' for n in notes)
    request = json_html(exchange.get("request"), marks, "/request")
    response = (
        json_html(exchange.get("response"), marks, "/response")
        if exchange.get("response") is not None
        else f'<span style="{ERROR_STYLE}">{escape(exchange.get("error") or "no response")}</span>'
    )
    streamed = " (streamed, assembled)" if exchange.get("streamed") else ""
    return (
        f'<details class="ptc-wire-trip"><summary><code>{escape(round_trip_summary(exchange))}</code></summary>'
        f'<div style="{MUTED_STYLE}">request (body only: no headers, no key)</div>{note_html}'
        f'<pre style="{PRE_STYLE}">{request}</pre>'
        f'<div style="{MUTED_STYLE}">response{streamed}</div><pre style="{PRE_STYLE}">{response}</pre></details>'
    )


def wire_html(trace: dict[str, Any], *, open_: bool = False) -> str:
    """The Wire section of a saved trace (`Run.to_dict()`); empty if it has no exchanges."""
    exchanges = [e for e in trace.get("exchanges") or [] if isinstance(e, dict)]
    if not exchanges:
        return ""
    rows, previous = [], 0
    omitted = trace.get("exchanges_omitted") or 0
    for exchange in exchanges:
        index = exchange.get("index") or 0
        if index > previous + 1:
            rows.append(
                f'<div style="{MUTED_STYLE}">… {index - previous - 1:,} round trips left out of the saved trace</div>'
            )
        previous = index
        rows.append(_round_trip_html(exchange))
    legend = trace.get("wire_legend") or {}
    legend_html = "".join(
        f'<div><span style="background:{PART_COLORS.get(part, "")}">&nbsp;&nbsp;&nbsp;</span> {escape(text)}</div>'
        for part, text in legend.items()
    )
    count = len(exchanges) + omitted
    return (
        f'<details class="ptc-wire"{" open" if open_ else ""}><summary>Wire ({count:,} round trip'
        f'{"s" if count != 1 else ""})</summary><div style="{MUTED_STYLE};font-size:12px">{legend_html}</div>'
        f"{''.join(rows)}</details>"
    )


def _bar(value: int, top: int, color: str) -> str:
    width = max(1, round(BAR_PX * value / top)) if value and top else 0
    return f'<span style="{BAR_STYLE.format(color=color, width=width)}"></span> {escape(format_bytes(value))}'


def compare_html(comparison: dict[str, Any] | None) -> str:
    """PTC and direct round trip by round trip, with a bar of context bytes per request; empty if not compared."""
    sides = {side: (comparison or {}).get(side) for side in ("ptc", "direct")}
    rows_by_side = {
        side: {r.get("index"): r for r in (f or {}).get("wire") or [] if isinstance(r, dict)}
        for side, f in sides.items()
        if isinstance(f, dict)
    }
    if len(rows_by_side) < 2 or not all(rows_by_side.values()):
        return ""
    top = max((r.get("context_bytes") or 0) for rows in rows_by_side.values() for r in rows.values()) or 1
    indices = sorted({i for rows in rows_by_side.values() for i in rows if isinstance(i, int)})
    colors = {"ptc": "#2e7d32", "direct": "#c62828"}
    body = []
    for i in indices:
        cells = [f"<td>#{i}</td>"]
        for side in ("ptc", "direct"):
            row = rows_by_side[side].get(i)
            if row is None:
                cells.append(f'<td style="{MUTED_STYLE}">—</td><td></td>')
                continue
            what = f"→ {row.get('sent', '')} ← {row.get('received', '')} · {row.get('stop_reason') or ''}"
            cells.append(
                f"<td><code>{escape(what)}</code></td>"
                f'<td style="white-space:nowrap">{_bar(row.get("context_bytes") or 0, top, colors[side])}</td>'
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    head = (
        "<tr><th>round trip</th><th>PTC: sent / received</th><th>PTC: context</th>"
        "<th>direct: sent / received</th><th>direct: context</th></tr>"
    )
    return (
        '<details class="ptc-wire-compare" open><summary>Wire: PTC vs direct, round trip by round trip</summary>'
        f'<table cellpadding="3" style="border-collapse:collapse;font-size:12px"><thead>{head}</thead>'
        f'<tbody>{"".join(body)}</tbody></table><div style="{MUTED_STYLE}">bars: bytes of tool output that '
        "entered Claude's context with each round trip</div></details>"
    )
