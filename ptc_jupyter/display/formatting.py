"""How values become short display text, the same in every view.

One clip marker (`… [+N chars]`) for everything cut short: saved call outputs, table cells,
streams, scripts. The units match the labextension's `format.ts`; the step texts (`step_state`,
`editor_diff`) match its `steps.ts`.
"""

from __future__ import annotations

import json
from typing import Any

from ptc_jupyter.pricing import format_usd

#: Inline styles of the HTML views (no stylesheet reaches GitHub or nbviewer).
PRE_STYLE = (
    "white-space:pre-wrap;word-break:break-word;margin:2px 0;padding:4px 6px;"
    "background:rgba(127,127,127,.08);max-height:24em;overflow:auto"
)
ERROR_STYLE = "color:#b00020"
MUTED_STYLE = "opacity:.7"


def format_seconds(s: float | None) -> str:
    if s is None:
        return ""
    return f"{round(s * 1000)} ms" if s < 1 else f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def format_bytes(n: float) -> str:
    if n < 1024:
        return f"{int(n):,} B"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def format_measure(key: str, value: float) -> str:
    """By the unit the key names (`_bytes`, `_s`, `_usd`), else as a count."""
    if key.endswith("_usd"):
        return format_usd(value)
    if key.endswith("_bytes"):
        return format_bytes(value)
    if key.endswith("_s"):
        return format_seconds(value)
    return f"{round(value):,}"


def format_cost(cost: dict[str, Any] | None) -> str:
    """An estimated cost (`Run.cost`) as every view shows it: `≈ $0.0123 (estimate)`."""
    total = (cost or {}).get("total_usd")
    if not isinstance(total, (int, float)) or isinstance(total, bool):
        return ""
    return f"≈ {format_usd(total)}{' (estimate)' if (cost or {}).get('estimate', True) else ''}"


# -- steps (read through their attributes: `steps.Step`) -----------------------------------------

STEP_LABELS = {"python": "Python", "bash": "Bash", "editor": "Text editor"}


def step_label(step: Any) -> str:
    """What a step is: Python, Bash, Text editor, or the server tool's own name."""
    return STEP_LABELS.get(step.kind, step.name)


def cell_limit_text(seconds: float) -> str:
    return f"cell time limit ({seconds:g} s) reached"


def step_state(step: Any) -> str:
    """How a step ended: `exit 0`, an error code (and message), the cell time limit, what an
    editor did, the type of a result this version does not know, or `unfinished`."""
    if step.error_code is not None:
        return step.error_code + (f": {step.error_message}" if step.error_message else "")
    if step.cell_timeout_s is not None:
        return cell_limit_text(step.cell_timeout_s)
    if step.return_code is not None:
        return f"exit {step.return_code}"
    kind = step.result_type
    if kind is None:
        return "unfinished"
    detail = step.detail or {}
    if kind.endswith("_create_result"):
        return "file updated" if detail.get("is_file_update") else "file created"
    if kind.endswith("_view_result"):
        shown, total = detail.get("num_lines"), detail.get("total_lines")
        return f"viewed {shown} of {total} lines" if shown is not None and total is not None else "viewed"
    if kind.endswith("_str_replace_result"):
        return "replaced"
    return f"result {kind}"


def step_failed(step: Any) -> bool:
    return step.status in ("failed", "timeout", "error")


def editor_diff(step: Any) -> list[str]:
    """The lines a str_replace changed, as a diff: the result's own `lines` (with its `@@` header),
    else `-` the input's old_str and `+` its new_str."""
    detail, given = step.detail or {}, step.input
    out = []
    if all(isinstance(detail.get(k), int) for k in ("old_start", "old_lines", "new_start", "new_lines")):
        out.append(f"@@ -{detail['old_start']},{detail['old_lines']} +{detail['new_start']},{detail['new_lines']} @@")
    lines = detail.get("lines")
    if isinstance(lines, list) and lines:
        return out + [str(line) for line in lines]
    old, new = given.get("old_str"), given.get("new_str")
    if isinstance(old, str) or isinstance(new, str):
        out += [f"-{line}" for line in str(old or "").split("\n")] + [f"+{line}" for line in str(new or "").split("\n")]
    return out


def step_result_text(step: Any) -> str | None:
    """What a non-stream step returned, as text: the view content, the create'd text, the diff,
    or the JSON of a result this version does not know."""
    detail = step.detail or {}
    kind = step.result_type or ""
    if kind.endswith("_view_result"):
        content = detail.get("content")
        if detail.get("file_type", "text") != "text":
            return f"({detail.get('file_type')} content, {len(str(content or '')):,} chars)"
        return content if isinstance(content, str) else None
    if kind.endswith("_str_replace_result") or step.input.get("command") == "str_replace":
        return "\n".join(editor_diff(step)) or None
    if step.kind == "editor" and isinstance(step.input.get("file_text"), str):
        return step.input["file_text"]
    if step.detail and step.kind != "editor":
        return json.dumps(step.detail.get("content", step.detail), ensure_ascii=False, indent=1, default=str)
    return None
