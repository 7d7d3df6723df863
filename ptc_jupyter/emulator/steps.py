"""The steps of a turn: the prompt's fenced blocks, and how bash and text editor steps run.

A prompt's fenced blocks become steps, in the order they appear (other fences are skipped):

- ```` ```python ```` (or `python3`, `py`): a Python cell, `server_tool_use` `code_execution`
  `{"code"}`; it runs in the container's REPL and may call tools (PTC).
- ```` ```bash ```` (or `sh`): a command, `server_tool_use` `bash_code_execution` `{"command"}`,
  run by `bash -c` in the container's directory with its environment.
- ```` ```text_editor ````: a JSON object, the input of `server_tool_use`
  `text_editor_code_execution`: `{"command": "view", "path", "view_range"?: [first, last]}`,
  `{"command": "create", "path", "file_text"}` or `{"command": "str_replace", "path", "old_str",
  "new_str"}`. A relative `path` is relative to the container's directory.

Python cells run in the REPL (`repl.py`, driven from `turns.py`); this module runs the other two.
"""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ptc_jupyter.emulator.wire import new_id
from ptc_jupyter.sandbox.os_limits import memory_rlimit
from ptc_jupyter.sandbox.process import Sandbox

FENCE = re.compile(r"```([A-Za-z0-9_.+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
KINDS = {
    "python": "python",
    "python3": "python",
    "py": "python",
    "bash": "bash",
    "sh": "bash",
    "text_editor": "text_editor",
}
TOOL_NAMES = {"python": "code_execution", "bash": "bash_code_execution", "text_editor": "text_editor_code_execution"}
#: Captured bash output beyond this many bytes per stream is dropped with a marker (as in repl.py).
OUTPUT_LIMIT_BYTES = 1_000_000
#: After a bash command ends (or is killed), how long its output may take to drain.
DRAIN_S = 2.0


@dataclass
class Step:
    kind: str  # "python", "bash" or "text_editor"
    input: dict  # the server_tool_use input
    id: str

    @property
    def name(self) -> str:
        return TOOL_NAMES[self.kind]

    @property
    def code(self) -> str:
        return self.input["code"]


def parse_steps(text: str) -> list[Step]:
    """The steps of a prompt's text, in order."""
    steps = []
    for match in FENCE.finditer(text):
        kind = KINDS.get(match.group(1).lower())
        body = match.group(2)
        if kind == "python":
            steps.append(Step("python", {"code": body}, new_id("srvtoolu")))
        elif kind == "bash":
            steps.append(Step("bash", {"command": body.rstrip("\r\n")}, new_id("srvtoolu")))
        elif kind == "text_editor":
            try:
                tool_input = json.loads(body)
            except ValueError:
                tool_input = None
            if not isinstance(tool_input, dict):
                tool_input = {"command": None, "unparsed_input": body}
            steps.append(Step("text_editor", tool_input, new_id("srvtoolu")))
    return steps


# --- what the final text says -----------------------------------------------------------------


@dataclass
class Outcome:
    """What one step came to, for the final text: a result, or an error code."""

    kind: str
    result: dict | None = None  # {"stdout", "stderr", "return_code"} of a python or bash step
    error_code: str | None = None
    error_message: str | None = None


LABELS = {"python": "script", "bash": "command", "text_editor": "text editor"}


def answer_text(outcomes: list[Outcome]) -> str:
    """The final text: the steps' stripped stdout, then how each failed step failed.

    For a turn of one python step, this is that script's stdout and failure, as it always was.
    """
    texts, failures = [], []
    for outcome in outcomes:
        label = LABELS[outcome.kind]
        if outcome.error_code is not None:
            detail = f": {outcome.error_message}" if outcome.error_message else ""
            failures.append(f"The {label} returned the error {outcome.error_code}{detail}")
        elif outcome.result is not None:
            result = outcome.result
            if result["stdout"].strip():
                texts.append(result["stdout"].strip())
            if result["return_code"] != 0:
                reason = script_failure(result["stderr"]) if outcome.kind == "python" else last_line(result["stderr"])
                failures.append(f"The {label} failed (return code {result['return_code']}): {reason}")
    if texts or failures:
        return "\n\n".join(texts + failures)
    kinds = {o.kind for o in outcomes}
    what = f"The {LABELS[kinds.pop()]}" if len(kinds) == 1 and outcomes[0].kind != "text_editor" else "The steps"
    return f"{what} finished without printing anything."


_SCRIPT_FRAME = re.compile(r'^\s+File "<script \d+>", line (\d+)')
_TRACEBACK = "Traceback (most recent call last):"


def script_failure(stderr: str) -> str:
    """How a script failed, from its stderr: the exception of its last traceback and the script's
    line it came through ("ValueError: boom (line 4)"), not whatever was printed last (a warning
    after the traceback, say); stderr's last line when there is no traceback."""
    lines = stderr.splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith(_TRACEBACK)]
    start = headers[-1] + 1 if headers else 0
    frames = [(i, m.group(1)) for i in range(start, len(lines)) if (m := _SCRIPT_FRAME.match(lines[i]))]
    if not headers and not frames:
        return last_line(stderr)
    after = frames[-1][0] + 1 if frames else start
    exception = next((line for line in lines[after:] if line.strip() and not line[0].isspace()), None)
    if exception is None:
        return last_line(stderr)
    return f"{exception} (line {frames[-1][1]})" if frames else exception


