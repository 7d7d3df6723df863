"""Prompt caching as the Messages API does it, on the emulator's token estimate (`wire.py`, bytes/4).

A request's prefix is its tool definitions, then its system blocks, then its messages' content
blocks, in that order (a string content is one text block). A block with `cache_control` is a
breakpoint; a top-level `cache_control` (automatic caching) adds one on the last block that may
carry one. For each request:

- **read**: the longest prefix found in the cache, looked for at each breakpoint and at the block
  boundaries up to `cache_lookback_blocks` (20) before it. A prefix is found if an identical one
  (same model, same canonical JSON with the `cache_control` keys removed; `tool_choice` and
  `thinking` also key the messages' part) was written within its TTL (`cache_ttl_s`, 5 minutes;
  `cache_ttl_1h_s` for `ttl: "1h"`). A read refreshes the entry's TTL, as the API's does.
- **written**: each breakpoint past the read point whose prefix has at least `cache_min_tokens`
  (1,024, the Opus/Sonnet-class minimum) is stored; the tokens from the read point to the last
  one stored are `cache_creation_input_tokens` (split by TTL in `cache_creation`).
- **input**: the rest of the request's estimate. A prefix's tokens are the sum of its blocks'
  estimates; the calls a script made and their results count as nothing, as in the whole estimate
  (the API does not render them in Claude's context).

Without a breakpoint everything is `input_tokens`, as before. The API's refusals: more than 4
breakpoints, a `cache_control` of another type or TTL, one on an empty text block, and one on a
`tool_use` a script made or on the `tool_result` answering it (in the API's words: "These blocks are not rendered in Claude's
context"). Usage stays an estimate (`"emulator": {"usage_estimated": true}`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ptc_jupyter.emulator import wire
from ptc_jupyter.emulator.config import EmulatorConfig

MAX_BREAKPOINTS = 4
TTLS = ("5m", "1h")
#: Blocks that cannot carry a breakpoint of their own; an automatic one goes on an earlier block.
UNMARKABLE = ("thinking", "redacted_thinking")


@dataclass
class Block:
    """One block of the prefix: a tool definition, a system block or a message's content block."""

    value: dict  # as sent (a string content becomes one text block)
    path: tuple  # where it is in the request: ("tools", i), ("system", j), ("messages", i, j) or ("messages", i)
    place: tuple  # what else keys its position: ("tools",), ("system",), (role, first block of its message)
    code_called: bool = False  # a tool_use a script made, or its tool_result: not in the context
    messages_start: bool = False  # the first block of the messages part

    @property
    def where(self) -> str:
        if self.path[0] == "messages":  # messages.i.content, or messages.i.content.j
            return ".".join(map(str, ("messages", self.path[1], "content", *self.path[2:])))
        return ".".join(map(str, self.path))

    def marks(self) -> list[tuple[str, Any]]:
        """Its `cache_control` values with their paths: its own, and those of a tool_result's text blocks."""
        value = self.value
        found = (
            [(f"{self.where}.cache_control", value["cache_control"])] if value.get("cache_control") is not None else []
        )
        if value.get("type") == "tool_result" and isinstance(value.get("content"), list):
            found += [
                (f"{self.where}.content.{k}.cache_control", b["cache_control"])
                for k, b in enumerate(value["content"])
                if isinstance(b, dict) and b.get("cache_control") is not None
            ]
        return found

    def markable(self) -> bool:
        return self.value.get("type") not in UNMARKABLE and not self.code_called

    def bytes_counted(self) -> int:
        """What the token estimate counts for it (`wire.estimate_input_tokens` encodes the same way)."""
        if self.code_called:
            return 0
        return len(json.dumps(wire.counted_block(self.value), ensure_ascii=False).encode())


@dataclass
class Breakpoint:
    index: int  # of its block in the prefix
    ttl_s: float
    ttl: str  # "5m" | "1h"


