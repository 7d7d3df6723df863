"""The record of a run: `Run`, `ToolCall`, `Script` and the events the host emits.

The host fills a `Run` in as it goes and emits an event after each change, so a view can
follow along. `Run.to_dict()` is exactly the trace saved in the notebook under `MIME_TYPE`:
compact (call fields most calls share are stated once, in `call_defaults`; times to the
millisecond) and bounded (call outputs clipped with a visible marker). `Run.from_dict` reads it,
and every earlier version-1 trace, back; `Run.to_json()` writes the whole record, nothing clipped,
in the same format. Renderings of a run (text, HTML, the bundle) live in `render.py`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from .formatting import clip, clip_marker, cut
from .mime import MIME_TYPE as MIME_TYPE
from .render import mime_bundle, to_text

TRACE_VERSION = 1

#: How much of one call's output a saved trace keeps (the `Run` in memory keeps it all).
TRACE_OUTPUT_CHARS = 2_000
#: What a saved trace may take, as JSON with non-ASCII escaped (an upper bound of its UTF-8
#: bytes); beyond it the longest call outputs are clipped to fit. The bundle's HTML and text
#: take the rest of its 300 KB.
TRACE_BUDGET_BYTES = 250_000
#: No call output is clipped below this (as JSON): room for the marker and a few characters.
MIN_OUTPUT_BYTES = 40

#: Call fields that repeat across a run's calls; a compact trace states them once in `call_defaults`.
SHARED_CALL_FIELDS = ("caller", "script_id", "status", "is_error", "request_index", "name")
#: Call fields a reader fills in when a call leaves them out (the `ToolCall` defaults).
_READER_DEFAULTS = {"is_error": False, "script_id": None}
_TIME_FIELDS = ("started_s", "duration_s")

CallStatus = Literal["pending", "running", "ok", "error", "denied", "timeout", "rejected", "cancelled"]
RunStatus = Literal["running", "completed", "cancelled", "error"]

_Record = TypeVar("_Record")


def _from_fields(cls: type[_Record], data: dict[str, Any]) -> _Record:
    """`cls(**data)` without the keys `cls` does not know (a trace from a newer version)."""
    known = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class ToolCall:
    """One `tool_use` block and what came of it."""

    id: str
    name: str
    input: dict[str, Any]
    caller: str = "direct"  # "direct" or the code-execution caller tag (constants.CODE_EXECUTION_CALLER)
    script_id: str | None = None  # the code-execution block whose script made the call
    status: CallStatus = "pending"
    output: str | None = None  # the text sent back as the tool_result
    is_error: bool = False
    started_s: float | None = None  # seconds since the run started
    duration_s: float | None = None
    request_index: int = 0  # which API response asked for it (1-based)

    @property
    def programmatic(self) -> bool:
        return self.caller != "direct"

    @property
    def done(self) -> bool:
        return self.status not in ("pending", "running")

    def to_dict(self, *, output_chars: int | None = TRACE_OUTPUT_CHARS) -> dict[str, Any]:
        """Every field; times to the millisecond, the output clipped to `output_chars` (None: whole)."""
        d = dataclasses.asdict(self)
        for key in _TIME_FIELDS:
            if d[key] is not None:
                d[key] = round(d[key], 3)
        if output_chars is not None and self.output is not None:
            d["output"] = clip(self.output, output_chars)
        return d


@dataclass
class Script:
    """A script Claude ran in the code-execution container, and its outcome."""

    id: str
    code: str
    stdout: str | None = None
    stderr: str | None = None
    return_code: int | None = None
    error_code: str | None = None  # from a code_execution_tool_result_error
    encrypted: bool = False  # stdout came back encrypted (the script used web search)

    @property
    def finished(self) -> bool:
        return self.return_code is not None or self.error_code is not None


@dataclass
class Run:
    """Everything one `%%ptc` cell / `ptc.run` call did. The public result object."""

    prompt: str
    model: str
    backend: str = "anthropic"  # "anthropic" or "offline-emulator"
    mode: Literal["ptc", "direct"] = "ptc"
    text: str = ""
    scripts_detail: list[Script] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    requests: int = 0
    container_id: str | None = None
    stop_reason: str | None = None
    status: RunStatus = "running"
    error: str | None = None
    notices: list[str] = field(default_factory=list)
    context_bytes: int = 0  # bytes of tool output that entered the model's context
    wall_s: float = 0.0
    comparison: dict[str, Any] | None = None  # PTC vs direct figures, when both were measured
    started_at: float = field(default_factory=time.time, repr=False)  # Unix time
    _t0: float = field(default_factory=time.perf_counter, repr=False, compare=False)

    @property
    def scripts(self) -> list[str]:
        """The code of every script Claude ran, in order."""
        return [s.code for s in self.scripts_detail]

    @property
    def errors(self) -> list[ToolCall]:
        return [c for c in self.calls if c.is_error]

    def elapsed_s(self) -> float:
        return time.perf_counter() - self._t0

    def script(self, script_id: str) -> Script | None:
        return next((s for s in self.scripts_detail if s.id == script_id), None)

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """The trace saved in the notebook (the MIME payload), JSON-safe and without secrets.

        Unless `full`, each call output keeps at most TRACE_OUTPUT_CHARS characters and, if the
        trace would still exceed TRACE_BUDGET_BYTES, the longest are clipped to fit. For any `d`
        it returned, `Run.from_dict(d).to_dict() == d`.
        """
        calls = [c.to_dict(output_chars=None if full else TRACE_OUTPUT_CHARS) for c in self.calls]
        shared, calls = compact_calls(calls)
        data = {
            "version": TRACE_VERSION,
            "prompt": self.prompt,
            "model": self.model,
            "backend": self.backend,
            "mode": self.mode,
            "status": self.status,
            "error": self.error,
            "text": self.text,
            "scripts": [dataclasses.asdict(s) for s in self.scripts_detail],
            "call_defaults": shared,
            "calls": [_without_reader_defaults(c, shared) for c in calls],
            "usage": copy.deepcopy(self.usage),
            "requests": self.requests,
            "container_id": self.container_id,
            "stop_reason": self.stop_reason,
            "notices": list(self.notices),
            "context_bytes": self.context_bytes,
            "wall_s": round(self.wall_s, 3),
            "started_at": self.started_at,
            "comparison": copy.deepcopy(self.comparison),
        }
        if not full:
            fit_outputs(data, TRACE_BUDGET_BYTES)
        return data

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The full trace as JSON: `to_dict`'s format with nothing clipped. Written (UTF-8) to
        `path` when given; `Run.from_dict(json.loads(...))` reads it back."""
        text = json.dumps(self.to_dict(full=True), ensure_ascii=False, default=str)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        """Rebuild a `Run` from a saved trace, compact or not (its outputs may be clipped)."""
        data = copy.deepcopy(data)
        run = cls(prompt=data.get("prompt", ""), model=data.get("model", ""))
        for key in ("backend", "mode", "status", "error", "text", "usage", "requests", "container_id",
                    "stop_reason", "context_bytes", "wall_s", "started_at", "comparison"):
            if key in data:
                setattr(run, key, data[key])
        run.notices = list(data.get("notices", []))
        run.scripts_detail = [_from_fields(Script, s) for s in data.get("scripts", [])]
        shared = data.get("call_defaults") or {}
        run.calls = [_from_fields(ToolCall, {**shared, **c}) for c in data.get("calls", [])]
        return run

    def __repr__(self) -> str:  # one line: a Run can hold thousands of calls
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (f"<Run {self.status} {self.mode}: {len(self.calls)} calls, {self.requests} requests, "
                f"{self.wall_s:.2f} s, text={text!r}>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        return mime_bundle(self)

    def __str__(self) -> str:
        return to_text(self)


def compact_calls(calls: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(call_defaults, calls without those values): each shared field's most common value, once.

    A 1,000-call run repeats the same caller, script id and status on every call; stating them
    once keeps a saved trace small. Readers rebuild a call as `{**call_defaults, **call}`.
    """
    defaults: dict[str, Any] = {}
    for key in SHARED_CALL_FIELDS:
        counts: dict[str, tuple[int, Any]] = {}
        for call in calls:
            if key in call:
                tag = repr(call[key])
                counts[tag] = (counts.get(tag, (0, None))[0] + 1, call[key])
        if counts:
            count, value = max(counts.values(), key=lambda item: item[0])
            if count > 1:
                defaults[key] = value
    compacted = [{k: v for k, v in call.items() if not (k in defaults and v == defaults[k])} for call in calls]
    return defaults, compacted


def _without_reader_defaults(call: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """Leave out the values a reader fills in anyway, unless `call_defaults` says otherwise."""
    return {k: v for k, v in call.items() if k in shared or k not in _READER_DEFAULTS or v != _READER_DEFAULTS[k]}


def json_size(value: Any) -> int:
    """Length of `value` as JSON with non-ASCII escaped: an upper bound of its UTF-8 bytes."""
    return len(json.dumps(value, default=str))


def clip_to_json_size(text: str, size: int) -> str:
    """`text` cut to the longest start whose JSON, with the clip marker, is at most `size` long."""
    if json_size(text) <= size:
        return text
    room = size - json_size(clip_marker(len(text)))  # the quotes are counted once, here
    low, high = 0, min(len(text), max(0, room))  # k characters take at least k in JSON
    while low < high:  # the JSON of a start only grows with its length
        middle = (low + high + 1) // 2
        if json_size(text[:middle]) - 2 <= room:
            low = middle
        else:
            high = middle - 1
    return cut(text, low)


def fit_outputs(trace: dict[str, Any], budget: int) -> None:
    """Clip the call outputs of a trace (in place) until it fits `budget`: the longest ones to one
    common size, the largest that fits (never below MIN_OUTPUT_BYTES); shorter ones stay whole.
    Fitting a fitted trace again changes nothing."""
    calls = [c for c in trace["calls"] if isinstance(c.get("output"), str)]
    size = json_size(trace)
    if not calls or size <= budget:
        return
    sizes = sorted(json_size(c["output"]) for c in calls)
    room = budget - (size - sum(sizes))  # what the outputs may take together
    cap = MIN_OUTPUT_BYTES
    for k, output_size in enumerate(sizes):
        if output_size * (len(sizes) - k) > room:
            cap = max(MIN_OUTPUT_BYTES, room // (len(sizes) - k))
            break
        room -= output_size
    for call in calls:
        call["output"] = clip_to_json_size(call["output"], cap)


# ---------------------------------------------------------------------------------------------
# Events: what the host tells its listeners. Each carries the live `Run` (and the changed part).


@dataclass
class Event:
    run: Run


@dataclass
class RequestSent(Event):
    index: int  # 1-based API round trip


@dataclass
class ResponseReceived(Event):
    index: int
    stop_reason: str | None


@dataclass
class ScriptDraft(Event):
    code: str  # a script Claude is still writing (streamed responses only); ScriptStarted follows


@dataclass
class ScriptStarted(Event):
    script: Script


@dataclass
class ScriptFinished(Event):
    script: Script


@dataclass
class CallStarted(Event):
    call: ToolCall


@dataclass
class CallFinished(Event):
    call: ToolCall


@dataclass
class TextReceived(Event):
    text: str  # a text block of Claude's (the answer grows by these)


@dataclass
class Notice(Event):
    message: str  # something the user should see: offline mode, expired container, budget...


@dataclass
class RunFinished(Event):
    pass
