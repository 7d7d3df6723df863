"""A test MCP server (mcp 2.x) whose tool list changes while a client is connected, and that asks for input.

Start: `python tests/servers/changing_server.py [--http PORT]`. It speaks both protocol eras the SDK
serves: the initialize handshake (2025-11-25 and older) and 2026-07-28. A change is announced the
way each era allows: `notifications/tools/list_changed` on the session (handshake era), an event
on the `subscriptions/listen` streams the client opened (2026-07-28).
"""

from __future__ import annotations

import argparse
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ElicitRequest, ElicitRequestFormParams, InputRequiredResult
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

mcp = MCPServer("changing", version="0.1")


async def announce(ctx: Context) -> None:
    """Tell the client the tool list changed, the way its protocol version allows."""
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        await ctx.notify_tools_changed()
    else:
        await ctx.request_context.session.send_tool_list_changed()


@mcp.tool()
def protocol(ctx: Context) -> str:
    """The protocol version of this connection."""
    return ctx.protocol_version or ""


@mcp.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Register a tool `name` (it returns "<name>: <text>") and announce the change."""

    def echo(text: str) -> str:
        return f"{name}: {text}"

    mcp.add_tool(echo, name=name, description=f"Echo `text`, prefixed with {name!r}.")
    await announce(ctx)
    return f"added {name}"


@mcp.tool()
async def remove_tool(name: str, ctx: Context) -> str:
    """Unregister the tool `name` and announce the change."""
    mcp.remove_tool(name)
    await announce(ctx)
    return f"removed {name}"


@mcp.tool()
async def retype(ctx: Context) -> str:
    """Give `greet` a second, required parameter and announce the change."""
    mcp.remove_tool("greet")

    def greet(name: str, greeting: str) -> str:
        return f"{greeting}, {name}"

    mcp.add_tool(greet, description="Greet `name` with `greeting`.")
    await announce(ctx)
    return "retyped greet"


@mcp.tool()
def greet(name: str) -> str:
    """Greet `name`."""
    return f"Hello, {name}"


class Account(BaseModel):
    account: str


@mcp.tool()
async def ask_account(ctx: Context) -> str:
    """Asks the client which account to use before it can answer (elicitation)."""
    message = "Which account should the report use?"
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        if ctx.input_responses:
            return "answered"
        request = ElicitRequest(
            params=ElicitRequestFormParams(message=message, requested_schema=Account.model_json_schema())
        )
        return InputRequiredResult(input_requests={"account": request}, request_state="round-1")  # type: ignore[return-value]
    answer = await ctx.elicit(message, Account)
    return (
        f"account: {answer.data.account}"
        if answer.action == "accept" and answer.data
        else f"no account ({answer.action})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT")
    args = parser.parse_args()
    print("changing: starting", file=sys.stderr, flush=True)
    if args.http is None:
        mcp.run()
    else:
        mcp.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
