"""The parent side of a sandbox: one REPL subprocess (`repl.py`) read from an asyncio loop.

Reading uses `loop.add_reader` on the child's pipe, so no thread is spent per process (POSIX only).
The child leads a session and process group of its own. What its script starts is killed when the
script ends (as a bash step's background processes are), and `kill()` kills everything of the
sandbox; `tree.py` finds those processes, and its watch kills a sandbox with more than
`max_processes` of them.

Each child works in a fresh private temporary directory (its HOME and cwd, with `$OUTPUT_DIR` =
`outputs/` and `$INPUT_DIR` = `inputs/` in it), removed when the child is killed (or by the child,
if the parent dies first), and sees a minimal environment: none of the kernel's variables (API
keys and the like) besides what Python needs. This keeps keys out of scripts' way; it is no
security boundary (see docs/security.md). Bash steps (the emulator's) run in the same directory
and environment, in process groups of their own, registered in `groups` while they run.

The channel, JSON lines over the child's private copies of fds 0 and 1:

Parent -> child:  {"op": "run", "run_id", "code", "tools": [names], "deadline_s", "ack", "output_limit_bytes"?,
                   "positional"?: {name: parameter}}   (tools taking a lone string: arguments.py)
                  {"op": "results", "run_id", "ack", "results": [{"id", "content"}]}
                  {"op": "cancel", "run_id"}
                  {"op": "interrupt", "run_id", "reason"}   (a time limit passed: stop the script)
Child -> parent:  {"ev": "ready", "pid", "enforced": {"memory", "network", "subreaper"}}
                  {"ev": "blocked", "run_id", "ack", "calls": [{"id", "name", "input"}]}
                  {"ev": "expired", "run_id", "ids": [...]}        (pending-call deadline passed)
                  {"ev": "done", "run_id", "stdout", "stderr", "return_code", "truncated"}
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from ptc_jupyter.sandbox.config import SandboxConfig
from ptc_jupyter.sandbox.tree import WATCH, kill_tree

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


def repl_command(workdir: Path, config: SandboxConfig) -> list[str]:
    command = [sys.executable, "-u", str(REPL_PATH), "--workdir", str(workdir)]
    if config.memory_bytes is not None:
        command += ["--memory-bytes", str(config.memory_bytes)]
    if not config.network:
        command.append("--no-network")
    return command


class SandboxDied(RuntimeError):
    """The REPL process exited (killed on expiry or stop, or crashed)."""


class Sandbox:
    """One REPL subprocess. Events from the child go to `on_event`; use only on the loop's thread
    (but `kill()`, from any).

    `enforced` (known once `ready`) says which limits the OS enforces: {"memory", "network",
    "subreaper"}. `kill_reason` says why the watch killed it, if it did.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, config: SandboxConfig | None = None) -> None:
        if os.name != "posix":
            raise RuntimeError("the sandbox needs a POSIX system (Linux or macOS); on Windows, use WSL")
        self.loop = loop
        self.config = config or SandboxConfig()
        self.workdir = make_workdir()
        self.env = sandbox_env(self.workdir)
        self.groups: set[int] = set()  # process groups of running bash steps, killed with the sandbox
        self.enforced: dict[str, bool] = {}
        self.kill_reason: str | None = None
        self.script_running = False
        try:
            self.proc = subprocess.Popen(
                repl_command(self.workdir, self.config),
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

    # --- what the process watch needs ---------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A script or a bash step runs: the watch counts this sandbox's processes."""
        return (self.script_running or bool(self.groups)) and self.alive

    @property
    def max_processes(self) -> int | None:
        return self.config.max_processes

    def roots(self) -> list[int]:
        """The REPL and the bash steps' group leaders (from any thread: `groups` is copied at once)."""
        return [self.pid, *self.groups.copy()]

    def add_group(self, pgid: int) -> None:
        """A bash step started (in process group `pgid`)."""
        self.groups.add(pgid)
        WATCH.update(self)

    def discard_group(self, pgid: int) -> None:
        self.groups.discard(pgid)
        WATCH.update(self)

    # --- the channel --------------------------------------------------------------------------------

    def send(self, message: dict) -> None:
        """Write one protocol line; a dead child is noticed by the reader, not here."""
        if not self.alive:
            return
        if message["op"] == "run":
            self.script_running = True
            WATCH.update(self)
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
                self.enforced = event.get("enforced", {})
                if not self.ready.done():
                    self.ready.set_result(None)
                continue
            if event["ev"] == "done":
                self.script_running = False
                WATCH.update(self)
                kill_tree([self.pid], spare=self.pid)  # what the script left running ends with it
            if self.on_event is not None:
                self.on_event(event)

    def _on_eof(self) -> None:
        self.loop.remove_reader(self._fd)
        self.kill()  # the channel closed: whatever is left of the sandbox goes too
        self.close_pipes()
        self.script_running = False
        WATCH.update(self)
        if not self.ready.done():
            self.ready.set_exception(SandboxDied("the sandbox process exited before it was ready"))
            self.ready.exception()  # mark retrieved: nobody may be waiting on a spare
        if not self.exited.done():
            self.exited.set_result(None)
        if self.on_event is not None:
            self.on_event({"ev": "died", "reason": self.kill_reason})

    def kill(self, reason: str | None = None) -> None:
        """Kill every process of the sandbox, reap the REPL and remove the workdir; safe from any
        thread, idempotent. `reason` (the first one given) goes with the "died" event.

        The pipes stay open: the loop's reader sees EOF and closes them on its own thread
        (closing an fd under a live selector registration would corrupt the selector).
        """
        if reason is not None and self.kill_reason is None and self.proc.poll() is None:
            self.kill_reason = reason
        kill_tree(self.roots())
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
