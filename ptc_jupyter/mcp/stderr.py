"""The tail of a stdio MCP server's stderr: kept for error messages, never printed to the kernel's terminal.

A server that fails usually says why on stderr just before it exits; that text is the most useful
part of the error the user sees, so messages are written once the pipe has been read to its end
(`wait_closed`), not at whichever moment the failure showed first.
"""

from __future__ import annotations

import asyncio
import os
from typing import TextIO

STDERR_KEEP_BYTES = 16_000
STDERR_SHOWN_LINES = 12
STDERR_SHOWN_CHARS = 1_200


class StderrTail(asyncio.Protocol):
    """The last bytes a server wrote to stderr, read from a pipe on the loop (bounded memory)."""

    def __init__(self, keep_bytes: int = STDERR_KEEP_BYTES) -> None:
        self.keep_bytes = keep_bytes
        self.data = bytearray()
        self.closed = asyncio.Event()  # the write end closed: the process (and its children) exited
        self._transport: asyncio.BaseTransport | None = None

    async def open(self) -> TextIO:
        """Start reading; returns the write end (a file) to hand to the child, to close once it is spawned."""
        read_fd, write_fd = os.pipe()
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await loop.connect_read_pipe(lambda: self, os.fdopen(read_fd, "rb", buffering=0))
        except BaseException:
            os.close(write_fd)
            raise
        return os.fdopen(write_fd, "w")

    def data_received(self, data: bytes) -> None:
        self.data += data
        if len(self.data) > self.keep_bytes:
            del self.data[: len(self.data) - self.keep_bytes]

    def eof_received(self) -> bool | None:
        self.closed.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    async def wait_closed(self, timeout_s: float) -> bool:
        """Wait at most `timeout_s` for the end of the pipe; whether it came (all of stderr is read)."""
        if not self.closed.is_set() and timeout_s > 0:
            try:
                await asyncio.wait_for(self.closed.wait(), timeout_s)
            except asyncio.TimeoutError:  # a child of the server may still hold the pipe open
                return False
        return self.closed.is_set()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def text(self, lines: int = STDERR_SHOWN_LINES, chars: int = STDERR_SHOWN_CHARS) -> str:
        tail = bytes(self.data).decode("utf-8", errors="replace").rstrip()
        kept = "\n".join(tail.splitlines()[-lines:])
        return kept if len(kept) <= chars else "…" + kept[-chars:]
