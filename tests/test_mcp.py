"""ptc_jupyter.mcp against real MCP servers (stdio and streamable HTTP on loopback), started by the tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
from mcp_support import DEMO, HTTPServer, exclude_from_checks, server_processes

import ptc_jupyter.mcp as ptc_mcp
from ptc_jupyter._sync import run_in_worker_loop
from ptc_jupyter.dispatch import Dispatcher
from ptc_jupyter.mcp import MCPServerError
from ptc_jupyter.tools import CODE_EXECUTION_CALLER, ToolRegistry, function_tool
from ptc_jupyter.trace import ToolCall

DEMO_COMMAND = ["python", str(DEMO)]


def batch(registry: ToolRegistry, *calls: tuple[str, dict]) -> list[ToolCall]:
    """Run calls as one batch through the real dispatcher, as a PTC run would."""
    tool_calls = [ToolCall(id=f"call_{i}", name=name, input=args, caller=CODE_EXECUTION_CALLER)
                  for i, (name, args) in enumerate(calls)]
    asyncio.run(Dispatcher(timeout_s=30).run_batch(tool_calls, {t.name: t for t in registry}))
    return tool_calls


@pytest.fixture(scope="module", autouse=True)
def no_servers_left():
    yield
    ptc_mcp.close_all()
    assert server_processes() == []


@pytest.fixture(scope="module")
def demo():
    registry = ToolRegistry()
    before = {p.pid for p in server_processes()}
    status = ptc_mcp.add("demo", DEMO_COMMAND, registry=registry, call_timeout=10)
    mine = {p.pid for p in server_processes()} - before
    exclude_from_checks(mine)  # the other tests check that *their* servers are gone
    yield status, registry
    if "demo" in [s.name for s in ptc_mcp.servers()]:  # test_remove_and_close_all may have closed it
        ptc_mcp.remove("demo")
    exclude_from_checks(mine, exclude=False)


# -- adding a server ---------------------------------------------------------------------------
def test_add_registers_the_servers_tools_with_their_policy(demo):
    status, registry = demo
    assert (status.state, status.transport, status.server, status.protocol_version) == (
        "ready", "stdio", "demo 0.1", "2025-11-25")
    assert status.target == f"{sys.executable} {DEMO}"  # `python` is this interpreter
    assert set(status.tools) == set(registry.names()) >= {"add", "sleep", "delete_file", "search"}
    policy = {t.name: (t.allowed_callers, t.side_effects) for t in registry}
    assert policy["add"] == ([CODE_EXECUTION_CALLER], False)
    assert policy["lookup"] == ([CODE_EXECUTION_CALLER], False)  # readOnlyHint: true
    assert policy["delete_file"] == (["direct"], True)  # destructiveHint: true
    assert policy["write_note"] == (["direct"], True)  # readOnlyHint: false
    assert policy["search"] == (["direct"], False)  # _meta ptc/allowed_callers
    assert policy["send_email"] == (["direct", CODE_EXECUTION_CALLER], True)  # _meta, both hints
    assert {t.source for t in registry} == {"mcp:demo"}
    assert [s.name for s in ptc_mcp.servers()] == ["demo"]


def test_results_are_text_and_errors_are_is_error_results(demo):
    _, registry = demo
    add, boom, media, bad, unicode = batch(
        registry, ("add", {"a": 2, "b": 3}), ("boom", {}), ("media", {}), ("add", {"a": "x"}), ("unicode_text", {}))
    assert (add.status, add.output, add.is_error) == ("ok", "5", False)
    assert boom.is_error and boom.output == "Error: Error executing tool boom: kaboom: the tool failed on purpose"
    assert media.output.splitlines() == [
        "chart below",
        "[image (image/png, 2.0 kB) omitted: programmatic tool results must be text]",
        "[audio (audio/wav, 100 bytes) omitted: programmatic tool results must be text]",
        "[resource link: report <file:///tmp/report.csv>, text/csv]",
        "memo text",
    ]
    assert bad.is_error and bad.output == ("Error: invalid input for add: input: 'b' is a required property; "
                                           "a: 'x' is not of type 'integer'")
    assert unicode.output == "Zürich – 東京 ✓"


def test_many_calls_to_one_server_run_at_once(demo):
    _, registry = demo
    started = time.perf_counter()
    calls = batch(registry, *[("sleep", {"seconds": 0.5})] * 10)
    print(f"10 calls of 0.5 s to one server: {time.perf_counter() - started:.2f} s")
    assert [c.output for c in calls] == ["slept"] * 10
    first_done = min(c.started_s + c.duration_s for c in calls)
    assert max(c.started_s for c in calls) < first_done, "the calls did not overlap"


def test_the_connection_serves_every_loop_and_thread(demo):
    _, registry = demo
    add = registry["add"]
    assert asyncio.run(add.invoke(a=1, b=1)) == "2"
    assert asyncio.run(add.invoke(a=2, b=2)) == "4"  # a second asyncio.run: a new loop
    assert run_in_worker_loop(add.invoke(a=3, b=3)) == "6"  # the fallback worker-thread loop
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("sum", asyncio.run(add.invoke(a=4, b=4))))
    thread.start()
    thread.join()
    assert box["sum"] == "8"


def test_stderr_is_kept_for_messages_not_printed(demo, capfd):
    status, registry = demo
    batch(registry, ("boom", {}))  # the server logs the failure on its stderr
    assert "kaboom" not in capfd.readouterr().err
    assert "demo: starting" in ptc_mcp.servers()[0].stderr
    assert "kaboom" in ptc_mcp.servers()[0].stderr


# -- options: env, cwd, name clashes, HTTP headers ---------------------------------------------
def test_env_cwd_and_clashing_names(tmp_path):
    registry = ToolRegistry()

    def add(a: int, b: int) -> int:
        """A kernel function with the same name as the server's tool."""
        return a + b

    registry.add(function_tool(add))
    status = ptc_mcp.add("clash", DEMO_COMMAND, env={"DEMO_SECRET": "s3cret"}, cwd=tmp_path, registry=registry)
    try:
        assert "clash_add" in status.tools and "add" not in status.tools
        assert registry["add"].source == "kernel"
        assert registry["clash_add"].source == "mcp:clash"
        (call,) = batch(registry, ("environment", {"name": "DEMO_SECRET"}))
        assert call.output == f"s3cret|{tmp_path}"
        (home,) = batch(registry, ("environment", {"name": "ANTHROPIC_API_KEY"}))
        assert home.output.startswith("|")  # the kernel's environment is not passed on wholesale
    finally:
        ptc_mcp.remove("clash")
    assert registry.names() == ["add"]
    assert server_processes() == []


