"""One `%%ptc` cell being run: its display, approvals, the run itself, and the lasting output.

How a cell runs (see shared/kernel-mechanics.md):
* await path: an input transformer turns a `%%ptc` cell into `await ...run_cell_magic('ptc_async', ...)`,
  so the run is a coroutine on the kernel's own loop: widget clicks (Stop, Allow/Deny) arrive during
  the run, and an interrupt cancels it (a 100 ms ticker keeps the loop awake so that takes < 1 s).
* fallback (autoawait off, another loop runner, or `%%ptc` called from code): the run goes to the
  background loop; the main thread waits (answering approval questions through `input()`), and an
  interrupt cancels the run there.
Either way the cell ends with one static bundle (trace JSON + HTML + text) in its output.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.display import display

from ptc_jupyter import api
from ptc_jupyter.calls.approval import ConsoleAsker, deny_all
from ptc_jupyter.calls.dispatch import Approver
from ptc_jupyter.display.render import mime_bundle
from ptc_jupyter.errors import OptionError, RunError
from ptc_jupyter.host.background import background_loop
from ptc_jupyter.host.recording import recorded_streaming, session_for
from ptc_jupyter.notebook.approval import MainThreadAsker, WidgetApprover
from ptc_jupyter.notebook.line_options import CellOptions
from ptc_jupyter.trace.events import Event
from ptc_jupyter.trace.run import Run

TICK_S = 0.1


class RunInterrupted(KeyboardInterrupt):
    """A kernel interrupt stopped the run; shown as one line (the trace above has the rest)."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"RunInterrupted: {self}"]


def _interrupted(options: CellOptions) -> RunInterrupted:
    kept = f"{options.out} and ptc_jupyter.last" if options.out else "ptc_jupyter.last"
    return RunInterrupted(f"ptc: the run was interrupted; the trace above and {kept} keep everything recorded so far")


class _Recorder:
    """Listens to the host: remembers the live Run (so an interrupted run is kept) and feeds the view."""

    def __init__(self, view: Any = None) -> None:
        self.run: Run | None = None
        self.view = view

    def __call__(self, event: Event) -> None:
        self.run = event.run
        if self.view is not None:
            self.view(event)


def _frontend(shell: Any) -> tuple[bool, bool]:
    """(in a kernel, the frontend answers input requests). nbclient, nbval and papermill don't."""
    kernel = getattr(shell, "kernel", None)
    return kernel is not None, bool(getattr(kernel, "_allow_stdin", False))


