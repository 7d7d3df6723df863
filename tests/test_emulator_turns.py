"""Turns through the real SDK (`emulator/turns.py`): PTC batches, continuations, REPL state,
direct mode, the 400 rules, container expiry and the pending-call deadline."""

from __future__ import annotations

import json

import anthropic
import pytest
from emulator_helpers import CODE_EXECUTION, ptc_tool, run_turn, script_prompt, tool_results, wait_until

from ptc_jupyter.emulator import EmulatorConfig, EmulatorServer
from ptc_jupyter.emulator.rules import CONTAINER_REQUIRED

TOOLS = [CODE_EXECUTION, ptc_tool("get"), ptc_tool("only_direct", callers=("direct",))]
GATHER10 = "import asyncio\nr = await asyncio.gather(*[get({'i': i}) for i in range(10)])\nprint(sum(map(int, r)))"
MODEL = "claude-emulated"


def create(client, messages, tools=TOOLS, **kw):
    return client.messages.create(model=MODEL, max_tokens=1024, tools=tools, messages=messages, **kw)


def double(block):
    return str(2 * block.input["i"])


def start(client, code, tools=TOOLS, **kw):
    messages = [{"role": "user", "content": script_prompt(code)}]
    response = create(client, messages, tools, **kw)
    messages.append({"role": "assistant", "content": response.content})
    return messages, response


def test_gathered_calls_come_back_together_caller_tagged(client):
    _messages, r = start(client, GATHER10)
    assert r.stop_reason == "tool_use"
    assert [b.type for b in r.content[:2]] == ["text", "server_tool_use"]
    script = r.content[1]
    assert (
        script.name == "code_execution"
        and script.input == {"code": GATHER10 + "\n"}
        and script.id.startswith("srvtoolu_")
    )
    calls = [b for b in r.content if b.type == "tool_use"]
    assert len(calls) == 10 and sorted(b.input["i"] for b in calls) == list(range(10))
    assert {(b.caller.type, b.caller.tool_id) for b in calls} == {("code_execution_20260120", script.id)}
    assert r.container.id.startswith("container_") and r.container.expires_at.tzinfo is not None
    assert r.usage.server_tool_use.model_extra["code_execution_requests"] == 1
    assert r.model_extra["emulator"] == {"usage_estimated": True}


def test_results_resume_the_script_and_stdout_becomes_the_answer(client):
    final, responses = run_turn(client, prompt=script_prompt(GATHER10), tools=TOOLS, answer=double)
    assert len(responses) == 2 and final.stop_reason == "end_turn"
    result, text = final.content
    assert result.type == "code_execution_tool_result" and result.tool_use_id == responses[0].content[1].id
    assert (result.content.stdout, result.content.return_code) == ("90\n", 0)
    assert text.type == "text" and text.text == "90"
    assert final.container.id == responses[0].container.id


def test_a_script_pausing_several_times_gets_one_batch_per_pause(client):
    code = "a = await get({'i': 1})\nb, c = await asyncio.gather(get({'i': int(a)}), get(i=3))\nprint(a, b, c)"
    final, responses = run_turn(client, prompt=script_prompt("import asyncio\n" + code), tools=TOOLS, answer=double)
    assert [len([b for b in r.content if b.type == "tool_use"]) for r in responses] == [1, 2, 0]
    assert final.content[-1].text == "2 4 6"


def test_a_script_without_calls_ends_in_the_first_response(client):
    final, responses = run_turn(client, prompt=script_prompt("print('hello')"), tools=TOOLS, answer=double)
    assert len(responses) == 1
    assert [b.type for b in final.content] == ["text", "server_tool_use", "code_execution_tool_result", "text"]
    assert final.content[-1].text == "hello"


def test_repl_state_persists_across_turns_in_one_container(client):
    first, _ = run_turn(client, prompt=script_prompt("seen = [await get({'i': 20})]"), tools=TOOLS, answer=double)
    second, _ = run_turn(
        client,
        prompt=script_prompt("seen.append(1)\nprint(seen)"),
        tools=TOOLS,
        answer=double,
        container=first.container.id,
    )
    assert second.content[-1].text == "['40', 1]"
    assert second.container.id == first.container.id


def test_is_error_results_reach_the_script_as_the_returned_string(client):
    final, _ = run_turn(
        client,
        prompt=script_prompt("print(await get({'i': 1}))"),
        tools=TOOLS,
        answer=lambda b: ("Error: upstream timeout", True),
    )
    assert final.content[-1].text == "Error: upstream timeout"


