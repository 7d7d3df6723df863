"""dispatch.py: one batch runs at once; every call ends with a text result, errors included."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
from anthropic.lib.tools import ToolError

from ptc_jupyter.calls.dispatch import LOOP_BLOCK_NOTICE_S, Dispatcher
from ptc_jupyter.calls.threads import ToolThreads
from ptc_jupyter.calls.tools import Tool, function_tool
from ptc_jupyter.trace.run import ToolCall

N = 50


def calls_for(name: str, inputs: list[dict]) -> list[ToolCall]:
    return [ToolCall(id=f"toolu_{i}", name=name, input=inp) for i, inp in enumerate(inputs)]


def run(dispatcher: Dispatcher, calls, tools) -> None:
    asyncio.run(dispatcher.run_batch(calls, {t.name: t for t in tools}))


def cube(n: int) -> int:
    """n cubed (module level, so a process pool can pickle it)."""
    return n**3


def test_async_calls_of_a_batch_overlap():
    arrived, everyone_in = 0, None

    async def meet(i: int) -> int:
        """Waits until all N calls are in flight at once, then returns i."""
        nonlocal arrived, everyone_in
        everyone_in = everyone_in or asyncio.Event()
        arrived += 1
        if arrived == N:
            everyone_in.set()
        await asyncio.wait_for(everyone_in.wait(), 5)  # a sequential runner would time out here
        return i

    calls = calls_for("meet", [{"i": i} for i in range(N)])
    run(Dispatcher(), calls, [function_tool(meet)])
    assert [c.output for c in calls] == [str(i) for i in range(N)]
    assert all(c.status == "ok" and not c.is_error for c in calls)


def test_sync_calls_run_in_the_executor_at_once():
    barrier = threading.Barrier(N, timeout=5)

    def meet(i: int) -> dict:
        """Blocks until all N calls are running in parallel threads."""
        barrier.wait()
        return {"i": i, "thread": threading.current_thread().name}

    calls = calls_for("meet", [{"i": i} for i in range(N)])
    run(Dispatcher(), calls, [function_tool(meet)])
    assert all(c.status == "ok" for c in calls), [c.output for c in calls if c.is_error][:1]
    assert all('"thread": "ptc-tool' in c.output for c in calls)


def test_any_executor_works_including_processes():
    calls = calls_for("cube", [{"n": n} for n in range(6)])
    # spawn: forking this multi-threaded process can deadlock the child (3.12+ warn about it)
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        run(Dispatcher(pool), calls, [function_tool(cube)])
    assert [c.output for c in calls] == ["0", "1", "8", "27", "64", "125"]


def test_exceptions_become_error_results():
    def boom(x: int) -> int:
        """Always fails."""
        raise ValueError(f"bad x {x}")

    async def refuse(x: int) -> int:
        """Raises a ToolError with content for the model."""
        raise ToolError("ticker not found")

    calls = calls_for("boom", [{"x": 1}]) + [ToolCall(id="t9", name="refuse", input={"x": 2})]
    run(Dispatcher(), calls, [function_tool(boom), function_tool(refuse)])
    assert calls[0].output == "Error: ValueError: bad x 1" and calls[0].is_error and calls[0].status == "error"
    assert calls[1].output == "Error: ticker not found" and calls[1].is_error


def test_invalid_input_never_reaches_the_function():
    ran = []

    def square(n: int) -> int:
        """n squared."""
        ran.append(n)
        return n * n

    calls = calls_for("square", [{"n": "abc"}, {"n": "4"}])
    run(Dispatcher(), calls, [function_tool(square)])
    assert calls[0].is_error and calls[0].output.startswith("Error: invalid input for square: n: Input should be")
    assert calls[1].output == "16" and ran == [4]


def test_timeout_gives_error_result():
    release = threading.Event()

    async def hang_async() -> str:
        """Never returns."""
        await asyncio.Event().wait()
        return "never"

    def hang_sync() -> str:
        """Blocks until released."""
        release.wait(10)
        return "late"

    calls = [ToolCall(id="a", name="hang_async", input={}), ToolCall(id="b", name="hang_sync", input={})]
    try:
        run(Dispatcher(timeout_s=0.2), calls, [function_tool(hang_async), function_tool(hang_sync)])
    finally:
        release.set()
    assert [c.status for c in calls] == ["timeout", "timeout"]
    assert calls[0].output == "Error: tool 'hang_async' timed out after 0.2 s"
    assert "may still be running in the background" in calls[1].output


def test_results_are_capped_per_tool():
    def big() -> str:
        """A long text."""
        return "y" * 10_000

    t = function_tool(big, max_result_bytes=500)
    calls = [ToolCall(id="a", name="big", input={})]
    run(Dispatcher(), calls, [t])
    assert len(calls[0].output.encode()) <= 500 and "truncated" in calls[0].output and not calls[0].is_error


@pytest.mark.parametrize("answer, status", [(True, "ok"), (False, "denied")])
def test_side_effects_need_approval(answer, status):
    asked = []

    def send_email(to: str) -> str:
        """Sends an email; returns 'sent'."""
        return "sent"

    async def approve(call, tool):
        asked.append((tool.name, call.input))
        return answer

    calls = [ToolCall(id="a", name="send_email", input={"to": "x@y"})]
    run(Dispatcher(approve=approve), calls, [function_tool(send_email, side_effects=True)])
    assert asked == [("send_email", {"to": "x@y"})]
    assert calls[0].status == status
    assert calls[0].output == ("sent" if answer else "Error: denied by user")


def test_side_effects_without_approver_are_denied():
    def delete_all() -> str:
        """Deletes everything."""
        raise AssertionError("must not run")

    calls = [ToolCall(id="a", name="delete_all", input={})]
    run(Dispatcher(), calls, [function_tool(delete_all, side_effects=True)])
    assert calls[0].status == "denied" and calls[0].output == "Error: denied (no way to ask for approval)"


def test_an_approver_may_say_why_it_denies():
    def drop_table(name: str) -> str:
        """Drops a table."""
        raise AssertionError("must not run")

    async def approve(call, tool):
        return "(no answer within 120 s)"

    calls = [ToolCall(id="a", name="drop_table", input={"name": "t"})]
    run(Dispatcher(approve=approve), calls, [function_tool(drop_table, side_effects=True)])
    assert calls[0].status == "denied" and calls[0].output == "Error: denied (no answer within 120 s)"


def test_cancelling_a_batch_marks_unfinished_calls_cancelled():
    started = asyncio.Event

    async def main():
        begun = started()

        async def slow() -> str:
            """Sleeps a long time."""
            begun.set()
            await asyncio.sleep(30)
            return "done"

        async def fast() -> str:
            """Returns at once."""
            return "fast"

        calls = [ToolCall(id="a", name="slow", input={}), ToolCall(id="b", name="fast", input={})]
        tools = {t.name: t for t in (function_tool(slow), function_tool(fast))}
        task = asyncio.ensure_future(Dispatcher().run_batch(calls, tools))
        await begun.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return calls

    calls = asyncio.run(main())
    assert [c.status for c in calls] == ["cancelled", "ok"]
    assert calls[0].output == "Error: cancelled by the user"


def test_events_and_timings_are_recorded():
    seen = []

    async def noop() -> None:
        """Returns null."""

    calls = [ToolCall(id="a", name="noop", input={})]
    d = Dispatcher(
        on_start=lambda c: seen.append(("start", c.status)), on_finish=lambda c: seen.append(("end", c.status))
    )
    run(d, calls, [function_tool(noop)])
    assert seen == [("start", "running"), ("end", "ok")]
    assert calls[0].output == "null" and calls[0].duration_s >= 0 and calls[0].started_s >= 0


def test_failures_that_carry_a_run_notice_reach_the_user_once():
    class ServerDied(RuntimeError):
        run_notice = "MCP server 'finance' died (exit code -9); restart it with %ptc_mcp add finance ..."

    async def quote(t: str) -> str:
        """Raises like a dead MCP server."""
        raise ServerDied("server 'finance' is not running")

    notices = []
    calls = calls_for("quote", [{"t": "A"}, {"t": "B"}])
    run(Dispatcher(on_notice=notices.append), calls, [function_tool(quote)])
    assert all(c.is_error and "not running" in c.output for c in calls)
    assert notices == [ServerDied.run_notice] * 2  # the host keeps each message once (notice_once)


def test_tool_threads_run_up_to_max_workers_at_once_in_daemon_threads():
    pool = ToolThreads(max_workers=4)
    barrier = threading.Barrier(4, timeout=5)

    def meet(i: int) -> tuple[int, bool, str]:
        barrier.wait()
        return i, threading.current_thread().daemon, threading.current_thread().name

    try:
        results = list(pool.map(meet, range(4)))
    finally:
        pool.shutdown(wait=True)
    assert [r[0] for r in results] == [0, 1, 2, 3]
    assert all(daemon and name.startswith("ptc-tool_") for _, daemon, name in results)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(cube, 2)


def test_stopping_a_batch_gives_up_a_running_sync_call():
    pool = ToolThreads(max_workers=1, max_threads=2)
    running, release = threading.Event(), threading.Event()

    def hang() -> str:
        """Blocks until released."""
        running.set()
        release.wait(30)
        return "late"

    async def stop_while_running() -> list[ToolCall]:
        calls = [ToolCall(id="a", name="hang", input={})]
        task = asyncio.ensure_future(Dispatcher(pool).run_batch(calls, {"hang": function_tool(hang)}))
        await asyncio.get_running_loop().run_in_executor(None, running.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return calls

    try:
        stopped = asyncio.run(stop_while_running())
        later = calls_for("cube", [{"n": 2}])
        run(Dispatcher(pool, timeout_s=5), later, [function_tool(cube)])  # the hung thread was replaced
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert stopped[0].status == "cancelled" and later[0].output == "8"


def test_loop_block_notices_can_be_turned_off():
    async def freeze() -> str:
        """Blocks the loop past the default limit, so only the setting keeps the notice away."""
        time.sleep(2 * LOOP_BLOCK_NOTICE_S)
        return "done"

    notices = []
    calls = [ToolCall(id="a", name="freeze", input={})]
    run(Dispatcher(on_notice=notices.append, loop_block_notice_s=None), calls, [function_tool(freeze)])
    assert calls[0].output == "done" and notices == []


def test_a_failing_validator_still_means_not_run():
    def broken_validate(tool_input: dict) -> dict:
        raise RecursionError("too deep")

    ran = []
    t = Tool(
        name="t",
        description="d",
        input_schema={"type": "object"},
        allowed_callers=["direct"],
        invoke=lambda: ran.append(1),
        validate=broken_validate,
    )
    calls = [ToolCall(id="a", name="t", input={})]
    run(Dispatcher(), calls, [t])
    assert calls[0].output == "Error: input of t could not be checked: RecursionError: too deep" and ran == []


def test_an_async_tool_may_return_any_awaitable():
    async def main() -> ToolCall:
        loop = asyncio.get_running_loop()

        def invoke() -> asyncio.Future:
            future = loop.create_future()
            loop.call_soon(future.set_result, "from a future")
            return future

        t = Tool(
            name="t",
            description="d",
            input_schema={"type": "object"},
            allowed_callers=["direct"],
            invoke=invoke,
            validate=lambda i: i,
            is_async=True,
        )
        call = ToolCall(id="a", name="t", input={})
        await Dispatcher().run_batch([call], {"t": t})
        return call

    assert asyncio.run(main()).output == "from a future"
