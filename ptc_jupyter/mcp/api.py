"""`ptc_jupyter.mcp`'s API: the connected MCP servers of this process (add, remove, list, close).

Connections live on the process-wide background loop (`ptc_jupyter.host.background`, shared with sync
`ptc.run`), so they survive across cells and serve runs on any event loop. They close on `remove`,
`close_all`, `background_loop.stop()` and interpreter exit; the loop itself is not MCP's to stop.
When a server's tool list changes, its tools in the registry follow (same policy as when it was
added) and the next run's notices say what changed (`take_notices`).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ptc_jupyter.calls.results import DEFAULT_RESULT_BYTES
from ptc_jupyter.calls.tools import Tool, ToolDefinitionError, ToolRegistry
from ptc_jupyter.calls.tools import registry as default_registry
from ptc_jupyter.host.background import background_loop
from ptc_jupyter.mcp.client import CLOSE_TIMEOUT_S, Connection, MCPServerError, close_open
from ptc_jupyter.mcp.spec import DEFAULT_CALL_TIMEOUT_S, DEFAULT_START_TIMEOUT_S, server_spec
from ptc_jupyter.mcp.tools import ptc_name, to_ptc_tool

log = logging.getLogger(__name__)

__all__ = [
    "MCPServerError",
    "ServerStatus",
    "add",
    "close_all",
    "remove",
    "servers",
    "take_notices",
    "tool_changes",
    "wait_for_tool_changes",
]

_lock = threading.RLock()
_sync_lock = threading.Lock()  # a registry update after a tool-list change; never held while waiting for the loop


@dataclass
class _Policy:
    """How `add` was asked to build the server's tools; a changed tool list is built the same way."""

    allowed_callers: Sequence[str] | None
    side_effects: bool | None
    prefix: bool
    max_result_bytes: int


@dataclass
class _Server:
    connection: Connection
    registry: ToolRegistry
    tools: list[str]
    skipped: dict[str, str]
    policy: _Policy
    built: dict[str, Tool] = field(default_factory=dict)  # registry name -> the tool this server put there
    tools_version: int = 0  # the connection's listing these tools were built from


_servers: dict[str, _Server] = {}
_notices: list[str] = []  # tool-list changes not yet reported by a run
_changes = 0  # tool-list changes applied to the registry, in this process
_changed = threading.Condition(_sync_lock)


@dataclass(frozen=True)
class ServerStatus:
    """A snapshot of one server: how it is reached, its state, the tools it contributes."""

    name: str
    transport: str  # "stdio" or "http"
    target: str  # the command line or the URL
    state: str  # "ready", "dead" or "closed"
    tools: tuple[str, ...] = ()  # names in the tool registry
    skipped: Mapping[str, str] = field(default_factory=dict)  # MCP tool name -> why it is not offered
    server: str | None = None  # the server's own name and version
    protocol_version: str | None = None
    connect_s: float | None = None
    call_timeout_s: float | None = None
    failure: str | None = None  # why it is dead, its stderr tail, how to restart it
    stderr: str = ""  # the tail of the server's stderr (stdio servers)

    def __str__(self) -> str:
        via = f"{self.transport}: {self.target}"
        line = f"{self.name} ({via}): {self.state}, {len(self.tools)} tool{'s' * (len(self.tools) != 1)}"
        if self.tools:
            line += ": " + ", ".join(self.tools)
        for mcp_name, why in self.skipped.items():
            line += f"\n  skipped {mcp_name}: {why}"
        if self.failure:
            line += "\n" + self.failure
        return line


def _status(name: str, entry: _Server) -> ServerStatus:
    conn = entry.connection
    info = conn.server_info
    return ServerStatus(
        name=name,
        transport=conn.spec.transport,
        target=conn.spec.target,
        state=conn.state,
        tools=tuple(entry.tools),
        skipped=dict(entry.skipped),
        server=f"{info.name} {info.version}".strip() if info else None,
        protocol_version=conn.protocol_version,
        connect_s=conn.connect_s,
        call_timeout_s=conn.spec.call_timeout_s,
        failure=conn.failure,
        stderr=conn.stderr_tail(),
    )


