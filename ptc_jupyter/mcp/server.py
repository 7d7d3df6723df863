"""The kernel as an MCP server (`ptc.serve`, `%ptc_serve`): every registered tool, plus `run_python`.

Claude Code (or any MCP client) connects over streamable HTTP and sees each registered tool (kernel
functions and MCP servers' tools) with its schema and annotations, and one code-mode tool,
`run_python`: its script runs in the local sandbox (`LocalSandbox`), and the tool calls it makes
come back through the same dispatcher as a `%%ptc` run (policy, concurrency, call budget, timeouts,
approvals); only the script's output goes back to the agent. Each served call and each script is
recorded as a `Run` (`KernelServer.runs`), and listeners (the notebook's view) follow its events.

The server runs on the one background loop (`host/background.py`), served by uvicorn. It answers
only on 127.0.0.1 unless another host is given (then it warns), only requests with its bearer
token, addressed to a loopback Host (the emulator's `Guard`: a guard against DNS rebinding), and
sends no CORS headers. The token never enters a trace.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mcp_types
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.responses import JSONResponse

from ptc_jupyter.calls.dispatch import Approver, Dispatcher
from ptc_jupyter.calls.tools import Tool, registry
from ptc_jupyter.emulator.guard import Guard, is_loopback
from ptc_jupyter.host import local_mode
from ptc_jupyter.host.background import background_loop
from ptc_jupyter.host.policy import CallPolicy
from ptc_jupyter.options import NOT_GIVEN, NotGiven, RunOptions
from ptc_jupyter.sandbox import RUN_PYTHON, LocalSandbox, SandboxConfig, run_python_tool_definition
from ptc_jupyter.trace.events import CallFinished, CallStarted, Event, Notice, RunFinished
from ptc_jupyter.trace.run import Run, ToolCall

log = logging.getLogger(__name__)

DEFAULT_NAME = "ptc-jupyter"
MCP_PATH = "/mcp"
BACKEND = "ptc-serve"  # `Run.backend` of a served run
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
#: Served runs kept in `KernelServer.runs` (the oldest are dropped beyond it).
KEEP_RUNS = 1_000
INSTRUCTIONS = (
    "Tools of a live Jupyter kernel. To call many tools, or to filter and combine their results, prefer "
    "`run_python`: write one script that awaits the tools (asyncio.gather for many at once) and prints only "
    "what you need; only its output comes back to you. Call a tool directly for a single call. "
    "Side-effect tools ask the notebook's user first and are denied when nobody answers."
)

Listener = Callable[[Event], None]


def exposure_warning(host: str) -> str | None:
    """What to tell the user when the server listens beyond this machine's loopback."""
    if is_loopback(host):
        return None
    return (
        f"ptc.serve listens on {host}, beyond this machine's loopback: its bearer token is then the only "
        "guard, and anyone who has it can call your tools and run code in this kernel's sandbox"
    )


class ServeGuard(Guard):
    """The emulator's guard (one Host check, one token check, no CORS), answering in MCP's words."""

    REFUSALS = {
        421: "Request refused: this MCP server answers only requests addressed to this machine's loopback "
        "(127.0.0.1, localhost or [::1]) or a host it was started for (a guard against DNS rebinding).",
        405: "OPTIONS is refused: this MCP server does not serve web pages (no CORS).",
        401: "Unauthorized: send the server's token as `Authorization: Bearer <token>` "
        "(printed by ptc.serve / %ptc_serve).",
    }

    def check(self, scope: MutableMapping[str, Any]) -> JSONResponse | None:
        refused = super().check(scope)
        if refused is None:
            return None
        status = refused.status_code
        headers = {"connection": "close"}
        if status == 401:
            headers["www-authenticate"] = 'Bearer realm="ptc-jupyter"'
        message = self.REFUSALS.get(status, "Request refused.")
        return JSONResponse(
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": message}}, status, headers=headers
        )


@dataclass
class ServeSettings:
    """What a served call may do: `RunOptions`' budget, timeouts and approval settings, the tools offered."""

    options: RunOptions
    tools: Sequence[Any] | None = None  # None: every registered tool, as it is at each request
    approve: Approver | None = None
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)


