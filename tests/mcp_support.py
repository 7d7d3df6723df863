"""Helpers for the MCP tests: the test servers, finding their processes, an HTTP server runner."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tests" / "servers" / "demo_server.py"
FINANCE = ROOT / "examples" / "finance_server.py"
TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "NFLX", "AMD", "INTC"]
SERVER_MARKERS = ("demo_server.py", "finance_server.py", "fastmcp1_server.py")
READY_TIMEOUT_S = 30.0

GATHER_PROMPT = """Get the prices of ten tech stocks at once.

```python
import asyncio, json
tickers = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "NFLX", "AMD", "INTC"]
results = await asyncio.gather(*[get_stock_price({"ticker": t}) for t in tickers])
prices = {t: json.loads(r)["price"] for t, r in zip(tickers, results)}
for t, p in prices.items():
    print(f"{t}: ${p}")
```
"""

_external: set[int] = set()  # servers left out of leak checks: HTTP ones a test started, module fixtures


def exclude_from_checks(pids: set[int], exclude: bool = True) -> None:
    """Leave long-lived servers (module fixtures) out of `server_processes()`."""
    if exclude:
        _external.update(pids)
    else:
        _external.difference_update(pids)


def server_processes(marker: str | None = None) -> list[psutil.Process]:
    """Live test-server processes below this one (stdio servers are children), external ones excluded."""
    markers = (marker,) if marker else SERVER_MARKERS
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.pid in _external or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.cmdline())
        except psutil.NoSuchProcess:
            continue
        if any(m in cmdline for m in markers):
            found.append(proc)
    return found


class HTTPServer:
    """`python SCRIPT --http 0` on loopback; ready when uvicorn reports its port on stderr."""

    def __init__(self, script: Path, python: str = sys.executable) -> None:
        self.process = subprocess.Popen(
            [python, str(script), "--http", "0"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )
        _external.add(self.process.pid)
        self.port: int | None = None
        self.ready = threading.Event()
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(READY_TIMEOUT_S) or self.port is None:
            self.stop()
            raise RuntimeError(f"HTTP test server did not start: {''.join(self.lines)[-2000:]}")

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:  # keeps draining, so the server never blocks on its stderr
            self.lines.append(line)
            found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                self.ready.set()
        self.ready.set()  # exited before it was ready

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        _external.discard(self.process.pid)

    def __enter__(self) -> HTTPServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
