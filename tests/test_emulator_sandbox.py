"""Sandbox processes (`emulator/sandbox.py`): warm spares, events, and killing whole process groups."""

from __future__ import annotations

import asyncio

import psutil
from emulator_helpers import wait_until

from ptc_jupyter.emulator.sandbox import SandboxPool


def dead(proc: psutil.Process) -> bool:
    """Gone, or a zombie nobody reaps (PID 1 in a container may not): a kill lands asynchronously."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_pool_keeps_a_warm_spare_and_kill_all_kills_groups():
    async def scenario():
        loop = asyncio.get_running_loop()
        pool = SandboxPool(loop)
        await pool.warm()
        spare = pool._spare
        sandbox = await pool.acquire()
        assert sandbox is spare and pool._spare is not None and pool._spare is not sandbox
        events: asyncio.Queue = asyncio.Queue()
        sandbox.on_event = events.put_nowait
        sandbox.send(
            {
                "op": "run",
                "run_id": 1,
                "tools": [],
                "deadline_s": None,
                "ack": 1,
                "code": "import subprocess\np = subprocess.Popen(['sleep', '60'])\nprint(p.pid)",
            }
        )
        while (event := await events.get())["ev"] != "done":
            pass
        grandchild = psutil.Process(int(event["stdout"]))
        assert pool.live_count() == 2
        killed = pool.kill_all()
        assert set(killed) == {sandbox, pool._spare}
        assert (await events.get())["ev"] == "died"  # the reader saw EOF
        await sandbox.exited
        assert not sandbox.alive and pool.live_count() == 0
        await asyncio.to_thread(wait_until, lambda: dead(grandchild))
        for s in killed:
            s.close_pipes()

    asyncio.run(scenario())
