"""Asking before a side-effect tool runs, in whichever way works while a cell is running.

* await mode (the run is on the kernel's loop): Allow / Deny buttons in the live view; comm
  messages are handled during the cell, so the click arrives. No answer in time = deny.
* worker-thread fallback (autoawait off): the kernel's main thread is free to ask, so the
  question goes to it and it calls `input()` (the frontend's stdin box). An interrupt while it
  waits stops the run like any other.
* neither possible (nbclient/papermill, no frontend that takes input): deny, and say why in the
  trace (`calls.approval.deny_all`).

The questions and the run's allowances are shared with plain Python's terminal (calls/approval.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable
from html import escape
from typing import Any

from ptc_jupyter.calls.approval import INPUT_PREVIEW_CHARS, SCRIPT_PREVIEW_CHARS, RunAllowances, TextAsker, note
from ptc_jupyter.calls.dispatch import Decisions
from ptc_jupyter.calls.tools import Tool
from ptc_jupyter.trace.clipping import clip, preview
from ptc_jupyter.trace.run import Run, ToolCall


class WidgetApprover(RunAllowances):
    """Allow / Deny buttons inside a widget box; each pending call gets a row, a batch of calls one
    group of rows. Await mode only: clicks are handled on the kernel's loop, the same thread this
    approver runs on."""

    def __init__(self, box: Any, *, timeout_s: float, run_of: Callable[[], Run | None]) -> None:
        super().__init__()
        self.box, self.timeout_s, self.run_of = box, timeout_s, run_of
        self.pending: dict[str, asyncio.Future[bool]] = {}

    async def __call__(self, call: ToolCall, tool: Tool) -> bool | str:
        if self.allowed_already(call):
            return True
        import ipywidgets as W

        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending[call.id] = future
        label = W.HTML(
            f"<b>Allow</b> <code>{escape(tool.name)}</code>(<code>"
            f"{escape(preview(call.input, INPUT_PREVIEW_CHARS))}</code>)? <i>side effects</i>"
        )
        buttons = [
            W.Button(description=d, button_style=s, layout=W.Layout(width="auto"))
            for d, s in (("Allow", "success"), ("Deny", "danger"), ("Allow all in this run", ""))
        ]
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
            note(self.run_of, f"side-effect call {tool.name} denied: no answer within {self.timeout_s:g} s")
            return f"(no answer within {self.timeout_s:g} s)"
        finally:
            self.pending.pop(call.id, None)
            self.box.children = tuple(c for c in self.box.children if c is not row)
            row.close()
            for widget in (label, *buttons):
                widget.close()

    async def _ask_batch(self, calls: list[ToolCall]) -> Decisions:
        """One group: the script (collapsed), a row per call with its Allow/Deny choice, and the
        buttons Allow all / Deny all / Apply / Allow TOOL for this run."""
        import ipywidgets as W

        future: asyncio.Future[Decisions] = asyncio.get_running_loop().create_future()
        header = W.HTML(self._batch_header(calls))
        labels = [
            W.HTML(f"[{n}] <code>{escape(c.name)}</code>(<code>{escape(preview(c.input, INPUT_PREVIEW_CHARS))}</code>)")
            for n, c in enumerate(calls, 1)
        ]
        choices = [
            W.ToggleButtons(options=("Allow", "Deny"), value="Deny", style={"button_width": "auto"}) for _ in calls
        ]
        rows = [W.HBox([label, choice]) for label, choice in zip(labels, choices)]
        auto = W.Layout(width="auto")
        allow_all = W.Button(description="Allow all", button_style="success", layout=auto)
        deny_all_ = W.Button(description="Deny all", button_style="danger", layout=auto)
        apply = W.Button(
            description="Apply",
            button_style="primary",
            layout=auto,
            tooltip="allow the calls set to Allow above, deny the others",
        )
        tool_names = list(dict.fromkeys(c.name for c in calls))
        per_tool = [
            W.Button(
                description=f"Allow {name} for this run",
                layout=auto,
                tooltip=f"allow every {name} call, now and for the rest of this run; the other calls as chosen above",
            )
            for name in tool_names
        ]
        button_row = W.HBox([allow_all, deny_all_, apply, *per_tool])
        group = W.VBox([header, *rows, button_row])
        group.add_class("ptc-approval")
        group.add_class("ptc-approval-batch")

        def settle(allowed: Callable[[int, ToolCall], bool]) -> None:
            if not future.done():
                future.set_result({c.id: allowed(n, c) for n, c in enumerate(calls)})

        def chosen(n: int, _call: ToolCall) -> bool:
            return choices[n].value == "Allow"

        def allow_tool(name: str) -> Callable[[Any], None]:
            def on_click(_button: Any) -> None:
                if future.done():
                    return
                self.allowed_tools.add(name)
                settle(lambda n, c: c.name == name or chosen(n, c))

            return on_click

        allow_all.on_click(lambda _b: settle(lambda n, c: True))
        deny_all_.on_click(lambda _b: settle(lambda n, c: False))
        apply.on_click(lambda _b: settle(chosen))
        for name, button in zip(tool_names, per_tool):
            button.on_click(allow_tool(name))
        self.box.children = (*self.box.children, group)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except asyncio.TimeoutError:
            note(self.run_of, f"{len(calls)} side-effect calls denied: no answer within {self.timeout_s:g} s")
            return {c.id: f"(no answer within {self.timeout_s:g} s)" for c in calls}
        finally:
            self.box.children = tuple(c for c in self.box.children if c is not group)
            for widget in (group, header, *rows, *labels, *choices, button_row, allow_all, deny_all_, apply, *per_tool):
                widget.close()

    def _batch_header(self, calls: list[ToolCall]) -> str:
        """ "Allow N side-effect calls from script K?" and each script's code, collapsed."""
        run = self.run_of()
        python = [s for s in run.steps if s.kind == "python"] if run is not None else []
        scripts = []
        for script_id in dict.fromkeys(c.script_id for c in calls if c.script_id):
            k, step = next(((k, s) for k, s in enumerate(python, 1) if s.id == script_id), (None, None))
            name = f"script {k}" if k else f"script {script_id}"
            code = step.code if step is not None else ""
            body = (
                (
                    f"<pre style='max-height:16em;overflow:auto;line-height:1.35;margin:0'>"
                    f"{escape(clip(code, SCRIPT_PREVIEW_CHARS))}</pre>"
                )
                if code
                else " (its code is not known)"
            )
            scripts.append(
                (name, f"<details style='line-height:1.35'><summary>{escape(name)}</summary>{body}</details>")
            )
        source = f" from {', '.join(name for name, _ in scripts)}" if scripts else ""
        return f"<b>Allow</b> {len(calls)} side-effect calls{escape(source)}? <i>side effects</i>" + "".join(
            html for _, html in scripts
        )


class MainThreadAsker(TextAsker):
    """Fallback mode: the worker loop's approver hands the question to the waiting main thread,
    which asks through `input()` (ipykernel forwards it to the frontend's stdin box)."""

    DONE = object()

    def __init__(self, ask: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.input = ask or input
        self.jobs: queue.Queue[Any] = queue.Queue()
        self.lock = asyncio.Lock()

    async def ask(self, prompt: str) -> str | None:
        async with self.lock:  # one question at a time
            answer: concurrent.futures.Future[str | None] = concurrent.futures.Future()
            self.jobs.put((prompt, answer))
            return await asyncio.wrap_future(answer)

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
                    answer.set_result(self.input(prompt))
                except (EOFError, OSError, RuntimeError):  # no stdin after all: deny
                    answer.set_result(None)
        done.wait()
