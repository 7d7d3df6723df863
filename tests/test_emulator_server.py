"""The HTTP server and `EmulatorServer` (`emulator/server.py`): wire details, streaming parity,
admin endpoints, clean shutdown, the CLI, and per-round-trip overhead."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading

import anthropic
import httpx2
import psutil
import pytest
from emulator_helpers import CODE_EXECUTION, CliEmulator, ptc_tool, script_prompt, tool_results, wait_until

from ptc_jupyter.emulator import EmulatorConfig, EmulatorServer, start_emulator

TOOLS = [CODE_EXECUTION, ptc_tool("get")]
CODE = "import asyncio\nr = await asyncio.gather(*[get({'i': i}) for i in range(4)])\nprint('sum', sum(map(int, r)))"


@pytest.fixture(scope="module")
def server():
    with EmulatorServer() as s:
        yield s


def body(**extra):
    return {
        "model": "m",
        "max_tokens": 100,
        "tools": TOOLS,
        "messages": [{"role": "user", "content": script_prompt(CODE)}],
        **extra,
    }


def test_url_and_request_id(server):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    response = httpx2.post(server.url + "/v1/messages", json=body(), headers={"x-api-key": server.api_key})
    assert response.status_code == 200 and response.headers["request-id"].startswith("req_")


def test_missing_api_key_is_an_authentication_error(server):
    response = httpx2.post(server.url + "/v1/messages", json=body())
    assert response.status_code == 401
    rid = response.headers["request-id"]
    assert response.json() == {
        "type": "error",
        "request_id": rid,
        "error": {"type": "authentication_error", "message": "x-api-key header is required"},
    }


def test_errors_have_the_api_body(server):
    response = httpx2.post(server.url + "/v1/messages", content=b"{not json", headers={"x-api-key": server.api_key})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    missing = httpx2.post(server.url + "/v1/nothing", json={}, headers={"x-api-key": server.api_key})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Field required"):
        anthropic.Anthropic(base_url=server.url, api_key=server.api_key).post(
            "/v1/messages", body={"model": "m", "messages": []}, cast_to=object
        )


def test_models_endpoint_reports_ptc_support_for_any_model(server):
    client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key)
    info = client.models.retrieve("claude-opus-5-5")
    assert info.id == "claude-opus-5-5" and info.capabilities.code_execution.supported
    assert [m.id for m in client.models.list()] == [
        "claude-offline-emulator",
        "claude-offline-emulator-no-code-execution",
    ]


def normalised(message) -> str:
    """The message as JSON with the generated ids and times replaced by placeholders."""
    text = message.to_json()
    text = re.sub(r'"(msg|toolu|srvtoolu|container)_[0-9a-zA-Z]+"', r'"\1_ID"', text)
    return re.sub(r'"expires_at": "[^"]+"', '"expires_at": "T"', text)


def test_streaming_gives_the_same_final_message_as_json(server):
    client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key)

    def whole_turn(stream: bool):
        messages = [{"role": "user", "content": script_prompt(CODE)}]
        finals, container = [], None
        while True:
            kw = dict(
                model="m",
                max_tokens=100,
                tools=TOOLS,
                messages=messages,
                **({"container": container} if container else {}),
            )
            if stream:
                with client.messages.stream(**kw) as s:
                    events = [e.type for e in s]
                    r = s.get_final_message()
                assert events[0] == "message_start" and events[-1] == "message_stop"
            else:
                r = client.messages.create(**kw)
            finals.append(r)
            container = r.container.id
            if r.stop_reason != "tool_use":
                return finals
            messages += [{"role": "assistant", "content": r.content}, tool_results(r, lambda b: str(b.input["i"]))]

    plain, streamed = whole_turn(False), whole_turn(True)
    assert [normalised(m) for m in streamed] == [normalised(m) for m in plain]
    assert streamed[-1].content[-1].text == "sum 6"
    assert streamed[0].container is not None and streamed[0].model_extra["emulator"]["usage_estimated"]


def test_raw_stream_uses_the_api_event_shapes(server):
    with httpx2.stream(
        "POST", server.url + "/v1/messages", json=body(stream=True), headers={"x-api-key": server.api_key}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    names = re.findall(r"^event: (\S+)$", text, re.M)
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert '"type": "input_json_delta"' in text and '"type": "text_delta"' in text
    assert '"content_block": {"type": "server_tool_use"' in text and '"input": {}' in text


def test_state_lists_containers_with_pending_calls(server):
    client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key)
    r = client.messages.create(**body())
    state = client.get("/_emulator/state", cast_to=object)
    mine = [c for c in state["containers"] if c["id"] == r.container.id]
    assert mine == [{"id": r.container.id, "alive": True, "pending": [b.id for b in r.content if b.type == "tool_use"]}]
    assert state["processes"] >= 2  # the container and the warm spare


def dead(proc: psutil.Process) -> bool:
    """Gone, or a zombie nobody reaps (PID 1 in a container may not): a kill lands asynchronously."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def repl_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if any("repl.py" in part for part in p.cmdline())]