class _ServedTurn:
    """One served request as a run: what `local_mode.LocalAnswers` expects of a turn (`run`,
    `awaiting`, `emit`, `run_calls`), with the host's policy and one dispatcher."""

    def __init__(self, server: KernelServer, run: Run, tools: dict[str, Tool], approve: Approver | None) -> None:
        self.server, self.run, self.tools = server, run, tools
        self.options = server.settings.options
        self.awaiting: dict[str, Any] = {}  # the local script(s) running, whose calls may run
        self.calls_started = 0
        self.dispatcher = Dispatcher(
            self.options.executor,
            timeout_s=self.options.tool_timeout_s,
            approve=approve,
            on_start=lambda c: self.emit(CallStarted(run, c)),
            on_finish=lambda c: self.emit(CallFinished(run, c)),
            on_notice=self.notice,
            clock_origin=run._t0,
        )

    def emit(self, event: Event) -> None:
        self.server.emit(event)

    def notice(self, message: str) -> None:
        if message not in self.run.notices:
            self.run.notices.append(message)
            self.emit(Notice(self.run, message))

    async def run_calls(self, calls: list[ToolCall], deadline: float | None) -> None:
        """The host's policy for each call (`policy.CallPolicy`), then the allowed ones at once."""
        runnable: list[ToolCall] = []
        policy = CallPolicy(self.tools, self.options.max_calls, local_run=True)
        for call in calls:
            refused = policy.check(call, awaiting=self.awaiting, calls_started=self.calls_started)
            if refused is None:
                self.calls_started += 1
                runnable.append(call)
            else:
                if refused.kind == "budget_exhausted":
                    self.notice(f"max_calls ({self.options.max_calls}) reached: further calls got an error result")
                self.dispatcher.reject(call, refused.message)
        await self.dispatcher.run_batch(runnable, self.tools, deadline=deadline)


