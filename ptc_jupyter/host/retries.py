"""Makes the SDK's own retries visible: each HTTP answer it will retry becomes a note on the run.

The SDK retries 408, 409, 429 and 5xx (529 included) by itself, with backoff; that is kept. What a
user would not see is that it happened: an event hook on the SDK's HTTP client reports each such
answer to the run whose request it was, found through a context variable (the request is sent in
the run's own task, so the variable follows it).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any

RETRIED_STATUSES = frozenset({408, 409, 429})

#: Where the current run wants to hear about retried answers (set by the host for each run).
report_to: ContextVar[Callable[[str], None] | None] = ContextVar("ptc_retry_listener", default=None)


def is_retried(status: int) -> bool:
    return status in RETRIED_STATUSES or status >= 500


async def observe(response: Any) -> None:
    """httpx response hook: report an answer the SDK is going to retry (or has given up on)."""
    listener = report_to.get()
    status = response.status_code
    if listener is None or not is_retried(status) or response.headers.get("x-should-retry") == "false":
        return
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "overloaded" if status == 529 else "error"
    attempt = int(response.request.headers.get("x-stainless-retry-count", "0") or 0) + 1
    listener(f"the API answered {status} ({reason}) on attempt {attempt}; the SDK retries with backoff")


def http_client(**kwargs: Any) -> Any:
    """The SDK's default async HTTP client, with the hook installed."""
    import anthropic

    return anthropic.DefaultAsyncHttpxClient(event_hooks={"response": [observe]}, **kwargs)
