"""`%ptc_serve` in a real kernel (nbclient), driven from outside by two clients nobody here wrote the
server for: the `mcp` SDK's client and the MCP Inspector's CLI (npm `@modelcontextprotocol/inspector`,
installed into the gitignored `.cache/inspector`; skipped only where npm is missing).

The kernel serves between cells, as it would while its user reads: tools are listed and called,
a 50-call gather runs through `run_python`, a side-effect call asks in the notebook (an Allow click
from an awaiting cell runs it; no answer denies it), and requests without the token or with a
foreign Host are refused before anything runs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx2
import nbformat
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from nbclient import NotebookClient

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
INSPECTOR_VERSION = "2.12.0"
INSPECTOR_DIR = ROOT / ".cache" / "inspector"
INSPECTOR = INSPECTOR_DIR / "node_modules" / ".bin" / "mcp-inspector"

TOOLS = '''import asyncio
import ptc_jupyter as ptc

@ptc.tool
async def get_price(ticker: str) -> dict:
    """Price of a stock. Returns {"ticker", "price"}.

    Args:
        ticker: Stock symbol.
    """
    await asyncio.sleep(0.3)
    return {"ticker": ticker, "price": 2.0}

sent = []

@ptc.tool(side_effects=True)
def send_mail(to: str) -> str:
    """Send a mail. Returns "sent"."""
    sent.append(to)
    return "sent"'''

CLICK_ALLOW = """import asyncio
view = srv.listeners[0]
for _ in range(600):  # the approval widget appears once the agent's call arrives
    if view.approvals.children:
        break
    await asyncio.sleep(0.05)