def test_text_block_results_reach_the_script_joined(client):
    final, _ = run_turn(
        client,
        prompt=script_prompt("print(repr(await get({'i': 1})))"),
        tools=TOOLS,
        answer=lambda b: [{"type": "text", "text": '{"a": '}, {"type": "text", "text": "1}"}],
    )
    assert final.content[-1].text == """'{"a": 1}'"""


def test_a_failing_script_says_so_with_its_exception_and_line(client):
    final, _ = run_turn(
        client, prompt=script_prompt("print('partial')\nraise ValueError('boom')"), tools=TOOLS, answer=double
    )
    result = final.content[-2].content
    assert result.return_code == 1 and "Traceback" in result.stderr
    assert final.content[-1].text == "partial\n\nThe script failed (return code 1): ValueError: boom (line 2)"


def test_a_prompt_without_a_script_explains_offline_mode(client):
    r = create(client, [{"role": "user", "content": "What is the revenue?"}])
    assert r.stop_reason == "end_turn" and r.container is None
    assert "offline emulator" in r.content[0].text and "fenced" in r.content[0].text and "python" in r.content[0].text


def test_the_20260521_tool_still_tags_callers_20260120(client):
    tools = [
        {"type": "code_execution_20260521", "name": "code_execution"},
        ptc_tool("get", callers=("code_execution_20260521",)),
    ]
    _m, r = start(client, "await get({'i': 1})", tools)
    assert r.content[-1].caller.type == "code_execution_20260120"


def test_direct_only_tools_are_not_defined_in_the_script_by_default(client):
    final, _ = run_turn(client, prompt=script_prompt("await only_direct({})"), tools=TOOLS, answer=double)
    assert "NameError" in final.content[-1].text


def test_expose_direct_tools_lets_the_script_call_them_caller_tagged():
    with EmulatorServer(EmulatorConfig(expose_direct_tools=True)) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key)
        _m, r = start(client, "await only_direct({'i': 1})")
        assert r.content[-1].name == "only_direct" and r.content[-1].caller.type == "code_execution_20260120"


def test_usage_leaves_out_results_of_programmatic_calls(client):
    def usage_with(result_text, tools):
        messages, r = start(client, "await get({'i': 1})\nprint('done')", tools)
        messages.append(tool_results(r, lambda b: result_text))
        extra = {"container": r.container.id} if r.container else {}
        return create(client, messages, tools, **extra).usage.input_tokens

    assert usage_with("x" * 40_000, TOOLS) - usage_with("x", TOOLS) < 10
    direct = [ptc_tool("get", callers=("direct",))]
    assert usage_with("x" * 40_000, direct) - usage_with("x", direct) > 9_000


# --- direct mode --------------------------------------------------------------------------------


def test_direct_mode_delivers_one_tool_use_per_response():
    tools = [ptc_tool("get", callers=("direct",))]
    with EmulatorServer() as server:
        client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key)
        code = "import asyncio\nr = await asyncio.gather(*[get({'i': i}) for i in range(3)])\nprint(r)"
        final, responses = run_turn(client, prompt=script_prompt(code), tools=tools, answer=double)
        for r in responses[:-1]:
            calls = [b for b in r.content if b.type == "tool_use"]
            assert len(calls) == 1 and calls[0].caller.type == "direct" and r.container is None
            assert r.stop_reason == "tool_use"
        assert [b.type for b in responses[0].content] == ["text", "tool_use"]
        assert (
            len(responses) == 4 and final.content == [final.content[0]] and final.content[0].text == "['0', '2', '4']"
        )
        assert "server_tool_use" not in (final.usage.server_tool_use.model_extra if final.usage.server_tool_use else {})
        wait_until(lambda: server_state(client)["processes"] == 1)  # the hidden sandbox died with its script


def server_state(client):
    return client.get("/_emulator/state", cast_to=object)


# --- the 400 rules through the SDK --------------------------------------------------------------


def rejected(fn, *args, **kw) -> str:
    with pytest.raises(anthropic.BadRequestError) as info:
        fn(*args, **kw)
    assert info.value.status_code == 400 and info.value.body["error"]["type"] == "invalid_request_error"
    assert info.value.body["type"] == "error" and info.value.body["request_id"].startswith("req_")
    return info.value.body["error"]["message"]


@pytest.fixture
def paused(client):
    messages, r = start(client, GATHER10)
    return messages, r


def test_rule_continuation_without_container(client, paused):
    messages, r = paused
    messages.append(tool_results(r, double))
    assert rejected(create, client, messages) == CONTAINER_REQUIRED


def test_rule_text_beside_tool_results(client, paused):
    messages, r = paused
    reply = tool_results(r, double)
    reply["content"].append({"type": "text", "text": "also, hi"})
    assert "only `tool_result` blocks" in rejected(create, client, messages + [reply], container=r.container.id)


