"""The live ipywidgets view of a running `%%ptc` cell, fed by the host's events.

Every step shows in order (Python highlighted, with its state; bash, editor and other steps as
the saved HTML shows them, `render.step_html`), a "Copy as cell" button per Python step, then
the calls, the Python streams, the output files (images inline, CSV/JSON as a small table, others
as name and size), the answer, a collapsed Wire section (each API round trip's JSON, the saved
HTML's `display/wire.py`) and a footer with usage and the estimated cost.

Events only mark what changed; the widgets are redrawn at most every `interval_s` of the loop's
clock (the loop the events come from), so a run of 10,000 calls sends a few updates a second,
not thousands. All widget changes happen on that one loop's thread (ipywidgets has no locking).
The root VBox carries the CSS class `ptc-live`.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as W

from ptc_jupyter.display.calls_table import table_html as calls_table_html
from ptc_jupyter.display.calls_table import table_rows
from ptc_jupyter.display.files import files_html
from ptc_jupyter.display.formatting import (
    format_bytes,
    format_cost,
    format_seconds,
    step_failed,
    step_label,
    step_state,
)
from ptc_jupyter.display.render import step_html
from ptc_jupyter.display.wire import wire_html
from ptc_jupyter.trace.clipping import clip
from ptc_jupyter.trace.events import (
    CallFinished,
    CallStarted,
    Event,
    FilesAdded,
    Notice,
    RequestSent,
    ResponseReceived,
    RunFinished,
    ScriptDraft,
    StepFinished,
    StepStarted,
    TextReceived,
)
from ptc_jupyter.trace.exchanges import legend, saved_exchanges
from ptc_jupyter.trace.run import Run
from ptc_jupyter.trace.saved_calls import TableLimits

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: The latest 60 calls, and up to 20 earlier failed ones.
TABLE_LIMITS = TableLimits(head=0, tail=60, failed=20, preview_chars=60)
CODE_CHARS = 20_000
STREAM_CHARS = 8_000
#: Output images up to this size show inline (as a data URI); larger ones by name and size.
INLINE_IMAGE_BYTES = 2_000_000
COPY_TOOLTIP = (
    "Script {n} into a new cell below this one when the run's cell ends (the last one clicked); "
    "its tool calls then run in this kernel"
)


def _shell() -> Any:
    """The running IPython shell, or None (no IPython import here)."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def _now() -> float:
    """The clock redraws are timed by: the running loop's (what `call_later` counts in), else monotonic."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


@functools.lru_cache(maxsize=32)  # redraws repeat the scripts already shown
def highlight_python(code: str) -> str:
    """Python as HTML with inline styles (no stylesheet needed); plain escaped text without pygments."""
    code = clip(code, CODE_CHARS)
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return f"<pre>{escape(code)}</pre>"
    return highlight(code, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))


class LiveView:
    """Widgets for one cell's run(s). Call it with each host event; `finish()` when done."""

    def __init__(self, *, max_calls: int, interval_s: float = 0.25, stoppable: bool = True) -> None:
        self.max_calls = max_calls
        self.interval_s = interval_s
        self.run: Run | None = None
        self.draft = ""  # the script Claude is writing, while a streamed response arrives
        self.phase = ""
        self.on_stop: Callable[[], None] | None = None
        self.flushes = 0
        self._handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._dirty: set[str] = set()
        self._closed = False

        self.status = W.HTML("<b>ptc</b>: starting…")
        self.stop_button = W.Button(
            description="Stop", icon="stop", button_style="danger", layout=W.Layout(width="auto")
        )
        if stoppable:
            self.stop_button.on_click(self._stop_clicked)
        else:
            self.stop_button.disabled = True
            self.stop_button.tooltip = "autoawait is off: interrupt the kernel to stop the run"
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="40%"))
        self.counts = W.HTML("")
        self.notices = W.HTML("")
        self.approvals = W.VBox([])
        self.script = W.HTML("")
        self.copy_buttons: dict[str, W.Button] = {}  # Python step id -> its "Copy as cell" button
        self.copy_row = W.HBox([])
        self.calls = W.HTML("")
        self.streams = W.HTML("")
        self.files = W.HTML("")
        self.answer = W.Output()
        self.wire = W.HTML("")
        self.wire_box = W.Accordion(children=[self.wire], selected_index=None)  # collapsed until opened
        self.wire_box.set_title(0, "Wire")
        self.footer = W.HTML("")
        self.widget = W.VBox(
            [
                W.HBox([self.status, self.stop_button]),
                W.HBox([self.progress, self.counts]),
                self.notices,
                self.approvals,
                self.script,
                self.copy_row,
                self.calls,
                self.streams,
                self.files,
                self.answer,
                self.wire_box,
                self.footer,
            ]
        )
        self.widget.add_class("ptc-live")

    # -- display ---------------------------------------------------------------------------------
    def bundle(self) -> dict[str, Any]:
        """What `display(..., raw=True)` shows while the run is live."""
        return {
            WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
            "text/plain": "ptc: running (live view)",
        }

    # -- events ----------------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        if event.run is not self.run:
            self._switch(event.run)
        if isinstance(event, ScriptDraft):
            self.draft = event.code
            self._dirty.add("script")
        elif isinstance(event, (StepStarted, StepFinished)):  # ScriptStarted/ScriptFinished too
            if isinstance(event, StepStarted) and event.step.kind == "python":
                self.draft = ""
            self._dirty.update(("script", "streams"))
        elif isinstance(event, FilesAdded):
            self._dirty.add("files")
        elif isinstance(event, (CallStarted, CallFinished)):
            self._dirty.add("calls")
        elif isinstance(event, TextReceived):
            self._dirty.add("answer")
        elif isinstance(event, Notice):
            self._dirty.add("notices")
        elif isinstance(event, (RequestSent, ResponseReceived)):
            self._dirty.update(("footer", "wire"))
        if isinstance(event, RunFinished):
            self._dirty.update(("answer", "notices", "footer", "calls", "streams", "files", "wire"))
            self.flush()
        else:
            self._schedule()

    def _switch(self, run: Run) -> None:
        if self.run is not None:  # --compare: the second run is the direct one
            self.phase = f"{run.mode} run (for the comparison)"
            self.answer.outputs = ()
        self.run = run
        self._dirty.update(("script", "calls", "streams", "files", "answer", "notices", "footer", "wire"))

    def _schedule(self) -> None:
        if self._handle is not None or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        delay = max(0.0, self._last_flush + self.interval_s - _now())
        self._handle = loop.call_later(delay, self.flush)

    def _stop_clicked(self, _button: Any) -> None:
        if self.stop_button.disabled:  # already stopping, or the run is over
            return
        self.stop_button.disabled = True
        self.stop_button.description = "Stopping…"
        if self.on_stop is not None:
            self.on_stop()

    # -- drawing ---------------------------------------------------------------------------------
    def flush(self) -> None:
        """Redraw what changed since the last flush."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        run = self.run
        if run is None or self._closed:
            return
        self._last_flush = _now()
        self.flushes += 1
        dirty, self._dirty = self._dirty, set()
        self._draw_status(run)
        if "script" in dirty:
            self.script.value = steps_html(run, self.draft)
            self._draw_copy_buttons(run)
        if "calls" in dirty:
            self.calls.value = calls_table(run)
        if "streams" in dirty:
            self.streams.value = streams_html(run)
        if "files" in dirty:
            self.files.value = live_files_html(run)
        if "notices" in dirty:
            self.notices.value = "".join(f"<div style='line-height:1.4'>note: {escape(n)}</div>" for n in run.notices)
        if "answer" in dirty and run.text:
            self.answer.outputs = (
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {"text/markdown": run.text, "text/plain": run.text},
                },
            )
        if "wire" in dirty:
            self.wire.value = wire_section(run)
            self.wire_box.set_title(
                0, f"Wire ({len(run.exchanges):,} round trip{'s' if len(run.exchanges) != 1 else ''})"
            )
        if "footer" in dirty:
            self.footer.value = footer_html(run)

    def _draw_status(self, run: Run) -> None:
        done = sum(1 for c in run.calls if c.done)
        failed = len(run.errors)
        pending = len(run.calls) - done
        state = {"running": "running", "completed": "done", "cancelled": "cancelled", "error": "failed"}[run.status]
        phase = f" · {escape(self.phase)}" if self.phase else ""
        self.status.value = (
            f"<b>ptc</b> · {state}{phase} · {format_seconds(run.elapsed_s() if run.status == 'running' else run.wall_s)}"
            f" · {escape(run.backend)}"
        )
        self.progress.max = max(1, len(run.calls))
        self.progress.value = done
        self.progress.bar_style = "danger" if failed else ("success" if run.status == "completed" else "info")
        err = f' · <span style="color:#b00020">{failed:,} failed</span>' if failed else ""
        self.counts.value = f"&nbsp;{done:,} done · {pending:,} pending{err} · budget {self.max_calls:,} calls"

    def _draw_copy_buttons(self, run: Run) -> None:
        """A "Copy as cell" button for each Python step that has its code (disabled outside IPython)."""
        python = [step for step in run.steps if step.kind == "python"]
        for n, step in enumerate(python, 1):
            if step.id in self.copy_buttons or not step.code:
                continue
            button = W.Button(
                description="Copy as cell", icon="copy", layout=W.Layout(width="auto"), tooltip=COPY_TOOLTIP.format(n=n)
            )
            button.on_click(functools.partial(self._copy_clicked, run, n))
            if _shell() is None:
                button.disabled = True
                button.tooltip = "needs IPython: %ptc_script puts a script into a cell"
            self.copy_buttons[step.id] = button
        buttons = list(self.copy_buttons.values())
        if len(python) > 1:  # name the script once there are several
            number = {step.id: n for n, step in enumerate(python, 1)}
            for step_id, button in self.copy_buttons.items():
                button.description = f"Copy script {number.get(step_id, '?')} as cell"
        if tuple(buttons) != self.copy_row.children:
            self.copy_row.children = tuple(buttons)

    def _copy_clicked(self, run: Run, n: int, button: Any) -> None:
        """`set_next_input`: the frontend puts script `n` below the running cell when it ends."""
        shell = _shell()
        if shell is None or button.disabled:
            return
        from ptc_jupyter.notebook.script_cell import (
            cell_source,  # the dispatcher and tools, only when asked for
        )

        shell.set_next_input(cell_source(run, n), replace=False)
        for other in self.copy_buttons.values():  # one cell comes below: the last one clicked
            other.button_style = ""
        button.button_style = "success"

    def finish(self) -> None:
        """Final redraw; the Stop button goes away."""
        self._dirty.update(("script", "calls", "streams", "files", "answer", "notices", "footer", "wire"))
        self.flush()
        self.stop_button.disabled = True
        self.stop_button.layout.display = "none"

    def close(self) -> None:
        """Close every widget (after the display was replaced by the static trace)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._closed = True
        for child in (
            self.answer,
            self.footer,
            self.wire,
            self.wire_box,
            self.files,
            self.streams,
            self.calls,
            *self.copy_buttons.values(),
            self.script,
            self.approvals,
            self.notices,
            self.counts,
            self.progress,
            self.stop_button,
            self.status,
        ):
            child.close()
        for box in self.widget.children:
            box.close()
        self.widget.close()


