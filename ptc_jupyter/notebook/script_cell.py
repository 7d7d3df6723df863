"""Claude's script as a kernel cell: the same code, its tool calls run here, with no model involved.

In the container each tool is an async function taking one dict and returning the result text.
`tool_functions()` gives the kernel the same functions: each call is validated and run by the
dispatcher exactly as in a run (the same text, "Error: ..." results included, side-effect tools
approved as `ptc.run` approves them). `cell_source()` is the cell `%ptc_script` puts below: a header,
`bind_tools(globals())`, then the script unchanged. No IPython import at module level.

A script ending with `asyncio.run(main())` runs too: the kernel's loop already runs, so the
extension's input transformer (`magics.script_cell_transformer`) has a script cell's module-level
`asyncio.run(X)` run as `await (X)` (IPython's autoawait), as the sandbox's REPL does
(`sandbox/event_loop_calls.py`). The cell's text stays as Claude wrote it.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import sys
import types
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from concurrent.futures import Executor
from typing import Any

from ptc_jupyter.calls.dispatch import Approver, Dispatcher
from ptc_jupyter.calls.tools import Tool, registry
from ptc_jupyter.constants import CODE_EXECUTION_CALLER, DEFAULT_TOOL_TIMEOUT_S, SCRIPT_CELL_IMPORT
from ptc_jupyter.notebook.prompt import MissingName, lookup
from ptc_jupyter.sandbox.arguments import string_parameter
from ptc_jupyter.trace.run import Run, ToolCall

#: The line of a script cell that makes the tool names call the tools.
BIND_LINE = SCRIPT_CELL_IMPORT + "; bind_tools(globals())"
BIND_COMMENT = "  # the tool names call the tools until this cell ends"
#: How much of the prompt's first line names a run in the header (when no variable does).
LABEL_CHARS = 60
CLIPPED_NOTE = "# note: the saved trace clipped this script; its end is missing"
#: For a script that reads the container's input files (`--file`): the kernel has no $INPUT_DIR.
INPUT_DIR_NOTE = (
    "# note: this script reads $INPUT_DIR, the container's input files; here, first set "
    "os.environ['INPUT_DIR'] to a folder holding them"
)
_CLIPPED = re.compile(r"… \[\+[\d,]+ chars\]$")  # formatting.clip_marker's, at the very end
_MISSING = object()


class ScriptCellError(ValueError):
    """Why `%ptc_script` cannot make a cell (one line; the magic shows it as a UsageError)."""


# -- the tool functions ------------------------------------------------------------------------
def _payload(tool: Tool, args: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The input the container would send: a dict, keyword arguments or both; as JSON carries it."""
    if args is None:
        payload = dict(kwargs)
    elif isinstance(args, dict):
        payload = {**args, **kwargs}
    elif isinstance(args, str) and not kwargs and (name := string_parameter(tool.input_schema)) is not None:
        payload = {name: args}
    else:
        raise TypeError(f"{tool.name}() takes one dict of arguments or keyword arguments, not {type(args).__name__}")
    return json.loads(json.dumps(payload))  # a TypeError here, as in the container


async def _deny_without_asking(call: ToolCall, tool: Tool) -> str:
    """The approver where nothing can ask (a notebook kernel: no terminal), saying how to allow."""
    return "(no way to ask for approval here; bind_tools(globals(), yes=True) allows side-effect calls)"


def tool_functions(
    tools: Iterable[str | Tool | Callable[..., Any]] | None = None,
    *,
    yes: bool = False,
    approve: Approver | None = None,
    tool_timeout: float | None = DEFAULT_TOOL_TIMEOUT_S,
    executor: Executor | None = None,
) -> dict[str, Callable[..., Any]]:
    """Name -> async function, as Claude's code has them: `await name({...})` returns the text the
    script would have got. `tools`: as `ptc.run`'s (default: every registered tool Claude's code
    may call). Each call goes through the dispatcher (validation, timeout, result capping; errors
    come back as "Error: ..." text, not raised); side-effect tools ask as `ptc.run` does (`yes`,
    `approve`, a terminal), and where nothing can ask they are denied."""
    from ptc_jupyter.api import default_approver  # the host and SDK, only when tools are bound

    chosen = [t for t in registry if t.programmatic] if tools is None else registry.select(tools)
    approver = default_approver(yes, approve) or _deny_without_asking
    dispatcher = Dispatcher(
        executor,
        timeout_s=tool_timeout,
        approve=approver,
        on_notice=lambda message: print(f"ptc: {message}", file=sys.stderr),
    )
    return {t.name: _tool_function(t, dispatcher) for t in chosen}


def _tool_function(tool: Tool, dispatcher: Dispatcher) -> Callable[..., Any]:
    counter = itertools.count(1)

    async def call_tool(args: Any = None, /, **kwargs: Any) -> str:
        call = ToolCall(
            id=f"kernel_{tool.name}_{next(counter)}",
            name=tool.name,
            input=_payload(tool, args, kwargs),
            caller=CODE_EXECUTION_CALLER,
        )
        await dispatcher.run_batch([call], {tool.name: tool})
        return call.output or ""

    call_tool.__name__ = call_tool.__qualname__ = tool.name
    call_tool.__doc__ = f"Call the tool {tool.name!r} in this kernel; returns its result text.\n\n{tool.description}"
    return call_tool


