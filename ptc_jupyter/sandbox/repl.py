"""Inside a sandbox: a persistent Python REPL that runs one script at a time.

The parent (`process.py`) starts this as a subprocess, by file path, so no package import is paid
(`python -m ptc_jupyter.sandbox.repl` works too). It talks to the parent in JSON lines over private
copies of fds 0 and 1, then points fds 0 and 1 at /dev/null: nothing a script prints or reads can
reach the protocol. Standard library only, so a spare process starts in a few tens of milliseconds.

Options: `--workdir DIR` (removed when the channel closes: if the parent dies without killing this
process, the directory still goes), `--memory-bytes N` (RLIMIT_DATA on Linux 4.7+, RLIMIT_AS
elsewhere: a larger allocation raises MemoryError), `--no-network` (a network namespace of its own
on Linux, via unshare(2), with a user namespace when not root). On Linux the process is also a
child subreaper, so what a script starts stays among its descendants, for the parent to count and
kill. A copy made by `os.fork()` in a script never speaks on the channel and exits when its script ends.

The channel's messages are listed in `process.py`, the parent's side of it.

A script runs as top-level code on this process's running event loop (top-level `await` works); a
module-level `asyncio.run(main())`, which would refuse a running loop, runs as `await (main())`
(`event_loop_calls.py`). A tool function takes one dict, keyword arguments, or both; a lone string
for the tools the "run" message lists under "positional" (`arguments.py`).

"blocked" is sent once the event loop has gone QUIET_ITERATIONS iterations without a new tool
call after a call or a delivery of results: calls issued together (asyncio.gather) leave in one
batch, and the parent learns within microseconds that the script now waits on its calls.

"interrupt" ends the script with `reason` as its stderr and return code 1, keeping the REPL state:
the reader thread sends this process SIGUSR1, whose handler raises `CellTimeout` if the script is
on the stack (a busy loop, a blocking call); otherwise the loop cancels the script's task at its
next await. A script that swallows both is left to the parent, which replaces the process.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import inspect
import io
import json
import linecache
import os
import secrets
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

#: Loop iterations without a new call before the calls so far are reported as one batch.
QUIET_ITERATIONS = 8
LIMITS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "os_limits.py")
LOOP_CALLS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "event_loop_calls.py")
#: Captured stdout/stderr beyond this many UTF-8 bytes per run is dropped with a marker (unless the
#: run says otherwise).
OUTPUT_LIMIT_BYTES = 1_000_000


class CellTimeout(BaseException):
    """Raised in the script when the parent interrupts it (the cell limit passed)."""


def _script_on_stack(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<script "):
            return True
        frame = frame.f_back
    return False


class _Capture(io.TextIOBase):
    """A text stream that keeps what a script writes, up to `limit_bytes` of UTF-8."""

    def __init__(self, limit_bytes: int = OUTPUT_LIMIT_BYTES) -> None:
        self._parts: list[str] = []
        self._room = limit_bytes
        self._dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        data = text.encode("utf-8", "surrogatepass")
        if len(data) <= self._room:
            self._parts.append(text)
            self._room -= len(data)
        else:
            kept = data[: max(self._room, 0)].decode("utf-8", "ignore")
            kept_size = len(kept.encode("utf-8", "surrogatepass"))
            self._parts.append(kept)
            self._dropped += len(data) - kept_size
            self._room = 0
        return len(text)

    @property
    def truncated(self) -> bool:
        return self._dropped > 0

    def value(self) -> str:
        text = "".join(self._parts)
        if self._dropped:
            text += f"\n[... {self._dropped} more bytes not kept]\n"
        return text


class Bridge:
    """Turns tool calls made by the script into batches for the parent, and results into returns."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Callable[[dict], None]) -> None:
        self.loop = loop
        self.send = send
        self.run_id: int | None = None
        self.deadline_s: float | None = None
        self.ack = 0
        self._futures: dict[str, tuple[asyncio.Future, str, asyncio.TimerHandle | None]] = {}
        self._new_calls: list[dict] = []
        self._quiet = 0
        self._ticking = False

    def start(self, run_id: int, deadline_s: float | None, ack: int) -> None:
        self.run_id, self.deadline_s, self.ack = run_id, deadline_s, ack
        self._new_calls = []
        self.kick()

    def finish(self) -> None:
        """The script ended: calls still open belong to nobody now."""
        self.run_id = None
        self._new_calls = []
        for fut, _name, timer in self._futures.values():
            if timer:
                timer.cancel()
            fut.cancel()
        self._futures.clear()

    async def call(self, name: str, payload: dict) -> str:
        if self.run_id is None:
            raise RuntimeError(f"{name}() can only be called while a script of this turn is running")
        json.dumps(payload)  # a TypeError here is clearer than one in the parent
        call_id = "toolu_" + secrets.token_hex(12)
        fut = self.loop.create_future()
        timer = None
        if self.deadline_s is not None:
            timer = self.loop.call_later(self.deadline_s, self._expire, call_id)
        self._futures[call_id] = (fut, name, timer)
        self._new_calls.append({"id": call_id, "name": name, "input": payload})
        self.kick()
        return await fut

    def resolve(self, results: list[dict], ack: int) -> None:
        self.ack = ack
        for result in results:
            entry = self._futures.pop(result["id"], None)
            if entry is None:  # timed out already: late results are ignored
                continue
            fut, _name, timer = entry
            if timer:
                timer.cancel()
            if not fut.done():
                fut.set_result(result["content"])
        self.kick()

    def _expire(self, call_id: str) -> None:
        entry = self._futures.pop(call_id, None)
        if entry is None:
            return
        fut, name, _timer = entry
        self._new_calls = [c for c in self._new_calls if c["id"] != call_id]
        self.send({"ev": "expired", "run_id": self.run_id, "ids": [call_id]})
        if not fut.done():
            fut.set_exception(
                TimeoutError(f"Calling tool [{name!r}] timed out (no response after {self.deadline_s:g}s)")
            )
        self.kick()

    def kick(self) -> None:
        """Something happened: report a batch once the loop has been quiet for a while."""
        self._quiet = 0
        if not self._ticking:
            self._ticking = True
            self.loop.call_soon(self._tick)

    def _tick(self) -> None:
        self._quiet += 1
        if self._quiet < QUIET_ITERATIONS:
            self.loop.call_soon(self._tick)
            return
        self._ticking = False
        if self.run_id is None:
            return
        calls, self._new_calls = self._new_calls, []
        self.send({"ev": "blocked", "run_id": self.run_id, "ack": self.ack, "calls": calls})


