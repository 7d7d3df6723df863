"""The acceptance flow in a real ipykernel (nbclient, offline emulator): an MCP server survives across
cells, `%%ptc` runs on the kernel's loop call it many at once, a crash mid-run becomes is_error
results, `%ptc_mcp add` again restarts it, and kernel shutdown leaves no server process behind."""

from __future__ import annotations

import os

import nbformat
import psutil
import pytest
from mcp_support import FINANCE, GATHER_PROMPT, ROOT
from nbclient import NotebookClient

pytestmark = pytest.mark.kernel

CELLS = [
    "%load_ext ptc_jupyter",
    f"%ptc_mcp add finance -- python {FINANCE}",
    "%%ptc -o prices\n" + GATHER_PROMPT,
    "assert len(prices.calls) == 10 and not prices.errors, prices.calls\n"
    "assert max(c.started_s for c in prices.calls) < min(c.started_s + c.duration_s for c in prices.calls)",
    '''import psutil
import ptc_jupyter as ptc

@ptc.tool
def kill_finance_server() -> str:
    """Kills the finance MCP server process (a crash mid-run). Returns "killed"."""
    for proc in psutil.Process().children():
        if "finance_server.py" in " ".join(proc.cmdline()):
            proc.kill()
    return "killed"''',
    """%%ptc -o crashed --tools get_stock_price,kill_finance_server
```python
import asyncio
results = await asyncio.gather(get_stock_price({"ticker": "AAPL"}), kill_finance_server({}),
                               return_exceptions=True)
print([str(r).splitlines()[0] for r in results])
```""",
    "failed = [c for c in crashed.calls if c.name == 'get_stock_price']\n"
    "assert failed and all(c.is_error and \"MCP server 'finance'\" in c.output for c in failed), crashed.calls",
    f"%ptc_mcp add finance -- python {FINANCE}",
    "%%ptc -o again --tools get_stock_price\n" + GATHER_PROMPT,
    "assert len(again.calls) == 10 and not again.errors, again.calls\n"
    "servers = [p.pid for p in psutil.Process().children() if 'finance_server.py' in ' '.join(p.cmdline())]\n"
    "print('SERVERS', servers)",
]


def test_mcp_in_a_kernel_across_cells_and_shutdown(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PTC_JUPYTER_OFFLINE"] = "1"
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    client.execute(env=env)  # raises CellExecutionError, with the cell, if an assertion above fails
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    servers = [int(p) for p in printed.split("SERVERS", 1)[1].strip(" []\n").split(",")]
    assert len(servers) == 1
    # The kernel has shut down: atexit closed the server it still had (no orphan).
    assert not psutil.pid_exists(servers[0]) or psutil.Process(servers[0]).status() == psutil.STATUS_ZOMBIE
