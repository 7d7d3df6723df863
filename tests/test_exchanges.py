"""Run.exchanges: the wire of a run, through the real SDK and the offline emulator.

One entry per request; no key or token in it; the PTC parts marked; saved within its budget (a
1,000-call run's bundle stays under 1 MB); read back unchanged; a replay shows the same wire.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import ptc_jupyter as ptc
from ptc_jupyter.calls.tools import function_tool
from ptc_jupyter.constants import MIME_TYPE
from ptc_jupyter.display import render
from ptc_jupyter.emulator import EmulatorServer
from ptc_jupyter.emulator.config import EmulatorConfig
from ptc_jupyter.host import recording
from ptc_jupyter.host.background import background_loop
from ptc_jupyter.trace.clipping import json_size
from ptc_jupyter.trace.exchanges import (
    EXCHANGES_BUDGET_BYTES,
    PARTS,
    REDACTED,
    SAVED_EXCHANGES_HEAD,
    SAVED_EXCHANGES_TAIL,
    Exchange,
    clip_json,
    redact,
)
from ptc_jupyter.trace.run import Run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import workloads  # noqa: E402

FAKE_KEY = "test-key-not-real-123"

GATHERED = """Double 1 and 2.
```python
import asyncio
print(await asyncio.gather(double({"x": 1}), double({"x": 2})))
```
"""


def double(x: int) -> int:
    """Twice x. Returns an integer."""
    return 2 * x


def leaky(x: int) -> str:
    """Returns a line that mentions the key it was given (a careless tool)."""
    return f"called with key {FAKE_KEY} and x={x}"


@pytest.fixture(scope="module")
def emulator():
    """An emulator whose key is the fake key: every request carries it in a header."""
    with EmulatorServer(EmulatorConfig(api_key=FAKE_KEY)) as server:
        yield server


def run(prompt: str, tools, session, **settings) -> Run:
    return background_loop.run(ptc.arun(prompt, tools=tools, session=session, offline=True, **settings))


@pytest.mark.parametrize("stream", [False, True])
def test_one_exchange_per_request_with_the_ptc_parts_marked(session, stream):
    done = run(GATHERED, [double], session, stream=stream, new_container=True)
    assert done.status == "completed", done.error
    assert [e.index for e in done.exchanges] == list(range(1, done.requests + 1)) == [1, 2]
    first, second = done.to_dict()["exchanges"]
    assert first["earlier_messages"] == 0 and first["request"]["messages"][0]["content"][0]["text"] == GATHERED
    assert first["stop_reason"] == "tool_use" and first["streamed"] is stream
    assert {m["part"] for m in first["marks"]} == {
        "code_execution_tool",
        "allowed_callers",
        "server_tool_use",
        "tool_use_from_script",
        "container",
    }
    # the second request sends only what is new: the echoed assistant turn and the two results
    assert second["earlier_messages"] == 1 and second["tools_as_in"] == 1 and "tools" not in second["request"]
    echo, results = second["request"]["messages"]
    assert echo["role"] == "assistant" and [b["type"] for b in results["content"]] == ["tool_result"] * 2
    assert second["sent"] == "2 tool_results" and second["stop_reason"] == "end_turn"
    assert {m["part"] for m in second["marks"]} == {"container", "tool_results_only", "code_execution_tool_result"}
    assert sum(e["context_bytes"] for e in (first, second)) == done.context_bytes > 0
    assert all(e["request_bytes"] > 0 and e["response_bytes"] > 0 and e["input_tokens"] for e in (first, second))
    assert all(m["part"] in PARTS for e in (first, second) for m in e["marks"])


def test_direct_mode_has_one_round_trip_per_call_and_no_script(session):
    prompt = 'Double 1, then 2.\n```python\nprint(await double({"x": 1}), await double({"x": 2}))\n```\n'
    done = run(prompt, [double], session, direct=True)
    saved = done.to_dict()["exchanges"]
    assert len(saved) == done.requests == 3
    parts = [{m["part"] for m in e["marks"]} for e in saved]
    assert parts[0] == {"allowed_callers", "tool_use_direct"} and "tool_results_only" in parts[1]
    assert all("server_tool_use" not in p and "container" not in p for p in parts)
    assert [e["context_bytes"] for e in saved] == [0, 1, 1]  # each result enters the context as it is sent


def test_no_key_or_token_appears_in_the_saved_trace(session, monkeypatch):
    """Every request carried the fake key (in a header); the wire holds bodies only."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    done = run(GATHERED, [double], session, new_container=True)
    assert done.status == "completed" and len(done.exchanges) == done.requests == 2, done.error
    for text in (
        json.dumps([e.to_dict(chars=None, items=None) for e in done.exchanges]),
        done.to_json(),
        json.dumps(render.mime_bundle(done), ensure_ascii=False, default=str),
    ):
        assert FAKE_KEY not in text
        assert "x-api-key" not in text.lower() and "authorization" not in text.lower()