def test_http_server_with_headers_and_concurrent_calls():
    registry = ToolRegistry()
    with HTTPServer(DEMO) as server:
        status = ptc_mcp.add("web", url=server.url, headers={"X-Team": "quants"}, registry=registry)
        assert (status.state, status.transport, status.target) == ("ready", "http", server.url)
        (header,) = batch(registry, ("header", {"name": "X-Team"}))
        assert header.output == "quants"
        started = time.perf_counter()
        calls = batch(registry, *[("sleep", {"seconds": 0.5})] * 10)
        assert [c.output for c in calls] == ["slept"] * 10
        assert time.perf_counter() - started < 1.5
        ptc_mcp.remove("web")
    assert registry.names() == []


def test_an_http_server_that_dies_mid_call_gives_is_error_results():
    registry = ToolRegistry()
    with HTTPServer(DEMO) as server:
        ptc_mcp.add("web2", url=server.url, registry=registry)
        tool = registry["sleep"]

        async def kill_during_calls():
            calls = [asyncio.ensure_future(tool.invoke(seconds=5)) for _ in range(3)]
            await asyncio.sleep(0.3)  # let the requests reach the server
            server.process.kill()
            return await asyncio.gather(*calls, return_exceptions=True)

        started = time.perf_counter()
        errors = asyncio.run(kill_during_calls())
        assert time.perf_counter() - started < 4  # not the 5 s the calls asked for
        assert all(isinstance(e, MCPServerError) for e in errors), errors
        assert "MCP server 'web2'" in str(errors[0]) and "ptc_mcp add web2" in str(errors[0])
        assert errors[0].run_notice.startswith("MCP server 'web2' stopped")  # one line for the run's notices
        assert errors[0].run_notice.endswith("restart it with `%ptc_mcp add web2 ...`")
        assert ptc_mcp.servers()[-1].state == "dead"
        ptc_mcp.remove("web2")


# -- failures: crash, hang, start ----------------------------------------------------------------
def test_a_crash_mid_run_fails_the_calls_in_flight_and_add_again_restarts_it():
    registry = ToolRegistry()
    ptc_mcp.add("crashy", DEMO_COMMAND, registry=registry)
    (first,) = server_processes()
    sleeping, crashing = batch(registry, ("sleep", {"seconds": 10}), ("crash", {"delay": 0.2}))
    for call in (sleeping, crashing):
        assert call.is_error and call.duration_s < 5
        assert call.output.startswith("Error: MCP server 'crashy' stopped: its connection closed")
        assert "demo: fatal: simulated crash" in call.output  # the stderr tail
    assert ptc_mcp.servers()[-1].state == "dead"
    started = time.perf_counter()
    (after,) = batch(registry, ("add", {"a": 1, "b": 1}))
    assert after.is_error and time.perf_counter() - started < 0.5  # fails fast once known dead
    assert "Restart it with `%ptc_mcp add crashy ...`" in after.output

    ptc_mcp.add("crashy", DEMO_COMMAND, registry=registry)
    (second,) = server_processes()
    assert second.pid != first.pid
    (again,) = batch(registry, ("add", {"a": 1, "b": 1}))
    assert again.output == "2"
    ptc_mcp.remove("crashy")


