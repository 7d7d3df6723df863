"""Asking before a side-effect tool runs, in whichever way works while a cell is running.

* await mode (the run is on the kernel's loop): Allow / Deny buttons in the live view; comm
  messages are handled during the cell, so the click arrives. No answer in time = deny.
* worker-thread fallback (autoawait off): the kernel's main thread is free to ask, so the
  question goes to it and it calls `input()` (the frontend's stdin box). An interrupt while it
  waits stops the run like any other.
* neither possible (nbclient/papermill, no frontend that takes input): deny, and say why in the
  trace. `--yes` / `%config PTCMagics.yes = True` approves everything, for unattended runs.

An approver is `async (call, tool) -> bool`; dispatch.py turns False into "denied by user".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable
from html import escape
from typing import Any

from .dispatch import Approver
from .render import preview
from .tools import Tool
from .trace import Run, ToolCall

NO_WAY_TO_ASK = ("side-effect call(s) denied: there is no way to ask for approval here (the frontend takes no "
                 "input and shows no live view); use %%ptc --yes or %config PTCMagics.yes = True for unattended runs")


def question(call: ToolCall, tool: Tool) -> str:
    return f"ptc: allow {tool.name}({preview(call.input, 300)}) [side effects]? [y/N] "


def _note(run_of: Callable[[], Run | None], message: str) -> None:
    """Put a note in the live run's notices, once."""
    run = run_of()
    if run is not None and message not in run.notices:
        run.notices.append(message)


def deny_all(run_of: Callable[[], Run | None], message: str = NO_WAY_TO_ASK) -> Approver:
    async def deny(call: ToolCall, tool: Tool) -> str:
        _note(run_of, message)
        return "(no way to ask for approval here; use --yes for unattended runs)"

    return deny


class WidgetApprover:
    """Allow / Deny buttons inside a widget box; each pending call gets a row. Await mode only:
    clicks are handled on the kernel's loop, the same thread this approver runs on."""

    def __init__(self, box: Any, *, timeout_s: float, run_of: Callable[[], Run | None]) -> None:
        self.box, self.timeout_s, self.run_of = box, timeout_s, run_of
        self.allow_rest = False
        self.pending: dict[str, asyncio.Future[bool]] = {}

    async def __call__(self, call: ToolCall, tool: Tool) -> bool | str:
        if self.allow_rest:
            return True
        import ipywidgets as W

        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending[call.id] = future
        label = W.HTML(f"<b>Allow</b> <code>{escape(tool.name)}</code>(<code>{escape(preview(call.input, 300))}"
                       "</code>)? <i>side effects</i>")
        buttons = [W.Button(description=d, button_style=s, layout=W.Layout(width="auto"))
                   for d, s in (("Allow", "success"), ("Deny", "danger"), ("Allow all in this run", ""))]
        row = W.HBox([label, *buttons])
        row.add_class("ptc-approval")

        def answer(value: bool, rest: bool = False) -> Callable[[Any], None]:
            def on_click(_button: Any) -> None:
                if rest:
                    self.allow_rest = True
                    for other in list(self.pending.values()):
                        if not other.done():
                            other.set_result(True)
                if not future.done():
                    future.set_result(value)
            return on_click

        buttons[0].on_click(answer(True))
        buttons[1].on_click(answer(False))
        buttons[2].on_click(answer(True, rest=True))
        self.box.children = (*self.box.children, row)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except asyncio.TimeoutError:
            _note(self.run_of, f"side-effect call {tool.name} denied: no answer within {self.timeout_s:g} s")
            return f"(no answer within {self.timeout_s:g} s)"
        finally:
            self.pending.pop(call.id, None)
            self.box.children = tuple(c for c in self.box.children if c is not row)
            row.close()
            for widget in (label, *buttons):
                widget.close()


class MainThreadAsker:
    """Fallback mode: the worker loop's approver hands the question to the waiting main thread,
    which asks through `input()` (ipykernel forwards it to the frontend's stdin box)."""

    DONE = object()

    def __init__(self, ask: Callable[[str], str] | None = None) -> None:
        self.ask = ask or input
        self.jobs: queue.Queue[Any] = queue.Queue()
        self.lock = asyncio.Lock()

    async def __call__(self, call: ToolCall, tool: Tool) -> bool:
        async with self.lock:  # one question at a time
            answer: concurrent.futures.Future[str] = concurrent.futures.Future()
            self.jobs.put((question(call, tool), answer))
            reply = await asyncio.wrap_future(answer)
        return reply.strip().lower() in ("y", "yes")

    def finished(self) -> None:
        """Called (from the worker) when the run is over, so `serve` returns at once."""
        self.jobs.put(self.DONE)

    def serve(self, done: threading.Event) -> None:
        """The main thread's wait: answer questions until the worker is done. KeyboardInterrupt
        (a kernel interrupt, also inside `input()`) propagates to the caller, which cancels the run."""
        while not done.is_set():
            try:
                job = self.jobs.get(timeout=0.5)
            except queue.Empty:
                continue
            if job is self.DONE:
                break
            prompt, answer = job
            if answer.set_running_or_notify_cancel():
                try:
                    answer.set_result(self.ask(prompt))
                except (EOFError, OSError, RuntimeError) as exc:  # no stdin after all: deny
                    answer.set_result(f"no ({type(exc).__name__})")
        done.wait()
