"""Helpers for the MCP tests: the test servers, finding their processes, an HTTP server runner."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

import ptc_jupyter.mcp as ptc_mcp
from ptc_jupyter.calls.dispatch import Dispatcher
from ptc_jupyter.calls.tools import CODE_EXECUTION_CALLER, ToolRegistry
from ptc_jupyter.trace.run import ToolCall

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tests" / "servers" / "demo_server.py"
FINANCE = ROOT / "examples" / "finance_server.py"
TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "NFLX", "AMD", "INTC"]
SERVER_MARKERS = ("demo_server.py", "finance_server.py", "fastmcp1_server.py", "changing_server.py")
READY_TIMEOUT_S = 30.0
DEMO_COMMAND = ["python", str(DEMO)]

# The demo server plus a tool that crashes closing one pipe first: "stdout" (the session's connection
# closes while stderr stays open) or "stderr" (stderr closes while the process hangs), so each
# signal of a crash can be made to arrive first. The server serves the wire from a duplicate of
# fd 1 and points fd 1 at stderr, so a pipe is closed through every descriptor that refers to it.
CRASH_IN_ORDER = f"""
import os, runpy, sys, time
PIPES = {{"stdout": os.fstat(1), "stderr": os.fstat(2)}}  # before the server moves its descriptors
sys.argv = [{str(DEMO)!r}]
mcp = runpy.run_path({str(DEMO)!r})["mcp"]

def close_pipe(which):
    pipe = PIPES[which]
    for fd in range(256):
        try:
            found = os.fstat(fd)
        except OSError:  # not an open descriptor
            continue
        if (found.st_dev, found.st_ino) == (pipe.st_dev, pipe.st_ino):
            os.close(fd)

@mcp.tool()
async def crash_in_order(first: str, seconds: float) -> str:
    \"\"\"Say why on stderr, close the `first` pipe ("stdout" or "stderr"), hang `seconds`, exit.\"\"\"
    print("demo: fatal: simulated crash", file=sys.stderr, flush=True)
    close_pipe(first)
    time.sleep(seconds)
    os._exit(3)

mcp.run()
"""
CRASH_IN_ORDER_COMMAND = ["python", "-c", CRASH_IN_ORDER]

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


def batch(registry: ToolRegistry, *calls: tuple[str, dict]) -> list[ToolCall]:
    """Run calls as one batch through the real dispatcher, as a PTC run would."""
    tool_calls = [
        ToolCall(id=f"call_{i}", name=name, input=args, caller=CODE_EXECUTION_CALLER)
        for i, (name, args) in enumerate(calls)
    ]
    asyncio.run(Dispatcher(timeout_s=30).run_batch(tool_calls, {t.name: t for t in registry}))
    return tool_calls


def assert_crash_message(text: str, server: str, stderr_line: str) -> None:
    """What a user relies on after a crash, whichever way it was noticed: which server, that it
    stopped, what it said last, and how to start it again."""
    assert f"MCP server {server!r} stopped" in text, text
    assert "Its stderr ended with:\n" in text and stderr_line in text, text
    assert f"Restart it with `%ptc_mcp add {server} ...` (or ptc.mcp.add({server!r}, ...))." in text, text


_external: set[int] = set()  # servers left out of leak checks: HTTP ones a test started, module fixtures


def exclude_from_checks(pids: set[int], exclude: bool = True) -> None:
    """Leave long-lived servers (module fixtures) out of `server_processes()`."""
    if exclude:
        _external.update(pids)
    else:
        _external.difference_update(pids)


@contextmanager
def module_server(
    name: str, command: list[str], **options: object
) -> Iterator[tuple[ptc_mcp.ServerStatus, ToolRegistry]]:
    """One server for a whole test module, left out of the leak checks of the module's other tests."""
    registry = ToolRegistry()
    before = {p.pid for p in server_processes()}
    status = ptc_mcp.add(name, command, registry=registry, **options)
    mine = {p.pid for p in server_processes()} - before
    exclude_from_checks(mine)
    try:
        yield status, registry
    finally:
        if name in [s.name for s in ptc_mcp.servers()]:  # a lifetime test may have closed it
            ptc_mcp.remove(name)
        exclude_from_checks(mine, exclude=False)


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
    """`python SCRIPT --http 0` on loopback; ready when uvicorn reports its port.

    Its output (uvicorn's access log included) is read line by line, so a test can wait for
    requests to reach the server (`wait_for_answered`) instead of sleeping.
    """

    def __init__(self, script: Path, python: str = sys.executable) -> None:
        self.process = subprocess.Popen(
            [python, str(script), "--http", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _external.add(self.process.pid)
        self.port: int | None = None
        self.ready = threading.Event()
        self.lines: list[str] = []
        self.answered = 0  # POSTs the server has begun to answer with 200 (requests, not notifications)
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(READY_TIMEOUT_S) or self.port is None:
            self.stop()
            raise RuntimeError(f"HTTP test server did not start: {''.join(self.lines)[-2000:]}")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # keeps draining, so the server never blocks on its output
            with self._changed:
                self.lines.append(line)
                self.answered += '"POST /mcp HTTP/1.1" 200' in line
                self._changed.notify_all()
            found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                self.ready.set()
        self.ready.set()  # exited before it was ready

    def wait_for_answered(self, count: int, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until the server has begun answering `count` requests (uvicorn logs each as its answer starts)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.answered >= count, timeout_s):
                raise TimeoutError(
                    f"the server answered {self.answered} requests, not {count}: {''.join(self.lines)[-2000:]}"
                )

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


CHANGING = ROOT / "tests" / "servers" / "changing_server.py"
CHANGING_COMMAND = ["python", str(CHANGING)]
