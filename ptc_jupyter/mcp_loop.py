"""The MCP loop thread: one daemon thread running one event loop, where every MCP connection lives.

Runs of `ptc.run` may each use a different loop (the kernel's, a worker thread's, `asyncio.run`'s);
a connection must stay on one. Callers on any loop reach this one through `bridge` (async) or
`run` (blocking, from any other thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

STOP_TIMEOUT_S = 10.0


class LoopThread:
    """A daemon thread running one event loop, started on first use (and again after `stop`)."""

    def __init__(self, name: str = "ptc-mcp") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=self._serve, args=(loop,), name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

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
            loop.close()

    def in_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run `coro` on the thread's loop and wait for it (from any other thread)."""
        if self.in_thread():
            coro.close()
            raise RuntimeError("blocking call on the MCP loop thread itself (use the async form)")
        return self.submit(coro).result(timeout_s)

    async def bridge(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on the thread's loop from any loop; cancelling the caller cancels it there too."""
        if self.in_thread():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join(timeout_s)
