"""Tools: notebook functions (and MCP servers' tools) as PTC tool definitions, and the registry.

Definitions come from anthropic's `beta_tool` (schema from the signature, descriptions from the
docstring). What PTC would reject later is refused here, at registration, with a message that
says how to fix it. Inputs are validated against the signature before the function runs.
"""

from __future__ import annotations

import inspect
import math
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic

from ptc_jupyter.calls.results import DEFAULT_RESULT_BYTES, to_text
from ptc_jupyter.constants import CALLER_VALUES, CODE_EXECUTION_CALLER, TOOL_NAME_PATTERN

__all__ = [
    "CODE_EXECUTION_CALLER",
    "DEFAULT_RESULT_BYTES",
    "Tool",
    "ToolDefinitionError",
    "ToolInputError",
    "ToolRegistry",
    "registry",
    "tool",
    "to_text",
]

NAME_PATTERN = re.compile(TOOL_NAME_PATTERN)


class ToolDefinitionError(ValueError):
    """A function that cannot become a PTC tool (raised at registration)."""


class ToolInputError(ValueError):
    """Input from the model that does not fit the tool's signature (becomes an is_error result)."""


@dataclass
class Tool:
    """A tool the host can offer and run. Built by `tool()` or by an MCP connection."""

    name: str
    description: str
    input_schema: dict[str, Any]
    allowed_callers: list[str]
    invoke: Callable[..., Any]  # called with the validated keyword arguments; may be async
    validate: Callable[[dict[str, Any]], dict[str, Any]] = field(repr=False)
    is_async: bool = False
    side_effects: bool = False
    source: str = "kernel"  # "kernel" or "mcp:<server>"
    max_result_bytes: int = DEFAULT_RESULT_BYTES
    func: Callable[..., Any] | None = field(default=None, repr=False)  # the user's function

    def __post_init__(self) -> None:
        check_name(self.name)
        for caller in self.allowed_callers:
            if caller not in CALLER_VALUES:
                raise ToolDefinitionError(
                    f"Tool {self.name!r}: allowed_callers value {caller!r} is not one of {CALLER_VALUES}."
                )
        check_schema(self.name, self.input_schema)

    @property
    def programmatic(self) -> bool:
        """Claude's code may call it (any code-execution caller is allowed)."""
        return any(c.startswith("code_execution_") for c in self.allowed_callers)

    @property
    def direct(self) -> bool:
        return "direct" in self.allowed_callers

    def definition(self, *, direct_mode: bool = False) -> dict[str, Any]:
        """The tool entry sent to the API. `direct_mode` offers it for classic tool calling."""
        callers = ["direct"] if direct_mode else list(self.allowed_callers)
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "allowed_callers": callers,
        }


def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ToolDefinitionError(
            f"Tool name {name!r} is not allowed: names must match ^[a-zA-Z0-9_-]{{1,128}}$ "
            "(letters, digits, '_' and '-', at most 128). Pass name=... to choose another."
        )


def check_schema(name: str, schema: dict[str, Any]) -> None:
    """Refuse schemas PTC rejects: a `$ref` cycle ("Circular $ref detected")."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ToolDefinitionError(f"Tool {name!r}: input_schema must be a JSON Schema object with type 'object'.")
    defs = {**schema.get("$defs", {}), **schema.get("definitions", {})}

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield ref.rsplit("/", 1)[-1]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    graph = {key: set(refs(value)) for key, value in defs.items()}

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return path + [nxt]
                if nxt not in path:
                    stack.append((nxt, path + [nxt]))
        return None

    for key in graph:
        cycle = cycle_from(key)
        if cycle:
            raise ToolDefinitionError(
                f"Tool {name!r}: its input schema is recursive ({' -> '.join(cycle)}), which programmatic "
                "tool calling rejects ('Circular $ref detected'). Flatten the type, or take a JSON string "
                "and parse it yourself."
            )


#: Inputs nested deeper than this are refused before validation (JSON from the API is never this deep).
MAX_INPUT_DEPTH = 64
_LABEL_CHARS = 40
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _label(part: Any) -> str:
    """One step of a field path, printable and short (a key may be any string the model sent)."""
    text = str(part).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def field_path(loc: Sequence[Any]) -> str:
    """`('a', 0, 'b')` -> `a.0.b`; the whole input is `input`."""
    return ".".join(_label(part) for part in loc) or "input"


def _json_problem(value: Any) -> str | None:
    """Why a single value cannot have come from JSON, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a JSON number (NaN and Infinity are not allowed)"
    if isinstance(value, str):
        bad = _LONE_SURROGATE.search(value)
        if bad:
            return f"text has a lone surrogate {bad.group()!a} at index {bad.start()}, which is not valid Unicode"
    return None


