"""A turn's steps through the real SDK (`emulator/steps.py`, `turns.py`): bash, text editor and
python steps in prompt order, their wire shapes, the cell limit, step faults, system messages."""

from __future__ import annotations

import json
import os
import time

import anthropic
import pytest
from emulator_helpers import CODE_EXECUTION, ptc_tool, run_turn, script_prompt, tool_results, wait_until

from ptc_jupyter.emulator import EmulatorConfig, EmulatorServer
from ptc_jupyter.emulator.faults import parse_fault
from ptc_jupyter.emulator.steps import script_failure

TOOLS = [CODE_EXECUTION, ptc_tool("get")]
LIMIT_S = 1.0


@pytest.fixture(scope="module")
def emulator():
    with EmulatorServer(EmulatorConfig(cell_limit_s=LIMIT_S)) as s:
        yield s


def fence(info: str, body: str) -> str:
    return f"```{info}\n{body}\n```\n"


def editor(**command) -> str:
    return fence("text_editor", json.dumps(command))


def create(client, messages, tools=TOOLS, **kw):
    return client.messages.create(model="m", max_tokens=1024, tools=tools, messages=messages, **kw)


def turn(client, prompt: str, answer=lambda b: "ok", **kw):
    return run_turn(client, prompt=prompt, tools=TOOLS, answer=answer, **kw)


def types(message) -> list[str]:
    return [b.type for b in message.content]


def results(message, kind: str) -> list:
    return [b.content for b in message.content if b.type == kind]


# --- bash ---------------------------------------------------------------------------------------------


def test_a_bash_step_gives_server_tool_use_and_its_result(client):
    final, responses = turn(client, "Run it.\n" + fence("bash", "echo out; echo err >&2; exit 3"))
    assert len(responses) == 1 and final.stop_reason == "end_turn"
    assert types(final) == ["text", "server_tool_use", "bash_code_execution_tool_result", "text"]
    use, result = final.content[1], final.content[2]
    assert (use.name, use.input) == ("bash_code_execution", {"command": "echo out; echo err >&2; exit 3"})
    assert use.id.startswith("srvtoolu_") and result.tool_use_id == use.id
    assert result.content.type == "bash_code_execution_result"
    assert (result.content.stdout, result.content.stderr, result.content.return_code) == ("out\n", "err\n", 3)
    assert result.content.content == []
    assert final.content[-1].text == "out\n\nThe command failed (return code 3): err"
    assert final.usage.server_tool_use.model_extra["code_execution_requests"] == 1


def test_bash_runs_in_the_container_with_its_environment_and_sees_other_steps_files(client):
    prompt = (
        fence("python", "open('made_by_python.txt', 'w').write('py')")
        + editor(command="create", path="sub/made_by_editor.txt", file_text="ed")
        + fence("sh", 'echo "$PWD|$HOME|$OUTPUT_DIR|$INPUT_DIR"; cat made_by_python.txt sub/made_by_editor.txt')
    )
    final, _ = turn(client, prompt)
    bash = results(final, "bash_code_execution_tool_result")[0]
    line, cat = bash.stdout.splitlines()
    cwd, home, output_dir, input_dir = line.split("|")
    assert home == cwd and output_dir == os.path.join(cwd, "outputs") and input_dir == os.path.join(cwd, "inputs")
    assert cat == "pyed" and bash.return_code == 0


