"""Server-sent events (`emulator/sse.py`): a message streams as the API's events and rebuilds exactly."""

from __future__ import annotations

import json

from ptc_jupyter.emulator import sse, wire


def parse(stream: str) -> list[tuple[str, dict]]:
    events = []
    for chunk in stream.split("\n\n"):
        if chunk:
            name, data = chunk.split("\n")
            events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def rebuild(events: list[tuple[str, dict]]) -> dict:
    """A minimal accumulator following the API's streaming rules."""
    message, buffers = None, {}
    for name, data in events:
        if name == "message_start":
            message = data["message"]
        elif name == "content_block_start":
            message["content"].append(data["content_block"])
        elif name == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                buffers[data["index"]] = buffers.get(data["index"], "") + delta["partial_json"]
        elif name == "content_block_stop" and data["index"] in buffers:
            message["content"][data["index"]]["input"] = json.loads(buffers[data["index"]])
        elif name == "message_delta":  # the SDK's rule: the delta's usage keys replace the start's
            message.update(data["delta"])
            message["usage"] = {**message["usage"], **data["usage"]}
    return message


def sample_message() -> dict:
    code = "print('x')\n" * 200  # longer than one chunk
    content = [
        wire.text_block("Running " * 100),
        wire.server_tool_use_block("srvtoolu_1", code),
        wire.tool_use_block(
            {"id": "toolu_1", "name": "get", "input": {"q": "ü" * 600}},
            {"type": "code_execution_20260120", "tool_id": "srvtoolu_1"},
        ),
        wire.code_execution_result_block("srvtoolu_1", "out", "", 0),
        {"type": "future_block", "id": "future_1"},
    ]
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": []}
    return wire.message(
        "m",
        content,
        "tool_use",
        wire.usage(body, content, True),
        container={"id": "container_1", "expires_at": "2030-01-01T00:00:00Z"},
    )


def test_events_rebuild_the_message_exactly():
    """The recorded order: message_start (no container, no stop reason), the first block's start,
    a ping, deltas; message_delta with the container; the script's call arrives whole."""
    message = sample_message()
    events = parse("".join(sse.message_events(message, request_id="req_1")))
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["stop_reason"] is None and "container" not in start
    assert set(start["usage"]) == {
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "cache_creation",
        "output_tokens",
        "service_tier",
        "inference_geo",
    }
    delta = events[-2][1]
    assert delta["delta"]["container"] == message["container"] and "stop_details" in delta["delta"]
    assert set(delta["usage"]) == {
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
        "output_tokens_details",
        "server_tool_use",
    }
    assert names.count("content_block_delta") > 5  # text and inputs really stream in pieces
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert starts[1]["input"] == {} and starts[1]["caller"] == {"type": "direct"}
    first_input_delta = next(d for n, d in events if n == "content_block_delta" and d["index"] == 1)
    assert first_input_delta["delta"] == {"type": "input_json_delta", "partial_json": ""}
    assert starts[2] == message["content"][2]  # a call the script made arrives whole, input and all
    assert not [d for n, d in events if n == "content_block_delta" and d["index"] == 2]
    assert starts[3] == message["content"][3]  # results arrive whole
    assert rebuild(events) == message


def test_a_resume_streams_as_one_message_start_then_message_stop():
    """`anthropic-programmatic-tool-calling.1.chunks.txt`: a continuation that only carries more
    calls of the running script is one message_start already holding them, billed 0/0."""
    content = [
        wire.tool_use_block(
            {"id": "toolu_2", "name": "get", "input": {"q": 1}},
            {"type": "code_execution_20260120", "tool_id": "srvtoolu_1"},
        )
    ]
    message = wire.message(
        "m",
        content,
        "tool_use",
        wire.usage({"messages": []}, content, True),
        container={"id": "container_1", "expires_at": "2030-01-01T00:00:00Z"},
    )
    events = parse("".join(sse.message_events(message, request_id="req_2")))
    assert [n for n, _ in events] == ["message_start", "message_stop"]
    assert events[0][1]["message"] == message
    assert message["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
    }


def test_stream_error_breaks_off_after_the_first_block():
    events = parse("".join(sse.message_events(sample_message(), request_id="req_9", break_with_error=True)))
    assert [n for n, _ in events][-2:] == ["content_block_stop", "error"]
    assert events[-1][1] == {
        "type": "error",
        "request_id": "req_9",
        "error": {"type": "overloaded_error", "message": events[-1][1]["error"]["message"]},
    }
    assert "message_stop" not in [n for n, _ in events]
