"""ptc.run / ptc.arun end to end: the real SDK over HTTP to the offline emulator, real tools."""

from __future__ import annotations

import asyncio
import json

import pytest
from emulator_helpers import all_started_before_any_finished

import ptc_jupyter as ptc
from ptc_jupyter.calls.tools import function_tool
from ptc_jupyter.emulator import EmulatorConfig, EmulatorServer
from ptc_jupyter.host.session import Session

TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "NFLX", "AMD", "INTC"]


async def get_stock_price(ticker: str) -> dict:
    """Current price of a stock. Returns {"ticker", "price", "currency"}."""
    await asyncio.sleep(0.3)
    return {"ticker": ticker, "price": float(len(ticker) * 100), "currency": "USD"}


def remember(key: str, value: str) -> str:
    """Direct-only tool. Returns 'stored'."""
    return "stored"


GATHER = """Which ticker is highest?

```python
import asyncio, json
tickers = {tickers!r}
prices = [json.loads(p) for p in await asyncio.gather(*[get_stock_price({{"ticker": t}}) for t in tickers])]
best = max(prices, key=lambda p: p["price"])
print(best["ticker"], best["price"])
```
"""


def fenced(code: str) -> str:
    return f"Run this.\n\n```python\n{code}\n```\n"


@pytest.fixture(scope="module")
def emulator():
    with EmulatorServer(EmulatorConfig(expose_direct_tools=True)) as server:
        yield server


@pytest.fixture
def tools():
    return [function_tool(get_stock_price), function_tool(remember, allowed_callers=["direct"])]


def test_gather_of_ten_async_tools_is_one_batch(session, tools):
    events = []
    run = ptc.run(GATHER.format(tickers=TICKERS), tools=tools, offline=True, session=session, on_event=events.append)
    assert len(run.calls) == 10 and run.requests == 2 and run.status == "completed"
    assert sorted(c.input["ticker"] for c in run.calls) == sorted(TICKERS)
    assert {c.request_index for c in run.calls} == {1}  # all ten came back in the first response
    assert all_started_before_any_finished(events)  # the calls overlapped
    assert run.text.strip() == "GOOGL 500.0" or run.text.strip().endswith("500.0")
    assert run.backend == "offline-emulator" and run.notices[0].startswith("offline")
    assert run.usage["input_tokens"] > 0 and run.container_id.startswith("container_")
    assert ptc.last is run


def test_streaming_gives_the_same_outcome(session, tools):
    run = ptc.run(GATHER.format(tickers=TICKERS[:3]), tools=tools, offline=True, session=session, stream=True)
    assert len(run.calls) == 3 and run.requests == 2 and run.text.strip().endswith("500.0")


def test_streaming_shows_the_script_while_it_is_written(session, tools):
    from ptc_jupyter.trace.events import ScriptDraft, StepStarted

    events = []
    long_script = "\n".join(f"value_{i} = {i}  # a line of a longer script" for i in range(40)) + "\nprint(value_39)"
    run = ptc.run(fenced(long_script), tools=tools, offline=True, session=session, stream=True, on_event=events.append)
    drafts = [e.code for e in events if isinstance(e, ScriptDraft)]
    assert drafts and drafts[-1] == run.scripts[0]  # the last draft is the whole script
    assert run.scripts[0].strip() == long_script
    assert all(run.scripts[0].startswith(d) for d in drafts)  # each draft is a prefix of it
    kinds = [type(e) for e in events]
    assert kinds.index(ScriptDraft) < kinds.index(StepStarted)
    assert run.text.strip().endswith("39")


def test_repl_state_persists_across_runs_of_a_session(session, tools):
    first = ptc.run(fenced("kept = 41\nprint('set')"), tools=tools, offline=True, session=session)
    second = ptc.run(fenced("print(kept + 1)"), tools=tools, offline=True, session=session)
    assert second.container_id == first.container_id and second.text.strip().endswith("42")
    fresh = ptc.run(
        fenced("print('kept' in globals())"), tools=tools, offline=True, session=session, new_container=True
    )
    assert fresh.container_id != first.container_id and fresh.text.strip().endswith("False")


def test_expired_container_is_retried_with_a_note(emulator, session, tools):
    ptc.run(fenced("x = 1\nprint(x)"), tools=tools, offline=True, session=session)
    emulator.inject({"kind": "expired_container"})
    run = ptc.run(GATHER.format(tickers=TICKERS[:2]), tools=tools, offline=True, session=session)
    assert run.status == "completed" and len(run.calls) == 2
    assert any("could not be reused" in n for n in run.notices)


def test_overload_is_retried_by_the_sdk(emulator, session, tools):
    emulator.inject({"status": 529, "count": 2})
    run = ptc.run(GATHER.format(tickers=TICKERS[:2]), tools=tools, offline=True, session=session)
    assert run.status == "completed" and len(run.calls) == 2


