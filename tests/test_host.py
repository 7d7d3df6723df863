"""host.py against a strict scripted API over real HTTP: what is sent, what is run, what is refused."""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from scripted_api import (
    ScriptedAPI,
    api_error,
    assert_follows_protocol,
    message,
    script_block,
    script_result,
    stream_error,
    tool_use,
)

from ptc_jupyter.calls.tools import function_tool
from ptc_jupyter.errors import RunError
from ptc_jupyter.host.loop import Host
from ptc_jupyter.host.session import ContainerMemory
from ptc_jupyter.options import RunOptions
from ptc_jupyter.trace.events import CallFinished, Notice, RunFinished, StepFinished, StepStarted
from ptc_jupyter.trace.run import ToolCall

executed: list[tuple[str, dict]] = []


async def price(ticker: str) -> dict:
    """Price of a stock. Returns {"ticker", "price"}."""
    executed.append(("price", {"ticker": ticker}))
    return {"ticker": ticker, "price": 100.0 + len(ticker)}


def notify(text: str) -> str:
    """Direct-only: shows text to the user. Returns 'ok'."""
    executed.append(("notify", {"text": text}))
    return "ok"


async def slow() -> str:
    """Sleeps for a minute."""
    await asyncio.sleep(60)
    return "late"


TOOLS = [function_tool(price), function_tool(notify, allowed_callers=["direct"]), function_tool(slow)]
JSON = RunOptions(stream=False)  # the scripted API answers with JSON, not SSE


def options(**values):
    return RunOptions.build(JSON, **values)


@pytest.fixture(autouse=True)
def _clear():
    executed.clear()


def play(responses, options=None, memory=None, tools=TOOLS, events=None):
    with ScriptedAPI(responses) as api:
        client = anthropic.AsyncAnthropic(api_key="test-key", base_url=api.url, max_retries=0)
        host = Host(client, memory=memory)
        listener = events.append if events is not None else None
        run = asyncio.run(host.run("the prompt", tools, options or JSON, on_event=listener))
    return run, api.requests


def gather_turn(container="container_a"):
    first = message(
        [
            {"type": "text", "text": "Fetching both."},
            script_block("r = await asyncio.gather(price({'ticker': 'A'}), price({'ticker': 'BB'}))"),
            tool_use("toolu_1", "price", {"ticker": "A"}),
            tool_use("toolu_2", "price", {"ticker": "BB"}),
        ],
        "tool_use",
        container=container,
        usage={"input_tokens": 100, "output_tokens": 20, "server_tool_use": {"code_execution_requests": 1}},
    )
    final = message(
        [script_result("101.0 102.0"), {"type": "text", "text": "BB is higher."}],
        container=container,
        usage={"input_tokens": 150, "output_tokens": 10},
    )
    return [first, final]


def test_gathered_calls_run_and_the_reply_follows_the_protocol():
    responses = gather_turn()
    events = []
    run, requests = play([dict(r) for r in responses], events=events)
    assert_follows_protocol(requests, responses)
    assert requests[0]["tools"][0] == {"type": "code_execution_20260521", "name": "code_execution"}
    assert requests[0]["tools"][1]["allowed_callers"] == ["code_execution_20260120"]
    assert "container" not in requests[0] and requests[1]["container"] == "container_a"
    assert [(c.name, c.output, c.caller, c.script_id) for c in run.calls] == [
        ("price", '{"ticker": "A", "price": 101.0}', "code_execution_20260120", "srvtoolu_01"),
        ("price", '{"ticker": "BB", "price": 102.0}', "code_execution_20260120", "srvtoolu_01"),
    ]
    assert run.requests == 2 and run.text == "BB is higher." and run.stop_reason == "end_turn"
    assert run.container_id == "container_a" and run.status == "completed"
    assert run.usage == {"input_tokens": 250, "output_tokens": 30, "code_execution_requests": 1}
    assert run.scripts_detail[0].stdout == "101.0 102.0" and run.scripts_detail[0].return_code == 0
    assert run.context_bytes == len("101.0 102.0")  # programmatic results never entered the context
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("StepStarted") < kinds.index("CallStarted") < kinds.index("StepFinished")
    assert kinds[-1] == "RunFinished" and kinds.count("CallFinished") == 2


