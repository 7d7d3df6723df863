"""Prompt caching: mark the stable prefix of each request so later requests read it from the cache.

Three breakpoints (of the API's four): the last tool definition (tools come first in the prefix and
never change within a run), the newest block of the history that may carry one — a text block, a
`tool_use`, a server step (`server_tool_use`) or its `*_tool_result` — and the newest such block of
an earlier message. So each continuation of a multi-pause run reads everything up to the previous
response's last call, and a `--continue` turn reads the earlier turns; the second message mark
keeps the previous request's breakpoint within the API's 20-block lookback when a batch is large.
Never marked: `tool_result` blocks (the API refuses a breakpoint on results answering code-called
`tool_use` blocks). The history itself is not changed: marked blocks are copies, so breakpoints
never pile up across requests.
"""

from __future__ import annotations

from typing import Any

EPHEMERAL = {"type": "ephemeral"}


def _markable(block: Any) -> bool:
    if not isinstance(block, dict):
        return False
    kind = block.get("type", "")
    return kind in ("text", "tool_use", "server_tool_use") or (kind.endswith("_tool_result") and kind != "tool_result")


MESSAGE_BREAKPOINTS = 2


def with_cache_points(tools: list[dict[str, Any]], messages: list[dict[str, Any]]
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Copies of `tools` and `messages` with the breakpoints set (where there is a place)."""
    marked_tools = [*tools[:-1], {**tools[-1], "cache_control": EPHEMERAL}] if tools else tools
    marked = list(messages)
    placed = 0
    for i in range(len(marked) - 1, -1, -1):
        if placed == MESSAGE_BREAKPOINTS:
            break
        content = marked[i].get("content")
        if isinstance(content, str):
            marked[i] = {**marked[i], "content": [{"type": "text", "text": content, "cache_control": EPHEMERAL}]}
            placed += 1
            continue
        if not isinstance(content, list):
            continue
        j = next((j for j in range(len(content) - 1, -1, -1) if _markable(content[j])), None)
        if j is not None:
            blocks = list(content)
            blocks[j] = {**blocks[j], "cache_control": EPHEMERAL}
            marked[i] = {**marked[i], "content": blocks}
            placed += 1
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
    if "role" in out and isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict) \
            and set(content[0]) == {"type", "text"} and content[0]["type"] == "text":
        out["content"] = content[0]["text"]
    return out