def test_pause_turn_and_unknown_blocks(emulator, session, tools):
    emulator.inject({"kind": "pause_turn"}, {"kind": "unknown_block"})
    run = ptc.run(GATHER.format(tickers=TICKERS[:4]), tools=tools, offline=True, session=session)
    assert run.status == "completed" and len(run.calls) == 4 and run.requests >= 3
    assert any("unknown type" in n for n in run.notices)


def test_bad_caller_and_non_programmatic_calls_are_refused(emulator, session, tools):
    emulator.inject({"kind": "bad_caller"})
    script = (
        "import asyncio\n"
        "a = await get_stock_price({'ticker': 'A'})\n"
        "b = await remember({'key': 'k', 'value': 'v'})\n"
        "print(a[:6], b)"
    )
    run = ptc.run(fenced(script), tools=tools, offline=True, session=session)
    assert [c.status for c in run.calls] == ["rejected", "rejected"]
    assert "matches no code-execution block" in run.calls[0].output
    assert "may not be called from code" in run.calls[1].output
    assert run.status == "completed"


def test_tool_errors_reach_the_script_and_the_run_survives(session):
    async def flaky(n: int) -> int:
        """Fails for odd n. Returns n."""
        if n % 2:
            raise ValueError(f"odd {n}")
        return n

    script = "import asyncio\nr = await asyncio.gather(*[flaky({'n': i}) for i in range(4)])\nprint(r)"
    run = ptc.run(fenced(script), tools=[function_tool(flaky)], offline=True, session=session)
    assert [c.is_error for c in run.calls] == [False, True, False, True]
    assert "Error: ValueError: odd 1" in run.text


def test_direct_mode_is_classic_tool_calling(session, tools):
    run = ptc.run(GATHER.format(tickers=TICKERS[:3]), tools=tools, offline=True, session=session, direct=True)
    assert run.mode == "direct" and len(run.calls) == 3
    assert all(c.caller == "direct" for c in run.calls)
    assert run.requests == 4  # one call per round trip, then the answer
    assert run.context_bytes >= sum(len(c.output) for c in run.calls)


def test_compare_records_both_modes(session, tools):
    run = ptc.compare(GATHER.format(tickers=TICKERS), tools=tools, offline=True, session=session)
    ptc_side, direct_side = run.comparison["ptc"], run.comparison["direct"]
    assert ptc_side["requests"] == 2 and direct_side["requests"] == 11
    assert ptc_side["context_bytes"] < direct_side["context_bytes"]
    assert ptc.last is run and run.to_dict()["comparison"] == run.comparison


def test_run_inside_a_running_loop_uses_a_worker_thread(session, tools):
    async def notebook_cell():
        return ptc.run(GATHER.format(tickers=TICKERS[:2]), tools=tools, offline=True, session=session)

    run = asyncio.run(notebook_cell())
    assert len(run.calls) == 2


def test_arun_is_awaitable(session, tools):
    run = asyncio.run(ptc.arun(GATHER.format(tickers=TICKERS[:2]), tools=tools, offline=True, session=session))
    assert len(run.calls) == 2


def test_prompt_without_script_explains_offline_mode(session, tools):
    run = ptc.run("What is the highest price?", tools=tools, offline=True, session=session)
    assert run.calls == [] and "python" in run.text.lower()


def test_trace_is_json_and_keeps_no_key(session, tools, monkeypatch):
    fake_key = "fake-test-key-not-real-0000000000"
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_key)
    run = ptc.run(GATHER.format(tickers=TICKERS[:2]), tools=tools, offline=True, session=session)
    text = json.dumps(run.to_dict())
    assert fake_key not in text and ptc.Run.from_dict(json.loads(text)).calls[0].name == "get_stock_price"
    restored = ptc.Run.from_dict(run.to_dict())
    assert restored.scripts == run.scripts and len(restored.calls) == 2


@pytest.mark.parametrize(
    "bad, message", [("", "prompt must be a non-empty string"), (None, "prompt must be a non-empty string")]
)
def test_bad_prompt(bad, message, session):
    with pytest.raises(ValueError, match=message):
        ptc.run(bad, session=session)


def test_bad_options_are_refused(session, tools):
    with pytest.raises(ValueError, match="^tool_timeout: must be a positive"):
        ptc.run("x", tools=tools, offline=True, session=session, tool_timeout=-1)
    with pytest.raises(KeyError, match="no tool named 'nope'"):
        ptc.run("x", tools=["nope"], offline=True, session=session)


