"""The developer guide's finance MCP server, on the mcp 2.x SDK (`MCPServer`, formerly FastMCP).

Two read-only tools with simulated latency (0.3 s and 0.2 s), deterministic data, structured
output. Claude Code cannot call an MCP server's tools programmatically; from a notebook it can:

    %load_ext ptc_jupyter
    %ptc_mcp add finance -- python examples/finance_server.py

Run it alone: `python examples/finance_server.py` (stdio), or
`python examples/finance_server.py --http 8000` (streamable HTTP on http://127.0.0.1:8000/mcp).
"""

from __future__ import annotations

import argparse
import asyncio

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel

PRICE_LATENCY_S = 0.3
INFO_LATENCY_S = 0.2

# ticker: (company, sector, price in USD, market cap in USD billions, employees)
COMPANIES: dict[str, tuple[str, str, float, float, int]] = {
    "AAPL": ("Apple Inc.", "Technology", 189.84, 2950.0, 161_000),
    "MSFT": ("Microsoft Corporation", "Technology", 415.50, 3090.0, 221_000),
    "GOOGL": ("Alphabet Inc.", "Communication Services", 172.63, 2140.0, 182_502),
    "AMZN": ("Amazon.com, Inc.", "Consumer Discretionary", 184.70, 1920.0, 1_525_000),
    "TSLA": ("Tesla, Inc.", "Consumer Discretionary", 177.48, 566.0, 140_473),
    "NVDA": ("NVIDIA Corporation", "Technology", 120.91, 2970.0, 29_600),
    "META": ("Meta Platforms, Inc.", "Communication Services", 493.50, 1250.0, 67_317),
    "NFLX": ("Netflix, Inc.", "Communication Services", 641.20, 276.0, 13_000),
    "AMD": ("Advanced Micro Devices, Inc.", "Technology", 160.35, 259.0, 26_000),
    "INTC": ("Intel Corporation", "Technology", 30.72, 131.0, 124_800),
}

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

mcp = MCPServer("finance", version="1.0.0", instructions="Simulated stock prices and company facts.")


class StockPrice(BaseModel):
    ticker: str
    price: float
    currency: str


class CompanyInfo(BaseModel):
    ticker: str
    name: str
    sector: str
    market_cap_usd_bn: float
    employees: int


def _company(ticker: str) -> tuple[str, tuple[str, str, float, float, int]]:
    symbol = ticker.strip().upper()
    if symbol not in COMPANIES:
        raise ToolError(f"unknown ticker {ticker!r}; known: {', '.join(COMPANIES)}")
    return symbol, COMPANIES[symbol]


@mcp.tool(annotations=READ_ONLY)
async def get_stock_price(ticker: str) -> StockPrice:
    """Current (simulated) price of a stock. Returns {"ticker", "price", "currency"}.

    Args:
        ticker: Stock symbol, e.g. AAPL.
    """
    await asyncio.sleep(PRICE_LATENCY_S)  # stands in for a market-data API
    symbol, (_, _, price, _, _) = _company(ticker)
    return StockPrice(ticker=symbol, price=price, currency="USD")


# `_meta` carries PTC hints: this one may also be called directly by the model.
@mcp.tool(annotations=READ_ONLY, meta={"ptc/allowed_callers": ["direct", "code_execution_20260120"]})
async def get_company_info(ticker: str) -> CompanyInfo:
    """Company facts. Returns {"ticker", "name", "sector", "market_cap_usd_bn", "employees"}.

    Args:
        ticker: Stock symbol, e.g. MSFT.
    """
    await asyncio.sleep(INFO_LATENCY_S)
    symbol, (name, sector, _, market_cap, employees) = _company(ticker)
    return CompanyInfo(ticker=symbol, name=name, sector=sector, market_cap_usd_bn=market_cap, employees=employees)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on PORT (default: stdio)")
    parser.add_argument("--host", default="127.0.0.1", help="interface for --http (default: 127.0.0.1)")
    args = parser.parse_args(argv)
    if args.http is None:
        mcp.run()
    else:
        mcp.run("streamable-http", host=args.host, port=args.http)


if __name__ == "__main__":
    main()
