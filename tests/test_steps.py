"""steps.py: every server-side step of the container, from API blocks given as dicts and as the
SDK's own parsed objects (built the way the SDK builds a response: leniently, `Message.construct`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from anthropic.types import Message

from ptc_jupyter.display.formatting import editor_diff, step_result_text, step_state
from ptc_jupyter.trace import steps
from ptc_jupyter.trace.run import Run
from ptc_jupyter.trace.steps import Step

ROOT = Path(__file__).resolve().parents[1]

PNG_OUT = {"type": "code_execution_output", "file_id": "file_py"}
BLOCKS = [
    {
        "type": "server_tool_use",
        "id": "srvtoolu_py",
        "name": "code_execution",
        "input": {"code": "print(1)"},
        "caller": {"type": "direct"},
    },
    {
        "type": "code_execution_tool_result",
        "tool_use_id": "srvtoolu_py",
        "content": {
            "type": "code_execution_result",
            "stdout": "1\n",
            "stderr": "",
            "return_code": 0,
            "content": [PNG_OUT],
        },
    },
    {"type": "server_tool_use", "id": "srvtoolu_sh", "name": "bash_code_execution", "input": {"command": "ls /tmp"}},
    {
        "type": "bash_code_execution_tool_result",
        "tool_use_id": "srvtoolu_sh",
        "content": {
            "type": "bash_code_execution_result",
            "stdout": "a\n",
            "stderr": "warn\n",
            "return_code": 2,
            "content": [{"type": "bash_code_execution_output", "file_id": "file_sh"}],
        },
    },
    {
        "type": "server_tool_use",
        "id": "srvtoolu_view",
        "name": "text_editor_code_execution",
        "input": {"command": "view", "path": "/tmp/a.py", "view_range": [1, 2]},
    },
    {
        "type": "text_editor_code_execution_tool_result",
        "tool_use_id": "srvtoolu_view",
        "content": {
            "type": "text_editor_code_execution_view_result",
            "content": "x = 1\ny = 2\n",
            "file_type": "text",
            "num_lines": 2,
            "start_line": 1,
            "total_lines": 9,
        },
    },
    {
        "type": "server_tool_use",
        "id": "srvtoolu_new",
        "name": "text_editor_code_execution",
        "input": {"command": "create", "path": "/tmp/b.py", "file_text": "print('b')\n"},
    },
    {
        "type": "text_editor_code_execution_tool_result",
        "tool_use_id": "srvtoolu_new",
        "content": {"type": "text_editor_code_execution_create_result", "is_file_update": True},
    },
    {
        "type": "server_tool_use",
        "id": "srvtoolu_rep",
        "name": "text_editor_code_execution",
        "input": {"command": "str_replace", "path": "/tmp/a.py", "old_str": "x = 1", "new_str": "x = 10\nz = 0"},
    },
    {
        "type": "text_editor_code_execution_tool_result",
        "tool_use_id": "srvtoolu_rep",
        "content": {
            "type": "text_editor_code_execution_str_replace_result",
            "old_start": 1,
            "old_lines": 1,
            "new_start": 1,
            "new_lines": 2,
            "lines": ["-x = 1", "+x = 10", "+z = 0"],
        },
    },
    {
        "type": "server_tool_use",
        "id": "srvtoolu_nf",
        "name": "text_editor_code_execution",
        "input": {"command": "view", "path": "/nope"},
    },
    {
        "type": "text_editor_code_execution_tool_result",
        "tool_use_id": "srvtoolu_nf",
        "content": {
            "type": "text_editor_code_execution_tool_result_error",
            "error_code": "file_not_found",
            "error_message": "/nope: no such file",
        },
    },
    {"type": "server_tool_use", "id": "srvtoolu_err", "name": "bash_code_execution", "input": {"command": "yes"}},
    {
        "type": "bash_code_execution_tool_result",
        "tool_use_id": "srvtoolu_err",
        "content": {"type": "bash_code_execution_tool_result_error", "error_code": "output_file_too_large"},
    },
    {"type": "server_tool_use", "id": "srvtoolu_enc", "name": "code_execution", "input": {"code": "await search()"}},
    {
        "type": "code_execution_tool_result",
        "tool_use_id": "srvtoolu_enc",
        "content": {
            "type": "encrypted_code_execution_result",
            "encrypted_stdout": "EiQxYz...",
            "stderr": "",
            "return_code": 0,
            "content": [],
        },
    },
    {"type": "server_tool_use", "id": "srvtoolu_cx", "name": "code_execution", "input": {"code": "while 1: pass"}},
    {
        "type": "code_execution_tool_result",
        "tool_use_id": "srvtoolu_cx",
        "content": {"type": "code_execution_tool_result_error", "error_code": "execution_time_exceeded"},
    },
    {"type": "server_tool_use", "id": "srvtoolu_to", "name": "code_execution", "input": {"code": "sleep(100)"}},
    {
        "type": "code_execution_tool_result",
        "tool_use_id": "srvtoolu_to",
        "content": {
            "type": "code_execution_result",
            "stdout": "",
            "return_code": 1,
            "content": [],
            "stderr": "Traceback...\ndetection_timeout: this cell ran for more than 90 seconds and was stopped.\n",
        },
    },
    {"type": "server_tool_use", "id": "srvtoolu_fx", "name": "future_tool", "input": {"q": "x"}},
    {
        "type": "future_tool_result",
        "tool_use_id": "srvtoolu_fx",
        "content": {"type": "future_result", "answer": [1, 2]},
    },
    {
        "type": "code_execution_tool_result",
        "tool_use_id": "srvtoolu_py2",
        "content": {"type": "brand_new_result", "foo": 1},
    },
]

EXPECTED = [  # id, kind, status, state
    ("srvtoolu_py", "python", "ok", "exit 0"),
    ("srvtoolu_sh", "bash", "failed", "exit 2"),
    ("srvtoolu_view", "editor", "ok", "viewed 2 of 9 lines"),
    ("srvtoolu_new", "editor", "ok", "file updated"),
    ("srvtoolu_rep", "editor", "ok", "replaced"),
    ("srvtoolu_nf", "editor", "error", "file_not_found: /nope: no such file"),
    ("srvtoolu_err", "bash", "error", "output_file_too_large"),
    ("srvtoolu_enc", "python", "ok", "exit 0"),
    ("srvtoolu_cx", "python", "error", "execution_time_exceeded"),
    ("srvtoolu_to", "python", "timeout", "cell time limit (90 s) reached"),
    ("srvtoolu_fx", "other", "ok", "result future_result"),
    ("srvtoolu_py2", "python", "ok", "result brand_new_result"),
]


def as_sdk(blocks: list[dict]) -> list:
    """The blocks as the SDK hands them over: `Message` built leniently, as from an API response."""
    message = Message.construct(
        id="msg_1",
        type="message",
        role="assistant",
        model="m",
        stop_reason="end_turn",
        stop_sequence=None,
        usage={"input_tokens": 1, "output_tokens": 1},
        content=blocks,
    )
    return list(message.content)


def record(blocks: list) -> Run:
    """What the host does with a response's blocks (the contract in steps.py)."""
    run = Run(prompt="p", model="m")
    for block in blocks:
        if steps.get(block, "type") == "server_tool_use":
            run.steps.append(steps.step_from_block(block, at_s=1.0))
        elif steps.is_result_block(block):
            steps.apply_result(steps.step_for_result(run, block), block, at_s=1.5)
    return run


