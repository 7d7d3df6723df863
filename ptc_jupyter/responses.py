"""Reading the API's answers: usage, container errors, refusals, streamed code, failures explained.

Plain functions of SDK objects (dispatching on `.type` strings and attributes, never isinstance on
block classes: unknown types parse leniently, see shared/ptc-protocol.md 2.2).
"""

from __future__ import annotations

from typing import Any

import anthropic
import jiter

USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def usage_add(total: dict[str, Any], usage: Any) -> None:
    if usage is None:
        return
    for key in USAGE_KEYS:
        value = getattr(usage, key, None)
        if isinstance(value, int):
            total[key] = total.get(key, 0) + value
    server = getattr(usage, "server_tool_use", None)
    if server is not None:  # code_execution_requests is documented but untyped in the SDK
        extra = getattr(server, "model_extra", None) or {}
        value = extra.get("code_execution_requests", getattr(server, "code_execution_requests", None))
        if isinstance(value, int):
            total["code_execution_requests"] = total.get("code_execution_requests", 0) + value


def is_container_error(exc: anthropic.APIStatusError) -> bool:
    message = str(getattr(exc, "message", "") or exc).lower()
    return exc.status_code in (400, 404, 410) and "container" in message and "required" not in message


def refusal_details(response: Any) -> str:
    details = getattr(response, "stop_details", None)
    parts = [f"category {details.category}" if getattr(details, "category", None) else "",
             getattr(details, "explanation", None) or ""]
    said = "; ".join(p for p in parts if p)
    return f": {said}" if said else ""


def partial_code(partial_json: str) -> str:
    """The `code` of a code-execution input still being streamed (the SDK's snapshot hides it)."""
    if not partial_json:
        return ""
    try:
        data = jiter.from_json(partial_json.encode(), partial_mode="trailing-strings")
    except ValueError:
        return ""
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, str) else ""


def block_dict(block: Any) -> dict[str, Any]:
    """An assistant block exactly as the API sent it (unknown types and fields included)."""
    return block.to_dict(mode="json", exclude_unset=True, warnings=False)  # unknown types: kept as sent


def explain_failure(exc: Exception, client: Any) -> str:
    """What went wrong, and what to do about it, in one line."""
    where = str(client.base_url).rstrip("/")
    if isinstance(exc, anthropic.APITimeoutError):
        return (f"APITimeoutError: no answer from {where} in time (the SDK retried "
                f"{client.max_retries} times); try again, or raise the client's timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc
        return (f"APIConnectionError: cannot reach {where} ({type(cause).__name__}: {cause}); "
                "check the network and ANTHROPIC_BASE_URL")
    if isinstance(exc, anthropic.APIStatusError):
        hint = {401: "check ANTHROPIC_API_KEY", 403: "the key may not have access to this model or feature",
                429: "rate limited: wait and run again", 529: "the API is overloaded: wait and run again"}
        status = exc.status_code
        text = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        return f"{text} ({hint[status]})" if status in hint else text
    return f"{type(exc).__name__}: {exc}"
