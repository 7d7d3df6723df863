"""`ptc.serve` in plain Python: the real `mcp` client over HTTP sees every registered tool plus
`run_python`, calls them through the dispatcher, and gets only the script's output; requests without
the token or with a foreign Host run nothing; side-effect tools are never run from code unless
`allow_code`, and are denied where nobody can approve them; the token never enters a trace."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

import ptc_jupyter as ptc
from ptc_jupyter.mcp.server import KernelServer, exposure_warning

GATHER50 = """import asyncio, json
prices = await asyncio.gather(*[get_price({"ticker": f"T{i}"}) for i in range(50)])
print(sum(json.loads(p)["price"] for p in prices))"""


@pytest.fixture
def tools(clean_registry):
    @ptc.tool
    async def get_price(ticker: str) -> dict:
        """Price of a stock. Returns {"ticker", "price"}.

        Args:
            ticker: Stock symbol.
        """
        await asyncio.sleep(0.3)
        return {"ticker": ticker, "price": 2.0}

    @ptc.tool(side_effects=True)
    def send_mail(to: str) -> str:
        """Send a mail. Returns "sent"."""
        sent.append(to)
        return "sent"

    @ptc.tool(side_effects=True, allow_code=True)
    def log_line(text: str) -> str:
        """Append a line to the log. Returns "logged"."""
        sent.append(text)
        return "logged"

    sent: list[str] = []
    return sent


@pytest.fixture
def server(tools):
    srv = ptc.serve(approval_timeout=1)
    yield srv
    srv.stop()


async def session(server: KernelServer, **headers: str):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {server.token}", **headers})
    return http, Client(streamable_http_client(server.url, http_client=http))


def with_client(server: KernelServer, body, **headers: str):
    async def main():
        http, client = await session(server, **headers)
        async with http, client:
            return await body(client)

    return asyncio.run(main())


def text(result) -> str:
    return "".join(block.text for block in result.content)


def test_lists_every_tool_with_annotations_plus_run_python(server):
    tools = with_client(server, lambda c: c.list_tools())
    by_name = {t.name: t for t in tools.tools}
    assert list(by_name) == ["get_price", "send_mail", "log_line", "run_python"]
    assert by_name["get_price"].annotations.read_only_hint is True
    assert by_name["send_mail"].annotations.destructive_hint is True
    assert by_name["get_price"].input_schema["required"] == ["ticker"]
    described = by_name["run_python"].description
    assert "await name({...})" in described and "asyncio.gather" in described
    assert "- get_price:" in described and "- log_line:" in described and "- send_mail:" not in described
    assert "Not callable from code" in described and "send_mail" in described


def test_a_direct_call_is_a_run_of_one_call(server):
    result = with_client(server, lambda c: c.call_tool("get_price", {"ticker": "AAPL"}))
    assert json.loads(text(result)) == {"ticker": "AAPL", "price": 2.0} and not result.is_error
    run = server.runs[-1]
    assert run.mode == "direct" and run.backend == "ptc-serve" and [c.name for c in run.calls] == ["get_price"]
    assert run.calls[0].status == "ok" and run.status == "completed"


def test_bad_input_is_an_error_result_and_nothing_runs(server):
    result = with_client(server, lambda c: c.call_tool("get_price", {"ticker": 3, "extra": 1}))
    assert result.is_error and "invalid input for get_price" in text(result)


def test_fifty_gathered_calls_through_run_python_run_at_once(server):
    result = with_client(server, lambda c: c.call_tool("run_python", {"code": GATHER50}))
    assert text(result) == "100.0" and not result.is_error  # only the script's output comes back
    run = server.runs[-1]
    assert run.mode == "ptc" and run.scripts == [GATHER50] and len(run.calls) == 50
    assert all(c.status == "ok" and c.caller == "local_sandbox" for c in run.calls)
    # all 50 were running at the same moment: the latest start precedes the earliest end
    assert max(c.started_s for c in run.calls) < min(c.started_s + c.duration_s for c in run.calls)


def test_scripts_share_one_repl(server):
    async def body(c):
        await c.call_tool("run_python", {"code": "x = 41"})
        return await c.call_tool("run_python", {"code": "print(x + 1)"})

    assert text(with_client(server, body)) == "42"


def test_side_effects_from_code_only_with_allow_code_and_denied_without_anyone_to_ask(server, tools):
    code = 'print(await send_mail({"to": "a"}))\nprint(await log_line({"text": "b"}))'
    result = with_client(server, lambda c: c.call_tool("run_python", {"code": code}))
    first, second = text(result).splitlines()
    assert "may not be called from code" in first
    assert second.startswith("Error: denied") and "nobody can approve it here" in second
    statuses = {c.name: c.status for c in server.runs[-1].calls}
    assert statuses == {"send_mail": "rejected", "log_line": "denied"} and tools == []
    direct = with_client(server, lambda c: c.call_tool("send_mail", {"to": "a"}))
    assert direct.is_error and "denied" in text(direct) and tools == []


def test_yes_allows_side_effects(tools):
    with ptc.serve(yes=True) as srv:
        result = with_client(srv, lambda c: c.call_tool("send_mail", {"to": "a"}))
    assert text(result) == "sent" and tools == ["a"]


def test_the_call_budget_applies_to_each_script(tools):
    with ptc.serve(max_calls=3) as srv:
        result = with_client(srv, lambda c: c.call_tool("run_python", {"code": GATHER50}))
        statuses = [c.status for c in srv.runs[-1].calls]
    assert "Error" in text(result) and statuses.count("ok") == 3 and statuses.count("rejected") == 47
    assert any("max_calls (3) reached" in n for n in srv.runs[-1].notices)


def raw_post(server: KernelServer, headers: dict[str, str]) -> httpx2.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "get_price", "arguments": {"ticker": "X"}},
    }
    return httpx2.post(server.url, json=body, headers={"accept": "application/json, text/event-stream", **headers})


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 401),
        ({"Authorization": "Bearer not-the-token"}, 401),
        ({"Host": "evil.example:80", "Authorization": "TOKEN"}, 421),
    ],
)
def test_refused_requests_run_nothing(server, headers, status):
    headers = {k: (f"Bearer {server.token}" if v == "TOKEN" else v) for k, v in headers.items()}
    response = raw_post(server, headers)
    assert response.status_code == status, response.text
    assert "access-control-allow-origin" not in response.headers
    assert server.runs == []


def test_no_cors_preflight(server):
    response = httpx2.options(
        server.url, headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 405 and "access-control-allow-origin" not in response.headers


def test_the_token_never_enters_a_trace(server):
    with_client(server, lambda c: c.call_tool("run_python", {"code": "print(1)"}))
    assert server.runs and all(server.token not in run.to_json() for run in server.runs)
    assert server.token not in repr(server)


def test_tools_registered_later_are_offered_at_once(server, clean_registry):
    @ptc.tool
    def later(n: int) -> int:
        """Twice n. Returns an integer."""
        return 2 * n

    tools = with_client(server, lambda c: c.list_tools())
    assert "later" in [t.name for t in tools.tools]


def test_listening_beyond_loopback_warns():
    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    assert "only guard" in exposure_warning("0.0.0.0")


def test_stop_closes_the_port(tools):
    srv = ptc.serve()
    srv.stop()
    with pytest.raises(httpx2.ConnectError):
        raw_post(srv, {"Authorization": f"Bearer {srv.token}"})
