"""Script-run bookkeeping (`emulator/containers.py`): when a run is ready to answer."""

from __future__ import annotations

import asyncio

from ptc_jupyter.emulator.containers import ScriptRun


def call(i: int) -> dict:
    return {"id": f"toolu_{i}", "name": "get", "input": {"i": i}}


async def settled(run: ScriptRun) -> bool:
    """Whether `settle()` returns once the loop has handled everything already queued."""
    task = asyncio.ensure_future(run.settle())
    await asyncio.sleep(0)
    if task.done():
        task.result()  # re-raise a failure rather than count it as settled
        return True
    task.cancel()
    return False


def test_settles_on_calls_once_the_child_has_seen_our_latest_message():
    async def scenario():
        run = ScriptRun(run_id=1, mode="ptc", code="code", srvtoolu_id="srvtoolu_1", tools_key="[]", ack_wanted=1)
        run.on_event({"ev": "blocked", "run_id": 1, "ack": 1, "calls": []})
        assert not await settled(run)  # blocked with nothing new: the script still works on its own (timers)
        run.ack_wanted = 2  # results sent
        run.on_event({"ev": "blocked", "run_id": 1, "ack": 1, "calls": [call(1)]})
        assert not await settled(run)  # made before the child processed our results: more may follow
        run.on_event({"ev": "blocked", "run_id": 1, "ack": 2, "calls": [call(2)]})
        assert await settled(run)
        assert [c["id"] for c in run.take_calls(limit=1)] == ["toolu_1"] and list(run.pending) == ["toolu_1"]
        assert [c["id"] for c in run.take_calls()] == ["toolu_2"]

    asyncio.run(scenario())


def test_expiry_and_end():
    async def scenario():
        run = ScriptRun(run_id=1, mode="ptc", code="code", srvtoolu_id="srvtoolu_1", tools_key="[]", ack_wanted=1)
        run.on_event({"ev": "blocked", "run_id": 1, "ack": 1, "calls": [call(1), call(2)]})
        run.take_calls(limit=1)
        run.on_event({"ev": "expired", "run_id": 1, "ids": ["toolu_1", "toolu_2"]})
        assert run.timed_out == {"toolu_1", "toolu_2"} and not run.pending and not run.undelivered
        assert not await settled(run)
        run.on_event({"ev": "died"})
        assert run.finished and run.result["return_code"] == 137 and await settled(run)

    asyncio.run(scenario())