def test_a_slow_call_times_out_but_a_hung_server_is_reported_dead():
    registry = ToolRegistry()
    ptc_mcp.add("hung", DEMO_COMMAND, registry=registry, call_timeout=1)
    (slow,) = batch(registry, ("sleep", {"seconds": 3}))
    assert slow.is_error and "did not answer 'sleep' within 1 s (it still answers pings" in slow.output
    assert ptc_mcp.servers()[-1].state == "ready"
    started = time.perf_counter()
    blocked, other = batch(registry, ("block", {"seconds": 60}), ("add", {"a": 1, "b": 2}))
    assert time.perf_counter() - started < 4
    for call in (blocked, other):
        assert call.is_error
        assert "MCP server 'hung' hangs: no answer to 'block' within 1 s, nor to a ping within 1 s" in call.output
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
    started = threading.Event()

    def interrupt_once_spawned():
        while not server_processes():  # poll the process table, not a sleep
            if started.wait(0.02):
                return
        os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_once_spawned)
    interrupter.start()
    begun = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            ptc_mcp.add("interrupted", DEMO_COMMAND, env={"DEMO_HANG_AT_START": "1"}, start_timeout=30)
    finally:
        started.set()
        interrupter.join()
    assert time.perf_counter() - begun < 10  # not the 30 s start timeout
    assert server_processes() == [] and "interrupted" not in [s.name for s in ptc_mcp.servers()]


def test_an_unreachable_url_fails_to_start():
    with pytest.raises(MCPServerError, match="'offline' failed to start: ConnectError"):
        ptc_mcp.add("offline", url="http://127.0.0.1:9/mcp")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "either command"),
    ({"command": ["x"], "url": "http://h/mcp"}, "either command"),
    ({"url": "ftp://h/mcp"}, "must start with http"),
    ({"url": "http://h/mcp", "env": {"A": "1"}}, "apply to stdio servers"),
    ({"command": ["x"], "headers": {"A": "1"}}, "apply to HTTP servers"),
    ({"command": []}, "command is empty"),
])
def test_bad_arguments_are_refused_before_starting_anything(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ptc_mcp.add("x", **kwargs)


def test_a_bad_server_name_is_refused():
    with pytest.raises(ValueError, match="server name 'my server' is not allowed"):
        ptc_mcp.add("my server", ["x"])


# -- lifetime ----------------------------------------------------------------------------------
def test_remove_and_close_all_leave_no_process_and_no_tool():
    registry = ToolRegistry()
    ptc_mcp.add("one", DEMO_COMMAND, registry=registry)
    ptc_mcp.add("two", DEMO_COMMAND, registry=registry, prefix=True)
    assert len(server_processes()) == 2
    assert "two_add" in registry and "add" in registry
    status = ptc_mcp.remove("one")
    assert status.state == "closed" and "add" not in registry and len(server_processes()) == 1
    with pytest.raises(KeyError, match="no MCP server named 'one'"):
        ptc_mcp.remove("one")
    ptc_mcp.close_all()
    assert server_processes() == [] and registry.names() == [] and ptc_mcp.servers() == []
    assert not [t for t in threading.enumerate() if t.name == "ptc-mcp"]
    ptc_mcp.add("three", DEMO_COMMAND, registry=registry)  # the loop thread starts again
    assert asyncio.run(registry["add"].invoke(a=1, b=2)) == "3"
    ptc_mcp.remove("three")


def test_interpreter_exit_closes_the_servers(tmp_path):
    script = (f"import ptc_jupyter.mcp as m; s = m.add('demo', ['python', {str(DEMO)!r}]); "
              "import psutil; print(psutil.Process().children()[0].pid)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.strip())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_ptc_mcp_is_the_module_lazily():
    done = subprocess.run([sys.executable, "-c", "import ptc_jupyter as ptc; print(ptc.mcp.__name__)"],
                          capture_output=True, text=True, timeout=60, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.stdout.strip() == "ptc_jupyter.mcp", done.stderr[-500:]
