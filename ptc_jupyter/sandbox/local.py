"""`LocalSandbox`: programmatic tool calling where the server has no code execution (`--sandbox local`).

The model gets one client tool, `run_python` (`tool.py`); the host runs its code here, in a REPL
subprocess on the kernel's machine, under `SandboxConfig`'s limits. The tool calls that code makes
come back to the host through `call`, a batch at a time: the calls a script issues together
(`asyncio.gather`) arrive in one list, so the host can dispatch them concurrently; the next batch
is handed out once `call` returned and the script has gone quiet again. REPL state persists
between the `run`s of one sandbox. Not a security boundary (docs/security.md).

    async with LocalSandbox(SandboxConfig(wall_time_s=30)) as sandbox:
        result = await sandbox.run(code, ["get_price"], call)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptc_jupyter.sandbox.config import STOP_GRACE_S, SandboxConfig
from ptc_jupyter.sandbox.process import Sandbox
from ptc_jupyter.sandbox.script import ScriptState


@dataclass(frozen=True)
class ToolRequest:
    """One tool call made by a script: the tool's name, its input, and an id unique in the sandbox."""

    name: str
    input: dict[str, Any]
    id: str


@dataclass(frozen=True)
class SandboxResult:
    """How a script ended: its output (each stream capped at `output_bytes`, `truncated` if text was
    dropped), its return code, and whether its time limit stopped it."""

    stdout: str
    stderr: str
    return_code: int
    timed_out: bool
    truncated: bool

    def as_tool_result(self) -> str:
        """The text for the model: stdout, then stderr and the return code when there is something to say."""
        parts = [self.stdout.rstrip("\n")] if self.stdout.strip() else []
        if self.stderr.strip():
            parts.append("[stderr]\n" + self.stderr.rstrip("\n"))
        if self.return_code != 0:
            parts.append(f"[return code {self.return_code}]")
        return "\n".join(parts) if parts else "(no output)"


CallBatch = Callable[[list[ToolRequest]], Awaitable[list[str]]]


def time_limit_message(limit_s: float) -> str:
    return (
        f"Time limit: the script ran for more than {limit_s:g} seconds (time waiting for tool results not "
        "counted) and was stopped."
    )


