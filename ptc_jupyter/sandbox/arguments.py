"""Which tools a script may call with one positional string: `await query("<sql>")`.

The documented form passes one dict (`await query({"sql": "..."})`) or keyword arguments; the April
2026 documentation showed a lone positional string (shared/ptc-protocol.md 1.2), so scripts use
both. A lone string fills the tool's only string parameter, when every other parameter is
optional. The sandbox's REPL (told the tools in its "run" message) and `%ptc_script` cells apply
the same rule, so a script gets the same input, and output, in each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def string_parameter(input_schema: Mapping[str, Any] | None) -> str | None:
    """The parameter a lone positional string fills, or None if the tool takes none."""
    schema = input_schema if isinstance(input_schema, Mapping) else {}
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    strings = [name for name, spec in properties.items() if isinstance(spec, Mapping) and spec.get("type") == "string"]
    required = set(schema.get("required") or ())
    if len(strings) != 1 or required - set(strings):
        return None
    return strings[0]


def positional_parameters(tools: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """Tool name -> the parameter its lone positional string fills, for tool definitions as the
    Messages API takes them (`name`, `input_schema`)."""
    found = {}
    for tool in tools or ():
        if isinstance(tool, Mapping) and isinstance(tool.get("name"), str):
            name = string_parameter(tool.get("input_schema"))
            if name is not None:
                found[tool["name"]] = name
    return found
