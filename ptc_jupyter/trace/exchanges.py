"""The wire: one `Exchange` per API round trip, what went out and what came back (`Run.exchanges`).

PTC is a protocol, and teaching it means showing the JSON. The host records each request body
(never headers: no key, no token) and the response as the SDK assembled it (a streamed answer
too), cheaply: a request keeps only the messages new since the previous one, and the tools only
when they changed. Secrets are taken out when recorded (`WireRecorder`); long strings and lists
are clipped with the one clip marker when saved (`Exchange.to_dict`).

Which parts of the JSON are the PTC parts (the script's `server_tool_use`, `tool_use` with its
`caller`, `container`, the user message of only `tool_result`s, `code_execution_tool_result`) is
decided here once, as `marks` (JSON Pointers with a `part` from `PARTS`), so that every view marks
the same things.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ptc_jupyter.trace.clipping import clip, clip_marker, json_size

#: How much of each string an exchange keeps in memory (the live view and `to_json` show this much).
RECORD_STRING_CHARS = 4_000
#: How much of each string a saved trace keeps, at most (the budget may clip further).
SAVED_STRING_CHARS = 400
#: Items a saved list keeps: the first ones, the clip marker, the last ones.
SAVED_LIST_HEAD, SAVED_LIST_TAIL = 8, 2
#: Round trips a saved trace keeps: the first ones and the last ones; the others are counted.
SAVED_EXCHANGES_HEAD, SAVED_EXCHANGES_TAIL = 12, 4
#: What the saved exchanges may take together, as JSON (within the trace's budget).
EXCHANGES_BUDGET_BYTES = 60_000
#: Tighter string limits tried in turn until the saved exchanges fit their budget.
FALLBACK_STRING_CHARS = (200, 100, 40)

REDACTED = "[redacted]"
#: Keys whose string values are secrets wherever they appear (header-like or credential-like).
SECRET_KEY = re.compile(
    r"(?i)^(x-api-key|api[-_]?key|authorization|proxy-authorization|cookie|set-cookie|"
    r"(auth|access|refresh|bearer|session)[-_]?token|token|secret|client[-_]?secret|password)$"
)

#: The PTC parts of the wire: (short label, what it is for); `marks` name them by these keys.
PARTS: dict[str, tuple[str, str]] = {
    "code_execution_tool": ("the code-execution tool", "Claude may write a script and run it in a container"),
    "allowed_callers": (
        "allowed_callers",
        "who may call this tool: Claude directly (direct), or a script (code_execution_…)",
    ),
    "container": ("container", "where the script's Python keeps running; sent back with every request"),
    "server_tool_use": ("the script (server_tool_use)", "the script Claude wrote; it runs in the container, not here"),
    "tool_use_from_script": (
        "tool_use + caller: from the script",
        "a call the script made; its result goes back to the script, not into Claude's context",
    ),
    "tool_use_direct": ("tool_use: from Claude", "classic tool calling: its result enters Claude's context"),
    "tool_results_only": ("only tool_results", "a user message of only tool_result blocks: the host's answers"),
    "code_execution_tool_result": (
        "the script's result (code_execution_tool_result)",
        "what the script printed; this is what enters Claude's context",
    ),
}
#: Round trips a comparison keeps per side (`wire_rows`): the first ones and the last ones.
COMPARED_HEAD, COMPARED_TAIL = 24, 4


def _pointer(*parts: str | int) -> str:
    """A JSON Pointer (RFC 6901) to a part of an exchange's dict."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """`value` (JSON-like) with secret-looking keys' strings and every occurrence of `secrets` replaced."""
    secrets = [s for s in secrets if s]

    def walk(v: Any, key: str | None = None) -> Any:
        if isinstance(v, dict):
            return {k: walk(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            if key is not None and SECRET_KEY.match(key):
                return REDACTED
            for secret in secrets:
                if secret in v:
                    v = v.replace(secret, REDACTED)
        return v

    return walk(value)


def clip_json(value: Any, chars: int, items: tuple[int, int] | None = None) -> Any:
    """`value` with every string clipped to `chars` and, given `items` (head, tail), every longer list
    cut to its head, the clip marker (`… [+N items]`) and its tail. Clipping again changes nothing."""
    if isinstance(value, dict):
        return {k: clip_json(v, chars, items) for k, v in value.items()}
    if isinstance(value, list):
        kept = [clip_json(v, chars, items) for v in value]
        if items is not None and len(kept) > sum(items) + 1:
            head, tail = items
            return [*kept[:head], clip_marker(len(kept) - head - tail, "items"), *kept[len(kept) - tail :]]
        return kept
    if isinstance(value, str):
        return clip(value, chars)
    return value


def _blocks(message: Any) -> list[Any]:
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, list) else []


def _hidden_items(blocks: list[Any]) -> int:
    """How many items a clipped list's marker stands for (0 if none)."""
    for block in blocks:
        if isinstance(block, str):
            found = re.fullmatch(r"… \[\+([\d,]+) items\]", block)
            if found:
                return int(found.group(1).replace(",", ""))
    return 0


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def describe_sent(request: dict[str, Any], earlier_messages: int) -> str:
    """What a request carried that the previous one did not, in a few words."""
    parts = []
    for message in request.get("messages") or []:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        blocks = _blocks(message)
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        if isinstance(message.get("content"), str) or (blocks and not results):
            parts.append("the prompt" if earlier_messages == 0 else "a user message")
        elif results:
            n = len(results) + _hidden_items(blocks)
            failed = sum(1 for b in results if b.get("is_error"))
            parts.append(_count(n, "tool_result") + (f" ({failed:,} is_error)" if failed else ""))
    tools = request.get("tools")
    if isinstance(tools, list):
        parts.append(_count(len(tools), "tool definition"))
    return " + ".join(parts) or "the conversation again"


