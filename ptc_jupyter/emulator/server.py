"""The HTTP face of the emulator: a Starlette app, and `EmulatorServer` running it on a thread.

The app answers `POST /v1/messages` (JSON, or SSE with `"stream": true`) like the Messages API,
the Files API (`/v1/files...`, see `files_api.py`), `/v1/models`, plus two admin endpoints that
the real API does not have: `POST /_emulator/faults` and `GET /_emulator/state`. Every answer
carries a `request-id` header; errors have the API's body.
Every request, admin ones included, passes `guard.Guard` first: a loopback Host and the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ptc_jupyter.emulator import sse
from ptc_jupyter.emulator.config import NO_CODE_EXECUTION_MARK, EmulatorConfig
from ptc_jupyter.emulator.containers import Containers
from ptc_jupyter.emulator.faults import FaultQueue
from ptc_jupyter.emulator.files import FileStore
from ptc_jupyter.emulator.files_api import file_routes
from ptc_jupyter.emulator.guard import Guard, is_loopback
from ptc_jupyter.emulator.sandbox import SandboxPool
from ptc_jupyter.emulator.turns import Turns
from ptc_jupyter.emulator.wire import ApiError, error_body, new_id

log = logging.getLogger("ptc_jupyter.emulator")


EMULATED_MODEL = "claude-offline-emulator"
#: Listed too, so a host can find a model without code execution (for `--sandbox local`).
EMULATED_MODEL_WITHOUT_CODE_EXECUTION = f"{EMULATED_MODEL}-{NO_CODE_EXECUTION_MARK}"


def model_info(model_id: str, code_execution: bool = True) -> dict:
    """A `ModelInfo` saying whether code execution (and so PTC) is supported; the rest is left unset."""
    support = {"supported": code_execution}
    return {
        "type": "model",
        "id": model_id,
        "display_name": f"{model_id} (offline emulator)",
        "created_at": "2026-01-01T00:00:00Z",
        "lifecycle": "active",
        "capabilities": {
            "code_execution": support,
            "server_tools": {
                "supported": code_execution,
                "code_execution": support,
                "web_search": {"supported": False},
            },
        },
    }


def _error(status: int, error_type: str, message: str, request_id: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        error_body(error_type, message, request_id), status, headers={"request-id": request_id, **headers}
    )


def exposure_warning(host: str) -> str | None:
    """What to tell the user when the emulator listens beyond this machine."""
    if is_loopback(host):
        return None
    return (
        f"the offline emulator listens on {host}, beyond this machine's loopback: its API key is then the "
        "only guard, and anyone who has it can run code as you on this machine"
    )


def build_app(
    config: EmulatorConfig, faults: FaultQueue, api_key: str, on_ready: Callable[[SandboxPool], None] | None = None
) -> Starlette:
    """The ASGI app, behind a `Guard` for `api_key`; `on_ready` gets the sandbox pool once a spare
    sandbox is warm."""
    parts: dict[str, Any] = {}
    files = FileStore(config.max_file_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        pool = SandboxPool(asyncio.get_running_loop(), config.sandbox_config())
        containers = Containers(pool, config)
        parts.update(pool=pool, containers=containers, turns=Turns(config, containers, faults, files))
        reaper = asyncio.create_task(containers.reap_forever())
        await pool.warm()
        if on_ready is not None:
            on_ready(pool)
        try:
            yield
        finally:
            reaper.cancel()
            pool.kill_all()

    async def messages(request: Request) -> Response:
        request_id = new_id("req")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_request_error", "The request body is not valid JSON.", request_id)
        try:
            message = await parts["turns"].respond(body)
        except ApiError as exc:
            extra = {"retry-after-ms": "1"} if exc.status in (429, 500, 529) else {}
            return JSONResponse(exc.body(request_id), exc.status, headers={"request-id": request_id, **extra})
        headers = {"request-id": request_id}
        if body.get("stream") is True:
            events = sse.message_events(message, request_id=request_id, break_with_error=faults.take("stream_error"))
            return StreamingResponse(
                events, media_type="text/event-stream", headers={**headers, "cache-control": "no-cache"}
            )
        return JSONResponse(message, headers=headers)

    async def model(request: Request) -> Response:
        """Any model id exists here; it supports PTC unless the config says otherwise, so hosts can
        gate on capabilities."""
        model_id = request.path_params["model_id"]
        return JSONResponse(
            model_info(model_id, config.supports_code_execution(model_id)), headers={"request-id": new_id("req")}
        )

    async def models(_request: Request) -> Response:
        data = [model_info(EMULATED_MODEL), model_info(EMULATED_MODEL_WITHOUT_CODE_EXECUTION, False)]
        return JSONResponse(
            {"data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"], "has_more": False},
            headers={"request-id": new_id("req")},
        )

    async def add_faults(request: Request) -> Response:
        try:
            body = await request.json()
            faults.add(*body["faults"])
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, "invalid_request_error", f'expected {{"faults": [...]}}: {exc}', new_id("req"))
        return JSONResponse({"queued": faults.pending()})

    async def state(_request: Request) -> Response:
        return JSONResponse(
            {
                **parts["containers"].snapshot(),
                "faults": faults.pending(),
                "files": len(files),
                "cache_entries": len(parts["turns"].cache),
            }
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        kind = {404: "not_found_error", 405: "invalid_request_error"}.get(status, "api_error")
        if status == 500:
            log.exception("emulator bug while answering %s", request.url.path, exc_info=exc)
        return _error(
            status,
            kind,
            f"{request.method} {request.url.path}: {getattr(exc, 'detail', None) or 'internal error'}",
            new_id("req"),
        )

    return Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", model, methods=["GET"]),
            *file_routes(files, faults),
            Route("/_emulator/faults", add_faults, methods=["POST"]),
            Route("/_emulator/state", state, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: http_error},
        middleware=[Middleware(Guard, api_key=api_key, allowed_hosts=(config.host, *config.allowed_hosts))],
        lifespan=lifespan,
    )


class EmulatorServer:
    """The emulator on 127.0.0.1 in a daemon thread: `start()`, `.url`, `.api_key`, `inject()`, `stop()`.

    Clients must send `api_key` (random unless the config gives one). Use as a context manager, or
    call `stop()`: it shuts the server down and kills every sandbox.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.api_key: str = self.config.api_key or secrets.token_urlsafe(32)
        self.faults = FaultQueue()
        self.url: str | None = None
        self._pool: SandboxPool | None = None
        self._ready = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self) -> EmulatorServer:
        """Start serving; returns once the server accepts connections and a sandbox is warm."""
        if self._thread is not None:
            return self
        host = self.config.host
        if (warning := exposure_warning(host)) is not None:
            log.warning(warning)
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the listening
        # socket says TCP; without it each turn stalls ~40 ms on a delayed ACK.
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, self.config.port))
        sock.listen(128)  # connections queue from now on, before uvicorn accepts them
        self._socket = sock
        port = sock.getsockname()[1]
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        app = build_app(self.config, self.faults, self.api_key, on_ready=self._on_ready)
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                loop="asyncio",
                http="h11",
                ws="none",
                proxy_headers=False,
                timeout_graceful_shutdown=2,
            )
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"ptc-emulator-{port}", daemon=True
        )
        self._thread.start()
        while not self._ready.wait(0.05):
            if not self._thread.is_alive():
                self._cleanup()
                raise RuntimeError("the offline emulator failed to start (see the log above)")
        return self

    def _on_ready(self, pool: SandboxPool) -> None:
        self._pool = pool
        self._ready.set()

    def inject(self, *faults: dict) -> None:
        """Queue faults, as `POST /_emulator/faults` does (see `faults.py`); ValueError if malformed."""
        self.faults.add(*faults)

    def stop(self) -> None:
        """Stop serving and kill every sandbox process; idempotent."""
        if self._thread is None:
            return
        if self._pool is not None:
            self._pool.kill_all()  # wakes requests waiting on scripts, so shutdown is quick
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=15)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._pool is not None:
            for sandbox in self._pool.kill_all():  # also any spawned during shutdown
                sandbox.close_pipes()
        if self._socket is not None:
            self._socket.close()
        self._thread = self._server = self._socket = None
        self._ready.clear()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(config: EmulatorConfig | None = None) -> EmulatorServer:
    """Start an emulator and return it (call `.stop()`, or use it in a `with` block)."""
    return EmulatorServer(config).start()
