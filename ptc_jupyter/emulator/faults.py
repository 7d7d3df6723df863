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
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

KINDS = ("expired_container", "unknown_block", "pause_turn", "bad_caller", "max_tokens", "refusal", "stream_error")
STATUSES = {
    429: "Number of requests has exceeded your rate limit (fault injected in the offline emulator).",
    500: "Internal server error (fault injected in the offline emulator).",
    529: "Overloaded (fault injected in the offline emulator).",
}


@dataclass
class Fault:
    kind: str  # one of KINDS, or "status"
    status: int | None = None
    count: int = 1


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
    if kind not in KINDS:
        raise ValueError(f"fault kind must be one of {', '.join(KINDS)}, got {kind!r}")
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

    def pending(self) -> list[dict]:
        with self._lock:
            return [{"status": f.status, "count": f.count} if f.kind == "status" else {"kind": f.kind}
                    for f in self._faults]
