"""The parent side of a container: one REPL subprocess (`repl.py`) read from the emulator's loop.

Reading uses `loop.add_reader` on the child's pipe, so no thread is spent per process. Each child
runs in its own process group, and `kill()` kills the whole group: a script that started
subprocesses of its own leaves nothing behind. `SandboxPool` keeps one spare process started, so
a new container costs no interpreter start-up.

Each child works in a fresh private temporary directory (its HOME and cwd, with `$OUTPUT_DIR` =
`outputs/` and `$INPUT_DIR` = `inputs/` in it), removed when the child is killed (or by the child,
if the emulator dies first), and sees a minimal environment: none of the kernel's variables (API
keys and the like) besides what Python needs. This keeps keys out of scripts' way; it is no
security boundary (see docs/security.md). Bash steps run in the same directory and environment, in
process groups of their own that `kill()` kills too.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Mapping

REPL_PATH = Path(__file__).with_name("repl.py")
#: The only variables a sandbox inherits (besides LC_*): enough for Python and subprocesses to run.
KEPT_VARIABLES = ("PATH", "LANG", "LANGUAGE", "SYSTEMROOT")


def sandbox_env(workdir: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment of a sandbox: kept variables, HOME, OUTPUT_DIR and INPUT_DIR in its workdir.

    PYTHONUSERBASE keeps the user's `pip install --user` packages importable despite the new HOME.
    """
    env = {k: v for k, v in environ.items() if k in KEPT_VARIABLES or k.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    env.update(HOME=str(workdir), OUTPUT_DIR=str(workdir / "outputs"), INPUT_DIR=str(workdir / "inputs"))
    if site.ENABLE_USER_SITE:
        env["PYTHONUSERBASE"] = site.getuserbase()
    return env


def make_workdir() -> Path:
    """A new private directory (mode 0700) with empty `outputs` and `inputs` folders."""
    workdir = Path(tempfile.mkdtemp(prefix="ptc-container-"))
    (workdir / "outputs").mkdir()
    (workdir / "inputs").mkdir()
    return workdir


class SandboxDied(RuntimeError):
    """The REPL process exited (killed on expiry or stop, or crashed)."""


class Sandbox:
    """One REPL subprocess. Events from the child go to `on_event`; use only on the loop's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.workdir = make_workdir()
        self.env = sandbox_env(self.workdir)
        self.groups: set[int] = set()  # process groups of running bash steps, killed with the sandbox
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", str(REPL_PATH), "--workdir", str(self.workdir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=self.workdir,
                env=self.env,
                start_new_session=True,
                close_fds=True,
            )
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        self.pid = self.proc.pid
        self.on_event: Callable[[dict], None] | None = None
        self.ready: asyncio.Future[None] = loop.create_future()
        self.exited: asyncio.Future[None] = loop.create_future()
        self._buffer = bytearray()
        self._fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        os.set_blocking(self._fd, False)
        loop.add_reader(self._fd, self._readable)

    @property
    def outputs(self) -> Path:
        return self.workdir / "outputs"

    @property
    def inputs(self) -> Path:
        return self.workdir / "inputs"

    @property
    def alive(self) -> bool:
        return not self.exited.done() and self.proc.poll() is None

    def send(self, message: dict) -> None:
        """Write one protocol line; a dead child is noticed by the reader, not here."""
        if not self.alive:
            return
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError):
            pass

    def _readable(self) -> None:
        try:
            chunk = os.read(self._fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._on_eof()
            return
        self._buffer += chunk
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            event = json.loads(line)
            if event["ev"] == "ready":
                if not self.ready.done():
                    self.ready.set_result(None)
            elif self.on_event is not None:
                self.on_event(event)

    def _on_eof(self) -> None:
        self.loop.remove_reader(self._fd)
        self.kill()  # the channel closed: whatever is left of the group goes too
        self.close_pipes()
        if not self.ready.done():
            self.ready.set_exception(SandboxDied("the sandbox process exited before it was ready"))
            self.ready.exception()  # mark retrieved: nobody may be waiting on a spare
        if not self.exited.done():
            self.exited.set_result(None)
        if self.on_event is not None:
            self.on_event({"ev": "died"})

    def kill(self) -> None:
        """Kill the process group, reap it and remove its workdir; safe from any thread, idempotent.

        The pipes stay open: the loop's reader sees EOF and closes them on its own thread
        (closing an fd under a live selector registration would corrupt the selector).
        """
        for pgid in [self.pid, *list(self.groups)]:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self.workdir, ignore_errors=True)

    def close_pipes(self) -> None:
        """Close our ends of the pipes: on EOF, or after the loop has stopped."""
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except (OSError, ValueError):
                pass


class SandboxPool:
    """Starts sandboxes, keeps one warm spare, and kills every one of them on demand."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._spare: Sandbox | None = None
        self._all: set[Sandbox] = set()
        self._lock = threading.Lock()  # kill_all() runs on the caller's thread
        self._closed = False

    def _spawn(self) -> Sandbox:
        if self._closed:
            raise SandboxDied("the emulator is stopping")
        sandbox = Sandbox(self.loop)
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
