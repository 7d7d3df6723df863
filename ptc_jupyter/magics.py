"""`%load_ext ptc_jupyter`: the `%%ptc` cell magic, `%ptc_tool`, `%ptc_tools`, and their defaults.

How a cell runs (see shared/kernel-mechanics.md):
* await path: an input transformer turns a `%%ptc` cell into `await ...run_cell_magic('ptc_async', ...)`,
  so the run is a coroutine on the kernel's own loop: widget clicks (Stop, Allow/Deny) arrive during
  the run, and an interrupt cancels it (a 100 ms ticker keeps the loop awake so that takes < 1 s).
* fallback (autoawait off, another loop runner, or `%%ptc` called from code): the run gets a private
  loop in a worker thread; the main thread waits (answering approval questions through `input()`),
  and an interrupt cancels the run there.
Either way the cell ends with one static bundle (trace JSON + HTML + text) in its output.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import inspect
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from IPython.core.async_helpers import _asyncio_runner
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Any as AnyTrait
from traitlets import Bool, Float, Int, Unicode

from . import api, session
from ._sync import run_in_worker_loop
from .approval import MainThreadAsker, WidgetApprover, deny_all
from .dispatch import DEFAULT_TOOL_TIMEOUT_S, Approver
from .host import DEFAULT_MAX_CALLS, DEFAULT_MAX_TOKENS, DEFAULT_MODEL, RunError
from .options import CellOptions, build_prompt, parse_cell_options, ptc_arguments
from .recording import recorded_streaming, session_for
from .render import mime_bundle
from .tools import ToolDefinitionError, registry, tool
from .trace import Event, Run

TICK_S = 0.1


class RunInterrupted(KeyboardInterrupt):
    """A kernel interrupt stopped the run; shown as one line (the trace above has the rest)."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"RunInterrupted: {self}"]


def _interrupted(options: CellOptions) -> RunInterrupted:
    kept = f"{options.out} and ptc_jupyter.last" if options.out else "ptc_jupyter.last"
    return RunInterrupted(f"ptc: the run was interrupted; the trace above and {kept} keep everything recorded so far")


class _Recorder:
    """Listens to the host: remembers the live Run (so an interrupted run is kept) and feeds the view."""

    def __init__(self, view: Any = None) -> None:
        self.run: Run | None = None
        self.view = view

    def __call__(self, event: Event) -> None:
        self.run = event.run
        if self.view is not None:
            self.view(event)


def _frontend(shell: Any) -> tuple[bool, bool]:
    """(in a kernel, the frontend answers input requests). nbclient, nbval and papermill don't."""
    kernel = getattr(shell, "kernel", None)
    return kernel is not None, bool(getattr(kernel, "_allow_stdin", False))


