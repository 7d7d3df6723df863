"""Prompt caching in the emulator (`emulator/prompt_cache.py`): what is read, written and refused,
as pure functions with a fake clock, then over HTTP with the real SDK and the host's breakpoints."""

from __future__ import annotations

import anthropic
import pytest
from emulator_helpers import CODE_EXECUTION, ptc_tool, script_prompt, tool_results

from ptc_jupyter.emulator import EmulatorConfig
from ptc_jupyter.emulator.prompt_cache import PromptCache
from ptc_jupyter.emulator.wire import ApiError, estimate_input_tokens
from ptc_jupyter.host.caching import with_cache_points

EPHEMERAL = {"type": "ephemeral"}
CALLER = {"type": "code_execution_20260120", "tool_id": "srvtoolu_1"}
DOC = "Looks up one record and returns it as JSON with its id, status and history. " * 60  # ~1,200 tokens


def big_tool(name: str = "get", doc: str = DOC, **extra) -> dict:
    return {**ptc_tool(name), "description": doc, **extra}


def body(tools, messages, **extra) -> dict:
    return {"model": "claude-emulated", "max_tokens": 100, "tools": tools, "messages": messages, **extra}


def marked_prompt(text: str = "Please run this.") -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text, "cache_control": EPHEMERAL}]}]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(clock):
    return PromptCache(EmulatorConfig(), clock=clock)


def bill(cache: PromptCache, request: dict) -> dict:
    """The usage the emulator would answer `request` with."""
    message = {"usage": {"input_tokens": estimate_input_tokens(request), "output_tokens": 1}}
    return cache.bill(cache.plan(request), message)["usage"]


def rejected(cache: PromptCache, request: dict) -> str:
    with pytest.raises(ApiError) as info:
        cache.plan(request)
    assert info.value.status == 400 and info.value.error_type == "invalid_request_error"
    return info.value.message


# --- reads, writes, misses ----------------------------------------------------------------------


def test_a_repeated_prefix_is_written_once_then_read(cache):
    request = body([CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)], marked_prompt())
    total = estimate_input_tokens(request)
    first, second = bill(cache, request), bill(cache, request)
    assert first["cache_read_input_tokens"] == 0 and first["cache_creation_input_tokens"] > 1024
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] == 0
    for usage in (first, second):  # the three parts make up the whole estimate
        assert usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"] == total
        assert 0 < usage["input_tokens"] < 20  # only what follows the last breakpoint (the JSON around it)
    assert first["cache_creation"] == {
        "ephemeral_5m_input_tokens": first["cache_creation_input_tokens"],
        "ephemeral_1h_input_tokens": 0,
    }


def test_without_breakpoints_everything_is_input_as_before(cache):
    request = body([CODE_EXECUTION, big_tool()], [{"role": "user", "content": "hi"}])
    message = {
        "usage": {
            "input_tokens": estimate_input_tokens(request),
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
    }
    assert cache.plan(request) is None and cache.bill(None, message) is message
    bill(cache, body([CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)], [{"role": "user", "content": "hi"}]))
    assert cache.plan(request) is None  # an unmarked request reads nothing, even with the prefix cached


def test_marks_do_not_change_the_total_estimate():
    plain = body([CODE_EXECUTION, big_tool()], [{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    marked = body([CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)], marked_prompt("hi"))
    assert estimate_input_tokens(plain) == estimate_input_tokens(marked)


def test_a_changed_tool_definition_misses(cache):
    bill(cache, body([CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)], marked_prompt()))
    changed = bill(
        cache,
        body(
            [CODE_EXECUTION, big_tool(doc=DOC + " Now also returns its owner.", cache_control=EPHEMERAL)],
            marked_prompt(),
        ),
    )
    assert changed["cache_read_input_tokens"] == 0 and changed["cache_creation_input_tokens"] > 1024


def test_a_changed_prompt_still_reads_the_tools(cache):
    tools = [CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)]
    first = bill(cache, body(tools, marked_prompt("Question one.")))
    second = bill(cache, body(tools, marked_prompt("A different question.")))
    assert 1024 <= second["cache_read_input_tokens"] < first["cache_creation_input_tokens"]
    assert 0 < second["cache_creation_input_tokens"] < 20  # just the new prompt


