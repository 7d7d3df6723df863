"""calls_table.py: the rows every view of the calls shows."""

from __future__ import annotations

from ptc_jupyter.display.calls_table import CallRow, GapRow, table_rows
from ptc_jupyter.trace.run import ToolCall
from ptc_jupyter.trace.saved_calls import TableLimits


def calls(n: int, failed: set[int] = frozenset()) -> list[ToolCall]:
    return [
        ToolCall(
            id=f"t{i}",
            name="f",
            input={"i": i},
            status="error" if i in failed else "ok",
            is_error=i in failed,
            output=f"r{i}",
            duration_s=0.5,
        )
        for i in range(n)
    ]


def shape(rows) -> list:
    return [r.number if isinstance(r, CallRow) else f"gap {r.hidden}" for r in rows]


def test_head_tail_and_failed_calls_between_with_gaps():
    rows = table_rows(calls(20, failed={7, 9, 11}), TableLimits(head=2, tail=3, failed=2))
    assert shape(rows) == [1, 2, "gap 5", 8, "gap 1", 10, "gap 7", 18, 19, 20]


def test_a_short_run_has_no_gaps():
    assert shape(table_rows(calls(4), TableLimits(head=2, tail=2, failed=0))) == [1, 2, 3, 4]


def test_a_gap_at_the_end_is_counted():
    rows = table_rows(calls(10), TableLimits(head=3, tail=0, failed=0))
    assert rows[-1] == GapRow(7) and rows[-1].label == "… 7 calls not listed"


def test_cells_are_one_line_previews():
    call = ToolCall(
        id="t", name="f", input={"text": "a\nb " * 50}, status="error", is_error=True, output="x" * 500, duration_s=0.25
    )
    (row,) = table_rows([call], TableLimits(head=1, tail=0, failed=0, preview_chars=40))
    assert row.status == "✗ error" and row.took == "250 ms" and row.failed
    assert len(row.input) <= 40 and "\n" not in row.input and row.input.endswith("chars]")
    assert len(row.result) <= 40 and row.result.startswith("xxx")


def test_a_running_call_has_no_duration_or_result_yet():
    (row,) = table_rows([ToolCall(id="t", name="f", input={}, status="running")], TableLimits(1, 0, 0))
    assert (row.took, row.result, row.status) == ("…", "", "running")


def test_rows_of_a_trace_that_left_calls_out_keep_their_run_numbers():
    from ptc_jupyter.trace.saved_calls import call_numbers, omitted_summary

    run_calls = calls(30, failed={12, 20})
    keep = [0, 1, 2, 12, 20, 28, 29]
    omitted = omitted_summary(run_calls, keep)
    assert omitted == {
        "count": 23,
        "failed": 0,
        "by_status": {"ok": 23},
        "by_name": {"f": 23},
        "by_script": {},
        "gaps": [[3, 9], [4, 7], [5, 7]],
    }
    saved = [run_calls[i] for i in keep]
    assert call_numbers(len(saved), omitted) == [1, 2, 3, 13, 21, 29, 30]
    rows = table_rows(saved, TableLimits(head=2, tail=1, failed=5), omitted)
    assert shape(rows) == [1, 2, "gap 10", 13, "gap 7", 21, "gap 8", 30]


def test_a_summary_counts_on_top_of_the_calls_left_out_before():
    from ptc_jupyter.trace.saved_calls import OTHER_TOOLS, SUMMARY_NAMES, omitted_note, omitted_summary

    many = [
        ToolCall(id=f"t{i}", name=f"tool{i % (SUMMARY_NAMES + 5)}", input={}, status="error", is_error=True)
        for i in range(200)
    ]
    first = omitted_summary(many, [0, 199])
    assert first["count"] == 198 and first["failed"] == 198 and len(first["by_name"]) == SUMMARY_NAMES + 1
    assert (
        first["by_name"][OTHER_TOOLS]
        == sum(first["by_name"].values()) - sum(v for k, v in first["by_name"].items() if k != OTHER_TOOLS)
        and sum(first["by_name"].values()) == 198
    )
    second = omitted_summary([many[0], many[199], many[5]], [0, 1], first)  # one more call, then cut again
    assert second["count"] == 199 and second["by_status"] == {"error": 199}
    assert omitted_note(second) == "… 199 more calls not saved; r.to_json(path) writes the full trace"
    assert omitted_note(None) == "" and omitted_note({"count": 1}).startswith("… 1 more call not saved")
