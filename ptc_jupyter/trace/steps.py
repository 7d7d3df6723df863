"""Server-side steps: the `Step` record, and how API blocks become steps.

The container runs more than Python: `server_tool_use` blocks name `code_execution` (a Python
cell), `bash_code_execution`, `text_editor_code_execution`, web tools, and whatever the API adds
next. Each becomes a `Step` (`step_from_block`); its `*_tool_result` block fills it in
(`apply_result`), whatever the result's type: unknown ones are kept as a JSON copy, never dropped.

Blocks may be SDK objects or plain dicts. The SDK parses unknown types leniently (an unknown
block is a `TextBlock` whose `.type` is the unknown string; an unknown result can look like an
error object), so everything here dispatches on `.type` strings, never on classes. No SDK import.


How a host records a response (`at_s`: seconds since the run started, optional):

    for block in response.content:
        if block.type == "server_tool_use":          # any server tool
            step = step_from_block(block, at_s=...)
            run.steps.append(step)
            emit(StepStarted(run, step))
        elif is_result_block(block):                 # any *_tool_result
            step = step_for_result(run, block)       # by tool_use_id (appends one if unknown)
            apply_result(step, block, at_s=...)
            run.context_bytes += context_bytes(step)
            emit(StepFinished(run, step))
    # then: run.files += await files.fetch_output_files(client, run.unfetched_file_ids())
    #       and emit(trace.FilesAdded(run, new_files))
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ptc_jupyter.trace.clipping import clip

#: How much of each string of a step (code, streams, result detail) a saved trace keeps.
STEP_CHARS = 20_000

StepKind = Literal["python", "bash", "editor", "other"]
StepStatus = Literal["running", "ok", "failed", "timeout", "error"]
#: Every step kind and the server tools that make one: the one table (labextension/src/types.ts
#: has its twin, `STEP_KIND_TABLE`; tests/test_steps.py keeps them equal and every kind handled).
STEP_KIND_TABLE: dict[StepKind, tuple[str, ...]] = {
    "python": ("code_execution", "run_python"),  # run_python: the local sandbox (`--sandbox local`)
    "bash": ("bash_code_execution",),
    "editor": ("text_editor_code_execution",),
    "other": (),  # a server tool no view knows (web search, whatever comes next)
}
#: Server tool name -> step kind; any other name is "other".
STEP_KINDS: dict[str, StepKind] = {tool: kind for kind, tools in STEP_KIND_TABLE.items() for tool in tools}
#: The step name of a script run by the local sandbox (`--sandbox local`), not a server container.
LOCAL_STEP = "run_python"
#: The per-cell wall-clock limit of PTC Python cells, when a `detection_timeout` message names none.
CELL_LIMIT_S = 90.0
_LIMIT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)")


@dataclass(init=False)
class Step:
    """One server-side step of the container and its outcome: a `server_tool_use` block and its
    `*_tool_result`. `steps.step_from_block` / `steps.apply_result` fill it from API blocks.

    `Step(id, code)` is a Python step; `code=` also sets a bash command.
    """

    id: str
    name: str  # the server tool: code_execution, bash_code_execution, text_editor_code_execution, ...
    input: dict[str, Any]  # as sent
    stdout: str | None
    stderr: str | None
    return_code: int | None
    error_code: str | None  # from a *_tool_result_error
    error_message: str | None
    encrypted: bool  # stdout came back encrypted (the code used web search)
    file_ids: list[str]  # files the step left in $OUTPUT_DIR
    result_type: str | None  # the result's `type`, kept even when unknown
    detail: dict[str, Any] | None  # text editor results; a JSON copy of an unknown result
    timeout_s: float | None  # the cell time limit a Python step ran into (detection_timeout)
    started_s: float | None  # seconds since the run started
    duration_s: float | None

    def __init__(
        self,
        id: str,
        code: str | None = None,
        *,
        name: str = "code_execution",
        input: dict[str, Any] | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
        return_code: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        encrypted: bool = False,
        file_ids: list[str] | None = None,
        result_type: str | None = None,
        detail: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        started_s: float | None = None,
        duration_s: float | None = None,
    ) -> None:
        self.id, self.name, self.input = id, name, dict(input or {})
        self.stdout, self.stderr, self.return_code = stdout, stderr, return_code
        self.error_code, self.error_message, self.encrypted = error_code, error_message, encrypted
        self.file_ids, self.result_type, self.detail = list(file_ids or []), result_type, detail
        self.timeout_s, self.started_s, self.duration_s = timeout_s, started_s, duration_s
        if code is not None:
            self.code = code

    @property
    def kind(self) -> StepKind:
        return STEP_KINDS.get(self.name, "other")

    @property
    def local(self) -> bool:
        """Run by the local sandbox on this machine (`--sandbox local`), not in a server container."""
        return self.name == LOCAL_STEP

    @property
    def code(self) -> str:
        """The Python code, the bash command, or a one-line summary of an editor operation / other input."""
        kind = self.kind
        if kind in ("python", "bash"):
            value = self.input.get("code" if kind == "python" else "command")
            return value if isinstance(value, str) else ("(restart)" if self.input.get("restart") else "")
        if kind == "editor":
            parts = [str(self.input.get(k)) for k in ("command", "path") if self.input.get(k) is not None]
            if isinstance(self.input.get("view_range"), list):
                parts.append(json.dumps(self.input["view_range"]))
            return " ".join(parts)
        return json.dumps(self.input, ensure_ascii=False, separators=(",", ":"), default=str)

    @code.setter
    def code(self, value: str) -> None:
        if self.kind not in ("python", "bash"):
            raise AttributeError(f"a {self.name} step has no code to set")
        self.input["code" if self.kind == "python" else "command"] = value

    @property
    def cell_timeout_s(self) -> float | None:
        """The cell time limit a Python step ran into: `timeout_s`, or read from its stderr."""
        if self.timeout_s is not None:
            return self.timeout_s
        if self.kind != "python" or self.return_code in (None, 0) or "detection_timeout" not in (self.stderr or ""):
            return None
        line = next(ln for ln in (self.stderr or "").splitlines() if "detection_timeout" in ln)
        found = _LIMIT.search(line)
        return float(found.group(1)) if found else CELL_LIMIT_S

    @property
    def status(self) -> StepStatus:
        if self.error_code is not None:
            return "error"
        if self.return_code is not None:
            return "ok" if self.return_code == 0 else "timeout" if self.cell_timeout_s is not None else "failed"
        return "ok" if self.result_type is not None else "running"

    @property
    def finished(self) -> bool:
        return self.status != "running"

    def to_dict(self, *, chars: int | None = STEP_CHARS) -> dict[str, Any]:
        """The saved form: id, name, input, `status` (derived, for readers) and every other field
        that is set; strings clipped to `chars` (None: whole), times to the millisecond."""
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "input": _clip_strings(copy.deepcopy(self.input), chars),
            "status": self.status,
        }
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in d or value is None or value is False or value == []:
                continue
            if f.name in ("started_s", "duration_s"):
                value = round(value, 3)
            d[f.name] = _clip_strings(copy.deepcopy(value), chars)
        if self.cell_timeout_s is not None:
            d["timeout_s"] = self.cell_timeout_s
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        """A saved step; also a version-1 script (`code`, no `name`/`input`)."""
        if "input" not in d and "code" in d:
            d = {**d, "input": {"code": d.get("code") or ""}}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


#: The former name of a Python step.


def _clip_strings(value: Any, chars: int | None) -> Any:
    """`value` with every string in it clipped to `chars` characters."""
    if chars is None:
        return value
    if isinstance(value, str):
        return clip(value, chars)
    if isinstance(value, list):
        return [_clip_strings(v, chars) for v in value]
    if isinstance(value, dict):
        return {k: _clip_strings(v, chars) for k, v in value.items()}
    return value


# -- blocks ----------------------------------------------------------------------------------------

#: Result types that carry stdout/stderr/return_code.
STREAM_RESULTS = ("code_execution_result", "bash_code_execution_result")
EDITOR_RESULT_PREFIX = "text_editor_code_execution_"


def get(block: Any, key: str, default: Any = None) -> Any:
    """`block[key]` for a dict, `block.key` for an SDK object (extra fields included)."""
    if isinstance(block, Mapping):
        return block.get(key, default)
    return getattr(block, key, default)


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a block or value: SDK objects as the fields that were sent."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(mode="json", exclude_unset=True, warnings=False))
        except Exception:  # an odd object: its text will do
            pass
    return str(value)


def is_result_block(block: Any) -> bool:
    """Whether `block` is a server tool's result (`*_tool_result`; not a client `tool_result`)."""
    kind = get(block, "type")
    return isinstance(kind, str) and kind.endswith("_tool_result")


