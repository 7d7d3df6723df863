"""caching.py: where the prompt-caching breakpoints go, and where they never go."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ptc_jupyter.host.caching import EPHEMERAL, with_cache_points

TOOLS = [{"type": "code_execution_20260521", "name": "code_execution"}, {"name": "price", "input_schema": {}}]


def marks(messages):
    return [
        (i, j)
        for i, m in enumerate(messages)
        if isinstance(m["content"], list)
        for j, b in enumerate(m["content"])
        if "cache_control" in b
    ]


def test_the_last_tool_and_the_prompt_on_a_first_request():
    tools, messages = with_cache_points(TOOLS, [{"role": "user", "content": "hi"}])
    assert tools[-1]["cache_control"] == EPHEMERAL and "cache_control" not in tools[0]
    assert messages == [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": EPHEMERAL}]}]


CALLER = {"type": "code_execution_20260120", "tool_id": "s1"}


def script_call(k: int) -> dict:
    return {"type": "tool_use", "id": f"t{k}", "name": "price", "input": {"k": k}, "caller": CALLER}


def result(k: int) -> dict:
    return {"type": "tool_result", "tool_use_id": f"t{k}", "content": str(k)}


def paused_run(pauses: int) -> list[dict]:
    history = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "I'll script it."},
                {"type": "server_tool_use", "id": "s1", "name": "code_execution", "input": {"code": "x"}},
                script_call(0),
            ],
        },
        {"role": "user", "content": [result(0)]},
    ]
    for k in range(1, pauses):
        history += [{"role": "assistant", "content": [script_call(k)]}, {"role": "user", "content": [result(k)]}]
    return history


def test_a_continuation_marks_the_script_and_the_prompt_never_a_call_the_script_made():
    """The API refuses a breakpoint on a script's `tool_use` or its `tool_result` ("not rendered in
    Claude's context"), so the newest place is the script itself."""
    _, messages = with_cache_points(TOOLS, paused_run(1))
    assert marks(messages) == [(0, 0), (1, 1)]  # the prompt (the previous request's newest) and the script


def test_later_pauses_mark_the_script_once():
    _, messages = with_cache_points(TOOLS, paused_run(4))
    assert marks(messages) == [(1, 1)]  # the previous request's newest is the same block


def test_the_end_of_a_script_and_a_next_turn():
    history = paused_run(2) + [
        {
            "role": "assistant",
            "content": [
                {"type": "code_execution_tool_result", "tool_use_id": "s1", "content": {"stdout": "ok"}},
                {"type": "text", "text": "Done."},
            ],
        },
        {"role": "user", "content": "and now?"},
    ]
    _, messages = with_cache_points(TOOLS, history)
    assert marks(messages) == [(1, 1), (6, 0)]  # the script (where the run's last request ended), the new prompt
    assert messages[6]["content"] == [{"type": "text", "text": "and now?", "cache_control": EPHEMERAL}]


def test_classic_tool_calling_marks_the_newest_result_and_the_round_before_however_many_calls():
    """Direct calls' results may carry a breakpoint; the second one sits on the previous request's
    newest, even when a round adds more blocks than the API's 20-block lookback."""

    def direct_round(r: int) -> list[dict]:
        ids = [f"d{r}_{k}" for k in range(30)]
        return [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": i, "name": "price", "input": {}} for i in ids],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": i, "content": "1"} for i in ids]},
        ]

    history = [{"role": "user", "content": "hi"}, *direct_round(0), *direct_round(1)]
    _, messages = with_cache_points(TOOLS, history)
    assert marks(messages) == [(2, 29), (4, 29)]


def test_an_empty_text_is_never_marked():
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}, {"type": "text", "text": ""}]},
        {"role": "user", "content": ""},
    ]
    _, messages = with_cache_points(TOOLS, history)
    assert marks(messages) == [(0, 0), (1, 0)] and messages[2]["content"] == ""


def test_the_history_itself_is_never_changed():
    history = [{"role": "user", "content": "hi"}]
    tools = [dict(t) for t in TOOLS]
    with_cache_points(tools, history)
    with_cache_points(tools, history)
    assert history == [{"role": "user", "content": "hi"}] and all("cache_control" not in t for t in tools)


# --- any history: the emulator's model of the API never refuses the host's breakpoints --------------


def _round(kind: str, r: int, calls: int, pauses: int) -> list[dict]:
    """One exchange of a run: a script with `calls` calls per pause, classic calls, or an answer."""
    if kind == "answer":
        return [
            {"role": "assistant", "content": [{"type": "text", "text": ""}, {"type": "text", "text": f"a{r}"}]},
            {"role": "user", "content": f"next {r}"},
        ]
    if kind == "direct":
        ids = [f"d{r}_{k}" for k in range(calls)]
        return [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": i, "name": "price", "input": {}} for i in ids],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": i, "content": "1"} for i in ids]},
        ]
    caller = {"type": "code_execution_20260120", "tool_id": f"s{r}"}
    out: list[dict] = []
    for p in range(pauses):
        ids = [f"c{r}_{p}_{k}" for k in range(calls)]
        uses = [{"type": "tool_use", "id": i, "name": "price", "input": {}, "caller": caller} for i in ids]
        head = (
            [{"type": "server_tool_use", "id": f"s{r}", "name": "code_execution", "input": {"code": "x"}}]
            if p == 0
            else []
        )
        out += [
            {"role": "assistant", "content": head + uses},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": i, "content": "1"} for i in ids]},
        ]
    return out


@given(
    st.lists(
        st.tuples(st.sampled_from(["script", "direct", "answer"]), st.integers(1, 25), st.integers(1, 4)), max_size=6
    )
)
@settings(max_examples=150, deadline=None)
def test_the_api_accepts_the_breakpoints_on_any_history(rounds):
    from ptc_jupyter.emulator import EmulatorConfig
    from ptc_jupyter.emulator.prompt_cache import PromptCache

    history = [{"role": "user", "content": "hi"}]
    for r, (kind, calls, pauses) in enumerate(rounds):
        history += _round(kind, r, calls, pauses)
    tools, messages = with_cache_points(TOOLS, history)
    request = {"model": "m", "max_tokens": 1, "tools": tools, "messages": messages}
    plan = PromptCache(EmulatorConfig()).plan(request)  # raises the API's 400 on a refused breakpoint
    assert plan is not None and 2 <= len(plan.breakpoints) <= 3
