"""`%load_ext ptc_jupyter`: the `%%ptc` cell magic, `%ptc_tool`, `%ptc_tools`, and their defaults.

The magics parse and hand over: a cell's line becomes `CellOptions` (cell_options.py), its body a
prompt (prompt.py), and `CellRun` (cell_run.py) runs it. Loading stays light: the SDK, the widgets
and the emulator are imported by the first run, not by `%load_ext`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from collections.abc import Callable
from html import escape
from typing import Any

from IPython.core.async_helpers import _asyncio_runner
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ptc_jupyter.calls.tools import ToolDefinitionError, registry, tool
from ptc_jupyter.constants import SCRIPT_CELL_IMPORT
from ptc_jupyter.notebook.line_options import CellOptions, config_traits, parse_cell_options, ptc_arguments
from ptc_jupyter.notebook.prompt import MissingName, PromptError, build_prompt, lookup
from ptc_jupyter.sandbox.event_loop_calls import await_loop_calls

MCP_MAGICS = "ptc_jupyter.mcp.magics"
SERVE_MAGICS = "ptc_jupyter.notebook.serve"


def _lookup(namespace: dict[str, Any], dotted: str) -> Any:
    try:
        return lookup(namespace, dotted)
    except MissingName as missing:
        raise UsageError(f"%ptc_tool: {missing}") from None


#: The `%config PTCMagics.<name>` defaults, generated from `RunOptions` (one definition per setting).
_Configurable = type("_PTCMagicsConfig", (Magics,), config_traits())


@magics_class
class PTCMagics(_Configurable):  # type: ignore[misc, valid-type]
    """Programmatic Tool Calling magics. Defaults: `%config PTCMagics.<name> = value`."""

    conversation: Any = None  # the latest %%ptc cell's conversation (a ptc.Conversation)

    def _config(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.trait_names(config=True)}

    def _prepare(self, line: str, cell: str) -> tuple[CellOptions, str]:
        options = parse_cell_options(self.ptc, line, self._config(), self.shell.user_ns)
        try:
            return options, build_prompt(cell, self.shell.user_ns)
        except PromptError as exc:
            raise UsageError(str(exc).replace("\n", " ")) from None

    @ptc_arguments
    @cell_magic
    def ptc(self, line: str, cell: str) -> None:
        """Send the cell body to Claude with code execution and your registered tools.

        The body is the prompt. In its prose, `{{name}}` (or `{{name.attr}}`) inserts str() of a kernel
        variable and `\\{{name}}` keeps the braces; fenced code blocks are sent exactly as written.
        `# NBVAL_...` marker lines are dropped. Offline, the prompt's ```python block is the script.
        The cell's output is the trace; `-o VAR` (and `ptc_jupyter.last`) keep the `Run`.
        """
        from ptc_jupyter.notebook.cell_run import CellRun

        options, prompt = self._prepare(line, cell)
        CellRun(
            self.shell,
            options,
            prompt,
            mode="thread",
            conversation=self._conversation_for(options),
            source=cell_source_key(self.shell, cell),
        ).play_sync()

    @cell_magic
    def ptc_async(self, line: str, cell: str) -> Any:
        """Internal: what `%%ptc` becomes when the kernel can await it (returns a coroutine)."""
        from ptc_jupyter.notebook.cell_run import CellRun

        options, prompt = self._prepare(line, cell)
        return CellRun(
            self.shell,
            options,
            prompt,
            mode="await",
            conversation=self._conversation_for(options),
            source=cell_source_key(self.shell, cell),
        ).play_async()

    def _conversation_for(self, options: CellOptions) -> Any:
        """The previous cell's conversation with --continue; otherwise a new one, which the next
        --continue will continue."""
        from ptc_jupyter.conversation import Conversation

        if not options.continue_conversation or self.conversation is None:
            self.conversation = Conversation()
        return self.conversation

    @line_magic
    def ptc_new(self, line: str) -> None:
        """Start a new conversation: the next `%%ptc --continue` has nothing to continue."""
        if line.strip():
            raise UsageError("%ptc_new takes no arguments")
        self.conversation = None
        print("ptc: the next %%ptc cell starts a new conversation")

    @magic_arguments()
    @argument("names", nargs="+", metavar="NAME", help="functions in the namespace (a.b for attributes)")
    @argument("--direct", action="store_true", help="Claude may also call it directly")
    @argument(
        "--side-effects",
        action="store_true",
        dest="side_effects",
        help="each call needs approval; direct-only unless --allow-code",
    )
    @argument(
        "--allow-code",
        action="store_true",
        dest="allow_code",
        help="with --side-effects: Claude's code may call it too",
    )
    @line_magic
    def ptc_tool(self, line: str) -> None:
        """Register existing functions as PTC tools: %ptc_tool NAME [NAME ...] [--direct] [--side-effects]."""
        try:
            args = parse_argstring(self.ptc_tool, line)
        except ValueError as exc:
            raise UsageError(f"%ptc_tool: cannot parse the options ({exc})") from None
        if args.allow_code and not args.side_effects:
            raise UsageError("%ptc_tool: --allow-code only applies with --side-effects")
        functions = [(name, _lookup(self.shell.user_ns, name)) for name in args.names]
        for name, func in functions:
            if not callable(func):
                raise UsageError(f"%ptc_tool: {name!r} is a {type(func).__name__}, not a function")
        for name, func in functions:
            try:
                tool(
                    func,
                    name=name.rsplit(".", 1)[-1],
                    direct=args.direct,
                    side_effects=args.side_effects,
                    allow_code=args.allow_code,
                )
            except ToolDefinitionError as exc:
                raise UsageError(str(exc).replace("\n", " ")) from None
        print("ptc: registered " + ", ".join(n.rsplit(".", 1)[-1] for n, _ in functions))

    @line_magic
    def ptc_script(self, line: str) -> None:
        """Put Claude's script into a new cell below, to edit and re-run with no model involved.

        Usage: %ptc_script [RUN] [N]
          RUN  a variable holding a Run (from %%ptc -o RUN or ptc.run); default: ptc_jupyter.last
          N    which of the run's scripts, from 1; default: the last

        The cell runs the script unchanged in this kernel: each tool is the same async function
        taking one dict and returning the text Claude's code got (`await tool({...})`, top-level
        await, asyncio.gather), validated and run as in a run; MCP tools too.
        """
        from ptc_jupyter.notebook.script_cell import ScriptCellError, source_for_line

        try:
            source = source_for_line(line, self.shell.user_ns)
        except ScriptCellError as exc:
            raise UsageError(f"%ptc_script: {exc}") from None
        self.shell.set_next_input(source, replace=False)

    @line_magic
    def ptc_tools(self, line: str) -> None:
        """Show the registered tools: name, allowed_callers, side effects, source."""
        if line.strip():
            raise UsageError("%ptc_tools takes no arguments")
        display(tools_table(), raw=True)


def tools_table() -> dict[str, str]:
    rows = [
        (
            t.name,
            ", ".join(t.allowed_callers),
            "yes" if t.side_effects else "no",
            "kernel" if t.source == "kernel" else f"MCP server {t.source.removeprefix('mcp:')}",
            t.description.strip().splitlines()[0] if t.description.strip() else "",
        )
        for t in registry
    ]
    head = ("name", "allowed_callers", "side effects", "source", "description")
    if not rows:
        return {
            "text/plain": "ptc: no tools registered (use @ptc.tool or %ptc_tool NAME)",
            "text/html": "<i>ptc: no tools registered (use <code>@ptc.tool</code> or <code>%ptc_tool NAME</code>)</i>",
        }
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in [head, *rows])
    html = (
        "<table><thead><tr>"
        + "".join(f"<th style='text-align:left'>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join("<tr>" + "".join(f"<td style='text-align:left'>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        + "</tbody></table>"
    )
    return {"text/plain": text, "text/html": html}


def cell_source_key(shell: Any, cell: str) -> str:
    """Who asks, for a conversation: the notebook cell's id when the frontend sends one, else the
    cell's text, so re-running a cell replaces its own turn."""
    kernel = getattr(shell, "kernel", None)
    try:
        cell_id = kernel.get_parent().get("metadata", {}).get("cellId") if kernel is not None else None
    except (AttributeError, TypeError):
        cell_id = None
    return f"cell:{cell_id}" if cell_id else f"text:{hash(cell)}"


