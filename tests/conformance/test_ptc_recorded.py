"""PTC runs replayed from the shapes of recorded real traffic: the dice game (JSON and streamed
recordings), a streamed run with thinking, and the orphaned-caller 400.

Each test runs both ways: the recording's own form, and the other form the replay server derives
from it (a request with stream=False gets the message the events stream; stream=True gets the
events the API streams for a message).
"""

from __future__ import annotations

import json
import threading

import pytest
from conformance_support import check_sent, play, play_failing, replies, served_blocks

import ptc_jupyter as ptc

BOTH = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])


def dice_tools() -> tuple[list[ptc.Tool], list[tuple[str, str]]]:
    """A private registry with `rollDie` (the recordings' tool); player1 always rolls 6, player2 counts
    up from 1, so each result tells which call it answered. Returns the tools and the calls seen."""
    registry = ptc.ToolRegistry()
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    @ptc.tool(registry=registry)
    def rollDie(player: str) -> str:
        """Roll the die of `player` ("player1" or "player2"). Returns the number rolled as text."""
        with lock:
            value = "6" if player == "player1" else str(1 + sum(p == "player2" for p, _ in seen))
            seen.append((player, value))
        return value

    return list(registry), seen


def lookup_tools() -> list[ptc.Tool]:
    registry = ptc.ToolRegistry()

    @ptc.tool(registry=registry)
    def lookup(key: str) -> str:
        """The value stored under `key`. Returns it as text (an integer)."""
        return {"alpha": "40", "beta": "2"}[key]

    return list(registry)


# -- anthropic-programmatic-tool-calling.1.json ---------------------------------------------------------
@BOTH
def test_dice_json_recording_runs_every_call_and_bills_first_and_last_only(replay, stream):
    server = replay("ptc_dice")
    tools, seen = dice_tools()
    run = play(
        server, "Two players roll dice until one has 3 wins; who has the loaded die?", stream=stream, tools=tools
    )

    assert run.status == "completed" and run.stop_reason == "end_turn"
    assert run.requests == 5 == len(server.requests)
    script = served_blocks(server, "server_tool_use")[0]
    assert run.scripts == [script["input"]["code"]]
    assert run.steps[0].stdout.endswith("Final: 3-0 in 4 rounds\n")
    # every caller-tagged tool_use ran once, recorded with its recorded caller and script
    wanted = [(b["id"], b["input"]["player"]) for b in served_blocks(server, "tool_use")]
    assert [(c.id, c.input["player"]) for c in run.calls] == wanted
    assert all(
        c.name == "rollDie" and c.caller == "code_execution_20250825" and c.script_id == script["id"] and not c.is_error
        for c in run.calls
    )
    assert len(seen) == 8
    # results answer their own call, in the order the API listed the calls (player2 first in response 1)
    first = replies(server)[0]
    assert [b["tool_use_id"] for b in first] == [wanted[0][0], wanted[1][0]]
    assert first[0]["content"] == "1" and first[1]["content"] == "6"
    # resumes bill 0/0: the run's usage is the first response's plus the last one's
    assert run.usage["input_tokens"] == 3369 + 4243
    assert run.usage["output_tokens"] == 577 + 229
    assert run.text.startswith("**Game over.**")
    # the last response has no container: the id from the pauses is kept
    assert "container" not in server.served[-1]
    assert run.container_id == "container_011CcMFH9SMdCOsKOci2qEAV"
    check_sent(server, stream=stream)


# -- anthropic-programmatic-tool-calling.1.chunks.txt ---------------------------------------------------
@BOTH
def test_dice_stream_recording_one_event_resumes_and_final_without_container(replay, stream):
    server = replay("ptc_dice_stream")
    tools, _ = dice_tools()
    run = play(
        server, "Two players roll dice until one has 3 wins; who has the loaded die?", stream=stream, tools=tools
    )

    assert run.status == "completed" and run.requests == 5
    assert [c.input["player"] for c in run.calls] == ["player1", "player2", "player1", "player2"]
    assert [c.request_index for c in run.calls] == [1, 2, 3, 4]
    assert [c.output for c in run.calls] == ["6", "1", "6", "2"]
    script = served_blocks(server, "server_tool_use")[0]
    assert run.scripts == [script["input"]["code"]] and "asyncio.run(main())" in run.scripts[0]
    assert run.steps[0].return_code == 0 and run.steps[0].stdout.endswith("Final: 0-3\n")
    # message_delta usage overwrote message_start's (output 5 -> 725); resumes billed 0/0
    assert run.usage["input_tokens"] == 3369 + 4551
    assert run.usage["output_tokens"] == 725 + 197
    assert run.text == "## Result\n\nPlayer 2 wins 3-0; three sixes in a row point to the loaded die."
    assert run.container_id == "container_011CLfm1SmVRL1o6lCYuAAmg"
    for reply in replies(server):
        assert len(reply) == 1 and reply[0]["type"] == "tool_result"
    check_sent(server, stream=stream)


