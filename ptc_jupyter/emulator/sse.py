"""A finished message as the API's server-sent events (ptc-protocol.md section 4).

The emulator computes the whole message first, then streams it: the SDK's accumulator rebuilds the
same message that the JSON answer carries. Text streams as `text_delta`s and tool inputs as
`input_json_delta`s; result blocks (and unknown ones) arrive whole in `content_block_start`.
"""

from __future__ import annotations

import json
from typing import Iterator

from ptc_jupyter.emulator.wire import error_body

#: Pieces a text or a tool input is cut into (the API streams in bursts; a few pieces show the
#: client really accumulates, without making the SDK re-parse a long input many times).
CHUNK_CHARS = 512


def event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _chunks(text: str) -> list[str]:
    return [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]


def _block_events(index: int, block: dict) -> Iterator[str]:
    kind = block.get("type")
    if kind == "text":
        yield event("content_block_start", {"type": "content_block_start", "index": index,
                                            "content_block": {**block, "text": ""}})
        for piece in _chunks(block["text"]):
            yield event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                "delta": {"type": "text_delta", "text": piece}})
    elif kind in ("tool_use", "server_tool_use"):
        yield event("content_block_start", {"type": "content_block_start", "index": index,
                                            "content_block": {**block, "input": {}}})
        for piece in _chunks(json.dumps(block["input"], ensure_ascii=False)):
            yield event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                "delta": {"type": "input_json_delta", "partial_json": piece}})
    else:
        yield event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
    yield event("content_block_stop", {"type": "content_block_stop", "index": index})


def message_events(message: dict, *, request_id: str, break_with_error: bool = False) -> Iterator[str]:
    """The events of one response; with `break_with_error`, an overloaded_error after the first block."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None, "stop_details": None,
             "container": None, "usage": {**usage, "output_tokens": 1}}
    yield event("message_start", {"type": "message_start", "message": start})
    yield event("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        yield from _block_events(index, block)
        if break_with_error:
            yield event("error", error_body("overloaded_error", "Overloaded (fault injected in the offline "
                                            "emulator, mid-stream).", request_id))
            return
    if break_with_error:  # no blocks at all: break right after the start
        yield event("error", error_body("overloaded_error", "Overloaded (fault injected mid-stream).", request_id))
        return
    yield event("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"],
                  "stop_details": message.get("stop_details"), "container": message.get("container")},
        "usage": usage,
    })
    yield event("message_stop", {"type": "message_stop"})
