"""Deadlines of one tool call: an async tool awaited step by step (timed, cancelled at its
deadline, abandoned if it ignores that), and a sync call's expiry in the executor."""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any


class ToolExit(RuntimeError):
    """A tool called `sys.exit()`: its error, instead of stopping the event loop or the kernel."""


def cancel_requests(task: asyncio.Task[Any] | None) -> int:
    """Pending cancel requests of `task` (Python 3.11+; 0 where unknown)."""
    cancelling = getattr(task, "cancelling", None)
    return cancelling() if cancelling is not None else 0


class Expired(Exception):
    """Raised inside the awaiting task when an async tool's time is up."""

    def __init__(self, *, stopped: bool) -> None:
        super().__init__()
        self.stopped = stopped


class CallWatch:
    """One async call's deadline and loop time, kept in the task that awaits the tool.

    At the deadline the task is cancelled; a tool that does not end within `grace_s` of that (it
    ignored the cancellation, or its cleanup hangs) is abandoned by a second cancel. Each step of
    the tool is timed: a long step is the event loop being blocked.
    """

    def __init__(self, deadline: float | None, grace_s: float) -> None:
        self.longest_s = 0.0
        self.expired = False
        self.given_up = False
        self.grace_s = grace_s
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self._cancels = 0
        self._timers = [] if deadline is None else [self._loop.call_at(deadline, self._expire)]

    def step(self, seconds: float) -> None:
        self.longest_s = max(self.longest_s, seconds)

    def _cancel_task(self) -> None:
        if self._task is not None:
            self._cancels += 1
            self._task.cancel()

    def _expire(self) -> None:
        self.expired = True
        self._cancel_task()

    def _give_up(self) -> None:
        self.given_up = True
        self._cancel_task()

    def user_cancelled(self) -> bool:
        """A cancel request beyond this watch's own ones: the user stopped the run."""
        return cancel_requests(self._task) > self._cancels

    def start_grace(self) -> None:
        if len(self._timers) == 1:
            self._timers.append(self._loop.call_later(self.grace_s, self._give_up))

    def close(self) -> None:
        """Stop the timers and withdraw this watch's cancel requests from the task."""
        for timer in self._timers:
            timer.cancel()
        uncancel = getattr(self._task, "uncancel", None)
        for _ in range(self._cancels if uncancel is not None else 0):
            uncancel()


@types.coroutine
def drive(coro: Coroutine[Any, Any, Any], watch: CallWatch) -> Generator[Any, Any, Any]:
    """Await `coro` one step at a time, timing each step (the time the loop is held). A deadline
    cancel ends as `Expired`; `sys.exit()` in the tool becomes `ToolExit`, so it cannot stop the loop."""
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        started = time.perf_counter()
        try:
            yielded = coro.send(to_send) if to_throw is None else coro.throw(to_throw)
        except StopIteration as done:
            return done.value
        except SystemExit as exc:
            raise ToolExit(f"called sys.exit({exc.code!r}); raise an exception to report a failure") from None
        except asyncio.CancelledError:
            if watch.expired and not watch.user_cancelled():
                raise Expired(stopped=True) from None
            raise
        finally:
            watch.step(time.perf_counter() - started)
        to_send, to_throw = None, None
        try:
            to_send = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except asyncio.CancelledError as exc:
            if watch.given_up and not watch.user_cancelled():
                raise Expired(stopped=False) from None
            if watch.expired:
                watch.start_grace()
            to_throw = exc
        except BaseException as exc:  # any other throw goes on to the tool
            to_throw = exc


async def as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class Expiry:
    """A sync call's deadline: withdraws the job if it has not started (at once, before any other
    call's expiry frees a thread for it) and wakes the task, which can tell a timeout from a Stop."""

    def __init__(self, job: Future[Any], waiter: asyncio.Future[Any], deadline: float | None) -> None:
        self.expired = False
        self.never_started = False
        self._job = job
        self._waiter = waiter
        loop = asyncio.get_running_loop()
        self._timer = None if deadline is None else loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self.expired = True
        self.never_started = self._job.cancel()
        self._waiter.cancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class StartedTooLate(Exception):
    """A worker took the job only after its call's deadline: it is not run at all."""


def call_sync(fn: Callable[..., Any], kwargs: dict[str, Any], start_by: float | None = None) -> Any:
    """Run a sync tool (in a worker; module level, so process pools can pickle it). A job picked up
    after `start_by` (the loop's monotonic clock) is skipped; `sys.exit()` becomes `ToolExit`."""
    if start_by is not None and time.monotonic() >= start_by:
        raise StartedTooLate()
    try:
        return fn(**kwargs)
    except SystemExit as exc:
        raise ToolExit(f"called sys.exit({exc.code!r}); raise an exception to report a failure") from None
    except asyncio.CancelledError:
        raise RuntimeError("the tool raised CancelledError") from None


@dataclass(frozen=True)
class Budget:
    """When a call must be over (the loop's clock; None: never), and how to say it in an error."""

    deadline: float | None
    text: str
