"""Run one batch of tool calls concurrently: async tools awaited on the loop, sync tools in an executor.

Any `concurrent.futures.Executor` works (by default `ToolThreads`, shared by every run; a process
pool or `distributed.Client(...).get_executor()` for CPU-bound tools). Every call ends with a text
result: exceptions, bad input, timeouts, refusals and unusable return values become `is_error`
results, never a crash of the loop, and one faulty call never keeps the others of its batch from
finishing. An `async def` tool that blocks the loop is reported through `on_notice`.

Side-effect calls run only when the approver allows them. An approver that also has a `batch`
method (`BatchApprover`) is asked once for all the side-effect calls of a batch that passed input
validation; with one such call, or an approver without `batch`, each call is asked on its own.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Protocol

from anthropic.lib.tools import ToolError

from ptc_jupyter.calls.deadlines import (
    Budget,
    CallWatch,
    Expired,
    Expiry,
    StartedTooLate,
    ToolExit,
    as_coroutine,
    call_sync,
    cancel_requests,
    drive,
)
from ptc_jupyter.calls.results import UnusableResult, safe_text, to_text
from ptc_jupyter.calls.threads import ToolThreads, shared_executor
from ptc_jupyter.calls.tools import Tool, ToolInputError
from ptc_jupyter.constants import DEFAULT_TOOL_TIMEOUT_S
from ptc_jupyter.trace.run import ToolCall

log = logging.getLogger(__name__)

ERROR_TEXT_BYTES = 2_000
#: An async tool whose code runs this long without awaiting gets a run notice (the loop froze).
LOOP_BLOCK_NOTICE_S = 0.5
#: How long a timed-out async tool may take to stop after it is cancelled.
CANCEL_GRACE_S = 1.0

Approver = Callable[[ToolCall, Tool], Awaitable["bool | str"]]  # True allows; False or a reason denies
Decisions = dict[str, "bool | str"]  # call id -> True (allow) or False / a reason (deny)
CallListener = Callable[[ToolCall], None]
NoticeListener = Callable[[str], None]


class BatchApprover(Protocol):
    """An approver that can also answer for several side-effect calls at once (one question for a
    batch). A call missing from the answer is denied. What the user allows "for the rest of this
    run" the approver remembers itself, and answers later calls of that tool without asking."""

    def __call__(self, call: ToolCall, tool: Tool) -> Awaitable[bool | str]: ...

    async def batch(self, calls: list[ToolCall], tools: Mapping[str, Tool]) -> Decisions: ...


class _CallTimeout(Exception):
    """The call did not end (or start) in time; the message says which and why."""


def error_text(message: str) -> str:
    return safe_text(f"Error: {message}", ERROR_TEXT_BYTES)


def _safe_str(obj: object) -> str:
    try:
        return str(obj)
    except Exception as exc:  # a broken __str__ must not hide the failure it describes
        return f"<{type(obj).__name__}; str() raised {type(exc).__name__}>"


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, ToolError):
        content = exc.content
        if isinstance(content, str):
            return content
        return " ".join(str(b.get("text", f"[{b.get('type', 'block')}]")) for b in content)
    text = _safe_str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True)