def test_policy_refusals_are_error_results_and_never_run():
    first = message(
        [
            script_block("..."),
            tool_use("toolu_1", "no_such_tool", {}),
            tool_use("toolu_2", "notify", {"text": "hi"}),  # direct-only tool called from code
            tool_use("toolu_3", "price", {"ticker": "X"}, caller="srvtoolu_bogus"),  # no such script
            tool_use("toolu_4", "price", {"ticker": "OK"}),
        ],
        "tool_use",
        container="c1",
    )
    final = message([script_result("done"), {"type": "text", "text": "ok"}], container="c1")
    run, requests = play([first, final])
    assert_follows_protocol(requests, [first, final])
    by_id = {c.id: c for c in run.calls}
    assert by_id["toolu_1"].output == "Error: unknown tool 'no_such_tool': it is not offered in this run"
    assert "may not be called from code" in by_id["toolu_2"].output
    assert "matches no code-execution block of this run" in by_id["toolu_3"].output
    assert all(by_id[i].is_error and by_id[i].status == "rejected" for i in ("toolu_1", "toolu_2", "toolu_3"))
    assert executed == [("price", {"ticker": "OK"})]
    results = requests[1]["messages"][-1]["content"]
    assert [r.get("is_error", False) for r in results] == [True, True, True, False]


def test_direct_calls_are_handled_for_any_offered_tool():
    first = message(
        [
            tool_use("toolu_1", "notify", {"text": "x"}, caller=None),
            tool_use("toolu_2", "price", {"ticker": "Q"}, caller=None),
        ],
        "tool_use",
    )
    final = message([{"type": "text", "text": "done"}])
    run, requests = play([first, final])
    assert_follows_protocol(requests, [first, final])
    assert [c.status for c in run.calls] == ["ok", "ok"]
    assert run.context_bytes == len("ok") + len(run.calls[1].output)  # direct results enter the context


def test_a_script_may_pause_several_times_and_a_finished_script_cannot_call():
    r1 = message([script_block("..."), tool_use("toolu_1", "price", {"ticker": "A"})], "tool_use", container="c")
    r2 = message([tool_use("toolu_2", "price", {"ticker": "B"})], "tool_use", container="c")  # same script, later pause
    r3 = message([script_result("x"), tool_use("toolu_3", "price", {"ticker": "C"})], "tool_use", container="c")
    r4 = message([{"type": "text", "text": "end"}], container="c")
    run, requests = play([r1, r2, r3, r4])
    assert_follows_protocol(requests, [r1, r2, r3, r4])
    assert [c.status for c in run.calls] == ["ok", "ok", "rejected"]
    assert run.requests == 4


def test_pause_turn_is_resumed_without_a_user_message():
    r1 = message([script_block("...")], "pause_turn", container="c")
    r2 = message([tool_use("toolu_1", "price", {"ticker": "A"})], "tool_use", container="c")
    r3 = message([script_result("1"), {"type": "text", "text": "fine"}], container="c")
    run, requests = play([r1, r2, r3])
    assert_follows_protocol(requests, [r1, r2, r3])
    assert run.text == "fine" and len(run.calls) == 1 and run.requests == 3


def test_expired_container_is_retried_once_without_it():
    memory = ContainerMemory(container_id="container_old")
    expired = api_error(
        400, "container container_old has expired; send the request again without the container parameter"
    )
    responses = gather_turn("container_new")
    run, requests = play([expired, *responses], memory=memory)
    assert requests[0]["container"] == "container_old"
    assert "container" not in requests[1] and requests[2]["container"] == "container_new"
    assert_follows_protocol(requests[1:], responses)
    assert any("container_old could not be reused" in n for n in run.notices)
    assert memory.container_id == "container_new" and run.status == "completed"


STREAMED = RunOptions(stream=True)


