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
        elif name == "message_delta":
            message.update(data["delta"])
            message["usage"] = data["usage"]
    return message


def sample_message() -> dict:
    code = "print('x')\n" * 200  # longer than one chunk
    content = [
        wire.text_block("Running " * 100),
        wire.server_tool_use_block("srvtoolu_1", code),
        wire.tool_use_block({"id": "toolu_1", "name": "get", "input": {"q": "ü" * 600}},
                            {"type": "code_execution_20260120", "tool_id": "srvtoolu_1"}),
        wire.code_execution_result_block("srvtoolu_1", "out", "", 0),
        {"type": "future_block", "id": "future_1"},
    ]
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": []}
    return wire.message("m", content, "tool_use", wire.usage(body, content, True),
                        container={"id": "container_1", "expires_at": "2030-01-01T00:00:00Z"})


def test_events_rebuild_the_message_exactly():
    message = sample_message()
    events = parse("".join(sse.message_events(message, request_id="req_1")))
    names = [n for n, _ in events]
    assert names[:2] == ["message_start", "ping"] and names[-2:] == ["message_delta", "message_stop"]
    assert events[0][1]["message"]["stop_reason"] is None and events[0][1]["message"]["container"] is None
    assert names.count("content_block_delta") > 5  # text and inputs really stream in pieces
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert starts[2]["input"] == {} and starts[2]["caller"]["tool_id"] == "srvtoolu_1"
    assert starts[3] == message["content"][3]  # results arrive whole
    assert rebuild(events) == message


def test_stream_error_breaks_off_after_the_first_block():
    events = parse("".join(sse.message_events(sample_message(), request_id="req_9", break_with_error=True)))
    assert [n for n, _ in events][-2:] == ["content_block_stop", "error"]
    assert events[-1][1] == {"type": "error", "request_id": "req_9", "error": {
        "type": "overloaded_error", "message": events[-1][1]["error"]["message"]}}
    assert "message_stop" not in [n for n, _ in events]
