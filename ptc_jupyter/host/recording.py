"""`%%ptc --record PATH` / `--replay PATH`: the API exchange of a run as a JSON-lines file, and back.

A recording holds, one JSON line per request, the request body and the response (status,
content type, body), never a header, so no API key can end up in it. Each line is written with
sorted keys; a JSON answer is kept as its object and a streamed one as its list of SSE lines, so
a recording reads well in `jq` and two recordings of the same run differ only where the run did.
(Recordings whose body is one string, as written before, still replay.)

Replaying serves those responses in the same order without any backend; your tools still run in
the kernel, so a demo or a test can re-run a real session offline and deterministically. Each
request is compared with the recorded one first: where the prompt, a tool definition or a tool's
result has changed, the run gets a `replay drift:` notice naming the first difference (or, strict,
the request is answered with a 400 error saying the same). A recording of another prompt (less
than half of its text in common) is refused at the first request, before any tool runs. Both plug
in at the SDK's HTTP transport, so the host loop runs exactly as it does against the API.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from ptc_jupyter.host import retries
from ptc_jupyter.host.caching import without_cache_points
from ptc_jupyter.host.session import Backend, ContainerMemory, Session, default_session

REPLAY = "replay"
DRIFT = "replay drift:"  # how every drift notice (and a strict replay's error) begins
CLIP_CHARS = 200  # a recorded or live value in a drift notice is cut to about this length
#: Request keys left out of the comparison: a replay's container ids come from the recording, but
#: the first request's container is whatever an earlier run left, live or recorded.
UNCOMPARED_KEYS = frozenset({"container"})
#: A replay's first prompt sharing less than this of the recorded one's text is another prompt:
#: the replay is refused (its calls would run for a prompt nobody asked). Above it, a drift notice.
OTHER_PROMPT_RATIO = 0.5
PROMPT_COMPARED_CHARS = 4_000


# -- the file format ----------------------------------------------------------------------------------


def _request_body(request: httpx2.Request) -> Any:
    """A request's body as recorded: its JSON; an upload (multipart, a file's bytes) only by its size,
    so a recording keeps no input file and a replay's random multipart boundary is no drift.
    The body must have been read (`await request.aread()`: an upload's is a stream)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return {"multipart/form-data bytes": len(request.content)}
    try:
        return json.loads(request.content or b"null")
    except ValueError:
        return request.content.decode("utf-8", errors="replace")


def encode_body(content_type: str, text: str) -> Any:
    """A response body as recorded: a JSON object, a streamed answer's list of lines, else the text."""
    if content_type.startswith("text/event-stream"):
        return text.split("\n")
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        if isinstance(parsed, dict):
            return parsed
    return text


def decode_body(body: Any) -> bytes:
    """The bytes to answer with, from a recorded body of any format so far."""
    if isinstance(body, list):
        return "\n".join(body).encode()
    if isinstance(body, dict):
        return json.dumps(body, ensure_ascii=False).encode()
    return str(body).encode()


def entry_line(entry: dict[str, Any]) -> str:
    """One recording line: sorted keys and real characters, so the same exchange is the same line."""
    return json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"


def read_entries(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Passes requests on and appends each exchange to a JSON-lines file."""

    def __init__(self, path: str | Path, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self.path = Path(path)
        self.inner = inner or httpx2.AsyncHTTPTransport()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()  # an upload's body is a stream: read once, so it can be both sent and recorded
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        await response.aclose()
        content_type = response.headers.get("content-type", "")
        entry = {
            "method": request.method,
            "path": request.url.path,
            "request": _request_body(request),
            "status": response.status_code,
            "content_type": content_type,
            "body": encode_body(content_type, body.decode("utf-8", errors="replace")),
        }
        with self.path.open("a", encoding="utf-8", newline="\n") as f:
            f.write(entry_line(entry))
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        }
        return httpx2.Response(response.status_code, headers=headers, content=body, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- drift: how a live request differs from the recorded one -------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _clip(text: str, start: int) -> str:
    cut = text[start : start + CLIP_CHARS]
    return ("…" if start else "") + cut + ("…" if start + CLIP_CHARS < len(text) else "")


def _pair(recorded: Any, live: Any) -> str:
    """`recorded "…", live "…"`: both clipped alike, from shortly before the first character that
    differs; strings quoted (as JSON, so a newline shows as \\n), other values as their JSON."""
    a, b = _text(recorded), _text(live)
    same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = same - CLIP_CHARS // 4 if same > CLIP_CHARS // 2 else 0

    def show(value: Any, text: str) -> str:
        clipped = _clip(text, start)
        return json.dumps(clipped, ensure_ascii=False) if isinstance(value, str) else clipped

    return f"recorded {show(recorded, a)}, live {show(live, b)}"


def _alike(recorded: str, live: str) -> bool:
    """Whether a live prompt is the recorded one edited (a typo fixed, a number changed) rather than
    another prompt: at least OTHER_PROMPT_RATIO of their text in common."""
    return (
        difflib.SequenceMatcher(
            None, recorded[:PROMPT_COMPARED_CHARS], live[:PROMPT_COMPARED_CHARS], autojunk=False
        ).ratio()
        >= OTHER_PROMPT_RATIO
    )


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        content = "".join(b.get("text", "") for b in content)
    text = _text(content if content is not None else "")
    return f"(is_error) {text}" if block.get("is_error") else text


def _tool_use(messages: list[Any], tool_use_id: str) -> dict[str, Any]:
    """The tool_use block (name, input) that a tool_result answers, from the messages before it."""
    for message in reversed(messages):
        blocks = message.get("content") if isinstance(message, dict) else None
        for block in blocks if isinstance(blocks, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use" and block.get("id") == tool_use_id:
                return block
    return {}


def _by_name(tools: list[Any]) -> dict[str, Any]:
    return {str(t.get("name")): t for t in tools if isinstance(t, dict)}


def _prompt(messages: list[Any]) -> Any:
    return messages[0].get("content") if messages and isinstance(messages[0], dict) else None


def _tools_drift(recorded: list[Any], live: list[Any]) -> Iterator[str]:
    was, now = _by_name(recorded), _by_name(live)
    for name, tool in now.items():
        if name not in was:
            yield f"tool {name} was added since the recording"
        elif tool != was[name]:
            keys = sorted(tool.keys() | was[name].keys())
            key = next(k for k in keys if tool.get(k) != was[name].get(k))
            yield (
                f"the definition of tool {name} differs from the recording "
                f"({key}: {_pair(was[name].get(key), tool.get(key))})"
            )
    for name in [n for n in was if n not in now]:
        yield f"tool {name} was removed since the recording"
    if recorded != live and was == now:
        yield f"the tools are offered in another order: {_pair(list(was), list(now))}"


def _message_drift(index: int, recorded: Any, live: Any, history: list[Any]) -> Iterator[str]:
    """Differences within one message: tool results by the call they answer, anything else as a whole."""
    rec_blocks, live_blocks = (m.get("content") if isinstance(m, dict) else None for m in (recorded, live))
    if isinstance(rec_blocks, list) and isinstance(live_blocks, list) and len(rec_blocks) == len(live_blocks):
        for was, now in zip(rec_blocks, live_blocks):
            if was == now:
                continue
            if (
                isinstance(was, dict)
                and isinstance(now, dict)
                and was.get("type") == now.get("type") == "tool_result"
                and was.get("tool_use_id") == now.get("tool_use_id")
            ):
                call = _tool_use(history, now["tool_use_id"])
                yield (
                    f"the result of {call.get('name', 'a tool')} {_clip(_text(call.get('input', {})), 0)} "
                    f"(tool_use {now['tool_use_id']}) differs from the recording: "
                    f"{_pair(_result_text(was), _result_text(now))}"
                )
            else:
                yield f"message {index + 1} ({live.get('role')}) differs from the recording: {_pair(was, now)}"
        return
    yield f"message {index + 1} differs from the recording: {_pair(recorded, live)}"


def differences(recorded: Any, live: Any) -> Iterator[str]:
    """Each way a live request body differs from the recorded one, the most telling first:
    the prompt, the tool definitions, the later messages (tool results), then other settings.
    Prompt-caching breakpoints are request-side only: they are left out of the comparison."""
    recorded, live = without_cache_points(recorded), without_cache_points(live)
    if not isinstance(recorded, dict) or not isinstance(live, dict):
        if recorded != live:
            yield f"the request differs from the recording: {_pair(recorded, live)}"
        return
    was, now = recorded.get("messages") or [], live.get("messages") or []
    if was[:1] != now[:1]:
        yield f"the prompt differs from the recording: {_pair(_prompt(was), _prompt(now))}"
    yield from _tools_drift(recorded.get("tools") or [], live.get("tools") or [])
    for i in range(1, min(len(was), len(now))):
        if was[i] != now[i]:
            yield from _message_drift(i, was[i], now[i], now[:i])
    if len(was) != len(now):
        yield f"the request has {len(now)} messages, the recorded one {len(was)}"
    for key in sorted((recorded.keys() | live.keys()) - {"messages", "tools"} - UNCOMPARED_KEYS):
        if recorded.get(key) != live.get(key):
            yield f"{key} differs from the recording: {_pair(recorded.get(key), live.get(key))}"


def first_drift(recorded: Any, live: Any, *, skip: Collection[str] = ()) -> str | None:
    """The first difference not in `skip` (those a run was already told about), or None."""
    return next((d for d in differences(recorded, live) if d not in skip), None)


# -- replay ----------------------------------------------------------------------------------------------


def _error(request: httpx2.Request, message: str) -> httpx2.Response:
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    return httpx2.Response(400, json=body, request=request, headers={"x-should-retry": "false"})


class ReplayTransport(httpx2.AsyncBaseTransport):
    """Answers each request with the next recorded response, saying where the request drifted from
    the recorded one: as a run notice (through `retries.report_to`), or, when `strict`, as a 400."""

    def __init__(self, path: str | Path, *, strict: bool = False) -> None:
        self.path = Path(path)
        self.entries = read_entries(self.path)
        self.strict = strict
        self.served = 0
        self._told: dict[Any, set[str]] = {}  # per run (its notice listener): differences already reported
        self._prompt_checked = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        if self.served >= len(self.entries):
            return _error(
                request,
                f"replay: {self.path.name} holds {len(self.entries)} responses and all were "
                "used; the run asked for more (record it again)",
            )
        entry = self.entries[self.served]
        self.served += 1
        live = _request_body(request)
        if not self._prompt_checked and isinstance(live, dict) and "messages" in live:
            self._prompt_checked = True  # the first messages request (file uploads may come before it)
            other = self._other_prompt(entry.get("request"), live)
            if other is not None:
                return _error(request, other)
        drift = self._drift(entry, request)
        if drift is not None and self.strict:
            return _error(request, drift)
        headers = {"content-type": entry.get("content_type") or "application/json", "x-should-retry": "false"}
        return httpx2.Response(entry["status"], headers=headers, content=decode_body(entry["body"]), request=request)

    def _other_prompt(self, recorded: Any, live: Any) -> str | None:
        """Why a recording of another prompt cannot answer this run (its calls would run here for
        a prompt nobody asked), or None. Only the first messages request of a replay is checked."""
        if not isinstance(recorded, dict):
            return None  # an old recording without requests, or entries out of step: drift says more
        was, now = (without_cache_points(body).get("messages") or [] for body in (recorded, live))
        if was[:1] == now[:1] or _alike(_text(_prompt(was)), _text(_prompt(now))):
            return None  # the same prompt, or an edited one: a drift notice says where
        return (
            f"replay: {self.path.name} was recorded from another prompt, so it was not replayed and no tool "
            f"ran ({_pair(_prompt(was), _prompt(now))}); replay it from the cell it was recorded in, or "
            "record this prompt with --record"
        )

    def _drift(self, entry: dict[str, Any], request: httpx2.Request) -> str | None:
        """This request's first difference from the recorded one that its run has not been told about
        yet, as a notice (sent to the run unless strict), or None."""
        if "request" not in entry:
            return None
        listener = retries.report_to.get()
        told = self._told.setdefault(listener, set())
        found = first_drift(entry["request"], _request_body(request), skip=told)
        if found is None:
            return None
        told.add(found)
        notice = f"{DRIFT} request {self.served}: {found}"
        if listener is not None and not self.strict:
            listener(notice)
        return notice


def recorded_streaming(path: str | Path) -> bool:
    """Whether a recording was made with `--stream` (its replay must ask the same way)."""
    with Path(path).open(encoding="utf-8") as f:
        first = f.readline()
    return bool(first.strip()) and json.loads(first).get("content_type", "").startswith("text/event-stream")


class _TransportSession(Session):
    """A session whose SDK client talks through one transport (a recording or a replay)."""

    def __init__(
        self, transport: httpx2.AsyncBaseTransport, *, replay_of: Path | None = None, base: Session = default_session
    ) -> None:
        super().__init__()
        self.transport, self.replay_of, self.base = transport, replay_of, base
        self._client: anthropic.AsyncAnthropic | None = None

    def backend(self, offline: bool | None = None) -> Backend:
        if self.replay_of is not None:
            return Backend(
                REPLAY,
                f"replaying {self.replay_of.name}: responses come from the recording; your tools run in this kernel",
            )
        return self.base.backend(offline)

    def memory(self, backend: Backend) -> ContainerMemory:
        return super().memory(backend) if self.replay_of is not None else self.base.memory(backend)

    async def check_model(self, backend: Backend, model: str, client: Any = None) -> None:
        """Recordings hold only the messages exchange: the model check goes around them."""
        if self.replay_of is None:
            await self.base.check_model(backend, model, client)

    def client(self, backend: Backend) -> anthropic.AsyncAnthropic:
        if self._client is None:
            http = httpx2.AsyncClient(transport=self.transport)
            if self.replay_of is not None:
                self._client = anthropic.AsyncAnthropic(
                    api_key="replay", base_url="http://replay.invalid", http_client=http, max_retries=0
                )
            else:
                self._client = self.base.client(backend).with_options(http_client=http)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


@asynccontextmanager
async def session_for(
    record: str | None, replay: str | None, *, replay_strict: bool = False, base: Session = default_session
) -> AsyncIterator[Session]:
    """The session a run uses: `base` (default: the process's), or one that records its exchange
    to a file or replays from one. `replay_strict`: a request that drifted from the recorded one
    fails the run (a 400 saying how)."""
    if not record and not replay:
        yield base
        return
    if replay:
        session = _TransportSession(ReplayTransport(replay, strict=replay_strict), replay_of=Path(replay), base=base)
    else:
        session = _TransportSession(RecordingTransport(record), base=base)  # type: ignore[arg-type]
    try:
        yield session
    finally:
        await session.aclose()
