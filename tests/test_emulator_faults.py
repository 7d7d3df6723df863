"""Injected faults (`emulator/faults.py`), each seen through the real SDK."""

from __future__ import annotations

import anthropic
import httpx2
import pytest
from emulator_helpers import CODE_EXECUTION, ptc_tool, run_turn, script_prompt, tool_results

from ptc_jupyter.emulator import EmulatorServer
from ptc_jupyter.emulator.faults import FaultQueue, parse_fault

TOOLS = [CODE_EXECUTION, ptc_tool("get")]
GATHER3 = "import asyncio\nprint(await asyncio.gather(get(i=1), get(i=2), get(i=3)))"


@pytest.fixture
def server():
    with EmulatorServer() as s:
        yield s


def make_client(server, **kw):
    return anthropic.Anthropic(base_url=server.url, api_key=server.api_key, **kw)


def create(client, messages, **kw):
    return client.messages.create(model="m", max_tokens=1024, tools=TOOLS, messages=messages, **kw)


def first(client, code=GATHER3, **kw):
    messages = [{"role": "user", "content": script_prompt(code)}]
    response = create(client, messages, **kw)
    messages.append({"role": "assistant", "content": response.content})
    return messages, response


def answer(block):
    return str(block.input["i"])


def test_parse_fault_rejects_nonsense():
    for bad in ({"status": 418}, {"kind": "gremlins"}, {"status": 429, "count": 0}, "529"):
        with pytest.raises(ValueError):
            parse_fault(bad)
    queue = FaultQueue()
    with pytest.raises(ValueError):
        queue.add({"kind": "pause_turn"}, {"kind": "nope"})
    assert queue.pending() == []  # all or nothing


@pytest.mark.parametrize(
    "status, error, error_type",
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_status_faults_give_the_api_error_body(server, status, error, error_type):
    server.inject({"status": status, "count": 1})
    with pytest.raises(error) as info:
        first(make_client(server, max_retries=0))
    assert info.value.status_code == status and info.value.body["error"]["type"] == error_type
    assert info.value.response.headers["retry-after-ms"] == "1" and info.value.request_id.startswith("req_")
    first(make_client(server, max_retries=0))  # consumed: the next request succeeds


def test_sdk_retry_succeeds_after_a_queued_529(server):
    server.inject({"status": 529, "count": 2})
    _m, r = first(make_client(server, max_retries=2))
    assert r.stop_reason == "tool_use"


def test_429_beyond_the_retries_raises(server):
    server.inject({"status": 429, "count": 3})
    with pytest.raises(anthropic.RateLimitError):
        first(make_client(server, max_retries=2))


def test_faults_can_be_queued_over_http(server):
    key = {"x-api-key": server.api_key}
    response = httpx2.post(server.url + "/_emulator/faults", json={"faults": [{"kind": "refusal"}]}, headers=key)
    assert response.status_code == 200 and response.json()["queued"] == [{"kind": "refusal"}]
    bad = httpx2.post(server.url + "/_emulator/faults", json={"faults": [{"kind": "nope"}]}, headers=key)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    _m, r = first(make_client(server))
    assert r.stop_reason == "refusal"


def test_expired_container_fault(server):
    client = make_client(server)
    final, _ = run_turn(client, prompt=script_prompt("x = 1"), tools=TOOLS, answer=answer)
    server.inject({"kind": "expired_container"})
    _m, r = first(client, "print(2)")  # names no container: the fault waits
    with pytest.raises(anthropic.BadRequestError) as info:
        first(client, "print(x)", container=final.container.id)
    assert "expired" in info.value.message and "without the `container` parameter" in info.value.message
    state = client.get("/_emulator/state", cast_to=object)
    assert {"id": final.container.id, "alive": False, "pending": []} in state["containers"]


def test_unknown_block_fault_json_and_stream(server):
    client = make_client(server)
    server.inject({"kind": "unknown_block"})
    _m, r = first(client)
    assert [b.type for b in r.content].count("future_block") == 1
    messages = [
        {"role": "user", "content": script_prompt(GATHER3)},
        {"role": "assistant", "content": r.content},
        tool_results(r, answer),
    ]
    assert create(client, messages, container=r.container.id).stop_reason == "end_turn"  # echo accepted
    server.inject({"kind": "unknown_block"})
    with client.messages.stream(
        model="m", max_tokens=100, tools=TOOLS, messages=[{"role": "user", "content": script_prompt(GATHER3)}]
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].type == "future_block" and streamed.stop_reason == "tool_use"


def test_pause_turn_fault_withholds_the_calls_until_the_echo(server):
    client = make_client(server)
    server.inject({"kind": "pause_turn"})
    messages, r = first(client)
    assert r.stop_reason == "pause_turn" and [b.type for b in r.content] == ["text", "server_tool_use"]
    resumed = create(client, messages, container=r.container.id)  # the echo: no new user message
    assert resumed.stop_reason == "tool_use"
    calls = [b for b in resumed.content if b.type == "tool_use"]
    assert len(calls) == 3 and {c.caller.tool_id for c in calls} == {r.content[1].id}
    messages += [{"role": "assistant", "content": resumed.content}, tool_results(resumed, answer)]
    assert create(client, messages, container=r.container.id).content[-1].text == "['1', '2', '3']"


def test_bad_caller_fault_names_no_script(server):
    client = make_client(server)
    server.inject({"kind": "bad_caller"})
    messages, r = first(client)
    script_id = r.content[1].id
    tool_ids = [b.caller.tool_id for b in r.content if b.type == "tool_use"]
    assert tool_ids[0] != script_id and tool_ids[1:] == [script_id, script_id]
    messages.append(tool_results(r, lambda b: ("Error: refused", True) if b.caller.tool_id != script_id else answer(b)))
    assert create(client, messages, container=r.container.id).content[-1].text == "['Error: refused', '2', '3']"


@pytest.mark.parametrize("kind", ["max_tokens", "refusal"])
def test_truncating_faults_end_with_partial_text(server, kind):
    client = make_client(server)
    server.inject({"kind": kind})
    _m, r = first(client)
    assert r.stop_reason == kind and [b.type for b in r.content] == ["text"]
    assert 0 < len(r.content[0].text) < len("Running the script from your prompt in the offline emulator.")
    if kind == "refusal":
        assert r.stop_details.type == "refusal"


def test_stream_error_fault_breaks_the_stream_and_a_resend_recovers(server):
    client = make_client(server)
    messages, r = first(client)
    messages.append(tool_results(r, answer))
    server.inject({"kind": "stream_error"})
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(
            model="m", max_tokens=100, tools=TOOLS, messages=messages, container=r.container.id
        ) as stream:
            stream.get_final_message()
    assert info.value.status_code == 200 and info.value.body["error"]["type"] == "overloaded_error"
    final = create(client, messages, container=r.container.id)  # the same continuation again
    assert final.stop_reason == "end_turn" and final.content[-1].text == "['1', '2', '3']"
