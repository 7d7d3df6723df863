"""MCP tools -> PTC `Tool`s: who may call them, input validation, and results as text.

Policy: programmatic by default; a server may set per-tool defaults in `_meta`
(`"ptc/allowed_callers"`, `"ptc/side_effects"`); the MCP annotations `readOnlyHint: false` or
`destructiveHint: true` mark side effects (approval per call, direct-only by default). Results are
text because PTC results must be: structured content as JSON, text blocks as they are, images,
audio and binary resources as a short note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from anthropic.lib.tools import ToolError
from mcp import types as mcp_types

from ptc_jupyter.calls.results import DEFAULT_RESULT_BYTES
from ptc_jupyter.calls.tools import CALLER_VALUES, Tool, ToolDefinitionError, ToolInputError, callers_for

META_ALLOWED_CALLERS = "ptc/allowed_callers"
META_SIDE_EFFECTS = "ptc/side_effects"
OUTPUT_SCHEMA_MAX_CHARS = 1_500
MAX_INPUT_PROBLEMS = 5
SANITIZE = re.compile(r"[^a-zA-Z0-9_-]")

CallFn = Callable[[str, dict[str, Any]], Awaitable[mcp_types.CallToolResult]]


# -- policy ------------------------------------------------------------------------------------
def annotated_side_effects(annotations: mcp_types.ToolAnnotations | None) -> bool:
    """`readOnlyHint: false`, or `destructiveHint: true` on a tool not marked read-only."""
    if annotations is None:
        return False
    if annotations.read_only_hint is False:
        return True
    return annotations.destructive_hint is True and annotations.read_only_hint is not True


def policy(
    tool: mcp_types.Tool,
    *,
    allowed_callers: Sequence[str] | None = None,
    side_effects: bool | None = None,
) -> tuple[list[str], bool]:
    """(allowed_callers, side_effects) for one tool: the caller's override, else `_meta`, else defaults."""
    meta = tool.meta or {}
    if side_effects is None:
        hinted = meta.get(META_SIDE_EFFECTS)
        if hinted is not None and not isinstance(hinted, bool):
            raise ToolDefinitionError(f"_meta[{META_SIDE_EFFECTS!r}] must be true or false, got {hinted!r}")
        side_effects = hinted if hinted is not None else annotated_side_effects(tool.annotations)
    if allowed_callers is None and META_ALLOWED_CALLERS in meta:
        hinted = meta[META_ALLOWED_CALLERS]
        allowed_callers = [hinted] if isinstance(hinted, str) else hinted
        if not isinstance(allowed_callers, list) or not all(c in CALLER_VALUES for c in allowed_callers):
            raise ToolDefinitionError(
                f"_meta[{META_ALLOWED_CALLERS!r}] must list values of {CALLER_VALUES}, got {hinted!r}"
            )
    if allowed_callers is None:
        allowed_callers = callers_for(direct=False, side_effects=side_effects, allow_code=False)
    return list(allowed_callers), side_effects


def ptc_name(mcp_name: str, server: str, *, taken: Callable[[str], bool], prefix: bool = False) -> str:
    """The tool's name in the registry: the MCP name, prefixed `<server>_` when it clashes (or asked)."""
    name = SANITIZE.sub("_", mcp_name)[:128] or "tool"
    if prefix or taken(name):
        name = f"{server}_{name}"[:128]
    base, n = name, 2
    while taken(name):
        suffix = f"_{n}"
        name, n = base[: 128 - len(suffix)] + suffix, n + 1
    return name