class KernelServer:
    """An MCP server over streamable HTTP on the background loop: `.url`, `.token`, `.runs`, `.stop()`.

    Made by `serve()`. `listeners` (callables taking an `Event`) follow every served run as it goes,
    on the background loop's thread.
    """

    def __init__(
        self,
        settings: ServeSettings,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        name: str = DEFAULT_NAME,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.host, self.name = host, name
        self.port = port or 0
        self.allowed_hosts = tuple(allowed_hosts)
        self.token = secrets.token_urlsafe(32)
        self.url: str = ""
        self.runs: list[Run] = []
        self.listeners: list[Listener] = []
        self.approver_for: Callable[[Run], Approver | None] | None = None  # a per-run approver (the notebook's)
        self.sandbox = LocalSandbox(settings.sandbox)
        self._ids = itertools.count(1)
        self._uvicorn: uvicorn.Server | None = None
        self._serving: Any = None  # the concurrent future of uvicorn's serve() on the background loop
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    # -- what is offered ---------------------------------------------------------------------------
    def tools(self) -> list[Tool]:
        """The tools offered now (the registry as it is: a tool added later is offered at once)."""
        chosen = registry.select(self.settings.tools)
        return [t for t in chosen if t.name != RUN_PYTHON]

    def mcp_tools(self) -> list[mcp_types.Tool]:
        """Each tool with its schema and annotations, then `run_python`."""
        tools = self.tools()
        listed = [mcp_tool(t) for t in tools]
        listed.append(run_python_mcp_tool(tools, self.settings.sandbox))
        return listed

    # -- lifetime ----------------------------------------------------------------------------------
    def start(self) -> KernelServer:
        """Listen and serve; returns once the server accepts connections."""
        if self._serving is not None:
            return self
        if (warning := exposure_warning(self.host)) is not None:
            log.warning(warning)
        sock = socket.socket(
            socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )  # TCP: asyncio then sets TCP_NODELAY on each connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        self._socket = sock
        self.port = sock.getsockname()[1]
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}{MCP_PATH}"
        app = self._app()
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                http="h11",
                ws="none",
                proxy_headers=False,
                timeout_graceful_shutdown=2,
            )
        )
        background_loop.on_stop(self.aclose)
        self._serving = background_loop.submit(self._uvicorn.serve(sockets=[sock]))
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._uvicorn.started:
            if self._serving.done() or time.monotonic() > deadline:
                error = self._serving.exception() if self._serving.done() else None
                self.stop()
                raise RuntimeError(f"the MCP server did not start: {error or 'timed out'}")
            time.sleep(0.01)
        return self

    def _app(self) -> Starlette:
        server: Server[Any] = Server(
            self.name,
            version=_version(),
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        security = None if is_loopback(self.host) else TransportSecuritySettings(enable_dns_rebinding_protection=False)
        app = server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            transport_security=security,
            host=self.host if is_loopback(self.host) else "0.0.0.0",
        )
        hosts = () if self.host in ("0.0.0.0", "::") else (self.host,)
        app.add_middleware(ServeGuard, api_key=self.token, allowed_hosts=(*hosts, *self.allowed_hosts))
        return app

    async def aclose(self) -> None:
        """Stop serving and close the sandbox (on the background loop; `stop` from any other thread)."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        serving = self._serving
        if serving is not None:
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(serving)), STOP_TIMEOUT_S)
            except Exception:  # a server that failed or hangs on shutdown: it is stopped all the same
                log.debug("the MCP server's shutdown", exc_info=True)
        await self.sandbox.aclose()
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def stop(self) -> None:
        """Stop serving (idempotent): no new connection is accepted, the sandbox is killed."""
        with self._lock:
            if self._serving is None and self._socket is None:
                return
            if background_loop.running and not background_loop.in_thread():
                background_loop.run(self.aclose(), timeout_s=STOP_TIMEOUT_S + 5)
            elif self._uvicorn is not None:
                self._uvicorn.should_exit = True
            self._serving = None

    @property
    def running(self) -> bool:
        return self._serving is not None and not self._serving.done()

    def __enter__(self) -> KernelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:  # no token here: reprs end up in logs and saved outputs
        state = "serving" if self.running else "stopped"
        return f"<KernelServer {self.name!r} {state} at {self.url}: {len(self.runs)} runs>"

    # -- what a client sees ------------------------------------------------------------------------
    def claude_command(self) -> str:
        """The `claude mcp add` line that connects Claude Code to this server."""
        return f'claude mcp add --transport http {self.name} {self.url} --header "Authorization: Bearer {self.token}"'

    def mcp_json(self) -> str:
        """A `.mcp.json` snippet for clients configured by file."""
        config = {
            "mcpServers": {
                self.name: {"type": "http", "url": self.url, "headers": {"Authorization": f"Bearer {self.token}"}}
            }
        }
        return json.dumps(config, indent=2)

    def instructions(self) -> str:
        tools = self.tools()
        return (
            f"MCP server {self.name!r} at {self.url}: {len(tools)} tool{'s' * (len(tools) != 1)} "
            f"and run_python.\nClaude Code:\n  {self.claude_command()}\n.mcp.json:\n{self.mcp_json()}"
        )

    # -- events ------------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a broken view must not break a served call
                log.exception("ptc.serve listener failed on %s", type(event).__name__)

    # -- requests (on the background loop) --------------------------------------------------------
    async def _list_tools(self, ctx: Any, params: Any) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(tools=self.mcp_tools())

    async def _call_tool(self, ctx: Any, params: mcp_types.CallToolRequestParams) -> mcp_types.CallToolResult:
        arguments = dict(params.arguments or {})
        client = _client_name(ctx)
        if params.name == RUN_PYTHON:
            run, text, is_error = await self.run_script(arguments, client=client)
        else:
            run, text, is_error = await self.call(params.name, arguments, client=client)
        return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text=text)], is_error=is_error)

    def _new_run(self, prompt: str, mode: str, client: str) -> tuple[Run, _ServedTurn]:
        run = Run(prompt=prompt, model=client, backend=BACKEND, mode=mode)  # type: ignore[arg-type]
        run.requests = 1
        tools = {t.name: t for t in self.tools()}
        approve = self.approver_for(run) if self.approver_for is not None else self.settings.approve
        with self._lock:
            self.runs.append(run)
            del self.runs[:-KEEP_RUNS]
        return run, _ServedTurn(self, run, tools, approve)

    async def call(
        self, name: str, arguments: dict[str, Any], *, client: str = "an MCP client"
    ) -> tuple[Run, str, bool]:
        """One direct tool call, as a run of one call: (the run, the result text, is_error)."""
        run, turn = self._new_run(f"{client}: {name}", "direct", client)
        call = ToolCall(id=f"mcp_{next(self._ids)}", name=name, input=arguments, caller="direct", request_index=1)
        run.calls.append(call)
        try:
            await turn.run_calls([call], None)
        finally:
            self._finish(run, call.output or "")
        return run, call.output or "", call.is_error

    async def run_script(self, arguments: dict[str, Any], *, client: str = "an MCP client") -> tuple[Run, str, bool]:
        """One `run_python` call: the script in the sandbox, its calls through the dispatcher."""
        code = arguments.get("code")
        run, turn = self._new_run(code if isinstance(code, str) and code.strip() else "(no code)", "ptc", client)
        call = ToolCall(
            id=f"script_{next(self._ids)}", name=RUN_PYTHON, input=arguments, caller="direct", request_index=1
        )
        run.calls.append(call)
        answers = local_mode.LocalAnswers(turn, list(turn.tools.values()), self.sandbox)
        # every tool is a name in the script, so a call to one code may not make is refused by the
        # policy, visibly in the trace, rather than failing as an unknown name
        answers.tool_names = list(turn.tools)
        try:
            await answers.answer([call])
        finally:
            step = run.steps[-1] if run.steps else None
            failed = step is not None and (bool(step.error_code) or (step.return_code or 0) != 0)
            self._finish(run, call.output or "")
        return run, call.output or "", failed

    def _finish(self, run: Run, text: str) -> None:
        run.text = text  # a failed call or script is the agent's information, not a failed run
        run.status = "completed"
        run.stop_reason = "end_turn"
        run.wall_s = run.elapsed_s()
        self.emit(RunFinished(run))


def mcp_tool(tool: Tool) -> mcp_types.Tool:
    """A registered tool as MCP offers it: schema, and `readOnlyHint`/`destructiveHint` from side effects."""
    description = tool.description
    if tool.side_effects:
        description += "\n\n[side effects: each call asks the notebook's user first]"
    return mcp_types.Tool(
        name=tool.name,
        description=description,
        input_schema=tool.input_schema,
        annotations=mcp_types.ToolAnnotations(read_only_hint=not tool.side_effects, destructive_hint=tool.side_effects),
        meta={"ptc/allowed_callers": list(tool.allowed_callers), "ptc/source": tool.source},  # type: ignore[call-arg]  # the field of alias `_meta`
    )


def run_python_mcp_tool(tools: Sequence[Tool], config: SandboxConfig | None = None) -> mcp_types.Tool:
    """The code-mode tool: its description lists the tools scripts may call and the calling convention."""
    definition = run_python_tool_definition([t for t in tools if t.programmatic], config)
    description = definition["description"]
    direct_only = [t.name for t in tools if not t.programmatic]
    if direct_only:
        description += (
            "\n\nNot callable from code (call them as tools of their own; they may ask the user): "
            + ", ".join(direct_only)
            + "."
        )
    return mcp_types.Tool(
        name=RUN_PYTHON,
        description=description,
        input_schema=definition["input_schema"],
        annotations=mcp_types.ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    )


def _client_name(ctx: Any) -> str:
    """The connected client's name and version, as it introduced itself (if it did)."""
    params = getattr(getattr(ctx, "session", None), "client_params", None)
    info = getattr(params, "client_info", None)
    if info is None:
        return "an MCP client"
    return f"{info.name} {info.version}".strip()