# -- issue-18193 (thinking) + programmatic-tool-calling.1.chunks.txt ------------------------------------
@BOTH
def test_thinking_block_comes_back_with_its_signature_unchanged(replay, stream):
    server = replay("thinking_ptc_stream")
    run = play(server, "Add the values of alpha and beta.", stream=stream, tools=lookup_tools())

    assert run.status == "completed" and run.requests == 3
    assert [(c.input["key"], c.output) for c in run.calls] == [("alpha", "40"), ("beta", "2")]
    assert all(c.caller == "code_execution_20260120" for c in run.calls)
    thinking = served_blocks(server, "thinking")[0]
    assert thinking["thinking"] == "" and thinking["signature"].startswith("Euo")
    for req in server.requests[1:]:
        sent = req["messages"][1]["content"][0]
        assert sent == thinking, "the thinking block must come back exactly as received"
        assert "cache_control" not in sent
    assert run.usage["input_tokens"] == 1840 + 2231 and run.usage["output_tokens"] == 311 + 58
    assert run.text == "alpha + beta = **42**."
    assert run.container_id == "container_011CLUvwiMvmqraXLX88mPrS"
    check_sent(server, stream=stream)


# -- anthropic-issue-12504-orphaned-caller-error.1.json -------------------------------------------------
@BOTH
def test_orphaned_caller_400_ends_the_run_with_the_status_and_the_api_message(replay, stream):
    server = replay("orphaned_caller")
    error = play_failing(server, "What is stored under alpha?", stream=stream, tools=lookup_tools())

    api_message = server.scenario["responses"][1]["error"]["error"]["message"]
    assert api_message.startswith("source tool `srvtoolu_") and "not found for tool use block `toolu_" in api_message
    said = str(error)
    assert "400" in said and api_message in said, said
    run = error.run
    assert run.status == "error" and run.error == said
    # what a notebook shows of the run (its text and HTML views) says the same
    bundle = run._repr_mimebundle_()
    for view in (str(run), bundle["text/plain"], bundle["text/html"]):
        assert "400" in view and api_message.replace("`", "") in view.replace("`", "").replace("&#x60;", ""), view
    assert bundle[ptc.MIME_TYPE]["status"] == "error"
    assert len(server.requests) == 2, "a 400 is not retried"
    # the call had run once and is kept with its result; the container is kept for the next run
    assert [(c.name, c.output, c.is_error) for c in run.calls] == [("lookup", "40", False)]
    assert run.container_id == "container_011CBwA8fYDZD5LwtRH328H4"
    # what the host sent was well formed: the script block it answers is right there
    sent = server.requests[1]["messages"]
    script_ids = {
        b["id"] for m in sent if isinstance(m["content"], list) for b in m["content"] if b["type"] == "server_tool_use"
    }
    callers = {
        b["caller"]["tool_id"]
        for m in sent
        if isinstance(m["content"], list)
        for b in m["content"]
        if b["type"] == "tool_use"
    }
    assert callers <= script_ids
    check_sent(server, stream=stream)


def test_fixtures_cite_their_recording():
    from replay_server import FIXTURES, load_scenario

    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert names
    for name in names:
        scenario = load_scenario(name)
        assert "vercel/ai packages/anthropic/src/__fixtures__/anthropic-" in scenario["_source"], name
        assert scenario["form"] in ("json", "sse")
        key = "message" if scenario["form"] == "json" else "events"
        assert all(key in r or "status" in r for r in scenario["responses"]), name
        json.dumps(scenario)


# -- live view of a streamed run (anthropic-programmatic-tool-calling.1.chunks.txt) ----------------------
def test_streamed_script_draft_and_one_event_resumes_reach_the_listener(replay):
    server = replay("ptc_dice_stream")
    tools, _ = dice_tools()
    events: list[object] = []
    run = play(server, "Two players roll dice until one has 3 wins.", stream=True, tools=tools, on_event=events.append)

    names = [type(e).__name__ for e in events]
    drafts = [e for e in events if type(e).__name__ == "ScriptDraft"]
    assert drafts, names
    assert getattr(drafts[-1], "code", None) == run.scripts[0], "the last draft is the whole script"
    # each one-event resume still shows its call starting and finishing
    assert names.count("CallStarted") == 4 and names.count("CallFinished") == 4
    assert names.count("ResponseReceived") == 5 and names[-1] == "RunFinished"


# -- the session after a run whose last response had no container --------------------------------------
def test_next_run_reuses_the_container_the_last_response_did_not_repeat(replay):
    from replay_server import load_scenario

    dice, steps = load_scenario("ptc_dice"), load_scenario("editor_bash_20250825")
    server = replay("ptc_dice")
    server.pending += steps["responses"]  # then one more run, shaped like ...-20250825.1.json
    session = ptc.Session()
    tools, _ = dice_tools()
    first = play(server, "Play dice.", stream=False, tools=tools, session=session)
    play(server, "Now a triangular number.", stream=False, tools=tools, session=session)

    kept = dice["responses"][0]["message"]["container"]["id"]
    assert first.container_id == kept
    assert server.requests[5].get("container") == kept


# -- how the 400 reads (ptc-protocol.md 27: format API errors yourself) -------------------------------
def test_orphaned_caller_error_names_the_error_type_and_request_id(replay):
    server = replay("orphaned_caller")
    error = play_failing(server, "What is stored under alpha?", stream=False, tools=lookup_tools())

    body = server.scenario["responses"][1]["error"]
    said = str(error)
    assert "400" in said and body["error"]["message"] in said
    assert body["error"]["type"] in said
    assert body["request_id"] in said
