"""The record of a run: `Run`, `ToolCall`, `Step` and the events the host emits.

Every server-side step (Python cell, bash command, text editor operation, unknown server tool) is
a `Step` (`steps.py`) in `Run.steps`, in order; `Run.scripts`/`scripts_detail` list the Python
ones (`Script` is their former name). The files they left behind are `Run.files`.

The host fills a `Run` in as it goes and emits an event after each change, so a view can
follow along. `Run.to_dict()` is exactly the trace saved in the notebook under `MIME_TYPE`:
compact (call fields most calls share are stated once, in `call_defaults`; times to the
millisecond) and bounded (call outputs clipped with a visible marker). `Run.from_dict` reads it,
and every earlier version-1 trace, back; `Run.to_json()` writes the whole record, nothing clipped,
in the same format. Renderings of a run (text, HTML, the bundle) live in `render.py`.

Events: the host emits `StepStarted`/`StepFinished` once per step; for a Python step they are
the subclasses `ScriptStarted`/`ScriptFinished` (`.script` is `.step`), so a listener of either
name sees each step once (`step_started`/`step_finished` pick the class). `ScriptDraft` shows a
Python cell while it streams; `FilesAdded` follows `Run.files` growing.
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

from .files import EMBED_BUDGET_CHARS, OutputFile, embed_plan, not_embedded_note
from .formatting import clip, clip_to_json_size, json_size
from .mime import MIME_TYPE as MIME_TYPE
from .render import mime_bundle, to_text
from .steps import STEP_CHARS, STEP_KINDS, Script, Step, StepKind, StepStatus  # noqa: F401 (re-exported)

TRACE_VERSION = 2  # 2: `steps` (every server-side step) and `files`; version 1 had `scripts`

#: How much of one call's output a saved trace keeps (the `Run` in memory keeps it all).
TRACE_OUTPUT_CHARS = 2_000
#: What a saved trace may take, as JSON with non-ASCII escaped (an upper bound of its UTF-8
#: bytes); beyond it the longest call outputs are clipped to fit. The bundle's HTML and text
#: take the rest of its 300 KB.
TRACE_BUDGET_BYTES = 250_000
#: No call output is clipped below this (as JSON): room for the marker and a few characters.
MIN_OUTPUT_BYTES = 40
#: How much of each string of a step (code, streams, result detail) a saved trace keeps.
TRACE_STEP_CHARS = STEP_CHARS

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


class _PythonSteps(list):
    """`Run.scripts_detail`: the run's Python steps (a snapshot list); `append`/`extend` also add
    the step to `Run.steps`, as code written before `steps` expects."""

    def __init__(self, run: Run) -> None:
        super().__init__(s for s in run.steps if s.kind == "python")
        self._run = run

    def append(self, step: Step) -> None:  # type: ignore[override]
        super().append(step)
        self._run.steps.append(step)

    def extend(self, steps: Any) -> None:  # type: ignore[override]
        for step in steps:
            self.append(step)


@dataclass
class Run:
    """Everything one `%%ptc` cell / `ptc.run` call did. The public result object."""

    prompt: str
    model: str
    backend: str = "anthropic"  # "anthropic" or "offline-emulator"
    mode: Literal["ptc", "direct"] = "ptc"
    text: str = ""
    steps: list[Step] = field(default_factory=list)  # every server-side step, in order
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
    files: list[OutputFile] = field(default_factory=list)  # what the steps left in $OUTPUT_DIR
    started_at: float = field(default_factory=time.time, repr=False)  # Unix time
    _t0: float = field(default_factory=time.perf_counter, repr=False, compare=False)

    @property
    def scripts(self) -> list[str]:
        """The code of every Python step Claude ran, in order."""
        return [s.code for s in self.steps if s.kind == "python"]

    @property
    def scripts_detail(self) -> list[Step]:
        """The Python steps, in order (appending to this list appends to `steps`)."""
        return _PythonSteps(self)

    @scripts_detail.setter
    def scripts_detail(self, scripts: list[Step]) -> None:
        """Replace the Python steps (the others stay)."""
        self.steps = [s for s in self.steps if s.kind != "python"] + list(scripts)

    @property
    def output_file_ids(self) -> list[str]:
        """Every file id the steps produced, in order, once each."""
        return list(dict.fromkeys(i for s in self.steps for i in s.file_ids))

    def unfetched_file_ids(self) -> list[str]:
        """The output file ids not yet in `files` (what `files.fetch_output_files` should get)."""
        have = {f.file_id for f in self.files}
        return [i for i in self.output_file_ids if i not in have]

    @property
    def errors(self) -> list[ToolCall]:
        return [c for c in self.calls if c.is_error]

    def elapsed_s(self) -> float:
        return time.perf_counter() - self._t0

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    script = step  # the former name

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """The trace saved in the notebook (the MIME payload), JSON-safe and without secrets.

        Unless `full`, each call output keeps at most TRACE_OUTPUT_CHARS characters and, if the
        trace would still exceed TRACE_BUDGET_BYTES, the longest are clipped to fit; step strings
        keep TRACE_STEP_CHARS; output images are embedded (base64, `data`) up to
        files.EMBED_BUDGET_CHARS, the rest listed with `files_note`. For any `d` it returned,
        `Run.from_dict(d).to_dict() == d`.
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
            "steps": [s.to_dict(chars=None if full else TRACE_STEP_CHARS) for s in self.steps],
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
        # embedded images have a budget of their own (the full record keeps every file's bytes)
        plan = [f.data is not None for f in self.files] if full else embed_plan(self.files, EMBED_BUDGET_CHARS)
        data["files"] = [f.to_dict() for f in self.files]
        note = not_embedded_note(self.files, plan)
        if note:
            data["files_note"] = note  # derived; readers show it
        if not full:
            fit_outputs(data, TRACE_BUDGET_BYTES)
        data["files"] = [f.to_dict(embed=embed) for f, embed in zip(self.files, plan)]  # after the fitting
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
        """Rebuild a `Run` from a saved trace: compact or not (outputs may be clipped), version 1
        (Python steps as `scripts`) or 2 (`steps`, `files`)."""
        data = copy.deepcopy(data)
        run = cls(prompt=data.get("prompt", ""), model=data.get("model", ""))
        for key in ("backend", "mode", "status", "error", "text", "usage", "requests", "container_id",
                    "stop_reason", "context_bytes", "wall_s", "started_at", "comparison"):
            if key in data:
                setattr(run, key, data[key])
        run.notices = list(data.get("notices", []))
        run.steps = [Step.from_dict(s) for s in data.get("steps", data.get("scripts", [])) if isinstance(s, dict)]
        run.files = [OutputFile.from_dict(f) for f in data.get("files", []) if isinstance(f, dict)]
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
class StepStarted(Event):
    step: Step  # appended to run.steps; no result yet


@dataclass
class StepFinished(Event):
    step: Step  # its result was applied


@dataclass
class ScriptStarted(StepStarted):
    """A Python step started (a `StepStarted`)."""

    @property
    def script(self) -> Step:
        return self.step


@dataclass
class ScriptFinished(StepFinished):
    """A Python step finished (a `StepFinished`)."""

    @property
    def script(self) -> Step:
        return self.step


def step_started(run: Run, step: Step) -> StepStarted:
    """The event to emit when `step` starts: `ScriptStarted` for Python, else `StepStarted`."""
    return ScriptStarted(run, step) if step.kind == "python" else StepStarted(run, step)


def step_finished(run: Run, step: Step) -> StepFinished:
    """The event to emit when `step` has its result: `ScriptFinished` for Python, else `StepFinished`."""
    return ScriptFinished(run, step) if step.kind == "python" else StepFinished(run, step)


@dataclass
class FilesAdded(Event):
    files: list[OutputFile]  # just appended to run.files


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
