"""ptc-jupyter: Programmatic Tool Calling for Jupyter.

Claude writes one script in Anthropic's code-execution container; each call it makes to one of
your functions comes back to the kernel, runs there (many at once), and only the script's output
enters Claude's context. `%load_ext ptc_jupyter` for the magics; `ptc.run(...)` from plain Python.

Importing is cheap: the SDK, the widgets and the emulator load with the first run that needs them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

from ptc_jupyter import display  # noqa: F401 (installs the views a Run shows itself with)
from ptc_jupyter.calls.results import to_text
from ptc_jupyter.calls.tools import Tool, ToolDefinitionError, ToolRegistry, registry, tool
from ptc_jupyter.constants import MIME_TYPE
from ptc_jupyter.errors import OptionError, RunError
from ptc_jupyter.options import RunOptions
from ptc_jupyter.trace.run import Run, ToolCall

if TYPE_CHECKING:  # loaded on first use, see __getattr__
    from ptc_jupyter import mcp, pricing
    from ptc_jupyter.api import acompare, arun, compare, run
    from ptc_jupyter.api import last as last
    from ptc_jupyter.conversation import Conversation
    from ptc_jupyter.host.session import Session, default_session
    from ptc_jupyter.mcp.server import serve

__version__ = importlib.metadata.version("ptc-jupyter")  # labextension/package.json's, via hatch-nodejs-version

#: The public names, the one list (tests/test_public_names.py checks that README.md and the
#: notebooks use no `ptc.<name>` missing here).
__all__ = [
    "MIME_TYPE",
    "Conversation",
    "OptionError",
    "Run",
    "RunError",
    "RunOptions",
    "Session",
    "Tool",
    "ToolCall",
    "ToolDefinitionError",
    "ToolRegistry",
    "acompare",
    "arun",
    "compare",
    "default_session",
    "last",
    "mcp",
    "pricing",
    "registry",
    "run",
    "serve",
    "to_text",
    "tool",
]

#: Names whose modules load the SDK, the host or the emulator: imported on first use.
_LAZY = {
    "run": "api",
    "arun": "api",
    "compare": "api",
    "acompare": "api",
    "last": "api",
    "Conversation": "conversation",
    "Session": "host.session",
    "default_session": "host.session",
    "serve": "mcp.server",
}
_MODULES = {"mcp", "pricing"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ptc_jupyter' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    if name != "last":  # `last` changes with every run; the others are cached here
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where `jupyter labextension develop` finds the built extension."""
    return [{"src": "labextension", "dest": "ptc-jupyter"}]


def load_ipython_extension(ipython: Any) -> None:
    from ptc_jupyter.notebook.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from ptc_jupyter.notebook.magics import unload_ipython_extension as unload

    unload(ipython)