# -- choosing how a cell runs -------------------------------------------------------------------

PTC_CALL = "get_ipython().run_cell_magic('ptc', "


def widgets_answer_during_cells(shell: Any) -> bool:
    """Whether the kernel handles widget messages while an awaited cell runs (ipykernel >= 7.4
    dispatches comm messages concurrently); older kernels queue them until the cell ends."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:  # terminal IPython: no widgets to wait for
        return True
    try:
        return "concurrent" in inspect.signature(kernel.dispatch_shell).parameters
    except (AttributeError, TypeError, ValueError):
        return False


def make_await_transformer(shell: Any) -> Callable[[list[str]], list[str]]:
    """Turn `%%ptc` into an awaited `ptc_async` when the kernel awaits top-level code on asyncio
    and answers widget clicks meanwhile (else the background-loop path, with stdin approvals)."""
    interactive = widgets_answer_during_cells(shell)

    def ptc_await_transformer(lines: list[str]) -> list[str]:
        try:  # runs for every cell: must never raise
            if (
                lines
                and lines[0].startswith(PTC_CALL)
                and interactive
                and shell.autoawait
                and shell.loop_runner is _asyncio_runner
            ):
                return [
                    "await " + lines[0].replace(PTC_CALL, "get_ipython().run_cell_magic('ptc_async', ", 1),
                    *lines[1:],
                ]
        except Exception:  # noqa: BLE001 - a broken check must not break every cell
            return lines
        return lines

    return ptc_await_transformer


def make_script_cell_transformer(shell: Any) -> Callable[[list[str]], list[str]]:
    """In a `%ptc_script` cell (one that binds the tools), module-level `asyncio.run(X)` runs as
    `await (X)`: the kernel's loop already runs (see sandbox/event_loop_calls.py). Other cells, and
    every cell when the shell does not await top-level code (`%autoawait off`), pass unchanged."""

    def script_cell_transformer(lines: list[str]) -> list[str]:
        try:  # runs for every cell: must never raise
            if not shell.autoawait or not any(line.startswith(SCRIPT_CELL_IMPORT) for line in lines):
                return lines
            source = "".join(lines)
            rewritten = await_loop_calls(source)
            return lines if rewritten == source else rewritten.splitlines(keepends=True)
        except Exception:  # noqa: BLE001 - a broken rewrite must not break the cell
            return lines

    return script_cell_transformer


# -- loading ------------------------------------------------------------------------------------

_loaded: dict[int, dict[str, Any]] = {}
MAGIC_NAMES = {
    "cell": ("ptc", "ptc_async"),
    "line": ("ptc_new", "ptc_tool", "ptc_tools", "ptc_script", "ptc_mcp", "ptc_serve"),
}


def load_ipython_extension(shell: Any) -> None:
    if id(shell) in _loaded:
        unload_ipython_extension(shell)
    magics = [
        PTCMagics(shell=shell),
        importlib.import_module(MCP_MAGICS).MCPMagics(shell=shell),
        importlib.import_module(SERVE_MAGICS).ServeMagics(shell=shell),
    ]
    shell.register_magics(*magics)
    transformers = [make_await_transformer(shell), make_script_cell_transformer(shell)]
    shell.input_transformers_post.extend(transformers)
    _loaded[id(shell)] = {"magics": magics, "transformers": transformers}


def unload_ipython_extension(shell: Any) -> None:
    state = _loaded.pop(id(shell), None)
    manager = shell.magics_manager
    for kind, names in MAGIC_NAMES.items():
        for name in names:
            manager.magics[kind].pop(name, None)
    if state is None:
        return
    for magics in state["magics"]:
        manager.registry.pop(type(magics).__name__, None)
        if magics in shell.configurables:
            shell.configurables.remove(magics)
    for transformer in state["transformers"]:
        if transformer in shell.input_transformers_post:
            shell.input_transformers_post.remove(transformer)
    if "ptc_jupyter.host.session" in sys.modules:  # a run happened: stop what it started
        sys.modules["ptc_jupyter.host.session"].stop_emulator()
    if "ptc_jupyter.mcp.api" in sys.modules:  # a server was added: close the connections
        _close_mcp(sys.modules["ptc_jupyter.mcp.api"].close_all())


def _close_mcp(closing: Any) -> None:
    if not inspect.isawaitable(closing):
        return
    try:
        asyncio.get_running_loop()
        asyncio.ensure_future(closing)  # on the kernel's loop, after this cell
    except RuntimeError:
        asyncio.run(closing)  # type: ignore[arg-type]