def describe_received(response: dict[str, Any] | None) -> str:
    """What a response held: the scripts, calls, results and text, in a few words."""
    if response is None:
        return "no response"
    counts: dict[str, int] = {}
    for block in response.get("content") or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type", "?")
        if kind == "tool_use":
            caller = (
                (block.get("caller") or {}).get("type", "direct") if isinstance(block.get("caller"), dict) else "direct"
            )
            kind = "tool_use from the script" if caller != "direct" else "tool_use"
        elif kind == "server_tool_use":
            kind = "script" if block.get("name") == "code_execution" else f"server_tool_use {block.get('name')}"
        elif kind.endswith("_tool_result"):
            kind = "script result" if kind == "code_execution_tool_result" else kind
        counts[kind] = counts.get(kind, 0) + 1
    hidden = _hidden_items(response.get("content") or [])
    parts = [f"{n} × {kind}" if n > 1 else kind for kind, n in counts.items()]
    if hidden:
        parts.append(f"{hidden:,} more blocks")
    return ", ".join(parts) or "no content"


def ptc_marks(exchange: dict[str, Any]) -> list[dict[str, str]]:
    """The PTC parts of an exchange's dict (as `Exchange.to_dict` gives it), in order: `{"path"` (a
    JSON Pointer into that dict), `"part"` (a key of `PARTS`), `"label"}`."""
    marks: list[dict[str, str]] = []

    def mark(part: str, *path: str | int) -> None:
        marks.append({"path": _pointer(*path), "part": part, "label": PARTS[part][0]})

    request = exchange.get("request") or {}
    for i, tool in enumerate(request.get("tools") or []):
        if isinstance(tool, dict):
            if str(tool.get("type", "")).startswith("code_execution"):
                mark("code_execution_tool", "request", "tools", i)
            elif "allowed_callers" in tool:
                mark("allowed_callers", "request", "tools", i, "allowed_callers")
    if "container" in request:
        mark("container", "request", "container")
    for m, message in enumerate(request.get("messages") or []):
        blocks = [b for b in _blocks(message) if isinstance(b, dict)]
        if (
            isinstance(message, dict)
            and message.get("role") == "user"
            and blocks
            and all(b.get("type") == "tool_result" for b in blocks)
        ):
            mark("tool_results_only", "request", "messages", m)
    response = exchange.get("response") or {}
    for b, block in enumerate(response.get("content") or []):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "server_tool_use" and block.get("name") == "code_execution":
            mark("server_tool_use", "response", "content", b)
        elif kind == "code_execution_tool_result":
            mark("code_execution_tool_result", "response", "content", b)
        elif kind == "tool_use":
            caller = block.get("caller")
            from_script = isinstance(caller, dict) and caller.get("type", "direct") != "direct"
            mark("tool_use_from_script" if from_script else "tool_use_direct", "response", "content", b)
    if isinstance(response.get("container"), dict):
        mark("container", "response", "container")
    return marks


