"""Small helpers for tests that drive the emulator through the real SDK.

Not a host: `run_turn` is the minimal client loop of ptc-protocol.md section 8, enough to check
the emulator's side of the protocol.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

CODE_EXECUTION = {"type": "code_execution_20260120", "name": "code_execution"}


def ptc_tool(name: str, callers: tuple[str, ...] = ("code_execution_20260120",), **extra: Any) -> dict:
    """A custom tool definition taking any object; callable from code by default."""
    return {
        "name": name,
        "description": f"Test tool {name}. Returns text.",
        "input_schema": {"type": "object", "properties": {}, "additionalProperties": True},
        "allowed_callers": list(callers),
        **extra,
    }


def script_prompt(code: str, ask: str = "Please run this.") -> str:
    return f"{ask}\n\n```python\n{code}\n```\n"


def tool_results(message: Any, answer: Callable[[Any], Any]) -> dict:
    """The user message answering every `tool_use` of `message`; `answer(block)` gives the content
    (a string, or `(content, is_error)`)."""
    results = []
    for block in message.content:
        if block.type != "tool_use":
            continue
        out = answer(block)
        content, is_error = out if isinstance(out, tuple) else (out, False)
        result = {"type": "tool_result", "tool_use_id": block.id, "content": content}
        if is_error:
            result["is_error"] = True
        results.append(result)
    return {"role": "user", "content": results}


def run_turn(
    client: Any,
    *,
    prompt: str,
    tools: list[dict],
    answer: Callable[[Any], Any],
    container: str | None = None,
    model: str = "claude-emulated",
    max_requests: int = 50,
) -> tuple[Any, list]:
    """Run one turn to its end (sync client); returns (last response, all responses)."""
    messages: list[dict] = [{"role": "user", "content": prompt}]
    responses = []
    for _ in range(max_requests):
        extra = {"container": container} if container else {}
        response = client.messages.create(model=model, max_tokens=4096, tools=tools, messages=messages, **extra)
        responses.append(response)
        if response.container is not None:
            container = response.container.id
        messages.append({"role": "assistant", "content": response.content})
        if response.stop_reason == "pause_turn":
            continue
        if response.stop_reason != "tool_use":
            return response, responses
        messages.append(tool_results(response, answer))
    raise AssertionError(f"the turn did not end within {max_requests} requests")


def wait_until(condition: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.01) -> Any:
    """Poll `condition` until it returns something truthy; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(interval_s)


class CliEmulator:
    """`python -m ptc_jupyter.emulator ARGS` in a subprocess, killed on exit.

    `url` and `key` come from what it prints (`key` is None when it was given, not generated);
    `stdout` and `stderr` collect its lines.
    """

    def __init__(self, *args: str, env: dict[str, str] | None = None, start_timeout_s: float = 30.0) -> None:
        self.args = [sys.executable, "-m", "ptc_jupyter.emulator", "--port", "0", *args]
        self.env = env
        self.start_timeout_s = start_timeout_s
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.url = ""
        self.key: str | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._readers: list[threading.Thread] = []
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> CliEmulator:
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env, cwd=os.getcwd()
        )
        self._read(self.proc.stdout, self.stdout, self._lines)
        self._read(self.proc.stderr, self.stderr, None)
        try:
            self._await_client_lines()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _read(self, stream: IO[str] | None, into: list[str], lines: queue.Queue | None) -> None:
        def pump() -> None:
            for line in stream:  # type: ignore[union-attr]
                into.append(line.rstrip("\n"))
                if lines is not None:
                    lines.put(line.rstrip("\n"))
            if lines is not None:
                lines.put(None)

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        self._readers.append(thread)

    def _await_client_lines(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the emulator printed no key within {self.start_timeout_s}s") from None
            if line is None:
                raise AssertionError(f"the emulator exited before printing its key: {self.stderr}")
            if line.startswith("export ANTHROPIC_BASE_URL="):
                self.url = line.split("=", 1)[1]
            elif line.startswith("export ANTHROPIC_API_KEY="):
                self.key = line.split("=", 1)[1]
                return
            elif line.startswith("# ANTHROPIC_API_KEY"):
                return

    def signal(self, signum: int, timeout_s: float = 20.0) -> int:
        """Send `signum` and wait for the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=timeout_s)

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        for thread in self._readers:
            thread.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def all_started_before_any_finished(events) -> bool:
    """From the run's own events: every call of the batch had started when the first one finished
    (each takes a while; calls run one after another would alternate start, finish, start, ...)."""
    from ptc_jupyter.trace.events import CallFinished, CallStarted

    kinds = [type(e) for e in events if isinstance(e, (CallStarted, CallFinished))]
    return CallFinished in kinds and CallFinished not in kinds[: kinds.count(CallStarted)]
