"""The PTC host loop over the GA Messages API. No IPython here: views follow the events it emits.

One turn: send the prompt with the code-execution tool and the user's tools; while Claude's script
pauses on caller-tagged `tool_use` blocks, run all of them at once (dispatch.py) and answer with one
user message of only `tool_result` blocks, echoing every assistant block verbatim, with the same
`tools` and the container. Wire rules: shared/ptc-protocol.md sections 2-3.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import anthropic

from ptc_jupyter.calls.dispatch import Approver, Dispatcher
from ptc_jupyter.calls.tools import Tool
from ptc_jupyter.errors import RunError, error_text, is_container_lost
from ptc_jupyter.host import attachments, downloads, local_mode, retries
from ptc_jupyter.host.caching import with_cache_points
from ptc_jupyter.host.policy import CallPolicy
from ptc_jupyter.host.responses import (
    answer_deadline,
    block_dict,
    explain_failure,
    follow_drafts,
    refusal_details,
    usage_add,
)
from ptc_jupyter.host.session import ContainerMemory
from ptc_jupyter.options import RunOptions
from ptc_jupyter.sandbox import LocalSandbox
from ptc_jupyter.trace import steps
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
from ptc_jupyter.trace.exchanges import WireRecorder
from ptc_jupyter.trace.run import Run, ToolCall
from ptc_jupyter.trace.steps import Step

log = logging.getLogger(__name__)

STREAM_ATTEMPTS = 3  # a response that breaks off mid-stream is asked for again, this often in all
STREAM_BACKOFF_S = 0.5  # first wait before asking again; doubles each time
MAX_PAUSES_IN_A_ROW = 16  # pause_turn answers followed before the run stops
Listener = Callable[[Event], None]


def _no_response(error: anthropic.APIError) -> str:
    """Why a round trip has no response, for its `Exchange` (the error's kind, not the SDK's wording)."""
    status = getattr(error, "status_code", None)
    return type(error).__name__ + (f" ({status})" if status else "")


class _BrokenStream(Exception):
    """A streamed response that failed after it had begun."""

    def __init__(self, error: anthropic.APIError) -> None:
        super().__init__(_error_words(error))
        self.error = error


def _error_words(error: BaseException) -> str:
    """An API or connection error in our words (never the SDK's `str()`, which changes)."""
    if isinstance(error, anthropic.APIStatusError):
        return error_text(error)
    return f"{type(error).__name__}: {error.__cause__ or error}"


class Host:
    """Runs turns for one client. Reuse it (and its ContainerMemory) to keep the container across runs."""

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        *,
        backend: str = "anthropic",
        memory: ContainerMemory | None = None,
    ) -> None:
        self.client = client
        self.backend = backend
        self.memory = memory or ContainerMemory()
        self.last_messages: list[dict[str, Any]] = []

    async def run(
        self,
        prompt: str,
        tools: Sequence[Tool],
        options: RunOptions | None = None,
        *,
        approve: Approver | None = None,
        on_event: Listener | None = None,
        notices: Sequence[str] = (),
        files: attachments.Inputs = (),
        history: Sequence[dict[str, Any]] = (),
        sandbox: LocalSandbox | None = None,
    ) -> Run:
        """`files`: input files for the container (see attachments.py), uploaded first. `history`:
        earlier turns' messages, sent before the prompt (a conversation); afterwards
        `last_messages` holds the whole exchange, history included."""
        options = options or RunOptions()
        run = Run(prompt=prompt, model=options.model, backend=self.backend, mode="direct" if options.direct else "ptc")
        turn = _Turn(self, run, list(tools), options, approve, on_event, list(history), sandbox)
        for message in notices:
            turn.notice(message)
        try:
            return await turn.play(files)
        finally:
            self.last_messages = turn.messages


