"""One script running in a sandbox, as its driver sees it (the emulator's turns, or `LocalSandbox`).

It records the calls the script made and where they are (made but not yet handed out, handed out
and awaiting results, timed out), the script's result once it ends, and how much of its time limit
it used: only the time it was not waiting on its calls counts.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

#: stderr of a script whose sandbox process died under it, unless the sandbox says why.
DIED = "The container's process exited (killed or crashed)."


@dataclass
class ScriptState:
    """A script's calls and result, fed by the sandbox's events (`on_event`)."""

    run_id: int
    undelivered: list[dict] = field(default_factory=list)  # made by the script, not yet handed out
    pending: dict[str, dict] = field(default_factory=dict)  # handed out, awaiting results
    timed_out: set[str] = field(default_factory=set)
    result: dict | None = None  # {"stdout", "stderr", "return_code"} once the script ended
    truncated: bool = False  # the result's stdout or stderr lost text to the output limit
    ack_wanted: int = 0  # the child confirms it processed our latest message with this number
    ack_seen: int = 0
    limit_s: float | None = None  # the time limit; None: none
    used_s: float = 0.0  # running time before `running_since`
    running_since: float | None = None  # None while the script waits on its calls
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def finished(self) -> bool:
        return self.result is not None

    def on_event(self, event: dict) -> None:
        kind = event["ev"]
        if kind == "blocked":
            self.ack_seen = max(self.ack_seen, event["ack"])
            self.undelivered.extend(event["calls"])
        elif kind == "expired":
            if self.running_since is None:  # the script goes on with a TimeoutError: its time counts again
                self.resume()
            for call_id in event["ids"]:
                self.timed_out.add(call_id)
                self.pending.pop(call_id, None)
                self.undelivered = [c for c in self.undelivered if c["id"] != call_id]
        elif kind == "done":
            self.result = {k: event[k] for k in ("stdout", "stderr", "return_code")}
            self.truncated = bool(event.get("truncated"))
            self.undelivered.clear()
        elif kind == "died" and self.result is None:
            self.result = {"stdout": "", "stderr": event.get("reason") or DIED, "return_code": 137}
            self.undelivered.clear()
        self.changed.set()

    async def settle(self) -> bool:
        """Wait until the script has ended, or is blocked with calls to hand out; False if the time
        limit passed first (the script still runs)."""
        while not (self.finished or (self.ack_seen >= self.ack_wanted and self.undelivered)):
            self.changed.clear()
            left = self.time_left()
            if left is None:
                await self.changed.wait()
                continue
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        self.pause()
        return True

    async def until_finished(self) -> None:
        while not self.finished:
            self.changed.clear()
            await self.changed.wait()

    def time_left(self) -> float | None:
        if self.limit_s is None or self.running_since is None:
            return None
        return self.limit_s - self.used_s - (time.monotonic() - self.running_since)

    def pause(self) -> None:
        """The script waits on its calls: that time does not count against the time limit."""
        if self.running_since is not None:
            self.used_s += time.monotonic() - self.running_since
            self.running_since = None

    def resume(self) -> None:
        self.running_since = time.monotonic()

    def take_calls(self, limit: int | None = None) -> list[dict]:
        """Move the next calls (all of them, or `limit`) from undelivered to pending."""
        count = len(self.undelivered) if limit is None else min(limit, len(self.undelivered))
        calls, self.undelivered = self.undelivered[:count], self.undelivered[count:]
        for call in calls:
            self.pending[call["id"]] = call
        return calls
