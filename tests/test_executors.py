"""`executor=`: a run's sync tools really run on the executor it names, not on the default threads
(which would give the same results, only slower)."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

import ptc_jupyter as ptc
from ptc_jupyter.calls.tools import function_tool

WHERE = """Ask three times at once.

```python
import asyncio
for answer in await asyncio.gather(*(where({"i": i}) for i in range(3))):
    print(answer)
```
"""


def where(i: int) -> dict:
    """Where call i ran. Returns {"i", "pid", "thread"}."""
    return {"i": i, "pid": os.getpid(), "thread": threading.current_thread().name}


def test_a_dask_executor_runs_the_calls_on_its_workers(session):
    import distributed

    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=3, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as dask,
    ):
        result = ptc.run(WHERE, tools=[where], offline=True, session=session, executor=dask.get_executor(pure=False))
    assert result.status == "completed" and len(result.calls) == 3
    answers = [json.loads(c.output) for c in result.calls]
    assert sorted(a["i"] for a in answers) == [0, 1, 2]
    assert all("Dask-Default-Threads" in a["thread"] for a in answers), answers  # dask's worker threads


def test_a_process_pool_runs_the_calls_in_its_processes(session):
    # spawn: forking this multi-threaded process can deadlock the child (3.12+ warn about it)
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = ptc.run(WHERE, tools=[function_tool(where)], offline=True, session=session, executor=pool)
    pids = {json.loads(c.output)["pid"] for c in result.calls}
    assert result.status == "completed" and len(result.calls) == 3
    assert pids and os.getpid() not in pids
