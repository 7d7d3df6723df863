"""`%%ptc --record PATH` / `--replay PATH`: the API exchange of a run as a JSON-lines file, and back.

A recording holds each request body and the response (status, content type, body text) in
order, never a header, so no API key can end up in it. Replaying serves those responses in the
same order without any backend; your tools still run in the kernel, so a demo or a test can
re-run a real session offline and deterministically. Both plug in at the SDK's HTTP transport,
so the host loop runs exactly as it does against the API.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx2


from .session import Backend, ContainerMemory, Session, default_session

REPLAY = "replay"


def _request_body(request: httpx2.Request) -> Any:
    try:
        return json.loads(request.content or b"null")
    except ValueError:
        return request.content.decode("utf-8", errors="replace")


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Passes requests on and appends each exchange to a JSON-lines file."""

    def __init__(self, path: str | Path, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self.path = Path(path)
        self.inner = inner or httpx2.AsyncHTTPTransport()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        await response.aclose()
        entry = {
            "method": request.method, "path": request.url.path, "request": _request_body(request),
            "status": response.status_code, "content_type": response.headers.get("content-type", ""),
            "body": body.decode("utf-8", errors="replace"),
        }
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-encoding", "content-length",
                                                                                   "transfer-encoding")}
        return httpx2.Response(response.status_code, headers=headers, content=body, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class ReplayTransport(httpx2.AsyncBaseTransport):
    """Answers each request with the next recorded response."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        self.served = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.served >= len(self.entries):
            message = (f"replay: {self.path.name} holds {len(self.entries)} responses and all were used; "
                       "the run asked for more (record it again)")
            body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
            return httpx2.Response(400, json=body, request=request, headers={"x-should-retry": "false"})
        entry = self.entries[self.served]
        self.served += 1
        headers = {"content-type": entry.get("content_type") or "application/json", "x-should-retry": "false"}
        return httpx2.Response(entry["status"], headers=headers, content=entry["body"].encode(), request=request)


def recorded_streaming(path: str | Path) -> bool:
    """Whether a recording was made with `--stream` (its replay must ask the same way)."""
    with Path(path).open(encoding="utf-8") as f:
        first = f.readline()
    return bool(first.strip()) and json.loads(first).get("content_type", "").startswith("text/event-stream")


class _TransportSession(Session):
    """A session whose SDK client talks through one transport (a recording or a replay)."""

    def __init__(self, transport: httpx2.AsyncBaseTransport, *, replay_of: Path | None = None,
                 base: Session = default_session) -> None:
        super().__init__()
        self.transport, self.replay_of, self.base = transport, replay_of, base
        self._client: anthropic.AsyncAnthropic | None = None

    def backend(self, offline: bool | None = None) -> Backend:
        if self.replay_of is not None:
            return Backend(REPLAY, f"replaying {self.replay_of.name}: responses come from the recording; "
                                   "your tools run in this kernel")
        return self.base.backend(offline)

    def memory(self, backend: Backend) -> ContainerMemory:
        return super().memory(backend) if self.replay_of is not None else self.base.memory(backend)

    async def check_model(self, backend: Backend, model: str) -> None:
        """Recordings hold only the messages exchange: the model check goes around them."""
        if self.replay_of is None:
            await self.base.check_model(backend, model)

    def client(self, backend: Backend) -> anthropic.AsyncAnthropic:
        if self._client is None:
            http = httpx2.AsyncClient(transport=self.transport)
            if self.replay_of is not None:
                self._client = anthropic.AsyncAnthropic(api_key="replay", base_url="http://replay.invalid",
                                                        http_client=http, max_retries=0)
            else:
                self._client = self.base.client(backend).with_options(http_client=http)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


@asynccontextmanager
async def session_for(record: str | None, replay: str | None) -> AsyncIterator[Session]:
    """The session a run uses: the default one, or one that records to / replays from a file."""
    if not record and not replay:
        yield default_session
        return
    if replay:
        session = _TransportSession(ReplayTransport(replay), replay_of=Path(replay))
    else:
        session = _TransportSession(RecordingTransport(record))  # type: ignore[arg-type]
    try:
        yield session
    finally:
        await session.aclose()