def test_a_tool_that_echoes_the_key_does_not_put_it_on_the_wire(session):
    done = run(GATHERED.replace("double", "leaky"), [leaky], session, new_container=True)
    assert done.status == "completed", done.error
    assert any(FAKE_KEY in (c.output or "") for c in done.calls)  # what the tool returned, as it returned it
    wire = json.dumps([e.to_dict(chars=None, items=None) for e in done.exchanges])
    assert FAKE_KEY not in wire and f"called with key {REDACTED} and x=1" in wire


def test_redact_takes_out_secret_keys_and_values():
    value = {
        "headers": {"X-Api-Key": "abc", "authorization": "Bearer abc"},
        "input_tokens": 3,
        "text": f"my key is {FAKE_KEY}!",
        "list": [{"token": "t"}],
    }
    assert redact(value, [FAKE_KEY]) == {
        "headers": {"X-Api-Key": REDACTED, "authorization": REDACTED},
        "input_tokens": 3,
        "text": f"my key is {REDACTED}!",
        "list": [{"token": REDACTED}],
    }


def test_clip_json_marks_what_it_leaves_out_and_is_stable():
    value = {"a": "x" * 1000, "b": list(range(30))}
    once = clip_json(value, 100, (3, 2))
    assert len(once["a"]) <= 100 and once["a"].endswith("chars]")
    assert once["b"] == [0, 1, 2, "… [+25 items]", 28, 29]
    assert clip_json(once, 100, (3, 2)) == once


def test_the_saved_trace_reads_back_and_older_traces_still_read(session):
    done = run(GATHERED, [double], session)
    saved = done.to_dict()
    assert Run.from_dict(saved).to_dict() == saved
    full = json.loads(done.to_json())
    assert Run.from_dict(full).to_dict(full=True) == full
    older = {k: v for k, v in saved.items() if k != "exchanges"}
    assert Run.from_dict(older).exchanges == []


def test_a_long_direct_run_keeps_the_first_and_last_round_trips(session):
    count = SAVED_EXCHANGES_HEAD + SAVED_EXCHANGES_TAIL + 4
    prompt = f"Double each.\n```python\nfor i in range({count}):\n    print(await double({{'x': i}}))\n```\n"
    done = run(prompt, [double], session, direct=True, max_calls=count)
    assert len(done.exchanges) == done.requests == count + 1
    saved = done.to_dict()
    kept = [e["index"] for e in saved["exchanges"]]
    assert kept == [*range(1, SAVED_EXCHANGES_HEAD + 1), *range(count + 2 - SAVED_EXCHANGES_TAIL, count + 2)]
    assert saved["exchanges_omitted"] == count + 1 - len(kept)
    assert Run.from_dict(saved).to_dict() == saved


def test_a_1000_call_run_stays_under_a_megabyte_with_its_wire(session):
    """The benchmark's 1,000-call run (benchmarks/measure.py `trace_run`): its saved bundle."""
    tool = function_tool(workloads.check_server_status)
    done = run(workloads.servers_script(1000), [tool], session, max_calls=1000)
    assert done.status == "completed" and len(done.calls) == 1000, done.error
    bundle = render.mime_bundle(done)
    trace = bundle[MIME_TYPE]
    assert len(trace["exchanges"]) == done.requests and json_size(trace["exchanges"]) <= EXCHANGES_BUDGET_BYTES
    results = trace["exchanges"][1]["request"]["messages"][1]["content"]
    assert "… [+990 items]" in results  # the thousand tool_results, clipped with the marker
    assert len(json.dumps(bundle, ensure_ascii=False).encode()) <= 1_000_000
    assert Run.from_dict(trace).to_dict() == trace


