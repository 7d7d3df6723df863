"""Quickstart: Claude's script calls a Python function ten times at once; the answer comes back.

Runs against the real API when ANTHROPIC_API_KEY is set, otherwise against the bundled offline
emulator, which plays Claude by running the ```python block in the prompt.

    python examples/quickstart.py
"""

import asyncio
import random

import ptc_jupyter as ptc

TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "NFLX", "AMD", "INTC"]


@ptc.tool
async def get_stock_price(ticker: str) -> dict:
    """Current price of a stock. Returns {"ticker": str, "price": float, "currency": "USD"}.

    Args:
        ticker: Stock symbol, e.g. AAPL.
    """
    await asyncio.sleep(0.3)  # a slow data source
    rng = random.Random(ticker)
    return {"ticker": ticker, "price": round(rng.uniform(20, 900), 2), "currency": "USD"}


PROMPT = f"""Which of these stocks has the highest price right now: {", ".join(TICKERS)}?
Fetch all prices at once with get_stock_price and answer with the ticker and its price.

```python
import asyncio, json
tickers = {TICKERS!r}
prices = [json.loads(p) for p in await asyncio.gather(*[get_stock_price({{"ticker": t}}) for t in tickers])]
best = max(prices, key=lambda p: p["price"])
print(f"{{best['ticker']}} is highest at {{best['price']}} {{best['currency']}} (of {{len(prices)}} stocks)")
```
"""


def main() -> None:
    run = ptc.run(PROMPT)
    for notice in run.notices:
        print("note:", notice)
    print()
    print("answer:", run.text)
    print()
    print(f"{len(run.calls)} tool calls in {run.requests} API round trips, {run.wall_s:.2f} s wall time")
    for call in run.calls:
        print(f"  {call.name}({call.input}) -> {call.output}  [{call.duration_s:.2f} s]")
    print("usage:", run.usage)
    if run.status != "completed" or not run.calls:
        raise SystemExit(f"run did not complete: {run.status} {run.error or ''}")


if __name__ == "__main__":
    main()