def make_tool(bridge: Bridge, name: str, string_parameter: str | None = None) -> Callable[..., Any]:
    """The script-side function for one tool: one dict of arguments and/or keyword arguments, or
    a lone string when the tool has `string_parameter` for it (see arguments.py)."""

    async def tool(args: dict | None = None, /, **kwargs: Any) -> str:
        if args is None:
            payload = dict(kwargs)
        elif isinstance(args, dict):
            payload = {**args, **kwargs}
        elif isinstance(args, str) and not kwargs and string_parameter is not None:
            payload = {string_parameter: args}
        else:
            raise TypeError(f"{name}() takes one dict of arguments or keyword arguments, not {type(args).__name__}")
        return await bridge.call(name, payload)

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = f"Call the client tool {name!r}; returns its result text."
    tool._ptc_tool = True  # type: ignore[attr-defined]
    return tool


class Repl:
    """The persistent namespace and the one script running in it."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, send: Callable[[dict], None], memory_bytes: int | None = None
    ) -> None:
        self.loop = loop
        self.send = send
        self.memory_bytes = memory_bytes
        self.bridge = Bridge(loop, send)
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.task: asyncio.Task | None = None
        self.runs = 0
        self.interrupt: tuple[int, str] | None = None  # (run_id, reason) of an interrupt asked for

    def request_interrupt(self, run_id: int, reason: str) -> None:
        """From the reader thread: stop the script even if it never yields to the loop."""
        self.interrupt = (run_id, reason)
        os.kill(os.getpid(), signal.SIGUSR1)

    def on_signal(self, _signum: int, frame: Any) -> None:
        pending = self.interrupt
        if pending is not None and pending[0] == self.bridge.run_id and _script_on_stack(frame):
            self.interrupt = None  # once: a script that swallows it is the parent's problem
            raise CellTimeout(pending[1])

    def _interrupt_reason(self) -> str | None:
        pending = self.interrupt
        return pending[1] if pending is not None and pending[0] == self.bridge.run_id else None

    def handle(self, line: bytes) -> None:
        if not line.strip():
            return
        msg = json.loads(line)
        op = msg["op"]
        if op == "run":
            self._start(msg)
        elif op == "results" and msg["run_id"] == self.bridge.run_id:
            self.bridge.resolve(msg["results"], msg["ack"])
        elif op in ("cancel", "interrupt") and self.task is not None and msg["run_id"] == self.bridge.run_id:
            self.task.cancel()

    def _start(self, msg: dict) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        LIMITS.reap_children()
        self.interrupt = None
        for key, value in list(self.namespace.items()):
            if getattr(value, "_ptc_tool", False):
                del self.namespace[key]
        positional = msg.get("positional") or {}
        for name in msg["tools"]:
            self.namespace[name] = make_tool(self.bridge, name, positional.get(name))
        self.bridge.start(msg["run_id"], msg.get("deadline_s"), msg.get("ack", 0))
        limit = msg.get("output_limit_bytes") or OUTPUT_LIMIT_BYTES
        self.task = self.loop.create_task(self._run(msg["run_id"], msg["code"], limit))

    async def _run(self, run_id: int, code_text: str, output_limit_bytes: int) -> None:
        owner = os.getpid()
        self.runs += 1
        filename = f"<script {self.runs}>"
        linecache.cache[filename] = (len(code_text), None, code_text.splitlines(True), filename)
        out, err = _Capture(output_limit_bytes), _Capture(output_limit_bytes)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            return_code = await self._execute(code_text, filename, err)
        finally:
            sys.stdout, sys.stderr = saved
            if self.bridge.run_id == run_id:
                self.bridge.finish()
        if os.getpid() != owner:  # a copy made by os.fork() in the script: its script is over
            os._exit(return_code if 0 <= return_code < 256 else 1)
        try:
            self.send(
                {
                    "ev": "done",
                    "run_id": run_id,
                    "stdout": out.value(),
                    "stderr": err.value(),
                    "return_code": return_code,
                    "truncated": out.truncated or err.truncated,
                }
            )
        except MemoryError:  # what the script left in the REPL's namespace fills the memory
            self.send(
                {
                    "ev": "done",
                    "run_id": run_id,
                    "stdout": "",
                    "return_code": return_code or 1,
                    "stderr": "MemoryError: the output could not be kept",
                    "truncated": True,
                }
            )

    async def _execute(self, code_text: str, filename: str, err: _Capture) -> int:
        try:
            # `asyncio.run(main())` at module level runs as `await (main())`: this loop already runs.
            source = LOOP_CALLS.await_loop_calls(code_text)
            code = compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, self.namespace)  # noqa: S307 - running the script is the point
            if inspect.iscoroutine(result):
                await result
            return 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                return exc.code or 0
            print(exc.code, file=err)
            return 1
        except CellTimeout as exc:
            print(exc.args[0], file=err)
            return 1
        except asyncio.CancelledError:
            print(self._interrupt_reason() or "The script was cancelled.", file=err)
            return 1
        except BaseException as exc:  # the script's own failure, reported like a traceback
            try:
                _print_script_traceback(exc, err)
            except MemoryError:
                err.write(f"{type(exc).__name__}: {exc}\n")
            if isinstance(exc, MemoryError) and self.memory_bytes:
                err.write(f"The sandbox's memory limit is {self.memory_bytes / 2**20:g} MiB per process.\n")
            return 1


def _print_script_traceback(exc: BaseException, err: _Capture) -> None:
    """Print the traceback from the script's first frame on, as Python would for a script."""
    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<script"):
        tb = tb.tb_next
    if tb is None and not isinstance(exc, SyntaxError):
        tb = exc.__traceback__
    err.write("".join(traceback.format_exception(type(exc), exc, tb)))


