"""ptc_jupyter.mcp.client: one connection per server, on the background loop, through real servers
(stdio and streamable HTTP on loopback): concurrency, every caller's loop, stderr, and failures
(crash, hang, failed or interrupted start), each named with how to restart the server."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest
from mcp_support import (
    CRASH_IN_ORDER_COMMAND,
    DEMO,
    DEMO_COMMAND,
    HTTPServer,
    assert_crash_message,
    batch,
    module_server,
    server_processes,
)

import ptc_jupyter.mcp as ptc_mcp
from ptc_jupyter.calls.tools import ToolRegistry
from ptc_jupyter.host.background import background_loop
from ptc_jupyter.mcp import MCPServerError
from ptc_jupyter.mcp.spec import DEFAULT_CALL_TIMEOUT_S

CRASH_LINE = "demo: fatal: simulated crash"  # what the test servers write to stderr as they crash


@pytest.fixture(scope="module", autouse=True)
def no_servers_left():
    yield
    ptc_mcp.close_all()
    assert server_processes() == []


@pytest.fixture(scope="module")
def demo():
    with module_server("demo", DEMO_COMMAND, call_timeout=10) as server:
        yield server


# -- one session, many callers -----------------------------------------------------------------
def test_many_calls_to_one_server_run_at_once(demo):
    _, registry = demo
    calls = batch(registry, *[("meet", {"group": "stdio", "size": 10})] * 10)
    assert [c.output for c in calls] == ["met"] * 10  # all ten were in the server at once
    (alone,) = batch(registry, ("meet", {"group": "solo", "size": 2, "within": 0.1}))
    assert alone.output == "alone"  # what calls sent one by one would each get


def test_the_connection_serves_every_loop_and_thread(demo):
    _, registry = demo
    add = registry["add"]
    assert asyncio.run(add.invoke(a=1, b=1)) == "2"
    assert asyncio.run(add.invoke(a=2, b=2)) == "4"  # a second asyncio.run: a new loop
    assert background_loop.run(add.invoke(a=3, b=3)) == "6"  # sync ptc.run's loop, where the connection lives
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("sum", asyncio.run(add.invoke(a=4, b=4))))
    thread.start()
    thread.join()
    assert box["sum"] == "8"  # a loop of its own in another thread


def test_stderr_is_kept_for_messages_not_printed(demo, capfd):
    _, registry = demo
    batch(registry, ("boom", {}))  # the server logs the failure on its stderr
    assert "kaboom" not in capfd.readouterr().err
    (status,) = [s for s in ptc_mcp.servers() if s.name == "demo"]
    assert "demo: starting" in status.stderr and "kaboom" in status.stderr


# -- streamable HTTP ---------------------------------------------------------------------------
def test_http_server_with_headers_and_concurrent_calls():
    registry = ToolRegistry()
    with HTTPServer(DEMO) as server:
        status = ptc_mcp.add("web", url=server.url, headers={"X-Team": "quants"}, registry=registry)
        assert (status.state, status.transport, status.target) == ("ready", "http", server.url)
        (header,) = batch(registry, ("header", {"name": "X-Team"}))
        assert header.output == "quants"
        calls = batch(registry, *[("meet", {"group": "http", "size": 10})] * 10)
        assert [c.output for c in calls] == ["met"] * 10  # all ten were in the server at once
        ptc_mcp.remove("web")
    assert registry.names() == []


def test_an_http_server_that_dies_mid_call_gives_is_error_results():
    registry = ToolRegistry()
    with HTTPServer(DEMO) as server:
        ptc_mcp.add("web2", url=server.url, registry=registry)
        tool = registry["sleep"]

        async def kill_during_calls():
            calls = [asyncio.ensure_future(tool.invoke(seconds=5)) for _ in range(3)]
            await asyncio.to_thread(server.wait_for_answered, 2 + 3)  # initialize, tools/list, the three calls
            server.process.kill()
            return await asyncio.gather(*calls, return_exceptions=True)

        errors = asyncio.run(kill_during_calls())
        assert all(isinstance(e, MCPServerError) for e in errors), errors  # not "slept"
        assert "MCP server 'web2'" in str(errors[0]) and "ptc_mcp add web2" in str(errors[0])
        assert errors[0].run_notice.startswith("MCP server 'web2' stopped")  # one line for the run's notices
        assert errors[0].run_notice.endswith("restart it with `%ptc_mcp add web2 ...`")
        assert ptc_mcp.servers()[-1].state == "dead"
        ptc_mcp.remove("web2")


def test_an_unreachable_url_fails_to_start():
    with pytest.raises(MCPServerError, match="'offline' failed to start: ConnectError"):
        ptc_mcp.add("offline", url="http://127.0.0.1:9/mcp")


# -- a crash: one message, however it shows first ----------------------------------------------
def test_a_crash_mid_run_fails_the_calls_in_flight_and_add_again_restarts_it():
    registry = ToolRegistry()
    ptc_mcp.add("crashy", DEMO_COMMAND, registry=registry)
    (first,) = server_processes()
    sleeping, crashing = batch(registry, ("sleep", {"seconds": 10}), ("crash", {"delay": 0.2}))
    status = ptc_mcp.servers()[-1]
    assert status.state == "dead"
    assert_crash_message(status.failure, "crashy", CRASH_LINE)
    for call in (sleeping, crashing):
        assert (
            call.is_error and call.output == f"Error: {status.failure}"
        )  # the same message in every call and in the list
    (after,) = batch(registry, ("add", {"a": 1, "b": 1}))
    assert after.is_error and after.output == f"Error: {status.failure}"  # known dead: not sent, not waited for
    assert server_processes() == []  # nor started again behind the user's back
    assert after.duration_s < DEFAULT_CALL_TIMEOUT_S / 20  # fails fast: no wait for the call timeout

    ptc_mcp.add("crashy", DEMO_COMMAND, registry=registry)
    (second,) = server_processes()
    assert second.pid != first.pid
    (again,) = batch(registry, ("add", {"a": 1, "b": 1}))
    assert again.output == "2"
    ptc_mcp.remove("crashy")


def test_a_crash_gives_one_message_whichever_signal_arrives_first():
    """stdout first: the session's connection closes while stderr is still open; stderr first: the
    process hangs with stderr closed until a ping gives up on it."""
    messages = {}
    for first in ("stdout", "stderr"):
        registry = ToolRegistry()
        ptc_mcp.add("crashy", CRASH_IN_ORDER_COMMAND, registry=registry, call_timeout=1)
        (call,) = batch(registry, ("crash_in_order", {"first": first, "seconds": 5}))
        status = ptc_mcp.servers()[-1]
        assert status.state == "dead"
        assert_crash_message(status.failure, "crashy", CRASH_LINE)
        assert call.is_error and call.output == f"Error: {status.failure}"
        messages[first] = status.failure
        ptc_mcp.remove("crashy")
        assert server_processes() == []
    assert messages["stdout"] == messages["stderr"]


def test_a_server_killed_between_calls_gives_the_same_message():
    registry = ToolRegistry()
    ptc_mcp.add("killed", DEMO_COMMAND, registry=registry)
    (process,) = server_processes()
    process.kill()  # no waiting: whether the call or the watcher notices first, the message is the same
    (call,) = batch(registry, ("add", {"a": 1, "b": 1}))
    status = ptc_mcp.servers()[-1]
    assert status.state == "dead"
    assert_crash_message(status.failure, "killed", "demo: starting")
    assert call.is_error and call.output == f"Error: {status.failure}"
    ptc_mcp.remove("killed")


# -- hangs and failed starts -------------------------------------------------------------------
def test_a_slow_call_times_out_but_a_hung_server_is_reported_dead():
    registry = ToolRegistry()
    ptc_mcp.add("hung", DEMO_COMMAND, registry=registry, call_timeout=1)
    (slow,) = batch(registry, ("sleep", {"seconds": 3}))
    assert slow.is_error and "did not answer 'sleep' within 1 s (it still answers pings" in slow.output
    assert ptc_mcp.servers()[-1].state == "ready"
    blocked, other = batch(registry, ("block", {"seconds": 60}), ("add", {"a": 1, "b": 2}))
    for call in (blocked, other):
        assert call.is_error
        assert "MCP server 'hung' hangs: no answer to 'block' within 1 s, nor to a ping within 1 s" in call.output
        assert "Restart it with `%ptc_mcp add hung ...`" in call.output
    ptc_mcp.remove("hung")
    assert server_processes() == []  # the hung process was killed


def test_a_server_that_fails_to_start_names_itself_and_its_stderr():
    with pytest.raises(MCPServerError) as caught:
        ptc_mcp.add("broken", DEMO_COMMAND, env={"DEMO_FAIL_AT_START": "1"})
    message = str(caught.value)
    assert message.startswith("MCP server 'broken' failed to start: its connection closed")
    assert "demo: cannot start: DEMO_TOKEN is not set" in message
    assert caught.value._render_traceback_() == [f"MCPServerError: {message}"]
    with pytest.raises(MCPServerError, match="'nowhere' failed to start: FileNotFoundError"):
        ptc_mcp.add("nowhere", ["no-such-program-ptc-test"])
    assert "broken" not in [s.name for s in ptc_mcp.servers()]
    assert server_processes() == []


def test_a_server_that_hangs_at_start_is_stopped_after_the_start_timeout():
    with pytest.raises(MCPServerError, match="MCP server 'stuck' did not start within 1 s") as caught:
        ptc_mcp.add("stuck", DEMO_COMMAND, env={"DEMO_HANG_AT_START": "1"}, start_timeout=1)
    assert "demo: starting" in str(caught.value)
    assert server_processes() == []


def test_an_interrupted_add_stops_the_server():
    # The server interrupts this process as soon as it runs (a user pressing Ctrl-C while it starts),
    # then hangs before speaking MCP.
    interrupt_then_hang = (
        f"import os, runpy, signal, sys; os.kill(os.getppid(), signal.SIGINT); "
        f"sys.argv = [{str(DEMO)!r}]; runpy.run_path({str(DEMO)!r}, run_name='__main__')"
    )
    with pytest.raises(KeyboardInterrupt):  # at once: not a failed start after the 30 s start timeout
        ptc_mcp.add(
            "interrupted",
            [sys.executable, "-c", interrupt_then_hang],
            env={"DEMO_HANG_AT_START": "1"},
            start_timeout=30,
        )
    assert server_processes() == [] and "interrupted" not in [s.name for s in ptc_mcp.servers()]