@pytest.mark.parametrize(
    "lost",
    [
        api_error(404, "container container_old not found", "not_found_error"),
        api_error(410, "container container_old has expired"),
        stream_error("Container container_old has expired. Send the request again without the `container` parameter."),
    ],
    ids=["404", "410", "error event opening a stream"],
)
def test_a_lost_container_in_any_shape_starts_over_without_it_and_is_not_asked_again(lost):
    memory = ContainerMemory(container_id="container_old")
    responses = gather_turn("container_new")
    run, requests = play([lost, *responses], memory=memory, options=STREAMED)
    assert requests[0]["container"] == "container_old"
    assert "container" not in requests[1] and requests[2]["container"] == "container_new"  # never the same request
    assert len(requests) == 3 and run.status == "completed" and [c.status for c in run.calls] == ["ok", "ok"]
    notice = next(n for n in run.notices if "container_old could not be reused" in n)
    assert "(request_id: req_test)" in notice and "Error code" not in notice


def test_a_container_lost_in_a_streams_error_event_after_calls_ran_ends_the_run_without_rerunning_them():
    first, _final = gather_turn("c2")
    with pytest.raises(RunError) as info:
        play([first, stream_error("Container c2 has expired.")], options=STREAMED)
    run = info.value.run
    assert run.error.startswith(
        "container c2 was lost mid-turn (stream error event invalid_request_error: "
        "Container c2 has expired. (request_id: req_test)) after 2 tool call(s) had run"
    )
    assert [c.status for c in run.calls] == ["ok", "ok"] and run.requests == 2  # nothing asked or run again


def test_expired_container_twice_is_an_error():
    memory = ContainerMemory(container_id="container_old")
    expired = api_error(400, "container container_old has expired")
    first = message([script_block("..."), tool_use("toolu_1", "price", {"ticker": "A"})], "tool_use", container="c2")
    with pytest.raises(RunError) as info:
        play([expired, first, api_error(400, "container c2 has expired")], memory=memory)
    assert info.value.run.status == "error" and "expired" in info.value.run.error
    assert len(info.value.run.calls) == 1  # what ran is kept


def test_container_is_reused_across_runs_of_one_memory():
    memory = ContainerMemory()
    play(gather_turn("container_keep"), memory=memory)
    _, requests = play(gather_turn("container_keep"), memory=memory)
    assert requests[0]["container"] == "container_keep"
    _, requests = play(gather_turn("container_x"), memory=memory, options=options(new_container=True))
    assert "container" not in requests[0]
    _, requests = play(gather_turn("container_y"), options=options(container="container_given"))
    assert requests[0]["container"] == "container_given"


def test_max_calls_budget():
    blocks = [script_block("...")] + [tool_use(f"toolu_{i}", "price", {"ticker": f"T{i}"}) for i in range(5)]
    first = message(blocks, "tool_use", container="c")
    final = message([script_result(""), {"type": "text", "text": "ok"}], container="c")
    run, requests = play([first, final], options=options(max_calls=3))
    assert [c.status for c in run.calls] == ["ok"] * 3 + ["rejected"] * 2
    assert "call budget exhausted" in run.calls[4].output and len(executed) == 3
    assert any("max_calls (3) reached" in n for n in run.notices)


def test_tool_timeout_is_an_error_result():
    first = message([script_block("..."), tool_use("toolu_1", "slow", {})], "tool_use", container="c")
    final = message([script_result(""), {"type": "text", "text": "gave up"}], container="c")
    run, _ = play([first, final], options=options(tool_timeout_s=0.2))
    assert run.calls[0].status == "timeout" and run.calls[0].output == "Error: tool 'slow' timed out after 0.2 s"


@pytest.mark.parametrize(
    "stop, fragment",
    [("max_tokens", "max_tokens"), ("refusal", "declined"), ("model_context_window_exceeded", "context window")],
)
def test_truncation_and_refusal_are_shown(stop, fragment):
    run, _ = play([message([{"type": "text", "text": "partial"}], stop)])
    assert run.stop_reason == stop and run.text == "partial"
    assert any(fragment in n for n in run.notices)


