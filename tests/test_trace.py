"""trace.py: the Run record, its JSON trace, and the compact form saved in notebooks."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from ptc_jupyter.render import trace_json
from ptc_jupyter.trace import TRACE_OUTPUT_CHARS, Run, Script, ToolCall, compact_calls

call_dicts = st.lists(
    st.fixed_dictionaries({
        "id": st.text(min_size=1, max_size=8),
        "name": st.sampled_from(["a", "b"]),
        "caller": st.sampled_from(["direct", "code_execution_20260120"]),
        "script_id": st.one_of(st.none(), st.sampled_from(["s1", "s2"])),
        "status": st.sampled_from(["ok", "error", "denied"]),
        "is_error": st.booleans(),
        "request_index": st.integers(1, 3),
    }),
    max_size=30,
)


@given(call_dicts)
def test_compact_calls_round_trips(calls):
    shared, compacted = compact_calls(calls)
    assert [{**shared, **c} for c in compacted] == calls


def sample_run(n: int) -> Run:
    run = Run(prompt="p", model="m", text="answer", requests=2, container_id="container_1", status="completed")
    run.scripts_detail.append(Script(id="srvtoolu_1", code="print(1)", stdout="1", return_code=0))
    for i in range(n):
        run.calls.append(ToolCall(id=f"toolu_{i:04d}", name="price", input={"i": i}, caller="code_execution_20260120",
                                  script_id="srvtoolu_1", status="ok" if i % 7 else "error", output=f"{i}" * 3,
                                  is_error=not i % 7, started_s=0.001 * i, duration_s=0.3, request_index=1))
    return run


def test_saved_trace_rebuilds_the_same_calls():
    run = sample_run(50)
    saved = json.loads(json.dumps(trace_json(run)))
    assert saved["call_defaults"]["caller"] == "code_execution_20260120"
    assert "caller" not in saved["calls"][1] and "script_id" not in saved["calls"][1]
    restored = Run.from_dict(saved)
    assert [(c.id, c.name, c.caller, c.script_id, c.status, c.is_error, c.output) for c in restored.calls] == [
        (c.id, c.name, c.caller, c.script_id, c.status, c.is_error, c.output) for c in run.calls]
    assert restored.scripts == ["print(1)"] and restored.text == "answer"


def test_to_dict_clips_long_outputs_but_keeps_the_run_whole():
    run = sample_run(1)
    run.calls[0].output = "x" * (TRACE_OUTPUT_CHARS + 500)
    saved = run.to_dict()["calls"][0]["output"]
    assert saved.startswith("x" * TRACE_OUTPUT_CHARS) and "500 more characters not saved" in saved
    assert len(run.calls[0].output) == TRACE_OUTPUT_CHARS + 500


def test_thousand_calls_fit_the_bundle_budget():
    from ptc_jupyter.render import mime_bundle

    bundle = mime_bundle(sample_run(1000))
    size = len(json.dumps(bundle))
    assert size <= 300_000, size
    assert len(Run.from_dict(bundle["application/vnd.ptc-jupyter.trace+json"]).calls) == 1000


def test_derived_views():
    run = sample_run(8)
    assert run.scripts == ["print(1)"] and [c.id for c in run.errors] == ["toolu_0000", "toolu_0007"]
    assert run.script("srvtoolu_1").finished and run.script("nope") is None
    assert run.calls[0].programmatic and run.calls[0].done


def test_repr_is_one_short_line():
    run = sample_run(1000)
    run.wall_s = 1.5
    assert repr(run) == "<Run completed ptc: 1000 calls, 2 requests, 1.50 s, text='answer'>"
