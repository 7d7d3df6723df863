"""The record of a run: `Run` and `ToolCall` (the events the host emits are in `events.py`, re-exported here).

Every server-side step (Python cell, bash command, text editor operation, unknown server tool) is
a `Step` (`steps.py`) in `Run.steps`, in order; `Run.scripts`/`scripts_detail` list the Python
ones. The files they left behind are `Run.files`; what the run
cost, estimated, is `Run.cost`.

`Run.to_dict()` is exactly the trace saved in the notebook under `MIME_TYPE`: compact (call
fields most calls share are stated once, in `call_defaults`; times to the millisecond) and bounded
(call outputs clipped with a visible marker; beyond `calls_table.SAVED_CALLS` only the first, the
last and the failed calls are kept and the others summarised in `calls_omitted`). `Run.from_dict`
reads it, and every earlier version-1 trace, back; `Run.to_json()` writes the whole record,
nothing clipped or left out, in the same format. Renderings of a run live in `render.py`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from ptc_jupyter import pricing
from ptc_jupyter.constants import MIME_TYPE as MIME_TYPE
from ptc_jupyter.pricing import comparison_with_costs
from ptc_jupyter.trace.clipping import clip, clip_to_json_size, json_size
from ptc_jupyter.trace.exchanges import Exchange, legend, saved_exchanges
from ptc_jupyter.trace.files import EMBED_BUDGET_CHARS, OutputFile, embed_plan, not_embedded_note
from ptc_jupyter.trace.presentation import presenters
from ptc_jupyter.trace.saved_calls import SAVED_CALLS, listed, omitted_count, omitted_note, omitted_summary
from ptc_jupyter.trace.steps import STEP_CHARS, Step

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

    def append(self, step: Step) -> None:
        super().append(step)
        self._run.steps.append(step)

    def extend(self, steps: Any) -> None:
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
    calls_omitted: dict[str, Any] | None = None  # a saved trace's summary of the calls it left out
    conversation: dict[str, Any] | None = None  # {"id", "turn", "continues"}: a turn of a ptc.Conversation
    exchanges: list[Exchange] = field(default_factory=list)  # one per API round trip: the wire (exchanges.py)
    exchanges_omitted: int = 0  # round trips a saved trace left out of `exchanges`
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

    @property
    def call_count(self) -> int:
        """Every call the run made: those in `calls` and those a saved trace left out."""
        return len(self.calls) + omitted_count(self.calls_omitted)

    @property
    def failed_count(self) -> int:
        """Every failed call (`is_error`), the left-out ones included."""
        failed = (self.calls_omitted or {}).get("failed")
        return len(self.errors) + (failed if isinstance(failed, int) and failed > 0 else 0)

    @property
    def cost(self) -> dict[str, Any]:
        """The run's estimated cost (`pricing.estimate`, labelled `estimate: True`): its tokens at
        its model's price, plus container time, i.e. the wall time of a run that had a container."""
        usage = {
            k: v
            for k, v in self.usage.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        container_s = round(self.wall_s, 3) if self.container_id else 0.0  # the saved wall time: round trips agree
        return pricing.estimate(self.model, usage, container_s=container_s)

    def elapsed_s(self) -> float:
        return time.perf_counter() - self._t0

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def saved_calls(self) -> tuple[list[ToolCall], dict[str, Any] | None]:
        """(the calls a saved trace keeps, its summary of the others): all of them while they fit
        `calls_table.SAVED_CALLS`; else the first, the last and failed ones between."""
        if len(self.calls) <= SAVED_CALLS.head + SAVED_CALLS.tail + SAVED_CALLS.failed:
            return self.calls, self.calls_omitted
        keep = listed(self.calls, SAVED_CALLS)
        return [self.calls[i] for i in keep], omitted_summary(self.calls, keep, self.calls_omitted)

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """The trace saved in the notebook (the MIME payload), JSON-safe and without secrets.

        Unless `full`: a run of more calls than `calls_table.SAVED_CALLS` allows keeps the first,
        the last and failed ones, and summarises the rest in `calls_omitted` (shown as `calls_note`);
        each call output keeps at most TRACE_OUTPUT_CHARS characters and, if the trace would
        still exceed TRACE_BUDGET_BYTES, the longest are clipped to fit; step strings keep
        TRACE_STEP_CHARS; output images are embedded (base64, `data`) up to
        files.EMBED_BUDGET_CHARS, the rest listed with `files_note`; the round trips (`exchanges`)
        keep their first and last ones, clipped to `exchanges.EXCHANGES_BUDGET_BYTES`. `cost`, `wire_legend` and
        `comparison_cost_usd` are derived (readers recompute them). For any `d` it returned, `Run.from_dict(d).to_dict() == d` (with the same
        price table).
        """
        kept, omitted = (self.calls, self.calls_omitted) if full else self.saved_calls()
        calls = [c.to_dict(output_chars=None if full else TRACE_OUTPUT_CHARS) for c in kept]
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
            "cost": self.cost,  # derived
            "requests": self.requests,
            "container_id": self.container_id,
            "stop_reason": self.stop_reason,
            "notices": list(self.notices),
            "context_bytes": self.context_bytes,
            "wall_s": round(self.wall_s, 3),
            "started_at": self.started_at,
            "comparison": copy.deepcopy(self.comparison),
        }
        if self.conversation is not None:
            data["conversation"] = copy.deepcopy(self.conversation)
        exchanges: list[dict[str, Any]]
        if full:
            exchanges = [e.to_dict(chars=None, items=None) for e in self.exchanges]
            exchanges_omitted = self.exchanges_omitted
        else:
            exchanges, exchanges_omitted = saved_exchanges(self.exchanges, self.exchanges_omitted)
        data["exchanges"] = exchanges
        if exchanges_omitted:
            data["exchanges_omitted"] = exchanges_omitted
        if exchanges:
            data["wire_legend"] = legend(exchanges)  # derived: what each marked PTC part is
        costs = {
            side: figures.get("cost_usd")
            for side, figures in (comparison_with_costs(self) or {}).items()
            if isinstance(figures, dict) and "cost_usd" not in (self.comparison or {}).get(side, {})
        }
        if costs:
            data["comparison_cost_usd"] = costs  # derived: each side's estimated cost, for readers without prices
        if omitted:
            data["calls_omitted"] = copy.deepcopy(omitted)
            data["calls_note"] = omitted_note(omitted)  # derived; readers show it
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
        for key in (
            "backend",
            "mode",
            "status",
            "error",
            "text",
            "usage",
            "requests",
            "container_id",
            "stop_reason",
            "context_bytes",
            "wall_s",
            "started_at",
            "comparison",
            "conversation",
        ):
            if key in data:
                setattr(run, key, data[key])
        run.notices = list(data.get("notices", []))
        run.steps = [Step.from_dict(s) for s in data.get("steps", data.get("scripts", [])) if isinstance(s, dict)]
        run.files = [OutputFile.from_dict(f) for f in data.get("files", []) if isinstance(f, dict)]
        shared = data.get("call_defaults") or {}
        run.calls = [_from_fields(ToolCall, {**shared, **c}) for c in data.get("calls", [])]
        if isinstance(data.get("calls_omitted"), dict):
            run.calls_omitted = data["calls_omitted"]
        run.exchanges = [Exchange.from_dict(e) for e in data.get("exchanges", []) if isinstance(e, dict)]
        if isinstance(data.get("exchanges_omitted"), int):
            run.exchanges_omitted = data["exchanges_omitted"]
        return run

    def __repr__(self) -> str:  # one line: a Run can hold thousands of calls
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (
            f"<Run {self.status} {self.mode}: {self.call_count} calls, {self.requests} requests, "
            f"{self.wall_s:.2f} s, text={text!r}>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None):
        show = presenters.run_bundle
        return show(self) if show else {"text/plain": repr(self)}

    def __str__(self) -> str:
        show = presenters.run_text
        return show(self) if show else repr(self)


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
