"""The API's 400 rules (`emulator/rules.py`) as pure functions."""

from __future__ import annotations

import pytest
from emulator_helpers import CODE_EXECUTION, ptc_tool
from hypothesis import given
from hypothesis import strategies as st

from ptc_jupyter.emulator import rules
from ptc_jupyter.emulator.wire import ApiError

CALLER = {"type": "code_execution_20260120", "tool_id": "srvtoolu_1"}


def rejected(fn, *args, **kwargs) -> str:
    with pytest.raises(ApiError) as info:
        fn(*args, **kwargs)
    assert info.value.status == 400 and info.value.error_type == "invalid_request_error"
    return info.value.message


def history(results_content, *, caller=CALLER, extra_user_blocks=()):
    return [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "code_execution", "input": {"code": "..."}},
                {"type": "tool_use", "id": "toolu_a", "name": "get", "input": {}, "caller": caller},
                {"type": "tool_use", "id": "toolu_b", "name": "get", "input": {}, "caller": caller},
            ],
        },
        {"role": "user", "content": [*results_content, *extra_user_blocks]},
    ]


def result(use_id, content="ok"):
    return {"type": "tool_result", "tool_use_id": use_id, "content": content}


# --- history ------------------------------------------------------------------------------------


def test_a_complete_continuation_passes():
    rules.check_history(
        history([result("toolu_a"), result("toolu_b", [{"type": "text", "text": "x"}])]),
        has_code_execution=True,
        container_id="container_1",
    )


def test_continuation_without_container_is_rejected():
    message = rejected(
        rules.check_history, history([result("toolu_a"), result("toolu_b")]), has_code_execution=True, container_id=None
    )
    assert message == rules.CONTAINER_REQUIRED


def test_text_beside_programmatic_results_is_rejected():
    message = rejected(
        rules.check_history,
        history([result("toolu_a"), result("toolu_b")], extra_user_blocks=[{"type": "text", "text": "and also"}]),
        has_code_execution=True,
        container_id="c",
    )
    assert "only `tool_result` blocks" in message


def test_text_beside_direct_results_is_allowed():
    rules.check_history(
        history(
            [result("toolu_a"), result("toolu_b")],
            caller={"type": "direct"},
            extra_user_blocks=[{"type": "text", "text": "and also"}],
        ),
        has_code_execution=False,
        container_id=None,
    )


def test_missing_results_are_rejected_with_the_api_message():
    message = rejected(rules.check_history, history([result("toolu_a")]), has_code_execution=True, container_id="c")
    assert message.startswith(
        "messages.1: tool_use ids were found without tool_result blocks immediately after: toolu_b."
    )


def test_results_for_unknown_ids_are_rejected():
    message = rejected(
        rules.check_history,
        history([result("toolu_a"), result("toolu_b"), result("toolu_zzz")]),
        has_code_execution=True,
        container_id="c",
    )
    assert "unexpected tool_use_id found in tool_result blocks: toolu_zzz" in message


def test_programmatic_results_without_the_code_execution_tool_are_rejected():
    message = rejected(
        rules.check_history, history([result("toolu_a"), result("toolu_b")]), has_code_execution=False, container_id="c"
    )
    assert message.endswith("but no `code_execution` tool was provided.")


def test_non_text_result_content_for_a_programmatic_call_is_rejected():
    image = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]
    message = rejected(
        rules.check_history,
        history([result("toolu_a"), result("toolu_b", image)]),
        has_code_execution=True,
        container_id="c",
    )
    assert "string or `text` blocks only; found `image`" in message


def test_pause_turn_echo_needs_the_container():
    messages = history([])[:2]
    messages[1]["content"] = messages[1]["content"][:1]
    assert (
        rejected(rules.check_history, messages, has_code_execution=True, container_id=None) == rules.CONTAINER_REQUIRED
    )
    rules.check_history(messages, has_code_execution=True, container_id="c")


# --- tools --------------------------------------------------------------------------------------


def test_tools_are_sorted_by_caller():
    toolset = rules.check_tools(
        [
            CODE_EXECUTION,
            ptc_tool("a"),
            ptc_tool("b", callers=("direct",)),
            ptc_tool("c", callers=("direct", "code_execution_20260521")),
        ]
    )
    assert toolset.code_execution == CODE_EXECUTION
    assert toolset.programmatic == ["a", "c"] and toolset.direct_only == ["b"]