def test_unknown_blocks_are_echoed_verbatim_and_noted():
    first = message(
        [
            {"type": "future_block", "data": {"x": 1}, "note": "new"},
            script_block("..."),
            tool_use("toolu_1", "price", {"ticker": "A"}),
        ],
        "tool_use",
        container="c",
    )
    final = message([script_result("1"), {"type": "text", "text": "fine"}], container="c")
    run, requests = play([first, final])
    assert_follows_protocol(requests, [first, final])
    assert any("unknown type 'future_block'" in n for n in run.notices)


def test_api_errors_raise_run_error_keeping_the_run():
    with pytest.raises(RunError) as info:
        play([api_error(500, "boom", "api_error")])
    assert info.value.run.status == "error" and info.value.run.requests == 1
    assert info.value.run.error.startswith("API error: HTTP 500 api_error: boom")


def test_direct_mode_sends_no_code_execution_tool():
    _, requests = play(
        [message([{"type": "text", "text": "hi"}])],
        options=options(direct=True),
        memory=ContainerMemory(container_id="c_old"),
    )
    assert [t["name"] for t in requests[0]["tools"]] == ["price", "notify", "slow"]
    assert all(t["allowed_callers"] == ["direct"] for t in requests[0]["tools"])
    assert "container" not in requests[0]


def test_the_code_execution_version_is_configurable():
    _, requests = play(
        [message([{"type": "text", "text": "hi"}])], options=options(code_execution="code_execution_20260120")
    )
    assert requests[0]["tools"][0]["type"] == "code_execution_20260120"
    with pytest.raises(ValueError, match="code_execution: must be one of"):
        RunOptions(code_execution="code_execution_20250825")


def test_cancelling_keeps_what_was_recorded():
    first = message(
        [script_block("..."), tool_use("toolu_1", "slow", {}), tool_use("toolu_2", "price", {"ticker": "A"})],
        "tool_use",
        container="c",
    )
    events = []

    async def main(url):
        client = anthropic.AsyncAnthropic(api_key="k", base_url=url, max_retries=0)
        price_done = asyncio.Event()

        def listen(event):
            events.append(event)
            if isinstance(event, CallFinished) and event.call.name == "price":
                price_done.set()

        task = asyncio.ensure_future(Host(client).run("p", TOOLS, JSON, on_event=listen))
        await asyncio.wait_for(price_done.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with ScriptedAPI([first]) as api:
        asyncio.run(main(api.url))
    run = events[-1].run
    assert isinstance(events[-1], RunFinished) and run.status == "cancelled"
    assert [c.status for c in run.calls] == ["cancelled", "ok"]


def test_event_listener_failure_does_not_break_the_run(caplog):
    def broken(event):
        raise RuntimeError("view bug")

    with ScriptedAPI(gather_turn()) as api:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=api.url, max_retries=0)
        run = asyncio.run(Host(client).run("p", TOOLS, JSON, on_event=broken))
    assert run.status == "completed" and "view bug" in caplog.text


def test_script_events_carry_the_code():
    events = []
    play(gather_turn(), events=events)
    started = next(e for e in events if isinstance(e, StepStarted) and e.step.kind == "python")
    finished = next(e for e in events if isinstance(e, StepFinished) and e.step.kind == "python")
    assert "asyncio.gather" in started.step.code and finished.step.stdout == "101.0 102.0"
    assert not any(isinstance(e, Notice) for e in events)


def _expiring_soon(seconds: float) -> str:
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def test_a_call_is_answered_before_the_paused_response_expires():
    """The container expires in 16 s; with the 15 s margin the slow call gets its error after ~1 s,
    long before its own 60 s timeout, and the answer still goes out in time."""
    first = message([script_block("..."), tool_use("toolu_1", "slow", {})], "tool_use", container="c")
    first["container"]["expires_at"] = _expiring_soon(16)
    final = message([script_result(""), {"type": "text", "text": "gave up"}], container="c")
    run, requests = play([first, final], options=options(tool_timeout_s=60))
    (call,) = run.calls
    assert call.status == "timeout" and "before the API stops waiting" in call.output  # not its own 60 s
    assert len(requests) == 2