class LocalSandbox:
    """A persistent Python REPL in a local subprocess whose scripts call the host's tools.

    Started by the first `run` (or `start`), on the running event loop; use it from that loop only.
    One script runs at a time. `aclose()` kills it and everything it started.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._sandbox: Sandbox | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._run: ScriptState | None = None
        self._abandoned: ScriptState | None = None  # a run whose caller was cancelled, maybe still running
        self._runs = 0
        self._closed = False

    @property
    def enforced(self) -> dict[str, bool]:
        """Which limits the OS enforces for this sandbox: {"memory", "network" (cut off), "subreaper"};
        empty before it started."""
        return dict(self._sandbox.enforced) if self._sandbox is not None else {}

    @property
    def workdir(self) -> Path | None:
        """The sandbox's private directory (its HOME and cwd), None before it started."""
        return self._sandbox.workdir if self._sandbox is not None else None

    @property
    def pid(self) -> int | None:
        return self._sandbox.pid if self._sandbox is not None else None

    async def start(self) -> None:
        """Start the REPL process now (`run` does it otherwise)."""
        await self._ensure()

    async def run(
        self, code: str, tools: Sequence[str], call: CallBatch, positional: Mapping[str, str] | None = None
    ) -> SandboxResult:
        """Run one script in which each name of `tools` is an async tool function; its calls go to
        `call` in batches, whose results (strings, in order) the script's awaits return.
        `positional`: tool name -> the parameter a lone string argument fills (arguments.py)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            sandbox = await self._ensure()
            if self._abandoned is not None and not self._abandoned.finished:
                await self._stop(
                    self._abandoned, {"op": "cancel", "run_id": self._abandoned.run_id}, "The script was cancelled."
                )
                sandbox = await self._ensure()
            self._abandoned = None
            self._runs += 1
            run = ScriptState(self._runs, ack_wanted=1, limit_s=self.config.wall_time_s, running_since=time.monotonic())
            self._run = run
            sandbox.send(
                {
                    "op": "run",
                    "run_id": run.run_id,
                    "code": code,
                    "tools": list(tools),
                    "positional": dict(positional or {}),
                    "deadline_s": None,
                    "ack": 1,
                    "output_limit_bytes": self.config.output_bytes,
                }
            )
            try:
                timed_out = await self._drive(run, call)
            except BaseException:
                if not run.finished:
                    self._abandoned = run
                    if self._sandbox is not None:
                        self._sandbox.send({"op": "cancel", "run_id": run.run_id})
                raise
            result = run.result
            assert result is not None  # _drive returns once the script ended
            return SandboxResult(result["stdout"], result["stderr"], result["return_code"], timed_out, run.truncated)

    async def _drive(self, run: ScriptState, call: CallBatch) -> bool:
        """Hand out batches until the script ends; whether its time limit stopped it."""
        while True:
            if not await run.settle():
                await self._stop(
                    run,
                    {
                        "op": "interrupt",
                        "run_id": run.run_id,
                        "reason": time_limit_message(self.config.wall_time_s or 0),
                    },
                    time_limit_message(self.config.wall_time_s or 0),
                )
                return True
            if run.finished:
                return False
            calls = run.take_calls()
            requests = [ToolRequest(c["name"], c["input"], c["id"]) for c in calls]
            results = await call(requests)
            if len(results) != len(requests) or not all(isinstance(r, str) for r in results):
                raise TypeError(f"call() must return {len(requests)} strings, one per request, in order")
            for request in requests:
                run.pending.pop(request.id, None)
            run.ack_wanted += 1
            run.resume()
            assert self._sandbox is not None
            self._sandbox.send(
                {
                    "op": "results",
                    "run_id": run.run_id,
                    "ack": run.ack_wanted,
                    "results": [{"id": r.id, "content": text} for r, text in zip(requests, results)],
                }
            )

    async def _stop(self, run: ScriptState, message: dict, reason: str) -> None:
        """Ask the script to stop; if it has not within STOP_GRACE_S, replace the process."""
        assert self._sandbox is not None
        self._sandbox.send(message)
        try:
            await asyncio.wait_for(run.until_finished(), STOP_GRACE_S)
        except asyncio.TimeoutError:
            old, self._sandbox = self._sandbox, None
            old.on_event = None
            await asyncio.to_thread(old.kill)
            run.on_event(
                {
                    "ev": "done",
                    "run_id": run.run_id,
                    "stdout": "",
                    "return_code": 1,
                    "stderr": f"{reason}\nThe script did not stop, so the sandbox's process was replaced: its REPL "
                    "state and files are gone.",
                }
            )

    async def _ensure(self) -> Sandbox:
        """The live sandbox process, started (again) if need be."""
        if self._closed:
            raise RuntimeError("this LocalSandbox is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("a LocalSandbox is bound to the event loop it started on")
        if self._sandbox is None or not self._sandbox.alive:
            if self._sandbox is not None:
                self._sandbox.close_pipes()
            sandbox = Sandbox(loop, self.config)
            sandbox.on_event = self._on_event
            self._sandbox = sandbox
            await sandbox.ready
        return self._sandbox

    def _on_event(self, event: dict) -> None:
        run = self._run
        if run is not None and (event["ev"] == "died" or event.get("run_id") == run.run_id):
            run.on_event(event)

    async def aclose(self) -> None:
        """Kill the sandbox and everything it started; idempotent."""
        self._closed = True
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is None:
            return
        await asyncio.to_thread(sandbox.kill)
        try:
            await asyncio.wait_for(asyncio.shield(sandbox.exited), 5)
        except asyncio.TimeoutError:
            pass
        sandbox.close_pipes()

    async def __aenter__(self) -> LocalSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
