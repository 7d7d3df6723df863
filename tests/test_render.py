"""render.py: the static bundle a finished `%%ptc` cell leaves in the notebook."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import trace_samples as samples

from ptc_jupyter.constants import MIME_TYPE
from ptc_jupyter.display.calls_table import CallRow, table_rows
from ptc_jupyter.display.render import HTML_LIMITS, TEXT_LIMITS, mime_bundle, to_html, to_text
from ptc_jupyter.trace.clipping import clip_marker
from ptc_jupyter.trace.run import Run, ToolCall
from ptc_jupyter.trace.steps import Step

ROOT = Path(__file__).resolve().parents[1]


def as_run(sample) -> Run:
    """trace_samples builds with its own copy of trace.py; the renderers only read attributes,
    but round-tripping through the JSON also checks the bundle is a valid trace."""
    return Run.from_dict(sample.to_dict())


def test_bundle_has_exactly_the_three_static_keys():
    bundle = mime_bundle(as_run(samples.portfolio_run()))
    assert set(bundle) == {MIME_TYPE, "text/html", "text/plain"}
    assert "application/vnd.jupyter.widget-view+json" not in bundle
    json.dumps(bundle)  # JSON-safe, as nbformat stores it


def test_the_saved_trace_is_the_runs_to_dict():
    run = as_run(samples.portfolio_run())
    trace = mime_bundle(run)[MIME_TYPE]
    assert trace == run.to_dict()
    assert Run.from_dict(trace) == run


def test_html_escapes_every_piece_of_trace_content():
    html = to_html(as_run(samples.xss_run()))
    assert "<img" not in html and "<script" not in html and 'onerror="' not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_html_needs_no_javascript_and_collapses_sections():
    html = to_html(as_run(samples.portfolio_run()))
    assert "<script" not in html.lower() and "<style" not in html.lower()
    assert html.startswith('<details class="ptc-trace"') and html.count("<details") >= 3
    assert "Portfolio B has the best Sharpe ratio" in html


def test_failed_calls_are_marked_in_html_and_text():
    run = as_run(samples.portfolio_run())
    html, text = to_html(run), to_text(run)
    assert html.count('data-error="1"') == len(run.errors) == 1
    assert "1 failed" in html and "(1 failed)" in text and "✗ error" in text


def test_text_headline_answer_calls_and_savings():
    text = to_text(as_run(samples.portfolio_run()))
    first = text.splitlines()[0]
    assert first.startswith("ptc: completed") and "4 tool calls" in first and "2 round trips" in first
    assert "Portfolio B has the best Sharpe ratio (1.42)." in text
    assert "PTC vs direct: requests 2 vs 11 (−82%), context 310 B vs 4.1 KB (−93%)" in text
    assert "container container_011CZkq7Hs9" in text


def test_thousand_call_bundle_stays_under_300_kb():
    run = as_run(samples.big_run(1000))
    bundle = mime_bundle(run)
    size = len(json.dumps(bundle))
    assert size <= 300_000, size
    trace = bundle[MIME_TYPE]
    assert len(trace["calls"]) == 1000  # every call stays in the JSON; only long outputs are clipped
    assert all(len(c["output"]) < 2_100 for c in trace["calls"])
    assert len(bundle["text/html"]) < 40_000 and len(bundle["text/plain"]) < 5_000
    assert "calls not listed" in bundle["text/html"]


def test_short_outputs_are_never_clipped():
    run = Run(prompt="p", model="m", status="completed")
    run.calls = [
        ToolCall(
            id=f"toolu_{i:05d}",
            name="double",
            input={"x": i},
            caller="code_execution_20260120",
            script_id="srvtoolu_1",
            status="ok",
            output=str(2 * i),
            started_s=0.01 * i,
            duration_s=0.01,
        )
        for i in range(1000)
    ]
    trace = mime_bundle(run)[MIME_TYPE]
    assert [c["output"] for c in trace["calls"]] == [str(2 * i) for i in range(1000)]


def test_html_and_text_list_the_rows_of_the_shared_table():
    run = as_run(samples.big_run(1000))
    html_numbers = re.findall(r"<tr[^>]*><td>(\d+)</td>", to_html(run))
    text_numbers = re.findall(r"^  #(\d+) ", to_text(run), flags=re.M)
    for numbers, limits in ((html_numbers, HTML_LIMITS), (text_numbers, TEXT_LIMITS)):
        rows = table_rows(run.calls, limits)
        assert [int(n) for n in numbers] == [r.number for r in rows if isinstance(r, CallRow)]
    gaps = [r.label for r in table_rows(run.calls, TEXT_LIMITS) if not isinstance(r, CallRow)]
    assert gaps and all(f"  {g}" in to_text(run).splitlines() for g in gaps)


def test_long_text_is_cut_with_the_one_marker():
    run = as_run(samples.portfolio_run())
    run.text = "a" * 10_000
    html, text = to_html(run), to_text(run)
    marker = re.search(r"… \[\+[\d,]+ chars\]", text).group(0)
    assert marker in html and marker == clip_marker(int(re.sub(r"\D", "", marker)))


def test_listing_keeps_failed_calls_from_the_middle():
    run = as_run(samples.big_run(1000))
    html = to_html(run)
    rows = re.findall(r"<tr[^>]*data-error=\"1\"[^>]*><td>(\d+)</td>", html)
    assert "97" in rows and "194" in rows  # failures far from the head/tail are still listed


@pytest.mark.parametrize("status,error", [("cancelled", None), ("error", "APIConnectionError: refused")])
def test_unfinished_runs_say_so(status, error):
    run = Run(
        prompt="p",
        model="m",
        status=status,
        error=error,
        notices=["cancelled by the user; everything up to here is kept"] if status == "cancelled" else [],
    )
    run.scripts_detail = [Step(id="s1", code="await slow({})")]
    run.calls = [
        ToolCall(
            id="t1", name="slow", input={}, status="cancelled", is_error=True, output="Error: cancelled by the user"
        )
    ]
    text, html = to_text(run), to_html(run)
    assert text.startswith(f"ptc: {status}") and "unfinished" in text
    assert f"ptc: {status}" in html
    if error:
        assert "error: APIConnectionError: refused" in text and "APIConnectionError" in html


def test_direct_run_is_labelled():
    run = Run(prompt="p", model="m", mode="direct", status="completed", requests=6)
    assert to_text(run).startswith("ptc (direct): completed")


def test_run_repr_uses_the_bundle():
    run = as_run(samples.portfolio_run())
    assert set(run._repr_mimebundle_()) == {MIME_TYPE, "text/html", "text/plain"}
    assert str(run) == to_text(run)


def test_every_step_is_listed_in_order_in_html_and_text():
    run = as_run(samples.steps_run())
    html, text = to_html(run), to_text(run)
    titles = re.findall(r"<summary>([^<·]+) ·", html)
    assert [t.strip() for t in titles] == ["Script", "Bash", "Text editor", "Text editor", "future_tool"]
    assert "cell time limit (90 s) reached" in html and "$ ls -la $OUTPUT_DIR" in html
    assert "@@ -3,1 +3,1 @@" in html and "-  &quot;debug&quot;: true" in html
    assert "file_not_found: /tmp/nope does not exist" in html and "&quot;answer&quot;: 42" in html
    assert "files: file_png, file_csv" in html
    step_lines = [line for line in text.splitlines() if re.match(r"^(script|bash|text editor|future_tool): ", line)]
    assert step_lines == [
        "script: 2 lines (cell time limit (90 s) reached)",
        "bash: ls -la $OUTPUT_DIR (exit 0)",
        "text editor: str_replace /tmp/config.json (replaced)",
        "text editor: view /tmp/nope (file_not_found: /tmp/nope does not exist)",
        'future_tool: {"query":"x"} (result future_result)',
    ]
    assert [line for line in text.splitlines() if line.startswith("file ")] == [
        f"file 1: plot.png · image/png · {len(samples.png_bytes(16, 16))} B · file_png",
        "file 2: summary.csv · text/csv · 25 B · file_csv",
    ]


def test_step_content_is_escaped():
    run = Run(
        prompt="p",
        model="m",
        steps=[
            Step(
                id="b",
                name="bash_code_execution",
                input={"command": "echo '<script>x</script>'"},
                stdout="<img src=x onerror=alert(1)>",
                return_code=0,
            ),
            Step(
                id="e",
                name="text_editor_code_execution",
                input={"command": "create", "path": "<b>.html", "file_text": "<script>y</script>"},
                result_type="text_editor_code_execution_create_result",
                detail={"is_file_update": False},
            ),
            Step(id="u", name="<i>tool</i>", input={"<k>": "<v>"}, result_type="<t>", detail={"content": "<c>"}),
        ],
    )
    html = to_html(run)
    assert "<script" not in html and "<img" not in html and "<i>" not in html and "<b>.html" not in html
    assert "&lt;script&gt;y&lt;/script&gt;" in html and "file created" in html


def test_an_encrypted_stdout_is_shown_as_such():
    run = Run(
        prompt="p",
        model="m",
        steps=[
            Step(
                id="s",
                code="await search()",
                encrypted=True,
                return_code=0,
                result_type="encrypted_code_execution_result",
            )
        ],
    )
    assert "(encrypted)" in to_html(run) and "(encrypted)" in to_text(run)


# -- cost and calls left out ---------------------------------------------------------------------


def test_the_estimated_cost_is_shown_and_labelled_in_html_and_text():
    run = as_run(samples.portfolio_run())
    shown = f"cost ≈ ${run.cost['total_usd']:.4f} (estimate)"
    assert run.cost["total_usd"] > 0 and shown in to_text(run) and shown in to_html(run)


def test_the_comparison_shows_each_sides_estimated_cost():
    run = as_run(samples.portfolio_run())
    run.comparison = {
        "ptc": {"requests": 2, "input_tokens": 1834, "output_tokens": 412, "wall_s": 0.4},
        "direct": {"requests": 11, "input_tokens": 20_000, "output_tokens": 1_500, "wall_s": 3.3},
    }
    direct = 20_000 * 3 / 1e6 + 1_500 * 15 / 1e6  # sonnet 4.5, no container
    line = to_text(run).splitlines()[-1]
    assert f"cost (estimate) ${run.cost['total_usd']:.4f} vs ${direct:.4f} (−" in line, line
    assert line.index("output tokens") < line.index("cost (estimate)") < line.index("wall time")
    run.comparison["ptc"]["cost_usd"] = 0.25  # what api.figures may carry: used as it is
    assert "cost (estimate) $0.2500 vs" in to_text(run)


def test_a_trace_that_left_calls_out_renders_with_run_numbers_and_the_marker():
    saved = samples.big_run(10_000).to_dict()
    run = Run.from_dict(saved)
    note = saved["calls_note"]
    assert note.startswith(f"… {saved['calls_omitted']['count']:,} more calls not saved")
    text, html = to_text(run), to_html(run)
    assert text.splitlines()[0].startswith("ptc: completed · 10,000 tool calls (103 failed)")
    assert note in text and escape_html(note) in html and "Tool calls (10,000)" in html
    assert "#10000 fetch" in text and "#970 fetch" in text  # numbers in the run, not in the saved list
    bundle = mime_bundle(samples.big_run(10_000))  # from the live run: all three parts say it
    assert note in bundle["text/plain"] and escape_html(note) in bundle["text/html"]
    assert len(json.dumps(bundle).encode()) < 1_000_000


def escape_html(text: str) -> str:
    import html

    return html.escape(text)