def test_stop_kills_every_sandbox_and_what_scripts_started():
    threads_before = threading.active_count()
    others = {p.pid for p in repl_children()}  # the module's server keeps its own
    server = start_emulator(EmulatorConfig())
    client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key)
    spawn = "import subprocess\np = subprocess.Popen(['sleep', '60'])\nprint(p.pid)\nawait get({})"
    r = client.messages.create(
        model="m", max_tokens=100, tools=TOOLS, messages=[{"role": "user", "content": script_prompt(spawn)}]
    )
    assert r.stop_reason == "tool_use"
    sandboxes = [p for p in repl_children() if p.pid not in others]
    assert len(sandboxes) == 2
    grandchildren = [c for p in sandboxes for c in p.children(recursive=True)]
    assert [c.name() for c in grandchildren] == ["sleep"]
    server.stop()
    assert all(dead(p) for p in sandboxes)  # stop() reaped them
    wait_until(lambda: all(dead(p) for p in grandchildren))
    assert {p.pid for p in repl_children()} <= others
    assert threading.active_count() == threads_before
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(server.url + "/_emulator/state")
    server.stop()  # idempotent


def test_context_manager_and_restart_on_a_fixed_port():
    with EmulatorServer() as first:
        port = int(first.url.rsplit(":", 1)[1])
    with EmulatorServer(EmulatorConfig(port=port)) as again:
        assert again.url == f"http://127.0.0.1:{port}"
        assert httpx2.get(again.url + "/_emulator/state", headers={"x-api-key": again.api_key}).status_code == 200


def test_cli_takes_its_key_from_the_environment_and_stops_cleanly_on_sigint():
    key = "ptc-test-key-" + "x" * 20
    with CliEmulator("--deadline", "5", "--idle", "60", env={**os.environ, "PTC_EMULATOR_KEY": key}) as cli:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", cli.stdout[0]) and cli.url == cli.stdout[0]
        assert cli.key is None  # a key that was given is not echoed
        r = anthropic.Anthropic(base_url=cli.url, api_key=key).messages.create(**body())
        assert r.stop_reason == "tool_use"
        children = psutil.Process(cli.proc.pid).children(recursive=True)
        assert len(children) == 2
        assert cli.signal(signal.SIGINT) == 0
        assert all(dead(c) for c in children)
    assert not any(key in line for line in cli.stdout + cli.stderr)


def test_gather50_comes_back_as_one_batch_each_time():
    """50 gathered calls come back in one response, turn after turn (timing: benchmarks/run.py)."""

    async def one_turn(client) -> None:
        code = "import asyncio\nr = await asyncio.gather(*[get({'i': i}) for i in range(50)])\nprint(len(r))"
        messages = [{"role": "user", "content": script_prompt(code)}]
        r = await client.messages.create(model="m", max_tokens=100, tools=TOOLS, messages=messages)
        calls = [b for b in r.content if b.type == "tool_use"]

        results = [{"type": "tool_result", "tool_use_id": b.id, "content": str(b.input["i"])} for b in calls]
        messages += [{"role": "assistant", "content": r.content}, {"role": "user", "content": list(results)}]
        final = await client.messages.create(
            model="m", max_tokens=100, tools=TOOLS, messages=messages, container=r.container.id
        )
        assert len(calls) == 50 and final.content[-1].text == "50"  # all fifty in one response: one batch

    async def turns(server: EmulatorServer, runs: int) -> None:
        async with anthropic.AsyncAnthropic(base_url=server.url, api_key=server.api_key) as client:
            for _ in range(runs):
                await one_turn(client)

    with EmulatorServer() as server:
        asyncio.run(turns(server, 3))