@dataclass
class Exchange:
    """One API round trip. `request` is the body sent, except that its `messages` are only the ones
    new since the previous request (`earlier_messages` were sent before) and its `tools` are left out
    when they are the ones `tools_as_in` (an earlier round trip) showed."""

    index: int  # 1-based, as `Run.requests` counts
    request: dict[str, Any]
    earlier_messages: int = 0
    tools_as_in: int | None = None
    response: dict[str, Any] | None = None  # the final message (a streamed one assembled); None if none came
    error: str | None = None  # why no response came (a stream that broke off, an API error)
    streamed: bool = False
    request_bytes: int = 0  # the whole body as sent, as JSON (UTF-8)
    response_bytes: int = 0  # the response as JSON
    context_bytes: int = 0  # tool output that entered Claude's context with this round trip
    sent: str = ""  # what went out that was new (describe_sent)
    received: str = ""  # what came back (describe_received)

    @property
    def stop_reason(self) -> str | None:
        return (self.response or {}).get("stop_reason")

    @property
    def usage(self) -> dict[str, Any]:
        usage = (self.response or {}).get("usage")
        return usage if isinstance(usage, dict) else {}

    def row(self) -> dict[str, Any]:
        """The round trip in one row (no JSON): what every view's summary line and a comparison show."""
        return {
            "index": self.index,
            "sent": self.sent,
            "received": self.received,
            "stop_reason": self.stop_reason,
            "error": self.error,
            "context_bytes": self.context_bytes,
            "request_bytes": self.request_bytes,
            "input_tokens": self.usage.get("input_tokens"),
            "output_tokens": self.usage.get("output_tokens"),
        }

    def to_dict(
        self,
        *,
        chars: int | None = SAVED_STRING_CHARS,
        items: tuple[int, int] | None = (SAVED_LIST_HEAD, SAVED_LIST_TAIL),
    ) -> dict[str, Any]:
        """Every field, strings clipped to `chars` and lists cut to `items` (None: as recorded),
        plus derived ones readers show: `stop_reason`, `input_tokens`, `output_tokens`, `marks`."""

        def shown(value: Any) -> Any:
            return clip_json(value, chars, items) if chars is not None else json.loads(json.dumps(value))

        data: dict[str, Any] = {
            "index": self.index,
            "request": shown(self.request),
            "earlier_messages": self.earlier_messages,
            "tools_as_in": self.tools_as_in,
            "response": shown(self.response),
            "error": self.error,
            "streamed": self.streamed,
            "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes,
            "context_bytes": self.context_bytes,
            "sent": self.sent,
            "received": self.received,
        }
        data["stop_reason"] = self.stop_reason  # derived
        data["input_tokens"] = self.usage.get("input_tokens")  # derived
        data["output_tokens"] = self.usage.get("output_tokens")  # derived
        data["marks"] = ptc_marks(data)  # derived
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        return cls(
            index=int(data.get("index", 0)),
            request=data.get("request") or {},
            earlier_messages=int(data.get("earlier_messages", 0)),
            tools_as_in=data.get("tools_as_in"),
            response=data.get("response"),
            error=data.get("error"),
            streamed=bool(data.get("streamed")),
            request_bytes=int(data.get("request_bytes", 0)),
            response_bytes=int(data.get("response_bytes", 0)),
            context_bytes=int(data.get("context_bytes", 0)),
            sent=data.get("sent", ""),
            received=data.get("received", ""),
        )


