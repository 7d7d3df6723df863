"""The 2.x client with a server built on mcp 1.x (`from mcp.server.fastmcp import FastMCP`).

The server runs in its own virtualenv with `mcp>=1.20,<2`, created once and cached in
~/.cache/ptc-jupyter/mcp1-venv (or $XDG_CACHE_HOME/ptc-jupyter/mcp1-venv): CI pays for it once.
Creating it needs PyPI; without it the test fails and says so.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from anthropic.lib.tools import ToolError
from mcp_support import ROOT, assert_crash_message, server_processes
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

import ptc_jupyter as ptc
import ptc_jupyter.mcp as ptc_mcp
from ptc_jupyter.calls.tools import CODE_EXECUTION_CALLER, ToolRegistry
from ptc_jupyter.emulator import EmulatorServer
from ptc_jupyter.host.session import Session
from ptc_jupyter.mcp import MCPServerError
from ptc_jupyter.mcp import api as mcp_api

MCP1 = "mcp>=1.20,<2"
SERVER = ROOT / "tests" / "servers" / "fastmcp1_server.py"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ptc-jupyter"
VENV = CACHE / "mcp1-venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
READY = VENV / ".ptc-ready"  # written last: a venv without it is half-made and is rebuilt


def _usable() -> bool:
    if not (READY.exists() and PYTHON.exists()):
        return False
    probe = subprocess.run([str(PYTHON), "-c", "import mcp.server.fastmcp"], capture_output=True, timeout=60)
    return probe.returncode == 0


def mcp1_python() -> Path:
    """The cached venv's python with mcp 1.x, made on first use (under a lock: parallel runs wait)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "mcp1-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _usable():
            return PYTHON
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=300)
        pip = subprocess.run(
            [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", MCP1],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if pip.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            pytest.fail(
                f"could not install {MCP1!r} into {VENV} (is PyPI reachable? the venv is made once, "
                f"then cached). pip said:\n{(pip.stdout + pip.stderr)[-1500:]}",
                pytrace=False,
            )
        READY.write_text(MCP1 + "\n")
        return PYTHON


@pytest.fixture(scope="module")
def v1():
    registry = ToolRegistry()
    status = ptc_mcp.add("v1", [str(mcp1_python()), str(SERVER)], registry=registry)
    yield status, registry
    ptc_mcp.close_all()
    assert server_processes() == []


def test_a_1x_server_lists_its_tools_with_their_hints(v1):
    status, registry = v1
    assert status.state == "ready" and status.server.startswith("finance-v1")
    policy = {t.name: (t.allowed_callers, t.side_effects) for t in registry}
    assert policy["get_stock_price"] == ([CODE_EXECUTION_CALLER], False)  # readOnlyHint: true
    assert policy["place_order"] == (["direct"], True)  # readOnlyHint: false
    assert policy["version"] == (["direct"], False)  # _meta ptc/allowed_callers
    assert asyncio.run(registry["version"].invoke()).startswith("1.")


def test_a_1x_server_answers_calls_concurrently_as_text(v1):
    _, registry = v1
    price = registry["get_stock_price"]

    async def three():
        return await asyncio.gather(*[price.invoke(ticker=t) for t in ("AAPL", "MSFT", "GOOGL")])

    def timed(work):
        started = time.perf_counter()
        return asyncio.run(work()), time.perf_counter() - started

    async def one():
        return await price.invoke(ticker="AAPL")

    _, alone = timed(one)
    texts, together = timed(three)
    assert together < 2 * alone, (together, alone)  # about 1x when they overlap, 3x one after another
    assert '"price": 415.5' in texts[1]
    assert asyncio.run(registry["add"].invoke(a=40, b=2)) == "42"  # 1.x's {"result": 42}, unwrapped
    with pytest.raises(ToolError, match="unknown ticker 'ZZZ'"):
        asyncio.run(price.invoke(ticker="ZZZ"))


def test_a_1x_servers_tool_list_change_and_request_for_input(v1):
    status, registry = v1
    assert status.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS  # whatever 1.x and 2.x agree on
    before = mcp_api.tool_changes()
    assert asyncio.run(registry["add_tool"].invoke(name="shout")) == "added shout"
    assert mcp_api.wait_for_tool_changes(before + 1, 30), "the registry did not follow the change"
    assert asyncio.run(registry["shout"].invoke(text="hi")) == "shout: hi"
    assert "MCP server 'v1': tools changed (added: shout)" in mcp_api.take_notices()
    with pytest.raises(ToolError) as caught:
        asyncio.run(registry["ask_account"].invoke())
    assert str(caught.value).startswith(
        "MCP server 'v1': 'ask_account' needs input that a programmatic call "
        "cannot give: it asked 'Which account should the report use?'"
    )


def test_a_1x_server_in_a_ptc_run_and_its_crash(v1):
    _, registry = v1
    prompt = """```python
import asyncio, json
prices = await asyncio.gather(*[get_stock_price({"ticker": t}) for t in ["AAPL", "MSFT", "GOOGL"]])
print(sum(json.loads(p)["price"] for p in prices))
```"""
    with EmulatorServer() as emulator:
        run = ptc.run(prompt, tools=list(registry), offline=True, session=Session(emulator=emulator))
    assert run.text.strip().splitlines()[-1] == "777.97"
    assert [c.is_error for c in run.calls] == [False] * 3
    with pytest.raises(MCPServerError) as caught:  # last: the server is gone afterwards
        asyncio.run(registry["crash"].invoke())
    assert_crash_message(str(caught.value), "v1", "v1: fatal: simulated crash")