def step_from_block(block: Any, *, at_s: float | None = None) -> Step:
    """The `Step` of a `server_tool_use` block (any server tool); `at_s`: when, in run seconds."""
    if get(block, "type") != "server_tool_use":
        raise ValueError(f"not a server_tool_use block: {get(block, 'type')!r}")
    raw = jsonable(get(block, "input"))
    return Step(
        id=str(get(block, "id") or ""),
        name=str(get(block, "name") or "?"),
        input=raw if isinstance(raw, dict) else {"input": raw},
        started_s=at_s,
    )


def tool_name_of_result(block: Any) -> str:
    """The server tool a result block belongs to: `bash_code_execution_tool_result` -> `bash_code_execution`."""
    kind = str(get(block, "type") or "")
    return kind[: -len("_tool_result")] if kind.endswith("_tool_result") else kind or "?"


def step_for_result(run: Any, block: Any) -> Step:
    """The step of `run` a result block answers (by `tool_use_id`); a result with no step of its
    own (its `server_tool_use` came in an earlier turn) gets one, appended to `run.steps`."""
    step_id = str(get(block, "tool_use_id") or "")
    step = next((s for s in run.steps if s.id == step_id), None)
    if step is None:
        step = Step(id=step_id, name=tool_name_of_result(block))
        run.steps.append(step)
    return step


