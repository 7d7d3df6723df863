"""tools.py: definitions built on beta_tool, the allowed_callers policy, refusals, input validation."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel

import ptc_jupyter as ptc
from ptc_jupyter.calls.tools import (
    CODE_EXECUTION_CALLER,
    MAX_INPUT_DEPTH,
    Tool,
    ToolDefinitionError,
    ToolInputError,
    ToolRegistry,
    field_path,
    function_tool,
    json_input_problem,
)


class Point(BaseModel):
    x: float
    y: float


class Node(BaseModel):
    value: int
    children: list[Node] = []


class Inner(BaseModel):
    v: int


class Outer(BaseModel):
    a: Inner
    b: Inner | None = None


class Opaque:
    """Not a type pydantic can describe."""


def _unresolvable(a: NoSuchType) -> int:  # noqa: F821
    """Refers to a missing type."""
    return 1


def _opaque(a: Opaque) -> int:
    """Takes a type with no schema."""
    return 1


@pytest.fixture
def reg() -> ToolRegistry:
    return ToolRegistry()


def test_plain_function_becomes_programmatic_tool(reg):
    @ptc.tool(registry=reg)
    def get_stock_price(ticker: str) -> dict:
        """Current price of a stock. Returns {"ticker", "price", "currency"}.

        Args:
            ticker: Stock symbol, e.g. AAPL.
        """
        return {"ticker": ticker}

    t = reg["get_stock_price"]
    d = t.definition()
    assert d["allowed_callers"] == [CODE_EXECUTION_CALLER]
    assert d["input_schema"]["properties"]["ticker"]["description"] == "Stock symbol, e.g. AAPL."
    assert d["input_schema"]["required"] == ["ticker"]
    assert "Returns" in d["description"]
    assert get_stock_price("X") == {"ticker": "X"}  # the decorator returns the function unchanged
    assert get_stock_price.__ptc_tool__ is t
    assert t.source == "kernel" and not t.is_async and not t.side_effects


def test_async_function_is_async_tool(reg):
    @ptc.tool(registry=reg)
    async def slow(x: int) -> int:
        """Returns x."""
        await asyncio.sleep(0)
        return x

    assert reg["slow"].is_async


@pytest.mark.parametrize(
    "kwargs, callers",
    [
        ({}, [CODE_EXECUTION_CALLER]),
        ({"direct": True}, ["direct", CODE_EXECUTION_CALLER]),
        ({"side_effects": True}, ["direct"]),
        ({"side_effects": True, "allow_code": True}, ["direct", CODE_EXECUTION_CALLER]),
        ({"allowed_callers": ["code_execution_20260521"]}, ["code_execution_20260521"]),
    ],
)
def test_allowed_callers_policy(reg, kwargs, callers):
    def f(a: int) -> int:
        """Returns a."""
        return a

    t = function_tool(f, **kwargs)
    assert t.allowed_callers == callers
    assert t.side_effects == kwargs.get("side_effects", False)


def test_direct_mode_definition_is_direct_only():
    def f(a: int) -> int:
        """Returns a."""
        return a

    assert function_tool(f).definition(direct_mode=True)["allowed_callers"] == ["direct"]


def test_pydantic_arguments_are_validated_and_built():
    def dist(a: Point, mode: Literal["euclid", "manhattan"] = "euclid") -> float:
        """Distance of a point from the origin."""
        return 0.0

    t = function_tool(dist)
    kwargs = t.validate({"a": {"x": "3", "y": 4}})
    assert isinstance(kwargs["a"], Point) and kwargs["a"].x == 3.0
    assert kwargs["mode"] == "euclid"
    assert t.input_schema["properties"]["mode"]["enum"] == ["euclid", "manhattan"]


@pytest.mark.parametrize(
    "bad_input, fragment",
    [
        ({"n": "not a number"}, "n: Input should be a valid integer"),
        ({}, "n: Missing required argument"),
        ({"n": 1, "zzz": 2}, "zzz: Unexpected keyword argument"),
        (["n", 1], "input must be a JSON object"),
        ({"n": float("nan")}, "n: nan is not a JSON number (NaN and Infinity are not allowed)"),
        ({"n": "\ud800"}, "n: text has a lone surrogate '\\ud800' at index 0, which is not valid Unicode"),
        ({"n": 1, "x" * 100: 2}, "x" * 39 + "…: Unexpected keyword argument"),
    ],
)
def test_bad_input_is_refused_with_readable_message(bad_input, fragment):
    def square(n: int) -> int:
        """Returns n squared."""
        return n * n

    with pytest.raises(ToolInputError) as info:
        function_tool(square).validate(bad_input)
    assert fragment in str(info.value)


def _varargs(*values: int) -> int:
    """Sum."""
    return sum(values)


def _varkw(**options: int) -> int:
    """Count."""
    return len(options)


def _posonly(a: int, /) -> int:
    """Identity."""
    return a


def _nodoc(a: int) -> int:
    return a


def _gen(a: int):
    """Generator."""
    yield a


@pytest.mark.parametrize(
    "func, fragment",
    [
        (_varargs, "*values cannot be described"),
        (_varkw, "**options cannot be described"),
        (_posonly, "positional-only"),
        (_nodoc, "has no description"),
        (_gen, "generators are not supported"),
        (_unresolvable, "cannot be resolved"),
        (_opaque, "cannot become a JSON schema"),
    ],
)
def test_refused_functions(func, fragment):
    with pytest.raises(ToolDefinitionError) as info:
        function_tool(func)
    assert fragment in str(info.value)


@pytest.mark.parametrize("name", ["has space", "x" * 129, "", "dots.not.ok", "ü"])
def test_bad_names_are_refused(name):
    def f(a: int) -> int:
        """Returns a."""
        return a

    with pytest.raises(ToolDefinitionError, match="must match"):
        function_tool(f, name=name)


def test_recursive_schema_is_refused():
    def walk(tree: Node) -> int:
        """Sum of a tree."""
        return 0

    with pytest.raises(ToolDefinitionError, match="recursive .*Circular \\$ref detected"):
        function_tool(walk)


def test_mutually_recursive_schema_is_refused():
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "$defs": {"A": {"properties": {"b": {"$ref": "#/$defs/B"}}}, "B": {"items": {"$ref": "#/$defs/A"}}},
    }
    with pytest.raises(ToolDefinitionError, match="A -> B -> A|B -> A -> B"):
        Tool(
            name="t",
            description="d",
            input_schema=schema,
            allowed_callers=["direct"],
            invoke=lambda: None,
            validate=lambda i: i,
        )


def test_non_recursive_refs_are_fine():
    def f(o: Outer) -> int:
        """Returns 1."""
        return 1

    assert "$defs" in function_tool(f).input_schema


def test_unknown_caller_value_is_refused():
    def f(a: int) -> int:
        """Returns a."""
        return a

    with pytest.raises(ToolDefinitionError, match="allowed_callers value 'code_execution_1999'"):
        function_tool(f, allowed_callers=["code_execution_1999"])


def test_registry_replace_select_and_errors(reg):
    def a(x: int) -> int:
        """A."""
        return x

    def b(x: int) -> int:
        """B."""
        return x

    ptc.tool(a, registry=reg)
    first = reg["a"]
    ptc.tool(a, registry=reg, direct=True)  # re-running a cell replaces the tool
    assert reg["a"] is not first and reg["a"].direct and len(reg) == 1
    ptc.tool(b, registry=reg)
    assert [t.name for t in reg.select(["b", "a"])] == ["b", "a"]
    assert [t.name for t in reg.select([b])] == ["b"]
    with pytest.raises(KeyError, match="no tool named 'zzz' \\(registered: a, b\\)"):
        reg.select(["zzz"])
    with pytest.raises(TypeError, match="tools= takes names"):
        reg.select([3])
    reg.get("a").source = "mcp:x"
    assert reg.remove_source("mcp:x") == ["a"] and reg.names() == ["b"]


@pytest.mark.parametrize(
    "tool_input, problem",
    [
        ({"a": [1, {"b": [float("inf")]}]}, "a.1.b.0: inf is not a JSON number (NaN and Infinity are not allowed)"),
        ({"a": {"\udc80": 1}}, "a.\\udc80: keys must be valid Unicode strings"),
        ({"a": {3: 1}}, "a.3: keys must be valid Unicode strings"),
        ({"a": [[[1]]]}, None),
    ],
)
def test_json_input_problem_names_the_field(tool_input, problem):
    assert json_input_problem(tool_input) == problem


def test_nesting_is_checked_without_recursion():
    deep: object = 1
    for _ in range(100_000):  # far past the interpreter's recursion limit
        deep = [deep]
    assert json_input_problem({"a": deep}) == f"a: nested deeper than {MAX_INPUT_DEPTH} levels"


def test_float_parameters_refuse_nan_and_infinity_strings():
    def scale(x: float) -> float:
        """Returns x."""
        return x

    for text in ("nan", "inf", "-Infinity"):
        with pytest.raises(ToolInputError, match="x: Input should be a finite number"):
            function_tool(scale).validate({"x": text})


def test_field_paths_are_short_and_printable():
    assert field_path(()) == "input"
    assert field_path(("a", 0, "b")) == "a.0.b"
    assert field_path(("k" * 100,)) == "k" * 39 + "…"
    assert field_path(("\ud800",)) == "\\ud800"
