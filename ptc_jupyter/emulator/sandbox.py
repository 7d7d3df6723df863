"""The emulator's containers' processes: `SandboxPool` keeps one spare sandbox started, so a new
container costs no interpreter start-up, and kills them all on demand.

A sandbox (`ptc_jupyter/sandbox/process.py`, shared with `--sandbox local`) is one REPL subprocess
in a private directory with a minimal environment, under the limits of a `SandboxConfig`; this
module re-exports its names for the emulator's other modules.
"""

from __future__ import annotations

import asyncio
import threading

from ptc_jupyter.sandbox.config import SandboxConfig
from ptc_jupyter.sandbox.process import KEPT_VARIABLES, REPL_PATH, Sandbox, SandboxDied, make_workdir, sandbox_env

__all__ = ["KEPT_VARIABLES", "REPL_PATH", "Sandbox", "SandboxDied", "SandboxPool", "make_workdir", "sandbox_env"]


class SandboxPool:
    """Starts sandboxes, keeps one warm spare, and kills every one of them on demand."""

    def __init__(self, loop: asyncio.AbstractEventLoop, config: SandboxConfig | None = None) -> None:
        self.loop = loop
        self.config = config or SandboxConfig(network=True)
        self._spare: Sandbox | None = None
        self._all: set[Sandbox] = set()
        self._lock = threading.Lock()  # kill_all() runs on the caller's thread
        self._closed = False

    def _spawn(self) -> Sandbox:
        if self._closed:
            raise SandboxDied("the emulator is stopping")
        sandbox = Sandbox(self.loop, self.config)
        with self._lock:
            self._all.add(sandbox)
        sandbox.exited.add_done_callback(lambda _f: self._forget(sandbox))
        return sandbox

    def _forget(self, sandbox: Sandbox) -> None:
        with self._lock:
            self._all.discard(sandbox)
        if self._spare is sandbox:
            self._spare = None

    def prewarm(self) -> None:
        if self._spare is None and not self._closed:
            self._spare = self._spawn()

    async def warm(self) -> None:
        """Start the spare and wait until it is ready."""
        self.prewarm()
        if self._spare is not None:
            await self._spare.ready

    async def acquire(self) -> Sandbox:
        """A ready sandbox, the warm spare when there is one; a new spare starts behind it."""
        sandbox, self._spare = self._spare, None
        if sandbox is None or not sandbox.alive:
            sandbox = self._spawn()
        try:
            await sandbox.ready
        except SandboxDied:
            sandbox = self._spawn()
            await sandbox.ready
        self.prewarm()
        return sandbox

    def live_count(self) -> int:
        with self._lock:
            return sum(1 for s in self._all if s.proc.poll() is None)

    def kill_all(self) -> list[Sandbox]:
        """Kill every sandbox and start no more; callable from any thread. Returns them."""
        self._closed = True
        with self._lock:
            sandboxes = list(self._all)
        for sandbox in sandboxes:
            sandbox.kill()
        return sandboxes