class CellRun:
    """One `%%ptc` cell: display, approvals, the run itself, and the lasting output."""

    def __init__(self, shell: Any, options: CellOptions, prompt: str, *, mode: str) -> None:
        self.shell, self.options, self.prompt, self.mode = shell, options, prompt, mode
        self.in_kernel, self.allow_stdin = _frontend(shell)
        self.view: Any = None
        self.handle: Any = None
        live = options.live if options.live is not None else (self.in_kernel and self.allow_stdin)
        if live and importlib.util.find_spec("ipywidgets") is not None:
            from .view import LiveView

            self.view = LiveView(max_calls=options.max_calls or DEFAULT_MAX_CALLS,
                                 interval_s=options.update_interval_s, stoppable=mode == "await")
        self.recorder = _Recorder(self.view)
        self.asker: MainThreadAsker | None = None
        self.approve = self._approver()

    def _approver(self) -> Approver:
        run_of: Callable[[], Run | None] = lambda: self.recorder.run
        if self.options.yes:
            return api.approve_all
        if self.mode == "await" and self.view is not None:
            return WidgetApprover(self.view.approvals, timeout_s=self.options.approval_timeout_s, run_of=run_of)
        if self.mode == "thread" and self.allow_stdin:
            self.asker = MainThreadAsker()
            return self.asker
        if not self.in_kernel and sys.stdin is not None and sys.stdin.isatty():
            return api.ask_on_console
        return deny_all(run_of)

    # -- the run ---------------------------------------------------------------------------------
    async def execute(self) -> Run:
        o = self.options
        stream = recorded_streaming(o.replay) if o.replay else o.stream
        async with session_for(o.record, o.replay) as session:
            kwargs: dict[str, Any] = {
                "tools": list(o.tools) if o.tools is not None else None, "model": o.model, "offline": o.offline,
                "container": o.container, "max_calls": o.max_calls, "tool_timeout": o.tool_timeout_s,
                "max_tokens": o.max_tokens, "new_container": o.new_container, "stream": stream,
                "code_execution": o.code_execution, "executor": o.executor, "approve": self.approve, "yes": o.yes,
                "on_event": self.recorder, "session": session,
            }
            if o.compare:
                return await api.acompare(self.prompt, **kwargs)
            return await api.arun(self.prompt, direct=o.direct, **kwargs)

    def start(self) -> None:
        if self.view is not None:
            self.handle = display(self.view.bundle(), raw=True, display_id=True)

    def finish(self, run: Run | None) -> None:
        """Replace the live view by the static bundle (or show it), and keep the Run."""
        if self.view is not None:
            self.view.finish()
        if run is not None:
            bundle = mime_bundle(run)
            if self.handle is not None:
                self.handle.update(bundle, raw=True)
            else:
                display(bundle, raw=True)
            if self.options.out:
                self.shell.user_ns[self.options.out] = run
            api.last = run
        elif self.handle is not None:
            self.handle.update({"text/plain": "ptc: stopped before anything was recorded"}, raw=True)
        if self.view is not None:
            self.view.close()

    async def play_async(self) -> None:
        """Await path: on the kernel's loop; Stop button and interrupts cancel the run task."""
        self.start()
        task = asyncio.ensure_future(self.execute())
        stopped = False

        def stop() -> None:
            nonlocal stopped
            stopped = True
            task.cancel()

        if self.view is not None:
            self.view.on_stop = stop
        ticker = asyncio.ensure_future(_tick())
        try:
            run = await task
        except asyncio.CancelledError:
            self.finish(self.recorder.run)
            if stopped:
                return  # the Stop button: the trace says "cancelled", the cell itself is fine
            raise _interrupted(self.options) from None
        except BaseException as exc:
            self._show_failure(exc)
            raise
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        self.finish(run)

    def play_sync(self) -> None:
        """Fallback: a private loop in a worker thread; the main thread waits (and asks, if needed)."""
        self.start()
        asker = self.asker

        async def body() -> Run:
            try:
                return await self.execute()
            finally:
                if asker is not None:
                    asker.finished()

        try:
            run = run_in_worker_loop(body(), wait=asker.serve if asker is not None else None)
        except KeyboardInterrupt:
            self.finish(self.recorder.run)
            raise _interrupted(self.options) from None
        except BaseException as exc:
            self._show_failure(exc)
            raise
        self.finish(run)

    def _show_failure(self, exc: BaseException) -> None:
        """Show the trace of a run that failed; an API failure becomes a one-line UsageError."""
        if isinstance(exc, RunError):
            self.finish(exc.run)
            raise UsageError(f"ptc: the run failed: {exc}") from None
        self.finish(_failed(self.recorder.run, exc))


def _failed(run: Run | None, exc: BaseException) -> Run | None:
    """A run that ended in an unexpected exception says so in its trace."""
    if run is not None and run.status == "running":
        run.status = "error"
        run.error = f"{type(exc).__name__}: {exc}"
    return run


async def _tick() -> None:
    """Wakes the kernel's loop every TICK_S, so ipykernel's SIGINT handler runs promptly."""
    while True:
        await asyncio.sleep(TICK_S)