def saved_exchanges(
    exchanges: list[Exchange], omitted: int = 0, budget: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """(the exchanges a saved trace keeps, as dicts; how many it left out, `omitted` included): the
    first and last round trips, each clipped, and clipped further until they fit `budget`
    (default EXCHANGES_BUDGET_BYTES) or clipped as far as they go."""
    budget = EXCHANGES_BUDGET_BYTES if budget is None else budget
    kept = exchanges
    if len(exchanges) > SAVED_EXCHANGES_HEAD + SAVED_EXCHANGES_TAIL:
        kept = exchanges[:SAVED_EXCHANGES_HEAD] + exchanges[-SAVED_EXCHANGES_TAIL:]
        omitted += len(exchanges) - len(kept)
    saved = [e.to_dict() for e in kept]
    for chars in FALLBACK_STRING_CHARS:
        if json_size(saved) <= budget:
            break
        saved = [e.to_dict(chars=chars, items=(2, 1)) for e in kept]
    return saved, omitted


def legend(saved: list[dict[str, Any]]) -> dict[str, str]:
    """`{part: "label: what it is for"}` for each part the saved exchanges mark, in `PARTS` order."""
    used = {m.get("part") for e in saved for m in e.get("marks") or []}
    return {part: f"{label}: {note}" for part, (label, note) in PARTS.items() if part in used}


def wire_rows(exchanges: list[Exchange]) -> list[dict[str, Any]]:
    """One small row per round trip (the first and the last ones), for a comparison's side by side."""
    kept = exchanges
    if len(kept) > COMPARED_HEAD + COMPARED_TAIL:
        kept = kept[:COMPARED_HEAD] + kept[-COMPARED_TAIL:]
    return [e.row() for e in kept]


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def _plain(value: Any) -> Any:
    """A JSON-safe deep copy (what the SDK would send), so later changes to `value` do not show."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


@dataclass
class WireRecorder:
    """Records a run's round trips into `exchanges` (the host's `Run.exchanges`). `secrets` (the
    client's key and token) are replaced wherever they occur; headers are never seen here."""

    exchanges: list[Exchange]
    secrets: tuple[str, ...] = ()
    _message_bytes: list[int] = field(default_factory=list)  # the JSON size of each message sent so far
    _last_tools: Any = None
    _tools_shown_in: int | None = None
    _context_so_far: int = 0

    def sent(self, index: int, body: dict[str, Any], *, streamed: bool) -> Exchange:
        """A request went out (`body`: the SDK call's keyword arguments)."""
        messages = list(body.get("messages") or [])
        earlier = min(len(self._message_bytes), len(messages))
        if earlier and messages and len(self._message_bytes) > len(messages):
            earlier = 0  # the history was cut (the turn started over): show it whole
        self._message_bytes = self._message_bytes[:earlier] + [_json_bytes(m) for m in messages[earlier:]]
        rest = {k: v for k, v in body.items() if k not in ("messages", "extra_headers", "extra_query", "timeout")}
        request_bytes = _json_bytes(rest) + sum(self._message_bytes) + len(messages) + 14  # '"messages":[', commas
        shown = {k: v for k, v in rest.items() if k != "tools"}
        tools_as_in = None
        if "tools" in rest:
            if self._tools_shown_in is not None and rest["tools"] == self._last_tools:
                tools_as_in = self._tools_shown_in
            else:
                shown["tools"] = rest["tools"]
                self._last_tools, self._tools_shown_in = _plain(rest["tools"]), index
        shown["messages"] = messages[earlier:]
        request = clip_json(redact(_plain(shown), self.secrets), RECORD_STRING_CHARS)
        exchange = Exchange(
            index=index,
            request=request,
            earlier_messages=earlier,
            tools_as_in=tools_as_in,
            streamed=streamed,
            request_bytes=request_bytes,
            sent=describe_sent(request, earlier),
        )
        self.exchanges.append(exchange)
        return exchange

    def received(self, response: dict[str, Any], *, context_bytes: int) -> None:
        """The latest request's response (the final message, as JSON); `context_bytes`: the run's total now."""
        if not self.exchanges:
            return
        exchange = self.exchanges[-1]
        response = redact(_plain(response), self.secrets)
        exchange.response_bytes = _json_bytes(response)
        exchange.response = clip_json(response, RECORD_STRING_CHARS)
        exchange.received = describe_received(exchange.response)
        exchange.context_bytes = context_bytes - self._context_so_far
        self._context_so_far = context_bytes

    def failed(self, error: str) -> None:
        """The latest request got no response."""
        if self.exchanges and self.exchanges[-1].response is None:
            self.exchanges[-1].error = redact(error, self.secrets)
            self.exchanges[-1].received = "no response"
