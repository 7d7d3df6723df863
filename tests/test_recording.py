"""Record and replay through the real SDK and the offline emulator: drift, strict replay, the file format.

Each run goes through `ptc.arun` with the session `recording.session_for` gives, on the background
loop, exactly as a `%%ptc --record/--replay` cell does (tests/test_magics.py drives the cells).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import ptc_jupyter as ptc
from ptc_jupyter.errors import RunError
from ptc_jupyter.host import recording
from ptc_jupyter.host.background import background_loop
from ptc_jupyter.host.recording import DRIFT

#: Two calls one after the other: three requests, the second carries one result, the third both.
PROMPT = """Double 1, then 2.
```python
a = await double({"x": 1})
b = await double({"x": 2})
print(a, b)
```
"""
bump = {"x=1": 0}  # what double adds to its answer for x=1: the tool's "return value changed"


def double(x: int) -> int:
    """Twice x. Returns an integer."""
    return 2 * x + (bump["x=1"] if x == 1 else 0)


def double_renamed_doc(x: int) -> int:
    """Two times x, as an integer."""
    return 2 * x


double_renamed_doc.__name__ = "double"


def record(path: Path, prompt: str = PROMPT, *, stream: bool = True) -> ptc.Run:
    async def go() -> ptc.Run:
        async with recording.session_for(str(path), None) as session:
            return await ptc.arun(
                prompt, tools=[double], session=session, offline=True, new_container=True, stream=stream
            )

    return background_loop.run(go())


def replay(path: Path, prompt: str = PROMPT, *, tools=(double,), strict: bool = False) -> ptc.Run:
    async def go() -> ptc.Run:
        async with recording.session_for(None, str(path), replay_strict=strict) as session:
            return await ptc.arun(prompt, tools=list(tools), session=session, stream=recording.recorded_streaming(path))

    return background_loop.run(go())


def drift(run: ptc.Run) -> list[str]:
    return [n for n in run.notices if n.startswith(DRIFT)]


def tool_use_id(path: Path, x: int) -> str:
    """The id the recording gave the call double({"x": x}) (the replay reuses it)."""
    for entry in recording.read_entries(path):
        for message in entry["request"]["messages"]:
            for block in message["content"] if isinstance(message["content"], list) else []:
                if block.get("type") == "tool_use" and block["input"] == {"x": x}:
                    return block["id"]
    raise AssertionError(f"no call with x={x} in {path}")


@pytest.fixture(autouse=True)
def unbumped(monkeypatch):
    monkeypatch.setitem(bump, "x=1", 0)


@pytest.mark.parametrize("stream", [True, False])
def test_unchanged_replay_has_no_drift(tmp_path, stream):
    rec = tmp_path / "run.jsonl"
    live = record(rec, stream=stream)
    again = replay(rec)
    assert again.backend == "replay" and again.status == "completed", again.error
    assert drift(again) == [] and again.text == live.text
    assert [c.output for c in again.calls] == [c.output for c in live.calls] == ["2", "4"]


@pytest.mark.parametrize("stream", [True, False])
def test_changed_tool_result_is_named_once(tmp_path, stream):
    rec = tmp_path / "run.jsonl"
    record(rec, stream=stream)
    bump["x=1"] = 5
    run = replay(rec)
    assert run.status == "completed" and [c.output for c in run.calls] == ["7", "4"]
    # request 3 repeats the changed result in its history: told once, not twice
    assert drift(run) == [
        (
            f'{DRIFT} request 2: the result of double {{"x": 1}} (tool_use {tool_use_id(rec, 1)}) '
            'differs from the recording: recorded "2", live "7"'
        )
    ]


def test_strict_replay_fails_the_run_with_the_drift(tmp_path):
    rec = tmp_path / "run.jsonl"
    record(rec)
    bump["x=1"] = 5
    with pytest.raises(RunError) as failed:
        replay(rec, strict=True)
    message = str(failed.value)
    assert message.startswith(f"API error: HTTP 400 invalid_request_error: {DRIFT} request 2: the result of double")
    assert 'recorded "2", live "7"' in message and tool_use_id(rec, 1) in message
    run = failed.value.run
    assert run.status == "error" and [c.output for c in run.calls] == ["7"] and drift(run) == []


def test_strict_replay_of_an_unchanged_run_passes(tmp_path):
    rec = tmp_path / "run.jsonl"
    record(rec)
    assert replay(rec, strict=True).status == "completed"


def test_changed_prompt_is_named(tmp_path):
    rec = tmp_path / "run.jsonl"
    record(rec)
    changed = PROMPT.replace("Double 1, then 2.", "Double one, then two.")
    run = replay(rec, changed)
    assert run.status == "completed"
    assert drift(run) == [
        (
            f"{DRIFT} request 1: the prompt differs from the recording: "
            f"recorded {json.dumps(PROMPT)}, live {json.dumps(changed)}"
        )
    ]


def test_a_recording_of_another_prompt_is_not_replayed(tmp_path):
    rec = tmp_path / "run.jsonl"
    record(rec)
    other = "Triple 5.\n```python\nprint(await triple({'x': 5}))\n```\n"
    with pytest.raises(ptc.RunError) as caught:
        replay(rec, other)
    message, run = str(caught.value), caught.value.run
    assert (
        message.startswith(
            "API error: HTTP 400 invalid_request_error: replay: run.jsonl was recorded from another prompt, so it "
            "was not replayed and no tool ran (recorded "
        )
        and "\n" not in message
    )
    assert message.endswith("replay it from the cell it was recorded in, or record this prompt with --record")
    assert run.calls == [] and run.requests == 1  # refused at the first request: nothing ran


def test_changed_tool_definition_is_named(tmp_path):
    rec = tmp_path / "run.jsonl"
    record(rec)
    run = replay(rec, tools=[double_renamed_doc])
    assert drift(run) == [
        (
            f"{DRIFT} request 1: the definition of tool double differs from the recording "
            '(description: recorded "Twice x. Returns an integer.", '
            'live "Two times x, as an integer.")'
        )
    ]


def test_tools_added_removed_and_long_values_are_clipped():
    tools = [{"name": "code_execution"}, {"name": "double"}]
    assert list(recording.differences({"tools": tools}, {"tools": tools[:1] + [{"name": "triple"}]})) == [
        "tool triple was added since the recording",
        "tool double was removed since the recording",
    ]
    long_a, long_b = "x" * 500 + "A" + "y" * 500, "x" * 500 + "B" + "y" * 500
    [found] = recording.differences({"model": long_a}, {"model": long_b})
    shown = re.fullmatch(r'model differs from the recording: recorded "(.*)", live "(.*)"', found)
    assert shown is not None, found
    for value, letter in zip(shown.groups(), "AB"):  # the difference in view, a marker either side
        assert value.startswith("…x") and value.endswith("y…") and letter in value
        assert len(value) == recording.CLIP_CHARS + 2


def test_container_is_not_drift():
    """A replay's first request has no container; the recorded one may have had the last run's."""
    assert list(recording.differences({"container": "container_a", "model": "m"}, {"model": "m"})) == []


def test_recordings_are_stable_and_hold_no_headers(tmp_path):
    """The emulator draws its ids (msg_, srvtoolu_, toolu_, container_) at random and stamps the
    container's expiry with the clock, so two recordings of the same run are equal once those are
    normalised; everything else, key order and formatting included, is byte for byte the same."""
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    record(first)
    record(second)
    ids = re.compile(r"\b(msg|srvtoolu|toolu|container)_[0-9a-z]+")
    clock = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z")
    normal = [clock.sub("TIME", ids.sub(r"\1_ID", p.read_text(encoding="utf-8"))) for p in (first, second)]
    assert normal[0] == normal[1]
    lines = first.read_text(encoding="utf-8").splitlines()
    assert all(line == recording.entry_line(json.loads(line)).rstrip("\n") for line in lines)  # sorted keys
    entries = recording.read_entries(first)
    assert {tuple(sorted(e)) for e in entries} == {("body", "content_type", "method", "path", "request", "status")}
    assert all(isinstance(e["body"], list) and e["body"][0].startswith("event: message_start") for e in entries)


def test_recordings_in_the_earlier_format_still_replay(tmp_path):
    """Before, each line had unsorted keys and the response body as one string."""
    rec = tmp_path / "run.jsonl"
    for stream in (True, False):
        record(rec, stream=stream)
        old = [{**e, "body": recording.decode_body(e["body"]).decode()} for e in recording.read_entries(rec)]
        rec.write_text("".join(json.dumps(e) + "\n" for e in old), encoding="utf-8")
        assert all(isinstance(e["body"], str) for e in recording.read_entries(rec))
        run = replay(rec)
        assert run.status == "completed" and drift(run) == [] and [c.output for c in run.calls] == ["2", "4"]
