"""The emulator's responses, field by field, against the structure of the recorded real traffic.

The fixtures (`fixtures/*.json`, each naming the vercel/ai recording it follows) are driven by the
same scenarios on the emulator, over raw HTTP: a script that pauses on several calls, then ends
(`ptc_dice*.json`, `thinking_ptc_stream.json`), and two bash steps (`thinking_bash_stream.json`,
`prompt_cache_then_replay_stream.json`). Compared: the content block types, each block's keys,
the message and usage keys, the SSE event order (pings aside, a run of deltas as one) and the
billing rule (a response that only resumes the script bills 0/0). Text, ids, numbers and token
counts are not compared: they are the model's and the emulator's own.

`ALLOWED` lists every difference we intend, and why; anything else is a parity failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CODE_EXECUTION = {"type": "code_execution_20260120", "name": "code_execution"}
ROLL = {
    "name": "roll_die",
    "description": "Rolls a die for a player. Returns the number rolled, as text.",
    "input_schema": {"type": "object", "properties": {"player": {"type": "string"}}, "required": ["player"]},
    "allowed_callers": ["code_execution_20260120"],
}
DICE = """Play first to two round wins.

```python
wins = [0, 0]
while max(wins) < 2:
    a = int(await roll_die({"player": "player1"}))
    b = int(await roll_die({"player": "player2"}))
    if a != b:
        wins[0 if a > b else 1] += 1
print(f"Final: {wins[0]}-{wins[1]}")
```
"""
BASH = (
    'Square the numbers, then sum them.\n\n```bash\nfor n in $(seq 1 12); do echo "$n: $((n*n))"; done\n```\n\n'
    '```bash\nsum=0; for n in $(seq 1 12); do sum=$((sum + n*n)); done; echo "Sum: $sum"\n```\n'
)

#: The differences we intend: (where, key or block) -> why. Keys are compared as sets after these.
ALLOWED: dict[tuple[str, str], str] = {
    # the emulator's own marker: its token counts are estimates (bytes/4), and it says so
    ("message", "emulator"): 'the emulator\'s marker, `{"usage_estimated": true}`',
    # the emulator answers in the code_execution_20260120 form: stop_details on every message, the
    # container on the final one too (as the 20260120 recordings' final message_delta carries it);
    # the dice recording is of code_execution_20250825, which has neither
    ("message", "stop_details"): "20260120 form (thinking_ptc_stream.json, file_upload.json carry it)",
    ("final", "container"): "the 20260120 recordings' final message_delta carries one; the host keeps "
    "the known id when it is missing (tests/conformance/test_ptc_recorded.py)",
    ("delta", "stop_details"): "20260120 form",
    # one message serves the JSON and the streamed answer: the JSON usage keeps what message_delta
    # carries in the 20260120 form
    ("usage", "output_tokens_details"): "20260120 form (message_delta)",
    ("usage", "inference_geo"): "20260120 form (message_start)",
    ("start_usage", "inference_geo"): "20260120 form",
    ("delta_usage", "output_tokens_details"): "20260120 form",
    ("server_tool_use_count", "web_fetch_requests"): "20260120 form",
    # documented in the API reference, untyped in the SDK; the host sums it
    ("server_tool_use_count", "code_execution_requests"): "the emulator counts the container's steps",
    # the emulator says what it is and what it runs before the first step
    ("content", "leading text"): "the emulator's intro text (a bash-only turn in the recordings opens "
    "with the step itself)",
    # no model behind the emulator: it cannot think
    ("content", "thinking"): "no thinking blocks: the emulator has no model",
}


def allowed(where: str, keys: set[str]) -> set[str]:
    return {k for k in keys if (where, k) not in ALLOWED}


def same_keys(ours: Any, recorded: Any, *wheres: str) -> None:
    """The same keys once the ALLOWED differences of `wheres` are taken out of both sides."""
    a, b = set(ours), set(recorded)
    for where in wheres:
        a, b = allowed(where, a), allowed(where, b)
    assert a == b, (wheres, a ^ b)


def scenario(name: str) -> dict:
    path = FIXTURES / f"{name}.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: the parity test compares with the conformance fixtures")
    return json.loads(path.read_text())


if not FIXTURES.is_dir():  # the fixtures come with the conformance suite; without it, nothing to compare
    pytest.skip(f"no {FIXTURES}", allow_module_level=True)


# --- reading SSE and rebuilding the message, as the SDK does ------------------------------------


def sse_events(text: str) -> list[dict]:
    return [json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")]


def rebuild(events: list[dict]) -> dict:
    message: dict[str, Any] = {}
    blocks: dict[int, dict] = {}  # by index: events with blocks taken out (`without_thinking`) keep theirs
    partial: dict[int, str] = {}
    for e in events:
        kind = e["type"]
        if kind == "message_start":
            message = json.loads(json.dumps(e["message"]))
            blocks = dict(enumerate(message["content"]))
        elif kind == "content_block_start":
            blocks[e["index"]] = dict(e["content_block"])
        elif kind == "content_block_delta":
            block, delta = blocks[e["index"]], e["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                partial[e["index"]] = partial.get(e["index"], "") + delta["partial_json"]
        elif kind == "content_block_stop" and partial.get(e["index"]):
            blocks[e["index"]]["input"] = json.loads(partial[e["index"]])
        elif kind == "message_delta":
            message.update(e["delta"])
            message["usage"] = {**message["usage"], **e["usage"]}
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message


def shape(events: list[dict]) -> list[str]:
    """The event order: pings left out, a run of deltas of one block as one, blocks named by type."""
    out: list[str] = []
    types: dict[int, str] = {}
    for e in events:
        kind = e["type"]
        if kind == "ping":
            continue
        if kind == "content_block_start":
            types[e["index"]] = e["content_block"]["type"]
            out.append(f"start {types[e['index']]}")
        elif kind == "content_block_delta":
            name = f"delta {e['delta']['type']}"
            if out[-1] != name:
                out.append(name)
        elif kind == "content_block_stop":
            out.append("stop")
        else:
            out.append(kind)
    return out


def without_block(events: list[dict], index: int) -> list[dict]:
    return [e for e in events if not (e.get("index") == index and e["type"].startswith("content_block"))]


def without_thinking(events: list[dict]) -> list[dict]:
    """A recording's events with its thinking blocks taken out (ALLOWED: the emulator cannot think)."""
    thinking = {
        e["index"] for e in events if e["type"] == "content_block_start" and e["content_block"]["type"] == "thinking"
    }
    return [e for e in events if e.get("index") not in thinking]


