"""Which backend a run talks to (the real API or the offline emulator), its clients, its container.

A key in ANTHROPIC_API_KEY means the real API through the SDK (which honours ANTHROPIC_BASE_URL);
no key, `offline=True` or PTC_JUPYTER_OFFLINE=1 means the local emulator, started once per process
on 127.0.0.1 with a key of its own. The container id is remembered per backend so a notebook keeps
its REPL state.

SDK clients are made per event loop (an HTTP connection belongs to one loop) and closed with it:
each client is tied to an async generator on its loop, which the loop's `shutdown_asyncgens()`
(run by `asyncio.run` and by the background loop on exit) finalizes; `Session.aclose()` closes the
current loop's clients at once.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import anthropic

from ptc_jupyter.host import retries

log = logging.getLogger(__name__)

ANTHROPIC = "anthropic"
EMULATOR = "offline-emulator"
OFFLINE_NOTICE = (
    "offline ({reason}): the local emulator plays Claude, running the prompt's ```python block as Claude's script"
)

_emulator_lock = threading.Lock()
_emulator: Any = None


def offline_requested(offline: bool | None = None) -> bool:
    if offline is not None:
        return bool(offline)
    if os.environ.get("PTC_JUPYTER_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return not os.environ.get("ANTHROPIC_API_KEY")


def process_emulator() -> Any:
    """The process-wide emulator, started on first use; it stops when the process exits."""
    global _emulator
    with _emulator_lock:
        if _emulator is None:
            from ptc_jupyter.emulator import EmulatorServer

            server = EmulatorServer()
            server.start()
            atexit.register(server.stop)
            _emulator = server
        return _emulator


def emulator_url() -> str:
    return process_emulator().url


def stop_emulator() -> None:
    """Stop the process-wide emulator (and its sandboxes); the next offline run starts a new one."""
    global _emulator
    with _emulator_lock:
        server, _emulator = _emulator, None
    if server is None:
        return
    server.stop()
    default_session.forget_backend(EMULATOR)


@dataclass
class ContainerMemory:
    """Where a session remembers its container between runs (one per backend)."""

    container_id: str | None = None


@dataclass
class Backend:
    name: str
    notice: str | None = None


class Session:
    """Backend choice, one SDK client per event loop, and the container memory of each backend."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = 2,
        timeout_s: float | None = None,
        emulator: Any = None,
        emulator_url: str | None = None,
        emulator_key: str | None = None,
    ) -> None:
        """`api_key`/`base_url` default to the SDK's environment variables. Offline runs go to the
        process-wide emulator, or to `emulator` (an `EmulatorServer`), or to `emulator_url` with its
        `emulator_key` (one started with `python -m ptc_jupyter.emulator`)."""
        self._api_key = api_key
        self._base_url = base_url
        self._emulator_url = emulator.url if emulator is not None else emulator_url
        self._emulator_key = emulator.api_key if emulator is not None else emulator_key
        self._max_retries = max_retries
        self._timeout_s = timeout_s  # None: the SDK's (10 minutes per request)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients]
        self._clients = weakref.WeakKeyDictionary()
        self.memories: dict[str, ContainerMemory] = {}
        self._ptc_models: set[tuple[str, str]] = set()  # (backend, model) known to support PTC

    def backend(self, offline: bool | None = None) -> Backend:
        if offline is None and self._api_key:
            offline = False
        if not offline_requested(offline):
            return Backend(ANTHROPIC)
        reason = "offline requested" if offline or os.environ.get("PTC_JUPYTER_OFFLINE") else "no ANTHROPIC_API_KEY"
        return Backend(EMULATOR, OFFLINE_NOTICE.format(reason=reason))

    def memory(self, backend: Backend) -> ContainerMemory:
        return self.memories.setdefault(backend.name, ContainerMemory())

    def client(self, backend: Backend) -> anthropic.AsyncAnthropic:
        """An AsyncAnthropic bound to the running loop (HTTP connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        per_loop = self._clients.get(loop)
        if per_loop is None:
            per_loop = self._clients[loop] = _LoopClients()
        if backend.name == EMULATOR:  # keyed by URL: a restarted emulator gets fresh clients
            url, key = self._emulator_address()
            return per_loop.get(url, lambda: self._make_client(api_key=key, base_url=url))
        return per_loop.get(backend.name, lambda: self._make_client(api_key=self._api_key, base_url=self._base_url))

    def _make_client(self, **where: Any) -> anthropic.AsyncAnthropic:
        extra: dict[str, Any] = {"timeout": self._timeout_s} if self._timeout_s is not None else {}
        return anthropic.AsyncAnthropic(
            **where, max_retries=self._max_retries, http_client=retries.http_client(), **extra
        )

    def _emulator_address(self) -> tuple[str, str]:
        if self._emulator_url:
            return self._emulator_url, self._emulator_key or os.environ.get("PTC_EMULATOR_KEY", "")
        server = process_emulator()
        return server.url, server.api_key

    async def aclose(self) -> None:
        """Close the SDK clients of the running loop (they are made again when needed)."""
        per_loop = self._clients.pop(asyncio.get_running_loop(), None)
        if per_loop is not None:
            await per_loop.aclose()

    async def check_model(self, backend: Backend, model: str, client: Any = None) -> None:
        """Refuse up front, with a clear message, a model that cannot run PTC (once per model).

        Uses the Models API's `capabilities.code_execution` (code that can call the request's
        tools). When the check itself cannot be made (no Models API on this endpoint, a network
        error), the run goes ahead and the API decides. Never switches to the local sandbox by
        itself: the message offers it.
        """
        if (backend.name, model) in self._ptc_models:
            return
        try:
            info = await (client or self.client(backend)).models.retrieve(model)
        except anthropic.NotFoundError:
            raise ValueError(
                f"model {model!r} was not found; pass model=... / --model with a model "
                "that supports code execution (e.g. claude-opus-5-5)"
            ) from None
        except anthropic.APIError as exc:
            log.debug("model check for %s skipped: %s", model, exc)
            return
        support = getattr(getattr(info, "capabilities", None), "code_execution", None)
        if getattr(support, "supported", None) is False:
            raise ValueError(
                f"model {model!r} has no code execution that can call tools (server-side "
                "programmatic tool calling): run its scripts on this machine instead with "
                "sandbox='local' / %%ptc --sandbox local, or choose another model, or direct=True / "
                "--direct"
            )
        self._ptc_models.add((backend.name, model))

    def forget_backend(self, name: str) -> None:
        """Forget the container of one backend (e.g. after its server stopped)."""
        self.memories.pop(name, None)


class _LoopClients:
    """The clients of one event loop, closed when that loop shuts its async generators down."""

    def __init__(self) -> None:
        self.clients: dict[str, anthropic.AsyncAnthropic] = {}
        self._closer: AsyncGenerator[None, None] | None = None

    def get(self, key: str, make: Any) -> anthropic.AsyncAnthropic:
        client = self.clients.get(key)
        if client is None:
            client = self.clients[key] = make()
            if self._closer is None:
                self._closer = self._close_at_shutdown()
                asyncio.ensure_future(anext(self._closer))  # registers it with the loop
        return client

    async def _close_at_shutdown(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:  # the loop's shutdown_asyncgens() (or garbage collection) gets here
            await self.aclose()

    async def aclose(self) -> None:
        clients, self.clients = list(self.clients.values()), {}
        for client in clients:
            await client.close()


default_session = Session()