def test_another_model_does_not_share_the_cache(cache):
    request = body([CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)], marked_prompt())
    bill(cache, request)
    assert bill(cache, {**request, "model": "claude-other"})["cache_read_input_tokens"] == 0


def test_below_the_minimum_length_nothing_is_cached(cache):
    small = body([CODE_EXECUTION, ptc_tool("get", cache_control=EPHEMERAL)], marked_prompt())
    for _ in range(2):
        usage = bill(cache, small)
        assert usage["cache_creation_input_tokens"] == 0 and usage["cache_read_input_tokens"] == 0
        assert usage["input_tokens"] == estimate_input_tokens(small)
    assert len(cache) == 0


def test_the_minimum_length_is_a_setting(clock):
    haiku = PromptCache(EmulatorConfig(cache_min_tokens=4096), clock=clock)
    usage = bill(haiku, body([CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)], marked_prompt()))
    assert usage["cache_creation_input_tokens"] == 0 and len(haiku) == 0
    opus = PromptCache(EmulatorConfig(cache_min_tokens=1024), clock=clock)
    assert (
        bill(opus, body([CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)], marked_prompt()))[
            "cache_creation_input_tokens"
        ]
        > 1024
    )


def test_the_cli_sets_the_minimum_length():
    from ptc_jupyter.emulator.__main__ import parse_args

    assert parse_args([], environ={}).cache_min_tokens == 1024
    assert parse_args(["--cache-min-tokens", "4096"], environ={}).cache_min_tokens == 4096


def test_an_entry_expires_after_its_ttl_and_a_read_refreshes_it(cache, clock):
    request = body([CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)], marked_prompt())
    bill(cache, request)
    clock.now += 299
    assert bill(cache, request)["cache_read_input_tokens"] > 0  # read at 299 s: lives 300 s more
    clock.now += 299
    assert bill(cache, request)["cache_read_input_tokens"] > 0
    clock.now += 301
    assert bill(cache, request)["cache_read_input_tokens"] == 0


def test_a_one_hour_ttl_outlives_five_minutes(cache, clock):
    request = body(
        [CODE_EXECUTION, big_tool(cache_control={"type": "ephemeral", "ttl": "1h"})],
        [{"role": "user", "content": "hi"}],
    )
    first = bill(cache, request)
    assert first["cache_creation"]["ephemeral_1h_input_tokens"] == first["cache_creation_input_tokens"] > 0
    clock.now += 1800
    assert bill(cache, request)["cache_read_input_tokens"] == first["cache_creation_input_tokens"]


def test_the_longest_cached_prefix_wins_and_earlier_boundaries_are_looked_up(cache):
    """A continuation moves the breakpoint past the prompt; the prompt's prefix is found by looking
    back from it (the API looks up to 20 blocks before each breakpoint)."""
    tools = [CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)]
    first = bill(cache, body(tools, marked_prompt()))
    assistant = {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Running it."},
            {
                "type": "server_tool_use",
                "id": "srvtoolu_1",
                "name": "code_execution",
                "input": {"code": "x" * 400},
                "cache_control": EPHEMERAL,
            },
            {"type": "tool_use", "id": "toolu_a", "name": "get", "input": {}, "caller": CALLER},
        ],
    }
    results = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": "1"}]}
    second = bill(cache, body(tools, [{"role": "user", "content": "Please run this."}, assistant, results]))
    # the prompt's prefix, read (a string prompt counts as the text block it stands for)
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert 100 < second["cache_creation_input_tokens"] < 200  # the intro text and the script
    third = bill(cache, body(tools, [{"role": "user", "content": "Please run this."}, assistant, results]))
    assert third["cache_read_input_tokens"] == second["cache_read_input_tokens"] + second["cache_creation_input_tokens"]


def test_no_lookback_beyond_the_window(clock):
    cache = PromptCache(EmulatorConfig(cache_lookback_blocks=0), clock=clock)
    tools = [CODE_EXECUTION, big_tool()]
    bill(cache, body(tools, marked_prompt("one")))
    texts = [{"type": "text", "text": "two"}, {"type": "text", "text": "three", "cache_control": EPHEMERAL}]
    later = bill(cache, body(tools, [{"role": "user", "content": [{"type": "text", "text": "one"}, *texts]}]))
    assert later["cache_read_input_tokens"] == 0