async def _nobody_to_ask(call: ToolCall, tool: Tool) -> str:
    """The approver where nothing can ask (plain Python): deny, saying how to allow."""
    return "(nobody can approve it here: serve from a notebook, or ptc.serve(yes=True) / approve=...)"


def _version() -> str:
    from ptc_jupyter import __version__

    return __version__


def serve(
    port: int | None = None,
    *,
    host: str = "127.0.0.1",
    name: str = DEFAULT_NAME,
    tools: Sequence[Any] | None = None,
    yes: bool | NotGiven = NOT_GIVEN,
    approve: Approver | None = None,
    approval_timeout: float | NotGiven = NOT_GIVEN,
    tool_timeout: float | None | NotGiven = NOT_GIVEN,
    max_calls: int | NotGiven = NOT_GIVEN,
    allowed_hosts: Iterable[str] = (),
    sandbox: SandboxConfig | None = None,
    show: bool | None = None,
) -> KernelServer:
    """Serve the registered tools (and `run_python`) to MCP clients such as Claude Code; returns the server.

    `port` (default: a free one); `host` 127.0.0.1 unless given (another host warns: the token is
    then the only guard). `tools`: names, functions or `Tool`s (default: every registered tool, as the
    registry is at each request). Side-effect tools ask in the notebook (`approval_timeout` seconds,
    then denied); `yes=True` allows them all, `approve=` decides. `tool_timeout` / `max_calls` bound
    each call and each script, as in `ptc.run`. In a notebook the server's runs show live in the
    output of the cell that started it (`show=False`: not). Prints the `claude mcp add` line.
    """
    options = RunOptions.build(
        None, yes=yes, approval_timeout_s=approval_timeout, tool_timeout_s=tool_timeout, max_calls=max_calls
    )
    if options.yes:
        from ptc_jupyter.api import approve_all

        approve = approve_all
    elif approve is None and _kernel_shell() is None:
        approve = _nobody_to_ask
    settings = ServeSettings(
        options, tools=list(tools) if tools is not None else None, approve=approve, sandbox=sandbox or SandboxConfig()
    )
    server = KernelServer(settings, host=host, port=port, name=name, allowed_hosts=allowed_hosts)
    shell = _kernel_shell()
    view = None
    if shell is not None and show is not False:
        from ptc_jupyter.notebook.serve import attach  # the notebook's view and approvals

        view = attach(server, shell)
    server.start()
    print(server.instructions())
    if view is not None:
        view.show()
    return server


def _kernel_shell() -> Any:
    """The running IPython kernel's shell (None in plain Python or terminal IPython)."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None