class _Turn:
    """The state of one run: history, the scripts still awaiting their result, the call budget."""

    def __init__(
        self,
        host: Host,
        run: Run,
        tools: list[Tool],
        options: RunOptions,
        approve: Approver | None,
        on_event: Listener | None,
        history: list[dict[str, Any]],
        sandbox: LocalSandbox | None = None,
    ) -> None:
        self.host, self.run, self.options, self.on_event = host, run, options, on_event
        self.tools = {t.name: t for t in tools}
        if len(self.tools) != len(tools):
            raise ValueError("two tools share a name; tool names must be unique within a run")
        self.local = local_mode.LocalAnswers(self, tools, sandbox) if options.sandbox == "local" else None
        self.tools_param = self._tools_param(tools)
        self.history_length = len(history)
        self.messages: list[dict[str, Any]] = [*history, {"role": "user", "content": run.prompt}]
        self.awaiting: dict[str, Step] = {}  # code-execution blocks still waiting for their result
        self.policy = CallPolicy(
            self.tools, options.max_calls, direct_run=options.direct, local_run=self.local is not None
        )
        self.calls_started = 0
        self._new_calls: list[ToolCall] = []  # tool_use blocks of the latest response
        self._expires_at: Any = None  # the latest response's container.expires_at
        self._texts: list[str] = []  # text blocks of the latest response
        self._last_texts: list[str] = []  # text blocks of the latest response that had any
        secrets = tuple(
            s
            for s in (getattr(host.client, "api_key", None), getattr(host.client, "auth_token", None))
            if isinstance(s, str)
        )
        self.wire = WireRecorder(run.exchanges, secrets=secrets)  # what went out and came back, for Run.exchanges
        self.dispatcher = Dispatcher(
            options.executor,
            timeout_s=options.tool_timeout_s,
            approve=approve,
            on_start=lambda c: self.emit(CallStarted(run, c)),
            on_finish=lambda c: self.emit(CallFinished(run, c)),
            on_notice=self.notice_once,
            clock_origin=run._t0,
        )
        if options.new_container:
            self.container = None
        else:
            self.container = options.container or host.memory.container_id

    def _tools_param(self, tools: list[Tool]) -> list[dict[str, Any]]:
        if self.local is not None:
            return local_mode.tools_param(tools)
        if self.options.direct:
            return [t.definition(direct_mode=True) for t in tools]
        return [{"type": self.options.code_execution, "name": "code_execution"}] + [t.definition() for t in tools]

    # -- events ----------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a broken view must not break the run; say so in the log
            log.exception("ptc event listener failed on %s", type(event).__name__)

    def notice(self, message: str) -> None:
        self.run.notices.append(message)
        self.emit(Notice(self.run, message))

    def notice_once(self, message: str) -> None:
        if message not in self.run.notices:
            self.notice(message)

    # -- the loop --------------------------------------------------------------------------------
    async def play(self, inputs: attachments.Inputs = ()) -> Run:
        run = self.run
        listening = retries.report_to.set(self.notice)
        uploaded: list[attachments.UploadedFile] = []
        try:
            if inputs and self.local is not None:
                names = await self.local.put_inputs(attachments.input_payloads(inputs))
                self.messages[self.history_length] = {
                    "role": "user",
                    "content": run.prompt + attachments.prompt_note(names),
                }
                self.notice(f"copied {len(names)} input file(s) into the local sandbox: " + ", ".join(names))
            elif inputs:
                uploaded = await attachments.attach(self.host.client, inputs)
                self.messages[self.history_length] = attachments.first_message(run.prompt, uploaded)
                self.notice(f"uploaded {len(uploaded)} input file(s): " + ", ".join(u.filename for u in uploaded))
            await self._loop()
            run.status = "completed"
        except asyncio.CancelledError:
            run.status = "cancelled"
            run.notices.append("cancelled by the user; everything up to here is kept")
            raise
        except RunError:
            run.status = "error"
            raise
        except Exception as exc:  # every failure ends the run with a status and a message
            run.status = "error"
            run.error = explain_failure(exc, self.host.client)
            raise RunError(run.error, run) from exc
        finally:
            if uploaded and not self.options.keep_files:
                deleted = await attachments.detach(self.host.client, uploaded)
                attachments.forget(self.messages, [u for u in uploaded if u.file_id in deleted], self.container)
            if self.local is not None:
                await self.local.aclose()
            retries.report_to.reset(listening)
            run.wall_s = run.elapsed_s()
            self.emit(RunFinished(run))
        return run

    def fail(self, message: str) -> RunError:
        self.run.error = message
        return RunError(message, self.run)

    async def _loop(self) -> None:
        retried_container = False
        pauses = 0
        while True:
            try:
                response = await self._request()
            except anthropic.APIStatusError as exc:
                if self.container and is_container_lost(exc):
                    self._container_lost(exc, retried_container)
                    retried_container = True
                    continue
                raise
            self._take(response)
            await self._fetch_files()  # as soon as a step names them, so the view shows them live
            stop = response.stop_reason
            pauses = pauses + 1 if stop == "pause_turn" else 0
            if pauses > MAX_PAUSES_IN_A_ROW:
                raise self.fail(
                    f"the API paused the turn (pause_turn) {pauses} times in a row; stopped here "
                    "with everything so far kept; run again to continue in the same container"
                )
            if stop == "pause_turn":
                continue
            if stop == "tool_use" and self._new_calls:
                await self._answer(self._new_calls)
                continue
            self._finish(response)
            return

    async def _request(self) -> Any:
        opts = self.options
        tools, messages = self.tools_param, self.messages
        if opts.cache:
            tools, messages = with_cache_points(tools, messages)
        params: dict[str, Any] = {
            "model": opts.model,
            "max_tokens": opts.max_tokens,
            "tools": tools,
            "messages": messages,
        }
        if self.container and not opts.direct:
            params["container"] = self.container
        if not opts.stream:
            self._sent(params)
            try:
                return await self.host.client.messages.create(**params)
            except anthropic.APIError as exc:
                self.wire.failed(_no_response(exc))
                raise
        for attempt in range(1, STREAM_ATTEMPTS + 1):
            self._sent(params)
            try:
                return await self._stream(params)
            except _BrokenStream as broken:
                self.wire.failed("the response broke off mid-stream: " + _no_response(broken.error))
                # A lost container is no passing fault: the same request would fail the same way.
                if attempt == STREAM_ATTEMPTS or is_container_lost(broken.error):
                    raise broken.error from None
                delay = STREAM_BACKOFF_S * 2 ** (attempt - 1)
                self.notice(
                    f"the response broke off mid-stream ({broken}); no tool ran for it, so the same "
                    f"request goes again in {delay:g} s (attempt {attempt + 1} of {STREAM_ATTEMPTS})"
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _sent(self, params: dict[str, Any]) -> None:
        self.run.requests += 1
        self.wire.sent(self.run.requests, params, streamed=self.options.stream)
        self.emit(RequestSent(self.run, self.run.requests))

    async def _stream(self, params: dict[str, Any]) -> Any:
        """One streamed response. An error once the answer has begun (an `error` event such as
        `overloaded_error`, a dropped connection) is a `_BrokenStream`: the SDK does not retry
        those, and asking again is safe because nothing of the response was acted on."""
        async with self.host.client.messages.stream(**params) as stream:
            try:
                await follow_drafts(stream, lambda code: self.emit(ScriptDraft(self.run, code)))
                return await stream.get_final_message()
            except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
                raise _BrokenStream(exc) from exc

    def _container_lost(self, exc: anthropic.APIStatusError, retried: bool) -> None:
        """Start over in a new container, but only while no tool has run: starting over replays
        the turn from the prompt, and a tool that already ran must not run a second time."""
        lost = self.container
        self.container = None
        self.host.memory.container_id = None
        reason = error_text(exc)
        if self.calls_started:
            raise self.fail(
                f"container {lost} was lost mid-turn ({reason}) after {self.calls_started} tool "
                "call(s) had run; not started over, so that no tool runs twice. Everything so far is "
                "kept; run again to start in a new container"
            )
        if retried:
            raise self.fail(f"container {lost} could not be used either ({reason}); stopped")
        self.messages = self.messages[: self.history_length + 1]
        self.awaiting.clear()
        gone = attachments.earlier_files(self.messages[: self.history_length])
        self.notice(
            f"container {lost} could not be reused ({reason}); "
            "started the turn again in a new container (its REPL state is gone"
            + (f", and so are the files earlier turns attached: {', '.join(gone)}; attach them again" if gone else "")
            + ")"
        )

    def _take(self, response: Any) -> None:
        """Record one response: scripts, results, text, calls; echo it into the history verbatim."""
        run = self.run
        usage_add(run.usage, response.usage)  # a response that only resumes the script reports 0
        if response.container is not None:  # the last response may carry none: the known id stays
            self._expires_at = getattr(response.container, "expires_at", None)
            self.container = response.container.id
            run.container_id = response.container.id
            self.host.memory.container_id = response.container.id
        self.messages.append({"role": "assistant", "content": [block_dict(b) for b in response.content]})
        self._new_calls = []
        self._texts = []
        for block in response.content:
            kind = block.type
            if kind == "server_tool_use":
                step = steps.step_from_block(block, at_s=run.elapsed_s())
                run.steps.append(step)
                if step.kind == "python":
                    self.awaiting[step.id] = step
                self.emit(StepStarted(run, step))
            elif steps.is_result_block(block):
                self._step_result(block)
            elif kind == "text":
                self._texts.append(block.text)
                self.emit(TextReceived(run, block.text))
            elif kind == "tool_use":
                self._new_calls.append(self._call_from(block))
            elif kind not in ("thinking", "redacted_thinking"):
                self.notice(f"response block of unknown type {kind!r} kept in the history, not interpreted")
        if self._texts:
            self._last_texts = self._texts
        self.wire.received(
            response.to_dict(mode="json", exclude_unset=True, warnings=False), context_bytes=run.context_bytes
        )
        self.emit(ResponseReceived(run, run.requests, response.stop_reason))

    def _step_result(self, block: Any) -> None:
        """A server step's result (any `*_tool_result`): recorded on its step, shown, counted."""
        run = self.run
        step = steps.step_for_result(run, block)
        self.awaiting.pop(step.id, None)
        steps.apply_result(step, block, at_s=run.elapsed_s())
        run.context_bytes += steps.context_bytes(step)
        self.emit(StepFinished(run, step))

    async def _fetch_files(self) -> None:
        """Download the files the steps left in $OUTPUT_DIR (Files API); one failing file never
        fails the run: it is kept with its error."""
        wanted = self.run.unfetched_file_ids()
        if not wanted:
            return
        fetched = await downloads.fetch_output_files(self.host.client, wanted)
        self.run.files += fetched
        self.emit(FilesAdded(self.run, fetched))
        failed = [f for f in fetched if f.error]
        if failed:
            self.notice(
                f"{len(failed)} output file(s) could not be fetched: "
                + "; ".join(f"{f.file_id}: {f.error}" for f in failed[:3])
            )

    def _call_from(self, block: Any) -> ToolCall:
        caller = getattr(block, "caller", None)
        caller_type = getattr(caller, "type", None) or "direct"
        call = ToolCall(
            id=block.id,
            name=block.name,
            input=block.input if isinstance(block.input, dict) else {},
            caller=caller_type,
            script_id=getattr(caller, "tool_id", None),
            request_index=self.run.requests,
        )
        self.run.calls.append(call)
        return call

    async def run_calls(self, calls: list[ToolCall], deadline: float | None) -> None:
        """The host's policy for each call (policy.py), then the allowed ones at once."""
        runnable: list[ToolCall] = []
        budget_hit = False
        for call in calls:
            refused = self.policy.check(call, awaiting=self.awaiting, calls_started=self.calls_started)
            if refused is None:
                self.calls_started += 1
                runnable.append(call)
            else:
                budget_hit = budget_hit or refused.kind == "budget_exhausted"
                self.dispatcher.reject(call, refused.message)
        if budget_hit:
            self.notice_once(f"max_calls ({self.options.max_calls}) reached: further calls got an error result")
        await self.dispatcher.run_batch(runnable, self.tools, deadline=deadline)

    async def _answer(self, calls: list[ToolCall]) -> None:
        if self.local is not None:
            await self.local.answer(calls)
        else:
            await self.run_calls(calls, answer_deadline(self._expires_at))
        results = []
        for call in calls:
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call.id, "content": call.output or ""}
            if call.is_error:
                result["is_error"] = True
            results.append(result)
            if not call.programmatic:  # direct results enter the model's context
                self.run.context_bytes += len((call.output or "").encode())
        self.messages.append({"role": "user", "content": results})

    def _finish(self, response: Any) -> None:
        run = self.run
        run.stop_reason = response.stop_reason
        run.text = "\n\n".join(self._texts or self._last_texts)
        if response.stop_reason == "max_tokens":
            self.notice("stopped at max_tokens: the answer may be cut off (raise --max-tokens)")
        elif response.stop_reason == "refusal":
            self.notice("Claude declined to answer (stop_reason: refusal)" + refusal_details(response))
        elif response.stop_reason == "model_context_window_exceeded":
            self.notice("stopped: the model's context window is full")
        elif response.stop_reason == "tool_use":
            self.notice("stop_reason tool_use without any client tool_use block; nothing to answer")
        for script in self.awaiting.values():
            if not script.finished:
                self.notice(f"script {script.id} ended without a result")
