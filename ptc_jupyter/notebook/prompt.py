"""The prompt a `%%ptc` cell body stands for.

In the prose, `{{name}}` (or `{{name.attr}}`) is replaced by `str()` of that kernel variable, and
`\\{{name}}` keeps the braces literally. Fenced code blocks (```` ``` ```` or `~~~`) are never changed,
so code passes through exactly as written (f-strings with `{{literal}}`, dict literals, `$` signs);
outside them only the placeholder pattern is touched. Lines that are only an nbval marker
(`# NBVAL_IGNORE_OUTPUT` ...) are removed. No `str.format`: prompts are full of braces.

A DataFrame (or Series) goes in as a compact description — shape, column types, first rows —
rather than its whole repr; any other value's text is capped (`PROMPT_VALUE_CHARS`) with the
package's visible clip marker, so one `{{big_list}}` cannot flood the context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ptc_jupyter.trace.clipping import clip

NBVAL_LINE = re.compile(r"^[ \t]*#[ \t]*NBVAL_\w+[ \t]*(?:\r?\n|$)", re.MULTILINE)
FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
PLACEHOLDER = re.compile(r"(\\?)\{\{[ \t]*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)[ \t]*\}\}")


PROMPT_VALUE_CHARS = 2_000  # what one interpolated value may add to the prompt
TABLE_ROWS = 5  # rows of a DataFrame shown in its description


class PromptError(ValueError):
    """The cell body cannot become a prompt (empty, or a placeholder without a variable)."""


class MissingName(LookupError):
    """`lookup` found no such variable (`attr` None) or no such attribute of it."""

    def __init__(self, head: str, attr: str | None = None) -> None:
        super().__init__(
            f"no variable named {head!r} in the kernel" if attr is None else f"{head!r} has no attribute {attr!r}"
        )
        self.head, self.attr = head, attr


def lookup(namespace: Mapping[str, Any], dotted: str) -> Any:
    """The kernel value `name` or `name.attr.attr` stands for; `MissingName` says what is missing."""
    head, *attrs = dotted.split(".")
    if head not in namespace:
        raise MissingName(head)
    value = namespace[head]
    for attr in attrs:
        try:
            value = getattr(value, attr)
        except AttributeError:
            raise MissingName(head, attr) from None
    return value


def strip_nbval_markers(text: str) -> str:
    return NBVAL_LINE.sub("", text)


def split_fences(text: str) -> list[tuple[bool, str]]:
    """The text as (is_code, chunk) pieces; a fenced block (fence lines included) is one code piece.
    An unclosed fence runs to the end, as in Markdown."""
    pieces: list[tuple[bool, list[str]]] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                pieces.append((True, [line]))
                continue
            if not pieces or pieces[-1][0]:
                pieces.append((False, []))
            pieces[-1][1].append(line)
        else:
            pieces[-1][1].append(line)
            if (
                match
                and match.group(1)[0] == fence[0]
                and len(match.group(1)) >= len(fence)
                and not line.strip().strip(fence[0])
            ):
                fence = None
    return [(is_code, "".join(lines)) for is_code, lines in pieces]


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Outside fenced code: `{{name}}` / `{{name.attr}}` -> `str()` of the kernel value;
    `\\{{name}}` -> literal `{{name}}`. Code blocks are returned unchanged."""
    return "".join(chunk if is_code else _fill(chunk, namespace) for is_code, chunk in split_fences(text))


def _fill(text: str, namespace: Mapping[str, Any]) -> str:

    def replace(match: re.Match[str]) -> str:
        escaped, path = match.group(1), match.group(2)
        if escaped:
            return match.group(0)[1:]
        try:
            return describe(lookup(namespace, path))
        except MissingName as missing:
            if missing.attr is not None:
                raise PromptError(f"%%ptc: cannot interpolate {{{{{path}}}}}: no attribute {missing.attr!r}") from None
            raise PromptError(
                f"%%ptc: the prompt refers to {{{{{path}}}}} but the kernel has no variable "
                f"{missing.head!r} (write \\{{{{{path}}}}} for literal braces)"
            ) from None

    return PLACEHOLDER.sub(replace, text)


def describe(value: Any) -> str:
    """The text a kernel value stands for in a prompt: tables described, anything else capped."""
    if _is_table(value):
        return clip(_describe_table(value), PROMPT_VALUE_CHARS)
    return clip(str(value), PROMPT_VALUE_CHARS)


def _is_table(value: Any) -> bool:
    """A pandas DataFrame or Series, recognised without importing pandas."""
    return type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "shape") and hasattr(value, "head")


def _describe_table(table: Any) -> str:
    if getattr(table, "ndim", 2) == 1:  # a Series
        head = table.head(TABLE_ROWS).to_string()
        return f"Series {table.name!r} of {len(table):,} values (dtype {table.dtype}); first {TABLE_ROWS}:\n{head}"
    rows, columns = table.shape
    kinds = ", ".join(f"{name} ({dtype})" for name, dtype in table.dtypes.items())
    shown = min(rows, TABLE_ROWS)
    return (
        f"DataFrame of {rows:,} rows × {columns:,} columns: {kinds}\nfirst {shown} rows:\n"
        f"{table.head(TABLE_ROWS).to_string(max_colwidth=60)}"
    )


def build_prompt(cell: str, namespace: Mapping[str, Any]) -> str:
    """The prompt a cell body stands for: nbval markers removed, `{{...}}` filled in."""
    prompt = interpolate(strip_nbval_markers(cell or ""), namespace).strip("\n")
    if not prompt.strip():
        raise PromptError("%%ptc: the cell body is the prompt, and it is empty")
    return prompt
