"""`ToolThreads`: the default executor of sync tools, one per process, that a hung tool cannot starve.

A thread lost to a call that timed out (its tool still runs; Python cannot stop a thread) is
replaced, up to a hard cap, so later calls still get a worker; a call that never got one says why.
Threads are daemons, so a hung tool never keeps the kernel from exiting.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

DEFAULT_WORKERS = 64


@dataclass
class _Job:
    future: Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # handed to whoever awaits the future, as ThreadPoolExecutor does
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class ToolThreads(Executor):
    """The default executor for sync tools: bounded, but a thread lost to a hung call is replaced.

    Like `ThreadPoolExecutor(max_workers)`, except that `abandon(future)` (the dispatcher calls it
    when a running call times out) stops counting that call's thread against `max_workers`, so
    hung tools cannot starve later calls; at most `max_threads` threads exist at once. Threads are
    daemons, so a hung tool does not keep the kernel from exiting.
    """

    def __init__(
        self,
        max_workers: int = DEFAULT_WORKERS,
        *,
        max_threads: int | None = None,
        thread_name_prefix: str = "ptc-tool",
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.max_threads = max(max_workers, 4 * max_workers if max_threads is None else max_threads)
        self._prefix = thread_name_prefix
        self._cond = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._threads = 0
        self._idle = 0  # threads not running a job (waiting, or started and not yet waiting)
        self._abandoned: set[Future[Any]] = set()
        self._names = itertools.count()
        self._closed = False

    def _capacity(self) -> int:
        return min(self.max_workers + len(self._abandoned), self.max_threads)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        job = _Job(Future(), fn, args, kwargs)
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._pending.append(job)
            self._cond.notify()
            self._add_threads()
        return job.future

    def _add_threads(self) -> None:
        """Start threads while jobs outnumber idle threads and capacity allows (lock held)."""
        while len(self._pending) > self._idle and self._threads < self._capacity():
            self._threads += 1
            self._idle += 1
            name = f"{self._prefix}_{next(self._names)}"
            threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    self._exit_thread(idle=True)
                    return
                job = self._pending.popleft()
                self._idle -= 1
            job.run()
            with self._cond:
                self._abandoned.discard(job.future)
                if self._threads > self._capacity():  # a replacement took this thread's place
                    self._exit_thread(idle=False)
                    return
                self._idle += 1

    def _exit_thread(self, *, idle: bool) -> None:
        self._threads -= 1
        self._idle -= idle
        self._cond.notify_all()

    def abandon(self, future: Future[Any]) -> None:
        """The call of `future` timed out while running: give its thread up and add a replacement."""
        with self._cond:
            if future.running():
                self._abandoned.add(future)
                self._add_threads()

    def busy_reason(self) -> str:
        """Why a job has not started: for the error result of a call that waited in vain."""
        with self._cond:
            threads, lost = self._threads, len(self._abandoned)
        at_limit = f" (no more are started: the limit is {self.max_threads})" if threads >= self.max_threads else ""
        if lost and lost >= threads:
            return f"all {threads} worker threads are busy with calls that timed out{at_limit}"
        if lost:
            return f"all {threads} worker threads are busy, {lost} of them with calls that timed out{at_limit}"
        return f"all {threads} worker threads are busy{at_limit}"

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking jobs; `wait` waits for running calls, except those already abandoned."""
        with self._cond:
            self._closed = True
            while cancel_futures and self._pending:
                self._pending.popleft().future.cancel()
            self._cond.notify_all()
            while wait and self._threads > len(self._abandoned):
                self._cond.wait()


_shared_pool: ToolThreads | None = None


def shared_executor() -> ToolThreads:
    """One bounded thread pool per process, reused by every run (never one per cell)."""
    global _shared_pool
    if _shared_pool is None:
        _shared_pool = ToolThreads(DEFAULT_WORKERS, thread_name_prefix="ptc-tool")
    return _shared_pool
