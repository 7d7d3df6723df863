"""A small replay server for the conformance tests: serves recorded-shape Messages API traffic.

It is not the emulator (it imports nothing of ptc_jupyter): it answers `POST /v1/messages` with the
next response of a scenario, in order, whatever was asked, and records every request body, so a
test can check what the host did with real traffic shapes and what it sent back.

A scenario is a JSON file under `fixtures/` (see fixtures/README.md):

    {"_source": "<the recording it follows>", "form": "json" | "sse", "pad_data": false,
     "responses": [{"message": {...}} | {"events": [{...}, ...]} | {"status": 400, "error": {...}}]}

- `message`: a whole Messages API response (the JSON form of a recording).
- `events`: the SSE events of one streamed response, in order (the `.chunks.txt` form).
- `status` + `error`: an HTTP error with that JSON body (e.g. the recorded 400).
- `pad_data`: SSE data lines carry spaces before their closing brace, as one recording does.

A request with `stream: true` gets `text/event-stream`; otherwise JSON. A response recorded in the
other form is converted: a message becomes the event sequence the API streams for it, and events
are folded into the message they stream (as the API's non-streaming answer would be).

`container.expires_at` is "a shorter rolling value" in the API: the server rewrites every one it
serves to a few minutes from now, so old recording dates do not turn into expired deadlines.

Also served, so a run can go through: `GET /v1/models/{id}` (PTC-capable), and a minimal Files API
(`POST /v1/files`, `DELETE /v1/files/{id}`) whose uploads are recorded too.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

FIXTURES = Path(__file__).parent / "fixtures"
ROLLING_EXPIRY = timedelta(minutes=4, seconds=30)


def load_scenario(name: str) -> dict[str, Any]:
    """A scenario from fixtures/ by file name (with or without `.json`)."""
    path = FIXTURES / (name if name.endswith(".json") else f"{name}.json")
    scenario = json.loads(path.read_text(encoding="utf-8"))
    if not scenario.get("_source"):
        raise ValueError(f"{path.name}: every fixture names the recording it follows in _source")
    return scenario


# -- converting between the two forms ----------------------------------------------------------------
def _start_form(block: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """How the API streams one block: its content_block_start and its deltas."""
    kind = block["type"]
    if kind == "text":
        return {**block, "text": ""}, [{"type": "text_delta", "text": block["text"]}]
    if kind == "thinking":
        deltas = [{"type": "thinking_delta", "thinking": block["thinking"]}] if block.get("thinking") else []
        return {**block, "thinking": "", "signature": ""}, deltas + [
            {"type": "signature_delta", "signature": block["signature"]}
        ]
    if kind in ("server_tool_use", "tool_use"):
        raw = json.dumps(block["input"], ensure_ascii=False)
        return {**block, "input": {}}, [
            {"type": "input_json_delta", "partial_json": ""},
            {"type": "input_json_delta", "partial_json": raw},
        ]
    return block, []  # result blocks arrive whole


def message_to_events(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The SSE events of a streamed `message` (protocol section 4 / the recordings' order)."""
    start = {k: v for k, v in message.items() if k not in ("container",)}
    usage = dict(message.get("usage") or {})
    start.update(
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage={k: v for k, v in usage.items() if k not in ("server_tool_use",)},
    )
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message["content"]):
        opened, deltas = _start_form(block)
        events.append({"type": "content_block_start", "index": index, "content_block": opened})
        if index == 0:
            events.append({"type": "ping"})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    delta: dict[str, Any] = {"stop_reason": message["stop_reason"], "stop_sequence": message.get("stop_sequence")}
    if "stop_details" in message:
        delta["stop_details"] = message["stop_details"]
    if message.get("container") is not None:
        delta["container"] = message["container"]
    delta_usage = {k: v for k, v in usage.items() if k not in ("cache_creation", "service_tier", "inference_geo")}
    events += [{"type": "message_delta", "delta": delta, "usage": delta_usage}, {"type": "message_stop"}]
    return events