def add(
    name: str,
    command: str | Sequence[str] | None = None,
    *,
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    headers: Mapping[str, str] | None = None,
    allowed_callers: Sequence[str] | None = None,
    side_effects: bool | None = None,
    prefix: bool = False,
    start_timeout: float = DEFAULT_START_TIMEOUT_S,
    call_timeout: float | None = DEFAULT_CALL_TIMEOUT_S,
    max_result_bytes: int = DEFAULT_RESULT_BYTES,
    registry: ToolRegistry | None = None,
    protocol: str | None = None,
) -> ServerStatus:
    """Connect to an MCP server and register its tools; adding a name again restarts that server.

    `command` starts a stdio server (`python` means this interpreter; `env` is added to a minimal
    safe environment, so pass API keys explicitly); `url` reaches a streamable HTTP server.
    `allowed_callers` / `side_effects` override every tool's policy; `prefix=True` names all tools
    `<name>_<tool>` (otherwise only clashing names are prefixed). Raises `MCPServerError` (with
    the server's stderr tail) when it does not start. `protocol="2026-07-28"` connects with
    `server/discover` at that version instead of the initialize handshake (the default).
    """
    spec = server_spec(name, command, url, env, cwd, headers, start_timeout, call_timeout)
    target = registry if registry is not None else default_registry
    with _lock:
        if name in _servers:
            remove(name)
        background_loop.on_stop(close_open)  # again after every stop: the loop forgets its cleanups
        conn = Connection(spec, protocol=protocol)
        policy = _Policy(allowed_callers, side_effects, prefix, max_result_bytes)
        try:
            started = background_loop.submit(conn.start())
            _preload_validation()  # overlaps with the server's start
            started.result()
            version = conn.tools_version
            built, skipped = _build_tools(conn, target, allowed_callers, side_effects, prefix, max_result_bytes)
        except BaseException:
            closing = background_loop.submit(conn.aclose())  # a failed or interrupted start leaves no process
            try:
                closing.result(CLOSE_TIMEOUT_S)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                log.warning("MCP server %r: not closed within %s s after its failed start", name, CLOSE_TIMEOUT_S)
            raise
        for built_tool in built:
            target.add(built_tool)
        entry = _Server(conn, target, [t.name for t in built], skipped, policy, {t.name: t for t in built}, version)
        _servers[name] = entry
        conn.on_tools_changed = lambda changed: _follow(entry)
        _follow(entry)  # a change that arrived while the tools were being registered
        return _status(name, entry)


def _same(a: Tool, b: Tool) -> bool:
    return (a.description, a.input_schema, list(a.allowed_callers), a.side_effects) == (
        b.description,
        b.input_schema,
        list(b.allowed_callers),
        b.side_effects,
    )


def _follow(entry: _Server) -> None:
    """Bring the registry up to the connection's latest tool list; note the change for the next run.

    Runs on the background loop after a change, and once in `add`: it must not wait for the loop."""
    global _changes
    conn = entry.connection
    with _sync_lock:
        if conn.tools_version == entry.tools_version or _servers.get(conn.name) is not entry:
            return
        entry.tools_version = conn.tools_version
        policy = entry.policy
        built, skipped = _build_tools(
            conn, entry.registry, policy.allowed_callers, policy.side_effects, policy.prefix, policy.max_result_bytes
        )
        new = {t.name: t for t in built}
        old = entry.built
        added = [n for n in new if n not in old]
        removed = [n for n in old if n not in new]
        changed = [n for n in new if n in old and not _same(new[n], old[n])]
        source = f"mcp:{conn.name}"
        for gone in removed:
            present = entry.registry.get(gone)
            if present is not None and present.source == source:
                entry.registry.remove(gone)
        for tool in built:
            entry.registry.add(tool)
        entry.built, entry.tools, entry.skipped = new, list(new), skipped
        parts = [
            f"{what}: {', '.join(names)}"
            for what, names in (("added", added), ("removed", removed), ("changed", changed))
            if names
        ]
        if parts:
            _notices.append(f"MCP server {conn.name!r}: tools changed ({'; '.join(parts)})")
        _changes += 1
        _changed.notify_all()


