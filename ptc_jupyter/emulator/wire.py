"""What the emulator puts on the wire: ids, error bodies, content blocks, messages, usage estimates.

Shapes follow the Messages API (ptc-protocol.md sections 2, 5 and 8), so the real SDK parses them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Sequence
from typing import Any

#: The caller tag on every programmatic `tool_use`, whatever version the request declared.
CALLER_TYPE = "code_execution_20260120"
CODE_EXECUTION_TYPES = ("code_execution_20260120", "code_execution_20260521")

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def new_id(prefix: str) -> str:
    """An id in the API's style, e.g. `toolu_…`, `srvtoolu_…`, `container_…`, `req_…`."""
    return f"{prefix}_emu{secrets.token_hex(11)}"


class ApiError(Exception):
    """An error answer of the API: HTTP status, error type, message and, for some, `details`
    (`{"error_code": ...}`, which the SDK maps to a specific exception class)."""

    def __init__(self, status: int, message: str, error_type: str | None = None, details: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or ERROR_TYPES.get(status, "api_error")
        self.details = details

    def body(self, request_id: str) -> dict:
        return error_body(self.error_type, self.message, request_id, self.details)


def invalid_request(message: str) -> ApiError:
    return ApiError(400, message, "invalid_request_error")


def not_found(message: str, error_code: str | None = None) -> ApiError:
    return ApiError(404, message, "not_found_error", {"error_code": error_code} if error_code else None)


def error_body(error_type: str, message: str, request_id: str, details: dict | None = None) -> dict:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if details:
        error["details"] = details
    return {"type": "error", "error": error, "request_id": request_id}


def iso_in(seconds: float) -> str:
    """The UTC time `seconds` from now, ISO-8601 with a Z, as the API writes `expires_at`."""
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


# --- content blocks -------------------------------------------------------------------------


def text_block(text: str) -> dict:
    return {"type": "text", "text": text}


def server_tool_use_block(srvtoolu_id: str, code: str) -> dict:
    return server_tool_block(srvtoolu_id, "code_execution", {"code": code})


def server_tool_block(srvtoolu_id: str, name: str, tool_input: dict) -> dict:
    """A server tool call: `code_execution` {"code"}, `bash_code_execution` {"command"}, or
    `text_editor_code_execution` {"command", "path", ...}. A script the model wrote carries
    `caller: {"type": "direct"}`, as in the recorded traffic; the bash and file steps do not."""
    block = {"type": "server_tool_use", "id": srvtoolu_id, "name": name, "input": tool_input}
    if name == "code_execution":
        block["caller"] = {"type": "direct"}
    return block


def tool_use_block(call: dict, caller: dict) -> dict:
    return {"type": "tool_use", "id": call["id"], "name": call["name"], "input": call["input"], "caller": caller}


def code_execution_result_block(
    srvtoolu_id: str, stdout: str, stderr: str, return_code: int, file_ids: Sequence[str] = ()
) -> dict:
    return {
        "type": "code_execution_tool_result",
        "tool_use_id": srvtoolu_id,
        "content": {
            "type": "code_execution_result",
            "stdout": stdout,
            "stderr": stderr,
            "return_code": return_code,
            "content": [{"type": "code_execution_output", "file_id": f} for f in file_ids],
        },
    }


def encrypted_code_execution_result_block(
    srvtoolu_id: str, stdout: str, stderr: str, return_code: int, file_ids: Sequence[str] = ()
) -> dict:
    """The result form the API uses when the script called web search: stdout is opaque to the client."""
    garbage = base64.b64encode(secrets.token_bytes(16 + len(stdout.encode()))).decode()
    return {
        "type": "code_execution_tool_result",
        "tool_use_id": srvtoolu_id,
        "content": {
            "type": "encrypted_code_execution_result",
            "encrypted_stdout": garbage,
            "stderr": stderr,
            "return_code": return_code,
            "content": [{"type": "code_execution_output", "file_id": f} for f in file_ids],
        },
    }


def bash_result_block(
    srvtoolu_id: str, stdout: str, stderr: str, return_code: int, file_ids: Sequence[str] = ()
) -> dict:
    return {
        "type": "bash_code_execution_tool_result",
        "tool_use_id": srvtoolu_id,
        "content": {
            "type": "bash_code_execution_result",
            "stdout": stdout,
            "stderr": stderr,
            "return_code": return_code,
            "content": [{"type": "bash_code_execution_output", "file_id": f} for f in file_ids],
        },
    }


def text_editor_result_block(srvtoolu_id: str, content: dict) -> dict:
    """`content` is one of the text editor's result objects (view, create, str_replace) or its error."""
    return {"type": "text_editor_code_execution_tool_result", "tool_use_id": srvtoolu_id, "content": content}


#: The result block type of each server tool, and the type of its error object.
RESULT_TYPES = {
    "code_execution": ("code_execution_tool_result", "code_execution_tool_result_error"),
    "bash_code_execution": ("bash_code_execution_tool_result", "bash_code_execution_tool_result_error"),
    "text_editor_code_execution": (
        "text_editor_code_execution_tool_result",
        "text_editor_code_execution_tool_result_error",
    ),
}


def tool_error_block(tool_name: str, srvtoolu_id: str, error_code: str, error_message: str | None = None) -> dict:
    """A server tool's error result, e.g. `code_execution_tool_result_error {error_code}`."""
    block_type, error_type = RESULT_TYPES[tool_name]
    content: dict[str, Any] = {"type": error_type, "error_code": error_code}
    if tool_name == "text_editor_code_execution":
        content["error_message"] = error_message
    return {"type": block_type, "tool_use_id": srvtoolu_id, "content": content}


def message(
    model: str,
    content: list[dict],
    stop_reason: str,
    usage: dict,
    container: dict | None = None,
    stop_details: dict | None = None,
) -> dict:
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "stop_details": stop_details,
        "container": container,
        "usage": usage,
        "emulator": {"usage_estimated": True},
    }


