"""The REPL process's own OS plumbing: the limits it puts on itself at start, before any other thread
exists (unshare(2) needs a single thread), its private protocol channel, and reaping what its
scripts leave. Standard library only: `repl.py` loads this file by path.

What each does on which OS: docs/security.md ("Limits on scripts").
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_CHILD_SUBREAPER = 36


def apply(*, memory_bytes: int | None, network: bool) -> dict[str, bool]:
    """Apply the limits asked for; which ones the OS enforces (the REPL reports this to its parent)."""
    return {
        "memory": limit_memory(memory_bytes) if memory_bytes else False,
        "network": cut_network() if not network else False,
        "subreaper": become_subreaper(),
    }


def limit_memory(limit_bytes: int) -> bool:
    """Cap each process's memory; whether the OS enforces it (Linux: yes; macOS ignores both limits)."""
    try:
        import resource
    except ImportError:
        return False
    kind = resource.RLIMIT_DATA if memory_rlimit() == "DATA" else resource.RLIMIT_AS
    _soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    try:
        resource.setrlimit(kind, (limit_bytes, limit_bytes))
    except (ValueError, OSError):
        return False
    return sys.platform.startswith("linux")


def memory_rlimit() -> str:
    """ "DATA" where RLIMIT_DATA counts private mappings, so every allocation (Linux 4.7+), else "AS"."""
    if not sys.platform.startswith("linux"):
        return "AS"
    try:
        major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    except ValueError:
        return "AS"
    return "DATA" if (major, minor) >= (4, 7) else "AS"


def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def cut_network() -> bool:
    """Move this process into a network namespace of its own (no interface up); whether it worked.

    Root can do it at once; others through a user namespace mapping their own ids, where the
    system allows unprivileged user namespaces.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = _libc()
    except OSError:
        return False
    if libc.unshare(CLONE_NEWNET) == 0:
        return True
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        except OSError:  # the ids then show as nobody; the network is cut all the same
            pass
    return True


def become_subreaper() -> bool:
    """Linux: orphans among this process's descendants become its children, not init's."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_children() -> None:
    """Collect exited children nobody waits for (what earlier scripts left, and orphans given to this
    subreaper); a Popen of an earlier script then reads return code 0."""
    if not hasattr(os, "waitpid"):
        return
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def take_protocol_fds() -> tuple[io.BufferedReader, io.BufferedWriter]:
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return proto_in, proto_out
