"""Bad inputs, property-based: invalid input never reaches the function, and the message names the field.

Each parameter kind gets a tool with one parameter `v`. Valid generated inputs must arrive coerced
as documented (pydantic's lax mode, see tools._signature_validator); invalid ones must produce an
is_error result "invalid input for take: v...: ..." with the function never called.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import math
import string
from typing import Any, Literal, Optional

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from typing_extensions import TypedDict

from ptc_jupyter.calls.dispatch import Dispatcher
from ptc_jupyter.calls.tools import MAX_INPUT_DEPTH, function_tool
from ptc_jupyter.trace.run import ToolCall

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Point(BaseModel):
    x: float
    y: float = 0.0


class Span(TypedDict):
    start: int
    end: int


@dataclasses.dataclass
class Box:
    w: int
    tags: list[str]


class Taker:
    """A tool taking one parameter `v` of a given type, recording every value it receives."""

    def __init__(self, annotation: Any) -> None:
        self.received: list[Any] = []

        def take(v):
            """Records v."""
            self.received.append(v)
            return "ok"

        take.__annotations__ = {"v": annotation, "return": str}
        self.tool = function_tool(take)

    def call(self, tool_input: dict[str, Any]) -> ToolCall:
        self.received.clear()
        call = ToolCall(id="toolu_1", name="take", input=tool_input)
        asyncio.run(Dispatcher(timeout_s=10).run_batch([call], {"take": self.tool}))
        return call

    def accepts(self, value: Any, expected: Any) -> None:
        call = self.call({"v": value})
        assert (call.status, call.output) == ("ok", "ok"), call.output
        assert self.received == [expected]
        assert type(self.received[0]) is type(expected)

    def refuses(self, value: Any, path: str = "v") -> str:
        call = self.call({"v": value})
        assert call.is_error and call.status == "error", call.output
        assert self.received == [], "the function ran with invalid input"
        assert call.output.startswith(f"Error: invalid input for take: {path}: "), call.output
        return call.output


TAKERS = {
    name: Taker(annotation)
    for name, annotation in {
        "str": str,
        "int": int,
        "float": float,
        "bool": bool,
        "list_int": list[int],
        "dict_int": dict[str, int],
        "optional_int": Optional[int],
        "literal": Literal["a", "b"],
        "enum": Color,
        "model": Point,
        "typed_dict": Span,
        "dataclass": Box,
    }.items()
}

letters = st.text(alphabet=string.ascii_letters, min_size=1, max_size=12)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
containers = st.one_of(st.lists(st.integers(), max_size=3), st.dictionaries(letters, st.integers(), max_size=3))
BOOL_WORDS = {"0", "1", "f", "t", "n", "y", "no", "yes", "off", "on", "false", "true"}


def with_lone_surrogate(text: str, where: int, surrogate: str) -> str:
    at = where % (len(text) + 1)
    return text[:at] + surrogate + text[at:]


surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


# -- valid inputs arrive, coerced as documented --------------------------------------------------


@FAST
@given(st.text())
def test_any_valid_text_arrives_unchanged(text):
    TAKERS["str"].accepts(text, text)


@FAST
@given(
    st.one_of(
        st.integers().map(lambda i: (i, i)),
        st.integers().map(lambda i: (str(i), i)),
        st.integers(-(2**53), 2**53).map(lambda i: (float(i), i)),
        st.booleans().map(lambda b: (b, int(b))),
    )
)
def test_int_accepts_integers_numeric_strings_and_integral_floats(case):
    TAKERS["int"].accepts(*case)


@FAST
@given(
    st.one_of(
        finite_floats.map(lambda f: (f, f)),
        st.integers(-(2**53), 2**53).map(lambda i: (i, float(i))),
        finite_floats.map(lambda f: (repr(f), f)),
    )
)
def test_float_accepts_finite_numbers_and_numeric_strings(case):
    TAKERS["float"].accepts(*case)


@FAST
@given(
    st.one_of(
        st.booleans().map(lambda b: (b, b)),
        st.sampled_from(sorted(BOOL_WORDS)).map(lambda w: (w, w in {"1", "t", "y", "yes", "on", "true"})),
        st.sampled_from([(0, False), (1, True)]),
    )
)
def test_bool_accepts_booleans_and_the_documented_words(case):
    TAKERS["bool"].accepts(*case)


@FAST
@given(st.lists(st.integers(), max_size=20))
def test_list_of_int_arrives_as_list(values):
    TAKERS["list_int"].accepts(values, values)


@FAST
@given(st.dictionaries(st.text(max_size=8), st.integers(), max_size=8))
def test_dict_of_int_arrives_as_dict(values):
    TAKERS["dict_int"].accepts(values, values)


@FAST
@given(st.one_of(st.none(), st.integers()))
def test_optional_accepts_null(value):
    TAKERS["optional_int"].accepts(value, value)


@FAST
@given(st.sampled_from(["a", "b"]), st.sampled_from(list(Color)))
def test_literal_and_enum_accept_their_values(choice, color):
    TAKERS["literal"].accepts(choice, choice)
    TAKERS["enum"].accepts(color.value, color)


@FAST
@given(finite_floats, st.one_of(st.none(), finite_floats))
def test_objects_become_the_declared_types(x, y):
    point = {"x": x} if y is None else {"x": x, "y": y}
    TAKERS["model"].accepts(point, Point(x=x, y=0.0 if y is None else y))
    TAKERS["typed_dict"].accepts(
        {"start": str(int(x) if abs(x) < 1e15 else 0), "end": 2}, {"start": int(x) if abs(x) < 1e15 else 0, "end": 2}
    )
    TAKERS["dataclass"].accepts({"w": 3, "tags": ["a"]}, Box(w=3, tags=["a"]))


multi_received: list[tuple[int, str, bool]] = []


def multi(a: int, b: str = "x", *, c: bool = False) -> str:
    """Takes a required, a defaulted and a keyword-only parameter."""
    multi_received.append((a, b, c))
    return "ok"


@FAST
@given(st.integers(), st.one_of(st.none(), st.text(max_size=5)), st.one_of(st.none(), st.booleans()))
def test_defaults_and_keyword_only_parameters(a, b, c):
    tool_input = {"a": a, **({} if b is None else {"b": b}), **({} if c is None else {"c": c})}
    call = ToolCall(id="t", name="multi", input=tool_input)
    multi_received.clear()
    asyncio.run(Dispatcher().run_batch([call], {"multi": function_tool(multi)}))
    assert call.output == "ok"
    assert multi_received == [(a, "x" if b is None else b, bool(c))]


# -- invalid inputs never reach the function -----------------------------------------------------


@FAST
@given(st.one_of(st.integers(), finite_floats, st.booleans(), st.none(), containers))
def test_str_refuses_other_types(value):
    TAKERS["str"].refuses(value)


@FAST
@given(st.text(max_size=20), st.integers(), surrogates)
def test_text_with_a_lone_surrogate_is_refused(text, where, surrogate):
    output = TAKERS["str"].refuses(with_lone_surrogate(text, where, surrogate))
    assert "lone surrogate" in output


@FAST
@given(st.one_of(letters, finite_floats.filter(lambda f: f != int(f)), non_finite, st.none(), containers))
def test_int_refuses_non_integers(value):
    TAKERS["int"].refuses(value)


@FAST
@given(st.one_of(letters, non_finite, non_finite.map(str), st.none(), containers))
def test_float_refuses_non_numbers_nan_and_infinity(value):
    TAKERS["float"].refuses(value)


@FAST
@given(
    st.one_of(
        letters.filter(lambda s: s.lower() not in BOOL_WORDS),
        st.integers().filter(lambda i: i not in (0, 1)),
        st.none(),
        containers,
    )
)
def test_bool_refuses_other_values(value):
    TAKERS["bool"].refuses(value)


@FAST
@given(
    st.lists(st.integers(), max_size=10),
    st.integers(min_value=0),
    st.one_of(letters, st.none(), finite_floats.filter(lambda f: f != int(f))),
)
def test_a_bad_list_item_is_named_by_its_index(values, where, bad):
    at = where % (len(values) + 1)
    TAKERS["list_int"].refuses(values[:at] + [bad] + values[at:], path=f"v.{at}")


@FAST
@given(st.dictionaries(letters, st.integers(), max_size=5), letters, letters)
def test_a_bad_dict_value_is_named_by_its_key(values, key, bad):
    TAKERS["dict_int"].refuses({**values, key: bad}, path=f"v.{key}")


@FAST
@given(letters, surrogates)
def test_a_key_with_a_lone_surrogate_is_refused(key, surrogate):
    shown = key + surrogate.encode("utf-8", "backslashreplace").decode()  # e.g. abc\ud800
    output = TAKERS["dict_int"].refuses({key + surrogate: 1}, path=f"v.{shown}")
    assert output.endswith("keys must be valid Unicode strings")


@FAST
@given(letters.filter(lambda s: s not in ("a", "b")), letters.filter(lambda s: s not in {c.value for c in Color}))
def test_literal_and_enum_refuse_other_values(choice, color):
    assert "Input should be 'a' or 'b'" in TAKERS["literal"].refuses(choice)
    assert "Input should be 'red', 'green' or 'blue'" in TAKERS["enum"].refuses(color)


@FAST
@given(
    st.sampled_from(["model", "typed_dict", "dataclass"]), st.one_of(letters, st.integers(), st.lists(st.integers()))
)
def test_objects_refuse_non_objects(kind, value):
    TAKERS[kind].refuses(value)


@FAST
@given(
    st.sampled_from(
        [("model", {"y": 1.0}, "v.x"), ("typed_dict", {"start": 1}, "v.end"), ("dataclass", {"tags": []}, "v.w")]
    )
)
def test_a_missing_field_is_named(case):
    kind, value, path = case
    assert "Field required" in TAKERS[kind].refuses(value, path=path)


@FAST
@given(
    st.sampled_from(
        [
            ("model", {"x": "far"}, "v.x"),
            ("typed_dict", {"start": 1, "end": "late"}, "v.end"),
            ("dataclass", {"w": 1, "tags": [1]}, "v.tags.0"),
        ]
    )
)
def test_a_wrong_nested_type_is_named(case):
    kind, value, path = case
    TAKERS[kind].refuses(value, path=path)


@FAST
@given(non_finite)
def test_nan_and_infinity_are_refused_even_inside_objects(value):
    assert "is not a JSON number" in TAKERS["model"].refuses({"x": value}, path="v.x")
    assert "is not a JSON number" in TAKERS["optional_int"].refuses(value)


@FAST
@given(st.integers(min_value=MAX_INPUT_DEPTH + 1, max_value=5_000), st.sampled_from(["list_int", "dict_int"]))
def test_deep_nesting_is_refused_without_recursion(depth, kind):
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list_int" else {"k": value}
    assert f"nested deeper than {MAX_INPUT_DEPTH} levels" in TAKERS[kind].refuses(value)


@FAST
@given(letters.filter(lambda s: s not in ("a", "b", "c")), st.integers())
def test_missing_and_extra_top_level_keys_are_named(extra, a):
    tool = function_tool(multi)
    missing = ToolCall(id="m", name="multi", input={"b": "y"})
    unknown = ToolCall(id="u", name="multi", input={"a": a, extra: 1})
    asyncio.run(Dispatcher().run_batch([missing, unknown], {"multi": tool}))
    assert missing.output == "Error: invalid input for multi: a: Missing required argument"
    assert unknown.output == f"Error: invalid input for multi: {extra}: Unexpected keyword argument"


def test_huge_strings_are_refused_where_invalid_and_accepted_where_valid():
    assert "exceeded maximum size" in TAKERS["int"].refuses("9" * 100_000)
    TAKERS["str"].accepts("z" * 1_000_000, "z" * 1_000_000)
    key = "k" * 10_000
    call = TAKERS["str"].call({"v": "x", key: 1})
    assert call.output.startswith("Error: invalid input for take: " + "k" * 39 + "…: Unexpected keyword argument")
    assert TAKERS["str"].received == []


def test_input_that_is_not_an_object_is_refused():
    for value in (["v", 1], "v", None):
        call = TAKERS["str"].call(value)  # type: ignore[arg-type]
        assert call.is_error and call.output.startswith("Error: input must be a JSON object")
        assert TAKERS["str"].received == []