def last_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


# --- bash ----------------------------------------------------------------------------------------


class _Capped:
    """Bytes of one stream, the first OUTPUT_LIMIT_BYTES kept."""

    def __init__(self) -> None:
        self.kept = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = max(OUTPUT_LIMIT_BYTES - len(self.kept), 0)
        self.kept += data[:room]
        self.dropped += max(0, len(data) - room)

    def text(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes not kept]\n"
        return text


class _BashProtocol(asyncio.SubprocessProtocol):
    """Collects a command's output; `exited` is set when bash exits, even if a background child
    still holds its pipes (asyncio's `Process.wait()` would wait for those to close too)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.out, self.err = _Capped(), _Capped()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        (self.out if fd == 1 else self.err).add(data)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def run_bash(command: str, sandbox: Sandbox, *, limit_s: float | None) -> dict | str:
    """Run `bash -c command` in the sandbox's directory, with its environment and memory limit: its
    {"stdout", "stderr", "return_code"}, or an error code (`execution_time_exceeded` past
    `limit_s`, `unavailable` without bash).

    The command runs in a process group of its own, registered with the sandbox while it runs (the
    sandbox counts and kills its processes with its own); when bash exits, what it left running in
    the background is killed too. OSError if it cannot start (e.g. the directory is gone).
    """
    cwd, env = sandbox.workdir, sandbox.env
    bash = shutil.which("bash", path=env.get("PATH"))
    if bash is None:
        return "unavailable"
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _BashProtocol(loop),
        *bash_argv(bash, command, sandbox.config.memory_bytes),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    pgid = transport.get_pid()
    sandbox.add_group(pgid)
    timed_out = False
    try:
        try:
            await asyncio.wait_for(asyncio.shield(protocol.exited), limit_s)
        except asyncio.TimeoutError:
            timed_out = True
    finally:
        _killpg(pgid)
        sandbox.discard_group(pgid)
        try:  # a process that left the group may still hold the pipes: keep what came so far
            await asyncio.wait_for(asyncio.shield(protocol.closed), DRAIN_S)
        except asyncio.TimeoutError:
            pass
        transport.close()
    if timed_out:
        return "execution_time_exceeded"
    code = transport.get_returncode()
    code = -1 if code is None else code
    return {
        "stdout": protocol.out.text(),
        "stderr": protocol.err.text(),
        "return_code": 128 - code if code < 0 else code,
    }


def bash_argv(bash: str, command: str, memory_bytes: int | None) -> list[str]:
    """`bash -c command`, under the sandbox's memory limit (set by bash's `ulimit` with the rlimit
    the REPL uses, then `exec` into the command, so its `$0` and line numbers stay as they were)."""
    if memory_bytes is None:
        return [bash, "-c", command]
    flag = "-d" if memory_rlimit() == "DATA" else "-v"
    return [bash, "-c", f'ulimit {flag} "$1" && exec "$0" -c "$2"', bash, str(memory_bytes // 1024), command]


# --- the text editor -----------------------------------------------------------------------------


class EditorError(Exception):
    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def text_editor(tool_input: dict, workdir: Path) -> dict:
    """Apply one text editor command; its result object, or its error object."""
    if not workdir.is_dir():  # the container's process died and its directory went with it
        return {
            "type": "text_editor_code_execution_tool_result_error",
            "error_code": "unavailable",
            "error_message": "The container's directory is gone.",
        }
    try:
        return _edit(tool_input, workdir)
    except EditorError as exc:
        code, message = exc.error_code, exc.message
    except (OSError, UnicodeDecodeError) as exc:
        code, message = "invalid_tool_input", f"{tool_input.get('path')}: {exc}"
    return {"type": "text_editor_code_execution_tool_result_error", "error_code": code, "error_message": message}


def _edit(tool_input: dict, workdir: Path) -> dict:
    command, path_text = tool_input.get("command"), tool_input.get("path")
    if command not in ("view", "create", "str_replace"):
        raise EditorError(
            "invalid_tool_input",
            f"Unsupported command {command!r}: the offline emulator's text editor knows view, create and str_replace.",
        )
    if not isinstance(path_text, str) or not path_text:
        raise EditorError("invalid_tool_input", "`path` is required and must be a string.")
    path = workdir / path_text  # an absolute path stays absolute
    if command == "create":
        text = tool_input.get("file_text")
        if not isinstance(text, str):
            raise EditorError("invalid_tool_input", "`file_text` is required for create.")
        existed = path.exists()
        if path.is_dir():
            raise EditorError("invalid_tool_input", f"{path_text} is a directory.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise EditorError("invalid_tool_input", f"Cannot write {path_text}: {exc.strerror}") from None
        return {"type": "text_editor_code_execution_create_result", "is_file_update": existed}
    if not path.exists():
        raise EditorError("file_not_found", f"The path {path_text} does not exist.")
    if command == "view":
        return _view(path, path_text, tool_input.get("view_range"))
    return _str_replace(path, path_text, tool_input.get("old_str"), tool_input.get("new_str", ""))


def _view(path: Path, path_text: str, view_range: object) -> dict:
    if path.is_dir():
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        return {
            "type": "text_editor_code_execution_view_result",
            "content": "\n".join(entries),
            "file_type": "text",
            "num_lines": len(entries),
            "start_line": 1,
            "total_lines": len(entries),
        }
    mime = mimetypes.guess_type(path.name)[0] or ""
    if mime.startswith("image/") or mime == "application/pdf":
        return {
            "type": "text_editor_code_execution_view_result",
            "content": base64.b64encode(path.read_bytes()).decode(),
            "file_type": "pdf" if mime == "application/pdf" else "image",
            "num_lines": None,
            "start_line": None,
            "total_lines": None,
        }
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    first, last = 1, len(lines)
    if view_range is not None:
        if (
            not isinstance(view_range, list)
            or len(view_range) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in view_range)
        ):
            raise EditorError("invalid_tool_input", "`view_range` must be [first_line, last_line].")
        first, last = view_range[0], (len(lines) if view_range[1] == -1 else view_range[1])
        if not (1 <= first <= max(1, len(lines)) and first - 1 <= last <= len(lines)):
            raise EditorError(
                "invalid_tool_input", f"Invalid `view_range` {view_range}: {path_text} has {len(lines)} lines."
            )
    shown = lines[first - 1 : last]
    return {
        "type": "text_editor_code_execution_view_result",
        "content": "".join(shown),
        "file_type": "text",
        "num_lines": len(shown),
        "start_line": first,
        "total_lines": len(lines),
    }


def _str_replace(path: Path, path_text: str, old: object, new: object) -> dict:
    if not isinstance(old, str) or not old or not isinstance(new, str):
        raise EditorError("invalid_tool_input", "`old_str` (non-empty) and `new_str` must be strings.")
    if path.is_dir():
        raise EditorError("invalid_tool_input", f"{path_text} is a directory.")
    text = path.read_text(encoding="utf-8")
    count = text.count(old)
    if count != 1:
        raise EditorError(
            "invalid_tool_input", f"`old_str` must occur exactly once in {path_text}; it occurs {count} times."
        )
    at = text.index(old)
    start = text.count("\n", 0, at)  # 0-based line of the change
    line_begin = text.rfind("\n", 0, at) + 1
    old_end = text.find("\n", at + len(old))
    old_end = len(text) if old_end < 0 else old_end
    updated = text[:at] + new + text[at + len(old) :]
    new_end = updated.find("\n", at + len(new))
    new_end = len(updated) if new_end < 0 else new_end
    old_lines = text[line_begin:old_end].split("\n")
    new_lines = updated[line_begin:new_end].split("\n")
    path.write_text(updated, encoding="utf-8")
    return {
        "type": "text_editor_code_execution_str_replace_result",
        "old_start": start + 1,
        "old_lines": len(old_lines),
        "new_start": start + 1,
        "new_lines": len(new_lines),
        "lines": [f"-{line}" for line in old_lines] + [f"+{line}" for line in new_lines],
    }
