"""Python sandboxes in local subprocesses: the emulator's containers, and `--sandbox local`.

A sandbox is a persistent REPL in a subprocess (`repl.py`) whose tools are async functions; their
calls come back to the parent in batches. This package holds what both users share: the REPL, its
process seen from an asyncio loop (`process.py`), its limits (`config.py`, `os_limits.py`,
`tree.py`) and a script's bookkeeping (`script.py`); and, for a model without code execution,
`LocalSandbox` (`local.py`) and the `run_python` tool that feeds it (`tool.py`).

It is not a security boundary: see docs/security.md for what each limit enforces on which OS.
"""

from ptc_jupyter.sandbox.config import SandboxConfig
from ptc_jupyter.sandbox.local import LocalSandbox, SandboxResult, ToolRequest
from ptc_jupyter.sandbox.tool import RUN_PYTHON, run_python_tool_definition

__all__ = ["RUN_PYTHON", "LocalSandbox", "SandboxConfig", "SandboxResult", "ToolRequest", "run_python_tool_definition"]
