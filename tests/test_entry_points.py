"""Bad input at the entry points that take files, conversations and recordings: each is refused
with one clear line before anything is sent, and nothing is lost (no upload, no tool run, the
conversation as it was)."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from shell_support import offline_shell

import ptc_jupyter as ptc
from ptc_jupyter.constants import FILES_API_MAX_BYTES
from ptc_jupyter.errors import OptionError

asked: list[int] = []


async def double(x: int) -> int:
    """Twice x. Returns an integer."""
    asked.append(x)
    return 2 * x


def ask(x: int) -> str:
    return f"Double {x}.\n\n```python\nprint(await double({{'x': {x}}}))\n```\n"


@pytest.fixture
def bad_paths(tmp_path):
    """A missing path, a directory, and a (sparse) file past the Files API's limit."""
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as f:
        f.truncate(FILES_API_MAX_BYTES + 1)
    folder = tmp_path / "folder"
    folder.mkdir()
    return {
        "missing": (tmp_path / "missing.csv", "no such file"),
        "directory": (folder, "is a directory; give its files one by one"),
        "too large": (huge, "more than the Files API accepts (500 MB per file)"),
    }


def uploads(client) -> int:
    return client.get("/_emulator/state", cast_to=object)["files"]


@pytest.mark.parametrize("case", ["missing", "directory", "too large"])
def test_run_refuses_a_file_it_cannot_send(session, client, bad_paths, tmp_path, case):
    path, words = bad_paths[case]
    good = tmp_path / "good.csv"
    good.write_text("a\n1\n")
    asked.clear()
    before = uploads(client)
    with pytest.raises(OptionError) as caught:
        ptc.run(ask(1), tools=[double], offline=True, session=session, files=[good, path])
    message = str(caught.value)
    assert message.startswith("files: ") and words in message and str(path) in message and "\n" not in message
    assert uploads(client) == before and asked == []  # not even the good file went up


@pytest.mark.parametrize("case", ["missing", "directory", "too large"])
def test_the_magic_refuses_a_file_it_cannot_send_in_one_line(bad_paths, case):
    path, words = bad_paths[case]
    with offline_shell("from test_entry_points import double\n%ptc_tool double") as shell, capture_output() as captured:
        result = shell.run_cell(f"%%ptc --file {path}\n{ask(1)}")
    error = result.error_in_exec
    assert isinstance(error, UsageError), repr(error)
    message = str(error)
    assert message.startswith(f"%%ptc: --file {path}") and words.split(";")[0] in message and "\n" not in message
    assert "Traceback" not in captured.stdout + captured.stderr


def test_a_conversation_continues_with_its_own_model_only(session):
    conv = ptc.Conversation()
    ptc.run(ask(1), tools=[double], offline=True, session=session, conversation=conv)
    before = (list(conv.turns), list(conv.messages), conv.model)
    with pytest.raises(OptionError) as caught:
        ptc.run(ask(2), tools=[double], offline=True, session=session, conversation=conv, model="claude-other")
    message = str(caught.value)
    assert message == (
        f"conversation: {conv.id} was started with model {conv.model!r}, not 'claude-other'; "
        "continue it with that model, or start a new conversation (ptc.Conversation(), %ptc_new)"
    )
    assert (conv.turns, conv.messages, conv.model) == before
    again = ptc.run(ask(2), tools=[double], offline=True, session=session, conversation=conv)
    assert again.status == "completed" and again.conversation["turn"] == 2


def test_continuing_a_cell_with_another_model_is_one_usage_line():
    with offline_shell("from test_entry_points import double\n%ptc_tool double") as shell:
        assert shell.run_cell(f"%%ptc\n{ask(1)}").success
        with capture_output() as captured:
            result = shell.run_cell(f"%%ptc --continue --model claude-other\n{ask(2)}")
        assert isinstance(result.error_in_exec, UsageError), repr(result.error_in_exec)
        message = str(result.error_in_exec)
        assert message.startswith("%%ptc: conversation: ") and "not 'claude-other'" in message
        assert "Traceback" not in captured.stdout + captured.stderr
        assert shell.run_cell(f"%%ptc --continue\n{ask(3)}").success  # the conversation is still there