@dataclass
class Plan:
    """One request as far as caching goes: its breakpoints, and per block up to the last of them the
    hash and estimated tokens of the prefix ending there."""

    breakpoints: list[Breakpoint]
    hashes: list[str] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)


def prefix_blocks(body: dict, hidden: set[str]) -> Iterator[Block]:
    """The request's blocks in prefix order: tools, system, messages. `hidden`: the ids of the
    code-called tool uses."""
    for i, tool in enumerate(body.get("tools") or []):
        if isinstance(tool, dict):
            yield Block(tool, ("tools", i), ("tools",))
    system = body.get("system")
    if isinstance(system, str) and system:
        yield Block(wire.text_block(system), ("system",), ("system",))
    elif isinstance(system, list):
        for j, block in enumerate(system):
            if isinstance(block, dict):
                yield Block(block, ("system", j), ("system",))
    first = True
    for i, msg in enumerate(body.get("messages") or []):
        role, content = msg.get("role"), msg.get("content")
        if isinstance(content, str):
            yield Block(wire.text_block(content), ("messages", i), (role, True), messages_start=first)
            first = False
            continue
        for j, block in enumerate(content if isinstance(content, list) else []):
            yield Block(
                block,
                ("messages", i, j),
                (role, j == 0),
                code_called=wire.code_called(block, hidden),
                messages_start=first,
            )
            first = False


def _values(body: dict) -> Iterator[Any]:
    """The blocks' values as sent, in the order of `prefix_blocks` (a string content: the string);
    a cheap pass over a long history."""
    yield from (tool for tool in body.get("tools") or [] if isinstance(tool, dict))
    system = body.get("system")
    if isinstance(system, str) and system:
        yield system
    elif isinstance(system, list):
        yield from (block for block in system if isinstance(block, dict))
    for msg in body.get("messages") or []:
        content = msg.get("content")
        if isinstance(content, list):
            yield from content
        elif isinstance(content, str):
            yield content


def _refusal(block: dict) -> str:
    """The API's words for a breakpoint on a call a script made or on its result."""
    what = (
        f"Tool use result for {block.get('tool_use_id')}"
        if block.get("type") == "tool_result"
        else f"Tool use {block.get('id')}"
    )
    return (
        f"{what} called by code execution cannot have cache_control. These blocks are not rendered in Claude's context."
    )


