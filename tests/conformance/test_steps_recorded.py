"""Server-side steps replayed from the shapes of recorded real traffic: bash and text-editor steps
under code_execution_20250825 and 20260120, an uploaded input file, thinking, and prompt-cache usage.
Both forms each (the recording's, and the one the replay server derives from it)."""

from __future__ import annotations

import pytest
from conformance_support import check_sent, play, served_blocks

import ptc_jupyter as ptc

BOTH = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])


def no_tools() -> list[ptc.Tool]:
    return list(ptc.ToolRegistry())


def step_view(run: ptc.Run) -> list[tuple[str, str, str | None]]:
    return [(s.id, s.kind, s.status) for s in run.steps]


# -- anthropic-code-execution-20250825.1.json ------------------------------------------------------------
@BOTH
def test_editor_and_bash_steps_are_recorded_with_their_results(replay, stream):
    server = replay("editor_bash_20250825")
    run = play(server, "Write a script for the 10th triangular number and run it.", stream=stream, tools=no_tools())

    uses = served_blocks(server, "server_tool_use")
    assert step_view(run) == [(uses[0]["id"], "editor", "ok"), (uses[1]["id"], "bash", "ok")]
    editor, bash = run.steps
    assert editor.input == uses[0]["input"] and editor.code == "create /tmp/triangle.py"
    assert editor.result_type == "text_editor_code_execution_create_result"
    assert bash.code == "python /tmp/triangle.py" and bash.stdout == "T(10) = 55\n" and bash.return_code == 0
    assert run.scripts == [] and run.calls == []
    assert run.text.endswith("**The 10th triangular number is 55.**")
    assert run.usage["input_tokens"] == 7881 and run.usage["output_tokens"] == 608
    assert run.container_id == "container_011CdlI9liNDKVwhAPlBK59J"
    assert run.requests == 1
    check_sent(server, stream=stream)


# -- anthropic-code-execution-file-upload.1.json ---------------------------------------------------------
@BOTH
def test_uploaded_file_is_attached_then_read_by_steps_and_deleted(replay, stream):
    server = replay("file_upload")
    csv = b"month,revenue\nJan,100\nFeb,140\nMar,120\n"
    run = play(
        server, "Total and average monthly revenue?", stream=stream, tools=no_tools(), files=[("sales.csv", csv)]
    )

    assert [(u["filename"], u["data"]) for u in server.uploads] == [("sales.csv", csv)]
    file_id = server.uploads[0]["id"]
    first = server.requests[0]["messages"][0]
    assert first["role"] == "user"
    assert {"type": "container_upload", "file_id": file_id} in first["content"]
    texts = [b["text"] for b in first["content"] if b["type"] == "text"]
    assert texts and texts[0].startswith("Total and average monthly revenue?") and "sales.csv" in texts[0]
    assert server.deleted == [file_id], "the uploaded file is deleted after the run"

    view, awk = run.steps
    assert (view.kind, view.code) == ("editor", "view $INPUT_DIR/sales.csv")
    assert view.result_type == "text_editor_code_execution_view_result"
    assert view.detail and view.detail.get("content", "").startswith("month,revenue")
    assert awk.kind == "bash" and awk.stdout == "Total: 360\nAverage: 120.00\n"
    assert "**Total revenue: 360**" in run.text
    assert run.container_id == "container_011CiiVEmCXeV9htw08Y4KIf"
    check_sent(server, stream=stream)


# -- anthropic-code-execution-20260120-issue-18193.chunks.txt --------------------------------------------
@BOTH
def test_thinking_then_bash_steps_20260120(replay, stream):
    server = replay("thinking_bash_stream")
    run = play(server, "Sum of the cubes of 1 to 5?", stream=stream, tools=no_tools())

    uses = served_blocks(server, "server_tool_use")
    assert [u["name"] for u in uses] == ["bash_code_execution"] * 2 and all("caller" not in u for u in uses)
    assert step_view(run) == [(uses[0]["id"], "bash", "ok"), (uses[1]["id"], "bash", "ok")]
    assert run.steps[0].code == 'for n in $(seq 1 5); do echo "$n: $((n*n*n))"; done'
    assert run.steps[1].stdout == "Sum: 225\n"
    assert run.text == "The sum of the cubes of 1 to 5 is **225**."
    assert not any("unknown type" in n for n in run.notices), run.notices
    # message_delta's cumulative usage overwrites message_start's
    assert run.usage["input_tokens"] == 6
    assert run.usage["cache_creation_input_tokens"] == 452
    assert run.usage["cache_read_input_tokens"] == 9429
    assert run.usage["output_tokens"] == 383
    assert run.container_id == "container_012zN8T0LFl0PWoKR85SgZRh"
    check_sent(server, stream=stream)


# -- ...-20260120-prompt-cache.1.chunks.txt, then ...-20260120-cache-replay.chunks.txt ---------------------
@BOTH
def test_second_run_in_a_session_names_the_first_runs_container(replay, stream):
    server = replay("prompt_cache_then_replay_stream")
    session = ptc.Session()
    first = play(server, "Add the even numbers up to 10.", stream=stream, tools=no_tools(), session=session)
    second = play(server, "Now the odd numbers up to 9.", stream=stream, tools=no_tools(), session=session)

    assert first.usage == {
        "input_tokens": 6,
        "output_tokens": 198,
        "cache_creation_input_tokens": 3337,
        "cache_read_input_tokens": 6289,
    }
    assert second.usage["cache_creation_input_tokens"] == 3326 and second.usage["cache_read_input_tokens"] == 6267
    assert [s.stdout for s in first.steps] == ["2\n4\n6\n8\n10\n", "30\n"]
    assert [s.stdout for s in second.steps] == ["1\n3\n5\n7\n9\n", "25\n"]
    assert first.container_id == "container_01KFDnxUVxefGl1kwxtdbgha"
    # the session keeps the container: the next run asks for it, and adopts the one the API answers with
    assert "container" not in server.requests[0]
    assert server.requests[1]["container"] == "container_01KFDnxUVxefGl1kwxtdbgha"
    assert second.container_id == "container_01Q9Zcn89yiUUudC3AFPvdnT"
    for req in server.requests:
        assert req["tools"][-1].get("cache_control") == {"type": "ephemeral"}, "the tools prefix is cached"
        assert bool(req.get("stream")) is stream