# -- definition and validation -----------------------------------------------------------------
def _untitled(node: Any) -> Any:
    """A schema without pydantic's `title` noise (for the description only)."""
    if isinstance(node, dict):
        return {k: _untitled(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_untitled(v) for v in node]
    return node


def wrapped_result_schema(output_schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema of `v` when a server wraps a plain return value as `{"result": v}` (the SDKs do)."""
    if not output_schema or output_schema.get("required") != ["result"]:
        return None
    properties = output_schema.get("properties")
    if not isinstance(properties, dict) or list(properties) != ["result"]:
        return None
    inner = properties["result"]
    return inner if isinstance(inner, dict) else None


def description(tool: mcp_types.Tool, server: str) -> str:
    """The MCP description, plus the output schema when there is one (Claude's script parses results)."""
    text = (tool.description or tool.title or f"Tool {tool.name!r} of the MCP server {server!r}.").strip()
    shape = wrapped_result_schema(tool.output_schema) or tool.output_schema
    if shape and shape.get("type") != "string":
        compact = json.dumps(_untitled(shape), separators=(",", ":"), ensure_ascii=False)
        if len(compact) <= OUTPUT_SCHEMA_MAX_CHARS:
            text += f"\n\nReturns JSON matching this schema: {compact}"
    return text


def input_schema(tool: mcp_types.Tool) -> dict[str, Any]:
    schema = dict(tool.input_schema or {})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    return schema


def schema_validator(tool_name: str, schema: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Validate an input against the server's JSON schema; `ToolInputError` says what is wrong, briefly."""
    import jsonschema  # slow to import (~1 s here): loaded while the first server starts

    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ToolDefinitionError(
            f"Tool {tool_name!r}: its input schema is not valid JSON Schema: {exc.message}"
        ) from None
    validator = validator_class(schema)

    def validate(tool_input: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(tool_input, dict):
            raise ToolInputError(f"input must be a JSON object, got {type(tool_input).__name__}")
        errors = sorted(validator.iter_errors(tool_input), key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            problems = "; ".join(
                f"{'.'.join(map(str, e.absolute_path)) or 'input'}: {e.message}" for e in errors[:MAX_INPUT_PROBLEMS]
            )
            more = f" (and {len(errors) - MAX_INPUT_PROBLEMS} more)" if len(errors) > MAX_INPUT_PROBLEMS else ""
            raise ToolInputError(f"invalid input for {tool_name}: {problems}{more}")
        return dict(tool_input)

    return validate


# -- results -----------------------------------------------------------------------------------
def _size(data_b64: str) -> str:
    n = len(data_b64) * 3 // 4 - data_b64[-2:].count("=")
    return f"{n / 1024:.1f} kB" if n >= 1024 else f"{n} bytes"


def content_text(block: Any) -> str:
    """One MCP content block as text; what cannot be text becomes a short note saying so."""
    kind = getattr(block, "type", type(block).__name__)
    if isinstance(block, mcp_types.TextContent):
        return block.text
    if isinstance(block, (mcp_types.ImageContent, mcp_types.AudioContent)):
        return f"[{kind} ({block.mime_type}, {_size(block.data)}) omitted: programmatic tool results must be text]"
    if isinstance(block, mcp_types.ResourceLink):
        mime = f", {block.mime_type}" if block.mime_type else ""
        return f"[resource link: {block.name} <{block.uri}>{mime}]"
    if isinstance(block, mcp_types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mcp_types.TextResourceContents):
            return resource.text
        mime = resource.mime_type or "application/octet-stream"
        return f"[resource <{resource.uri}> ({mime}, {_size(resource.blob)}) omitted: binary]"
    return f"[{kind} content omitted: not supported as text]"


def result_text(result: mcp_types.CallToolResult, *, wrapped: bool = False) -> str:
    """What the model's script receives, as a kernel function returning the same value would give it.

    Structured content as JSON (a `{"result": v}` wrapper, when `wrapped`, as `v`: text as it is,
    anything else as JSON); else the content blocks as text. `isError` raises `ToolError`.
    """
    if result.is_error:
        message = "\n".join(content_text(b) for b in result.content).strip()
        raise ToolError(message or "the tool reported an error without a message")
    structured = result.structured_content
    if structured is not None:
        if wrapped and isinstance(structured, dict) and list(structured) == ["result"]:
            value = structured["result"]
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return json.dumps(structured, ensure_ascii=False)
    return "\n".join(content_text(b) for b in result.content)


# -- the Tool ----------------------------------------------------------------------------------
def to_ptc_tool(
    tool: mcp_types.Tool,
    call: CallFn,
    *,
    server: str,
    name: str | None = None,
    allowed_callers: Sequence[str] | None = None,
    side_effects: bool | None = None,
    max_result_bytes: int = DEFAULT_RESULT_BYTES,
) -> Tool:
    """A PTC tool whose async `invoke` calls the MCP tool through `call(mcp_name, arguments)`."""
    name = name or tool.name
    callers, effects = policy(tool, allowed_callers=allowed_callers, side_effects=side_effects)
    schema = input_schema(tool)
    mcp_name = tool.name
    wrapped = wrapped_result_schema(tool.output_schema) is not None

    async def invoke(**arguments: Any) -> str:
        return result_text(await call(mcp_name, arguments), wrapped=wrapped)

    invoke.__name__ = invoke.__qualname__ = name
    return Tool(
        name=name,
        description=description(tool, server),
        input_schema=schema,
        allowed_callers=callers,
        invoke=invoke,
        validate=schema_validator(name, schema),
        is_async=True,
        side_effects=effects,
        source=f"mcp:{server}",
        max_result_bytes=max_result_bytes,
    )