class CellRun:
    """One `%%ptc` cell: display, approvals, the run itself, and the lasting output."""

    def __init__(
        self,
        shell: Any,
        options: CellOptions,
        prompt: str,
        *,
        mode: str,
        conversation: Any = None,
        source: str | None = None,
    ) -> None:
        self.shell, self.options, self.prompt, self.mode = shell, options, prompt, mode
        self.conversation, self.source = conversation, source
        self.in_kernel, self.allow_stdin = _frontend(shell)
        self.view: Any = None
        self.handle: Any = None
        live = options.live if options.live is not None else (self.in_kernel and self.allow_stdin)
        if live and importlib.util.find_spec("ipywidgets") is not None:
            from ptc_jupyter.notebook.live_view import LiveView

            self.view = LiveView(
                max_calls=options.run.max_calls, interval_s=options.update_interval_s, stoppable=mode == "await"
            )
        self.recorder = _Recorder(self.view)
        self.asker: MainThreadAsker | None = None
        self.approve = self._approver()

    def _approver(self) -> Approver:
        def run_of() -> Run | None:
            return self.recorder.run

        if self.options.run.yes:
            return api.approve_all
        if self.mode == "await" and self.view is not None:
            return WidgetApprover(self.view.approvals, timeout_s=self.options.run.approval_timeout_s, run_of=run_of)
        if self.mode == "thread" and self.allow_stdin:
            self.asker = MainThreadAsker()
            return self.asker
        if not self.in_kernel and sys.stdin is not None and sys.stdin.isatty():
            return ConsoleAsker()  # fresh per cell: "allow for the rest of this run" ends with it
        return deny_all(run_of)

    # -- the run ---------------------------------------------------------------------------------
    async def execute(self) -> Run:
        o = self.options
        settings = o.run
        if o.replay:
            settings = dataclasses.replace(settings, stream=recorded_streaming(o.replay))
        async with session_for(o.record, o.replay, replay_strict=o.replay_strict) as session:
            wiring: dict[str, Any] = {
                "tools": o.tools,
                "files": list(o.files),
                "options": settings,
                "approve": self.approve,
                "on_event": self.recorder,
                "session": session,
            }
            if o.compare:
                return await api.acompare(self.prompt, **wiring)
            return await api.arun(self.prompt, conversation=self.conversation, source=self.source, **wiring)

    def start(self) -> None:
        if self.view is not None:
            self.handle = display(self.view.bundle(), raw=True, display_id=True)

    def finish(self, run: Run | None) -> None:
        """Replace the live view by the static bundle (or show it), and keep the Run."""
        if self.view is not None:
            self.view.finish()
        if run is not None:
            bundle = mime_bundle(run)
            if self.handle is not None:
                self.handle.update(bundle, raw=True)
            else:
                display(bundle, raw=True)
            if self.options.out:
                self.shell.user_ns[self.options.out] = run
            api.last = run
        elif self.handle is not None:
            self.handle.update({"text/plain": "ptc: stopped before anything was recorded"}, raw=True)
        if self.view is not None:
            self.view.close()

    async def play_async(self) -> None:
        """Await path: on the kernel's loop; Stop button and interrupts cancel the run task."""
        self.start()
        task = asyncio.ensure_future(self.execute())
        stopped = False

        def stop() -> None:
            nonlocal stopped
            stopped = True
            task.cancel()

        if self.view is not None:
            self.view.on_stop = stop
        ticker = asyncio.ensure_future(_tick())
        try:
            run = await task
        except asyncio.CancelledError:
            self.finish(self.recorder.run)
            if stopped:
                return  # the Stop button: the trace says "cancelled", the cell itself is fine
            raise _interrupted(self.options) from None
        except BaseException as exc:
            self._show_failure(exc)
            raise
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        self.finish(run)

    def play_sync(self) -> None:
        """Fallback: the run on the background loop; the main thread waits (and asks, if needed)."""
        self.start()
        asker = self.asker

        async def body() -> Run:
            try:
                return await self.execute()
            finally:
                if asker is not None:
                    asker.finished()

        try:
            run = background_loop.run(body(), wait=asker.serve if asker is not None else None)
        except KeyboardInterrupt:
            self.finish(self.recorder.run)
            raise _interrupted(self.options) from None
        except BaseException as exc:
            self._show_failure(exc)
            raise
        self.finish(run)

    def _show_failure(self, exc: BaseException) -> None:
        """Show the trace of a run that failed; an API failure becomes a one-line UsageError."""
        if isinstance(exc, RunError):
            self.finish(exc.run)
            raise UsageError(f"ptc: the run failed: {exc}") from None
        self.finish(_failed(self.recorder.run, exc))
        if isinstance(exc, OptionError):  # refused before it started: nothing was sent
            raise UsageError(f"%%ptc: {exc}") from None


def _failed(run: Run | None, exc: BaseException) -> Run | None:
    """A run that ended in an unexpected exception says so in its trace."""
    if run is not None and run.status == "running":
        run.status = "error"
        run.error = f"{type(exc).__name__}: {exc}"
    return run


async def _tick() -> None:
    """Wakes the kernel's loop every TICK_S, so ipykernel's SIGINT handler runs promptly."""
    while True:
        await asyncio.sleep(TICK_S)