def json_input_problem(tool_input: dict[str, Any]) -> str | None:
    """What JSON cannot carry and validation must not see, with the field's path: NaN and
    Infinity, lone surrogates (in values or keys), non-string keys, nesting deeper than
    MAX_INPUT_DEPTH. Iterative, so a deeply nested input cannot exhaust the stack."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), tool_input)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_INPUT_DEPTH:
            return f"{field_path(path[:1])}: nested deeper than {MAX_INPUT_DEPTH} levels"
        problem = _json_problem(value)
        if problem:
            return f"{field_path(path)}: {problem}"
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or _LONE_SURROGATE.search(key):
                    return f"{field_path(path + (key,))}: keys must be valid Unicode strings"
                stack.append((path + (key,), item))
        elif isinstance(value, (list, tuple)):
            stack.extend((path + (i,), item) for i, item in enumerate(value))
    return None


def _signature_validator(func: Callable[..., Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Validate and coerce a tool input against `func`'s signature without calling `func`.

    Coercion is pydantic's lax mode (e.g. "4" -> 4, 4.0 -> 4, "yes"/1 -> True, a dict -> the
    pydantic model, dataclass or TypedDict, a string -> an enum member), with NaN and Infinity
    refused for float parameters too. Unknown top-level keys are refused; nested objects follow
    their own type (pydantic models ignore extra keys unless configured with extra="forbid").
    """
    sig = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except NameError as exc:
        raise ToolDefinitionError(
            f"Tool {func.__name__!r}: a type in its signature cannot be resolved ({exc}); "
            "define the types it uses at module level"
        ) from None

    def bind(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    bind.__signature__ = sig.replace(return_annotation=inspect.Signature.empty)  # type: ignore[attr-defined]
    bind.__annotations__ = {k: v for k, v in hints.items() if k != "return"}
    checked = pydantic.validate_call(config=pydantic.ConfigDict(allow_inf_nan=False))(bind)

    def validate(tool_input: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(tool_input, dict):
            raise ToolInputError(f"input must be a JSON object, got {type(tool_input).__name__}")
        problem = json_input_problem(tool_input)
        if problem:
            raise ToolInputError(f"invalid input for {func.__name__}: {problem}")
        try:
            return checked(**tool_input)
        except pydantic.ValidationError as exc:
            problems = "; ".join(f"{field_path(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
            raise ToolInputError(f"invalid input for {func.__name__}: {problems}") from None

    return validate


def _check_function(func: Callable[..., Any], name: str) -> None:
    if not callable(func):
        raise ToolDefinitionError(f"Tool {name!r}: expected a function, got {type(func).__name__}.")
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise ToolDefinitionError(f"Tool {name!r}: cannot read its signature ({exc}).") from None
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind is p.VAR_POSITIONAL else "**"
            raise ToolDefinitionError(
                f"Tool {name!r}: parameter {star}{p.name} cannot be described as a JSON schema; "
                "give the tool named, typed parameters (wrap the function if needed)."
            )
        if p.kind is p.POSITIONAL_ONLY:
            raise ToolDefinitionError(
                f"Tool {name!r}: positional-only parameter {p.name!r} cannot be passed by name; remove the '/'."
            )
    if inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func):
        raise ToolDefinitionError(f"Tool {name!r}: generators are not supported; return a value instead.")


def callers_for(*, direct: bool, side_effects: bool, allow_code: bool) -> list[str]:
    """The allowed_callers policy: programmatic by default; side effects are direct-only unless allowed."""
    if side_effects:
        return ["direct", CODE_EXECUTION_CALLER] if allow_code else ["direct"]
    return ["direct", CODE_EXECUTION_CALLER] if direct else [CODE_EXECUTION_CALLER]


def function_tool(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    direct: bool = False,
    side_effects: bool = False,
    allow_code: bool = False,
    allowed_callers: Sequence[str] | None = None,
    max_result_bytes: int = DEFAULT_RESULT_BYTES,
) -> Tool:
    """Turn a plain or async function into a `Tool` (definition built by anthropic's beta_tool)."""
    name = name if name is not None else getattr(func, "__name__", "")
    check_name(name)
    _check_function(func, name)
    is_async = inspect.iscoroutinefunction(func)
    from anthropic.lib.tools import beta_async_tool, beta_tool  # the SDK loads with the first tool

    make = beta_async_tool if is_async else beta_tool
    try:
        validate = _signature_validator(func)
        built = make(func, name=name, description=description)
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError) as exc:
        raise ToolDefinitionError(f"Tool {name!r}: its parameters cannot become a JSON schema: {exc}") from None
    if not built.description.strip():
        raise ToolDefinitionError(
            f"Tool {name!r} has no description: add a docstring saying what it returns (Claude's script "
            "parses the result, so describe its shape), or pass description=..."
        )
    callers = (
        list(allowed_callers)
        if allowed_callers is not None
        else callers_for(direct=direct, side_effects=side_effects, allow_code=allow_code)
    )
    return Tool(
        name=name,
        description=built.description,
        input_schema=dict(built.input_schema),
        allowed_callers=callers,
        invoke=func,
        validate=validate,
        is_async=is_async,
        side_effects=side_effects,
        max_result_bytes=max_result_bytes,
        func=func,
    )


class ToolRegistry:
    """Name -> Tool. Re-registering a name replaces it (re-running a notebook cell is normal)."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def add(self, tool_: Tool) -> Tool:
        self._tools[tool_.name] = tool_
        return tool_

    def remove(self, name: str) -> Tool | None:
        return self._tools.pop(name, None)

    def remove_source(self, source: str) -> list[str]:
        names = [n for n, t in self._tools.items() if t.source == source]
        for n in names:
            del self._tools[n]
        return names

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __getitem__(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise KeyError(f"no tool named {name!r} (registered: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def select(self, tools: Iterable[str | Tool | Callable[..., Any]] | None) -> list[Tool]:
        """Resolve a `tools=` argument: None = all; names, Tool objects or registered functions."""
        if tools is None:
            return list(self)
        chosen: list[Tool] = []
        for item in tools:
            if isinstance(item, Tool):
                chosen.append(item)
            elif isinstance(item, str):
                chosen.append(self[item])
            elif callable(item):
                found = getattr(item, "__ptc_tool__", None)
                chosen.append(found if isinstance(found, Tool) else function_tool(item))
            else:
                raise TypeError(f"tools= takes names, functions or Tool objects, got {type(item).__name__}")
        return chosen

    def clear(self) -> None:
        self._tools.clear()


registry = ToolRegistry()


def tool(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    direct: bool = False,
    side_effects: bool = False,
    allow_code: bool = False,
    allowed_callers: Sequence[str] | None = None,
    max_result_bytes: int = DEFAULT_RESULT_BYTES,
    registry: ToolRegistry | None = None,
) -> Any:
    """Register a function as a PTC tool; returns the function unchanged (still callable as usual).

    `@tool` makes it callable from Claude's code only; `direct=True` also directly;
    `side_effects=True` requires approval per call and is direct-only unless `allow_code=True`.
    """
    target = registry if registry is not None else globals()["registry"]

    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        built = function_tool(
            f,
            name=name,
            description=description,
            direct=direct,
            side_effects=side_effects,
            allow_code=allow_code,
            allowed_callers=allowed_callers,
            max_result_bytes=max_result_bytes,
        )
        target.add(built)
        try:
            f.__ptc_tool__ = built  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass  # builtins and some callables take no attributes; the registry still has it
        return f

    return register(func) if func is not None else register