# --- usage estimates ------------------------------------------------------------------------


def _tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, ensure_ascii=False).encode()) // 4)


def script_call(block: Any) -> bool:
    """A `tool_use` block a code-execution script made (its `caller` is a code-execution tool)."""
    caller = block.get("caller") if isinstance(block, dict) else None
    return (
        block.get("type") == "tool_use"
        and isinstance(caller, dict)
        and str(caller.get("type", "")).startswith("code_execution_")
    )


def programmatic_tool_use_ids(messages: list[dict]) -> set[str]:
    """Ids of the `tool_use` blocks in the history that a code-execution script made."""
    return {
        block.get("id")
        for msg in messages
        if msg.get("role") == "assistant" and isinstance(msg.get("content"), list)
        for block in msg["content"]
        if script_call(block)
    }


def without_cache_control(value: dict) -> dict:
    """A block or tool definition without its `cache_control` (also on a tool_result's text blocks).
    Only those places: a tool's schema or a tool_use's input may well have a property of that name."""
    if "cache_control" in value:
        value = {k: v for k, v in value.items() if k != "cache_control"}
    content = value.get("content")
    if (
        value.get("type") == "tool_result"
        and isinstance(content, list)
        and any(isinstance(b, dict) and "cache_control" in b for b in content)
    ):
        value = {**value, "content": [without_cache_control(b) if isinstance(b, dict) else b for b in content]}
    return value


def code_called(block: Any, hidden: set[str]) -> bool:
    """A `tool_use` a script made (its id is in `hidden`, see `programmatic_tool_use_ids`) or the
    `tool_result` answering one. The API does not render these in Claude's context: they go between
    the client and the container (its 400 for a breakpoint on one says so)."""
    return isinstance(block, dict) and (
        (block.get("type") == "tool_use" and block.get("id") in hidden)
        or (block.get("type") == "tool_result" and block.get("tool_use_id") in hidden)
    )


def counted_block(block: Any) -> Any:
    """A content block as the estimate counts it: without `cache_control` (a marked request estimates
    as the same request unmarked). The `code_called` ones are left out before."""
    return without_cache_control(block) if isinstance(block, dict) else block


def estimate_input_tokens(body: dict) -> int:
    """≈ bytes/4 of messages + tools + system, without the calls a script made and their results:
    they reach the script, not the context. A string (a prompt, a system prompt) counts as the one
    text block it stands for, so marking it (which makes it that block) changes nothing."""
    messages = body.get("messages") or []
    hidden = programmatic_tool_use_ids(messages)
    counted = []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, str):
            content = [text_block(content)]
        elif isinstance(content, list):
            content = [counted_block(b) for b in content if not code_called(b, hidden)]
            if not content and msg["content"]:
                continue  # a paused turn or its answer: nothing of it is in the context
        counted.append({"role": msg.get("role"), "content": content})
    tools = [without_cache_control(t) if isinstance(t, dict) else t for t in body.get("tools") or []]
    system = body.get("system") or []
    if isinstance(system, str):
        system = [text_block(system)]
    elif isinstance(system, list):
        system = [without_cache_control(b) if isinstance(b, dict) else b for b in system]
    return _tokens([counted, tools, system])


def generated(content: list[dict]) -> list[dict]:
    """The blocks of a response the model wrote: not the calls a script made (the container made
    them) nor a server tool's results (the container's output)."""
    return [b for b in content if not script_call(b) and not b.get("type", "").endswith("_tool_result")]


def resumes_only(content: list[dict]) -> bool:
    """A response in which the model wrote nothing: the running script went on and made more calls
    (or paused). The API bills it 0 input and 0 output tokens (shared/ptc-protocol.md section 10,
    item 20: in `anthropic-programmatic-tool-calling.1.json` the five responses bill 3,369, 0, 0, 0
    and 4,243 input tokens); only the responses in which the model writes bill their context."""
    return not generated(content)


def resume_usage() -> dict:
    """The usage of a response that only resumes the script, key for key as the recordings show it."""
    return {
        "input_tokens": 0,
        "output_tokens": 0,
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
    }


def usage(body: dict, content: list[dict], code_execution: bool) -> dict:
    """The `usage` object of a response: estimates (the response says so in `emulator`), with the
    keys the API's carry. A response that only resumes the script bills nothing (`resume_usage`)."""
    if resumes_only(content):
        return resume_usage()
    server: dict[str, Any] = {"web_search_requests": 0, "web_fetch_requests": 0}
    if code_execution:
        calls = sum(1 for b in content if b.get("type") == "server_tool_use")
        server["code_execution_requests"] = max(1, calls)
    return {
        "input_tokens": estimate_input_tokens(body),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": _tokens(generated(content)),
        "output_tokens_details": {"thinking_tokens": 0},
        "service_tier": "standard",
        "inference_geo": "global",
        "server_tool_use": server,
    }