def file_ids(block: Any) -> list[str]:
    """The file ids a result block (or its content) names: `{type: *_output, file_id}` entries."""
    found: list[str] = []

    def walk(node: Any, depth: int) -> None:
        if node is None or depth > 4 or isinstance(node, (str, bytes, int, float, bool)):
            return
        if isinstance(node, (list, tuple)):
            for item in node:
                walk(item, depth + 1)
            return
        kind, file_id = get(node, "type"), get(node, "file_id")
        if isinstance(kind, str) and kind.endswith("_output") and isinstance(file_id, str):
            found.append(file_id)
        else:
            walk(get(node, "content"), depth + 1)

    walk(block, 0)
    return list(dict.fromkeys(found))


def apply_result(step: Step, block: Any, *, at_s: float | None = None) -> Step:
    """Fill `step` in from its `*_tool_result` block (any kind); returns the step."""
    content = get(block, "content")
    kind = get(content, "type") if not isinstance(content, (list, tuple, str)) else None
    step.result_type = kind if isinstance(kind, str) else str(get(block, "type") or "unknown")
    step.file_ids = list(dict.fromkeys(step.file_ids + file_ids(content)))
    if kind in STREAM_RESULTS:
        step.stdout, step.stderr = get(content, "stdout"), get(content, "stderr")
        step.return_code = get(content, "return_code")
    elif kind == "encrypted_code_execution_result":
        step.encrypted, step.stdout = True, None  # opaque; renderers show "(encrypted)"
        step.stderr, step.return_code = get(content, "stderr"), get(content, "return_code")
    elif isinstance(kind, str) and kind.endswith("_error") and get(content, "error_code") is not None:
        step.error_code = str(get(content, "error_code"))
        message = get(content, "error_message")
        step.error_message = str(message) if message is not None else None
    elif isinstance(kind, str) and kind.startswith(EDITOR_RESULT_PREFIX) and kind.endswith("_result"):
        copied = jsonable(content)
        step.detail = (
            {k: v for k, v in copied.items() if k != "type"} if isinstance(copied, dict) else {"content": copied}
        )
    else:  # a result this version does not know: keep all of it
        step.detail = {"content": jsonable(content)}
    if step.kind == "python" and step.cell_timeout_s is not None:
        step.timeout_s = step.cell_timeout_s
    if at_s is not None and step.started_s is not None:
        step.duration_s = max(0.0, at_s - step.started_s)
    return step


def context_bytes(step: Step) -> int:
    """Bytes of the step's result that enter the model's context (streams, editor/unknown detail)."""
    size = len((step.stdout or "").encode()) + len((step.stderr or "").encode())
    if step.detail:
        size += len(json.dumps(step.detail, ensure_ascii=False, default=str).encode())
    return size
