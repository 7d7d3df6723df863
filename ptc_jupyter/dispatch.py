"""Run one batch of tool calls concurrently: async tools gathered on the loop, sync tools in an executor.

Any `concurrent.futures.Executor` works (threads by default; a process pool or
`distributed.Client(...).get_executor()` for CPU-bound tools). Every call ends with a text result:
exceptions, bad input, timeouts and refusals become `is_error` results, never a crash of the loop.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from anthropic.lib.tools import ToolError

from .results import cap, to_text
from .tools import Tool, ToolInputError
from .trace import ToolCall

DEFAULT_TOOL_TIMEOUT_S = 200.0  # under the API's ~4-minute wait for a pending programmatic call
ERROR_TEXT_BYTES = 2_000
DEFAULT_WORKERS = 64

Approver = Callable[[ToolCall, Tool], Awaitable["bool | str"]]  # True allows; False or a reason denies
CallListener = Callable[[ToolCall], None]
NoticeListener = Callable[[str], None]

_shared_pool: ThreadPoolExecutor | None = None
_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+


def shared_executor() -> ThreadPoolExecutor:
    """One bounded thread pool per process, reused by every run (never one per cell)."""
    global _shared_pool
    if _shared_pool is None:
        _shared_pool = ThreadPoolExecutor(max_workers=DEFAULT_WORKERS, thread_name_prefix="ptc-tool")
    return _shared_pool


def error_text(message: str) -> str:
    return cap(f"Error: {message}", ERROR_TEXT_BYTES)


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, ToolError):
        content = exc.content
        if isinstance(content, str):
            return content
        return " ".join(str(b.get("text", f"[{b.get('type', 'block')}]")) for b in content)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Dispatcher:
    """Runs batches of `ToolCall`s against `Tool`s, filling each call's status/output/timing in place."""

    def __init__(
        self,
        executor: Executor | None = None,
        *,
        timeout_s: float | None = DEFAULT_TOOL_TIMEOUT_S,
        approve: Approver | None = None,
        on_start: CallListener | None = None,
        on_finish: CallListener | None = None,
        on_notice: NoticeListener | None = None,
        clock_origin: float | None = None,
    ) -> None:
        self.executor = executor
        self.timeout_s = timeout_s
        self.approve = approve
        self.on_start = on_start
        self.on_finish = on_finish
        self.on_notice = on_notice
        self.origin = time.perf_counter() if clock_origin is None else clock_origin

    async def run_batch(self, calls: Sequence[ToolCall], tools: Mapping[str, Tool]) -> None:
        """Run every call at once; returns when all have a result. Cancelling marks the rest cancelled."""
        tasks = [asyncio.ensure_future(self._run_one(call, tools[call.name])) for call in calls]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for call in calls:
                if not call.done:
                    self._finish(call, "cancelled", error_text("cancelled by the user"), is_error=True)
            raise

    async def _run_one(self, call: ToolCall, tool: Tool) -> None:
        call.status = "running"
        call.started_s = time.perf_counter() - self.origin
        if self.on_start:
            self.on_start(call)
        try:
            kwargs = tool.validate(call.input)
        except ToolInputError as exc:
            self._finish(call, "error", error_text(str(exc)), is_error=True)
            return
        if tool.side_effects:
            decision = await self.approve(call, tool) if self.approve is not None else "(no way to ask for approval)"
            if decision is not True:
                reason = decision if isinstance(decision, str) and decision else "by user"
                self._finish(call, "denied", error_text(f"denied {reason}"), is_error=True)
                return
        try:
            value = await self._invoke(tool, kwargs)
        except asyncio.TimeoutError:
            hint = "" if tool.is_async else " (it may still be running in the background)"
            self._finish(call, "timeout", error_text(f"tool {tool.name!r} timed out after {self.timeout_s:g} s{hint}"),
                         is_error=True)
            return
        except asyncio.CancelledError:
            self._finish(call, "cancelled", error_text("cancelled by the user"), is_error=True)
            raise
        except Exception as exc:  # a tool's failure is the model's information, not the host's crash
            notice = getattr(exc, "run_notice", None)  # e.g. an MCP server that died: the user should know
            if notice and self.on_notice:
                self.on_notice(str(notice))
            self._finish(call, "error", error_text(describe_exception(exc)), is_error=True)
            return
        try:
            text = to_text(value, tool.max_result_bytes)
        except Exception as exc:
            self._finish(call, "error", error_text(f"result could not be turned into text: {describe_exception(exc)}"),
                         is_error=True)
            return
        self._finish(call, "ok", text, is_error=False)

    async def _invoke(self, tool: Tool, kwargs: dict[str, Any]) -> Any:
        if tool.is_async:
            if self.timeout_s is None:
                return await tool.invoke(**kwargs)
            if _timeout is not None:  # 3.11+: awaited in this task; wait_for would wrap it in a second one
                async with _timeout(self.timeout_s):
                    return await tool.invoke(**kwargs)
            work = tool.invoke(**kwargs)
        else:
            loop = asyncio.get_running_loop()
            work = loop.run_in_executor(self.executor or shared_executor(), functools.partial(tool.invoke, **kwargs))
        if self.timeout_s is None:
            return await work
        return await asyncio.wait_for(work, self.timeout_s)

    def _finish(self, call: ToolCall, status: str, output: str, *, is_error: bool) -> None:
        call.status = status  # type: ignore[assignment]
        call.output = output
        call.is_error = is_error
        if call.started_s is None:
            call.started_s = time.perf_counter() - self.origin
        call.duration_s = time.perf_counter() - self.origin - call.started_s
        if self.on_finish:
            self.on_finish(call)

    def reject(self, call: ToolCall, reason: str) -> None:
        """Answer a call the host refuses to run (policy), without running anything."""
        call.started_s = time.perf_counter() - self.origin
        self._finish(call, "rejected", error_text(reason), is_error=True)
