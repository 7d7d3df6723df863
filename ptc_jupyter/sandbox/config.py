"""`SandboxConfig`: the limits of one sandbox, a local one (`--sandbox local`) or an emulator container.

What each limit enforces on which OS: docs/security.md ("Limits on scripts"). None of them makes the
sandbox a security boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3
#: How long a script asked to stop (its time limit passed, or it was cancelled) may take before its
#: process is replaced: a busy loop in C, or a script ignoring signals, never notices the request.
STOP_GRACE_S = 2.0


@dataclass(frozen=True)
class SandboxConfig:
    """Limits of a sandbox's scripts.

    wall_time_s: how long one script may run, not counting the time it waits for its tool calls
        (as the API's per-cell limit). Past it the script is interrupted: return code 1, the reason
        in stderr, REPL state kept; a script that does not stop within STOP_GRACE_S (a busy C loop,
        signals ignored) costs the sandbox its process and REPL state. None: no limit.
    memory_bytes: the memory each process of the sandbox may allocate (RLIMIT_DATA on Linux, which
        counts the heap and private mappings; RLIMIT_AS elsewhere). An allocation past it raises
        MemoryError in the script; the sandbox goes on. None: no limit.
    output_bytes: how much of stdout and of stderr (each, UTF-8 bytes) a script's result keeps; the
        rest is dropped with a marker saying how much.
    network: False cuts the sandbox off every network, loopback included, where the OS allows it (a
        network namespace of its own on Linux); `LocalSandbox.enforced` says whether it did.
    max_processes: the most processes the sandbox may have at once, its REPL included. Past it
        every one of them is killed (a watchdog counts them every WATCH_INTERVAL_S while a script
        runs): the script ends with return code 137 and the reason, and REPL state is lost. None: no cap.
    """

    wall_time_s: float | None = 90.0
    memory_bytes: int | None = 2 * GIB
    output_bytes: int = 100_000
    network: bool = False
    max_processes: int | None = 64

    def __post_init__(self) -> None:
        if self.wall_time_s is not None and not self.wall_time_s > 0:
            raise ValueError(f"wall_time_s must be positive or None, not {self.wall_time_s!r}")
        if self.memory_bytes is not None and (not isinstance(self.memory_bytes, int) or self.memory_bytes < 1 << 24):
            raise ValueError(f"memory_bytes must be an int of at least 16 MiB or None, not {self.memory_bytes!r}")
        if not isinstance(self.output_bytes, int) or self.output_bytes < 1:
            raise ValueError(f"output_bytes must be a positive int, not {self.output_bytes!r}")
        if self.max_processes is not None and (not isinstance(self.max_processes, int) or self.max_processes < 1):
            raise ValueError(f"max_processes must be a positive int or None, not {self.max_processes!r}")