def test_tool_choice_changes_invalidate_the_messages_but_not_the_tools(cache):
    tools = [CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)]
    first = bill(cache, body(tools, marked_prompt()))
    other = bill(cache, body(tools, marked_prompt(), tool_choice={"type": "none"}))
    assert 1024 <= other["cache_read_input_tokens"] < first["cache_creation_input_tokens"]


def test_automatic_caching_marks_the_last_block(cache):
    request = body(
        [CODE_EXECUTION, big_tool()], [{"role": "user", "content": "Please run this."}], cache_control=EPHEMERAL
    )
    first, second = bill(cache, request), bill(cache, request)
    assert first["cache_creation_input_tokens"] > 1024 and second["cache_read_input_tokens"] > 1024


# --- the API's refusals -------------------------------------------------------------------------


def test_more_than_four_breakpoints_is_a_400(cache):
    texts = [{"type": "text", "text": f"part {k}", "cache_control": EPHEMERAL} for k in range(4)]
    request = body([CODE_EXECUTION, big_tool(cache_control=EPHEMERAL)], [{"role": "user", "content": texts}])
    assert rejected(cache, request) == "A maximum of 4 blocks with cache_control may be provided. Found 5."
    assert cache.plan(body([CODE_EXECUTION, big_tool()], [{"role": "user", "content": texts}])) is not None
    auto = body([CODE_EXECUTION, big_tool()], [{"role": "user", "content": texts}], cache_control=EPHEMERAL)
    assert "Found 5." in rejected(cache, auto)


def programmatic_history(result: dict) -> list[dict]:
    return [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "code_execution", "input": {"code": "."}},
                {"type": "tool_use", "id": "toolu_a", "name": "get", "input": {}, "caller": CALLER},
            ],
        },
        {"role": "user", "content": [result]},
    ]


NOT_RENDERED = "called by code execution cannot have cache_control. These blocks are not rendered in Claude's context."


def test_a_breakpoint_on_the_result_of_a_code_called_tool_is_a_400(cache):
    result = {"type": "tool_result", "tool_use_id": "toolu_a", "content": "1", "cache_control": EPHEMERAL}
    message = rejected(cache, body([CODE_EXECUTION, big_tool()], programmatic_history(result)))
    assert message == f"messages.2.content.0.cache_control: Tool use result for toolu_a {NOT_RENDERED}"
    nested = {
        "type": "tool_result",
        "tool_use_id": "toolu_a",
        "content": [{"type": "text", "text": "1", "cache_control": EPHEMERAL}],
    }
    assert rejected(cache, body([CODE_EXECUTION, big_tool()], programmatic_history(nested))).startswith(
        "messages.2.content.0.content.0.cache_control: Tool use result for toolu_a"
    )


def test_a_breakpoint_on_a_call_the_script_made_is_a_400(cache):
    history = programmatic_history({"type": "tool_result", "tool_use_id": "toolu_a", "content": "1"})
    history[1]["content"][1] = {**history[1]["content"][1], "cache_control": EPHEMERAL}
    message = rejected(cache, body([CODE_EXECUTION, big_tool()], history))
    assert message == f"messages.1.content.1.cache_control: Tool use toolu_a {NOT_RENDERED}"


def test_a_breakpoint_on_an_empty_text_is_a_400(cache):
    texts = [{"type": "text", "text": "go"}, {"type": "text", "text": "", "cache_control": EPHEMERAL}]
    assert (
        rejected(cache, body([CODE_EXECUTION, big_tool()], [{"role": "user", "content": texts}]))
        == "messages.0.content.1.text: cache_control cannot be set for empty text blocks"
    )


def test_a_breakpoint_on_a_direct_tool_result_is_fine(cache):
    history = programmatic_history(
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "1", "cache_control": EPHEMERAL}
    )
    history[1]["content"][1] = {**history[1]["content"][1], "caller": {"type": "direct"}}
    assert cache.plan(body([CODE_EXECUTION, big_tool()], history)) is not None


