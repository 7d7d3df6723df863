"""`sandbox="local"`: programmatic tool calling where the model has no code execution. The real SDK
over HTTP to the emulator playing such a model (`run_python` client tool); Claude's script runs in a
local sandbox, its calls come back through the host's dispatcher, policy and trace."""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from emulator_helpers import all_started_before_any_finished

import ptc_jupyter as ptc
from ptc_jupyter.calls.tools import function_tool
from ptc_jupyter.conversation import Conversation

TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "NFLX", "AMD", "INTC"]
NO_CODE_EXECUTION = "claude-offline-emulator-no-code-execution"


async def get_stock_price(ticker: str) -> dict:
    """Current price of a stock. Returns {"ticker", "price", "currency"}."""
    await asyncio.sleep(0.2)
    return {"ticker": ticker, "price": float(len(ticker) * 100 + ord(ticker[0])), "currency": "USD"}


def remember(note: str) -> str:
    """Direct-only. Returns 'ok'."""
    return "ok"


GATHER = f"""Which of these is highest?

```python
import asyncio, json
prices = [json.loads(p) for p in await asyncio.gather(*[get_stock_price({{"ticker": t}}) for t in {TICKERS!r}])]
best = max(prices, key=lambda p: p["price"])
print(best["ticker"], best["price"])
```
"""


TOOLS = [function_tool(get_stock_price), function_tool(remember, allowed_callers=["direct"])]


def test_the_ten_ticker_guide_runs_locally_like_server_ptc(session):
    server = ptc.run(GATHER, tools=TOOLS, offline=True, session=session)
    events = []
    local = ptc.run(
        GATHER,
        tools=TOOLS,
        offline=True,
        session=session,
        sandbox="local",
        model=NO_CODE_EXECUTION,
        on_event=events.append,
    )
    assert local.text == server.text and local.requests == 2 and len(local.calls) == 10
    assert all_started_before_any_finished(events)  # the ten calls overlapped
    (step,) = local.steps
    assert step.local and step.kind == "python" and "asyncio.gather" in step.code
    assert {c.caller for c in local.calls} == {"local_sandbox"} and local.calls[0].script_id == step.id
    assert local.container_id is None and any(n.startswith("local sandbox:") for n in local.notices)


def test_a_model_without_code_execution_is_refused_with_the_offer(session):
    with pytest.raises(ValueError, match="sandbox='local' / %%ptc --sandbox local"):
        ptc.run(GATHER, tools=TOOLS, offline=True, session=session, model=NO_CODE_EXECUTION)


def test_a_direct_only_tool_is_not_callable_from_a_local_script(session):
    prompt = "Try.\n\n```python\nprint(await remember({'note': 'x'}))\n```\n"
    run = ptc.run(prompt, tools=TOOLS, offline=True, session=session, sandbox="local", model=NO_CODE_EXECUTION)
    assert run.calls == [] and "NameError" in run.steps[0].stderr  # only code-callable tools exist there


def test_the_call_budget_holds_for_local_scripts(session):
    run = ptc.run(
        GATHER, tools=TOOLS, offline=True, session=session, sandbox="local", model=NO_CODE_EXECUTION, max_calls=3
    )
    assert [c.status for c in run.calls].count("ok") == 3
    assert all("call budget exhausted" in c.output for c in run.calls if c.status == "rejected")


def test_repl_state_carries_over_the_scripts_of_a_conversation(session):
    conv = Conversation()
    first = "One.\n\n```python\ncounter = 41\nprint('set')\n```\n"
    second = "Two.\n\n```python\nprint(counter + 1)\n```\n"
    ptc.run(
        first, tools=TOOLS, offline=True, session=session, sandbox="local", model=NO_CODE_EXECUTION, conversation=conv
    )
    again = ptc.run(
        second, tools=TOOLS, offline=True, session=session, sandbox="local", model=NO_CODE_EXECUTION, conversation=conv
    )
    assert again.steps[0].stdout.strip() == "42"


def test_any_sdk_client_can_be_given(emulator):
    async def main():
        client = anthropic.AsyncAnthropic(base_url=emulator.url, api_key=emulator.api_key)
        try:
            return await ptc.arun(GATHER, tools=TOOLS, client=client, sandbox="local", model=NO_CODE_EXECUTION)
        finally:
            await client.close()

    run = asyncio.run(main())
    assert run.backend == "AsyncAnthropic" and len(run.calls) == 10 and run.text.startswith("GOOGL")
