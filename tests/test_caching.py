"""caching.py: where the prompt-caching breakpoints go, and where they never go."""

from __future__ import annotations

from ptc_jupyter.caching import EPHEMERAL, with_cache_points

TOOLS = [{"type": "code_execution_20260521", "name": "code_execution"}, {"name": "price", "input_schema": {}}]


def marks(messages):
    return [(i, j) for i, m in enumerate(messages) if isinstance(m["content"], list)
            for j, b in enumerate(m["content"]) if "cache_control" in b]


def test_the_last_tool_and_the_prompt_on_a_first_request():
    tools, messages = with_cache_points(TOOLS, [{"role": "user", "content": "hi"}])
    assert tools[-1]["cache_control"] == EPHEMERAL and "cache_control" not in tools[0]
    assert messages == [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": EPHEMERAL}]}]


def test_a_continuation_marks_the_last_call_and_the_message_before_never_a_tool_result():
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "s1", "name": "code_execution", "input": {"code": "x"}},
            {"type": "tool_use", "id": "t1", "name": "price", "input": {}, "caller": {"type": "code_execution_20260120",
                                                                                     "tool_id": "s1"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "1"}]},
    ]
    _, messages = with_cache_points(TOOLS, history)
    assert marks(messages) == [(0, 0), (1, 1)]  # the prompt, and the newest call; the tool_result never


def test_the_history_itself_is_never_changed():
    history = [{"role": "user", "content": "hi"}]
    tools = [dict(t) for t in TOOLS]
    with_cache_points(tools, history)
    with_cache_points(tools, history)
    assert history == [{"role": "user", "content": "hi"}] and all("cache_control" not in t for t in tools)
