"""Reading the API's answers: usage, refusals, streamed code, failures explained (API errors in
our own words: `errors.py`).

Plain functions of SDK objects (dispatching on `.type` strings and attributes, never isinstance on
block classes: unknown types parse leniently, see shared/ptc-protocol.md 2.2).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import anthropic
import jiter

from ptc_jupyter.constants import DEADLINE_MARGIN_S, PENDING_CALL_DEADLINE_S
from ptc_jupyter.errors import error_text

DRAFT_INTERVAL_S = 0.1  # how often a streamed script being written is re-parsed for the view
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def usage_add(total: dict[str, Any], usage: Any) -> None:
    if usage is None:
        return
    for key in USAGE_KEYS:
        value = getattr(usage, key, None)
        if isinstance(value, int):
            total[key] = total.get(key, 0) + value
    server = getattr(usage, "server_tool_use", None)
    if server is not None:  # code_execution_requests is documented but untyped in the SDK
        extra = getattr(server, "model_extra", None) or {}
        value = extra.get("code_execution_requests", getattr(server, "code_execution_requests", None))
        if isinstance(value, int):
            total["code_execution_requests"] = total.get("code_execution_requests", 0) + value


def refusal_details(response: Any) -> str:
    details = getattr(response, "stop_details", None)
    category = getattr(details, "category", None)
    parts = [f"category {category}" if category else "", getattr(details, "explanation", None) or ""]
    said = "; ".join(p for p in parts if p)
    return f": {said}" if said else ""


def partial_code(partial_json: str) -> str:
    """The `code` of a code-execution input still being streamed (the SDK's snapshot hides it)."""
    if not partial_json:
        return ""
    try:
        data = jiter.from_json(partial_json.encode(), partial_mode="trailing-strings")
    except ValueError:
        return ""
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, str) else ""


def block_dict(block: Any) -> dict[str, Any]:
    """An assistant block exactly as the API sent it (unknown types and fields included)."""
    return block.to_dict(mode="json", exclude_unset=True, warnings=False)  # unknown types: kept as sent


def explain_failure(exc: Exception, client: Any) -> str:
    """What went wrong, and what to do about it, in one line."""
    where = str(client.base_url).rstrip("/")
    if isinstance(exc, anthropic.APITimeoutError):
        return (
            f"APITimeoutError: no answer from {where} in time (the SDK retried "
            f"{client.max_retries} times); try again, or raise the client's timeout"
        )
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc
        return (
            f"APIConnectionError: cannot reach {where} ({type(cause).__name__}: {cause}); "
            "check the network and ANTHROPIC_BASE_URL"
        )
    if isinstance(exc, anthropic.APIStatusError):
        hint = {
            401: "check ANTHROPIC_API_KEY",
            403: "the key may not have access to this model or feature",
            429: "rate limited: wait and run again",
            529: "the API is overloaded: wait and run again",
        }
        text = f"API error: {error_text(exc)}"  # our words: the SDK's str() changes between releases
        return f"{text} ({hint[exc.status_code]})" if exc.status_code in hint else text
    return f"{type(exc).__name__}: {exc}"


async def follow_drafts(stream: Any, on_draft: Callable[[str], None]) -> None:
    """While a streamed response writes a script, hand the code so far to `on_draft` (at most
    every DRAFT_INTERVAL_S, and once more when the block is complete)."""
    buffers: dict[int, list[str]] = {}
    last_emit = 0.0
    async for event in stream:
        kind = event.type
        if kind == "content_block_start":
            block = event.content_block
            if block.type == "server_tool_use" and getattr(block, "name", None) == "code_execution":
                buffers[event.index] = []
        elif kind in ("content_block_delta", "content_block_stop") and event.index in buffers:
            if kind == "content_block_delta" and event.delta.type == "input_json_delta":
                buffers[event.index].append(event.delta.partial_json)
            now = time.monotonic()
            if kind == "content_block_stop" or now - last_emit >= DRAFT_INTERVAL_S:
                last_emit = now
                on_draft(partial_code("".join(buffers[event.index])))


def answer_deadline(expires_at: Any) -> float:
    """When (the running loop's clock) the calls of a paused response must have their results:
    before the API stops waiting for them and before the container's `expires_at`, with a margin."""
    left = PENDING_CALL_DEADLINE_S
    if isinstance(expires_at, datetime):
        left = min(left, (expires_at - datetime.now(timezone.utc)).total_seconds())
    return asyncio.get_running_loop().time() + max(1.0, left - DEADLINE_MARGIN_S)