def _has_mark(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if value.get("cache_control") is not None:
        return True
    content = value.get("content")
    return (
        value.get("type") == "tool_result"
        and isinstance(content, list)
        and any(isinstance(b, dict) and b.get("cache_control") is not None for b in content)
    )


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class PromptCache:
    """The emulator's prompt cache: prefix hashes and when each expires. One per server, like one
    organisation's cache; entries are kept only while alive."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._entries: dict[str, tuple[float, float]] = {}  # prefix hash -> (expires at, its TTL in s)

    def __len__(self) -> int:
        self._expire(self.clock())
        return len(self._entries)

    def plan(self, body: dict) -> Plan | None:
        """The request's breakpoints, checked as the API checks them (`ApiError` 400), with the prefix
        hashes and tokens; None when it has no breakpoint (then nothing changes)."""
        auto = body.get("cache_control")
        marked = [k for k, value in enumerate(_values(body)) if _has_mark(value)]
        if not marked and auto is None:
            return None
        hidden = wire.programmatic_tool_use_ids(body.get("messages") or [])
        # the blocks up to the last marked one (a long history after it is not looked at again)
        blocks = (
            list(prefix_blocks(body, hidden))
            if auto is not None
            else list(itertools.islice(prefix_blocks(body, hidden), marked[-1] + 1))
        )
        breakpoints: list[Breakpoint] = []
        found = 0
        for index in marked:
            block = blocks[index]
            marks = block.marks()
            ttls = [self._check_mark(mark, where) for where, mark in marks]
            if marks and block.code_called:
                raise wire.invalid_request(f"{marks[0][0]}: {_refusal(block.value)}")
            if block.value.get("type") == "text" and not block.value.get("text") and block.value.get("cache_control"):
                raise wire.invalid_request(f"{block.where}.text: cache_control cannot be set for empty text blocks")
            breakpoints.append(Breakpoint(index, *ttls[0]))
            found += len(marks)
        if auto is not None:
            ttl = self._check_mark(auto, "cache_control")
            found += 1
            last = next((k for k in range(len(blocks) - 1, -1, -1) if blocks[k].markable()), None)
            if last is not None and not (breakpoints and breakpoints[-1].index == last):
                breakpoints = sorted([*breakpoints, Breakpoint(last, *ttl)], key=lambda b: b.index)
        if found > MAX_BREAKPOINTS:
            raise wire.invalid_request(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {found}."
            )
        if not breakpoints:
            return None
        plan = Plan(breakpoints)
        running = hashlib.sha256(_canonical(["model", body.get("model")]))
        size = 0
        for block in blocks[: breakpoints[-1].index + 1]:
            if block.messages_start:  # the API: tool_choice and thinking changes invalidate the messages' cache
                running.update(_canonical(["settings", body.get("tool_choice"), body.get("thinking")]))
            running.update(_canonical([*block.place, wire.without_cache_control(block.value)]))
            size += block.bytes_counted()
            plan.hashes.append(running.hexdigest())
            plan.tokens.append(size // 4)
        return plan

    def _check_mark(self, mark: Any, where: str) -> tuple[float, str]:
        if not isinstance(mark, dict) or mark.get("type") != "ephemeral":
            raise wire.invalid_request(f"{where}.type: Input should be 'ephemeral'")
        ttl = mark.get("ttl") or "5m"
        if ttl not in TTLS:
            raise wire.invalid_request(f"{where}.ttl: Input should be '5m' or '1h'")
        return (self.config.cache_ttl_1h_s if ttl == "1h" else self.config.cache_ttl_s), ttl

    def bill(self, plan: Plan | None, message: dict) -> dict:
        """`message` with its usage split into read, written and input tokens (a copy; the cache
        is read and written now, as the API does when the response begins)."""
        if plan is None:
            return message
        now = self.clock()
        self._expire(now)
        read_at = self._longest_hit(plan)
        read = plan.tokens[read_at] if read_at >= 0 else 0
        if read_at >= 0:
            _expires, ttl_s = self._entries[plan.hashes[read_at]]
            self._entries[plan.hashes[read_at]] = (now + ttl_s, ttl_s)
        written = {"5m": 0, "1h": 0}
        done = read
        for bp in plan.breakpoints:
            tokens = plan.tokens[bp.index]
            if bp.index <= read_at or tokens < self.config.cache_min_tokens:
                continue
            key = plan.hashes[bp.index]
            self._entries[key] = (now + bp.ttl_s, bp.ttl_s)
            written[bp.ttl] += tokens - done
            done = tokens
        total = message["usage"]["input_tokens"]  # the whole request's estimate, cache_control left out
        creation = written["5m"] + written["1h"]
        usage = {
            **message["usage"],
            "input_tokens": max(0, total - read - creation),
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": written["5m"], "ephemeral_1h_input_tokens": written["1h"]},
        }
        return {**message, "usage": usage}

    def _longest_hit(self, plan: Plan) -> int:
        """The index of the last block of the longest cached prefix, or -1."""
        best = -1
        for bp in plan.breakpoints:
            for k in range(bp.index, max(-1, bp.index - self.config.cache_lookback_blocks - 1), -1):
                if k <= best:
                    break
                if plan.hashes[k] in self._entries:
                    best = k
                    break
        return best

    def _expire(self, now: float) -> None:
        for key in [k for k, (expires, _ttl) in self._entries.items() if expires <= now]:
            del self._entries[key]