# --- driving the emulator -----------------------------------------------------------------------


def drive(emulator, prompt: str, *, stream: bool) -> Iterator[tuple[dict, list[dict] | None]]:
    """Each response of one turn, as (message, its events or None): tool calls answered with a
    die's rolls (player1 high, so the game ends), the history sent back as the API requires."""
    messages: list[dict] = [{"role": "user", "content": prompt}]
    container = None
    rolls = iter(["6", "2"] * 10)
    for _ in range(20):
        body = {
            "model": "claude-sonnet-5",
            "max_tokens": 1024,
            "tools": [CODE_EXECUTION, ROLL],
            "messages": messages,
            "stream": stream,
            **({"container": container} if container else {}),
        }
        r = httpx2.post(emulator.url + "/v1/messages", json=body, headers={"x-api-key": emulator.api_key}, timeout=60)
        assert r.status_code == 200, r.text
        events = sse_events(r.text) if stream else None
        message = rebuild(events) if stream else r.json()
        yield message, events
        container = (message.get("container") or {}).get("id", container)
        messages.append({"role": "assistant", "content": message["content"]})
        calls = [b for b in message["content"] if b["type"] == "tool_use"]
        if message["stop_reason"] != "tool_use":
            return
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": b["id"], "content": next(rolls)} for b in calls],
            }
        )
    raise AssertionError("the turn did not end")


def collapse(types: list[str]) -> list[str]:
    """Block types with a run of tool_use blocks as one (how many calls a batch has is the script's)."""
    return [t for i, t in enumerate(types) if not (t == "tool_use" and i and types[i - 1] == "tool_use")]


def kinds(message: dict) -> str:
    """first (the model wrote the script), resume (only calls of the running script), or final."""
    types = {b["type"] for b in message["content"]}
    if "server_tool_use" in types:
        return "first"
    return "resume" if types == {"tool_use"} else "final"


# --- the comparisons ----------------------------------------------------------------------------


def compare_block_keys(recorded: dict, ours: dict) -> None:
    assert recorded["type"] == ours["type"]
    assert set(ours) == set(recorded), (ours["type"], set(ours) ^ set(recorded))
    for key in ("caller", "content"):
        if isinstance(recorded.get(key), dict):
            assert set(ours[key]) == set(recorded[key]), (ours["type"], key, set(ours[key]) ^ set(recorded[key]))


def compare_usage(recorded: dict, ours: dict, where: str) -> None:
    same_keys(ours, recorded, where, "usage")
    if "server_tool_use" in recorded:
        same_keys(ours["server_tool_use"], recorded["server_tool_use"], "server_tool_use_count")


