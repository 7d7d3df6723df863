"""The tools and scripts the benchmarks run: the guide's tasks, sleeping and no-op tools, CPU-bound work.

Everything here is module-level and standard-library only, so a process pool or a dask worker can
unpickle the CPU-bound tool by importing this module. Results are deterministic (no clock, no
randomness), so the byte counts are the same on every machine.
"""

from __future__ import annotations

import asyncio
import time

TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "NFLX", "AMD", "INTC"]
SERVERS = [f"srv-{i:02d}" for i in range(1, 51)]
UNHEALTHY = {"srv-07": "degraded", "srv-23": "down", "srv-41": "degraded"}

#: How long `slow_lookup` sleeps (the benchmark sets it; 0.3 s unless --quick).
SLEEP_S = 0.3


def fenced(code: str, ask: str = "Run this.") -> str:
    """A prompt whose ```python block the offline emulator runs as Claude's script."""
    return f"{ask}\n\n```python\n{code.strip()}\n```\n"


# -- I/O-bound tools (async: gathered on the kernel's loop) ---------------------------------------

async def slow_lookup(i: int) -> str:
    """Looks up item i (takes SLEEP_S seconds). Returns 'item <i>'."""
    await asyncio.sleep(SLEEP_S)
    return f"item {i}"


async def noop(i: int) -> str:
    """Does nothing. Returns 'ok'."""
    return "ok"


async def get_stock_price(ticker: str) -> dict:
    """Current price of a stock. Returns {"ticker", "price", "currency"}.

    Args:
        ticker: Stock symbol, e.g. AAPL.
    """
    price = round(50 + sum(ord(c) * (k + 1) for k, c in enumerate(ticker)) % 900 + len(ticker) / 7, 2)
    return {"ticker": ticker, "price": price, "currency": "USD"}


async def check_server_status(server: str) -> dict:
    """Health of one server. Returns {"server", "status", "latency_ms", "cpu_pct", "mem_pct", "region"}.

    Args:
        server: Server name, e.g. srv-01.
    """
    n = int(server.rsplit("-", 1)[-1]) if server.rsplit("-", 1)[-1].isdigit() else len(server)
    return {"server": server, "status": UNHEALTHY.get(server, "healthy"), "latency_ms": 12 + n * 7 % 40,
            "cpu_pct": round(20 + n * 13 % 60 + 0.5, 1), "mem_pct": round(30 + n * 17 % 55 + 0.25, 2),
            "region": ("eu-west-1", "us-east-1", "ap-south-1")[n % 3]}


# -- CPU-bound tool (sync: runs in the executor; module level so it pickles by reference) ---------

def crunch(n: int, seed: int) -> int:
    """Pure-Python busy work: n rounds of an integer hash. Returns the final value."""
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345 + i) & 0x7FFFFFFF
    return x


def calibrate_crunch(target_s: float, attempts: int = 5) -> int:
    """The `n` for which `crunch(n, 0)` takes about `target_s` seconds here (fastest of a few tries)."""
    n = 20_000
    while True:
        t0 = time.perf_counter()
        crunch(n, 0)
        if time.perf_counter() - t0 > 0.01:
            break
        n *= 2
    best = min(_timed(crunch, n) for _ in range(attempts))
    return max(1, int(n * target_s / best))


def _timed(func, *args) -> float:
    t0 = time.perf_counter()
    func(*args, 0)
    return time.perf_counter() - t0


# -- scripts (what "Claude" runs in the emulator) -------------------------------------------------

def gather_script(tool: str, n: int) -> str:
    return fenced(f"""
import asyncio
results = await asyncio.gather(*[{tool}({{"i": i}}) for i in range({n})])
print(len(results), "results")
""")


def batches_script(tool: str, batches: int, per_batch: int) -> str:
    return fenced(f"""
import asyncio
done = 0
for b in range({batches}):
    results = await asyncio.gather(*[{tool}({{"i": b * {per_batch} + i}}) for i in range({per_batch})])
    done += len(results)
print(done, "calls")
""")


def stocks_script(tickers: list[str] = TICKERS) -> str:
    """The guide's 10-ticker task: fetch all prices at once, report the highest."""
    return fenced(f"""
import asyncio, json
tickers = {tickers!r}
prices = [json.loads(p) for p in await asyncio.gather(*[get_stock_price({{"ticker": t}}) for t in tickers])]
best = max(prices, key=lambda p: p["price"])
print(f"Highest: {{best['ticker']}} at {{best['price']}} {{best['currency']}}")
""", ask="Which of these stocks has the highest price?")


def servers_script(count: int = len(SERVERS)) -> str:
    """The guide's status check: every server at once, report those not healthy."""
    return fenced(f"""
import asyncio, json
servers = [f"srv-{{i:02d}}" for i in range(1, {count + 1})]
statuses = [json.loads(s) for s in await asyncio.gather(*[check_server_status({{"server": s}}) for s in servers])]
bad = [s for s in statuses if s["status"] != "healthy"]
print(f"{{len(bad)}} of {{len(servers)}} not healthy: " + ", ".join(f"{{s['server']}} ({{s['status']}})" for s in bad))
""", ask="Which servers are not healthy?")


def crunch_script(n_calls: int, rounds: int) -> str:
    return fenced(f"""
import asyncio
values = await asyncio.gather(*[crunch({{"n": {rounds}, "seed": i}}) for i in range({n_calls})])
print(len(values), "values")
""")
