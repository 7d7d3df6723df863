"""background.py: the one long-lived loop thread, its blocking and async bridges, its cleanups."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ptc_jupyter.host.background import LoopThread


@pytest.fixture
def loop_thread():
    thread = LoopThread(name="ptc-test-loop")
    yield thread
    thread.stop()


def test_run_waits_for_the_coroutine_on_the_thread(loop_thread):
    async def where() -> str:
        return threading.current_thread().name

    assert loop_thread.run(where()) == "ptc-test-loop"


def test_bridge_from_another_loop(loop_thread):
    async def value() -> int:
        await asyncio.sleep(0)
        return 42

    async def main() -> int:
        return await loop_thread.bridge(value())

    assert asyncio.run(main()) == 42


def test_an_interrupt_cancels_the_task_and_lets_its_finally_run(loop_thread):
    started, cleaned = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.set()

    def interrupted_wait(done: threading.Event) -> None:
        started.wait(5)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop_thread.run(forever(), wait=interrupted_wait)
    assert cleaned.is_set()  # run() returned only after the coroutine's finally block


def test_stop_runs_the_cleanups_on_the_loop_then_the_thread_ends(loop_thread):
    ran_on: list[str] = []

    async def cleanup() -> None:
        ran_on.append(threading.current_thread().name)

    loop_thread.run(asyncio.sleep(0))
    loop_thread.on_stop(cleanup)
    loop_thread.on_stop(cleanup)  # registered once
    loop_thread.stop()
    assert ran_on == ["ptc-test-loop"] and not loop_thread.running


def test_it_starts_again_after_stop(loop_thread):
    loop_thread.run(asyncio.sleep(0))
    loop_thread.stop()
    assert loop_thread.run(asyncio.sleep(0, result="again")) == "again"


def test_a_blocking_call_from_the_thread_itself_is_refused(loop_thread):
    async def inner() -> None:
        loop_thread.run(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="background loop thread itself"):
        loop_thread.run(inner())
