"""Containers and the scripts running in them, as the emulator's loop sees them.

A `Container` owns one sandbox process (so REPL state persists between its scripts) and at most
one live `ScriptRun`. The run records what the client has and has not been told: calls made by the
script but not yet delivered, delivered calls awaiting results, calls whose deadline passed. Direct
mode uses hidden containers that the client never sees and that die with their script.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable, Literal

from .config import EmulatorConfig
from .sandbox import Sandbox, SandboxPool
from .wire import ApiError, invalid_request, new_id

#: How long a new turn waits for a cancelled script to stop before replacing its process.
CANCEL_GRACE_S = 2.0
#: How many gone containers `/_emulator/state` and the expired errors remember.
GONE_MEMORY = 1000


@dataclass
class ScriptRun:
    """One script: its calls and what the client has seen of them."""

    run_id: int
    mode: Literal["ptc", "direct"]
    code: str
    srvtoolu_id: str | None
    tools_key: str
    undelivered: list[dict] = field(default_factory=list)  # made by the script, not yet in a response
    pending: dict[str, dict] = field(default_factory=dict)  # in a response, awaiting results
    timed_out: set[str] = field(default_factory=set)
    result: dict | None = None  # {"stdout", "stderr", "return_code"} once the script ended
    reported: bool = False  # the end went out in a response
    ack_wanted: int = 0  # the child confirms it processed our latest message with this number
    ack_seen: int = 0
    last_results: frozenset[str] | None = None  # the last continuation, replayed on a retry
    last_reply: dict | None = None
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
            for call_id in event["ids"]:
                self.timed_out.add(call_id)
                self.pending.pop(call_id, None)
                self.undelivered = [c for c in self.undelivered if c["id"] != call_id]
        elif kind == "done":
            self.result = {k: event[k] for k in ("stdout", "stderr", "return_code")}
            self.undelivered.clear()
        elif kind == "died" and self.result is None:
            self.result = {"stdout": "", "stderr": "The container's process exited (killed or crashed).",
                           "return_code": 137}
            self.undelivered.clear()
        self.changed.set()

    async def settle(self) -> None:
        """Wait until the script has ended, or is blocked with calls to deliver."""
        while not (self.finished or (self.ack_seen >= self.ack_wanted and self.undelivered)):
            self.changed.clear()
            await self.changed.wait()

    def take_calls(self, limit: int | None = None) -> list[dict]:
        """Move the next calls (all of them, or `limit`) from undelivered to pending."""
        count = len(self.undelivered) if limit is None else min(limit, len(self.undelivered))
        calls, self.undelivered = self.undelivered[:count], self.undelivered[count:]
        for call in calls:
            self.pending[call["id"]] = call
        return calls


class Container:
    """A sandbox process, its REPL state, and its current script."""

    def __init__(self, sandbox: Sandbox, hidden: bool, on_lost: Callable[[Container], None]) -> None:
        self.id = new_id("direct" if hidden else "container")
        self.hidden = hidden
        self.lock = asyncio.Lock()  # one request at a time per container
        self.last_active = time.monotonic()
        self.run: ScriptRun | None = None
        self._runs = 0
        self._on_lost = on_lost
        self.sandbox = sandbox
        self._attach(sandbox)

    def _attach(self, sandbox: Sandbox) -> None:
        """Route this sandbox's events to the current run, while it is still this container's."""
        self.sandbox = sandbox

        def dispatch(event: dict) -> None:
            run = self.run
            if self.sandbox is sandbox and run is not None and (
                    event["ev"] == "died" or event.get("run_id") == run.run_id):
                run.on_event(event)

        def exited(_future: object) -> None:
            if self.sandbox is sandbox:
                self._on_lost(self)

        sandbox.on_event = dispatch
        sandbox.exited.add_done_callback(exited)

    def start_run(self, *, mode: Literal["ptc", "direct"], code: str, tools: list[str], tools_key: str,
                  srvtoolu_id: str | None, deadline_s: float | None) -> ScriptRun:
        self._runs += 1
        run = ScriptRun(self._runs, mode, code, srvtoolu_id, tools_key, ack_wanted=1)
        self.run = run
        self.sandbox.send({"op": "run", "run_id": run.run_id, "code": code, "tools": tools,
                           "deadline_s": deadline_s, "ack": 1})
        return run

    def feed(self, results: list[dict]) -> None:
        """Send results ({"id", "content"}) to the script; `settle()` then waits for their effect."""
        run = self.run
        assert run is not None
        run.ack_wanted += 1
        self.sandbox.send({"op": "results", "run_id": run.run_id, "ack": run.ack_wanted, "results": results})

    async def cancel_run(self, pool: SandboxPool) -> None:
        """Stop the current script; if it will not stop (a busy loop), replace the process."""
        run = self.run
        if run is None or run.finished:
            return
        self.sandbox.send({"op": "cancel", "run_id": run.run_id})
        try:
            await asyncio.wait_for(self._until_finished(run), CANCEL_GRACE_S)
        except asyncio.TimeoutError:
            old = self.sandbox
            self._attach(await pool.acquire())
            old.kill()

    @staticmethod
    async def _until_finished(run: ScriptRun) -> None:
        while not run.finished:
            run.changed.clear()
            await run.changed.wait()

    def touch(self) -> None:
        self.last_active = time.monotonic()


class Containers:
    """Every container of the emulator: creation, lookup with the API's errors, idle expiry."""

    def __init__(self, pool: SandboxPool, config: EmulatorConfig) -> None:
        self.pool = pool
        self.config = config
        self.live: dict[str, Container] = {}
        self.gone: dict[str, str] = {}  # id -> why it is gone
        self.by_tool_use: dict[str, Container] = {}  # direct mode: tool_use id -> its hidden container

    async def create(self, hidden: bool = False) -> Container:
        container = Container(await self.pool.acquire(), hidden, self._on_lost)
        self.live[container.id] = container
        return container

    def _on_lost(self, container: Container) -> None:
        if self.live.get(container.id) is container:
            self.expire(container, "its process exited")

    def get(self, container_id: str) -> Container:
        """The live container with this id, or the API's 400 for an expired or unknown one."""
        container = self.live.get(container_id)
        if container is not None and not container.hidden:
            if self._idle_too_long(container):
                self.expire(container, f"it was idle for more than {self.config.container_idle_s:g}s")
            else:
                return container
        if container_id in self.gone:
            raise expired_error(container_id, self.gone[container_id])
        raise invalid_request(
            f"Container {container_id} was not found; it may have expired. "
            "Send the request again without the `container` parameter to start a new container.")

    def expire(self, container: Container, why: str) -> None:
        """Kill the container's process; later requests naming it get the expired error."""
        self.live.pop(container.id, None)
        container.sandbox.kill()
        if not container.hidden:
            self.gone[container.id] = why
            while len(self.gone) > GONE_MEMORY:
                self.gone.pop(next(iter(self.gone)))
        for call_id in [k for k, v in self.by_tool_use.items() if v is container]:
            del self.by_tool_use[call_id]

    def _idle_too_long(self, container: Container) -> bool:
        return (not container.lock.locked()
                and time.monotonic() - container.last_active > self.config.container_idle_s)

    async def reap_forever(self) -> None:
        """Expire idle containers; runs for the server's lifetime."""
        interval = min(1.0, max(0.01, self.config.container_idle_s / 4))
        while True:
            await asyncio.sleep(interval)
            for container in list(self.live.values()):
                if self._idle_too_long(container):
                    self.expire(container, f"it was idle for more than {self.config.container_idle_s:g}s")

    def snapshot(self) -> dict:
        containers = [{"id": c.id, "alive": c.sandbox.alive, "pending": list(c.run.pending) if c.run else []}
                      for c in self.live.values() if not c.hidden]
        containers += [{"id": cid, "alive": False, "pending": []} for cid in self.gone]
        return {"containers": containers, "processes": self.pool.live_count()}


def expired_error(container_id: str, why: str) -> ApiError:
    return invalid_request(
        f"Container {container_id} has expired ({why}). An expired container can't be reused: "
        "send the request again without the `container` parameter to start a new container.")


__all__ = ["Container", "Containers", "ScriptRun", "expired_error"]
