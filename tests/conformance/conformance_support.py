"""Helpers of the conformance tests: run the host against a replay server, and check what it sent.

Only ptc_jupyter's public names are used.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from replay_server import ReplayServer

import ptc_jupyter as ptc
from ptc_jupyter.host.caching import without_cache_points

API_KEY = "test-not-a-key"


def play(server: ReplayServer, prompt: str, *, stream: bool, session: Any = None, **kwargs: Any) -> Any:
    """One `ptc.arun` against `server` with a fresh SDK client (no retries: each answer is the fixture's)."""

    async def go() -> Any:
        async with anthropic.AsyncAnthropic(base_url=server.url, api_key=API_KEY, max_retries=0) as client:
            return await ptc.arun(
                prompt, client=client, stream=stream, session=session or ptc.Session(), yes=True, **kwargs
            )

    return asyncio.run(go())


def play_failing(server: ReplayServer, prompt: str, *, stream: bool, **kwargs: Any) -> ptc.RunError:
    """Like `play`, for a run that must end with a RunError; returns it."""
    with pytest.raises(ptc.RunError) as caught:
        play(server, prompt, stream=stream, **kwargs)
    return caught.value


# -- what was sent -------------------------------------------------------------------------------------
#: A request part as it would be without breakpoints (the host's own comparison, `host/caching.py`).
without_cache_control = without_cache_points


def caller_tagged(block: Any) -> bool:
    caller = block.get("caller") if isinstance(block, dict) else None
    return block.get("type") == "tool_use" and isinstance(caller, dict) and caller.get("type") != "direct"


def check_sent(server: ReplayServer, *, stream: bool) -> None:
    """What every request of one run must look like, from what the replay server received and served
    (ptc-protocol.md sections 3 and 10): the same tools; the history kept; the previous response
    echoed verbatim (caller, thinking signature, server steps and results included); then, after a
    tool_use pause, one user message of only tool_result blocks (text content) answering every
    tool_use in order; the container of the latest response that had one; no breakpoint on a
    caller-tagged tool_use or the result answering it."""
    requests, served = server.requests, server.served
    assert requests, "the host sent nothing"
    tools = without_cache_control(requests[0]["tools"])
    assert "container" not in requests[0], "a fresh session's first request names no container"
    container = None
    for i, req in enumerate(requests):
        where = f"request {i + 1}"
        assert "anthropic-beta" not in server.headers[i], f"{where}: PTC is GA, no beta header"
        assert server.headers[i].get("anthropic-version"), f"{where}: no anthropic-version header"
        assert bool(req.get("stream")) is stream, f"{where}: stream flag"
        assert without_cache_control(req["tools"]) == tools, f"{where}: tools changed"
        script_calls = {
            b["id"] for m in req["messages"] if isinstance(m["content"], list) for b in m["content"] if caller_tagged(b)
        }
        for m in req["messages"]:
            for b in m["content"] if isinstance(m["content"], list) else []:
                if caller_tagged(b) or (b.get("type") == "tool_result" and b.get("tool_use_id") in script_calls):
                    assert "cache_control" not in b, f"{where}: breakpoint on a caller-tagged block {b.get('id')}"
        if i == 0:
            continue
        prev_req, prev = requests[i - 1], served[i - 1]
        if prev.get("container"):
            container = prev["container"]["id"]
        msgs = without_cache_control(req["messages"])
        before = without_cache_control(prev_req["messages"])
        assert msgs[: len(before)] == before, f"{where}: history rewritten"
        echoed = msgs[len(before)]
        assert echoed == {"role": "assistant", "content": prev["content"]}, f"{where}: assistant turn not verbatim"
        pending = [b["id"] for b in prev["content"] if b["type"] == "tool_use"]
        if prev["stop_reason"] == "pause_turn":
            assert len(msgs) == len(before) + 1, f"{where}: pause_turn adds no user message"
        else:
            assert len(msgs) == len(before) + 2, f"{where}: one user message after the echo"
            reply = msgs[-1]
            assert reply["role"] == "user"
            assert [b["type"] for b in reply["content"]] == ["tool_result"] * len(pending), (
                f"{where}: the reply holds only tool_result blocks"
            )
            assert [b["tool_use_id"] for b in reply["content"]] == pending, f"{where}: results out of order"
            assert all(isinstance(b["content"], str) for b in reply["content"]), f"{where}: non-text result"
        if container:
            assert req.get("container") == container, f"{where}: container not echoed"


def replies(server: ReplayServer) -> list[list[dict[str, Any]]]:
    """The tool_result blocks of each follow-up request (the last user message of requests 2..n)."""
    return [req["messages"][-1]["content"] for req in server.requests[1:]]


def served_blocks(server: ReplayServer, kind: str) -> list[dict[str, Any]]:
    return [b for m in server.served if "content" in m for b in m["content"] if b["type"] == kind]