def tool_changes() -> int:
    """How many tool-list changes (of any server) have reached the registry so far."""
    with _sync_lock:
        return _changes


def wait_for_tool_changes(count: int, timeout: float | None = None) -> bool:
    """Wait until `tool_changes()` reaches `count` (False: `timeout` seconds passed first)."""
    with _changed:
        return _changed.wait_for(lambda: _changes >= count, timeout)


def take_notices() -> list[str]:
    """The tool-list changes since the last call, one line per change; a run shows them as notices."""
    with _sync_lock:
        taken = list(dict.fromkeys(_notices))
        _notices.clear()
    return taken


def _preload_validation() -> None:
    import jsonschema  # noqa: F401  (the session validates structured results with it, too)


def _build_tools(
    conn: Connection,
    target: ToolRegistry,
    allowed_callers: Sequence[str] | None,
    side_effects: bool | None,
    prefix: bool,
    max_result_bytes: int,
) -> tuple[list[Tool], dict[str, str]]:
    source = f"mcp:{conn.name}"
    built: list[Tool] = []
    skipped: dict[str, str] = {}
    mine: set[str] = set()

    def taken(candidate: str) -> bool:
        other = target.get(candidate)
        return candidate in mine or (other is not None and other.source != source)

    async def call(tool_name: str, arguments: dict[str, object]) -> object:
        problem = conn.unavailable()
        if problem:  # fail fast, without a trip to the loop thread
            raise problem
        return await background_loop.bridge(conn.call(tool_name, arguments))

    for mcp_tool in conn.tools:
        name = ptc_name(mcp_tool.name, conn.name, taken=taken, prefix=prefix)
        try:
            ptc_tool = to_ptc_tool(
                mcp_tool,
                call,  # type: ignore[arg-type]  # returns the CallToolResult the connection gives
                server=conn.name,
                name=name,
                allowed_callers=allowed_callers,
                side_effects=side_effects,
                max_result_bytes=max_result_bytes,
            )
        except ToolDefinitionError as exc:
            skipped[mcp_tool.name] = str(exc)
            continue
        mine.add(ptc_tool.name)
        built.append(ptc_tool)
    return built, skipped


def remove(name: str) -> ServerStatus:
    """Close the server (its process ends before this returns) and unregister its tools."""
    with _lock:
        with _sync_lock:  # after this no tool-list change reaches the registry
            entry = _servers.pop(name, None)
        if entry is None:
            known = ", ".join(_servers) or "none"
            raise KeyError(f"no MCP server named {name!r} (connected: {known})")
        try:
            _close([entry.connection])
        finally:
            entry.registry.remove_source(f"mcp:{name}")
        return _status(name, entry)


def servers() -> list[ServerStatus]:
    """Every added server, in the order added (dead ones too, until removed or added again)."""
    with _lock:
        return [_status(name, entry) for name, entry in _servers.items()]


def close_all() -> None:
    """Close every server and unregister its tools (`%unload_ext`, interpreter exit, tests).

    The background loop keeps running: sync `ptc.run` shares it.
    """
    with _lock:
        with _sync_lock:
            entries = list(_servers.items())
            _servers.clear()
        for name, entry in entries:
            entry.registry.remove_source(f"mcp:{name}")
        _close([entry.connection for _, entry in entries])


def _close(connections: list[Connection]) -> None:
    """Close connections from any thread but the loop's; returns when their processes have ended."""
    if connections and background_loop.running:  # a stopped loop closed them on its way out
        background_loop.run(_aclose(connections))


async def _aclose(connections: list[Connection]) -> None:
    await asyncio.gather(*(c.aclose() for c in connections))


atexit.register(close_all)  # before the loop's own atexit stop (atexit runs last-registered first)
