"""Host-side cost per call vs how the calls are batched (one gather of all vs many round trips).

    python benchmarks/scaling.py     # about a minute, mostly the emulator's per-round-trip latency

Same method as `overhead_ms_per_call` in run.py: no-op async tools through the full host,
(wall time - time inside HTTP round trips) / calls, median of 3. Each API round trip re-sends the
whole history, and the SDK copies and JSON-encodes all of it per request, so the cost per call
grows with the number of round trips; gathering the calls keeps it flat.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure
import workloads

import ptc_jupyter as ptc
from ptc_jupyter.calls.tools import function_tool

#: (calls, calls per batch)
SHAPES = [(1000, 1000), (1000, 100), (400, 10), (200, 1)]


async def main(url: str) -> None:
    session = measure.TimedSession(url)
    tool = function_tool(workloads.noop)
    print("| calls | per batch | round trips | host-side ms per call |\n|---|---|---|---|")
    for calls, per_batch in SHAPES:
        prompt = workloads.batches_script("noop", calls // per_batch, per_batch)
        costs = []
        for rep in range(4):
            session.transport.seconds = 0.0
            t0 = time.perf_counter()
            run = measure.check(
                await ptc.arun(prompt, tools=[tool], offline=True, session=session, max_calls=calls), calls
            )
            if rep:
                costs.append((time.perf_counter() - t0 - session.transport.seconds) / calls * 1000)
        print(f"| {calls:,} | {per_batch:,} | {run.requests} | {statistics.median(costs):.3f} |", flush=True)
    await measure.close(session)


if __name__ == "__main__":
    with measure.Emulator("process") as emulator:
        asyncio.run(main(emulator.url))