def compare_messages(recorded: list[dict], ours: list[dict]) -> None:
    """Responses of the same kinds, in the same order, with the same block types and keys."""
    assert [kinds(m) for m in ours] == ["first"] + ["resume"] * (len(ours) - 2) + ["final"]
    by_kind = {kinds(m): m for m in recorded}
    assert set(by_kind) == {"first", "resume", "final"}
    for message in ours:
        kind = kinds(message)
        reference = by_kind[kind]
        same_keys(message, reference, "message", *(("final",) if kind == "final" else ()))
        ours_types = [b["type"] for b in message["content"]]
        if kind == "first" and reference["content"][0]["type"] != "text":
            assert ours_types[0] == "text"  # ALLOWED: the emulator's intro text
            ours_types = ours_types[1:]
        assert collapse(ours_types) == collapse([b["type"] for b in reference["content"]])
        for block in message["content"]:
            same = [b for b in reference["content"] if b["type"] == block["type"]]
            if same:  # (the intro text has no counterpart in a reference that opens with thinking)
                compare_block_keys(same[0], block)
        if kind == "resume":  # the recorded billing rule, value for value
            assert message["usage"]["input_tokens"] == message["usage"]["output_tokens"] == 0
            assert set(message["usage"]) == set(reference["usage"])
            assert set(message["usage"]["server_tool_use"]) >= set(reference["usage"]["server_tool_use"])
        else:
            assert message["usage"]["input_tokens"] > 0 and message["usage"]["output_tokens"] > 0
            compare_usage(reference["usage"], message["usage"], "usage")


def test_a_paused_script_as_json_follows_the_ptc_recording(emulator):
    """`ptc_dice.json` (anthropic-programmatic-tool-calling.1.json)."""
    recorded = [r["message"] for r in scenario("ptc_dice")["responses"]]
    ours = [m for m, _ in drive(emulator, DICE, stream=False)]
    compare_messages(recorded, ours)


@pytest.mark.parametrize("name", ["ptc_dice_stream", "thinking_ptc_stream"])
def test_a_paused_script_streamed_follows_the_ptc_recordings(emulator, name):
    """`ptc_dice_stream.json` (…programmatic-tool-calling.1.chunks.txt) and `thinking_ptc_stream.json`
    (its 20260120 form): the event order of each kind of response, the keys of message_start and
    message_delta and their usage; a resume is one message_start holding its content."""
    responses = [without_thinking(r["events"]) for r in scenario(name)["responses"]]
    recorded = {kinds(rebuild(events)): events for events in responses}
    ours = list(drive(emulator, DICE, stream=True))
    compare_messages([rebuild(events) for events in responses], [m for m, _ in ours])
    for message, events in ours:
        reference = recorded[kinds(message)]
        compared = events
        if kinds(message) == "first" and rebuild(reference)["content"][0]["type"] != "text":
            compared = without_block(events, 0)  # ALLOWED: the emulator's intro text
        assert collapse_calls(shape(compared)) == collapse_calls(shape(reference)), kinds(message)
        start, ref_start = events[0]["message"], reference[0]["message"]
        wheres = ("message", "final") if kinds(message) == "final" else ("message",)
        same_keys(start, ref_start, *wheres)
        if kinds(message) == "resume":
            continue
        compare_usage(ref_start["usage"], start["usage"], "start_usage")
        delta, ref_delta = events[-2], reference[-2]
        assert delta["type"] == ref_delta["type"] == "message_delta"
        same_keys(delta["delta"], ref_delta["delta"], "delta", *(("final",) if kinds(message) == "final" else ()))
        compare_usage(ref_delta["usage"], delta["usage"], "delta_usage")
        assert any(e["type"] == "ping" for e in events)  # a ping among the first block's events


def collapse_calls(names: list[str]) -> list[str]:
    """The event order with a run of (start tool_use, stop) pairs as one pair."""
    out: list[str] = []
    for name in names:
        if name == "start tool_use" and out[-2:] == ["start tool_use", "stop"]:
            out.pop()
            out.pop()
        out.append(name)
    return out


@pytest.mark.parametrize("name", ["thinking_bash_stream", "prompt_cache_then_replay_stream"])
def test_bash_steps_streamed_follow_the_20260120_recordings(emulator, name):
    """`thinking_bash_stream.json` (…-20260120-issue-18193.chunks.txt) and the first run of
    `prompt_cache_then_replay_stream.json` (…-20260120-prompt-cache.1.chunks.txt): bash steps are
    `server_tool_use` named `bash_code_execution` (no caller) and their result blocks, in one response."""
    reference = without_thinking(scenario(name)["responses"][0]["events"])
    ((message, events),) = list(drive(emulator, BASH, stream=True))
    assert message["content"][0]["type"] == "text"  # ALLOWED: the emulator's intro text
    assert shape(without_block(events, 0)) == shape(reference)
    recorded = rebuild(reference)
    for block, ref in zip(message["content"][1:], recorded["content"]):
        compare_block_keys(ref, block)
    assert [b["name"] for b in message["content"] if b["type"] == "server_tool_use"] == ["bash_code_execution"] * 2
    start, ref_start = events[0]["message"], reference[0]["message"]
    same_keys(start, ref_start, "message")
    compare_usage(ref_start["usage"], start["usage"], "start_usage")
    delta, ref_delta = events[-2], reference[-2]
    same_keys(delta["delta"], ref_delta["delta"])
    compare_usage(ref_delta["usage"], delta["usage"], "delta_usage")
