"""MCP servers' tools as PTC tools: `ptc.mcp.add(name, command=[...])` or `add(name, url=...)`.

Claude Code cannot call MCP tools programmatically; here a server's tools join the tool registry
(source "mcp:<server>") and Claude's script calls them like kernel functions, many at once. Works
without IPython. Connections live on one background loop thread (see `mcp_client`), so they survive
across cells and runs on any event loop, and close on `remove`, `close_all` or interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shlex
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .mcp_client import (
    CLOSE_TIMEOUT_S,
    DEFAULT_CALL_TIMEOUT_S,
    DEFAULT_START_TIMEOUT_S,
    Connection,
    MCPServerError,
    ServerSpec,
)
from .mcp_loop import LoopThread
from .mcp_tools import ptc_name, to_ptc_tool
from .results import DEFAULT_RESULT_BYTES
from .tools import NAME_PATTERN, Tool, ToolDefinitionError, ToolRegistry
from .tools import registry as default_registry

__all__ = ["MCPServerError", "ServerStatus", "add", "close_all", "remove", "servers"]

_thread = LoopThread()
_lock = threading.RLock()


@dataclass
class _Server:
    connection: Connection
    registry: ToolRegistry
    tools: list[str]
    skipped: dict[str, str]


_servers: dict[str, _Server] = {}


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
    failure: str | None = None
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
        name=name, transport=conn.spec.transport, target=conn.spec.target, state=conn.state,
        tools=tuple(entry.tools), skipped=dict(entry.skipped),
        server=f"{info.name} {info.version}".strip() if info else None,
        protocol_version=conn.protocol_version, connect_s=conn.connect_s,
        call_timeout_s=conn.spec.call_timeout_s, failure=conn.failure,
        stderr=conn.stderr_tail(),
    )


def _command(command: str | Sequence[str]) -> tuple[str, ...]:
    parts = shlex.split(command) if isinstance(command, str) else [str(p) for p in command]
    if not parts:
        raise ValueError("command is empty: give the program to start, e.g. ['python', 'server.py']")
    if parts[0] in ("python", "python3"):  # the kernel's interpreter, not whichever is first on PATH
        parts[0] = sys.executable
    return tuple(parts)


def _spec(name: str, command: str | Sequence[str] | None, url: str | None, env: Mapping[str, str] | None,
          cwd: str | os.PathLike[str] | None, headers: Mapping[str, str] | None,
          start_timeout: float, call_timeout: float | None) -> ServerSpec:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > 64:
        raise ValueError(f"server name {name!r} is not allowed: use letters, digits, '_' and '-' (at most 64)")
    if (command is None) == (url is None):
        raise ValueError("give either command=[...] (a stdio server) or url=... (a streamable HTTP server)")
    if url is not None and not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, got {url!r}")
    if url is not None and (env or cwd):
        raise ValueError("env= and cwd= apply to stdio servers (command=...), not to url=")
    if command is not None and headers:
        raise ValueError("headers= apply to HTTP servers (url=...), not to command=")
    if start_timeout <= 0 or (call_timeout is not None and call_timeout <= 0):
        raise ValueError("timeouts must be positive numbers of seconds")
    return ServerSpec(
        name=name, command=_command(command) if command is not None else (), url=url,
        env=tuple((str(k), str(v)) for k, v in (env or {}).items()),
        cwd=os.fspath(cwd) if cwd is not None else None,
        headers=tuple((str(k), str(v)) for k, v in (headers or {}).items()),
        start_timeout_s=float(start_timeout), call_timeout_s=call_timeout,  # type: ignore[arg-type]
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
) -> ServerStatus:
    """Connect to an MCP server and register its tools; adding a name again restarts that server.

    `command` starts a stdio server (`python` means this interpreter; `env` is added to a minimal
    safe environment, so pass API keys explicitly); `url` reaches a streamable HTTP server.
    `allowed_callers` / `side_effects` override every tool's policy; `prefix=True` names all tools
    `<name>_<tool>` (otherwise only clashing names are prefixed). Raises `MCPServerError` (with
    the server's stderr tail) when it does not start.
    """
    spec = _spec(name, command, url, env, cwd, headers, start_timeout, call_timeout)
    target = registry if registry is not None else default_registry
    with _lock:
        if name in _servers:
            remove(name)
        conn = Connection(spec)
        try:
            started = _thread.submit(conn.start())
            _preload_validation()  # overlaps with the server's start
            started.result()
            built, skipped = _build_tools(conn, target, allowed_callers, side_effects, prefix, max_result_bytes)
        except BaseException:
            closing = _thread.submit(conn.aclose())  # a failed or interrupted start leaves no process
            with contextlib.suppress(Exception):
                closing.result(CLOSE_TIMEOUT_S)
            raise
        for built_tool in built:
            target.add(built_tool)
        entry = _Server(conn, target, [t.name for t in built], skipped)
        _servers[name] = entry
        return _status(name, entry)


def _preload_validation() -> None:
    import jsonschema  # noqa: F401  (the session validates structured results with it, too)


def _build_tools(conn: Connection, target: ToolRegistry, allowed_callers: Sequence[str] | None,
                 side_effects: bool | None, prefix: bool, max_result_bytes: int) -> tuple[list[Tool], dict[str, str]]:
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
        return await _thread.bridge(conn.call(tool_name, arguments))

    for mcp_tool in conn.tools:
        name = ptc_name(mcp_tool.name, conn.name, taken=taken, prefix=prefix)
        try:
            ptc_tool = to_ptc_tool(mcp_tool, call, server=conn.name, name=name,  # type: ignore[arg-type]
                                   allowed_callers=allowed_callers, side_effects=side_effects,
                                   max_result_bytes=max_result_bytes)
        except ToolDefinitionError as exc:
            skipped[mcp_tool.name] = str(exc)
            continue
        mine.add(ptc_tool.name)
        built.append(ptc_tool)
    return built, skipped


def remove(name: str) -> ServerStatus:
    """Close the server (its process ends before this returns) and unregister its tools."""
    with _lock:
        entry = _servers.pop(name, None)
        if entry is None:
            known = ", ".join(_servers) or "none"
            raise KeyError(f"no MCP server named {name!r} (connected: {known})")
        try:
            _thread.run(entry.connection.aclose())
        finally:
            entry.registry.remove_source(f"mcp:{name}")
        return _status(name, entry)


def servers() -> list[ServerStatus]:
    """Every added server, in the order added (dead ones too, until removed or added again)."""
    with _lock:
        return [_status(name, entry) for name, entry in _servers.items()]


def close_all() -> None:
    """Close every server and stop the loop thread (for `%unload_ext`, kernel shutdown, tests)."""
    with _lock:
        entries = list(_servers.items())
        _servers.clear()
        connections = [entry.connection for _, entry in entries]
        for name, entry in entries:
            entry.registry.remove_source(f"mcp:{name}")
        if connections:
            try:
                _thread.run(_close(connections))
            finally:
                _thread.stop()
        else:
            _thread.stop()


async def _close(connections: list[Connection]) -> None:
    await asyncio.gather(*(c.aclose() for c in connections), return_exceptions=True)


atexit.register(close_all)