async def _serve(
    proto_in: io.BufferedReader, proto_out: io.BufferedWriter, enforced: dict[str, bool], memory_bytes: int | None
) -> None:
    loop = asyncio.get_running_loop()
    closed = loop.create_future()
    lock = threading.Lock()
    owner = os.getpid()

    def send(msg: dict) -> None:
        if os.getpid() != owner:  # a copy made by os.fork() in a script never speaks on the channel
            return
        data = json.dumps(msg).encode() + b"\n"
        with lock:
            try:
                proto_out.write(data)
                proto_out.flush()
            except (BrokenPipeError, ValueError):  # the parent is gone: the reader sees EOF and ends us
                pass

    repl = Repl(loop, send, memory_bytes)
    signal.signal(signal.SIGUSR1, repl.on_signal)

    def read_forever() -> None:
        for line in proto_in:
            if b'"interrupt"' in line:
                msg = json.loads(line)
                if msg.get("op") == "interrupt":
                    repl.request_interrupt(msg["run_id"], msg["reason"])
            loop.call_soon_threadsafe(repl.handle, line)
        loop.call_soon_threadsafe(closed.set_result, None)

    threading.Thread(target=read_forever, name="ptc-repl-reader", daemon=True).start()
    send({"ev": "ready", "pid": owner, "enforced": enforced})
    await closed


def _load_module(name: str, path: str) -> Any:
    """A module beside this file, loaded by path: this file may run outside its package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


LIMITS: Any = None  # os_limits.py, loaded by main()
LOOP_CALLS: Any = None  # event_loop_calls.py, loaded by main()


def main() -> None:
    global LIMITS, LOOP_CALLS
    LIMITS = _load_module("ptc_sandbox_os_limits", LIMITS_PATH)
    LOOP_CALLS = _load_module("ptc_sandbox_event_loop_calls", LOOP_CALLS_PATH)
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # run by path: the package's own folder is not the script's import root
    argv = sys.argv[1:]
    workdir = _option(argv, "--workdir")
    memory = _option(argv, "--memory-bytes")
    memory_bytes = int(memory) if memory else None
    enforced = LIMITS.apply(memory_bytes=memory_bytes, network="--no-network" not in argv)
    proto_in, proto_out = LIMITS.take_protocol_fds()
    try:
        asyncio.run(_serve(proto_in, proto_out, enforced, memory_bytes))
    finally:
        if workdir is not None:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
        os._exit(0)  # the parent closed the channel: leave at once, whatever the script left running


if __name__ == "__main__":
    main()