def gone(pid: int) -> bool:
    """Whether the process is gone (a zombie counts: nothing runs any more)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_bash_has_the_minimal_environment_and_kills_what_it_left_running(client):
    final, _ = turn(client, fence("bash", "sleep 30 & echo $!; env | cut -d= -f1"))
    pid, *names = results(final, "bash_code_execution_tool_result")[0].stdout.split()
    allowed = {"PATH", "LANG", "LANGUAGE", "HOME", "OUTPUT_DIR", "INPUT_DIR", "PYTHONUSERBASE", "PWD", "SHLVL", "_"}
    assert {n for n in names if not n.startswith("LC_")} <= allowed
    wait_until(lambda: gone(int(pid)), timeout_s=30)


def test_a_bash_command_past_the_limit_gets_execution_time_exceeded(client):
    started = time.monotonic()
    final, _ = turn(client, fence("bash", "echo begun; sleep 20"))
    assert time.monotonic() - started < 20 / 2  # cut short, not slept through
    error = results(final, "bash_code_execution_tool_result")[0]
    assert (error.type, error.error_code) == ("bash_code_execution_tool_result_error", "execution_time_exceeded")
    assert final.content[-1].text == "The command returned the error execution_time_exceeded"


# --- the text editor -------------------------------------------------------------------------------


def test_text_editor_create_str_replace_view(client):
    prompt = (
        editor(command="create", path="notes.txt", file_text="one\ntwo\nthree\n")
        + editor(command="create", path="notes.txt", file_text="one\ntwo\nthree\nfour\n")
        + editor(command="str_replace", path="notes.txt", old_str="two\nthree", new_str="2")
        + editor(command="view", path="notes.txt")
        + editor(command="view", path="notes.txt", view_range=[2, -1])
    )
    final, _ = turn(client, prompt)
    uses = [b for b in final.content if b.type == "server_tool_use"]
    assert {u.name for u in uses} == {"text_editor_code_execution"}
    assert uses[2].input == {"command": "str_replace", "path": "notes.txt", "old_str": "two\nthree", "new_str": "2"}
    created, updated, replaced, view, ranged = results(final, "text_editor_code_execution_tool_result")
    assert (created.type, created.is_file_update) == ("text_editor_code_execution_create_result", False)
    assert updated.is_file_update is True
    assert replaced.type == "text_editor_code_execution_str_replace_result"
    assert (replaced.old_start, replaced.old_lines, replaced.new_start, replaced.new_lines) == (2, 2, 2, 1)
    assert replaced.lines == ["-two", "-three", "+2"]
    assert view.type == "text_editor_code_execution_view_result" and view.file_type == "text"
    assert (view.content, view.num_lines, view.start_line, view.total_lines) == ("one\n2\nfour\n", 3, 1, 3)
    assert (ranged.content, ranged.num_lines, ranged.start_line, ranged.total_lines) == ("2\nfour\n", 2, 2, 3)
    assert final.content[-1].text == "The steps finished without printing anything."


def test_text_editor_errors(client):
    prompt = (
        editor(command="view", path="missing.txt")
        + editor(command="create", path="f.txt", file_text="a a\n")
        + editor(command="str_replace", path="f.txt", old_str="a", new_str="b")
        + editor(command="delete", path="f.txt")
        + fence("text_editor", "not json")
    )
    final, _ = turn(client, prompt)
    missing, _created, ambiguous, unsupported, unparsed = results(final, "text_editor_code_execution_tool_result")
    assert missing.type == "text_editor_code_execution_tool_result_error"
    assert missing.error_code == "file_not_found" and "missing.txt" in missing.error_message
    assert ambiguous.error_code == "invalid_tool_input" and "2 times" in ambiguous.error_message
    assert unsupported.error_code == "invalid_tool_input" and "'delete'" in unsupported.error_message
    assert unparsed.error_code == "invalid_tool_input"
    assert final.content[-1].text.startswith("The text editor returned the error file_not_found: ")


# --- order, pauses, streaming ----------------------------------------------------------------------

MIXED = (
    "First the shell, then the script, then the shell again.\n"
    + fence("bash", "echo before")
    + fence("python", "print('got', await get(i=1))")
    + fence("bash", "echo after")
)


def test_steps_run_in_prompt_order_pausing_at_the_python_tool_calls(client):
    messages = [{"role": "user", "content": MIXED}]
    first = create(client, messages)
    assert first.stop_reason == "tool_use"
    assert types(first) == ["text", "server_tool_use", "bash_code_execution_tool_result", "server_tool_use", "tool_use"]
    script = first.content[3]
    assert script.name == "code_execution" and script.input == {"code": "print('got', await get(i=1))\n"}
    assert first.content[4].caller.tool_id == script.id
    assert first.usage.server_tool_use.model_extra["code_execution_requests"] == 2
    messages += [{"role": "assistant", "content": first.content}, tool_results(first, lambda b: "42")]
    final = create(client, messages, container=first.container.id)
    assert types(final) == ["code_execution_tool_result", "server_tool_use", "bash_code_execution_tool_result", "text"]
    assert final.content[0].tool_use_id == script.id and final.content[0].content.stdout == "got 42\n"
    assert final.content[-1].text == "before\n\ngot 42\n\nafter"


def test_a_continuation_with_other_tools_is_refused_as_documented(client):
    messages = [{"role": "user", "content": MIXED}]
    first = create(client, messages)
    messages += [{"role": "assistant", "content": first.content}, tool_results(first, lambda b: "42")]
    with pytest.raises(anthropic.BadRequestError, match="`tools` array must not change"):
        create(client, messages, tools=TOOLS + [ptc_tool("other")], container=first.container.id)
    assert create(client, messages, container=first.container.id).stop_reason == "end_turn"


def normalized(message) -> list[dict]:
    """The content without ids (each response makes new ones)."""
    text = json.dumps(message.model_dump(mode="json")["content"])
    for block in message.content:
        for name in ("id", "tool_use_id"):
            if getattr(block, name, None):
                text = text.replace(getattr(block, name), "<id>")
    return json.loads(text)


def test_streaming_a_multi_step_turn_gives_the_same_blocks_as_json(client):
    def run(stream: bool):
        messages = [{"role": "user", "content": MIXED + editor(command="create", path="s.txt", file_text="x")}]
        out = []
        for _ in range(2):
            if stream:
                with client.messages.stream(
                    model="m",
                    max_tokens=1024,
                    tools=TOOLS,
                    messages=messages,
                    **({"container": out[-1].container.id} if out else {}),
                ) as s:
                    response = s.get_final_message()
            else:
                response = create(client, messages, **({"container": out[-1].container.id} if out else {}))
            out.append(response)
            messages += [{"role": "assistant", "content": response.content}, tool_results(response, lambda b: "42")]
        return out

    as_json, as_stream = run(False), run(True)
    assert [r.stop_reason for r in as_stream] == ["tool_use", "end_turn"]
    for a, b in zip(as_json, as_stream):
        assert normalized(a) == normalized(b)
        assert types(b)  # the stream carried every block
    assert "text_editor_code_execution_tool_result" in types(as_stream[1])


def test_direct_mode_runs_only_the_first_python_block(client):
    tools = [ptc_tool("get", callers=("direct",))]
    prompt = fence("bash", "echo no") + fence("python", "print(await get(i=1))")
    final, responses = run_turn(client, prompt=prompt, tools=tools, answer=lambda b: "direct")
    assert [b.type for b in responses[0].content] == ["text", "tool_use"] and final.content[-1].text == "direct"


def test_system_messages_mid_conversation_are_accepted_and_ignored(client):
    first, _ = turn(client, script_prompt("x = 41"))
    messages = [
        {"role": "user", "content": script_prompt("x = 41")},
        {"role": "assistant", "content": first.content},
        {"role": "system", "content": "Answer tersely."},
        {"role": "user", "content": [{"type": "text", "text": script_prompt("print(x + 1)")}]},
        {"role": "system", "content": [{"type": "text", "text": "Really tersely."}]},
    ]
    final = create(client, messages, container=first.container.id)
    assert final.content[-1].text == "42"
    with pytest.raises(anthropic.BadRequestError, match="system message"):
        create(
            client,
            messages[:3] + [{"role": "system", "content": [{"type": "image", "source": {}}]}, messages[3]],
            container=first.container.id,
        )


# --- the cell limit ------------------------------------------------------------------------------


def test_a_cell_past_the_limit_ends_with_detection_timeout_and_keeps_the_repl(client):
    started = time.monotonic()
    final, _ = turn(client, script_prompt("kept = 'still here'\nprint('begun')\nwhile True:\n    pass"))
    assert time.monotonic() - started < 30 * LIMIT_S  # stopped: the loop never ends by itself
    result = results(final, "code_execution_tool_result")[0]
    assert result.type == "code_execution_result" and result.return_code != 0
    assert result.stdout == "begun\n" and "detection_timeout" in result.stderr
    again, _ = turn(client, script_prompt("print(kept)"), container=final.container.id)
    assert again.content[-1].text == "still here"


def test_time_spent_waiting_for_tool_results_does_not_count(client):
    def slow(_block):
        time.sleep(0.4)
        return "ok"

    code = "for i in range(3):\n    await get(i=i)\nprint('done')"
    final, responses = turn(client, script_prompt(code), answer=slow)
    assert len(responses) == 4 and final.content[-1].text == "done"


# --- step faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, info, tool, codes",
    [
        (
            "code_execution_error",
            "python",
            "code_execution",
            ["invalid_tool_input", "unavailable", "too_many_requests", "execution_time_exceeded"],
        ),
        ("bash_code_execution_error", "bash", "bash_code_execution", ["output_file_too_large", "unavailable"]),
        ("text_editor_code_execution_error", "text_editor", "text_editor_code_execution", ["file_not_found"]),
    ],
)
def test_step_error_faults_give_the_error_result_of_that_step(emulator, client, kind, info, tool, codes):
    body = (
        "print('ran')"
        if info == "python"
        else "echo ran"
        if info == "bash"
        else json.dumps({"command": "create", "path": "ran.txt", "file_text": "x"})
    )
    lead, lead_tool = ("python", "code_execution") if info == "bash" else ("bash", "bash_code_execution")
    for code in codes:
        emulator.inject({"kind": kind, "error_code": code})
        final, _ = turn(client, fence(lead, "true") + fence(info, body) + fence(info, body))
        uses = [b for b in final.content if b.type == "server_tool_use"]
        assert [u.name for u in uses] == [lead_tool, tool, tool]
        blocks = [b for b in final.content if b.type == f"{tool}_tool_result"]
        assert blocks[-2].tool_use_id == uses[-2].id and blocks[-2].content.type == f"{tool}_tool_result_error"
        assert blocks[-2].content.error_code == code
        assert not blocks[-1].content.type.endswith("_error")  # consumed by one step
        if tool == "text_editor_code_execution":
            assert blocks[-2].content.error_message


def test_step_faults_are_checked():
    for bad in (
        {"kind": "code_execution_error", "error_code": "output_file_too_large"},
        {"kind": "bash_code_execution_error"},
        {"kind": "text_editor_code_execution_error", "error_code": "nope"},
    ):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_encrypted_result_fault(emulator, client):
    emulator.inject({"kind": "encrypted_code_execution_result"})
    final, _ = turn(client, script_prompt("import sys\nprint('secret')\nprint('warn', file=sys.stderr)"))
    result = results(final, "code_execution_tool_result")[0]
    assert result.type == "encrypted_code_execution_result"
    assert result.encrypted_stdout and "secret" not in result.encrypted_stdout
    assert (result.stderr, result.return_code, result.content) == ("warn\n", 0, [])
    again, _ = turn(client, script_prompt("print('plain')"))
    assert results(again, "code_execution_tool_result")[0].type == "code_execution_result"


def test_steps_after_the_container_process_died_say_so_at_once(client):
    prompt = (
        fence("python", "import os\nos._exit(0)")
        + fence("bash", "echo hi")
        + editor(command="create", path="x.txt", file_text="")
        + fence("python", "print(1)")
    )
    final, _ = turn(client, prompt)
    died, after = results(final, "code_execution_tool_result")
    assert died.return_code == after.return_code == 137
    assert results(final, "bash_code_execution_tool_result")[0].error_code == "unavailable"
    assert results(final, "text_editor_code_execution_tool_result")[0].error_code == "unavailable"


def test_the_command_line_sets_the_cell_limit():
    from ptc_jupyter.emulator.__main__ import parse_args

    assert parse_args(["--cell-limit", "5"], environ={}).cell_limit_s == 5.0
    assert parse_args([], environ={}).cell_limit_s == 90.0


# -- how a failed script is told in the final text ------------------------------------------------
ASYNCIO_RUN_FAILED = """Traceback (most recent call last):
  File "<script 1>", line 12, in <module>
    asyncio.run(main())
  File "/usr/lib/python3.11/asyncio/runners.py", line 186, in run
    raise RuntimeError(
RuntimeError: asyncio.run() cannot be called from a running event loop
<script 1>:12: RuntimeWarning: coroutine 'main' was never awaited
RuntimeWarning: Enable tracemalloc to get the object allocation traceback
"""
CHAINED = """Traceback (most recent call last):
  File "<script 2>", line 3, in <module>
    x = d["k"]
KeyError: 'k'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "<script 2>", line 5, in <module>
    raise ValueError("no k")
ValueError: no k
"""
SYNTAX = """  File "<script 3>", line 2
    x = (
        ^
SyntaxError: '(' was never closed
"""


@pytest.mark.parametrize(
    ("stderr", "told"),
    [
        (ASYNCIO_RUN_FAILED, "RuntimeError: asyncio.run() cannot be called from a running event loop (line 12)"),
        (CHAINED, "ValueError: no k (line 5)"),
        (SYNTAX, "SyntaxError: '(' was never closed (line 2)"),
        (
            "The cell ran past its limit of 90 s (detection_timeout).\n",
            "The cell ran past its limit of 90 s (detection_timeout).",
        ),
        ("", "no error output"),
    ],
)
def test_a_failed_script_is_told_by_its_exception_and_line_not_its_last_stderr_line(stderr, told):
    assert script_failure(stderr) == told
