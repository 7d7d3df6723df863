"""Tool faults: whatever a tool does, its call ends with a safe text result and its batch finishes.

Every scenario runs the faulty call next to a well-behaved one ("bystander") in the same batch.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from ptc_jupyter.calls import threads as workers
from ptc_jupyter.calls.dispatch import LOOP_BLOCK_NOTICE_S, Dispatcher
from ptc_jupyter.calls.results import to_text
from ptc_jupyter.calls.threads import ToolThreads
from ptc_jupyter.calls.tools import Tool, function_tool
from ptc_jupyter.trace.run import ToolCall

MB = 1_000_000


async def bystander(n: int) -> int:
    """Returns n + 1 (the call that must finish whatever its neighbour does)."""
    return n + 1


def add_one(n: int) -> int:
    """Returns n + 1, in a worker thread."""
    return n + 1


def run_batch(dispatcher: Dispatcher, *tools: Tool, inputs: dict[str, dict] | None = None) -> list[ToolCall]:
    """One batch: a call of each tool (input {} unless given) plus a bystander call; all must end."""
    inputs = inputs or {}
    all_tools = [*tools, function_tool(bystander)]
    calls = [ToolCall(id=f"toolu_{t.name}", name=t.name, input=inputs.get(t.name, {})) for t in tools]
    calls.append(ToolCall(id="toolu_bystander", name="bystander", input={"n": 1}))
    asyncio.run(dispatcher.run_batch(calls, {t.name: t for t in all_tools}))
    assert calls[-1].status == "ok" and calls[-1].output == "2", calls[-1]
    assert all(c.done for c in calls)
    return calls[:-1]


def one_call(func: Callable[..., Any], dispatcher: Dispatcher | None = None, **tool_options: Any) -> ToolCall:
    return run_batch(dispatcher or Dispatcher(), function_tool(func, **tool_options))[0]


def run_in_thread_within(seconds: float, job: Callable[[], Any]) -> None:
    """Run `job` in a daemon thread and fail (instead of hanging the suite) if it does not end in time."""
    ended = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            job()
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)
        finally:
            ended.set()

    threading.Thread(target=target, daemon=True).start()
    assert ended.wait(seconds), f"the batch did not finish within {seconds} s"
    if errors:
        raise errors[0]


def wire_safe(text: str) -> None:
    """What the host sends as a tool_result must serialise, as UTF-8, without any error."""
    json.dumps({"type": "tool_result", "content": text}, ensure_ascii=False).encode("utf-8")
    assert "\x00" not in text and "\x1b" not in text


# -- a tool that raises --------------------------------------------------------------------------


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def raises_value_error() -> str:
    """Fails."""
    raise ValueError("bad ticker")


async def raises_async() -> str:
    """Fails, async."""
    raise KeyError("missing")


def raises_with_unprintable_message() -> str:
    """Fails with an exception whose str() fails."""
    raise BadStr()


def raises_with_nasty_message() -> str:
    """Fails with a message holding a lone surrogate, ANSI colour and a NUL."""
    raise ValueError("bad \ud800 \x1b[31mred\x1b[0m\x00")


def calls_sys_exit() -> str:
    """Calls sys.exit like a CLI entry point would."""
    sys.exit(2)


async def calls_sys_exit_async() -> str:
    """Calls sys.exit from async code (would stop the event loop)."""
    sys.exit("bye")


@pytest.mark.parametrize(
    "func, expected",
    [
        (raises_value_error, "Error: ValueError: bad ticker"),
        (raises_async, "Error: KeyError: 'missing'"),
        (raises_with_unprintable_message, "Error: BadStr: <BadStr; str() raised RuntimeError>"),
        (raises_with_nasty_message, "Error: ValueError: bad ? red"),
        (calls_sys_exit, "Error: tool 'calls_sys_exit' called sys.exit(2); raise an exception to report a failure"),
        (
            calls_sys_exit_async,
            "Error: tool 'calls_sys_exit_async' called sys.exit('bye'); raise an exception to report a failure",
        ),
    ],
)
def test_a_raising_tool_gets_an_error_result(func, expected):
    call = one_call(func)
    assert (call.status, call.is_error, call.output) == ("error", True, expected)
    wire_safe(call.output)


# -- hangs past the timeout ----------------------------------------------------------------------


def test_hanging_async_and_sync_tools_time_out():
    release = threading.Event()

    async def hang_async() -> str:
        """Never returns."""
        await asyncio.Event().wait()
        return "never"

    def hang_sync() -> str:
        """Blocks until released."""
        release.wait(30)
        return "late"

    try:
        calls = run_batch(Dispatcher(timeout_s=0.2), function_tool(hang_async), function_tool(hang_sync))
    finally:
        release.set()
    assert [c.status for c in calls] == ["timeout", "timeout"]
    assert calls[0].output == "Error: tool 'hang_async' timed out after 0.2 s"
    assert (
        calls[1].output == "Error: tool 'hang_sync' timed out after 0.2 s (it may still be running in the background)"
    )


def test_an_async_tool_that_ignores_cancellation_is_abandoned():
    release = threading.Event()

    async def stubborn() -> str:
        """Swallows every cancellation, until released."""
        while not release.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue
        return "late"

    d = Dispatcher(timeout_s=0.2, cancel_grace_s=0.1)
    holder: list[list[ToolCall]] = []
    try:
        run_in_thread_within(10, lambda: holder.append(run_batch(d, function_tool(stubborn))))
    finally:
        release.set()
    call = holder[0][0]
    assert call.status == "timeout"
    assert (
        call.output == "Error: tool 'stubborn' timed out after 0.2 s and did not stop within 0.1 s of being cancelled"
    )


def test_an_async_tool_may_clean_up_after_its_timeout():
    cleaned = []

    async def tidy() -> str:
        """Hangs; on cancellation closes its resources (awaiting), then lets the cancellation through."""
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)
            cleaned.append(True)
        return "never"

    call = one_call(tidy, Dispatcher(timeout_s=0.2))
    assert call.output == "Error: tool 'tidy' timed out after 0.2 s" and cleaned == [True]


# -- starvation of the thread pool ---------------------------------------------------------------


def test_hung_sync_tools_do_not_starve_the_default_pool(monkeypatch):
    monkeypatch.setattr(workers, "DEFAULT_WORKERS", 2)
    monkeypatch.setattr(workers, "_shared_pool", None)  # the default pool, rebuilt with 2 workers
    release = threading.Event()

    def hang(i: int) -> str:
        """Blocks until released."""
        release.wait(30)
        return "late"

    def quick(i: int) -> int:
        """Returns at once."""
        return i

    try:
        hung = [ToolCall(id=f"h{i}", name="hang", input={"i": i}) for i in range(2)]
        asyncio.run(Dispatcher(timeout_s=0.2).run_batch(hung, {"hang": function_tool(hang)}))
        assert [c.status for c in hung] == ["timeout", "timeout"]
        later = [ToolCall(id="q", name="quick", input={"i": 7})]
        asyncio.run(Dispatcher(timeout_s=5).run_batch(later, {"quick": function_tool(quick)}))
        assert (later[0].status, later[0].output) == ("ok", "7")
    finally:
        release.set()
        pool = workers.shared_executor()
        pool.shutdown(wait=True)


def test_a_call_that_never_got_a_thread_says_so():
    pool = ToolThreads(max_workers=1, max_threads=1)
    release = threading.Event()

    def hang() -> str:
        """Blocks until released."""
        release.wait(30)
        return "late"

    try:
        assert one_call(hang, Dispatcher(pool, timeout_s=0.2)).status == "timeout"
        waiting = run_batch(Dispatcher(pool, timeout_s=0.2), function_tool(add_one), inputs={"add_one": {"n": 1}})[0]
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert waiting.status == "timeout"
    assert waiting.output == (
        "Error: tool 'add_one' not started within 0.2 s: all 1 worker threads are busy "
        "with calls that timed out (no more are started: the limit is 1)"
    )


def test_a_released_thread_goes_back_to_work():
    pool = ToolThreads(max_workers=1, max_threads=2)
    release = threading.Event()

    def hang() -> str:
        """Blocks until released."""
        release.wait(30)
        return "late"

    try:
        assert one_call(hang, Dispatcher(pool, timeout_s=0.2)).status == "timeout"
        release.set()
        calls = [ToolCall(id=str(i), name="add_one", input={"n": i}) for i in range(20)]
        asyncio.run(Dispatcher(pool, timeout_s=5).run_batch(calls, {"add_one": function_tool(add_one)}))
        assert [c.output for c in calls] == [str(i + 1) for i in range(20)]
    finally:
        pool.shutdown(wait=True)


# -- huge results --------------------------------------------------------------------------------


def test_a_50_mb_result_is_capped_with_a_visible_marker():
    def huge_text() -> str:
        """50 MB of text."""
        return "x" * (50 * MB)

    def huge_rows() -> list:
        """50 MB of JSON rows."""
        return [{"id": i, "blob": "y" * 1000} for i in range(50_000)]

    calls = run_batch(
        Dispatcher(),
        function_tool(huge_text, max_result_bytes=10_000),
        function_tool(huge_rows, max_result_bytes=10_000),
    )
    for call in calls:
        assert call.status == "ok" and not call.is_error
        assert len(call.output.encode()) <= 10_000
        assert "\n…[truncated: " in call.output and " bytes shown]" in call.output
    assert calls[0].output.endswith(f"of {50 * MB:,} bytes shown]")
    assert calls[1].output.startswith('[{"id": 0, "blob": "yyy')
    assert calls[1].output.endswith(f"of {len(json.dumps(huge_rows())):,} bytes shown]")


def peak_bytes(work: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_50_mb_result_is_not_copied_whole_again():
    text = "x" * (50 * MB)
    assert peak_bytes(lambda: to_text(text, 100_000)) < 2 * MB  # only the kept part is cleaned
    rows = ["y" * MB] * 50  # 50 MB of JSON
    assert peak_bytes(lambda: to_text(rows, 100_000)) < 10 * MB  # written and measured in pieces


# -- values that are not results -----------------------------------------------------------------


class Opaque:
    """No __str__, no JSON form."""


class Named:
    def __str__(self) -> str:
        return "a named thing"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("cannot print")


def returns_opaque() -> Any:
    """Returns an object without a text form."""
    return Opaque()


def returns_named() -> Any:
    """Returns an object with a __str__."""
    return Named()


def returns_unprintable() -> Any:
    """Returns an object whose __str__ fails."""
    return Unprintable()


def returns_opaque_inside() -> Any:
    """Returns a dict holding an object without a text form."""
    return {"thing": Opaque()}


def returns_cycle() -> Any:
    """Returns a dict that contains itself."""
    d: dict[str, Any] = {}
    d["self"] = d
    return d


@pytest.mark.parametrize(
    "func, status, expected",
    [
        (returns_named, "ok", "a named thing"),
        (
            returns_opaque,
            "error",
            "Error: tool 'returns_opaque' returned a Opaque object, which has no JSON or text form;",
        ),
        (returns_opaque_inside, "error", "Error: tool 'returns_opaque_inside' returned a Opaque object"),
        (returns_unprintable, "error", "Error: result could not be turned into text: RuntimeError: cannot print"),
        (
            returns_cycle,
            "error",
            "Error: result could not be turned into text: ValueError: Circular reference detected",
        ),
    ],
)
def test_values_without_a_text_form(func, status, expected):
    call = one_call(func)
    assert call.status == status and call.is_error == (status == "error")
    assert call.output.startswith(expected), call.output


def numbers() -> Any:
    """Returns a generator by mistake."""
    return (i for i in range(3))


async def stream() -> Any:
    """Returns an async generator by mistake."""

    async def gen():
        yield 1

    return gen()


def nested_generator() -> Any:
    """Returns a dict holding a generator."""
    return {"rows": (i for i in range(3))}


async def fetch(x: int) -> int:
    return x * 2


def sync_wrapper() -> Any:
    """A plain def that returns a coroutine (a decorator unaware of async)."""
    return fetch(21)


async def async_returning_coroutine() -> Any:
    """Returns a coroutine instead of awaiting it."""
    return fetch(5)


@pytest.mark.parametrize(
    "func, status, expected",
    [
        (numbers, "error", "Error: tool 'numbers' returned a generator; return a list instead (e.g. list(...))"),
        (stream, "error", "Error: tool 'stream' returned an async generator; collect it into a list first"),
        (nested_generator, "error", "Error: tool 'nested_generator' returned a generator"),
        (sync_wrapper, "ok", "42"),
        (async_returning_coroutine, "ok", "10"),
    ],
)
def test_generators_are_errors_and_coroutines_are_awaited(func, status, expected):
    call = one_call(func)
    assert call.status == status, call.output
    assert call.output.startswith(expected), call.output


def test_a_returned_coroutine_is_still_under_the_timeout():
    async def forever() -> None:
        await asyncio.Event().wait()

    def wrapper() -> Any:
        """Returns a coroutine that never ends."""
        return forever()

    call = one_call(wrapper, Dispatcher(timeout_s=0.2))
    assert call.status == "timeout" and call.output == "Error: tool 'wrapper' timed out after 0.2 s"


# -- text that is unsafe to show or to send ------------------------------------------------------


def terminal_output() -> str:
    """Output with colours, a window title, a bell, a NUL, CR and an HTML tag."""
    return "\x1b[1;31mred\x1b[0m \x1b]0;title\x07done\x00\x07\r\n\t<script>alert(1)</script>"


def broken_bytes() -> bytes:
    """Bytes that are not valid UTF-8."""
    return b"ok \xff\xfe end"


def lone_surrogates() -> dict:
    """A dict with a lone surrogate in a value and a surrogate pair written as two code points."""
    return {"k": "a\udcffb", "pair": "\ud83d\ude00"}


@pytest.mark.parametrize(
    "func, expected",
    [
        (terminal_output, "red done\n\t<script>alert(1)</script>"),  # HTML is escaped where it is rendered
        (broken_bytes, "ok \ufffd\ufffd end"),
        (lone_surrogates, '{"k": "a?b", "pair": "😀"}'),
    ],
)
def test_output_is_valid_utf8_without_controls_or_ansi(func, expected):
    call = one_call(func)
    assert (call.status, call.output) == ("ok", expected)
    wire_safe(call.output)


# -- an async tool that blocks the event loop ----------------------------------------------------


def test_an_async_tool_that_blocks_the_loop_gets_a_notice():
    async def freeze(n: int) -> str:
        """Blocks the loop (time.sleep inside async def): the fault under test, at twice the default
        limit, while a bystander's steps take microseconds (a busy machine must not blame it)."""
        time.sleep(2 * LOOP_BLOCK_NOTICE_S)
        return f"done {n}"

    async def polite(n: int) -> str:
        """Awaits instead."""
        await asyncio.sleep(0.01)
        return "fine"

    notices: list[str] = []
    d = Dispatcher(on_notice=notices.append)  # the default limit, LOOP_BLOCK_NOTICE_S
    calls = run_batch(d, function_tool(freeze), function_tool(polite), inputs={"freeze": {"n": 1}, "polite": {"n": 1}})
    assert [c.output for c in calls] == ["done 1", "fine"]
    assert len(notices) == 1, notices
    assert re.match(r"tool 'freeze' blocked the event loop for \d+\.\d s;", notices[0]), notices
    assert notices[0].endswith("s; make it a plain def (it then runs in a thread) or await its slow work")
    run_batch(d, function_tool(freeze), inputs={"freeze": {"n": 2}})
    assert len(notices) == 1  # once per tool and run
