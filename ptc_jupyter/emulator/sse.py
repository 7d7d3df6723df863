"""A finished message as the API's server-sent events (ptc-protocol.md sections 4 and 10).

The emulator computes the whole message first, then streams it: the SDK's accumulator rebuilds the
same message that the JSON answer carries. The shapes follow the recorded traffic
(`anthropic-programmatic-tool-calling.1.chunks.txt`, `anthropic-code-execution-20260120-*.chunks.txt`):

- `message_start` holds the message without content, container or stop reason, its usage the
  input side (with `service_tier` and `inference_geo`); a `ping` follows the first block's start.
- Text streams as `text_delta`s. A `server_tool_use` opens with `input: {}` and an empty first
  `input_json_delta`, then its input in pieces; a direct `tool_use` streams its input the same way.
  A `tool_use` a script made arrives whole in its `content_block_start`, as do result blocks (and
  unknown ones).
- `message_delta` carries the stop reason, `stop_details`, the `container` (when there is one) and
  the output side of usage (`output_tokens_details`, `server_tool_use`).
- A response that only resumes the script (`wire.resumes_only`) is one `message_start` that already
  holds its content, container, stop reason and 0/0 usage, then `message_stop`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from ptc_jupyter.emulator.wire import error_body, resumes_only, script_call

#: Pieces a text or a tool input is cut into (the API streams in bursts; a few pieces show the
#: client really accumulates, without making the SDK re-parse a long input many times).
CHUNK_CHARS = 512
#: The usage keys of `message_start` (the rest of a message's usage comes in `message_delta`).
START_USAGE = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "output_tokens",
    "service_tier",
    "inference_geo",
)
DELTA_USAGE = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "output_tokens_details",
    "server_tool_use",
)


def event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _chunks(text: str) -> list[str]:
    return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]


def _block_events(index: int, block: dict) -> Iterator[str]:
    kind = block.get("type")
    if kind == "text":
        yield event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {**block, "text": ""}},
        )
        pieces = _chunks(block["text"])
        delta_type, key = "text_delta", "text"
    elif kind in ("tool_use", "server_tool_use") and not script_call(block):
        yield event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
        )
        pieces = _chunks(json.dumps(block["input"], ensure_ascii=False))
        if kind == "server_tool_use":
            pieces = ["", *pieces]  # the recordings open a server tool's input with an empty delta
        delta_type, key = "input_json_delta", "partial_json"
    else:
        yield event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
        pieces = []
    if index == 0:
        yield event("ping", {"type": "ping"})
    for piece in pieces:
        yield event(
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": {"type": delta_type, key: piece}},
        )
    yield event("content_block_stop", {"type": "content_block_stop", "index": index})


def message_events(message: dict, *, request_id: str, break_with_error: bool = False) -> Iterator[str]:
    """The events of one response; with `break_with_error`, an overloaded_error after the first block."""
    usage = message["usage"]
    if resumes_only(message["content"]) and not break_with_error:
        yield event("message_start", {"type": "message_start", "message": message})
        yield event("message_stop", {"type": "message_stop"})
        return
    start = {
        **{k: v for k, v in message.items() if k not in ("container", "usage")},
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "usage": {**{k: usage[k] for k in START_USAGE if k in usage}, "output_tokens": 1},
    }
    yield event("message_start", {"type": "message_start", "message": start})
    for index, block in enumerate(message["content"]):
        yield from _block_events(index, block)
        if break_with_error:
            yield event(
                "error",
                error_body(
                    "overloaded_error", "Overloaded (fault injected in the offline emulator, mid-stream).", request_id
                ),
            )
            return
    if break_with_error:  # no blocks at all: break right after the start
        yield event("error", error_body("overloaded_error", "Overloaded (fault injected mid-stream).", request_id))
        return
    delta = {
        "stop_reason": message["stop_reason"],
        "stop_sequence": message["stop_sequence"],
        "stop_details": message.get("stop_details"),
    }
    if message.get("container") is not None:
        delta["container"] = message["container"]
    yield event(
        "message_delta",
        {"type": "message_delta", "delta": delta, "usage": {k: usage[k] for k in DELTA_USAGE if k in usage}},
    )
    yield event("message_stop", {"type": "message_stop"})
