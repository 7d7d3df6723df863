"""Injected faults: queued by tests (or `POST /_emulator/faults`), consumed by later requests.

Each fault is consumed by the next `/v1/messages` request it applies to:

- `{"status": 429|500|529, "count": n}`: the next n requests fail with that status and the API's
  error body (`retry-after-ms: 1`, so SDK retries are quick).
- `{"kind": "expired_container"}`: the next request naming a container gets the expired error
  (and the container is really gone).
- `{"kind": "unknown_block"}`: the next response carries an extra block of type `future_block`.
- `{"kind": "pause_turn"}`: the next response that would deliver programmatic calls stops with
  `pause_turn` instead; echoing the assistant turn back resumes.
- `{"kind": "bad_caller"}`: the next programmatic `tool_use` names a `tool_id` matching no
  `server_tool_use` block.
- `{"kind": "max_tokens"}` / `{"kind": "refusal"}`: the next response ends with that stop reason
  after partial text; its calls are not delivered.
- `{"kind": "stream_error"}`: the next streaming response breaks off with an `overloaded_error` event.
- `{"kind": "file_download_error"}`: the next `GET /v1/files/{id}/content` answers 404
  `not_found_error`, as when an output file expired or was deleted before it was downloaded
  (404, not a 5xx, so an SDK's retries do not hide it).

Step faults, consumed by the next step of their kind (in any turn); the step does not run:

- `{"kind": "code_execution_error", "error_code": c}`: the next python step's result is
  `code_execution_tool_result_error {error_code: c}`; c is one of `invalid_tool_input`,
  `unavailable`, `too_many_requests`, `execution_time_exceeded`.
- `{"kind": "bash_code_execution_error", "error_code": c}`: the next bash step's result is
  `bash_code_execution_tool_result_error`; c as above, or `output_file_too_large`.
- `{"kind": "text_editor_code_execution_error", "error_code": c}`: the next text editor step's
  result is `text_editor_code_execution_tool_result_error` with an `error_message`; c as for
  python, or `file_not_found`.
- `{"kind": "encrypted_code_execution_result"}`: the next python step runs, and its result comes
  as `encrypted_code_execution_result` (base64 garbage for `encrypted_stdout`, the real stderr,
  return code and output files), as when a script called web search.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

KINDS = (
    "expired_container",
    "unknown_block",
    "pause_turn",
    "bad_caller",
    "max_tokens",
    "refusal",
    "stream_error",
    "encrypted_code_execution_result",
    "file_download_error",
)
_COMMON_CODES = ("invalid_tool_input", "unavailable", "too_many_requests", "execution_time_exceeded")
#: Step error faults and the error codes each accepts (the SDK's `*_error_code.py` literals).
STEP_ERRORS = {
    "code_execution_error": _COMMON_CODES,
    "bash_code_execution_error": _COMMON_CODES + ("output_file_too_large",),
    "text_editor_code_execution_error": _COMMON_CODES + ("file_not_found",),
}
STATUSES = {
    429: "Number of requests has exceeded your rate limit (fault injected in the offline emulator).",
    500: "Internal server error (fault injected in the offline emulator).",
    529: "Overloaded (fault injected in the offline emulator).",
}


@dataclass
class Fault:
    kind: str  # one of KINDS or STEP_ERRORS, or "status"
    status: int | None = None
    count: int = 1
    error_code: str | None = None  # step error faults


def parse_fault(item: object) -> Fault:
    """A fault from its JSON form; ValueError says what is wrong."""
    if isinstance(item, Fault):
        return item
    if not isinstance(item, dict):
        raise ValueError(f"a fault must be an object, got {item!r}")
    if "status" in item:
        status, count = item["status"], item.get("count", 1)
        if status not in STATUSES:
            raise ValueError(f"fault status must be one of {sorted(STATUSES)}, got {status!r}")
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"fault count must be a positive integer, got {count!r}")
        return Fault("status", status=status, count=count)
    kind = item.get("kind")
    if kind in STEP_ERRORS:
        code = item.get("error_code")
        if code not in STEP_ERRORS[kind]:
            raise ValueError(f"{kind} needs an error_code among {', '.join(STEP_ERRORS[kind])}, got {code!r}")
        return Fault(kind, error_code=code)
    if kind not in KINDS:
        raise ValueError(f"fault kind must be one of {', '.join(KINDS + tuple(STEP_ERRORS))}, got {kind!r}")
    return Fault(kind)


class FaultQueue:
    """Thread-safe FIFO of faults: injected from any thread, consumed on the server's loop."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, *items: object) -> None:
        faults = [parse_fault(item) for item in items]  # all valid, or none queued
        with self._lock:
            self._faults.extend(faults)

    def take_status(self) -> int | None:
        """The status the current request must fail with, if a status fault is queued."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == "status":
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault.status
        return None

    def take(self, kind: str) -> bool:
        """Consume the first queued fault of this kind; True if there was one."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind:
                    self._faults.remove(fault)
                    return True
        return False

    def take_step_error(self, kind: str) -> str | None:
        """The error code of the first queued step error fault of this kind, consumed; or None."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind:
                    self._faults.remove(fault)
                    return fault.error_code
        return None

    def pending(self) -> list[dict]:
        with self._lock:
            return [self._shown(f) for f in self._faults]

    @staticmethod
    def _shown(fault: Fault) -> dict:
        if fault.kind == "status":
            return {"status": fault.status, "count": fault.count}
        if fault.error_code is not None:
            return {"kind": fault.kind, "error_code": fault.error_code}
        return {"kind": fault.kind}
