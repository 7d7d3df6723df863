"""How to reach one MCP server (a command, or a URL), checked before anything starts.

Light on purpose (no MCP SDK): `%load_ext ptc_jupyter` reads the default timeouts from here.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ptc_jupyter.calls.tools import NAME_PATTERN

DEFAULT_START_TIMEOUT_S = 30.0
DEFAULT_CALL_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ServerSpec:
    """How to reach one server: a command (stdio) or a URL (streamable HTTP)."""

    name: str
    command: tuple[str, ...] = ()
    url: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    call_timeout_s: float | None = DEFAULT_CALL_TIMEOUT_S  # None: wait as long as the host lets it

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    @property
    def target(self) -> str:
        return self.url or shlex.join(self.command)


def _command(command: str | Sequence[str]) -> tuple[str, ...]:
    parts = shlex.split(command) if isinstance(command, str) else [str(p) for p in command]
    if not parts:
        raise ValueError("command is empty: give the program to start, e.g. ['python', 'server.py']")
    if parts[0] in ("python", "python3"):  # the kernel's interpreter, not whichever is first on PATH
        parts[0] = sys.executable
    return tuple(parts)


def server_spec(
    name: str,
    command: str | Sequence[str] | None,
    url: str | None,
    env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
    headers: Mapping[str, str] | None,
    start_timeout: float,
    call_timeout: float | None,
) -> ServerSpec:
    """`add`'s arguments as a `ServerSpec`; a `ValueError` says what does not fit."""
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
        name=name,
        command=_command(command) if command is not None else (),
        url=url,
        env=tuple((str(k), str(v)) for k, v in (env or {}).items()),
        cwd=os.fspath(cwd) if cwd is not None else None,
        headers=tuple((str(k), str(v)) for k, v in (headers or {}).items()),
        start_timeout_s=float(start_timeout),
        call_timeout_s=call_timeout,
    )
