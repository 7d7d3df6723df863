"""MCP servers' tools as PTC tools: `ptc.mcp.add(name, command=[...])` or `add(name, url=...)`.

Claude Code cannot call MCP tools programmatically; here a server's tools join the tool registry
(source "mcp:<server>") and Claude's script calls them like kernel functions, many at once. Works
without IPython. The names below load `api` (and with it the MCP SDK) on first use, so
`%load_ext ptc_jupyter`, which registers `%ptc_mcp` from `ptc_jupyter.mcp.magics`, stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ptc_jupyter.mcp.api import ServerStatus, add, close_all, remove, servers
    from ptc_jupyter.mcp.client import MCPServerError

__all__ = ["MCPServerError", "ServerStatus", "add", "close_all", "remove", "servers"]

_HOME = {
    "MCPServerError": "client",
    "ServerStatus": "api",
    "add": "api",
    "close_all": "api",
    "remove": "api",
    "servers": "api",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