def test_automatic_caching_skips_the_calls_a_script_made(cache):
    result = {"type": "tool_result", "tool_use_id": "toolu_a", "content": "1"}
    plan = cache.plan(body([CODE_EXECUTION, big_tool()], programmatic_history(result), cache_control=EPHEMERAL))
    assert plan is not None and plan.breakpoints[-1].index == 2 + 1  # the script, before its call and the result


def test_the_calls_a_script_made_and_their_results_are_not_counted():
    """They are not rendered in Claude's context: a run that paused on 8 calls estimates as one that
    paused on 1, whatever the results hold."""

    def paused(calls: int, result: str) -> dict:
        uses = [
            {"type": "tool_use", "id": f"toolu_{k}", "name": "get", "input": {"k": k}, "caller": CALLER}
            for k in range(calls)
        ]
        return body(
            [CODE_EXECUTION, big_tool()],
            [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "server_tool_use",
                            "id": "srvtoolu_1",
                            "name": "code_execution",
                            "input": {"code": "."},
                        },
                        *uses,
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": u["id"], "content": result} for u in uses],
                },
            ],
        )

    assert estimate_input_tokens(paused(8, "x" * 5000)) == estimate_input_tokens(paused(1, "1"))
    direct = paused(1, "x" * 5000)
    direct["messages"][1]["content"][1] = {**direct["messages"][1]["content"][1], "caller": {"type": "direct"}}
    assert estimate_input_tokens(direct) > estimate_input_tokens(paused(1, "1")) + 1000


def test_bad_cache_control_values_are_400s(cache):
    assert (
        rejected(
            cache,
            body([CODE_EXECUTION, big_tool(cache_control={"type": "persistent"})], [{"role": "user", "content": "hi"}]),
        )
        == "tools.1.cache_control.type: Input should be 'ephemeral'"
    )
    assert (
        rejected(
            cache,
            body(
                [CODE_EXECUTION, big_tool(cache_control={"type": "ephemeral", "ttl": "2h"})],
                [{"role": "user", "content": "hi"}],
            ),
        )
        == "tools.1.cache_control.ttl: Input should be '5m' or '1h'"
    )


def test_a_schema_property_named_cache_control_is_not_a_breakpoint(cache):
    tool = big_tool(input_schema={"type": "object", "properties": {"cache_control": {"type": "string"}}})
    tool_use = {"type": "tool_use", "id": "toolu_a", "name": "get", "input": {"cache_control": "x"}}
    history = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [tool_use]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": "1"}]},
    ]
    assert cache.plan(body([tool], history)) is None


# --- over HTTP, with the real SDK ---------------------------------------------------------------


def test_a_paused_run_with_the_hosts_breakpoints(client):
    """The host's placement (`caching.with_cache_points`) on a script that pauses 3 times: the first
    request writes tools + prompt; the two that only resume the script bill nothing and touch no
    cache; the last (the model writes again) reads tools + prompt and writes up to the script. The
    calls and their 2,000-byte results are in no count."""
    code = "import asyncio\nfor b in range(3):\n    await asyncio.gather(*[get({'i': b * 4 + i}) for i in range(4)])\nprint('ok')"
    tools = [CODE_EXECUTION, big_tool(doc=DOC + " (run)")]
    messages = [{"role": "user", "content": script_prompt(code)}]
    usages, container = [], None
    for _ in range(5):
        marked_tools, marked = with_cache_points(tools, messages)
        extra = {"container": container} if container else {}
        response = client.messages.create(
            model="claude-emulated", max_tokens=100, tools=marked_tools, messages=marked, **extra
        )
        usages.append(response.usage)
        container = response.container.id
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in response.content]})
        if response.stop_reason != "tool_use":
            break
        messages.append(tool_results(response, lambda b: "x" * 2000))
    assert response.stop_reason == "end_turn" and response.content[-1].text == "ok" and len(usages) == 4
    first, *resumes, last = usages
    assert first.cache_read_input_tokens == 0 and first.cache_creation_input_tokens > 1024
    for usage in resumes:
        assert (usage.input_tokens, usage.output_tokens) == (0, 0)
        assert usage.cache_read_input_tokens is None and usage.cache_creation_input_tokens is None
    assert last.cache_read_input_tokens == first.cache_creation_input_tokens
    assert last.cache_creation_input_tokens > 0  # the script: written by the first request that bills it
    assert last.input_tokens < 50  # 12 results of 2,000 bytes: not in the context


