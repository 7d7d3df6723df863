"""trace.py: the Run record and its one serialised form, the trace saved in notebooks."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import nbformat
from hypothesis import given, settings
from hypothesis import strategies as st

from ptc_jupyter.constants import MIME_TYPE
from ptc_jupyter.trace import exchanges as exchanges_module
from ptc_jupyter.trace import run as trace_module
from ptc_jupyter.trace.clipping import clip_marker, json_size
from ptc_jupyter.trace.exchanges import EXCHANGES_BUDGET_BYTES, Exchange
from ptc_jupyter.trace.files import EMBED_BUDGET_CHARS, OutputFile
from ptc_jupyter.trace.run import TRACE_BUDGET_BYTES, TRACE_OUTPUT_CHARS, TRACE_STEP_CHARS, Run, ToolCall, compact_calls
from ptc_jupyter.trace.steps import STEP_KIND_TABLE, Step

ROOT = Path(__file__).resolve().parents[1]

call_dicts = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.text(min_size=1, max_size=8),
            "name": st.sampled_from(["a", "b"]),
            "caller": st.sampled_from(["direct", "code_execution_20260120"]),
            "script_id": st.one_of(st.none(), st.sampled_from(["s1", "s2"])),
            "status": st.sampled_from(["ok", "error", "denied"]),
            "is_error": st.booleans(),
            "request_index": st.integers(1, 3),
        }
    ),
    max_size=30,
)


@given(call_dicts)
def test_compact_calls_round_trips(calls):
    shared, compacted = compact_calls(calls)
    assert [{**shared, **c} for c in compacted] == calls


def sample_run(n: int, output: str = "{i}{i}{i}") -> Run:
    run = Run(
        prompt="p",
        model="m",
        text="answer",
        requests=2,
        container_id="container_1",
        status="completed",
        usage={"input_tokens": 10},
        notices=["offline"],
        wall_s=1.25,
        context_bytes=42,
        comparison={"ptc": {"requests": 2}, "direct": {"requests": 9}},
    )
    run.scripts_detail.append(Step(id="srvtoolu_1", code="print(1)", stdout="1", return_code=0))
    for i in range(n):
        run.calls.append(
            ToolCall(
                id=f"toolu_{i:04d}",
                name="price",
                input={"i": i},
                caller="code_execution_20260120",
                script_id="srvtoolu_1",
                status="ok" if i % 7 else "error",
                output=output.format(i=i),
                is_error=not i % 7,
                started_s=i / 1000,
                duration_s=0.25,
                request_index=1,
            )
        )
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
    ToolCall,
    id=st.text(min_size=1, max_size=6),
    name=st.sampled_from(["f", "g"]),
    input=st.dictionaries(st.sampled_from("xyz"), st.integers() | texts, max_size=2),
    caller=st.sampled_from(["direct", "code_execution_20260120"]),
    script_id=st.none() | st.just("s1"),
    status=st.sampled_from(["ok", "error", "running"]),
    output=st.none() | texts,
    is_error=st.booleans(),
    started_s=st.none() | st.floats(0, 100),
    duration_s=st.none() | st.floats(0, 100),
    request_index=st.integers(0, 3),
)
step_records = st.one_of(
    st.builds(
        Step,
        id=st.just("s1"),
        code=texts,
        stdout=st.none() | texts,
        stderr=st.none() | texts,
        return_code=st.none() | st.integers(0, 2),
    ),
    st.builds(
        Step,
        id=st.just("b1"),
        name=st.sampled_from(["bash_code_execution", "web_search", "x_tool"]),
        input=st.dictionaries(st.sampled_from(["command", "q"]), texts, max_size=2),
        stdout=st.none() | texts,
        error_code=st.none() | st.just("unavailable"),
        file_ids=st.lists(st.sampled_from(["file_a", "file_b"]), max_size=2),
        result_type=st.none() | st.sampled_from(["bash_code_execution_result", "future"]),
        detail=st.none() | st.dictionaries(st.sampled_from(["content", "lines"]), texts, max_size=2),
        started_s=st.none() | st.floats(0, 100),
    ),
)
output_files = st.builds(
    OutputFile,
    name=st.sampled_from(["a.png", "b.csv", "c.bin"]),
    media_type=st.sampled_from(["image/png", "text/csv"]),
    size_bytes=st.integers(0, 10**6),
    file_id=st.none() | st.just("file_1"),
    data=st.none() | st.binary(max_size=50),
    error=st.none() | texts,
)
long_texts = st.text(alphabet=st.sampled_from('ab"\\\né€🙂 '), max_size=1_200)
blocks = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["text", "tool_use", "server_tool_use", "tool_result", "code_execution_tool_result"]),
        "text": texts | long_texts,
        "caller": st.none() | st.just({"type": "direct"}),
    }
)
exchange_records = st.builds(
    Exchange,
    index=st.integers(1, 40),
    earlier_messages=st.integers(0, 5),
    tools_as_in=st.none() | st.just(1),
    request=st.fixed_dictionaries(
        {
            "model": st.just("m"),
            "messages": st.lists(
                st.fixed_dictionaries(
                    {"role": st.sampled_from(["user", "assistant"]), "content": texts | st.lists(blocks, max_size=14)}
                ),
                max_size=3,
            ),
        },
        optional={
            "container": texts,
            "tools": st.lists(st.just({"name": "f", "allowed_callers": ["direct"]}), max_size=2),
        },
    ),
    response=st.none()
    | st.fixed_dictionaries(
        {"content": st.lists(blocks, max_size=14), "stop_reason": st.sampled_from(["tool_use", "end_turn"])}
    ),
    error=st.none() | texts,
    sent=texts,
    received=texts,
    context_bytes=st.integers(0, 10**5),
)
runs = st.builds(
    Run,
    prompt=texts,
    model=st.just("m"),
    text=texts,
    calls=st.lists(tool_calls, max_size=25),
    exchanges=st.lists(exchange_records, max_size=20),
    exchanges_omitted=st.integers(0, 3),
    steps=st.lists(step_records, max_size=3),
    files=st.lists(output_files, max_size=3),
    wall_s=st.floats(0, 100),
    usage=st.dictionaries(st.sampled_from(["input_tokens", "output_tokens"]), st.integers(0, 10**6)),
)


@settings(max_examples=150, deadline=None)
@given(runs, st.sampled_from([TRACE_BUDGET_BYTES, 4_000, 1_500]), st.sampled_from([EXCHANGES_BUDGET_BYTES, 3_000]))
def test_any_saved_trace_reads_back_to_itself(run, budget, wire_budget):
    with (
        mock.patch.object(trace_module, "TRACE_BUDGET_BYTES", budget),
        mock.patch.object(exchanges_module, "EXCHANGES_BUDGET_BYTES", wire_budget),
    ):
        saved = run.to_dict()
        assert json.loads(json.dumps(saved)) == saved  # JSON-safe
        assert Run.from_dict(saved).to_dict() == saved
        if json_size(saved) > budget:  # only when the rest of the trace leaves no room
            assert all(
                json_size(c["output"]) <= trace_module.MIN_OUTPUT_BYTES
                for c in saved["calls"]
                if isinstance(c.get("output"), str)
            )


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
    assert traces
    for name, saved in traces:
        run = Run.from_dict(saved)
        shared = saved.get("call_defaults", {})
        assert [(c.id, c.name, c.output) for c in run.calls] == [
            (c["id"], c.get("name", shared.get("name")), c.get("output")) for c in saved["calls"]
        ], name
        codes = [
            s["code"] if "code" in s else s["input"]["code"]
            for s in saved.get("steps", saved.get("scripts"))
            if s.get("name", "code_execution") in STEP_KIND_TABLE["python"]
        ]
        assert run.text == saved["text"] and run.scripts == codes, name
        assert Run.from_dict(run.to_dict()).to_dict() == run.to_dict(), name


def test_a_trace_saved_before_call_defaults_and_costs_reads_back():
    """Earlier versions stated every field of every call and saved no `cost`."""
    run = sample_run(5)
    saved = json.loads(json.dumps(run.to_dict()))
    shared = saved.pop("call_defaults")
    earlier = {
        **{k: v for k, v in saved.items() if k != "cost"},
        "calls": [{"is_error": False, "script_id": None, **shared, **c} for c in saved["calls"]],
    }
    back = Run.from_dict(earlier)
    assert back == run and back.to_dict() == run.to_dict()


def test_fields_of_a_newer_trace_are_ignored():
    saved = sample_run(2).to_dict()
    saved["calls"][0]["cost_usd"] = 0.1
    saved["steps"][0]["language"] = "python"
    run = Run.from_dict(saved)
    assert [c.id for c in run.calls] == ["toolu_0000", "toolu_0001"] and run.scripts == ["print(1)"]


def test_derived_views():
    run = sample_run(8)
    assert run.scripts == ["print(1)"] and [c.id for c in run.errors] == ["toolu_0000", "toolu_0007"]
    assert run.step("srvtoolu_1").finished and run.step("nope") is None
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


# -- steps and files -------------------------------------------------------------------------------


def test_a_version_1_trace_reads_its_scripts_as_python_steps():
    saved = {
        "version": 1,
        "prompt": "p",
        "model": "m",
        "text": "t",
        "calls": [],
        "scripts": [
            {
                "id": "s1",
                "code": "print(1)",
                "stdout": "1\n",
                "stderr": "",
                "return_code": 0,
                "error_code": None,
                "encrypted": False,
            }
        ],
    }
    run = Run.from_dict(saved)
    assert run.scripts == ["print(1)"] and run.steps[0].kind == "python" and run.steps[0].status == "ok"
    again = run.to_dict()
    assert again["version"] == 2 and "scripts" not in again and again["steps"][0]["input"] == {"code": "print(1)"}
    assert Run.from_dict(again).to_dict() == again


def test_every_kind_of_step_is_saved_in_order_and_read_back():
    run = Run(prompt="p", model="m")
    run.steps = [
        Step(id="s1", code="print(1)", stdout="1", return_code=0),
        Step(id="b1", name="bash_code_execution", input={"command": "ls"}, stdout="x", return_code=2),
        Step(
            id="e1",
            name="text_editor_code_execution",
            input={"command": "view", "path": "/a"},
            result_type="text_editor_code_execution_view_result",
            detail={"content": "hi", "num_lines": 1},
        ),
        Step(id="u1", name="future_tool", input={"q": 1}, result_type="future", detail={"content": [1]}),
    ]
    saved = json.loads(json.dumps(run.to_dict()))
    assert [(s["name"], s["status"]) for s in saved["steps"]] == [
        ("code_execution", "ok"),
        ("bash_code_execution", "failed"),
        ("text_editor_code_execution", "ok"),
        ("future_tool", "ok"),
    ]
    assert Run.from_dict(saved) == run and Run.from_dict(saved).to_dict() == saved
    assert run.scripts == ["print(1)"] and [s.kind for s in run.steps] == ["python", "bash", "editor", "other"]


def test_scripts_detail_is_the_python_steps_and_appending_adds_a_step():
    run = Run(prompt="p", model="m")
    run.steps.append(Step(id="b1", name="bash_code_execution", input={"command": "ls"}))
    run.scripts_detail.append(Step(id="s1", code="x = 1"))
    assert [s.id for s in run.steps] == ["b1", "s1"] and [s.id for s in run.scripts_detail] == ["s1"]
    run.scripts_detail = [Step(id="s2", code="y = 2")]
    assert [s.id for s in run.steps] == ["b1", "s2"] and run.step("s2").code == "y = 2"
    assert run.step("b1").code == "ls" and run.step("nope") is None


def test_the_cell_time_limit_is_read_from_stderr_and_survives_clipping():
    stderr = "x" * (TRACE_STEP_CHARS * 2) + "\ndetection_timeout: this cell ran for more than 90 seconds\n"
    run = Run(prompt="p", model="m", steps=[Step(id="s1", code="...", stderr=stderr, return_code=1)])
    assert run.steps[0].status == "timeout" and run.steps[0].cell_timeout_s == 90
    saved = run.to_dict()
    assert "detection_timeout" not in saved["steps"][0]["stderr"] and saved["steps"][0]["timeout_s"] == 90
    back = Run.from_dict(saved)
    assert back.steps[0].status == "timeout" and back.to_dict() == saved
    assert Step(id="s", code="", stderr="detection_timeout", return_code=0).status == "ok"


def test_output_file_ids_and_the_ones_not_yet_fetched():
    run = Run(prompt="p", model="m", steps=[Step(id="a", file_ids=["f1", "f2"]), Step(id="b", file_ids=["f2", "f3"])])
    run.files = [OutputFile(name="x", file_id="f2")]
    assert run.output_file_ids == ["f1", "f2", "f3"] and run.unfetched_file_ids() == ["f1", "f3"]


def test_images_are_embedded_up_to_the_budget_and_the_rest_are_marked():
    image = b"\x89PNG" + b"\x00" * (EMBED_BUDGET_CHARS // 2)  # base64 about 2/3 of the budget
    run = sample_run(1000, output="row " * 500 + "{i}")
    run.files = [
        OutputFile(name=f"p{i}.png", media_type="image/png", size_bytes=len(image), file_id=f"file_{i}", data=image)
        for i in range(3)
    ]
    run.files[2].path = Path("ptc_files/file_2/p2.png")
    run.files.append(
        OutputFile(
            name="big.png",
            media_type="image/png",
            size_bytes=9 * 10**6,
            file_id="file_big",
            path=Path("ptc_files/file_big/big.png"),
        )
    )
    saved = run.to_dict()
    assert [("data" in f) for f in saved["files"]] == [True, False, False, False]
    assert saved["files_note"] == (
        "… 3 more files not embedded: saved at ptc_files/file_2/p2.png, "
        "ptc_files/file_big/big.png; 1 not saved to disk (keep with run.files[i].save(path))"
    )
    assert json_size({k: v for k, v in saved.items() if k != "files"}) <= TRACE_BUDGET_BYTES  # calls fit as before
    assert json_size(saved["files"]) <= EMBED_BUDGET_CHARS + 2_000
    back = Run.from_dict(json.loads(json.dumps(saved)))
    assert back.files[0].data == image and back.files[1].data is None and back.to_dict() == saved
    run.files = run.files[2:]
    assert run.to_dict()["files_note"] == ("… 1 more file not embedded: saved at ptc_files/file_big/big.png")


def test_the_full_json_keeps_every_files_bytes(tmp_path):
    big = b"\x89PNG" + b"\x01" * EMBED_BUDGET_CHARS
    run = sample_run(2)
    run.files = [
        OutputFile(name="big.png", media_type="image/png", size_bytes=len(big), file_id="f1", data=big),
        OutputFile(name="t.csv", media_type="text/csv", size_bytes=4, file_id="f2", data=b"a\n1\n"),
    ]
    assert "data" not in run.to_dict()["files"][0]
    back = Run.from_dict(json.loads(run.to_json(tmp_path / "full.json")))
    assert back == run and back.files[0].data == big and back.files[1].data == b"a\n1\n"


# -- the split, cost, and big runs -------------------------------------------------------------


def test_cost_is_the_estimate_from_model_usage_and_container_time():
    from ptc_jupyter import pricing

    run = Run(
        prompt="p",
        model="claude-sonnet-4-5",
        usage={"input_tokens": 1_000_000, "output_tokens": 100_000, "note": "x", "flag": True},
        container_id="container_1",
        wall_s=7200.0,
    )
    cost = run.cost
    assert cost == pricing.estimate(
        "claude-sonnet-4-5", {"input_tokens": 1_000_000, "output_tokens": 100_000}, container_s=7200.0
    )
    assert cost["estimate"] is True and cost["input_usd"] == 3.0 and cost["output_usd"] == 1.5
    assert cost["container_usd"] == 0.1 and cost["total_usd"] == 4.6
    run.container_id = None  # no container (a direct run): no container time
    assert run.cost["container_usd"] == 0 and run.cost["total_usd"] == 4.5


def test_cost_is_saved_derived_and_recomputed_on_reading():
    run = sample_run(3)
    saved = json.loads(json.dumps(run.to_dict()))
    assert saved["cost"] == run.cost and saved["cost"]["estimate"] is True
    tampered = {**saved, "cost": {"total_usd": 99.0}}
    assert Run.from_dict(tampered).to_dict() == saved  # from_dict ignores it; to_dict recomputes it
    assert Run.from_dict(saved) == run and Run.from_dict(saved).to_dict() == saved
    older = {k: v for k, v in saved.items() if k != "cost"}  # saved before costs were
    assert Run.from_dict(older).to_dict() == saved


def test_a_comparison_gets_each_sides_estimated_cost_as_a_derived_field():
    run = sample_run(1)
    run.model = "claude-sonnet-4-5"
    run.usage = {"input_tokens": 2_000, "output_tokens": 300}
    run.comparison = {
        "ptc": {"requests": 2, "input_tokens": 2_000, "output_tokens": 300, "wall_s": 1.25},
        "direct": {"requests": 9, "input_tokens": 20_000, "output_tokens": 900, "wall_s": 6.0},
    }
    saved = run.to_dict()
    assert saved["comparison"] == run.comparison  # the figures as they were measured
    costs = saved["comparison_cost_usd"]
    assert costs["ptc"] == run.cost["total_usd"]
    assert costs["direct"] == round(20_000 * 3 / 1e6 + 900 * 15 / 1e6, 6)  # no container for direct
    assert Run.from_dict(saved) == run and Run.from_dict(saved).to_dict() == saved
    run.comparison["ptc"]["cost_usd"] = 0.5  # api.figures with cost_usd: nothing to derive for that side
    assert set(run.to_dict()["comparison_cost_usd"]) == {"direct"}


def ten_thousand_calls() -> Run:
    run = sample_run(10_000, output='{{"i": {i}, "v": "' + "x" * 60 + '"}}')
    return run


def test_ten_thousand_calls_save_under_a_megabyte_and_say_what_was_left_out():
    run = ten_thousand_calls()
    bundle = run._repr_mimebundle_()
    size = len(json.dumps(bundle).encode())
    print(f"\n[load] 10,000-call bundle: {size:,} bytes")
    assert size < 1_000_000
    saved = bundle[MIME_TYPE]
    limits = trace_module.SAVED_CALLS
    failed = sum(1 for c in run.calls if c.is_error)  # 1,429: more than the limit of failed ones
    ends = run.calls[: limits.head] + run.calls[-limits.tail :]
    kept = limits.head + limits.tail + limits.failed
    assert len(saved["calls"]) == kept
    omitted = saved["calls_omitted"]
    assert omitted["count"] == 10_000 - kept
    assert omitted["failed"] == failed - limits.failed - sum(c.is_error for c in ends) > 0
    assert omitted["by_name"] == {"price": 10_000 - kept} and sum(omitted["by_status"].values()) == omitted["count"]
    assert saved["calls_note"] == f"… {10_000 - kept:,} more calls not saved; r.to_json(path) writes the full trace"
    assert f"{10_000 - kept:,} more calls not saved" in bundle["text/plain"]
    assert f"{10_000 - kept:,} more calls not saved" in bundle["text/html"]
    assert "10,000 tool calls" in bundle["text/plain"]


def test_a_capped_trace_keeps_the_first_last_and_failed_calls_with_their_numbers():
    run = ten_thousand_calls()
    saved = json.loads(json.dumps(run.to_dict()))
    back = Run.from_dict(saved)
    limits = trace_module.SAVED_CALLS
    ids = [c.id for c in back.calls]
    assert ids[: limits.head] == [c.id for c in run.calls[: limits.head]]
    assert ids[-limits.tail :] == [c.id for c in run.calls[-limits.tail :]]
    middle = back.calls[limits.head : -limits.tail]
    assert len(middle) == limits.failed and all(c.is_error for c in middle)
    from ptc_jupyter.trace.saved_calls import call_numbers

    numbers = call_numbers(len(back.calls), back.calls_omitted)
    assert [run.calls[n - 1].id for n in numbers] == ids  # every saved call keeps its place in the run
    assert back.call_count == 10_000 and back.failed_count == len(run.errors)
    assert back.to_dict() == saved  # the round trip holds, summary and all
    assert repr(back).startswith("<Run completed ptc: 10000 calls")


def test_the_full_json_keeps_every_call(tmp_path):
    run = ten_thousand_calls()
    back = Run.from_dict(json.loads(run.to_json(tmp_path / "full.json")))
    assert len(back.calls) == 10_000 and back.calls_omitted is None and back == run


@settings(max_examples=100, deadline=None)
@given(st.lists(tool_calls, max_size=25), st.lists(tool_calls, max_size=6))
def test_any_capped_trace_reads_back_to_itself_and_caps_again_consistently(calls, more):
    from ptc_jupyter.trace.saved_calls import TableLimits, call_numbers

    with mock.patch.object(trace_module, "SAVED_CALLS", TableLimits(head=3, tail=2, failed=2)):
        run = Run(prompt="p", model="m", calls=calls)
        saved = run.to_dict()
        back = Run.from_dict(saved)
        assert back.to_dict() == saved and back.call_count == len(calls)
        assert back.failed_count == sum(c.is_error for c in calls)
        numbers = call_numbers(len(back.calls), back.calls_omitted)
        assert [calls[n - 1].id for n in numbers] == [c.id for c in back.calls]
        back.calls += more  # a rebuilt run that grows is capped again; the numbers still hold
        again = Run.from_dict(back.to_dict())
        assert again.call_count == len(calls) + len(more)
        everything = calls + more
        assert [everything[n - 1].id for n in call_numbers(len(again.calls), again.calls_omitted)] == [
            c.id for c in again.calls
        ]