def calls_table(run: Run) -> str:
    """The live calls table (HTML): the saved view's table, with the live view's limits, scrolling."""
    if not run.calls:
        return ""
    # ipywidgets' HTML sets a 28 px line height (one widget row); a table wants its own
    return (
        f"<div style='max-height:24em;overflow:auto;line-height:1.35'>"
        f"{calls_table_html(table_rows(run.calls, TABLE_LIMITS))}</div>"
    )


def steps_html(run: Run, draft: str = "") -> str:
    """Every step in order: Python highlighted under `Script k` with its state; the others as the
    saved HTML shows them; the script being written, if any, last."""
    parts, k = [], 0
    for step in run.steps:
        if step.kind == "python":
            k += 1
            state = "running…" if not step.finished else step_state(step)
            color = "#b00020" if step_failed(step) else "inherit"
            where = " (local)" if step.local else ""
            parts.append(
                f"<div><b>Script {k}</b>{where} · <span style='color:{color}'>{escape(state)}</span></div>"
                f"{highlight_python(step.code)}"
            )
        else:
            body = step_html(step, step_label(step), open_=True, live=True)
            parts.append(f"<div style='line-height:1.35'>{body}</div>")
    if draft:
        parts.append(f"<div><b>Script {k + 1}</b> <i>(being written…)</i></div>{highlight_python(draft)}")
    return "".join(parts)


