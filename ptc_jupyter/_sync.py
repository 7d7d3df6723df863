"""Run a coroutine to completion from synchronous code, even where an event loop is already running.

Inside Jupyter a cell runs while the kernel's loop is running, so `asyncio.run` is refused. Then the
coroutine gets a private loop in a worker thread; the caller waits on an Event (not `Thread.join`,
which an interrupt leaves in a broken state on CPython 3.11), and a KeyboardInterrupt cancels the
task and lets its `finally` blocks run before re-raising.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], *, grace_s: float = 5.0) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    return run_in_worker_loop(coro, grace_s=grace_s)


def run_in_worker_loop(
    coro: Coroutine[Any, Any, T], *, grace_s: float = 5.0, wait: Callable[[threading.Event], None] | None = None
) -> T:
    """`wait(done)` is how the caller's thread waits for the run (default `done.wait()`); it may do
    other work meanwhile (e.g. ask the user a question) and must return once `done` is set."""
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    ready, done = threading.Event(), threading.Event()

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            box["task"] = loop.create_task(coro)
            ready.set()
            box["result"] = loop.run_until_complete(box["task"])
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                ready.set()
                done.set()

    threading.Thread(target=target, name="ptc-loop", daemon=True).start()
    ready.wait()
    try:
        if wait is None:
            done.wait()
        else:
            wait(done)
    except KeyboardInterrupt:
        task = box.get("task")
        if task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        done.wait(grace_s)
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]
