"""trace.py: the Run record and its one serialised form, the trace saved in notebooks."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import nbformat
from hypothesis import given, settings
from hypothesis import strategies as st

from ptc_jupyter import trace as trace_module
from ptc_jupyter.formatting import clip_marker
from ptc_jupyter.trace import (
    MIME_TYPE,
    TRACE_BUDGET_BYTES,
    TRACE_OUTPUT_CHARS,
    Run,
    Script,
    ToolCall,
    compact_calls,
    json_size,
)

ROOT = Path(__file__).resolve().parents[1]

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


def sample_run(n: int, output: str = "{i}{i}{i}") -> Run:
    run = Run(prompt="p", model="m", text="answer", requests=2, container_id="container_1", status="completed",
              usage={"input_tokens": 10}, notices=["offline"], wall_s=1.25, context_bytes=42,
              comparison={"ptc": {"requests": 2}, "direct": {"requests": 9}})
    run.scripts_detail.append(Script(id="srvtoolu_1", code="print(1)", stdout="1", return_code=0))
    for i in range(n):
        run.calls.append(ToolCall(id=f"toolu_{i:04d}", name="price", input={"i": i}, caller="code_execution_20260120",
                                  script_id="srvtoolu_1", status="ok" if i % 7 else "error",
                                  output=output.format(i=i), is_error=not i % 7, started_s=i / 1000,
                                  duration_s=0.25, request_index=1))
    return run


def test_a_small_run_rebuilds_equal():
    run = sample_run(20)
    saved = json.loads(json.dumps(run.to_dict()))  # as a notebook stores it
    assert Run.from_dict(saved) == run


def test_saved_calls_state_shared_fields_once():
    saved = sample_run(50).to_dict()
    assert saved["call_defaults"]["caller"] == "code_execution_20260120"
    second = saved["calls"][1]
    assert "caller" not in second and "script_id" not in second and "is_error" not in second


def test_long_outputs_are_clipped_with_the_marker_but_the_run_keeps_them():
    run = sample_run(1)
    run.calls[0].output = "x" * (TRACE_OUTPUT_CHARS + 500)
    saved = run.to_dict()["calls"][0]["output"]
    kept = saved.index("…")
    assert len(saved) <= TRACE_OUTPUT_CHARS and saved == "x" * kept + clip_marker(TRACE_OUTPUT_CHARS + 500 - kept)
    assert len(run.calls[0].output) == TRACE_OUTPUT_CHARS + 500


def test_to_json_writes_the_whole_run_in_the_same_format(tmp_path):
    run = sample_run(3)
    run.calls[1].output = "y" * 10_000
    path = tmp_path / "trace.json"
    text = run.to_json(path)
    assert path.read_text(encoding="utf-8") == text
    full = json.loads(text)
    assert set(full) == set(run.to_dict())
    assert Run.from_dict(full) == run


def test_thousand_long_outputs_fit_the_budget_evenly():
    run = sample_run(1000, output="row " * 500 + "{i}")
    saved = run.to_dict()
    assert json_size(saved) <= TRACE_BUDGET_BYTES
    assert len(saved["calls"]) == 1000
    lengths = {len(c["output"]) for c in saved["calls"]}
    assert max(lengths) - min(lengths) <= 3  # clipped evenly (the marker's digits vary)
    assert all("… [+" in c["output"] for c in saved["calls"])


def test_escaped_and_non_ascii_outputs_also_fit_the_budget():
    run = sample_run(1000, output='é"\n€🙂' * 200 + "{i}")
    saved = run.to_dict()
    assert json_size(saved) <= TRACE_BUDGET_BYTES
    assert len(json.dumps(saved, ensure_ascii=False).encode("utf-8")) <= TRACE_BUDGET_BYTES


def test_thousand_call_bundle_stays_under_300_kb():
    run = sample_run(1000, output="row " * 500 + "{i}")
    bundle = run._repr_mimebundle_()
    size = len(json.dumps(bundle))
    assert size <= 300_000, size
    assert bundle[MIME_TYPE] == run.to_dict()


texts = st.text(alphabet=st.sampled_from('ab"\\\né€🙂 '), max_size=300)
tool_calls = st.builds(
    ToolCall, id=st.text(min_size=1, max_size=6), name=st.sampled_from(["f", "g"]),
    input=st.dictionaries(st.sampled_from("xyz"), st.integers() | texts, max_size=2),
    caller=st.sampled_from(["direct", "code_execution_20260120"]),
    script_id=st.none() | st.just("s1"),
    status=st.sampled_from(["ok", "error", "running"]), output=st.none() | texts,
    is_error=st.booleans(), started_s=st.none() | st.floats(0, 100),
    duration_s=st.none() | st.floats(0, 100), request_index=st.integers(0, 3))
runs = st.builds(
    Run, prompt=texts, model=st.just("m"), text=texts, calls=st.lists(tool_calls, max_size=25),
    scripts_detail=st.lists(st.builds(Script, id=st.just("s1"), code=texts, stdout=st.none() | texts), max_size=2),
    wall_s=st.floats(0, 100), usage=st.dictionaries(st.sampled_from(["input_tokens", "output_tokens"]),
                                                    st.integers(0, 10**6)))


@settings(max_examples=150, deadline=None)
@given(runs, st.sampled_from([TRACE_BUDGET_BYTES, 4_000, 1_500]))
def test_any_saved_trace_reads_back_to_itself(run, budget):
    with mock.patch.object(trace_module, "TRACE_BUDGET_BYTES", budget):
        saved = run.to_dict()
        assert json.loads(json.dumps(saved)) == saved  # JSON-safe
        assert Run.from_dict(saved).to_dict() == saved
        if json_size(saved) > budget:  # only when the rest of the trace leaves no room
            assert all(json_size(c["output"]) <= trace_module.MIN_OUTPUT_BYTES
                       for c in saved["calls"] if isinstance(c.get("output"), str))


def _saved_traces() -> list[tuple[str, dict]]:
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                if MIME_TYPE in output.get("data", {}):
                    found.append((path.name, output["data"][MIME_TYPE]))
    return found


def test_reads_the_traces_saved_in_the_notebooks():
    traces = _saved_traces()
    assert any("call_defaults" not in t for _, t in traces) and any("call_defaults" in t for _, t in traces)
    for name, saved in traces:
        run = Run.from_dict(saved)
        shared = saved.get("call_defaults", {})
        assert [(c.id, c.name, c.output) for c in run.calls] == [
            (c["id"], c.get("name", shared.get("name")), c.get("output")) for c in saved["calls"]], name
        assert run.text == saved["text"] and run.scripts == [s["code"] for s in saved["scripts"]], name
        assert Run.from_dict(run.to_dict()).to_dict() == run.to_dict(), name


def test_fields_of_a_newer_trace_are_ignored():
    saved = sample_run(2).to_dict()
    saved["calls"][0]["cost_usd"] = 0.1
    saved["scripts"][0]["language"] = "python"
    run = Run.from_dict(saved)
    assert [c.id for c in run.calls] == ["toolu_0000", "toolu_0001"] and run.scripts == ["print(1)"]


def test_derived_views():
    run = sample_run(8)
    assert run.scripts == ["print(1)"] and [c.id for c in run.errors] == ["toolu_0000", "toolu_0007"]
    assert run.script("srvtoolu_1").finished and run.script("nope") is None
    assert run.calls[0].programmatic and run.calls[0].done


def test_repr_is_one_short_line():
    run = sample_run(1000)
    run.wall_s = 1.5
    assert repr(run) == "<Run completed ptc: 1000 calls, 2 requests, 1.50 s, text='answer'>"


def test_short_outputs_stay_whole_when_long_ones_are_clipped():
    run = sample_run(1000)
    for call in run.calls[::10]:
        call.output = "row " * 1_000
    saved = run.to_dict()
    assert json_size(saved) <= TRACE_BUDGET_BYTES
    outputs = [c["output"] for c in saved["calls"]]
    assert [o for i, o in enumerate(outputs) if i % 10] == [c.output for i, c in enumerate(run.calls) if i % 10]
    assert all(len(o) > 1_000 and "… [+" in o for o in outputs[::10])
