"""Containers and the scripts running in them, as the emulator's loop sees them.

A `Container` owns one sandbox process (so REPL state persists between its scripts), the current
`Turn` (the prompt's steps and how far they got) and at most one live `ScriptRun` (the turn's
python step running now). The run records what the client has and has not been told: calls made by
the script but not yet delivered, delivered calls awaiting results, calls whose deadline passed,
and how much of the cell limit it used (only while not waiting on its calls). Direct mode uses
hidden containers that the client never sees and that die with their script.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ptc_jupyter.emulator.config import EmulatorConfig
from ptc_jupyter.emulator.files import Stamp
from ptc_jupyter.emulator.sandbox import Sandbox, SandboxPool
from ptc_jupyter.emulator.steps import Outcome, Step
from ptc_jupyter.emulator.wire import ApiError, invalid_request, new_id
from ptc_jupyter.sandbox.config import STOP_GRACE_S
from ptc_jupyter.sandbox.script import ScriptState

#: How long a new turn waits for a cancelled script to stop before replacing its process.
CANCEL_GRACE_S = STOP_GRACE_S
#: How many gone containers `/_emulator/state` and the expired errors remember.
GONE_MEMORY = 1000


@dataclass(kw_only=True)
class ScriptRun(ScriptState):
    """One python step's script: its calls and what the client has seen of them."""

    mode: Literal["ptc", "direct"]
    code: str
    srvtoolu_id: str | None
    tools_key: str


@dataclass
class Turn:
    """One prompt's steps and how far they got; `active` is the python step whose run is live."""

    mode: Literal["ptc", "direct"]
    steps: list[Step]
    tools: list[str]  # the tools a python step may call
    tools_key: str
    positional: dict[str, str] = field(default_factory=dict)  # tools taking a lone string (sandbox/arguments.py)
    next: int = 0  # the next step to start
    active: Step | None = None
    before: dict[str, Stamp] = field(default_factory=dict)  # $OUTPUT_DIR when the active step began
    outcomes: list[Outcome] = field(default_factory=list)
    reported: bool = False  # the final text went out in a response
    last_results: frozenset[str] | None = None  # the last continuation, replayed on a retry
    last_reply: dict | None = None


class Container:
    """A sandbox process, its REPL state, its current turn and script."""

    def __init__(self, sandbox: Sandbox, hidden: bool, on_lost: Callable[[Container], None]) -> None:
        self.id = new_id("direct" if hidden else "container")
        self.hidden = hidden
        self.lock = asyncio.Lock()  # one request at a time per container
        self.last_active = time.monotonic()
        self.run: ScriptRun | None = None
        self.turn: Turn | None = None
        self._runs = 0
        self._on_lost = on_lost
        self.sandbox = sandbox
        self._attach(sandbox)

    def _attach(self, sandbox: Sandbox) -> None:
        """Route this sandbox's events to the current run, while it is still this container's."""
        self.sandbox = sandbox

        def dispatch(event: dict) -> None:
            run = self.run
            if (
                self.sandbox is sandbox
                and run is not None
                and (event["ev"] == "died" or event.get("run_id") == run.run_id)
            ):
                run.on_event(event)

        def exited(_future: object) -> None:
            if self.sandbox is sandbox:
                self._on_lost(self)

        sandbox.on_event = dispatch
        sandbox.exited.add_done_callback(exited)

    def start_run(
        self,
        *,
        mode: Literal["ptc", "direct"],
        code: str,
        tools: list[str],
        tools_key: str,
        srvtoolu_id: str | None,
        deadline_s: float | None,
        limit_s: float | None = None,
        positional: dict[str, str] | None = None,
    ) -> ScriptRun:
        self._runs += 1
        run = ScriptRun(
            run_id=self._runs,
            mode=mode,
            code=code,
            srvtoolu_id=srvtoolu_id,
            tools_key=tools_key,
            ack_wanted=1,
            limit_s=limit_s,
            running_since=time.monotonic(),
        )
        self.run = run
        if not self.sandbox.alive:  # an earlier step of the turn killed it: nothing will answer
            run.on_event({"ev": "died"})
            return run
        self.sandbox.send(
            {
                "op": "run",
                "run_id": run.run_id,
                "code": code,
                "tools": tools,
                "positional": positional or {},
                "deadline_s": deadline_s,
                "ack": 1,
                "output_limit_bytes": self.sandbox.config.output_bytes,
            }
        )
        return run

    def feed(self, results: list[dict]) -> None:
        """Send results ({"id", "content"}) to the script; `settle()` then waits for their effect."""
        run = self.run
        assert run is not None
        run.ack_wanted += 1
        run.resume()
        self.sandbox.send({"op": "results", "run_id": run.run_id, "ack": run.ack_wanted, "results": results})

    async def cancel_run(self, pool: SandboxPool) -> None:
        """Stop the current script; if it will not stop (a busy loop), replace the process."""
        run = self.run
        if run is not None and not run.finished:
            await self._stop(pool, run, {"op": "cancel", "run_id": run.run_id})

    async def interrupt_run(self, pool: SandboxPool, reason: str) -> None:
        """End the current script with `reason` in stderr (the cell limit passed). If it will not
        stop, the process is replaced: REPL state and the container's files are lost."""
        run = self.run
        if run is None or run.finished:
            return
        if not await self._stop(pool, run, {"op": "interrupt", "run_id": run.run_id, "reason": reason}):
            run.on_event(
                {
                    "ev": "done",
                    "run_id": run.run_id,
                    "stdout": "",
                    "return_code": 1,
                    "stderr": f"{reason}\nThe cell did not stop, so the container's process was replaced: its "
                    "REPL state and files are gone.",
                }
            )

    async def _stop(self, pool: SandboxPool, run: ScriptRun, message: dict) -> bool:
        """Ask the REPL to stop `run`; True if it did in time, else the process is replaced (False)."""
        self.sandbox.send(message)
        try:
            await asyncio.wait_for(run.until_finished(), CANCEL_GRACE_S)
            return True
        except asyncio.TimeoutError:
            old = self.sandbox
            self._attach(await pool.acquire())
            old.kill()
            return False

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
            self.expire(container, container.sandbox.kill_reason or "its process exited")

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
            "Send the request again without the `container` parameter to start a new container."
        )

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
        return not container.lock.locked() and time.monotonic() - container.last_active > self.config.container_idle_s

    async def reap_forever(self) -> None:
        """Expire idle containers; runs for the server's lifetime."""
        interval = min(1.0, max(0.01, self.config.container_idle_s / 4))
        while True:
            await asyncio.sleep(interval)
            for container in list(self.live.values()):
                if self._idle_too_long(container):
                    self.expire(container, f"it was idle for more than {self.config.container_idle_s:g}s")

    def snapshot(self) -> dict:
        containers = [
            {"id": c.id, "alive": c.sandbox.alive, "pending": list(c.run.pending) if c.run else []}
            for c in self.live.values()
            if not c.hidden
        ]
        containers += [{"id": cid, "alive": False, "pending": []} for cid in self.gone]
        return {"containers": containers, "processes": self.pool.live_count()}


def expired_error(container_id: str, why: str) -> ApiError:
    return invalid_request(
        f"Container {container_id} has expired ({why}). An expired container can't be reused: "
        "send the request again without the `container` parameter to start a new container."
    )


__all__ = ["Container", "Containers", "ScriptRun", "Turn", "expired_error"]