def test_rule_missing_results(client, paused):
    messages, r = paused
    reply = tool_results(r, double)
    dropped = reply["content"].pop()["tool_use_id"]
    message = rejected(create, client, messages + [reply], container=r.container.id)
    assert f"tool_use ids were found without tool_result blocks immediately after: {dropped}" in message


def test_rule_tools_changed_within_a_turn(client, paused):
    messages, r = paused
    messages.append(tool_results(r, double))
    assert "must not change" in rejected(
        create, client, messages, TOOLS + [ptc_tool("extra")], container=r.container.id
    )


def test_rule_continuation_without_code_execution_tool(client, paused):
    messages, r = paused
    messages.append(tool_results(r, double))
    message = rejected(create, client, messages, TOOLS[1:], container=r.container.id)
    assert message.endswith("but no `code_execution` tool was provided.")


def test_rule_non_text_result_for_a_programmatic_call(client, paused):
    messages, r = paused
    reply = tool_results(r, double)
    reply["content"][0]["content"] = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    ]
    assert "found `image`" in rejected(create, client, messages + [reply], container=r.container.id)


def test_rule_results_matching_nothing_pending(client, paused):
    messages, r = paused
    forged = [b.to_dict() for b in r.content]
    for block in forged:
        if block["type"] == "tool_use":
            block["id"] = block["id"] + "x"
    messages[-1] = {"role": "assistant", "content": forged}
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": b["id"], "content": "1"}
                for b in forged
                if b["type"] == "tool_use"
            ],
        }
    )
    message = rejected(create, client, messages, container=r.container.id)
    assert "unexpected tool_use_id found in tool_result blocks" in message and "no pending tool use" in message


def test_rule_strict_tool_with_ptc(client):
    assert "`strict: true` are not supported" in rejected(
        start, client, "pass", [CODE_EXECUTION, ptc_tool("s", strict=True)]
    )


def test_rule_recursive_ref_with_ptc(client):
    schema = {
        "type": "object",
        "properties": {"n": {"$ref": "#/$defs/N"}},
        "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
    }
    assert "Circular $ref detected" in rejected(
        start, client, "pass", [CODE_EXECUTION, ptc_tool("t", input_schema=schema)]
    )


def test_a_valid_continuation_after_a_rejected_one_still_works(client, paused):
    messages, r = paused
    rejected(create, client, messages + [tool_results(r, double)])  # no container
    final = create(client, messages + [tool_results(r, double)], container=r.container.id)
    assert final.content[-1].text == "90"


# --- container expiry and the pending-call deadline ---------------------------------------------


def test_idle_containers_expire_and_say_how_to_recover():
    with EmulatorServer(EmulatorConfig(container_idle_s=0.2)) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key)
        final, _ = run_turn(client, prompt=script_prompt("x = 1"), tools=TOOLS, answer=double)
        cid = final.container.id
        wait_until(lambda: [c for c in server_state(client)["containers"] if c["id"] == cid and not c["alive"]])
        message = rejected(
            run_turn, client, prompt=script_prompt("print(x)"), tools=TOOLS, answer=double, container=cid
        )
        assert "expired" in message and "without the `container` parameter" in message
        assert server_state(client)["processes"] == 1  # only the warm spare is left
        unknown = rejected(
            run_turn, client, prompt=script_prompt("1"), tools=TOOLS, answer=double, container="container_nope"
        )
        assert "without the `container` parameter" in unknown


def test_unanswered_calls_time_out_inside_the_script_and_late_results_are_ignored():
    with EmulatorServer(EmulatorConfig(pending_deadline_s=0.3)) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key)
        code = "try:\n    await get({'i': 1})\nexcept TimeoutError as e:\n    print('caught', e)"
        messages, r = start(client, code)
        cid = r.container.id
        wait_until(lambda: [c for c in server_state(client)["containers"] if c["id"] == cid and not c["pending"]])
        messages.append(tool_results(r, double))
        final = create(client, messages, container=cid)
        assert final.stop_reason == "end_turn"
        assert final.content[-1].text == "caught Calling tool ['get'] timed out (no response after 0.3s)"


def test_a_new_turn_in_a_busy_container_cancels_the_old_script(client, paused):
    _messages, r = paused
    final, _ = run_turn(
        client, prompt=script_prompt("print('fresh')"), tools=TOOLS, answer=double, container=r.container.id
    )
    assert final.content[-1].text == "fresh"


def test_tool_inputs_travel_as_json(client):
    payload = {"i": 1, "text": 'ünïcödé "quoted"', "nested": {"list": [1, 2.5, None, True]}}
    _m, r = start(client, f"await get({json.dumps(payload)!s}".replace("null", "None").replace("true", "True") + ")")
    assert r.content[-1].input == payload
