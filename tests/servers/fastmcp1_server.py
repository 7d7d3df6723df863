"""A finance server written for mcp 1.x (`FastMCP`, camelCase types); runs in its own virtualenv.

The 2.x client must work with it: `tests/test_mcp_v1.py` starts it with the cached venv's python.
"""

import asyncio
import sys

from mcp.server.fastmcp import Context, FastMCP
from mcp.types import ToolAnnotations
from pydantic import BaseModel

mcp = FastMCP("finance-v1")

PRICES = {"AAPL": 189.84, "MSFT": 415.5, "GOOGL": 172.63}


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def get_stock_price(ticker: str) -> dict:
    """Current price of a stock. Returns {"ticker", "price", "currency"}."""
    await asyncio.sleep(0.3)
    if ticker not in PRICES:
        raise ValueError(f"unknown ticker {ticker!r}")
    return {"ticker": ticker, "price": PRICES[ticker], "currency": "USD"}


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=False))
def place_order(ticker: str, quantity: int) -> str:
    """Places an order (side effects)."""
    return f"ordered {quantity} {ticker}"


@mcp.tool(meta={"ptc/allowed_callers": ["direct"]})
def version() -> str:
    """The mcp package version of this server."""
    from importlib.metadata import version

    return version("mcp")


@mcp.tool()
async def crash() -> str:
    """Exits the process abruptly."""
    print("v1: fatal: simulated crash", file=sys.stderr, flush=True)
    sys.stderr.flush()
    import os

    os._exit(4)


@mcp.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Register a tool `name` (it returns "<name>: <text>") and send notifications/tools/list_changed."""

    def echo(text: str) -> str:
        return f"{name}: {text}"

    mcp.add_tool(echo, name=name, description=f"Echo `text`, prefixed with {name!r}.")
    await ctx.session.send_tool_list_changed()
    return f"added {name}"


class Account(BaseModel):
    account: str


@mcp.tool()
async def ask_account(ctx: Context) -> str:
    """Asks the client which account to use (elicitation)."""
    answer = await ctx.elicit("Which account should the report use?", Account)
    return f"account: {answer.data.account}" if answer.action == "accept" else f"no account ({answer.action})"


if __name__ == "__main__":
    mcp.run()
