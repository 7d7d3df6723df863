"""ptc_jupyter.mcp.api (`ptc.mcp.add`, `remove`, `servers`, `close_all`) against real MCP servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import psutil
import pytest
from mcp_support import DEMO, DEMO_COMMAND, batch, module_server, server_processes

import ptc_jupyter.mcp as ptc_mcp
from ptc_jupyter.calls.tools import CODE_EXECUTION_CALLER, ToolRegistry, function_tool
from ptc_jupyter.host.background import background_loop
from ptc_jupyter.mcp import MCPServerError

ROOT = os.path.dirname(os.path.dirname(__file__))


@pytest.fixture(scope="module", autouse=True)
def no_servers_left():
    yield
    ptc_mcp.close_all()
    assert server_processes() == []


@pytest.fixture(scope="module")
def demo():
    with module_server("demo", DEMO_COMMAND, call_timeout=10) as server:
        yield server


# -- adding a server ---------------------------------------------------------------------------
def test_add_registers_the_servers_tools_with_their_policy(demo):
    status, registry = demo
    assert (status.state, status.transport, status.server, status.protocol_version) == (
        "ready",
        "stdio",
        "demo 0.1",
        "2025-11-25",
    )
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
        registry, ("add", {"a": 2, "b": 3}), ("boom", {}), ("media", {}), ("add", {"a": "x"}), ("unicode_text", {})
    )
    assert (add.status, add.output, add.is_error) == ("ok", "5", False)
    assert boom.is_error and boom.output == "Error: Error executing tool boom: kaboom: the tool failed on purpose"
    assert media.output.splitlines() == [
        "chart below",
        "[image (image/png, 2.0 kB) omitted: programmatic tool results must be text]",
        "[audio (audio/wav, 100 bytes) omitted: programmatic tool results must be text]",
        "[resource link: report <file:///tmp/report.csv>, text/csv]",
        "memo text",
    ]
    assert bad.is_error and bad.output == (
        "Error: invalid input for add: input: 'b' is a required property; a: 'x' is not of type 'integer'"
    )
    assert unicode.output == "Zürich – 東京 ✓"


# -- options: env, cwd, name clashes -----------------------------------------------------------
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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "either command"),
        ({"command": ["x"], "url": "http://h/mcp"}, "either command"),
        ({"url": "ftp://h/mcp"}, "must start with http"),
        ({"url": "http://h/mcp", "env": {"A": "1"}}, "apply to stdio servers"),
        ({"command": ["x"], "headers": {"A": "1"}}, "apply to HTTP servers"),
        ({"command": []}, "command is empty"),
        ({"command": ["x"], "call_timeout": 0}, "timeouts must be positive"),
    ],
)
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
    assert background_loop.running  # shared with sync ptc.run: MCP closes its connections, not the loop
    ptc_mcp.add("three", DEMO_COMMAND, registry=registry)
    assert asyncio.run(registry["add"].invoke(a=1, b=2)) == "3"
    ptc_mcp.remove("three")


def test_stopping_the_background_loop_closes_every_server():
    registry = ToolRegistry()
    ptc_mcp.add("stopped", DEMO_COMMAND, registry=registry)
    background_loop.stop()
    assert server_processes() == [] and not background_loop.running
    (status,) = [s for s in ptc_mcp.servers() if s.name == "stopped"]
    assert status.state == "closed"  # listed until removed or added again, like a dead server
    with pytest.raises(MCPServerError, match="MCP server 'stopped' is closed\nRestart it with `%ptc_mcp add stopped"):
        asyncio.run(registry["add"].invoke(a=1, b=2))

    ptc_mcp.add("stopped", DEMO_COMMAND, registry=registry)  # the loop starts again, with its cleanup
    assert asyncio.run(registry["add"].invoke(a=1, b=2)) == "3"
    background_loop.stop()
    assert server_processes() == []
    ptc_mcp.remove("stopped")


def test_interpreter_exit_closes_the_servers():
    script = (
        f"import ptc_jupyter.mcp as m; s = m.add('demo', ['python', {str(DEMO)!r}]); "
        "import psutil; print(psutil.Process().children()[0].pid)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.strip())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_ptc_mcp_is_the_package_lazily():
    code = "import sys, ptc_jupyter as ptc; assert 'ptc_jupyter.mcp' not in sys.modules; print(ptc.mcp.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.strip() == "ptc_jupyter.mcp", done.stderr[-500:]