row = view.approvals.children[0]
allow = next(b for b in row.children if getattr(b, "description", "") == "Allow")
allow.click()"""

GATHER50 = """import asyncio, json
prices = await asyncio.gather(*[get_price({"ticker": f"T{i}"}) for i in range(50)])
print(len(prices), sum(json.loads(p)["price"] for p in prices))"""


class Kernel:
    """A notebook being executed cell by cell in one kernel."""

    def __init__(self, client: NotebookClient, nb) -> None:
        self.client, self.nb = client, nb

    def run(self, source: str) -> str:
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.nb.cells) - 1)
        return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")

    def value(self, expression: str):
        printed = self.run(f"import json as _json; print('VALUE', _json.dumps({expression}))")
        return json.loads(printed.split("VALUE", 1)[1])


@pytest.fixture(scope="module")
def kernel():
    nb = nbformat.v4.new_notebook()
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PTC_JUPYTER_OFFLINE"] = "1"
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    with client.setup_kernel(env=env):
        kernel = Kernel(client, nb)
        kernel.run("%load_ext ptc_jupyter")
        kernel.run(TOOLS)
        kernel.run("%ptc_serve --approval-timeout 2 -o srv")
        yield kernel
        kernel.run("%ptc_serve --stop")


@pytest.fixture(scope="module")
def served(kernel):
    return kernel.value("{'url': srv.url, 'token': srv.token}")


def with_client(served, body):
    async def main():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {served['token']}"}) as http:
            async with Client(streamable_http_client(served["url"], http_client=http)) as client:
                return await body(client)

    return asyncio.run(main())


def text(result) -> str:
    return "".join(block.text for block in result.content)


def test_the_starting_cell_says_how_to_connect(kernel, served):
    printed = "".join(o.get("text", "") for o in kernel.nb.cells[2].outputs if o.get("output_type") == "stream")
    assert f'claude mcp add --transport http ptc-jupyter {served["url"]} --header "Authorization: Bearer ' in printed
    assert '"mcpServers"' in printed
    kinds = [set(o.get("data", {})) for o in kernel.nb.cells[2].outputs if o.get("output_type") == "display_data"]
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds)  # the live area


def test_the_sdk_client_lists_the_tools_plus_run_python_and_calls_one(served):
    listed = with_client(served, lambda c: c.list_tools())
    assert [t.name for t in listed.tools] == ["get_price", "send_mail", "run_python"]
    result = with_client(served, lambda c: c.call_tool("get_price", {"ticker": "AAPL"}))
    assert json.loads(text(result)) == {"ticker": "AAPL", "price": 2.0}


def test_fifty_gathered_calls_through_run_python(kernel, served):
    result = with_client(served, lambda c: c.call_tool("run_python", {"code": GATHER50}))
    assert text(result) == "50 100.0" and not result.is_error
    calls = kernel.value("[[c.started_s, c.duration_s, c.status] for c in srv.runs[-1].calls]")
    assert len(calls) == 50 and {status for _, _, status in calls} == {"ok"}
    assert max(start for start, _, _ in calls) < min(start + duration for start, duration, _ in calls)


def test_a_side_effect_call_unanswered_is_denied(kernel, served):
    result = with_client(served, lambda c: c.call_tool("send_mail", {"to": "x@example.org"}))
    assert result.is_error and "no answer within 2 s" in text(result)
    assert kernel.value("sent") == []
    notices = kernel.value("srv.runs[-1].notices")
    assert any("send_mail denied: no answer within 2 s" in n for n in notices)  # the widget asked


def test_a_side_effect_call_runs_once_allowed_in_the_notebook(kernel, served):
    async def body(client):
        return await client.call_tool("send_mail", {"to": "y@example.org"})

    async def both():
        call = asyncio.ensure_future(asyncio.to_thread(with_client, served, body))
        await asyncio.to_thread(kernel.run, CLICK_ALLOW)
        return await call

    result = asyncio.run(both())
    assert text(result) == "sent" and not result.is_error
    assert kernel.value("sent") == ["y@example.org"]


def raw_call(served, headers):
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "send_mail", "arguments": {"to": "z@example.org"}},
    }
    return httpx2.post(served["url"], json=body, headers={"accept": "application/json, text/event-stream", **headers})


def test_without_the_token_or_with_a_foreign_host_nothing_runs(kernel, served):
    before = kernel.value("len(srv.runs)")
    assert raw_call(served, {}).status_code == 401
    assert raw_call(served, {"Authorization": "Bearer wrong"}).status_code == 401
    foreign = raw_call(served, {"Authorization": f"Bearer {served['token']}", "Host": "attacker.example"})
    assert foreign.status_code == 421
    assert kernel.value("len(srv.runs)") == before


def test_the_token_is_in_no_trace(kernel, served):
    assert kernel.value(f"any({served['token']!r} in r.to_json() for r in srv.runs)") is False


def inspector() -> Path:
    """The Inspector's CLI, installed into the gitignored cache on first use."""
    if not INSPECTOR.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is missing: the MCP Inspector cannot be installed")
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(INSPECTOR_DIR),
                f"@modelcontextprotocol/inspector@{INSPECTOR_VERSION}",
            ],
            check=True,
            timeout=600,
            capture_output=True,
        )
    return INSPECTOR


def run_inspector(served, *method: str) -> dict:
    home = INSPECTOR_DIR / "home"  # its catalog and auth state stay in the cache, not in ~
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}
    done = subprocess.run(
        [
            str(inspector()),
            "--cli",
            served["url"],
            "--transport",
            "http",
            "--header",
            f"Authorization: Bearer {served['token']}",
            *method,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_inspector_cli_lists_and_calls_the_tools(served):
    listed = run_inspector(served, "--method", "tools/list")
    tools = {t["name"]: t for t in listed["tools"]}
    assert list(tools) == ["get_price", "send_mail", "run_python"]
    assert tools["send_mail"]["annotations"]["destructiveHint"] is True
    called = run_inspector(served, "--method", "tools/call", "--tool-name", "get_price", "--tool-arg", "ticker=MSFT")
    assert json.loads(called["content"][0]["text"]) == {"ticker": "MSFT", "price": 2.0}
    script = run_inspector(
        served,
        "--method",
        "tools/call",
        "--tool-name",
        "run_python",
        "--tool-arg",
        "code=print(await get_price({'ticker': 'X'}))",
    )
    assert json.loads(script["content"][0]["text"])["ticker"] == "X"
