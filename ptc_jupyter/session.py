"""Which backend a run talks to (the real API or the offline emulator), its clients, its container.

A key in ANTHROPIC_API_KEY means the real API through the SDK (which honours ANTHROPIC_BASE_URL);
no key, `offline=True` or PTC_JUPYTER_OFFLINE=1 means the local emulator, started once per process
on 127.0.0.1. The container id is remembered per backend so a notebook keeps its REPL state.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import anthropic

from .host import ContainerMemory

log = logging.getLogger(__name__)

ANTHROPIC = "anthropic"
EMULATOR = "offline-emulator"
OFFLINE_NOTICE = (
    "offline ({reason}): the local emulator plays Claude, running the prompt's ```python block "
    "as Claude's script"
)

_emulator_lock = threading.Lock()
_emulator: Any = None


def offline_requested(offline: bool | None = None) -> bool:
    if offline is not None:
        return bool(offline)
    if os.environ.get("PTC_JUPYTER_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return not os.environ.get("ANTHROPIC_API_KEY")


def emulator_url() -> str:
    """Start the process-wide emulator on first use; it stops when the process exits."""
    global _emulator
    with _emulator_lock:
        if _emulator is None:
            from .emulator import EmulatorServer

            server = EmulatorServer()
            server.start()
            atexit.register(server.stop)
            _emulator = server
        return _emulator.url


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
class Backend:
    name: str
    notice: str | None = None


class Session:
    """Backend choice, one SDK client per event loop, and the container memory of each backend."""

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None, max_retries: int = 2,
                 emulator_url: str | None = None) -> None:
        """`api_key`/`base_url` default to the SDK's environment variables; `emulator_url` points offline
        runs at a given emulator instead of the process-wide one."""
        self._api_key = api_key
        self._base_url = base_url
        self._emulator_url = emulator_url
        self._max_retries = max_retries
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, anthropic.AsyncAnthropic]]
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
        per_loop = self._clients.setdefault(loop, {})
        if backend.name == EMULATOR:  # keyed by URL: a restarted emulator gets fresh clients
            url = self._emulator_url or emulator_url()
            if url not in per_loop:
                per_loop[url] = anthropic.AsyncAnthropic(api_key="offline-emulator", base_url=url,
                                                         max_retries=self._max_retries)
            return per_loop[url]
        if backend.name not in per_loop:
            per_loop[backend.name] = anthropic.AsyncAnthropic(
                api_key=self._api_key, base_url=self._base_url, max_retries=self._max_retries
            )
        return per_loop[backend.name]

    async def check_model(self, backend: Backend, model: str) -> None:
        """Refuse up front, with a clear message, a model that cannot run PTC (once per model).

        Uses the Models API's `capabilities.code_execution` (code that can call the request's
        tools). When the check itself cannot be made, the run goes ahead and the API decides.
        """
        if (backend.name, model) in self._ptc_models:
            return
        try:
            info = await self.client(backend).models.retrieve(model)
        except anthropic.NotFoundError:
            raise ValueError(f"model {model!r} was not found; pass model=... / --model with a model "
                             "that supports code execution (e.g. claude-opus-5-5)") from None
        except anthropic.APIError as exc:
            log.debug("model check for %s skipped: %s", model, exc)
            return
        support = getattr(getattr(info, "capabilities", None), "code_execution", None)
        if getattr(support, "supported", None) is False:
            raise ValueError(f"model {model!r} cannot run programmatic tool calling (its code execution "
                             "cannot call tools); choose another model, or direct=True / --direct")
        self._ptc_models.add((backend.name, model))

    def forget_backend(self, name: str) -> None:
        """Forget the container of one backend (e.g. after its server stopped)."""
        self.memories.pop(name, None)


default_session = Session()