def test_over_http_a_repeat_reads_and_a_changed_tool_misses(client):
    tools = [CODE_EXECUTION, big_tool(doc=DOC + " (http)", cache_control=EPHEMERAL)]
    messages = marked_prompt(script_prompt("print(1)"))
    first = client.messages.create(model="claude-emulated", max_tokens=100, tools=tools, messages=messages).usage
    again = client.messages.create(model="claude-emulated", max_tokens=100, tools=tools, messages=messages).usage
    assert (
        first.cache_creation_input_tokens > 1024 and again.cache_read_input_tokens == first.cache_creation_input_tokens
    )
    assert again.cache_creation.ephemeral_5m_input_tokens == 0
    changed = [CODE_EXECUTION, big_tool(doc=DOC + " (http, changed)", cache_control=EPHEMERAL)]
    missed = client.messages.create(model="claude-emulated", max_tokens=100, tools=changed, messages=messages).usage
    assert missed.cache_read_input_tokens == 0 and missed.cache_creation_input_tokens > 1024
    streamed = client.messages.stream(model="claude-emulated", max_tokens=100, tools=tools, messages=messages)
    with streamed as stream:
        assert stream.get_final_message().usage.cache_read_input_tokens == first.cache_creation_input_tokens


def test_over_http_below_the_minimum_nothing_is_cached(client):
    tools = [CODE_EXECUTION, ptc_tool("get", cache_control=EPHEMERAL)]
    for _ in range(2):
        usage = client.messages.create(
            model="claude-emulated", max_tokens=100, tools=tools, messages=marked_prompt(script_prompt("print(2)"))
        ).usage
        assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0


def test_over_http_the_refusals(client):
    texts = [{"type": "text", "text": f"part {k}", "cache_control": EPHEMERAL} for k in range(5)]
    with pytest.raises(
        anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control may be provided. Found 5."
    ):
        client.messages.create(
            model="claude-emulated",
            max_tokens=100,
            tools=[CODE_EXECUTION, ptc_tool("get")],
            messages=[{"role": "user", "content": texts}],
        )
    tools = [CODE_EXECUTION, ptc_tool("get")]
    messages = [{"role": "user", "content": script_prompt("await get({'i': 1})")}]
    response = client.messages.create(model="claude-emulated", max_tokens=100, tools=tools, messages=messages)
    messages.append({"role": "assistant", "content": response.content})
    answer = tool_results(response, lambda b: "1")
    answer["content"][0]["cache_control"] = EPHEMERAL
    messages.append(answer)
    with pytest.raises(anthropic.BadRequestError, match="called by code execution cannot have cache_control"):
        client.messages.create(
            model="claude-emulated", max_tokens=100, tools=tools, messages=messages, container=response.container.id
        )
    del answer["content"][0]["cache_control"]  # the script still waits: the refused request changed nothing
    final = client.messages.create(
        model="claude-emulated", max_tokens=100, tools=tools, messages=messages, container=response.container.id
    )
    assert final.stop_reason == "end_turn"


def test_output_counts_what_the_model_wrote(client):
    """A paused response holds only the calls the script made: the container wrote them, not the
    model. The last response's `code_execution_tool_result` is the container's output too."""
    code = "print(await get({'i': 1}))\nprint('x' * 4000)"
    tools = [CODE_EXECUTION, ptc_tool("get")]
    messages = [{"role": "user", "content": script_prompt(code)}]
    first = client.messages.create(model="claude-emulated", max_tokens=100, tools=tools, messages=messages)
    assert first.stop_reason == "tool_use"
    written = [b for b in first.content if b.type != "tool_use"]  # the text and the script
    assert first.usage.output_tokens <= len(str([b.model_dump() for b in written])) // 4 + 5
    messages += [{"role": "assistant", "content": first.content}, tool_results(first, lambda b: "1")]
    last = client.messages.create(
        model="claude-emulated", max_tokens=100, tools=tools, messages=messages, container=first.container.id
    )
    result, answer = last.content[0], last.content[-1]
    assert last.stop_reason == "end_turn" and "x" * 4000 in str(result.model_dump())
    assert answer.type == "text" and last.usage.output_tokens <= len(answer.text) // 4 + 20  # the answer only