def _lookup(namespace: dict[str, Any], dotted: str) -> Any:
    head, *rest = dotted.split(".")
    if head not in namespace:
        raise UsageError(f"%ptc_tool: no variable named {head!r} in the kernel")
    value = namespace[head]
    for attr in rest:
        if not hasattr(value, attr):
            raise UsageError(f"%ptc_tool: {head!r} has no attribute {attr!r}")
        value = getattr(value, attr)
    return value


@magics_class
class PTCMagics(Magics):
    """Programmatic Tool Calling magics. Defaults: `%config PTCMagics.<name> = value`."""

    model = Unicode(DEFAULT_MODEL, help="Model for %%ptc runs.").tag(config=True)
    max_tokens = Int(DEFAULT_MAX_TOKENS, help="max_tokens per request.").tag(config=True)
    max_calls = Int(DEFAULT_MAX_CALLS, help="Budget of tool calls per run.").tag(config=True)
    tool_timeout = Float(DEFAULT_TOOL_TIMEOUT_S, allow_none=True, help="Time limit of one tool call (s).").tag(
        config=True)
    offline = Bool(None, allow_none=True, help="True: always the local emulator; None: when no API key.").tag(
        config=True)
    yes = Bool(False, help="Approve side-effect calls without asking (unattended runs).").tag(config=True)
    stream = Bool(True, help="Stream responses (the live view shows the script while Claude writes it).").tag(config=True)
    executor = AnyTrait(None, allow_none=True,
                        help="Executor for sync tools, or the name of a kernel variable holding one (what %config "
                             "can store, e.g. 'cluster' for cluster = Client().get_executor(pure=False)); "
                             "None: a shared thread pool.").tag(config=True)
    code_execution = Unicode("code_execution_20260120", help="Code-execution tool version.").tag(config=True)
    live = Bool(None, allow_none=True,
                help="Live widget view: True/False, None = when the frontend is interactive.").tag(config=True)
    approval_timeout = Float(120.0, help="Seconds to wait for Allow/Deny before denying.").tag(config=True)
    update_interval = Float(0.25, help="Seconds between live view redraws.").tag(config=True)

    def _defaults(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.trait_names(config=True)}

    def _prepare(self, line: str, cell: str) -> tuple[CellOptions, str]:
        options = parse_cell_options(self.ptc, line, self._defaults())
        if isinstance(options.executor, str):
            options = dataclasses.replace(options, executor=self._executor_named(options.executor))
        return options, build_prompt(cell, self.shell.user_ns)

    def _executor_named(self, name: str) -> Executor:
        """`%config` deep-copies values and executors cannot be copied, so config names a variable."""
        value = self.shell.user_ns.get(name)
        if value is None:
            raise UsageError(f"ptc: executor {name!r}: no such variable in the kernel")
        if not isinstance(value, Executor):
            raise UsageError(f"ptc: executor {name!r} is a {type(value).__name__}, not a concurrent.futures.Executor")
        return value

    @ptc_arguments
    @cell_magic
    def ptc(self, line: str, cell: str) -> None:
        """Send the cell body to Claude with code execution and your registered tools.

        The body is the prompt. In its prose, `{{name}}` (or `{{name.attr}}`) inserts str() of a kernel
        variable and `\\{{name}}` keeps the braces; fenced code blocks are sent exactly as written.
        `# NBVAL_...` marker lines are dropped. Offline, the prompt's ```python block is the script.
        The cell's output is the trace; `-o VAR` (and `ptc_jupyter.last`) keep the `Run`.
        """
        options, prompt = self._prepare(line, cell)
        CellRun(self.shell, options, prompt, mode="thread").play_sync()

    @cell_magic
    def ptc_async(self, line: str, cell: str) -> Any:
        """Internal: what `%%ptc` becomes when the kernel can await it (returns a coroutine)."""
        options, prompt = self._prepare(line, cell)
        return CellRun(self.shell, options, prompt, mode="await").play_async()

    @magic_arguments()
    @argument("names", nargs="+", metavar="NAME", help="functions in the namespace (a.b for attributes)")
    @argument("--direct", action="store_true", help="Claude may also call it directly")
    @argument("--side-effects", action="store_true", dest="side_effects",
              help="each call needs approval; direct-only unless --allow-code")
    @argument("--allow-code", action="store_true", dest="allow_code",
              help="with --side-effects: Claude's code may call it too")
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
                tool(func, name=name.rsplit(".", 1)[-1], direct=args.direct, side_effects=args.side_effects,
                     allow_code=args.allow_code)
            except ToolDefinitionError as exc:
                raise UsageError(str(exc).replace("\n", " ")) from None
        print("ptc: registered " + ", ".join(n.rsplit(".", 1)[-1] for n, _ in functions))

    @line_magic
    def ptc_tools(self, line: str) -> None:
        """Show the registered tools: name, allowed_callers, side effects, source."""
        if line.strip():
            raise UsageError("%ptc_tools takes no arguments")
        display(tools_table(), raw=True)


