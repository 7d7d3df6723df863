"""MCP tools in PTC runs, end to end: the real SDK, the offline emulator as Claude, the guide's finance server."""

from __future__ import annotations

import json

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from mcp_support import FINANCE, GATHER_PROMPT, TICKERS, HTTPServer, server_processes

import ptc_jupyter as ptc
import ptc_jupyter.mcp as ptc_mcp
from ptc_jupyter.calls.tools import ToolRegistry
from ptc_jupyter.emulator import EmulatorServer
from ptc_jupyter.host.session import Session
from ptc_jupyter.trace.events import CallStarted

PRICES = {
    "AAPL": 189.84,
    "MSFT": 415.5,
    "GOOGL": 172.63,
    "AMZN": 184.7,
    "TSLA": 177.48,
    "NVDA": 120.91,
    "META": 493.5,
    "NFLX": 641.2,
    "AMD": 160.35,
    "INTC": 30.72,
}

THREE_PRICES = """```python
import asyncio
tickers = ["AAPL", "MSFT", "GOOGL"]
results = await asyncio.gather(*[get_stock_price({"ticker": t}) for t in tickers], return_exceptions=True)
for t, r in zip(tickers, results):
    print(t, str(r).splitlines()[0])
```"""


@pytest.fixture(scope="module")
def session():
    with EmulatorServer() as server:
        yield Session(emulator=server)


@pytest.fixture(autouse=True)
def no_servers_left():
    yield
    ptc_mcp.close_all()
    assert server_processes() == []


def assert_ten_prices(run) -> None:
    assert [c.name for c in run.calls] == ["get_stock_price"] * 10
    assert [json.loads(c.output) for c in run.calls] == [
        {"ticker": t, "price": PRICES[t], "currency": "USD"} for t in TICKERS
    ]
    assert not [c for c in run.calls if c.is_error]
    assert run.text.strip().splitlines()[-10:] == [f"{t}: ${PRICES[t]}" for t in TICKERS]
    assert min(c.duration_s for c in run.calls) >= 0.3  # each call waits the server's simulated 0.3 s...
    first_done = min(c.started_s + c.duration_s for c in run.calls)
    assert max(c.started_s for c in run.calls) < first_done  # ...and all ten overlap
    print(f"10 tickers through the finance server: run wall time {run.wall_s:.2f} s")


def test_ten_tickers_through_the_stdio_finance_server(session):
    registry = ToolRegistry()
    ptc_mcp.add("finance", ["python", str(FINANCE)], registry=registry)
    run = ptc.run(GATHER_PROMPT, tools=list(registry), offline=True, session=session)
    assert_ten_prices(run)
    assert run.calls[0].caller.startswith("code_execution")


def test_ten_tickers_through_the_http_finance_server(session):
    registry = ToolRegistry()
    with HTTPServer(FINANCE) as server:
        ptc_mcp.add("finance", url=server.url, registry=registry)
        run = ptc.run(GATHER_PROMPT, tools=list(registry), offline=True, session=session)
        assert_ten_prices(run)
        ptc_mcp.remove("finance")


def test_killing_the_server_mid_run_gives_is_error_results_and_the_run_goes_on(session):
    registry = ToolRegistry()
    ptc_mcp.add("finance", ["python", str(FINANCE)], registry=registry)
    (server,) = server_processes("finance_server.py")

    def kill_on_first_call(event) -> None:
        if isinstance(event, CallStarted) and server.is_running():
            server.kill()

    run = ptc.run(THREE_PRICES, tools=list(registry), offline=True, session=session, on_event=kill_on_first_call)
    assert run.status == "completed" and len(run.calls) == 3
    (status,) = ptc_mcp.servers()
    for call in run.calls:  # the killed server said nothing: the message names it and how to restart it
        assert call.is_error and call.output == f"Error: {status.failure}"
        assert call.output.startswith("Error: MCP server 'finance' stopped")
        assert "Restart it with `%ptc_mcp add finance ...`" in call.output
    assert run.text.strip().splitlines()[-1].startswith("GOOGL Error: MCP server 'finance' stopped")

    ptc_mcp.add("finance", ["python", str(FINANCE)], registry=registry)  # adding it again restarts it
    again = ptc.run(THREE_PRICES, tools=list(registry), offline=True, session=session)
    assert [c.is_error for c in again.calls] == [False] * 3
    assert again.text.strip().splitlines()[-1] == 'GOOGL {"ticker": "GOOGL", "price": 172.63, "currency": "USD"}'


KILLER_CELL = '''
import psutil
import ptc_jupyter as ptc

@ptc.tool
def kill_finance_server() -> str:
    """Kills the finance MCP server process (to test a crash mid-run). Returns "killed"."""
    for proc in psutil.Process().children():
        if "finance_server.py" in " ".join(proc.cmdline()):
            proc.kill()
    return "killed"
'''


def test_the_notebook_flow_crash_then_add_again(session):
    """The acceptance flow in cells: %ptc_mcp add, %%ptc (server killed mid-run), %ptc_mcp add, %%ptc."""
    shell = InteractiveShell.instance()
    saved = list(ptc.registry)
    shell.run_line_magic("load_ext", "ptc_jupyter")
    try:
        shell.run_line_magic("config", "PTCMagics.offline = True")
        shell.run_line_magic("ptc_mcp", f"add finance -- python {FINANCE}")
        assert shell.run_cell(KILLER_CELL).success
        crash = """```python
import asyncio
print(await kill_finance_server({}))  # the server dies mid-run, before the next batch
results = await asyncio.gather(get_stock_price({"ticker": "AAPL"}), get_stock_price({"ticker": "MSFT"}),
                               return_exceptions=True)
print([str(r).splitlines()[0] for r in results])
```"""
        with capture_output():
            result = shell.run_cell(f"%%ptc -o crashed --tools get_stock_price,kill_finance_server\n{crash}")
        assert result.success, result.error_in_exec
        crashed = shell.user_ns["crashed"]
        prices = [c for c in crashed.calls if c.name == "get_stock_price"]
        assert [c.is_error for c in prices] == [True, True]
        assert all("MCP server 'finance'" in c.output for c in prices)

        shell.run_line_magic("ptc_mcp", f"add finance -- python {FINANCE}")
        with capture_output():
            result = shell.run_cell(f"%%ptc -o fine --tools get_stock_price\n{GATHER_PROMPT}")
        assert result.success, result.error_in_exec
        assert_ten_prices(shell.user_ns["fine"])
    finally:
        shell.run_line_magic("unload_ext", "ptc_jupyter")  # closes the MCP servers too
        ptc.registry.clear()
        for tool in saved:
            ptc.registry.add(tool)
    assert ptc_mcp.servers() == []
