"""Small helpers for tests that drive the emulator through the real SDK.

Not a host: `run_turn` is the minimal client loop of ptc-protocol.md section 8, enough to check
the emulator's side of the protocol.
"""

from __future__ import annotations

import time
from typing import Any, Callable

CODE_EXECUTION = {"type": "code_execution_20260120", "name": "code_execution"}


def ptc_tool(name: str, callers: tuple[str, ...] = ("code_execution_20260120",), **extra: Any) -> dict:
    """A custom tool definition taking any object; callable from code by default."""
    return {"name": name, "description": f"Test tool {name}. Returns text.",
            "input_schema": {"type": "object", "properties": {}, "additionalProperties": True},
            "allowed_callers": list(callers), **extra}


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


def run_turn(client: Any, *, prompt: str, tools: list[dict], answer: Callable[[Any], Any],
             container: str | None = None, model: str = "claude-emulated", max_requests: int = 50) -> tuple[Any, list]:
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