def events_to_message(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The message a streamed response amounts to (what a non-streaming request would get)."""
    message: dict[str, Any] | None = None
    buffers: dict[int, str] = {}
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            message = copy.deepcopy(event["message"])
        elif message is None:
            continue
        elif kind == "content_block_start":
            message["content"].append(copy.deepcopy(event["content_block"]))
        elif kind == "content_block_delta":
            block, delta = message["content"][event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                buffers[event["index"]] = buffers.get(event["index"], "") + delta["partial_json"]
        elif kind == "content_block_stop" and event["index"] in buffers:
            message["content"][event["index"]]["input"] = json.loads(buffers.pop(event["index"]) or "{}")
        elif kind == "message_delta":
            message.update({k: v for k, v in event["delta"].items()})
            message["usage"] = {**message.get("usage", {}), **event.get("usage", {})}
    if message is None:
        raise ValueError("no message_start in the events")
    return message


def _roll_expiry(value: Any, now: datetime) -> Any:
    if isinstance(value, list):
        return [_roll_expiry(v, now) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _roll_expiry(v, now) for k, v in value.items()}
    container = out.get("container")
    if isinstance(container, dict) and "expires_at" in container:
        rolled = (now + ROLLING_EXPIRY).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out["container"] = {**container, "expires_at": rolled}
    return out


def _sse(events: list[dict[str, Any]], pad: bool = False) -> bytes:
    """The event stream. `pad`: each data line's JSON ends in spaces before its closing brace, as
    some recordings have it (anthropic-code-execution-20260120-issue-18193.chunks.txt)."""
    out = []
    for i, e in enumerate(events):
        data = json.dumps(e, ensure_ascii=False, separators=(",", ":"))
        if pad:
            data = data[:-1] + " " * (1 + (i * 7) % 13) + "}"
        out.append(f"event: {e['type']}\ndata: {data}\n\n".encode())
    return b"".join(out)


# -- the server --------------------------------------------------------------------------------------
class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class ReplayServer:
    """`with ReplayServer(scenario) as server:` ... `server.url`, `server.requests` (bodies received)."""

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.scenario = scenario
        self.pending = list(scenario["responses"])
        self.requests: list[dict[str, Any]] = []  # every /v1/messages body, in order
        self.headers: list[dict[str, str]] = []  # and its headers
        self.served: list[dict[str, Any]] = []  # the message (JSON form) answered to each request
        self.uploads: list[dict[str, Any]] = []  # Files API uploads: {"id", "filename", "data"}
        self.deleted: list[str] = []
        self.model_lookups: list[str] = []
        self.lock = threading.Lock()
        self.url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # /v1/messages
    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.requests.append(copy.deepcopy(body))
            self.headers.append(dict(request.headers))
            item = self.pending.pop(0) if self.pending else None
        if item is None:
            return JSONResponse(
                {
                    "type": "error",
                    "error": {"type": "api_error", "message": "replay server: the scenario has no more responses"},
                    "request_id": "req_replay",
                },
                status_code=500,
                headers={"x-should-retry": "false"},
            )
        if "status" in item:
            self.served.append(item)
            return JSONResponse(
                item["error"],
                status_code=item["status"],
                headers={"x-should-retry": "false", "request-id": item["error"].get("request_id", "")},
            )
        now = datetime.now(timezone.utc)
        if "events" in item:
            events = _roll_expiry(item["events"], now)
            message = events_to_message(events)
        else:
            message = _roll_expiry(item["message"], now)
            events = None
        self.served.append(message)
        headers = {"request-id": f"req_replay_{len(self.requests):02d}"}
        if not body.get("stream"):
            return JSONResponse(message, headers=headers)
        payload = _sse(
            events if events is not None else message_to_events(message), pad=bool(self.scenario.get("pad_data"))
        )
        return StreamingResponse(iter([payload]), media_type="text/event-stream", headers=headers)

    async def _model(self, request: Request) -> JSONResponse:
        model_id = request.path_params["model_id"]
        self.model_lookups.append(model_id)
        return JSONResponse(
            {
                "type": "model",
                "id": model_id,
                "display_name": model_id,
                "created_at": "2026-01-01T00:00:00Z",
                "capabilities": {"code_execution": {"supported": True}},
            }
        )

    async def _upload(self, request: Request) -> JSONResponse:
        async with request.form() as form:
            upload = form["file"]
            data = await upload.read()  # type: ignore[union-attr]
        file_id = f"file_011CReplay{len(self.uploads) + 1:04d}Upload"
        self.uploads.append({"id": file_id, "filename": upload.filename, "data": data})  # type: ignore[union-attr]
        return JSONResponse(
            {
                "id": file_id,
                "type": "file",
                "filename": upload.filename,  # type: ignore[union-attr]
                "mime_type": upload.content_type or "application/octet-stream",  # type: ignore[union-attr]
                "size_bytes": len(data),
                "created_at": "2026-01-01T00:00:00Z",
                "downloadable": False,
            }
        )

    async def _delete(self, request: Request) -> JSONResponse:
        file_id = request.path_params["file_id"]
        self.deleted.append(file_id)
        return JSONResponse({"id": file_id, "type": "file_deleted"})

    def __enter__(self) -> ReplayServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/models/{model_id:path}", self._model, methods=["GET"]),
                Route("/v1/files", self._upload, methods=["POST"]),
                Route("/v1/files/{file_id}", self._delete, methods=["DELETE"]),
            ]
        )
        self._server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="replay-server", daemon=True
        )
        self._thread.start()
        if not self._server.ready.wait(10):
            raise RuntimeError("replay server did not start")
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)
