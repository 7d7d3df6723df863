"""Who may talk to the emulator, decided from the request line and headers alone.

The emulator runs the Python of each request as the user, so a request is served only if it is
addressed to a loopback host (or a name the configuration allows: DNS rebinding sends a foreign
Host) and carries the emulator's key (`x-api-key`, or `Authorization: Bearer`). The checks run
before the body is read, so a refused request runs nothing. There is no CORS: OPTIONS preflights
are refused and no `Access-Control-*` header is ever sent, so web pages cannot use the emulator.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

from ptc_jupyter.emulator.wire import error_body, new_id

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_HOST_HEADER = re.compile(r"\[([0-9a-f:.]+)\](?::\d{1,5})?|([^:\[\]\s/@]+)(?::\d{1,5})?")


def normal_host(name: str) -> str:
    """A host name as compared here: lower case, no brackets, no trailing dot."""
    return name.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")


def host_of(header: str) -> str | None:
    """The host part of a Host header (port and brackets dropped), or None when malformed."""
    match = _HOST_HEADER.fullmatch(header.strip().lower())
    if match is None:
        return None
    return normal_host(match.group(1) or match.group(2))


def is_loopback(name: str) -> bool:
    """Whether `name` always means this machine: localhost, 127.0.0.0/8 or ::1."""
    name = normal_host(name)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refusal(status: int, error_type: str, message: str) -> JSONResponse:
    """An API-shaped error that also closes the connection: the unread body is not wanted."""
    request_id = new_id("req")
    return JSONResponse(
        error_body(error_type, message, request_id), status, headers={"request-id": request_id, "connection": "close"}
    )


class Guard:
    """ASGI middleware refusing, before the app sees it, any request not from the emulator's client."""

    def __init__(self, app: App, *, api_key: str, allowed_hosts: Iterable[str] = ()) -> None:
        if not api_key:
            raise ValueError("the emulator needs a non-empty API key")
        self.app = app
        self._key = api_key.encode()
        self._hosts = frozenset(normal_host(h) for h in allowed_hosts if h)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
        elif scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
        elif (refused := self.check(scope)) is not None:
            await refused(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def check(self, scope: Scope) -> JSONResponse | None:
        """The refusal for this request, or None to serve it."""
        headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
        hosts = [value.decode("latin-1") for name, value in headers if name == b"host"]
        if len(hosts) != 1 or not self.host_allowed(hosts[0]):
            return self._wrong_host(hosts)
        if scope["method"] == "OPTIONS":
            return refusal(
                405,
                "invalid_request_error",
                "OPTIONS is refused: the offline emulator does not serve web pages (no CORS).",
            )
        keys = self._presented_keys(headers)
        if not keys:
            return refusal(401, "authentication_error", "x-api-key header is required")
        if not any(hmac.compare_digest(key, self._key) for key in keys):
            return refusal(401, "authentication_error", "invalid x-api-key")
        return None

    def host_allowed(self, header: str) -> bool:
        name = host_of(header)
        return name is not None and (is_loopback(name) or name in self._hosts)

    def _wrong_host(self, hosts: list[str]) -> JSONResponse:
        shown = "no Host header" if not hosts else f"Host {', '.join(hosts)[:100]!r}"
        names = [*LOOPBACK_NAMES, *sorted(h for h in self._hosts if not is_loopback(h))]
        allowed = f"{', '.join(names[:-1])} or {names[-1]}"
        return refusal(
            421,
            "invalid_request_error",
            f"Request refused ({shown}): the offline emulator runs code, so it answers only "
            f"requests addressed to {allowed} (a guard against DNS rebinding).",
        )

    @staticmethod
    def _presented_keys(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
        keys = []
        for name, value in headers:
            if name == b"x-api-key" and value:
                keys.append(value)
            elif name == b"authorization" and value[:7].lower() == b"bearer " and value[7:].strip():
                keys.append(value[7:].strip())
        return keys
