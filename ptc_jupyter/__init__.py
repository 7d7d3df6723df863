"""ptc-jupyter: Programmatic Tool Calling for Jupyter.

Claude writes one script in Anthropic's code-execution container; each call it makes to one of
your functions comes back to the kernel, runs there (many at once), and only the script's output
enters Claude's context. `%load_ext ptc_jupyter` for the magics; `ptc.run(...)` from plain Python.
"""

from __future__ import annotations

from typing import Any

from .api import acompare, arun, compare, run
from .host import RunError
from .results import to_text
from .session import Session, default_session
from .tools import Tool, ToolDefinitionError, ToolRegistry, registry, tool
from .trace import MIME_TYPE, Run, Script, ToolCall

__version__ = "0.1.0"

__all__ = [
    "MIME_TYPE", "Run", "RunError", "Script", "Session", "Tool", "ToolCall", "ToolDefinitionError",
    "ToolRegistry", "acompare", "arun", "compare", "default_session", "last", "registry", "run", "to_text", "tool",
]


def __getattr__(name: str) -> Any:
    if name == "last":  # the latest Run of this process
        from . import api

        return api.last
    if name == "mcp":  # MCP support loads on first use
        import importlib

        return importlib.import_module(f"{__name__}.mcp")
    raise AttributeError(f"module 'ptc_jupyter' has no attribute {name!r}")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where `jupyter labextension develop` finds the built extension."""
    return [{"src": "labextension", "dest": "ptc-jupyter"}]


def load_ipython_extension(ipython: Any) -> None:
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)
