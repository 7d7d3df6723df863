"""A connected MCP server whose tool list changes, and one that asks for input, on both protocol eras:
the initialize handshake (2025-11-25, `notifications/tools/list_changed` on the session) and
2026-07-28 (the same notification on a `subscriptions/listen` stream, `input_required` results).
Real servers over stdio and streamable HTTP; waits are on the registry's change count."""

from __future__ import annotations

import asyncio

import pytest
from anthropic.lib.tools import ToolError
from mcp_support import CHANGING, CHANGING_COMMAND, HTTPServer, batch, server_processes

import ptc_jupyter as ptc
import ptc_jupyter.mcp as ptc_mcp
from ptc_jupyter.calls.tools import CODE_EXECUTION_CALLER, ToolRegistry
from ptc_jupyter.emulator import EmulatorServer
from ptc_jupyter.host.session import Session
from ptc_jupyter.mcp import api as mcp_api

MODERN = "2026-07-28"
HANDSHAKE = "2025-11-25"
CHANGE_TIMEOUT_S = 30.0  # only a bound for a broken client: the waits end on the change itself
ASKED = (
    "needs input that a programmatic call cannot give: it asked 'Which account should the report use?' "
    "(fields: account (string, required))"
)


@pytest.fixture(autouse=True)
def no_servers_left():
    mcp_api.take_notices()
    yield
    ptc_mcp.close_all()
    assert server_processes() == []


def call(registry: ToolRegistry, tool: str, /, **arguments: object) -> str:
    return asyncio.run(registry[tool].invoke(**arguments))


def change(registry: ToolRegistry, tool: str, /, **arguments: object) -> None:
    """Call a tool that changes the server's tool list; return once the registry has followed."""
    before = mcp_api.tool_changes()
    call(registry, tool, **arguments)
    assert mcp_api.wait_for_tool_changes(before + 1, CHANGE_TIMEOUT_S), "the registry did not follow the change"


@pytest.mark.parametrize("protocol", [None, MODERN], ids=["handshake", "2026-07-28"])
def test_stdio_tool_list_changes_reach_the_registry(protocol):
    registry = ToolRegistry()
    status = ptc_mcp.add("changing", CHANGING_COMMAND, registry=registry, protocol=protocol)
    assert status.protocol_version == (protocol or HANDSHAKE) == call(registry, "protocol")
    assert "shout" not in registry

    change(registry, "add_tool", name="shout")
    assert call(registry, "shout", text="hi") == "shout: hi"
    shout = registry["shout"]
    assert (shout.source, shout.allowed_callers, shout.side_effects) == ("mcp:changing", [CODE_EXECUTION_CALLER], False)
    assert "shout" in ptc_mcp.servers()[0].tools

    change(registry, "retype")  # greet gets a second required parameter
    assert registry["greet"].input_schema["required"] == ["name", "greeting"]
    assert call(registry, "greet", name="Ada", greeting="Hi") == "Hi, Ada"

    change(registry, "remove_tool", name="shout")
    assert "shout" not in registry and "shout" not in ptc_mcp.servers()[0].tools
    assert mcp_api.take_notices() == [
        "MCP server 'changing': tools changed (added: shout)",
        "MCP server 'changing': tools changed (changed: greet)",
        "MCP server 'changing': tools changed (removed: shout)",
    ]
    assert mcp_api.take_notices() == []  # each change is told once


def test_http_2026_server_changes_its_tools_with_the_policy_given_at_add():
    registry = ToolRegistry()
    with HTTPServer(CHANGING) as server:
        status = ptc_mcp.add(
            "changing", url=server.url, registry=registry, protocol=MODERN, prefix=True, allowed_callers=["direct"]
        )
        assert (status.transport, status.protocol_version) == ("http", MODERN)
        change(registry, "changing_add_tool", name="shout")
        shout = registry["changing_shout"]  # prefixed, and direct-only, like the tools listed at connect
        assert shout.allowed_callers == ["direct"]
        assert call(registry, "changing_shout", text="x") == "shout: x"
        ptc_mcp.remove("changing")
    assert len(registry) == 0


def test_the_next_run_says_what_changed():
    registry = ToolRegistry()
    ptc_mcp.add("changing", CHANGING_COMMAND, registry=registry)
    change(registry, "add_tool", name="shout")
    prompt = """```python
print(await shout({"text": "new"}))
```"""
    with EmulatorServer() as emulator:
        session = Session(emulator=emulator)
        first = ptc.run(prompt, tools=list(registry), offline=True, session=session)
        second = ptc.run(prompt, tools=list(registry), offline=True, session=session)
    assert first.text.strip().splitlines()[-1] == "shout: new"
    assert "MCP server 'changing': tools changed (added: shout)" in first.notices
    assert not [n for n in second.notices if "tools changed" in n]


@pytest.mark.parametrize("protocol", [None, MODERN], ids=["handshake-elicitation", "2026-07-28-input_required"])
def test_a_request_for_input_becomes_an_error_result_saying_what_was_asked(protocol):
    registry = ToolRegistry()
    ptc_mcp.add("changing", CHANGING_COMMAND, registry=registry, protocol=protocol, call_timeout=30)
    (asked,) = batch(registry, ("ask_account", {}))
    assert asked.is_error
    assert asked.output == f"Error: MCP server 'changing': 'ask_account' {ASKED}"
    with pytest.raises(ToolError, match="Which account"):
        call(registry, "ask_account")
    assert call(registry, "greet", name="Ada") == "Hello, Ada"  # the connection is fine afterwards


def test_http_input_required_on_2026():
    registry = ToolRegistry()
    with HTTPServer(CHANGING) as server:
        ptc_mcp.add("changing", url=server.url, registry=registry, protocol=MODERN)
        (asked,) = batch(registry, ("ask_account", {}))
        assert asked.is_error and asked.output.endswith(ASKED)
        ptc_mcp.remove("changing")


def test_an_unknown_protocol_is_refused_before_anything_starts():
    with pytest.raises(ValueError, match="protocol must be None"):
        ptc_mcp.add("changing", CHANGING_COMMAND, protocol="2025-06-18")
    assert server_processes() == []
