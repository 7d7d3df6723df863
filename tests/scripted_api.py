"""A strict, scripted stand-in for the Messages API, independent of the emulator.

Each request is answered by the next scripted response (a dict, or a function of the request body,
an (HTTP status, error body) pair, or a `StreamError`) and recorded; a streamed request gets the
message as server-sent events, so tests can check exactly what the host sent
against shared/ptc-protocol.md section 3. It is a real HTTP server on 127.0.0.1 that the real
anthropic SDK talks to.
"""

from __future__ import annotations

import copy
import itertools
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ptc_jupyter.host.caching import without_cache_points


class StreamError(dict):
    """A 200 streamed response whose first event is an `error` event carrying this body."""


Scripted = dict[str, Any] | Callable[[dict[str, Any]], Any] | tuple[int, dict[str, Any]] | StreamError
_ids = itertools.count(1)


def message(
    content: list[dict[str, Any]],
    stop_reason: str = "end_turn",
    *,
    container: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"msg_{next(_ids):04d}",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 10, "output_tokens": 5},
    }
    if container:
        body["container"] = {"id": container, "expires_at": "2099-01-01T00:00:00Z"}
    return body


def script_block(code: str, block_id: str = "srvtoolu_01") -> dict[str, Any]:
    return {"type": "server_tool_use", "id": block_id, "name": "code_execution", "input": {"code": code}}


def tool_use(
    block_id: str,
    name: str,
    tool_input: dict[str, Any],
    caller: str | None = "srvtoolu_01",
    caller_type: str = "code_execution_20260120",
) -> dict[str, Any]:
    block = {"type": "tool_use", "id": block_id, "name": name, "input": tool_input}
    if caller is not None:
        block["caller"] = {"type": caller_type, "tool_id": caller}
    else:
        block["caller"] = {"type": "direct"}
    return block


def script_result(stdout: str, block_id: str = "srvtoolu_01", return_code: int = 0) -> dict[str, Any]:
    return {
        "type": "code_execution_tool_result",
        "tool_use_id": block_id,
        "content": {
            "type": "code_execution_result",
            "stdout": stdout,
            "stderr": "",
            "return_code": return_code,
            "content": [],
        },
    }


def api_error(status: int, message_text: str, kind: str = "invalid_request_error") -> tuple[int, dict[str, Any]]:
    return status, {"type": "error", "error": {"type": kind, "message": message_text}, "request_id": "req_test"}


def stream_error(message_text: str, kind: str = "invalid_request_error") -> StreamError:
    return StreamError(api_error(200, message_text, kind)[1])


def sse(events: list[tuple[str, dict[str, Any]]]) -> Response:
    text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return Response(text, media_type="text/event-stream", headers={"request-id": "req_test"})


def message_events(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A message as the stream sends it: each block whole in its `content_block_start`."""
    start = {**body, "content": [], "stop_reason": None}
    events = [("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(body["content"]):
        events.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": block}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    delta = {"stop_reason": body["stop_reason"], "stop_sequence": None}
    if body.get("container"):
        delta["container"] = body["container"]
    events.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": {"output_tokens": body["usage"]["output_tokens"]}},
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


class _Server(uvicorn.Server):
    """A uvicorn server that says when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class ScriptedAPI:
    def __init__(self, responses: list[Scripted], *, models: dict[str, bool] | None = None) -> None:
        """`models`: model id -> whether its code execution can call tools (PTC); others get 404.
        None serves every model as PTC-capable."""
        self.responses = list(responses)
        self.models = models
        self.model_lookups: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    async def _messages(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(copy.deepcopy(body))
        self.headers.append(dict(request.headers))
        if not self.responses:
            return JSONResponse(
                api_error(500, "scripted API ran out of responses", "api_error")[1],
                status_code=500,
                headers={"x-should-retry": "false"},
            )
        item = self.responses.pop(0)
        if callable(item):
            item = item(body)
        if isinstance(item, StreamError):
            return sse([("error", dict(item))])
        if isinstance(item, tuple):
            status, payload = item
            return JSONResponse(payload, status_code=status, headers={"x-should-retry": "false"})
        if body.get("stream"):
            return sse(message_events(item))
        return JSONResponse(item, headers={"request-id": "req_test"})

    async def _model(self, request: Request) -> JSONResponse:
        model_id = request.path_params["model_id"]
        self.model_lookups.append(model_id)
        if self.models is not None and model_id not in self.models:
            return JSONResponse(api_error(404, f"model: {model_id}", "not_found_error")[1], status_code=404)
        supported = True if self.models is None else self.models[model_id]
        return JSONResponse(
            {
                "type": "model",
                "id": model_id,
                "display_name": model_id,
                "created_at": "2026-01-01T00:00:00Z",
                "capabilities": {"code_execution": {"supported": supported}},
            }
        )

    def __enter__(self) -> ScriptedAPI:
        sock = socket.socket()  # bound here and handed to uvicorn: no window for another process to take the port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/models/{model_id:path}", self._model, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = _Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="scripted-api", daemon=True
        )
        self._thread.start()
        if not self._server.ready.wait(10):
            raise RuntimeError("scripted API did not start")
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server and self._thread
        self._server.should_exit = True
        self._thread.join(10)


def assert_follows_protocol(requests: list[dict[str, Any]], responses: list[dict[str, Any]]) -> None:
    """What the API requires of continuations (ptc-protocol.md section 3), checked request by request;
    prompt-caching breakpoints are left out of the comparison."""
    requests = without_cache_points(requests)
    tools = requests[0]["tools"]
    container = None
    for i, req in enumerate(requests):
        assert req["tools"] == tools, f"request {i + 1}: tools changed"
        if i == 0:
            continue
        prev_req, prev = requests[i - 1], responses[i - 1]
        if prev.get("container"):
            container = prev["container"]["id"]
        msgs = req["messages"]
        assert msgs[: len(prev_req["messages"])] == prev_req["messages"], f"request {i + 1}: history rewritten"
        echoed = msgs[len(prev_req["messages"])]
        assert echoed == {"role": "assistant", "content": prev["content"]}, f"request {i + 1}: echo not verbatim"
        pending = [b["id"] for b in prev["content"] if b["type"] == "tool_use"]
        if prev["stop_reason"] == "pause_turn":
            assert len(msgs) == len(prev_req["messages"]) + 1, "pause_turn continuation must add no user message"
        else:
            reply = msgs[len(prev_req["messages"]) + 1]
            assert reply["role"] == "user" and all(b["type"] == "tool_result" for b in reply["content"])
            assert [b["tool_use_id"] for b in reply["content"]] == pending
            assert all(isinstance(b["content"], str) for b in reply["content"])
        if container:
            assert req.get("container") == container, f"request {i + 1}: container missing"