def test_a_call_is_answered_before_the_api_stops_waiting_for_it(monkeypatch):
    """The container lives for years this time: the API's own wait for a pending call (~270 s, here
    made 16 s) bounds the slow call, with the same 15 s margin, long before its own 60 s timeout."""
    from ptc_jupyter.host import responses

    monkeypatch.setattr(responses, "PENDING_CALL_DEADLINE_S", responses.DEADLINE_MARGIN_S + 1)
    first = message([script_block("..."), tool_use("toolu_1", "slow", {})], "tool_use", container="c")
    assert first["container"]["expires_at"].startswith("2099")
    final = message([script_result(""), {"type": "text", "text": "gave up"}], container="c")
    run, requests = play([first, final], options=options(tool_timeout_s=60))
    (call,) = run.calls
    assert call.status == "timeout" and "before the API stops waiting" in call.output
    assert len(requests) == 2 and run.status == "completed"


def test_waiting_for_approval_counts_against_the_deadline():
    async def never(call, tool):
        await asyncio.sleep(60)
        return True

    async def careful(text: str) -> str:
        """Side effects. Returns 'done'."""
        return "done"

    tool = function_tool(careful, side_effects=True, allow_code=True)
    first = message([script_block("..."), tool_use("toolu_1", "careful", {"text": "x"})], "tool_use", container="c")
    first["container"]["expires_at"] = _expiring_soon(16)
    final = message([script_result(""), {"type": "text", "text": "ok"}], container="c")
    with ScriptedAPI([first, final]) as api:
        client = anthropic.AsyncAnthropic(api_key="test-key", base_url=api.url, max_retries=0)
        run = asyncio.run(Host(client).run("p", [tool], JSON, approve=never))
    (call,) = run.calls
    assert call.status == "timeout" and call.output.startswith("Error: no approval within")


def test_every_refusal_kind_has_its_text_and_is_reachable():
    """The refusal table (host/policy.py) is complete: each kind comes from some call, and says its text."""
    from ptc_jupyter.calls.tools import function_tool
    from ptc_jupyter.host.local_mode import LOCAL_CALLER
    from ptc_jupyter.host.policy import REFUSALS, CallPolicy

    def double(x: int) -> int:
        """Twice x.

        Args:
            x: A number.
        """
        return 2 * x

    def notify(text: str) -> str:
        """Send a note.

        Args:
            text: The note.
        """
        return text

    tools = {"double": function_tool(double), "notify": function_tool(notify, allowed_callers=["direct"])}
    code = "code_execution_20260120"
    cases = {
        "unknown_tool": (CallPolicy(tools, 5), ToolCall("t1", "nope", {}), 0),
        "input_not_object": (CallPolicy(tools, 5), ToolCall("t2", "double", [1]), 0),  # type: ignore[arg-type]
        "unknown_caller_type": (
            CallPolicy(tools, 5),
            ToolCall("t3", "double", {}, caller=LOCAL_CALLER, script_id="s"),
            0,
        ),
        "code_in_direct_run": (
            CallPolicy(tools, 5, direct_run=True),
            ToolCall("t4", "double", {}, caller=code, script_id="s"),
            0,
        ),
        "not_callable_from_code": (CallPolicy(tools, 5), ToolCall("t5", "notify", {}, caller=code, script_id="s"), 0),
        "caller_not_awaiting": (CallPolicy(tools, 5), ToolCall("t6", "double", {}, caller=code, script_id="other"), 0),
        "budget_exhausted": (CallPolicy(tools, 5), ToolCall("t7", "double", {"x": 1}), 5),
    }
    assert set(cases) == set(REFUSALS)
    for kind, (policy, call, started) in cases.items():
        refused = policy.check(call, awaiting={"s"}, calls_started=started)
        assert refused is not None and refused.kind == kind, (kind, refused)
        assert refused.message and "{" not in refused.message
    assert (
        CallPolicy(tools, 5).check(
            ToolCall("t8", "double", {"x": 1}, caller=code, script_id="s"), awaiting={"s"}, calls_started=4
        )
        is None
    )
