"""Prompt caching: mark the stable prefix of each request so later requests read it from the cache.

Three breakpoints (of the API's four): the last tool definition (tools come first in the prefix and
never change within a run), the newest block of the history that may carry one, and the newest one
before the last exchange, which is where the previous request put its newest, so that request's
prefix is read back exactly, however many blocks the exchange added (the API looks back only 20
blocks from a breakpoint). So each continuation of a multi-pause run reads everything up to the
script that paused, a classic tool-calling run reads every round before the last, and a
`--continue` turn reads the earlier turns.

Never marked: a `tool_use` made by a script (its `caller` is a code-execution tool) and the
`tool_result` answering it. The API refuses a breakpoint there ("These blocks are not rendered in
Claude's context"), and as they are not in the context they cost no input tokens either, so the
paused turns of a run add nothing to cache. Everything else may carry one: text, the model's own
`tool_use` and its `tool_result` (classic tool calling), server steps and their results. The history
itself is not changed: marked blocks are copies, so breakpoints never pile up across requests.
"""

from __future__ import annotations

from typing import Any

EPHEMERAL = {"type": "ephemeral"}


def _code_called(block: dict[str, Any]) -> bool:
    caller = block.get("caller")
    return (
        block.get("type") == "tool_use"
        and isinstance(caller, dict)
        and str(caller.get("type", "")).startswith("code_execution")
    )


def _script_call_ids(messages: list[dict[str, Any]]) -> set[str]:
    return {
        str(block.get("id"))
        for msg in messages
        if isinstance(msg.get("content"), list)
        for block in msg["content"]
        if isinstance(block, dict) and _code_called(block)
    }


def _markable(block: Any, script_calls: set[str]) -> bool:
    if not isinstance(block, dict) or _code_called(block):
        return False
    kind = block.get("type", "")
    if kind == "text" and not block.get("text"):
        return False  # the API refuses a breakpoint on an empty text block
    if kind == "tool_result":
        return block.get("tool_use_id") not in script_calls
    return kind in ("text", "tool_use", "server_tool_use") or kind.endswith("_tool_result")


def _newest_markable(messages: list[dict[str, Any]], script_calls: set[str], end: int) -> tuple[int, int | None] | None:
    """(message, block) of the newest block before message `end` that may carry a breakpoint
    (block None: a string content)."""
    for i in range(end - 1, -1, -1):
        content = messages[i].get("content")
        if isinstance(content, str) and content:
            return i, None
        if isinstance(content, list):
            j = next((j for j in range(len(content) - 1, -1, -1) if _markable(content[j], script_calls)), None)
            if j is not None:
                return i, j
    return None


def with_cache_points(
    tools: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Copies of `tools` and `messages` with the breakpoints set (where there is a place): the last
    tool, the newest markable block, and the newest markable block before the last exchange (the
    previous request's newest, so its prefix is read whatever the length of the exchange since)."""
    marked_tools = [*tools[:-1], {**tools[-1], "cache_control": EPHEMERAL}] if tools else tools
    marked = list(messages)
    script_calls = _script_call_ids(messages)
    newest = (
        _newest_markable(messages, script_calls, len(messages)),
        _newest_markable(messages, script_calls, len(messages) - 2),
    )
    points = {point for point in newest if point is not None}
    for i, j in points:
        content = marked[i]["content"]
        if j is None:
            marked[i] = {**marked[i], "content": [{"type": "text", "text": content, "cache_control": EPHEMERAL}]}
        else:
            blocks = list(content)
            blocks[j] = {**blocks[j], "cache_control": EPHEMERAL}
            marked[i] = {**marked[i], "content": blocks}
    return marked_tools, marked


def without_cache_points(value: Any) -> Any:
    """A request (or part of one) as it would be without breakpoints: `cache_control` keys removed,
    and a message content that a breakpoint turned into one text block put back as the string.
    For comparing requests (a recording with a replay, a test with the protocol)."""
    if isinstance(value, list):
        return [without_cache_points(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: without_cache_points(v) for k, v in value.items() if k != "cache_control"}
    content = out.get("content")
    if (
        "role" in out
        and isinstance(content, list)
        and len(content) == 1
        and isinstance(content[0], dict)
        and set(content[0]) == {"type", "text"}
        and content[0]["type"] == "text"
    ):
        out["content"] = content[0]["text"]
    return out
