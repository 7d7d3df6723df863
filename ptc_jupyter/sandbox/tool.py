"""The one client tool a model without code execution gets for `--sandbox local`: `run_python`.

Its description teaches the PTC convention (each tool an async function taking one dict, returning
a string; `await` them, `asyncio.gather` them) and lists every tool with its description, its input
schema and a call example, so the model can write the same scripts it would write for the API's
code execution.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ptc_jupyter.sandbox.config import SandboxConfig

RUN_PYTHON = "run_python"
_EXAMPLES = {"string": "...", "integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}, "null": None}


def run_python_tool_definition(tools: Iterable[Any], config: SandboxConfig | None = None) -> dict:
    """The `run_python` tool definition offering `tools` (API tool definitions as dicts, or objects
    with `name`, `description` and `input_schema`, like `ptc_jupyter.calls.tools.Tool`) to scripts.

    `config` (the sandbox's limits) only changes what the description says about output and network.
    """
    config = config or SandboxConfig()
    entries = [_tool_entry(tool) for tool in tools]
    network = "It has no network access." if not config.network else "It may use the network."
    description = "\n".join(
        [
            "Run Python code in a sandbox on the user's machine (a persistent REPL: variables, imports and "
            "functions stay defined between calls of this tool in this conversation). Top-level `await` works.",
            "",
            "The user's tools below are async functions already defined in the global namespace. Each takes one "
            "dict of arguments and returns a string (often JSON: use json.loads). Call one as `await name({...})`; "
            "to run several at once, use `await asyncio.gather(name({...}), other({...}))`. Their results reach "
            "only the script, not you: print what you need.",
            "",
            f"Only what the code prints comes back to you: stdout and stderr, each cut after {config.output_bytes} "
            f"bytes, and the return code. So compute, filter and summarize in the code. {network}"
            + (
                f" A script may run {config.wall_time_s:g} seconds (time waiting for tools not counted)."
                if config.wall_time_s is not None
                else ""
            ),
            "",
            "Tools:" if entries else "No tools are available to the code.",
            *entries,
        ]
    )
    return {
        "name": RUN_PYTHON,
        "description": description,
        "input_schema": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
            "additionalProperties": False,
        },
    }


def _tool_entry(tool: Any) -> str:
    if isinstance(tool, Mapping):
        name, description, schema = tool["name"], tool.get("description", ""), tool.get("input_schema", {})
    else:
        name, description, schema = tool.name, tool.description, tool.input_schema
    function = name if name.isidentifier() else f"globals()[{name!r}]"
    example = f"result = await {function}({_example_args(schema)!r})"
    lines = [
        f"- {name}: {' '.join((description or '(no description)').split())}",
        f"  Input schema: {json.dumps(schema, separators=(', ', ': '))}",
        f"  Call: {example}",
    ]
    return "\n".join(lines)


def _example_args(schema: Mapping[str, Any]) -> dict:
    """Placeholder arguments for the schema's required properties (all of them when none is required)."""
    properties = schema.get("properties") or {}
    names = schema.get("required") or list(properties)
    args = {}
    for name in names:
        prop = properties.get(name) or {}
        if prop.get("enum"):
            args[name] = prop["enum"][0]
        elif "default" in prop:
            args[name] = prop["default"]
        else:
            kind = prop.get("type")
            args[name] = _EXAMPLES.get(str(kind[0] if isinstance(kind, list) and kind else kind), "...")
    return args