def streams_html(run: Run) -> str:
    """The streams of the Python steps (`script k stdout`); a stdout that came back encrypted says so."""
    parts, k = [], 0
    for step in run.steps:
        if step.kind != "python":
            continue
        k += 1
        stdout = "(encrypted)" if step.encrypted else step.stdout
        for label, text in (("stdout", stdout), ("stderr", step.stderr)):
            if text:
                color = "color:#b00020;" if label == "stderr" else ""
                parts.append(
                    f"<div>script {k} {label}</div><pre style='{color}max-height:16em;overflow:auto;"
                    f"white-space:pre-wrap;line-height:1.35'>{escape(clip(text, STREAM_CHARS))}</pre>"
                )
    return "".join(parts)


def live_files_html(run: Run) -> str:
    """The output files: images inline (up to INLINE_IMAGE_BYTES), tables previewed, the rest listed."""
    if not run.files:
        return ""
    body = files_html(run.files, [len(f.data or b"") <= INLINE_IMAGE_BYTES for f in run.files])
    return f"<div style='line-height:1.35'><b>Files ({len(run.files)})</b>{body}</div>"


def wire_section(run: Run) -> str:
    """The run's round trips so far, as the saved trace keeps them (the first and the last ones)."""
    saved, omitted = saved_exchanges(run.exchanges, run.exchanges_omitted)
    trace = {"exchanges": saved, "exchanges_omitted": omitted, "wire_legend": legend(saved)}
    return wire_html(trace, open_=True)


def footer_html(run: Run) -> str:
    usage = " · ".join(f"{escape(k.replace('_', ' '))} {v:,}" for k, v in run.usage.items() if isinstance(v, int) and v)
    parts = [f"round trips {run.requests}", f"context from tools {format_bytes(run.context_bytes)}"]
    if usage:
        parts.append(usage)
    if run.container_id:
        parts.append(f"container <code>{escape(run.container_id)}</code>")
    parts.append(f"<span class='ptc-cost'>cost {escape(format_cost(run.cost))}</span>")
    return f"<div style='opacity:.75'>{' · '.join(parts)}</div>"