def tools_table() -> dict[str, str]:
    from html import escape

    rows = [(t.name, ", ".join(t.allowed_callers), "yes" if t.side_effects else "no",
             "kernel" if t.source == "kernel" else f"MCP server {t.source.removeprefix('mcp:')}",
             t.description.strip().splitlines()[0] if t.description.strip() else "") for t in registry]
    head = ("name", "allowed_callers", "side effects", "source", "description")
    if not rows:
        return {"text/plain": "ptc: no tools registered (use @ptc.tool or %ptc_tool NAME)",
                "text/html": "<i>ptc: no tools registered (use <code>@ptc.tool</code> or <code>%ptc_tool NAME</code>)</i>"}
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in [head, *rows])
    html = ("<table><thead><tr>" + "".join(f"<th style='text-align:left'>{h}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td style='text-align:left'>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
            + "</tbody></table>")
    return {"text/plain": text, "text/html": html}


# -- loading ------------------------------------------------------------------------------------

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
    and answers widget clicks meanwhile (else the worker-thread path, with stdin approvals)."""
    interactive = widgets_answer_during_cells(shell)

    def ptc_await_transformer(lines: list[str]) -> list[str]:
        try:  # runs for every cell: must never raise
            if (lines and lines[0].startswith(PTC_CALL) and interactive and shell.autoawait
                    and shell.loop_runner is _asyncio_runner):
                return ["await " + lines[0].replace(PTC_CALL, "get_ipython().run_cell_magic('ptc_async', ", 1),
                        *lines[1:]]
        except Exception:  # noqa: BLE001 - a broken check must not break every cell
            return lines
        return lines

    return ptc_await_transformer


_loaded: dict[int, dict[str, Any]] = {}
MAGIC_NAMES = {"cell": ("ptc", "ptc_async"), "line": ("ptc_tool", "ptc_tools", "ptc_mcp")}


def load_ipython_extension(shell: Any) -> None:
    if id(shell) in _loaded:
        unload_ipython_extension(shell)
    magics = [PTCMagics(shell=shell)]
    if importlib.util.find_spec("ptc_jupyter.mcp_magics") is not None:
        magics.append(importlib.import_module("ptc_jupyter.mcp_magics").MCPMagics(shell=shell))
    shell.register_magics(*magics)
    transformer = make_await_transformer(shell)
    shell.input_transformers_post.append(transformer)
    _loaded[id(shell)] = {"magics": magics, "transformer": transformer}


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
    if state["transformer"] in shell.input_transformers_post:
        shell.input_transformers_post.remove(state["transformer"])
    session.stop_emulator()
    if importlib.util.find_spec("ptc_jupyter.mcp") is not None:
        closing = importlib.import_module("ptc_jupyter.mcp").close_all()
        if inspect.isawaitable(closing):
            try:
                asyncio.get_running_loop()
                asyncio.ensure_future(closing)  # on the kernel's loop, after this cell
            except RuntimeError:
                asyncio.run(closing)  # type: ignore[arg-type]