def test_registered_tools_are_the_default(session, clean_registry):
    ptc.tool(get_stock_price)
    run = ptc.run(GATHER.format(tickers=TICKERS[:2]), offline=True, session=session)
    assert [c.name for c in run.calls] == ["get_stock_price"] * 2


def test_offline_is_chosen_without_a_key(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("PTC_JUPYTER_OFFLINE", raising=False)
    assert Session().backend().name == "offline-emulator"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    assert Session().backend().name == "anthropic"
    assert Session().backend(offline=True).name == "offline-emulator"
    monkeypatch.setenv("PTC_JUPYTER_OFFLINE", "1")
    assert Session().backend().name == "offline-emulator"
    assert Session().backend().notice.startswith("offline (offline requested)")


def test_with_a_key_runs_go_to_anthropic_base_url(monkeypatch, tools):
    """With ANTHROPIC_API_KEY + ANTHROPIC_BASE_URL, any server speaking the API gets a conforming exchange."""
    from scripted_api import (
        ScriptedAPI,
        assert_follows_protocol,
        message,
        script_block,
        script_result,
        tool_use,
    )

    first = message(
        [
            script_block("..."),
            tool_use("toolu_1", "get_stock_price", {"ticker": "AB"}),
            tool_use("toolu_2", "get_stock_price", {"ticker": "C"}),
        ],
        "tool_use",
        container="container_k",
    )
    final = message([script_result("AB 200.0"), {"type": "text", "text": "AB is highest."}], container="container_k")
    with ScriptedAPI([first, final]) as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        monkeypatch.delenv("PTC_JUPYTER_OFFLINE", raising=False)
        run = ptc.run("Which is highest?", tools=tools, session=Session(), model="claude-sonnet-5", stream=False)
    assert_follows_protocol(api.requests, [first, final])
    assert run.backend == "anthropic" and run.notices == [] and run.text == "AB is highest."
    assert api.requests[0]["model"] == "claude-sonnet-5"
    assert api.requests[0]["messages"][0]["content"] == [
        {"type": "text", "text": "Which is highest?", "cache_control": {"type": "ephemeral"}}
    ]
    auth = [h.get("x-api-key") or h.get("authorization", "").removeprefix("Bearer ") for h in api.headers]
    assert auth == ["fake-test-key"] * 2 and not any("anthropic-beta" in h for h in api.headers)
    assert "fake-test-key" not in json.dumps(run.to_dict())


def test_tool_timeout_none_means_no_per_call_limit(session):
    """`tool_timeout=None` is "no limit", not "not given": it overrides a base that has a limit."""
    tools = ptc.ToolRegistry()

    @ptc.tool(registry=tools)
    async def slow(x: int) -> int:
        """Answer after a while.

        Args:
            x: A number.
        """
        await asyncio.sleep(0.5)
        return x

    base = ptc.RunOptions(tool_timeout_s=0.05)
    prompt = "```python\nprint(await slow({'x': 3}))\n```"
    limited = ptc.run(prompt, tools=list(tools), offline=True, session=session, options=base)
    assert limited.calls[0].status == "timeout"  # the base's limit holds when nothing overrides it
    unlimited = ptc.run(prompt, tools=list(tools), offline=True, session=session, options=base, tool_timeout=None)
    assert unlimited.calls[0].status == "ok" and unlimited.calls[0].output == "3"
    assert "timeout" not in (unlimited.calls[0].output or "")


FOUR_PAUSES = """Price four tickers, one after the other.

```python
for t in ["AAPL", "MSFT", "GOOGL", "AMZN"]:
    print(await get_stock_price({"ticker": t}))
```
"""


@pytest.mark.parametrize("stream", [True, False])
def test_a_run_that_pauses_four_times_bills_the_first_and_the_last_response(session, stream, tools):
    """The recorded rule (shared/ptc-protocol.md section 10, item 20): a response that only resumes
    the script reports 0 input and 0 output tokens; `Run.usage` is the first response plus the last."""
    seen: list[dict] = []  # Run.usage after each response, as the host summed it

    def on_event(event):
        if type(event).__name__ == "ResponseReceived":
            seen.append(dict(event.run.usage))

    run = ptc.run(FOUR_PAUSES, tools=tools, offline=True, session=session, stream=stream, on_event=on_event)
    assert run.status == "completed" and len(run.calls) == 4 and run.requests == len(seen) == 5
    first, *resumes, last = seen
    assert first["input_tokens"] > 0 and first["output_tokens"] > 0
    assert all(u == first for u in resumes)  # each resume added 0 input and 0 output tokens
    final_input = last["input_tokens"] - first["input_tokens"]
    assert final_input > first["input_tokens"]  # the last bills its whole context: prompt, script and answer
    assert run.usage == last and run.container_id.startswith("container_")
    assert run.cost["input_usd"] > 0
