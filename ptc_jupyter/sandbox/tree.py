"""The processes of a sandbox: finding them, counting them, and killing them all.

A sandbox's REPL leads a session and a process group of its own; on Linux it is also a child
subreaper, so what its script starts stays among its descendants even after `setsid` or a double
fork. The processes of a sandbox are its roots (the REPL, the bash steps' leaders), their
descendants, and every process of a root's session or group. They are read from /proc on Linux and
from `ps` elsewhere; RLIMIT_NPROC is no help (it counts a whole user's processes, and not root's).

`ProcessWatch` counts the processes of the busy sandboxes (a script or a bash step running) every
WATCH_INTERVAL_S on one thread, which exists only while some sandbox is busy, and kills every
process of a sandbox past its `max_processes`. Killing stops every process first (SIGSTOP, until
no new one appears) and then kills them (SIGKILL), so a process that forks while it is being killed
leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("ptc_jupyter.sandbox")

#: How often a busy sandbox's processes are counted.
WATCH_INTERVAL_S = 0.1
#: Rounds of "find and stop" when killing, enough for any tree that stops forking once stopped.
KILL_ROUNDS = 50


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    pgid: int
    sid: int  # -1 where the OS does not say (ps on macOS)
    zombie: bool


def process_table() -> dict[int, ProcessInfo]:
    """Every process of the machine that this user can see, by pid."""
    return _proc_table() if os.path.isdir("/proc/self/task") else _ps_table()


def _proc_table() -> dict[int, ProcessInfo]:
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        pid = int(name)
        table[pid] = ProcessInfo(pid, int(fields[1]), int(fields[2]), int(fields[3]), fields[0] in (b"Z", b"X"))
    return table


def _ps_table() -> dict[int, ProcessInfo]:
    try:
        out = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid=,pgid=,stat="], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].isdigit():
            pid = int(parts[0])
            table[pid] = ProcessInfo(pid, int(parts[1]), int(parts[2]), -1, parts[3].startswith("Z"))
    return table


def members(table: dict[int, ProcessInfo], roots: Collection[int]) -> set[int]:
    """The live (not zombie) processes of `roots`: themselves, their descendants, and the processes
    of their sessions and groups, with descendants of those."""
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found = {pid for pid in roots if pid in table}
    found |= {info.pid for info in table.values() if info.pgid in roots or info.sid in roots}
    stack = list(found)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return {pid for pid in found if not table[pid].zombie}


def _signal_all(pids: Iterable[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(roots: Collection[int], *, spare: int | None = None) -> int:
    """Kill every process of `roots` but `spare`; returns how many there were.

    Stopping them all before killing any keeps the tree whole while it is walked: a killed parent's
    children would otherwise move to another parent. Safe from any thread.
    """
    stopped: set[int] = set()
    for _ in range(KILL_ROUNDS):
        found = members(process_table(), roots) - stopped - {spare}
        if not found:
            break
        _signal_all(found, signal.SIGSTOP)
        stopped |= found
    _signal_all(stopped, signal.SIGKILL)
    if spare is None:
        for pgid in roots:  # atomic for the whole group, even for a member forking right now
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    return len(stopped)


class Watched(Protocol):
    """What `ProcessWatch` needs of a sandbox."""

    @property
    def busy(self) -> bool: ...

    @property
    def max_processes(self) -> int | None: ...

    def roots(self) -> list[int]: ...

    def kill(self, reason: str | None = None) -> None: ...


class ProcessWatch:
    """Counts the processes of busy sandboxes; kills a sandbox with more than its `max_processes`."""

    def __init__(self, interval_s: float = WATCH_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._watched: set[Watched] = set()
        self._thread: threading.Thread | None = None
        self._pause = threading.Event()  # never set: waited on between two counts

    def update(self, sandbox: Watched) -> None:
        """The sandbox became busy or idle; safe from any thread."""
        with self._lock:
            if sandbox.busy and sandbox.max_processes is not None:
                self._watched.add(sandbox)
            else:
                self._watched.discard(sandbox)
            if self._watched and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ptc-sandbox-watch", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                watched = list(self._watched)
                if not watched:
                    self._thread = None
                    return
            try:
                self._check(watched)
            except Exception:  # a bug here must not end the watch of every sandbox
                log.exception("counting the sandboxes' processes failed; the watch goes on")
            self._pause.wait(self.interval_s)

    def _check(self, watched: list[Watched]) -> None:
        table = process_table()
        for sandbox in watched:
            cap = sandbox.max_processes
            count = len(members(table, sandbox.roots()))
            if cap is not None and count > cap:
                with self._lock:
                    self._watched.discard(sandbox)
                sandbox.kill(
                    f"process limit: the sandbox had {count} processes, more than its limit of {cap} "
                    "(max_processes), so every one of them was killed."
                )


#: The process-wide watch every sandbox reports to.
WATCH = ProcessWatch()
