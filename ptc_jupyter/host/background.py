"""The one background loop: a daemon thread running one event loop for work that outlives a cell.

Sync `ptc.run` from a script or a notebook cell, and every MCP connection, run here, so SDK
clients and connections stay on one loop (an HTTP connection or an anyio context belongs to the
loop that made it) and have one owner that closes them. Callers on any loop reach it through
`bridge` (async) or `run` (blocking, from any other thread). `stop()` runs the registered
`on_stop` cleanups on the loop (closing clients, connections), then ends the thread.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0
CANCEL_GRACE_S = 5.0  # after an interrupt, how long `run` waits for the coroutine's `finally` blocks


class LoopThread:
    """A daemon thread running one event loop, started on first use (and again after `stop`)."""

    def __init__(self, name: str = "ptc-background") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._cleanups: list[Callable[[], Awaitable[None]]] = []

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=self._serve, args=(loop,), name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def in_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        timeout_s: float | None = None,
        wait: Callable[[threading.Event], None] | None = None,
    ) -> T:
        """Run `coro` on the thread's loop and wait for it (from any other thread).

        `wait(done)` is how the calling thread waits (default: `done.wait()`); it may do other work
        meanwhile, such as asking the user a question, and must return once `done` is set. A
        KeyboardInterrupt while waiting cancels the coroutine, lets its `finally` blocks run, and is
        raised again. Waiting is on an Event, never `Thread.join` (which an interrupt breaks on 3.11).
        """
        if self.in_thread():
            coro.close()
            raise RuntimeError("blocking call on the background loop thread itself (use the async form)")
        done = threading.Event()

        async def until_done() -> T:
            try:
                return await coro
            finally:  # set once the coroutine's own finally blocks ran, cancelled or not
                done.set()

        future = self.submit(until_done())
        try:
            if wait is not None:
                wait(done)
            elif not done.wait(timeout_s):
                future.cancel()
                raise TimeoutError(f"the background task did not finish within {timeout_s} s")
        except KeyboardInterrupt:
            future.cancel()  # cancels the task on the loop
            done.wait(CANCEL_GRACE_S)
            raise
        return future.result()

    async def bridge(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on the thread's loop from any loop; cancelling the caller cancels it there too."""
        if self.in_thread():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def on_stop(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Have `stop()` await `cleanup()` on the loop before the thread ends (once)."""
        with self._lock:
            if cleanup not in self._cleanups:
                self._cleanups.append(cleanup)

    async def _run_cleanups(self) -> None:
        with self._lock:
            cleanups, self._cleanups = self._cleanups, []
        for cleanup in cleanups:
            try:
                await cleanup()
            except Exception:  # one failing cleanup must not keep the others from running
                log.exception("background cleanup %r failed", cleanup)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Run the cleanups, stop the loop, and wait for the thread to end."""
        if self.running and not self.in_thread() and self._cleanups:
            try:
                self.submit(self._run_cleanups()).result(timeout_s)
            except (concurrent.futures.TimeoutError, RuntimeError):
                log.warning("background cleanups did not finish within %s s", timeout_s)
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join(timeout_s)


#: The process-wide background loop (sync `ptc.run`, MCP connections). Stopped at interpreter exit.
background_loop = LoopThread()
atexit.register(background_loop.stop)