class _Checked:
    """A side-effect call of a batch that passed validation, and the one question asked for the
    batch (None: this call is asked on its own). The question ends with None if time ran out."""

    kwargs: dict[str, Any]
    budget: Budget
    question: asyncio.Future[Decisions | None] | None
    question_budget: Budget


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
        loop_block_notice_s: float | None = LOOP_BLOCK_NOTICE_S,
        cancel_grace_s: float = CANCEL_GRACE_S,
    ) -> None:
        self.executor = executor
        self.timeout_s = timeout_s
        self.approve = approve
        self.on_start = on_start
        self.on_finish = on_finish
        self.on_notice = on_notice
        self.origin = time.perf_counter() if clock_origin is None else clock_origin
        self.loop_block_notice_s = loop_block_notice_s
        self.cancel_grace_s = cancel_grace_s
        self._loop_blockers: set[str] = set()

    async def run_batch(
        self, calls: Sequence[ToolCall], tools: Mapping[str, Tool], *, deadline: float | None = None
    ) -> None:
        """Run every call at once; returns when all have a result. Cancelling marks the rest cancelled.

        `deadline` (the loop's clock) bounds each call's whole budget, approval wait included: the
        API stops waiting for a pending call's result, so a call that would end later gets its
        error result in time instead of a late answer."""
        checked, answered = self._ask_together(calls, tools, deadline)
        questions: set[asyncio.Future[Any]] = {c.question for c in checked.values() if c.question is not None}
        tasks = [
            asyncio.ensure_future(self._run_one(call, tools[call.name], deadline, checked.get(call.id)))
            for call in calls
            if call.id not in answered
        ]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in (*tasks, *questions):
                task.cancel()
            await asyncio.gather(*tasks, *questions, return_exceptions=True)
            for call in calls:
                if not call.done:
                    self._finish(call, "cancelled", error_text("cancelled by the user"), is_error=True)
            raise

    def _ask_together(
        self, calls: Sequence[ToolCall], tools: Mapping[str, Tool], deadline: float | None
    ) -> tuple[dict[str, _Checked], set[str]]:
        """With a `BatchApprover` and several side-effect calls: start and validate those calls,
        then put the one question for the valid ones, due by the earliest of their deadlines.
        Returns (the valid ones, the ids of those already answered: a bad input gets its error
        result as usual). Nothing when each call is asked on its own."""
        ask = getattr(self.approve, "batch", None)
        asking = [call for call in calls if tools[call.name].side_effects]
        if ask is None or len(asking) < 2:
            return {}, set()
        valid: dict[str, tuple[dict[str, Any], Budget]] = {}
        answered: set[str] = set()
        for call in asking:
            self._start(call)
            budget = self._budget(deadline)
            kwargs = self._checked_input(call, tools[call.name])
            if kwargs is None:
                answered.add(call.id)
            else:
                valid[call.id] = (kwargs, budget)
        question, due = None, None
        if len(valid) > 1:
            due = min(
                (budget for _, budget in valid.values()),
                key=lambda b: float("inf") if b.deadline is None else b.deadline,
            )
            together = [call for call in asking if call.id in valid]
            question = asyncio.ensure_future(self._ask_batch(ask, together, tools, due))
        checked = {
            call_id: _Checked(kwargs, budget, question, due or budget) for call_id, (kwargs, budget) in valid.items()
        }
        return checked, answered

    async def _ask_batch(
        self, ask: Callable[..., Awaitable[Decisions]], calls: list[ToolCall], tools: Mapping[str, Tool], due: Budget
    ) -> Decisions | None:
        """The approver's decisions for `calls`; None if none came by `due`. An approver that
        fails denies, saying why."""
        try:
            if due.deadline is None:
                decisions = await ask(calls, tools)
            else:
                left = max(0.0, due.deadline - asyncio.get_running_loop().time())
                decisions = await asyncio.wait_for(ask(calls, tools), left)
        except asyncio.TimeoutError:
            return None
        except Exception as exc:  # the approver's own bug: nothing runs, and the reason is visible
            log.exception("the approver's batch() failed")
            reason = f"(the approver failed: {describe_exception(exc)})"
            return {call.id: reason for call in calls}
        return dict(decisions) if isinstance(decisions, Mapping) else {}

    async def _run_one(
        self, call: ToolCall, tool: Tool, batch_deadline: float | None = None, checked: _Checked | None = None
    ) -> None:
        if checked is None:
            self._start(call)
            budget = self._budget(batch_deadline)
            kwargs = self._checked_input(call, tool)
            if kwargs is None or not await self._approved(call, tool, budget):
                return
        else:
            kwargs, budget = checked.kwargs, checked.budget
            if checked.question is None:
                allowed = await self._approved(call, tool, budget)
            else:
                allowed = self._decided(call, await asyncio.shield(checked.question), checked.question_budget)
            if not allowed:
                return
        try:
            value = await self._invoke(tool, kwargs, budget)
        except asyncio.CancelledError:
            self._finish(call, "cancelled", error_text("cancelled by the user"), is_error=True)
            raise
        except _CallTimeout as exc:
            self._finish(call, "timeout", error_text(str(exc)), is_error=True)
            return
        except ToolExit as exc:
            self._finish(call, "error", error_text(f"tool {tool.name!r} {exc}"), is_error=True)
            return
        except Exception as exc:  # a tool's failure is the model's information, not the host's crash
            notice = getattr(exc, "run_notice", None)  # e.g. an MCP server that died: the user should know
            if notice and self.on_notice:
                self.on_notice(str(notice))
            self._finish(call, "error", error_text(describe_exception(exc)), is_error=True)
            return
        self._finish_with_value(call, tool, value)

    def _start(self, call: ToolCall) -> None:
        call.status = "running"
        call.started_s = time.perf_counter() - self.origin
        if self.on_start:
            self.on_start(call)

    def _checked_input(self, call: ToolCall, tool: Tool) -> dict[str, Any] | None:
        """The validated arguments, or None once the call has its error result."""
        try:
            return tool.validate(call.input)
        except ToolInputError as exc:
            message = str(exc)
        except Exception as exc:  # a validator's own failure still means: not run
            message = f"input of {tool.name} could not be checked: {describe_exception(exc)}"
        self._finish(call, "error", error_text(message), is_error=True)
        return None

    def _budget(self, batch_deadline: float | None) -> Budget:
        """This call's deadline: its own timeout, or the batch's deadline if that comes first."""
        now = asyncio.get_running_loop().time()
        own = None if self.timeout_s is None else now + self.timeout_s
        if batch_deadline is not None and (own is None or batch_deadline < own):
            left = max(0.0, batch_deadline - now)
            return Budget(batch_deadline, f"{left:.0f} s (what was left before the API stops waiting for this call)")
        return Budget(own, f"{self.timeout_s:g} s")

    async def _approved(self, call: ToolCall, tool: Tool, budget: Budget | None = None) -> bool:
        if not tool.side_effects:
            return True
        if self.approve is None:
            decision: bool | str = "(no way to ask for approval)"
        elif budget is None or budget.deadline is None:
            decision = await self.approve(call, tool)
        else:
            left = budget.deadline - asyncio.get_running_loop().time()
            try:
                decision = await asyncio.wait_for(self.approve(call, tool), max(0.0, left))
            except asyncio.TimeoutError:
                self._finish(call, "timeout", error_text(f"no approval within {budget.text}"), is_error=True)
                return False
        return self._allowed(call, decision)

    def _decided(self, call: ToolCall, decisions: Decisions | None, due: Budget) -> bool:
        """Apply the batch question's answer to one of its calls (no answer in time: a timeout)."""
        if decisions is None:
            self._finish(call, "timeout", error_text(f"no approval within {due.text}"), is_error=True)
            return False
        return self._allowed(call, decisions.get(call.id, "(the approver gave no answer for this call)"))

    def _allowed(self, call: ToolCall, decision: bool | str) -> bool:
        """True allows; anything else finishes the call as denied, with the reason if one was given."""
        if decision is True:
            return True
        reason = decision if isinstance(decision, str) and decision else "by user"
        self._finish(call, "denied", error_text(f"denied {reason}"), is_error=True)
        return False

    def _finish_with_value(self, call: ToolCall, tool: Tool, value: Any) -> None:
        try:
            text = to_text(value, tool.max_result_bytes)
        except UnusableResult as exc:
            self._finish(call, "error", error_text(f"tool {tool.name!r} {exc}"), is_error=True)
        except Exception as exc:  # e.g. a circular structure, a failing __str__: the model should know
            self._finish(
                call,
                "error",
                error_text(f"result could not be turned into text: {describe_exception(exc)}"),
                is_error=True,
            )
        else:
            self._finish(call, "ok", text, is_error=False)

    async def _invoke(self, tool: Tool, kwargs: dict[str, Any], budget: Budget | None = None) -> Any:
        """The tool's return value within its budget; a coroutine it returns is awaited too."""
        budget = budget or self._budget(None)
        if tool.is_async:
            value = await self._await(tool, tool.invoke(**kwargs), budget)
        else:
            value = await self._in_executor(tool, kwargs, budget)
        while inspect.iscoroutine(value):  # e.g. a plain-def wrapper around an async function
            value = await self._await(tool, value, budget)
        return value

    async def _await(self, tool: Tool, coro: Awaitable[Any], budget: Budget) -> Any:
        """Await an async tool in this task, with its deadline and loop-time watch (`CallWatch`)."""
        if not inspect.iscoroutine(coro):  # a future or another awaitable from a wrapped tool
            coro = as_coroutine(coro)
        watch = CallWatch(budget.deadline, self.cancel_grace_s)
        try:
            return await drive(coro, watch)
        except Expired as exc:
            hint = "" if exc.stopped else f" and did not stop within {self.cancel_grace_s:g} s of being cancelled"
            raise _CallTimeout(f"tool {tool.name!r} timed out after {budget.text}{hint}") from None
        finally:
            watch.close()
            self._check_loop_block(tool, watch.longest_s)

    async def _in_executor(self, tool: Tool, kwargs: dict[str, Any], budget: Budget) -> Any:
        """Run a sync tool in the executor. On timeout its worker is given up (`ToolThreads` adds
        a replacement), and a call that never got a worker says so."""
        executor = self.executor or shared_executor()
        deadline = budget.deadline
        start_by = deadline if isinstance(executor, ToolThreads) else None  # same clock: this process only
        job = executor.submit(call_sync, tool.invoke, kwargs, start_by)
        waiter = asyncio.wrap_future(job)
        expiry = Expiry(job, waiter, deadline)
        try:
            return await waiter
        except asyncio.CancelledError:
            if not expiry.expired or cancel_requests(asyncio.current_task()):
                self._give_up(executor, job)
                raise
        except StartedTooLate:
            expiry.never_started = True
        finally:
            expiry.close()
        if expiry.never_started or (job.done() and not job.cancelled() and isinstance(job.exception(), StartedTooLate)):
            busy = getattr(executor, "busy_reason", None)
            why = busy() if busy is not None else "the executor had no free worker"
            raise _CallTimeout(f"tool {tool.name!r} not started within {budget.text}: {why}")
        if job.done():  # finished just as the time ran out
            return job.result()
        self._give_up(executor, job)
        raise _CallTimeout(
            f"tool {tool.name!r} timed out after {budget.text} (it may still be running in the background)"
        )

    @staticmethod
    def _give_up(executor: Executor, job: Future[Any]) -> None:
        if job.cancel():
            return
        abandon = getattr(executor, "abandon", None)
        if abandon is not None:
            abandon(job)

    def _check_loop_block(self, tool: Tool, longest_s: float) -> None:
        """Tell the user (once per tool) that an async tool froze the event loop, and how to fix it."""
        limit = self.loop_block_notice_s
        if limit is None or longest_s < limit or tool.name in self._loop_blockers:
            return
        self._loop_blockers.add(tool.name)
        message = (
            f"tool {tool.name!r} blocked the event loop for {longest_s:.1f} s; make it a plain def "
            "(it then runs in a thread) or await its slow work"
        )
        log.warning(message)
        if self.on_notice:
            self.on_notice(message)

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
