"""MCP connections: each server one long-lived task on the background loop (`ptc_jupyter.host.background`).

A run's host may be on the kernel's loop, the background loop or under `asyncio.run` (a different
loop per run), while an MCP session must be entered and exited by one task; so the task that opens
a connection owns it until it closes. A server that fails to start, crashes or hangs becomes an
`MCPServerError` naming the server, with the tail of its stderr and, once it ran, how to restart it.

A connection follows its server's tool list: `notifications/tools/list_changed` (which a 2026-07-28
server sends only on a `subscriptions/listen` stream, opened here) makes it list the tools again
and tell `on_tools_changed`. A call the server answers by asking for input (an elicitation request
on the handshake protocols, an `input_required` result on 2026-07-28) becomes an `is_error` result
saying what it asked: nobody can answer a programmatic call.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
from anthropic.lib.tools import ToolError
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp import types as mcp_types
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import listen
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ptc_jupyter.mcp.spec import ServerSpec
from ptc_jupyter.mcp.stderr import StderrTail

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 3.0  # after a call times out: does the server answer at all? (at most the call timeout)
CLOSE_TIMEOUT_S = 10.0
STDERR_DRAIN_S = 2.0  # after a stdio server ends: how long its last stderr lines may take to arrive
ENDED = "stopped: its process ended"  # a stdio server's end, however it showed first
STATE_ONLY_ROUNDS = 10  # `input_required` answers carrying only request state: retries before giving up
STATE_ONLY_BACKOFF_S = (0.05, 0.25)  # first wait, longest wait between those retries
CANNOT_ANSWER = "needs input that a programmatic call cannot give"

State = Literal["starting", "ready", "dead", "closed"]


class MCPServerError(ToolError):
    """An MCP server failed to start, stopped, or stopped answering. The message names the server.

    As a tool error it becomes the call's `is_error` text verbatim; in IPython it shows without a traceback.
    """

    def __init__(self, message: str, *, notice: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.run_notice = notice  # one line for the run's notices when the server itself failed

    def __str__(self) -> str:
        return self.message

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self.message}"]


def _flatten(exc: BaseException) -> list[BaseException]:
    inner = getattr(exc, "exceptions", None)  # an exception group (BaseExceptionGroup is 3.11+)
    if isinstance(inner, (list, tuple)) and inner:
        return [leaf for e in inner for leaf in _flatten(e)]
    return [exc]


def _describe(exc: BaseException, transport: str = "stdio") -> str:
    leaves = [e for e in _flatten(exc) if not isinstance(e, (asyncio.CancelledError, anyio.get_cancelled_exc_class()))]
    leaf = leaves[0] if leaves else exc
    if isinstance(leaf, MCPError) and leaf.code == mcp_types.CONNECTION_CLOSED:
        why = "the process exited or closed its output" if transport == "stdio" else "the server went away"
        return f"its connection closed ({why})"
    text = str(leaf)
    return f"{type(leaf).__name__}: {text}" if text else type(leaf).__name__


def _schema_fields(schema: dict[str, Any] | None) -> str:
    properties = (schema or {}).get("properties") or {}
    required = set((schema or {}).get("required") or ())
    fields = [
        f"{name} ({spec.get('type', 'any') if isinstance(spec, dict) else 'any'}"
        f"{', required' if name in required else ''})"
        for name, spec in properties.items()
    ]
    return f" (fields: {', '.join(fields)})" if fields else ""


def describe_input_request(request: Any) -> str:
    """What a server asked the client for, in a sentence (an elicitation, a sampling or a roots request)."""
    params = getattr(request, "params", None)
    if isinstance(params, mcp_types.ElicitRequestURLParams):
        return f"it asked the user to open {params.url} ({params.message!r})"
    if isinstance(params, mcp_types.ElicitRequestFormParams):
        return f"it asked {params.message!r}{_schema_fields(params.requested_schema)}"
    if isinstance(request, mcp_types.CreateMessageRequest):
        return "it asked the client for an LLM completion (sampling)"
    if isinstance(request, mcp_types.ListRootsRequest):
        return "it asked for the client's roots"
    return f"it sent a {getattr(request, 'method', type(request).__name__)} request"


def _error_result(text: str) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text=text)], is_error=True)


_open: set[Connection] = set()  # connections whose owner task runs; only touched on the loop


async def close_open() -> None:
    """Close every connection still open, so no server process outlives the loop (its `on_stop`)."""
    await asyncio.gather(*(conn.aclose() for conn in list(_open)))


class Connection:
    """One server session, owned by one task on the background loop from start to close.

    `start`, `call`, `ping` and `aclose` are coroutines for that loop (see `LoopThread`).
    """

    def __init__(self, spec: ServerSpec, *, protocol: str | None = None) -> None:
        if protocol is not None and protocol not in MODERN_PROTOCOL_VERSIONS:
            raise ValueError(
                f"protocol must be None (the initialize handshake) or one of "
                f"{list(MODERN_PROTOCOL_VERSIONS)}, got {protocol!r}"
            )
        self.spec = spec
        self.protocol = protocol  # None: the initialize handshake; else a version adopted via server/discover
        self.on_tools_changed: Callable[[Connection], None] | None = None  # called on the loop, must not block
        self.tools_version = 0  # counts tool listings after the first
        self.state: State = "starting"
        self.failure: str | None = None
        self.tools: list[mcp_types.Tool] = []
        self.server_info: mcp_types.Implementation | None = None
        self.protocol_version: str | None = None
        self.connect_s: float | None = None
        self._session: ClientSession | None = None
        self._stderr: StderrTail | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None  # set to end the owner task (close, or death)
        self._ping: asyncio.Task[bool] | None = None
        self._scope: anyio.CancelScope | None = None  # the owner task's; cancelled to abort a start
        self._closing = False
        self._stale: asyncio.Event | None = None  # set by a tool-list change: list the tools again
        self._refusals: dict[str, str] = {}  # what we answered input requests with -> what was asked

    @property
    def name(self) -> str:
        return self.spec.name

    def stderr_tail(self) -> str:
        return self._stderr.text() if self._stderr else ""

    def _explain(self, exc: BaseException) -> str:
        return _describe(exc, self.spec.transport)

    def describe(self, what: str, *, restart: bool = False) -> str:
        """'MCP server 'x' <what>', with its stderr tail (and, `restart`, how to start it again)."""
        message = f"MCP server {self.name!r} {what}"
        tail = self.stderr_tail()
        if tail:
            message += "\nIts stderr ended with:\n" + "\n".join("  " + line for line in tail.splitlines())
        return message + self._restart_hint() if restart else message

    def _restart_hint(self) -> str:
        return f"\nRestart it with `%ptc_mcp add {self.name} ...` (or ptc.mcp.add({self.name!r}, ...))."

    # -- lifetime (all on the loop) -------------------------------------------------------------
    async def start(self) -> None:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._own(ready))
        _open.add(self)
        self._task.add_done_callback(lambda _task: _open.discard(self))
        await ready

    async def _own(self, ready: asyncio.Future[None]) -> None:
        t0 = time.perf_counter()
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                scope.deadline = anyio.current_time() + self.spec.start_timeout_s
                await self._serve(scope, ready, t0)
            if not ready.done():  # the start deadline (or aclose) cancelled the scope
                why = (
                    "was closed while starting"
                    if self._closing
                    else f"did not start within {self.spec.start_timeout_s:g} s"
                )
                await self._fail_start(ready, why)
        except Exception as exc:  # the transport's and session's failures, often in exception groups
            if ready.done():
                log.debug("MCP server %r: error while closing: %s", self.name, _describe(exc))
            else:
                await self._fail_start(ready, f"failed to start: {self._explain(exc)}")
        finally:
            if self._stderr is not None:
                self._stderr.close()
            self._session = None
            if self.state in ("starting", "ready"):
                self.state = "closed"

    async def _fail_start(self, ready: asyncio.Future[None], what: str) -> None:
        if self._stderr is not None:  # the process has ended: its last words are on their way
            await self._stderr.wait_closed(STDERR_DRAIN_S)
        self.state = "dead"
        self.failure = self.describe(what)
        if not ready.done():
            ready.set_exception(MCPServerError(self.failure))

    async def _serve(self, scope: anyio.CancelScope, ready: asyncio.Future[None], t0: float) -> None:
        self._stale = asyncio.Event()
        async with (
            self._transport() as (read, write),
            ClientSession(
                read, write, message_handler=self._on_message, elicitation_callback=self._refuse_input
            ) as session,
        ):
            if self.protocol is None:
                await session.initialize()
            else:
                await session.discover()  # proposes the newest 2026-era version; fails if the server has none
            tools = await self._list_tools(session)
            self._session, self.tools = session, tools
            self.server_info, self.protocol_version = session.server_info, session.protocol_version
            self.connect_s = time.perf_counter() - t0
            if ready.cancelled():  # the caller gave up waiting (e.g. an interrupt): close again
                return
            self.state = "ready"
            scope.deadline = math.inf
            ready.set_result(None)
            helpers = [asyncio.ensure_future(self._watch_stderr()), asyncio.ensure_future(self._follow_tools())]
            if self.protocol_version in MODERN_PROTOCOL_VERSIONS:
                helpers.append(asyncio.ensure_future(self._listen(session)))
            try:
                assert self._wake is not None
                await self._wake.wait()
            finally:
                for helper in helpers:
                    helper.cancel()
                await asyncio.wait(helpers)  # a listen stream is left in the task that opened it
            scope.deadline = anyio.current_time() + CLOSE_TIMEOUT_S

    @staticmethod
    async def _list_tools(session: ClientSession) -> list[mcp_types.Tool]:
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        while True:
            params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
            listing = await session.list_tools(params=params)
            tools.extend(listing.tools)
            cursor = listing.next_cursor
            if not cursor:
                return tools

    # -- tool-list changes (on the loop) ----------------------------------------------------------
    async def _on_message(self, message: Any) -> None:
        """The session's notifications: a tool-list change (either protocol era) marks the list stale."""
        if isinstance(message, mcp_types.ToolListChangedNotification) and self._stale is not None:
            self._stale.set()

    async def _listen(self, session: ClientSession) -> None:
        """On 2026-07-28 change notifications come only on a `subscriptions/listen` stream: keep one open.

        Its events also reach `_on_message` (the session tees them), so here they are only drained."""
        try:
            async with listen(session, tools_list_changed=True) as subscription:
                async for _event in subscription:
                    pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the server refused or dropped the stream: the list is followed no more
            log.info("MCP server %r: tool-list changes are not followed: %s", self.name, self._explain(exc))

    async def _follow_tools(self) -> None:
        """List the tools again after each change (changes that arrive meanwhile make one more listing)."""
        assert self._stale is not None
        while True:
            await self._stale.wait()
            self._stale.clear()
            session = self._session
            if session is None or self.state != "ready":
                return
            try:
                tools = await asyncio.wait_for(self._list_tools(session), self.spec.call_timeout_s)
            except Exception as exc:  # a dead server is noticed elsewhere; a failed listing keeps the old list
                log.warning("MCP server %r: listing its changed tools failed: %s", self.name, self._explain(exc))
                continue
            self.tools = tools
            self.tools_version += 1
            if self.on_tools_changed is not None:
                try:
                    self.on_tools_changed(self)
                except Exception:
                    log.exception("MCP server %r: applying its tool-list change failed", self.name)

    # -- requests for input (on the loop) ---------------------------------------------------------
    async def _refuse_input(
        self, context: ClientRequestContext, params: mcp_types.ElicitRequestParams
    ) -> mcp_types.ErrorData:
        """An elicitation request (handshake protocols): refused with a message saying what was asked.

        The server usually passes the refusal back as the call's error; `call` recognises it."""
        asked = describe_input_request(mcp_types.ElicitRequest(params=params))
        message = f"{CANNOT_ANSWER}: {asked}"
        self._refusals[message] = asked
        return mcp_types.ErrorData(code=mcp_types.INVALID_REQUEST, message=message)

    async def _call_tool(
        self, session: ClientSession, tool: str, arguments: dict[str, Any]
    ) -> mcp_types.CallToolResult | mcp_types.InputRequiredResult:
        """`tools/call`; an `input_required` answer with only request state is retried as the spec asks."""
        result = await session.call_tool(tool, arguments, allow_input_required=True)
        wait_s, rounds = STATE_ONLY_BACKOFF_S[0], 0
        while (
            isinstance(result, mcp_types.InputRequiredResult)
            and not result.input_requests
            and result.request_state
            and rounds < STATE_ONLY_ROUNDS
        ):
            rounds += 1
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, STATE_ONLY_BACKOFF_S[1])
            result = await session.call_tool(
                tool, arguments, request_state=result.request_state, allow_input_required=True
            )
        return result

    def _input_required(self, tool: str, result: mcp_types.InputRequiredResult) -> mcp_types.CallToolResult:
        requests = result.input_requests or {}
        asked = (
            "; ".join(describe_input_request(r) for r in requests.values())
            or f"it kept answering with request state only ({STATE_ONLY_ROUNDS} retries)"
        )
        return _error_result(f"MCP server {self.name!r}: {tool!r} {CANNOT_ANSWER}: {asked}")

    def _transport(self) -> Any:
        spec = self.spec
        if spec.url:
            return _http_transport(spec.url, dict(spec.headers))
        return self._stdio_transport()

    @asynccontextmanager
    async def _stdio_transport(self) -> AsyncIterator[Any]:
        spec = self.spec
        params = StdioServerParameters(
            command=spec.command[0], args=list(spec.command[1:]), env=dict(spec.env) or None, cwd=spec.cwd
        )
        self._stderr = StderrTail()
        errlog = await self._stderr.open()
        try:
            async with stdio_client(params, errlog=errlog) as streams:
                errlog.close()  # the child has its copy; ours would keep the pipe from ending
                yield streams
        finally:
            errlog.close()

    async def _watch_stderr(self) -> None:
        """stderr ends when the process exits: confirm with a ping, then report the server dead."""
        if self._stderr is None:
            return
        await self._stderr.closed.wait()
        if not await self.ping():
            await self._lost(ENDED, ended=True)

    async def _lost(self, what: str, *, ended: bool = False, wait_s: float = STDERR_DRAIN_S) -> None:
        """The server no longer answers; `what` says how that showed. A stdio server that `ended` (its
        connection or its stderr closed) or whose stderr closes within `wait_s` is gone, however that
        showed first: it gets the one `ENDED` message, written once its stderr is read to the end."""
        if self._stderr is not None:
            closed = await self._stderr.wait_closed(wait_s)
            if ended or closed:
                what = ENDED
        self._mark_dead(what)

    def _mark_dead(self, what: str) -> None:
        if self.state != "ready":
            return
        self.state = "dead"
        self.failure = self.describe(what, restart=True)
        log.warning("%s", self.failure)
        if self._wake is not None:
            self._wake.set()

    async def aclose(self) -> None:
        """End the session (and the process); returns once the owner task has finished."""
        self._closing = True
        if self.state == "ready":
            self.state = "closed"
        elif self.state == "starting" and self._scope is not None:
            self._scope.cancel()  # e.g. an interrupted `add`: stop waiting for the server
        if self._wake is not None:
            self._wake.set()
        if self._task is not None and not self._task.done():  # done: closed already, maybe on a stopped loop
            await asyncio.wait([self._task])

    # -- calls (on the loop) ----------------------------------------------------------------------
    def unavailable(self) -> MCPServerError | None:
        """Why calls cannot go to this server now (None: they can)."""
        if self.state == "ready" and self._session is not None:
            return None
        if self.state == "dead" and self.failure:
            notice = f"{self.failure.splitlines()[0]}; restart it with `%ptc_mcp add {self.name} ...`"
            return MCPServerError(self.failure, notice=notice)
        return MCPServerError(f"MCP server {self.name!r} is {self.state}" + self._restart_hint())

    def _gone(self) -> MCPServerError:
        return self.unavailable() or MCPServerError(f"MCP server {self.name!r} stopped")

    async def call(self, tool: str, arguments: dict[str, Any]) -> mcp_types.CallToolResult:
        """Call one tool; concurrent calls share the session (requests are matched by id)."""
        problem = self.unavailable()
        if problem:
            raise problem
        assert self._session is not None and self._wake is not None
        call = asyncio.ensure_future(self._call_tool(self._session, tool, arguments))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            done, _ = await asyncio.wait(
                {call, woken}, timeout=self.spec.call_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()
            if not call.done():
                call.cancel()
        if call in done:
            try:
                result = call.result()
            except MCPError as exc:
                if exc.message in self._refusals:  # it passed our answer to its request for input on
                    return _error_result(
                        f"MCP server {self.name!r}: {tool!r} {CANNOT_ANSWER}: {self._refusals[exc.message]}"
                    )
                if exc.code != mcp_types.CONNECTION_CLOSED:
                    raise MCPServerError(f"MCP server {self.name!r} refused {tool!r}: {exc}") from None
                await self._lost(f"stopped: {self._explain(exc)}", ended=True)
                raise self._gone() from None
            except Exception as exc:  # transport failures (e.g. HTTP connection refused)
                if not await self.ping():
                    await self._lost(f"stopped answering: {tool!r} failed ({self._explain(exc)}) and so did a ping")
                    raise self._gone() from None
                raise MCPServerError(f"MCP server {self.name!r}: {tool!r} failed: {self._explain(exc)}") from None
            if isinstance(result, mcp_types.InputRequiredResult):
                return self._input_required(tool, result)
            if isinstance(result, mcp_types.CallToolResult) and result.is_error and self._refusals:
                text = " ".join(b.text for b in result.content if isinstance(b, mcp_types.TextContent))
                for message, asked in self._refusals.items():
                    if message in text:  # it wrapped our answer to its request for input in its own words
                        return _error_result(f"MCP server {self.name!r}: {tool!r} {CANNOT_ANSWER}: {asked}")
            if not isinstance(result, mcp_types.CallToolResult):
                raise MCPServerError(
                    f"MCP server {self.name!r} answered {tool!r} with a "
                    f"{type(result).__name__}, which ptc_jupyter does not support"
                )
            return result
        if self.state != "ready":  # died (or was closed) while this call was in flight
            raise self._gone()
        limit = f"{self.spec.call_timeout_s:g} s"
        if await self.ping():
            raise MCPServerError(
                f"MCP server {self.name!r} did not answer {tool!r} within {limit} "
                "(it still answers pings; the tool may just be slow)"
            )
        ping_limit = f"{self._ping_timeout_s():g} s"
        await self._lost(f"hangs: no answer to {tool!r} within {limit}, nor to a ping within {ping_limit}", wait_s=0)
        raise self._gone()

    async def ping(self) -> bool:
        """Does the server answer at all? One ping at a time, shared by everyone asking."""
        if self._session is None:
            return False
        if self._ping is None or self._ping.done():
            self._ping = asyncio.ensure_future(self._ping_once(self._session, self._ping_timeout_s()))
        return await asyncio.shield(self._ping)

    def _ping_timeout_s(self) -> float:
        limit = self.spec.call_timeout_s
        return PING_TIMEOUT_S if limit is None else min(PING_TIMEOUT_S, limit)

    @staticmethod
    async def _ping_once(session: ClientSession, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(session.send_ping(), timeout_s)
        except Exception:  # any failure to answer means: not alive
            return False
        return True


@asynccontextmanager
async def _http_transport(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    if not headers:
        async with streamable_http_client(url) as streams:
            yield streams
        return
    import httpx2  # mcp 2.x's HTTP client

    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            yield streams