def bind_tools(
    namespace: MutableMapping[str, Any], tools: Iterable[str | Tool | Callable[..., Any]] | None = None, **settings: Any
) -> None:
    """Put `tool_functions(tools, **settings)` into `namespace` under the tools' names.

    In an IPython cell (namespace = the user's), the names get their former values back when the
    cell ends, so your own functions of the same names are not replaced for good."""
    functions = {name: f for name, f in tool_functions(tools, **settings).items() if name.isidentifier()}
    shell = _shell_of(namespace)
    if shell is None:
        namespace.update(functions)
        return
    restorer = _restorers.get(id(shell))
    if restorer is None:
        restorer = _restorers[id(shell)] = _Restorer(shell, namespace)
    restorer.bind(functions)


def _shell_of(namespace: Mapping[str, Any]) -> Any:
    """The running IPython shell whose user namespace this is, or None."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if shell is not None and getattr(shell, "user_ns", None) is namespace else None


_restorers: dict[int, _Restorer] = {}


class _Restorer:
    """Puts back what the bound tool names held before, once the running cell ends."""

    def __init__(self, shell: Any, namespace: MutableMapping[str, Any]) -> None:
        self.shell, self.namespace = shell, namespace
        self.saved: dict[str, Any] = {}  # name -> its value before the first bind of this cell
        self.bound: dict[str, Any] = {}  # name -> the tool function bound last
        shell.events.register("post_run_cell", self.restore)

    def bind(self, functions: Mapping[str, Any]) -> None:
        for name, function in functions.items():
            self.saved.setdefault(name, self.namespace.get(name, _MISSING))
            self.namespace[name] = self.bound[name] = function

    def restore(self, *_result: Any) -> None:
        self.shell.events.unregister("post_run_cell", self.restore)
        _restorers.pop(id(self.shell), None)
        for name, function in self.bound.items():
            if self.namespace.get(name, _MISSING) is not function:  # the script rebound it: keep that
                continue
            previous = self.saved[name]
            if previous is _MISSING:
                del self.namespace[name]
            else:
                self.namespace[name] = previous


# -- the cell ----------------------------------------------------------------------------------
def run_label(run: Run) -> str:
    """How a header names a run no variable names: the prompt's first line, quoted, at most LABEL_CHARS."""
    line = next((ln.strip() for ln in run.prompt.splitlines() if ln.strip()), "")
    if len(line) > LABEL_CHARS:
        line = line[: LABEL_CHARS - 1] + "…"
    return json.dumps(line, ensure_ascii=False)


def cell_source(run: Run, n: int | None = None, *, label: str | None = None) -> str:
    """Script `n` (1-based; default: the last) of `run` as a cell that runs in this kernel: a header
    comment, the line that binds the tools, then the script exactly as Claude wrote it.

    `label` names the run in the header (e.g. the variable holding it; default: its prompt)."""
    scripts = run.scripts
    if not scripts:
        raise ScriptCellError(f"run {label or run_label(run)} has no scripts (Claude ran no Python code in it)")
    n = len(scripts) if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(scripts):
        count = "1 script" if len(scripts) == 1 else f"{len(scripts)} scripts"
        raise ScriptCellError(f"run {label or run_label(run)} has {count}; N must be 1..{len(scripts)}, got {n!r}")
    code = scripts[n - 1]
    of = f" (of {len(scripts)})" if len(scripts) > 1 else ""
    header = [f"# Claude's script {n}{of} of run {label or run_label(run)}; tools run in this kernel"]
    if _CLIPPED.search(code):
        header.append(CLIPPED_NOTE)
    if "INPUT_DIR" in code:
        header.append(INPUT_DIR_NOTE)
    return "\n".join([*header, BIND_LINE + BIND_COMMENT, code])


def source_for_line(line: str, namespace: Mapping[str, Any]) -> str:
    """`%ptc_script [RUN] [N]`: RUN a variable holding a `Run` (default: `ptc_jupyter.last`), N the
    script number (default: the last)."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise ScriptCellError(f"cannot split the line ({exc})") from None
    if len(words) > 2:
        raise ScriptCellError(f"takes at most RUN and N, got {len(words)} arguments: {line.strip()}")
    if len(words) == 1 and words[0].lstrip("-").isdigit():
        words = ["", words[0]]
    name, number = (words + ["", ""])[:2]
    n = None
    if number:
        try:
            n = int(number)
        except ValueError:
            raise ScriptCellError(f"N must be a script number, got {number!r}") from None
    if name:
        run = _variable(namespace, name)
        if not isinstance(run, Run):
            raise ScriptCellError(
                f"{name!r} holds a {type(run).__name__}, not a Run "
                f"(keep one with %%ptc -o {name} or {name} = ptc.run(...))"
            )
        return cell_source(run, n, label=name)
    api = sys.modules.get("ptc_jupyter.api")
    run = getattr(api, "last", None) if isinstance(api, types.ModuleType) else None
    if run is None:
        raise ScriptCellError("no run yet: run a %%ptc cell (or ptc.run) first, or name a variable holding a Run")
    return cell_source(run, n)


def _variable(namespace: Mapping[str, Any], dotted: str) -> Any:
    try:
        return lookup(namespace, dotted)
    except MissingName as missing:
        raise ScriptCellError(str(missing)) from None