def test_a_replay_shows_the_same_wire(tmp_path):
    rec = tmp_path / "run.jsonl"

    async def go(record: str | None, replay: str | None) -> Run:
        async with recording.session_for(record, replay) as session:
            return await ptc.arun(GATHERED, tools=[double], session=session, offline=True, new_container=True)

    live = background_loop.run(go(str(rec), None))
    again = background_loop.run(go(None, str(rec)))
    assert again.backend == "replay" and again.status == "completed", again.error
    assert again.to_dict()["exchanges"] == live.to_dict()["exchanges"]
    assert len(again.exchanges) == 2


def test_an_exchange_reads_back_from_its_dict():
    exchange = Exchange(
        index=1,
        request={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        response={"content": [], "stop_reason": "end_turn"},
        sent="the prompt",
    )
    assert Exchange.from_dict(exchange.to_dict()).to_dict() == exchange.to_dict()


def test_the_html_wire_shows_each_round_trip_with_its_ptc_parts_and_no_script(session):
    done = run(GATHERED, [double], session)
    html = render.mime_bundle(done)["text/html"]
    wire = html[html.index('class="ptc-wire"') :]
    assert wire.count('class="ptc-wire-trip"') == done.requests == 2
    for part in (
        "server_tool_use",
        "tool_use_from_script",
        "container",
        "tool_results_only",
        "code_execution_tool_result",
        "code_execution_tool",
        "allowed_callers",
    ):
        assert f'data-part="{part}"' in wire, part
    assert "#1 → the prompt + 2 tool definitions" in wire and "← the script (server_tool_use)" in wire
    assert "<script" not in html.lower()
    text = render.to_text(done)
    assert "wire:\n  #1 → the prompt" in text and "#2 → 2 tool_results" in text


def test_a_comparison_shows_both_wires_side_by_side(session):
    done = background_loop.run(ptc.acompare(GATHERED, tools=[double], session=session, offline=True))
    assert [r["index"] for r in done.comparison["direct"]["wire"]] == [1, 2, 3]
    assert [r["index"] for r in done.comparison["ptc"]["wire"]] == [1, 2]
    html = render.mime_bundle(done)["text/html"]
    start = html.index('class="ptc-wire-compare"')
    table = html[start : html.index("</table>", start)]
    assert table.count("<tr>") == 4 and "#3" in table  # the header and three round trips; PTC has no third
    assert Run.from_dict(done.to_dict()).to_dict() == done.to_dict()


def test_the_live_view_has_a_collapsed_wire_section_that_follows_the_run(session):
    from ptc_jupyter.notebook.live_view import LiveView

    view = LiveView(max_calls=10, interval_s=0)
    done = background_loop.run(ptc.arun(GATHERED, tools=[double], session=session, offline=True, on_event=view))
    view.finish()
    assert view.wire_box.selected_index is None and view.wire_box.get_title(0) == "Wire (2 round trips)"
    assert view.wire.value.count('class="ptc-wire-trip"') == done.requests == 2
    assert 'data-part="server_tool_use"' in view.wire.value and 'data-part="tool_results_only"' in view.wire.value
    view.close()


def test_every_ptc_part_has_a_colour_in_the_html_and_in_the_labextension():
    from ptc_jupyter.display.wire import PART_COLORS

    css = (Path(__file__).resolve().parents[1] / "labextension" / "style" / "base.css").read_text()
    assert set(PART_COLORS) == set(PARTS)
    for part in PARTS:
        assert f".jp-PtcTrace-wiremark[data-part='{part}']" in css, part


def test_the_labextension_knows_the_same_ptc_parts_and_labels():
    """`WIRE_PART_TABLE` of labextension/src/types.ts mirrors `PARTS`, read from its source."""
    import re

    source = (Path(__file__).resolve().parents[1] / "labextension" / "src" / "types.ts").read_text()
    block = re.search(r"export const WIRE_PART_TABLE = \{(.*?)\n\} as const;", source, re.S)
    assert block, "types.ts has no WIRE_PART_TABLE"
    rows = re.findall(r"(\w+): \{\s*label:\s*(['\"])(.*?)\2\s*\}", block.group(1), re.S)
    assert {part: label for part, _, label in rows} == {part: label for part, (label, _) in PARTS.items()}
