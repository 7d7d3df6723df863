"""Faults through the full host: the real SDK over HTTP to the emulator (fault injection) or to a
strict scripted API. Every failure ends the run with a status and a message; nothing runs twice."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from scripted_api import ScriptedAPI, message, script_block, script_result, tool_use

import ptc_jupyter as ptc
from ptc_jupyter.calls.tools import function_tool
from ptc_jupyter.errors import OptionError, RunError
from ptc_jupyter.host.loop import MAX_PAUSES_IN_A_ROW, STREAM_ATTEMPTS
from ptc_jupyter.host.session import Session

ran: list[str] = []
_ran_lock = threading.Lock()


async def lookup(key: str) -> str:
    """Looks a key up. Returns the value as text."""
    with _ran_lock:
        ran.append(key)
    return f"value of {key}"


TOOLS = [function_tool(lookup)]
GATHER = """Look both up.

```python
import asyncio
print(await asyncio.gather(lookup({"key": "a"}), lookup({"key": "b"})))
```
"""


@pytest.fixture(autouse=True)
def _clear():
    ran.clear()


def run_offline(session, **options):
    return ptc.run(GATHER, tools=TOOLS, offline=True, session=session, **options)


# -- 1. API faults -------------------------------------------------------------------------------


def test_sdk_retries_are_kept_and_shown_on_the_run(emulator, session):
    emulator.inject({"status": 529, "count": 2})
    run = run_offline(session)
    assert run.status == "completed" and sorted(ran) == ["a", "b"]
    retried = [n for n in run.notices if "answered 529" in n]
    assert len(retried) == 2 and "attempt 1" in retried[0] and "attempt 2" in retried[1]


def test_retries_used_up_end_the_run_with_a_hint(emulator, session):
    emulator.inject({"status": 429, "count": 3})
    with pytest.raises(RunError, match="rate limited: wait and run again") as info:
        run_offline(session)
    assert info.value.run.status == "error" and ran == []


def test_a_mid_stream_error_is_asked_again_and_no_tool_runs_twice(emulator, session):
    emulator.inject({"kind": "stream_error"})
    run = run_offline(session, stream=True)
    assert run.status == "completed" and sorted(ran) == ["a", "b"]
    assert any("broke off mid-stream" in n and "no tool ran" in n for n in run.notices)
    assert run.requests == 3  # the broken attempt, its repeat, the continuation


def test_mid_stream_errors_beyond_the_bound_end_the_run(emulator, session):
    emulator.inject(*[{"kind": "stream_error"}] * STREAM_ATTEMPTS)
    with pytest.raises(RunError, match="stream error event overloaded_error: ") as info:
        run_offline(session, stream=True)
    assert info.value.run.status == "error" and info.value.run.requests == STREAM_ATTEMPTS and ran == []


def test_connection_refused_says_where_and_what_to_check():
    with socket.socket() as reserved:  # bound but not listening: connections to it are refused
        reserved.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{reserved.getsockname()[1]}"
        session = Session(emulator_url=url, emulator_key="k", max_retries=0)
        with pytest.raises(RunError, match="cannot reach http://127.0.0.1") as info:
            run_offline(session, direct=True)
    assert info.value.run.status == "error" and "ANTHROPIC_BASE_URL" in info.value.run.error


def test_a_response_slower_than_the_client_timeout_ends_the_run():
    def slow(_body):
        time.sleep(1.5)
        return message([{"type": "text", "text": "late"}])

    with ScriptedAPI([slow]) as api:
        session = Session(api_key="test-key", base_url=api.url, max_retries=0, timeout_s=0.3)
        with pytest.raises(RunError, match="APITimeoutError") as info:
            ptc.run("hi", tools=TOOLS, session=session, stream=False, model="claude-test")
    assert info.value.run.status == "error"


def test_pause_turn_is_followed_a_bounded_number_of_times():
    paused = [
        message([script_block("while True: pass")], "pause_turn", container="c") for _ in range(MAX_PAUSES_IN_A_ROW + 1)
    ]
    with ScriptedAPI(paused) as api:
        session = Session(api_key="test-key", base_url=api.url, max_retries=0)
        with pytest.raises(RunError, match="paused the turn") as info:
            ptc.run("hi", tools=TOOLS, session=session, stream=False, model="claude-test")
    assert info.value.run.status == "error" and info.value.run.requests == MAX_PAUSES_IN_A_ROW + 1


def test_large_max_tokens_without_streaming_is_refused_up_front():
    with pytest.raises(OptionError, match="needs streaming"):
        ptc.run("hi", tools=TOOLS, max_tokens=64_000, stream=False)


# -- 2. A container lost mid-turn --------------------------------------------------------------------


def test_a_container_lost_after_tools_ran_is_not_replayed(emulator, session):
    emulator.inject({"kind": "expired_container"})  # taken by the first request naming a container
    with pytest.raises(RunError, match="lost mid-turn") as info:
        run_offline(session, new_container=True)
    run = info.value.run
    assert sorted(ran) == ["a", "b"]  # ran once each, never again
    assert run.status == "error" and [c.status for c in run.calls] == ["ok", "ok"]
    assert run.container_id in run.error


def test_a_container_lost_before_any_tool_ran_starts_over(emulator, session):
    assert run_offline(session).status == "completed"  # the session now remembers a container
    ran.clear()
    emulator.inject({"kind": "expired_container"})
    run = run_offline(session)
    assert run.status == "completed" and sorted(ran) == ["a", "b"]
    assert any("could not be reused" in n for n in run.notices)


# -- 3. Protocol surprises -----------------------------------------------------------------------------


def scripted(responses):
    with ScriptedAPI(responses) as api:
        session = Session(api_key="test-key", base_url=api.url, max_retries=0)
        run = ptc.run("p", tools=TOOLS, session=session, stream=False, model="claude-test")
    return run, api.requests


def test_an_unknown_caller_type_is_kept_shown_and_not_run():
    first = message(
        [script_block("..."), tool_use("toolu_1", "lookup", {"key": "a"}, caller_type="future_caller")],
        "tool_use",
        container="c",
    )
    final = message([script_result(""), {"type": "text", "text": "done"}], container="c")
    run, requests = scripted([first, final])
    assert ran == [] and run.calls[0].caller == "future_caller" and run.calls[0].is_error
    assert "future_caller" in run.calls[0].output
    assert requests[1]["messages"][1]["content"][1]["caller"]["type"] == "future_caller"  # echoed verbatim


def test_a_newer_caller_version_is_programmatic():
    first = message(
        [script_block("..."), tool_use("toolu_1", "lookup", {"key": "a"}, caller_type="code_execution_20260521")],
        "tool_use",
        container="c",
    )
    final = message([script_result("value of a"), {"type": "text", "text": "done"}], container="c")
    run, _ = scripted([first, final])
    assert ran == ["a"] and run.calls[0].programmatic and not run.calls[0].is_error


def test_a_refusal_shows_its_details():
    refused = message([{"type": "text", "text": "I can't help with that."}], "refusal")
    refused["stop_details"] = {"type": "refusal", "category": "cyber", "explanation": "exploit development"}
    run, _ = scripted([refused])
    assert run.stop_reason == "refusal" and run.status == "completed"
    assert any("category cyber" in n and "exploit development" in n for n in run.notices)


def test_a_failure_inside_a_listener_or_the_sdk_never_leaves_the_run_running():
    async def main():
        with ScriptedAPI([message([{"type": "text", "text": "x"}])]) as api:
            session = Session(api_key="test-key", base_url=api.url, max_retries=0)
            return await ptc.arun(
                "p",
                tools=TOOLS,
                session=session,
                stream=False,
                model="claude-test",
                on_event=lambda e: (_ for _ in ()).throw(RuntimeError("view bug")),
            )

    assert asyncio.run(main()).status == "completed"


def test_an_output_file_that_cannot_be_downloaded_is_kept_with_its_error_and_the_run_goes_on(emulator, session):
    """The first download fails (404): that file stays in `r.files` with its error, a notice says
    so, the other file arrives, and the answer still comes."""
    emulator.inject({"kind": "file_download_error"})
    prompt = (
        "Write two files.\n\n```python\nimport os\n"
        "for name in ('a.txt', 'b.txt'):\n"
        "    open(os.path.join(os.environ['OUTPUT_DIR'], name), 'w').write(name)\nprint('written')\n```\n"
    )
    result = ptc.run(prompt, tools=TOOLS, offline=True, session=session)
    assert result.status == "completed" and "written" in result.steps[-1].stdout and result.text
    by_name = {f.name: f for f in result.files}
    assert set(by_name) == {"a.txt", "b.txt"}
    failed = [f for f in result.files if f.error]
    (bad,) = failed
    assert bad.error.startswith("not downloaded:") and bad.data is None
    (good,) = [f for f in result.files if not f.error]
    assert good.data == good.name.encode()
    notes = [n for n in result.notices if "could not be fetched" in n]
    assert notes == [f"1 output file(s) could not be fetched: {bad.file_id}: {bad.error}"]
