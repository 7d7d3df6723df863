"""The record of a run: `Run`, `ToolCall`, `Script` and the events the host emits.

The host fills a `Run` in as it goes and emits an event after each change, so a view can
follow along; `Run.to_dict()` is the JSON trace saved in the notebook under `MIME_TYPE`.
Renderings of a finished run (text, HTML) live in `render.py`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal

MIME_TYPE = "application/vnd.ptc-jupyter.trace+json"
TRACE_VERSION = 1

#: How much of one call's output a saved trace keeps (the `Run` in memory keeps it all).
TRACE_OUTPUT_CHARS = 2_000

#: Call fields that repeat across a run's calls; a compact trace states them once in `call_defaults`.
SHARED_CALL_FIELDS = ("caller", "script_id", "status", "is_error", "request_index", "name")

CallStatus = Literal["pending", "running", "ok", "error", "denied", "timeout", "rejected", "cancelled"]
RunStatus = Literal["running", "completed", "cancelled", "error"]


def _clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n… [{len(text) - limit:,} more characters not saved in the trace]"


@dataclass
class ToolCall:
    """One `tool_use` block and what came of it."""

    id: str
    name: str
    input: dict[str, Any]
    caller: str = "direct"  # "direct" or a code-execution version, e.g. "code_execution_20260120"
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

    def to_dict(self, *, output_chars: int = TRACE_OUTPUT_CHARS) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["output"] = _clip(self.output, output_chars)
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
    started_at: float = field(default_factory=time.time, repr=False)
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

    def to_dict(self, *, output_chars: int = TRACE_OUTPUT_CHARS) -> dict[str, Any]:
        """The JSON trace: the MIME payload saved in the notebook (no secrets, JSON-safe)."""
        return {
            "version": TRACE_VERSION,
            "prompt": self.prompt,
            "model": self.model,
            "backend": self.backend,
            "mode": self.mode,
            "status": self.status,
            "error": self.error,
            "text": self.text,
            "scripts": [dataclasses.asdict(s) for s in self.scripts_detail],
            "calls": [c.to_dict(output_chars=output_chars) for c in self.calls],
            "usage": self.usage,
            "requests": self.requests,
            "container_id": self.container_id,
            "stop_reason": self.stop_reason,
            "notices": list(self.notices),
            "context_bytes": self.context_bytes,
            "wall_s": round(self.wall_s, 4),
            "comparison": self.comparison,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        """Rebuild a `Run` from a saved trace (outputs may be clipped)."""
        run = cls(prompt=data.get("prompt", ""), model=data.get("model", ""))
        for key in ("backend", "mode", "status", "error", "text", "usage", "requests",
                    "container_id", "stop_reason", "context_bytes", "wall_s", "comparison"):
            if key in data:
                setattr(run, key, data[key])
        run.notices = list(data.get("notices", []))
        run.scripts_detail = [Script(**s) for s in data.get("scripts", [])]
        shared = data.get("call_defaults") or {}
        run.calls = [ToolCall(**{**shared, **c}) for c in data.get("calls", [])]
        return run

    def __repr__(self) -> str:  # one line: a Run can hold thousands of calls
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (f"<Run {self.status} {self.mode}: {len(self.calls)} calls, {self.requests} requests, "
                f"{self.wall_s:.2f} s, text={text!r}>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .render import mime_bundle

        return mime_bundle(self)

    def __str__(self) -> str:
        from .render import to_text

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
