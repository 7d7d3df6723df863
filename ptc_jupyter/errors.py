"""The package's own exceptions, and the API's errors in our own words (no heavy imports, so
`import ptc_jupyter` stays fast).

API errors in our own words: status, error type, message and request id, read from the SDK's
exception's fields, never from its `str()`.

The SDK's text for an error changes between releases (anthropic 2.10 says `Error code: 400 -
{'type': 'error', ...}`, 2.17 `400 Container ... (request_id: ...)`), and what we show, save in
traces and test must not. Duck-typed (no SDK import): `status_code`, `body` (the decoded JSON:
`{"type": "error", "error": {"type", "message"}, "request_id"}`), `request_id`, `response`.

A lost container is recognised here too, in every shape it comes in: an HTTP 400, 404 or 410
whose message names the container as missing or expired, or the same as an `error` event that
opens a 200 stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ptc_jupyter.trace.run import Run


class RunError(Exception):
    """The run failed for good (the API, after the SDK's retries). `.run` keeps everything recorded so far."""

    def __init__(self, message: str, run: Run) -> None:
        super().__init__(message)
        self.run = run


class OptionError(ValueError):
    """A run setting with a value it cannot take; `.option` names the setting."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.reason = message


# -- API errors in our own words --------------------------------------------------------------------


#: Statuses a request naming a container that is gone may get.
CONTAINER_LOST_STATUSES = (400, 404, 410)
#: An error message naming the container: the word, or an id (`container_...`; not `container_upload`).
_CONTAINER = re.compile(r"\bcontainer\b|\bcontainer_(?!upload)\w+")
#: What an error message says of a container that is gone (expired, not found, deleted...).
_GONE = re.compile(r"\b(expired|not found|no longer|does not exist|doesn't exist|unknown|deleted|invalid container)\b")


@dataclass(frozen=True)
class ApiErrorInfo:
    """What an API error said. `status` 200: an `error` event in a streamed response."""

    status: int | None
    type: str | None
    message: str
    request_id: str | None

    def text(self) -> str:
        """One line: `HTTP 400 invalid_request_error: <message> (request_id: req_...)`; for an
        `error` event in a streamed response, `stream error event overloaded_error: ...`."""
        where = "stream error event" if self.status == 200 else (f"HTTP {self.status}" if self.status else "")
        kind = " ".join(part for part in (where, self.type) if part) or "error"
        said = f"{kind}: {self.message}" if self.message else kind
        return f"{said} (request_id: {self.request_id})" if self.request_id else said


def error_info(exc: BaseException) -> ApiErrorInfo:
    """The status, type, message and request id of an SDK API error (what of them it carries)."""
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):  # a body that is the error object itself
        error = body if isinstance(body, dict) and "message" in body else {}
    message = error.get("message")
    if not isinstance(message, str):
        message = body.strip() if isinstance(body, str) and body.strip() else ""
    kind = error.get("type") if isinstance(error.get("type"), str) else None
    request_id = getattr(exc, "request_id", None)
    if not isinstance(request_id, str) and isinstance(body, dict) and isinstance(body.get("request_id"), str):
        request_id = body["request_id"]
    status = getattr(exc, "status_code", None)
    return ApiErrorInfo(
        status if isinstance(status, int) else None, kind, message, request_id if isinstance(request_id, str) else None
    )


def error_text(exc: BaseException) -> str:
    """`error_info(exc).text()`."""
    return error_info(exc).text()


def is_container_lost(exc: BaseException) -> bool:
    """Whether the API said the request's container is gone (missing or expired): a 400/404/410,
    or an `error` event opening a 200 stream, whose message names the container as gone. Not a
    request that lacks a container it needs ("container ... required")."""
    info = error_info(exc)
    message = info.message.lower()
    if not _CONTAINER.search(message) or "required" in message:
        return False
    if info.status in (404, 410):
        return True
    return info.status in (400, 200) and bool(_GONE.search(message))