@pytest.fixture(params=["dict", "sdk"])
def run(request) -> Run:
    return record(BLOCKS if request.param == "dict" else as_sdk(json.loads(json.dumps(BLOCKS))))


def test_sdk_blocks_really_are_sdk_classes_with_the_caveats():
    parsed = as_sdk(BLOCKS)
    names = [type(b).__name__ for b in parsed]
    assert names[:4] == [
        "ServerToolUseBlock",
        "CodeExecutionToolResultBlock",
        "ServerToolUseBlock",
        "BashCodeExecutionToolResultBlock",
    ]
    assert type(parsed[11].content).__name__ == "TextEditorCodeExecutionToolResultErrorObject"
    assert names[-2] == "TextBlock" and parsed[-2].type == "future_tool_result"  # an unknown block
    assert type(parsed[-1].content).__name__ == "CodeExecutionToolResultErrorObject"  # an unknown result...
    assert parsed[-1].content.type == "brand_new_result"  # ...that only its type string tells apart


def test_strictly_validated_sdk_blocks_work_too():
    known = [
        b
        for b in BLOCKS
        if b["type"] != "future_tool_result"
        and b.get("name") != "future_tool"
        and b.get("tool_use_id") != "srvtoolu_py2"
    ]
    message = Message.model_validate(
        {
            "id": "m",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "content": known,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    )
    run = record(message.content)
    assert [(s.id, s.kind, s.status, step_state(s)) for s in run.steps] == EXPECTED[:-2]


def test_every_step_in_order_with_its_outcome(run):
    assert [(s.id, s.kind, s.status, step_state(s)) for s in run.steps] == EXPECTED
    assert run.scripts == ["print(1)", "await search()", "while 1: pass", "sleep(100)", ""]
    assert all(s.duration_s == 0.5 for s in run.steps if s.started_s is not None)


def test_streams_files_and_codes(run):
    py, sh, view, new, rep, *_ = run.steps
    assert (py.stdout, py.stderr, py.return_code, py.file_ids) == ("1\n", "", 0, ["file_py"])
    assert (sh.stdout, sh.stderr, sh.file_ids, sh.code) == ("a\n", "warn\n", ["file_sh"], "ls /tmp")
    assert run.output_file_ids == ["file_py", "file_sh"]
    assert view.code == "view /tmp/a.py [1, 2]" and view.detail["total_lines"] == 9
    assert step_result_text(view) == "x = 1\ny = 2\n"
    assert new.detail == {"is_file_update": True} and step_result_text(new) == "print('b')\n"
    assert editor_diff(rep) == ["@@ -1,1 +1,2 @@", "-x = 1", "+x = 10", "+z = 0"]


def test_errors_encrypted_timeouts_and_unknowns(run):
    by_id = {s.id: s for s in run.steps}
    assert (by_id["srvtoolu_nf"].error_code, by_id["srvtoolu_nf"].error_message) == (
        "file_not_found",
        "/nope: no such file",
    )
    enc = by_id["srvtoolu_enc"]
    assert enc.encrypted and enc.stdout is None and "EiQ" not in json.dumps(enc.to_dict())
    assert by_id["srvtoolu_to"].timeout_s == 90
    assert by_id["srvtoolu_fx"].result_type == "future_result"
    assert by_id["srvtoolu_fx"].detail == {"content": {"type": "future_result", "answer": [1, 2]}}
    assert by_id["srvtoolu_fx"].input == {"q": "x"} and by_id["srvtoolu_fx"].code == '{"q":"x"}'
    assert by_id["srvtoolu_py2"].detail == {"content": {"type": "brand_new_result", "foo": 1}}
    json.dumps(run.to_dict())  # everything kept is JSON-safe


def test_a_result_without_its_step_gets_one_named_after_the_block():
    run = record([BLOCKS[3]])
    assert [(s.id, s.name, s.stdout) for s in run.steps] == [("srvtoolu_sh", "bash_code_execution", "a\n")]


def test_file_ids_from_blocks_and_contents_dicts_and_sdk():
    for block in (BLOCKS[1], as_sdk([BLOCKS[1]])[0]):
        assert steps.file_ids(block) == ["file_py"]
        assert steps.file_ids(steps.get(block, "content")) == ["file_py"]
    assert steps.file_ids(BLOCKS[3]) == ["file_sh"] and steps.file_ids(BLOCKS[5]) == []
    assert steps.file_ids({"content": {"content": [PNG_OUT, PNG_OUT, {"type": "x_output", "file_id": "f2"}]}}) == [
        "file_py",
        "f2",
    ]


def test_web_search_result_lists_are_kept_whole():
    search = {"type": "server_tool_use", "id": "srvtoolu_ws", "name": "web_search", "input": {"query": "q"}}
    result = {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_ws",
        "content": [{"type": "web_search_result", "url": "https://a", "title": "A", "encrypted_content": "e"}],
    }
    for blocks in ([search, result], as_sdk([search, result])):
        (step,) = record(blocks).steps
        assert step.kind == "other" and step.result_type == "web_search_tool_result" and step.status == "ok"
        assert step.detail["content"][0]["url"] == "https://a"


def test_only_server_tool_use_blocks_make_steps():
    with pytest.raises(ValueError):
        steps.step_from_block({"type": "tool_use", "id": "t", "name": "f", "input": {}})
    assert not steps.is_result_block({"type": "tool_result"}) and steps.is_result_block(BLOCKS[1])


def test_context_bytes_counts_streams_and_details():
    step = Step(id="s", stdout="ab", stderr="é", detail={"content": "x"})
    assert steps.context_bytes(step) == 2 + 2 + len('{"content": "x"}')


def test_steps_module_imports_neither_the_sdk_nor_ipython():
    code = (
        "import sys; import ptc_jupyter.trace.steps, ptc_jupyter.trace.files, ptc_jupyter.trace.run; "
        "bad = [m for m in ('anthropic', 'IPython', 'pandas') if m in sys.modules]; assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def typescript_step_kinds() -> dict[str, tuple[str, ...]]:
    """`STEP_KIND_TABLE` of labextension/src/types.ts, read from its source."""
    source = (ROOT / "labextension" / "src" / "types.ts").read_text(encoding="utf-8")
    block = re.search(r"export const STEP_KIND_TABLE = \{(.*?)\n\} as const;", source, re.S)
    assert block, "types.ts has no STEP_KIND_TABLE"
    rows = re.findall(r"^\s*(\w+): \{ tools: \[([^\]]*)\] \}", block.group(1), re.M)
    return {kind: tuple(re.findall(r"'([^']+)'", tools)) for kind, tools in rows}


def test_step_kinds_are_one_table_in_python_and_typescript():
    from ptc_jupyter.trace.steps import STEP_KIND_TABLE, StepKind

    assert typescript_step_kinds() == STEP_KIND_TABLE
    assert list(STEP_KIND_TABLE) == list(typing.get_args(StepKind))


def test_every_step_kind_is_shown_by_every_python_view():
    from ptc_jupyter.display.formatting import step_label
    from ptc_jupyter.display.render import step_html, to_html, to_text
    from ptc_jupyter.notebook.live_view import steps_html
    from ptc_jupyter.trace.run import Run
    from ptc_jupyter.trace.steps import STEP_KIND_TABLE

    for kind, tools in STEP_KIND_TABLE.items():
        name = tools[0] if tools else "web_search"
        step = Step(
            id=f"srvtoolu_{kind}",
            name=name,
            code="print(1)" if kind in ("python", "bash") else None,
            input={"command": "view", "path": "/tmp/x"} if kind == "editor" else {},
        )
        assert step.kind == kind
        label = step_label(step)
        assert label and (kind != "other" or label == name)
        run = Run(prompt="p", model="m", steps=[step])
        for html in (step_html(step, label), steps_html(run), to_html(run)):
            assert label in html or kind == "python", (kind, html[:200])
        assert to_text(run)