def test_strict_tools_are_rejected_with_ptc_only():
    assert "`strict: true` are not supported" in rejected(
        rules.check_tools, [CODE_EXECUTION, ptc_tool("a", strict=True)]
    )
    rules.check_tools([ptc_tool("a", strict=True)])  # without code execution: a plain tool


def test_recursive_schema_is_rejected_with_ptc():
    node = {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}
    tool = ptc_tool(
        "tree",
        input_schema={"type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}}, "$defs": {"Node": node}},
    )
    assert "Circular $ref detected" in rejected(rules.check_tools, [CODE_EXECUTION, tool])


@pytest.mark.parametrize(
    "tools, expected",
    [
        ([ptc_tool("a"), ptc_tool("a")], "Tool names must be unique."),
        ([ptc_tool("bad name")], "String should match pattern"),
        ([{"name": "x", "description": "no schema"}], "input_schema: Field required"),
        ([ptc_tool("a", callers=("code_execution_2099",))], "allowed_callers.0: Input should be"),
        ([{"type": "code_execution_20250825", "name": "code_execution"}], "supports programmatic tool calling with"),
        ([{"type": "code_execution_20260120", "name": "python"}], "Input should be 'code_execution'"),
    ],
)
def test_malformed_tools_are_rejected(tools, expected):
    assert expected in rejected(rules.check_tools, tools)


def test_tool_choice_rules_with_ptc():
    tools = [CODE_EXECUTION, ptc_tool("a")]
    assert "not supported" in rejected(rules.check_tools, tools, {"type": "auto", "disable_parallel_tool_use": True})
    assert "cannot be forced" in rejected(rules.check_tools, tools, {"type": "tool", "name": "a"})
    rules.check_tools(tools, {"type": "auto"})


def test_request_shape():
    assert rejected(rules.check_request, {"model": "m", "messages": []}) == "max_tokens: Field required"
    assert "at least one message" in rejected(rules.check_request, {"model": "m", "max_tokens": 5, "messages": []})
    rules.check_request({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})


def test_changed_tools_are_rejected():
    key = rules.tools_key([CODE_EXECUTION, ptc_tool("a")])
    rules.check_same_tools([CODE_EXECUTION, ptc_tool("a")], key)
    assert "must not change" in rejected(rules.check_same_tools, [CODE_EXECUTION, ptc_tool("b")], key)


# --- properties ---------------------------------------------------------------------------------

ids = st.sampled_from([f"toolu_{i}" for i in range(8)])


@given(pending=st.sets(ids, max_size=5), timed_out=st.sets(ids, max_size=3), answered=st.lists(ids, max_size=8))
def test_results_are_accepted_exactly_when_they_answer_every_pending_call_once(pending, timed_out, answered):
    timed_out -= pending
    ok = len(answered) == len(set(answered)) and pending <= set(answered) and set(answered) <= pending | timed_out
    if ok:
        rules.check_results_match_pending(answered, pending, timed_out)
    else:
        message = rejected(rules.check_results_match_pending, answered, pending, timed_out)
        assert any(s in message for s in ("unexpected tool_use_id", "without tool_result blocks", "single result"))


def _has_cycle(edges: dict[int, list[int]]) -> bool:
    state: dict[int, int] = {}

    def visit(n: int) -> bool:
        state[n] = 1
        for m in edges[n]:
            if state.get(m) == 1 or (m not in state and visit(m)):
                return True
        state[n] = 2
        return False

    return any(n not in state and visit(n) for n in edges)


@given(
    st.integers(1, 6).flatmap(lambda n: st.lists(st.lists(st.integers(0, n - 1), max_size=3), min_size=n, max_size=n))
)
def test_circular_refs_are_found_exactly_when_the_defs_have_a_cycle(adjacency):
    edges = dict(enumerate(adjacency))
    defs = {
        f"D{i}": {"type": "object", "properties": {f"p{j}": {"$ref": f"#/$defs/D{t}"} for j, t in enumerate(out)}}
        for i, out in edges.items()
    }
    schema = {"type": "object", "properties": {f"r{i}": {"$ref": f"#/$defs/D{i}"} for i in edges}, "$defs": defs}
    assert (rules.find_circular_ref(schema) is not None) == _has_cycle(edges)
