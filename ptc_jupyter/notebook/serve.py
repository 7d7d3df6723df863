"""`%ptc_serve` and the notebook's side of `ptc.serve`: what agents do shows in the cell that started it.

The server runs on the background loop; its events arrive on that loop's thread, which alone
touches the run widgets (ipywidgets has no locking). Each served call or script shows live (the
`%%ptc` live view) and, once it ends, as its static HTML; a second output of the same cell, the
record, is updated with the served runs' HTML and text (saved with the notebook). Approvals are the
`%%ptc` Allow/Deny widgets, run on the kernel's own loop (where clicks are handled) between cells
or during an awaiting cell; no answer within the approval timeout denies the call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

if TYPE_CHECKING:  # `%load_ext` stays light: the SDK and the record load with the first server
    from ptc_jupyter.calls.dispatch import Decisions
    from ptc_jupyter.calls.tools import Tool
    from ptc_jupyter.trace.events import Event
    from ptc_jupyter.trace.run import Run, ToolCall

#: Finished runs shown in the live area and in the record (newest last); `server.runs` keeps more.
SHOWN_RUNS = 20
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

_servers: list[Any] = []  # the servers started from this kernel (`%ptc_serve --stop` stops them)


class KernelLoopApprover:
    """The Allow/Deny widgets of one served run, asked on the kernel's loop from the server's loop.

    A question the kernel cannot put in time (a long cell keeps its loop busy) is denied too."""

    def __init__(self, widget_approver: Any, kernel_loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self.widget_approver, self.kernel_loop, self.timeout_s = widget_approver, kernel_loop, timeout_s

    async def _on_kernel_loop(self, coro: Any, no_answer: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.kernel_loop)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s + 1.0)
        except (asyncio.TimeoutError, concurrent.futures.CancelledError):
            future.cancel()
            return no_answer

    async def __call__(self, call: ToolCall, tool: Tool) -> bool | str:
        return await self._on_kernel_loop(self.widget_approver(call, tool), f"(no answer within {self.timeout_s:g} s)")

    async def batch(self, calls: list[ToolCall], tools: Mapping[str, Tool]) -> Decisions:
        denied = {c.id: f"(no answer within {self.timeout_s:g} s)" for c in calls}
        return await self._on_kernel_loop(self.widget_approver.batch(calls, dict(tools)), denied)


class ServeView:
    """The served runs of one server, live in the output of the cell that started it."""

    def __init__(self, server: Any) -> None:
        import ipywidgets as W

        self.server = server
        try:
            self.kernel_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.kernel_loop = None
        self.header = W.HTML("")
        self.approvals = W.VBox([])
        self.runs_box = W.VBox([])
        self.widget = W.VBox([self.header, self.approvals, self.runs_box])
        self.widget.add_class("ptc-serve")
        self.live: dict[int, Any] = {}  # id(run) -> its LiveView while it runs
        self.finished: list[Run] = []
        self.record: Any = None

    def show(self) -> None:
        self.header.value = (
            f"<b>ptc.serve</b> {escape(self.server.name)} at <code>{escape(self.server.url)}</code>: "
            "what agents run shows here"
        )
        display(
            {
                WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
                "text/plain": f"ptc.serve: {self.server.name} at {self.server.url} (live view)",
            },
            raw=True,
        )
        self.record = display(self._record_bundle(), raw=True, display_id=True)

    def approver_for(self, run: Run) -> Any:
        """The approver of one served run (None where no kernel loop can ask: denied)."""
        from ptc_jupyter.notebook.approval import WidgetApprover

        if self.kernel_loop is None:
            return None
        timeout_s = self.server.settings.options.approval_timeout_s
        return KernelLoopApprover(
            WidgetApprover(self.approvals, timeout_s=timeout_s, run_of=lambda: run), self.kernel_loop, timeout_s
        )

    def __call__(self, event: Event) -> None:
        from ptc_jupyter.notebook.live_view import LiveView
        from ptc_jupyter.trace.events import RunFinished

        run = event.run
        view = self.live.get(id(run))
        if view is None and not isinstance(event, RunFinished):
            view = self.live[id(run)] = LiveView(max_calls=self.server.settings.options.max_calls, stoppable=False)
            self.runs_box.children = (*self.runs_box.children[-SHOWN_RUNS:], view.widget)
        if view is not None:
            view(event)
        if isinstance(event, RunFinished):
            self._finished(run, view)

    def _finished(self, run: Run, view: Any) -> None:
        import ipywidgets as W

        from ptc_jupyter.display.render import to_html

        static = W.HTML(to_html(run))
        children = list(self.runs_box.children)
        if view is not None and view.widget in children:
            children[children.index(view.widget)] = static
        else:
            children.append(static)
        self.runs_box.children = tuple(children[-SHOWN_RUNS:])
        if view is not None:
            view.finish()
            view.close()
            self.live.pop(id(run), None)
        self.finished = [*self.finished, run][-SHOWN_RUNS:]
        if self.record is not None:
            self.record.update(self._record_bundle(), raw=True)

    def _record_bundle(self) -> dict[str, str]:
        from ptc_jupyter.display.render import to_html, to_text

        runs = self.finished
        title = f"ptc.serve {self.server.name}: {len(self.server.runs)} served run(s)"
        if not runs:
            return {"text/plain": title, "text/html": f"<b>{escape(title)}</b>"}
        html = "".join(f"<div>{to_html(r)}</div>" for r in runs)
        text = "\n\n".join(to_text(r) for r in runs)
        shown = f" (the last {len(runs)})" if len(runs) < len(self.server.runs) else ""
        return {"text/plain": f"{title}{shown}\n\n{text}", "text/html": f"<b>{escape(title)}{escape(shown)}</b>" + html}


def attach(server: Any, shell: Any) -> ServeView:
    """Follow `server`'s runs in the running cell and ask its approvals there (called by `ptc.serve`,
    which calls `show()` once the server listens)."""
    view = ServeView(server)
    if server.settings.approve is None:
        server.approver_for = view.approver_for
    server.listeners.append(view)
    _servers.append(server)
    return view


@magics_class
class ServeMagics(Magics):
    """`%ptc_serve`: this kernel's tools as an MCP server for Claude Code and other agents."""

    @magic_arguments()
    @argument("--port", type=int, default=None, help="port to listen on (default: a free one)")
    @argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; another one warns)")
    @argument("--name", default=None, help="the server's name in `claude mcp add` (default ptc-jupyter)")
    @argument("--tools", default=None, help="comma-separated tool names to offer (default: every registered tool)")
    @argument("--yes", action="store_true", help="allow side-effect calls without asking")
    @argument(
        "--approval-timeout",
        type=float,
        default=None,
        dest="approval_timeout",
        help="seconds to wait for Allow/Deny before denying",
    )
    @argument("--tool-timeout", type=float, default=None, dest="tool_timeout", help="time limit of one tool call")
    @argument("--max-calls", type=int, default=None, dest="max_calls", help="call budget of one script")
    @argument("-o", "--out", default=None, help="store the server in this variable")
    @argument("--stop", action="store_true", help="stop the servers started in this kernel")
    @line_magic
    def ptc_serve(self, line: str) -> Any:
        """Serve this kernel's registered tools, plus `run_python`, to MCP clients (Claude Code...).

        Prints the `claude mcp add` line and a `.mcp.json` snippet; what agents run shows below."""
        args = parse_argstring(self.ptc_serve, line)
        if args.stop:
            stopped = [s for s in _servers if s.running]
            for server in stopped:
                server.stop()
            _servers.clear()
            print(f"ptc.serve: stopped {len(stopped)} server(s)")
            return None
        from ptc_jupyter.errors import OptionError
        from ptc_jupyter.mcp.server import DEFAULT_NAME, serve

        tools = [t.strip() for t in args.tools.split(",") if t.strip()] if args.tools else None
        try:
            server = serve(
                args.port,
                host=args.host,
                name=args.name or DEFAULT_NAME,
                tools=tools,
                **given(
                    yes=args.yes or None,
                    approval_timeout=args.approval_timeout,
                    tool_timeout=args.tool_timeout,
                    max_calls=args.max_calls,
                ),
            )
        except (OptionError, KeyError, OSError) as exc:
            raise UsageError(f"%ptc_serve: {exc}") from None
        if args.out and self.shell is not None:
            self.shell.user_ns[args.out] = server
        return None


def given(**flags: Any) -> dict[str, Any]:
    """The flags the line gave (argparse's None is "not given" here; `serve` takes None as a value)."""
    return {name: value for name, value in flags.items() if value is not None}
