"""What a `%%ptc` line and cell body mean: the typed options of one run, and the prompt.

The magic only parses; the run gets a `CellOptions` and a prompt string. Every mistake here is a
one-line `UsageError`, never a traceback.

Prompt interpolation: in the prose, `{{name}}` (or `{{name.attr}}`) is replaced by `str()` of that
kernel variable, and `\\{{name}}` keeps the braces literally. Fenced code blocks (```` ``` ```` or
`~~~`) are never changed, so code passes through exactly as written (f-strings with `{{literal}}`,
dict literals, `$` signs); outside them only the placeholder pattern is touched. Lines that are
only an nbval marker (`# NBVAL_IGNORE_OUTPUT` ...) are removed from the prompt.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .tools import registry

NBVAL_LINE = re.compile(r"^[ \t]*#[ \t]*NBVAL_\w+[ \t]*(?:\r?\n|$)", re.MULTILINE)
FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
PLACEHOLDER = re.compile(r"(\\?)\{\{[ \t]*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)[ \t]*\}\}")


@dataclass(frozen=True)
class CellOptions:
    """Everything one `%%ptc` run needs besides the prompt (line options over `%config` defaults)."""

    out: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    max_calls: int | None = None
    tool_timeout_s: float | None = None
    offline: bool | None = None
    new_container: bool = False
    container: str | None = None
    direct: bool = False
    compare: bool = False
    record: str | None = None
    replay: str | None = None
    yes: bool = False
    tools: tuple[str, ...] | None = None  # None: every registered tool
    stream: bool = False
    code_execution: str = "code_execution_20260120"
    executor: Any = None
    live: bool | None = None  # None: a live widget view when the frontend can show one
    approval_timeout_s: float = 120.0
    update_interval_s: float = 0.25


def ptc_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """The `%%ptc` options (decorate the magic with it, so `%%ptc?` shows them)."""
    decorators = [
        magic_arguments(name="%ptc"),  # the usage line then reads "%%ptc ..."
        argument("-o", "--out", metavar="VAR", help="store the Run in this variable"),
        argument("--model", help="model name (default: PTCMagics.model)"),
        argument("--max-tokens", type=int, metavar="N", dest="max_tokens", help="max_tokens per request"),
        argument("--max-calls", type=int, metavar="N", dest="max_calls",
                 help="budget of tool calls for the run; more get an error result"),
        argument("--tool-timeout", type=float, metavar="SECONDS", dest="tool_timeout",
                 help="time limit of one tool call"),
        argument("--offline", action="store_true", default=None,
                 help="use the local emulator (the prompt's ```python block is Claude's script)"),
        argument("--new-container", action="store_true", dest="new_container",
                 help="start a fresh code-execution container (forget the REPL state)"),
        argument("--container", metavar="ID", help="resume this container"),
        argument("--direct", action="store_true", help="classic tool calling, no code execution"),
        argument("--compare", action="store_true",
                 help="run with PTC, then directly; the trace shows what PTC saved"),
        argument("--tools", metavar="A,B", help="offer only these registered tools (comma separated)"),
        argument("--yes", action="store_true", default=None,
                 help="approve every side-effect call without asking (unattended runs)"),
        argument("--stream", action="store_true", default=None,
                 help="stream responses (the default: the script shows while it is written)"),
        argument("--no-stream", action="store_false", dest="stream", help="one JSON response per request"),
        argument("--executor", metavar="NAME",
                 help="kernel variable holding a concurrent.futures.Executor for sync tools"),
        argument("--record", metavar="PATH", help="save the API exchange to PATH (JSON lines, no key)"),
        argument("--replay", metavar="PATH", help="answer from a --record file instead of the API"),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def _usage(message: str) -> UsageError:
    return UsageError(message.replace("\n", " "))


def parse_cell_options(magic: Callable[..., Any], line: str, defaults: Mapping[str, Any]) -> CellOptions:
    """Parse a `%%ptc` line; what the line leaves out comes from `defaults` (the traitlets)."""
    try:
        args = parse_argstring(magic, line)
    except ValueError as exc:  # shlex: unbalanced quotes
        raise _usage(f"%%ptc: cannot parse the options ({exc})") from None
    if args.out is not None and not args.out.isidentifier():
        raise _usage(f"%%ptc: -o/--out needs a Python variable name, got {args.out!r}")
    for name, value, low in (("--max-tokens", args.max_tokens, 1), ("--max-calls", args.max_calls, 0)):
        if value is not None and value < low:
            raise _usage(f"%%ptc: {name} must be >= {low}, got {value}")
    if args.tool_timeout is not None and not args.tool_timeout > 0:
        raise _usage(f"%%ptc: --tool-timeout must be a positive number of seconds, got {args.tool_timeout}")
    if args.direct and args.compare:
        raise _usage("%%ptc: --compare already runs both ways; leave out --direct")
    if args.record and args.replay:
        raise _usage("%%ptc: use --record or --replay, not both")
    if args.replay and not os.path.isfile(args.replay):
        raise _usage(f"%%ptc: --replay file not found: {args.replay}")
    tools = None
    if args.tools is not None:
        tools = tuple(t.strip() for t in args.tools.split(",") if t.strip())
        unknown = [t for t in tools if t not in registry]
        if unknown or not tools:
            known = ", ".join(registry.names()) or "none registered"
            raise _usage(f"%%ptc: unknown tool(s) {', '.join(unknown) or '(empty --tools)'}; registered: {known}")

    def pick(value: Any, key: str) -> Any:
        return defaults.get(key) if value is None else value

    return CellOptions(
        out=args.out,
        model=pick(args.model, "model"),
        max_tokens=pick(args.max_tokens, "max_tokens"),
        max_calls=pick(args.max_calls, "max_calls"),
        tool_timeout_s=pick(args.tool_timeout, "tool_timeout"),
        offline=pick(args.offline, "offline"),
        new_container=args.new_container,
        container=args.container,
        direct=args.direct,
        compare=args.compare,
        record=args.record,
        replay=args.replay,
        yes=bool(pick(args.yes, "yes")),
        tools=tools,
        stream=bool(pick(args.stream, "stream")),
        code_execution=defaults.get("code_execution") or CellOptions.code_execution,
        executor=args.executor or defaults.get("executor"),
        live=defaults.get("live"),
        approval_timeout_s=float(defaults.get("approval_timeout") or CellOptions.approval_timeout_s),
        update_interval_s=float(defaults.get("update_interval") or CellOptions.update_interval_s),
    )


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
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                    and not line.strip().strip(fence[0]):
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
        head, *attrs = path.split(".")
        if head not in namespace:
            raise _usage(f"%%ptc: the prompt refers to {{{{{path}}}}} but the kernel has no variable {head!r} "
                         f"(write \\{{{{{path}}}}} for literal braces)")
        value = namespace[head]
        for attr in attrs:
            try:
                value = getattr(value, attr)
            except AttributeError:
                raise _usage(f"%%ptc: cannot interpolate {{{{{path}}}}}: no attribute {attr!r}") from None
        return str(value)

    return PLACEHOLDER.sub(replace, text)


def build_prompt(cell: str, namespace: Mapping[str, Any]) -> str:
    """The prompt a cell body stands for: nbval markers removed, `{{...}}` filled in."""
    prompt = interpolate(strip_nbval_markers(cell or ""), namespace).strip("\n")
    if not prompt.strip():
        raise _usage("%%ptc: the cell body is the prompt, and it is empty")
    return prompt
