"""What a `/v1/messages` request means, and the response the emulator gives it.

A request is one of: a new turn (the last user message carries the prompt: its fenced blocks are
the steps, see `steps.py`, "you play Claude"), a continuation (the last user message answers tool
uses), or a `pause_turn` echo (the last message is the assistant's). PTC mode runs the steps in a
container, in order: each bash or text editor step and each python step that ends goes out as a
`server_tool_use` and its result; a python step that calls tools delivers each batch of calls in
one response and resumes with their results. Direct mode (no code_execution tool) runs the first
python block hidden and delivers one direct `tool_use` per response, unless the request offers a
`run_python` client tool: then the scripts go to it (`run_python.py`, a model without code execution).

Billing follows the recorded traffic: a response in which the model writes (the first, and the one
after a script ends) bills its context; one that only carries more calls of the running script
bills 0 tokens and reads or writes no cache (`wire.resumes_only`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ptc_jupyter.emulator import rules, run_python, wire
from ptc_jupyter.emulator.config import EmulatorConfig
from ptc_jupyter.emulator.containers import Container, Containers, ScriptRun, Turn, expired_error
from ptc_jupyter.emulator.faults import STATUSES, FaultQueue
from ptc_jupyter.emulator.files import FileStore, StoredFile, changed_outputs, copy_uploads, snapshot
from ptc_jupyter.emulator.prompt_cache import PromptCache
from ptc_jupyter.emulator.rules import ToolSet
from ptc_jupyter.emulator.steps import Outcome, Step, answer_text, parse_steps, run_bash, text_editor
from ptc_jupyter.emulator.wire import ApiError
from ptc_jupyter.sandbox.arguments import positional_parameters

PTC_INTRO = "Running the script from your prompt in the offline emulator."
DIRECT_INTRO = (
    "Running the script from your prompt in the offline emulator as classic tool calling: "
    "one direct tool call per response."
)
OFFLINE_HELP = (
    "This is the ptc-jupyter offline emulator, a stand-in for the Messages API with no model behind it: "
    "you play Claude. It runs the first fenced ```python block of your prompt as Claude's script, "
    "calling your tools as `await tool_name({...})`, and answers with what the script prints. "
    "Your prompt has no such block, so there is nothing to run. Add a ```python fenced script to the "
    "prompt, or set ANTHROPIC_API_KEY to use the real API."
)
NOTHING_TO_RESUME = "The offline emulator has no paused script to resume in this container."
INJECTED = "Error injected by the offline emulator's fault queue."


def prompt_text(message: dict) -> str:
    """The text of a user message: its text blocks (beside container_upload blocks and others)."""
    return "\n".join(b.get("text", "") for b in rules.content_blocks(message, 0) if b.get("type") == "text")


def upload_ids(messages: list[dict]) -> list[str]:
    """The file ids of every `container_upload` block of the user messages, in order, once each."""
    ids: list[str] = []
    for i, msg in enumerate(messages):
        if msg["role"] != "user":
            continue
        for block in rules.content_blocks(msg, i):
            if block.get("type") == "container_upload" and block.get("file_id") not in ids:
                ids.append(str(block.get("file_id")))
    return ids


def cell_timeout_message(limit_s: float) -> str:
    return (
        f"detection_timeout: this cell ran for more than {limit_s:g} seconds, the wall-clock limit per "
        "Python cell (time spent waiting for tool results not counted), and was stopped."
    )


def container_id_of(param: Any) -> str | None:
    if isinstance(param, dict):
        param = param.get("id")
    return param if isinstance(param, str) and param else None


class Turns:
    """Answers `/v1/messages` bodies (raises `ApiError` for the API's error answers)."""

    def __init__(
        self, config: EmulatorConfig, containers: Containers, faults: FaultQueue, files: FileStore | None = None
    ) -> None:
        self.config = config
        self.containers = containers
        self.faults = faults
        self.files = files if files is not None else FileStore(config.max_file_bytes)
        self.cache = PromptCache(config)

    async def respond(self, body: Any) -> dict:
        status = self.faults.take_status()
        if status is not None:
            raise ApiError(status, STATUSES[status])
        rules.check_request(body)
        toolset = rules.check_tools(body.get("tools"), body.get("tool_choice"))
        if toolset.code_execution is not None and not self.config.supports_code_execution(body["model"]):
            raise wire.invalid_request(
                f"tools: the model {body['model']} does not support the `{toolset.code_execution.get('type')}` "
                "tool (its Models API entry says code execution is not supported)."
            )
        container_id = container_id_of(body.get("container"))
        messages = rules.conversation(body["messages"])
        rules.check_history(messages, has_code_execution=toolset.code_execution is not None, container_id=container_id)
        cache_plan = self.cache.plan(body)  # checked on every request, as the API checks the marks
        reply = await self._answer(body, toolset, container_id, messages)
        if wire.resumes_only(reply["content"]):
            return reply  # billed nothing: the model did not read the context, so no cache read or write
        return self.cache.bill(cache_plan, reply)

    async def _answer(self, body: dict, toolset: ToolSet, container_id: str | None, messages: list[dict]) -> dict:
        if run_python.offers_run_python(toolset):
            return run_python.respond(body, messages)
        last = messages[-1]
        if last["role"] == "assistant":
            return await self._resume(body, container_id)
        results = [b for b in rules.content_blocks(last, len(messages) - 1) if b.get("type") == "tool_result"]
        if results:
            return await self._continue(body, container_id, results)
        uploads = self.files.for_container(upload_ids(messages))
        steps = parse_steps(prompt_text(last))
        if toolset.code_execution is None:
            script = next((step for step in steps if step.kind == "python"), None)
            if script is None:
                return self._final_text(body, OFFLINE_HELP)
            return await self._start_direct(body, toolset, script, uploads)
        if not steps:
            return self._final_text(body, OFFLINE_HELP)
        return await self._start_ptc(body, toolset, steps, container_id, uploads)

    # --- the three kinds of request -------------------------------------------------------------

    async def _start_ptc(
        self, body: dict, toolset: ToolSet, steps: list[Step], container_id: str | None, uploads: list[StoredFile]
    ) -> dict:
        container = self._lookup(container_id) if container_id else await self.containers.create()
        async with container.lock:
            await container.cancel_run(self.containers.pool)
            container.run = None
            await asyncio.to_thread(copy_uploads, uploads, container.sandbox.inputs)
            callable_tools = toolset.programmatic + (toolset.direct_only if self.config.expose_direct_tools else [])
            container.turn = Turn(
                "ptc",
                steps,
                callable_tools,
                rules.tools_key(body.get("tools")),
                positional_parameters(body.get("tools")),
            )
            reply = await self._reply(body, container, first=True)
            container.touch()
        return reply

    async def _start_direct(self, body: dict, toolset: ToolSet, script: Step, uploads: list[StoredFile]) -> dict:
        container = await self.containers.create(hidden=True)
        async with container.lock:
            await asyncio.to_thread(copy_uploads, uploads, container.sandbox.inputs)
            container.turn = Turn(
                "direct",
                [script],
                toolset.programmatic + toolset.direct_only,
                rules.tools_key(body.get("tools")),
                positional_parameters(body.get("tools")),
            )
            reply = await self._reply(body, container, first=True)
            container.touch()
        return reply

    async def _continue(self, body: dict, container_id: str | None, results: list[dict]) -> dict:
        ids = [str(r.get("tool_use_id")) for r in results]
        container = self.containers.by_tool_use.get(ids[0])
        if container is None:
            if container_id is None:
                raise rules.unexpected_result(
                    "tool_result",
                    ids[0],
                    "The offline emulator has no script waiting for it (it may have "
                    "ended or expired); send the prompt again.",
                )
            container = self._lookup(container_id)
        async with container.lock:
            turn, run = container.turn, container.run
            if turn is None or run is None:
                raise rules.unexpected_result(
                    "tool_result", ids[0], "It matches no pending tool use of this container."
                )
            if turn.last_reply is not None and turn.last_results == frozenset(ids) and not set(ids) & set(run.pending):
                return turn.last_reply  # a retried request (e.g. after a broken stream): same answer
            if turn.mode == "ptc":
                rules.check_same_tools(body.get("tools"), turn.tools_key)
            rules.check_results_match_pending(ids, run.pending, run.timed_out)
            fresh = [r for r in results if r.get("tool_use_id") in run.pending]
            for r in fresh:
                del run.pending[r["tool_use_id"]]
                self.containers.by_tool_use.pop(r["tool_use_id"], None)
            container.feed([{"id": r["tool_use_id"], "content": rules.tool_result_text(r)} for r in fresh])
            reply = await self._reply(body, container, first=False)
            turn.last_results, turn.last_reply = frozenset(ids), reply
            container.touch()
        return reply

    async def _resume(self, body: dict, container_id: str | None) -> dict:
        """A `pause_turn` echo: the assistant turn sent back as it was, no new user message."""
        if container_id is None:
            return self._final_text(body, NOTHING_TO_RESUME)
        container = self._lookup(container_id)
        async with container.lock:
            turn, run = container.turn, container.run
            if turn is None or turn.reported or (run is not None and run.pending):
                return self._final_text(body, NOTHING_TO_RESUME, container)
            rules.check_same_tools(body.get("tools"), turn.tools_key)
            reply = await self._reply(body, container, first=False)
            container.touch()
        return reply

    def _lookup(self, container_id: str) -> Container:
        if self.faults.take("expired_container"):
            container = self.containers.live.get(container_id)
            if container is not None:
                self.containers.expire(container, "expired by an injected fault")
            raise expired_error(container_id, "expired by an injected fault")
        return self.containers.get(container_id)

    # --- responses ------------------------------------------------------------------------------

    async def _reply(self, body: dict, container: Container, *, first: bool) -> dict:
        turn = container.turn
        assert turn is not None
        ptc = turn.mode == "ptc"
        content: list[dict] = [wire.text_block(PTC_INTRO if ptc else DIRECT_INTRO)] if first else []
        stop_details = None
        truncation = next((k for k in ("max_tokens", "refusal") if self.faults.take(k)), None)
        if truncation is not None:  # nothing more runs; the steps go on with the next request
            done = turn.active is None and turn.next >= len(turn.steps)
            full = content[0]["text"] if content else (answer_text(turn.outcomes) if done else "Continuing.")
            content = [wire.text_block(full[: max(1, len(full) // 2)])]
            stop_reason = truncation
            if truncation == "refusal":
                stop_details = {
                    "type": "refusal",
                    "category": None,
                    "explanation": "Refusal injected by the offline emulator's fault queue.",
                }
        else:
            stop_reason = await self._run_steps(container, turn, content)
        if self.faults.take("unknown_block"):
            content.insert(
                0,
                {
                    "type": "future_block",
                    "id": wire.new_id("future"),
                    "note": "A block type this client does not know (injected fault).",
                },
            )
        if not ptc and turn.reported:
            self.containers.expire(container, "its direct-mode script ended")
        container_info = {"id": container.id, "expires_at": wire.iso_in(self.config.container_idle_s)} if ptc else None
        return wire.message(
            body["model"],
            content,
            stop_reason,
            wire.usage(body, content, code_execution=ptc and any(b.get("type") == "server_tool_use" for b in content)),
            container=container_info,
            stop_details=stop_details,
        )

    async def _run_steps(self, container: Container, turn: Turn, content: list[dict]) -> str:
        """Run the turn's steps on from where they are, adding their blocks to `content`, until one
        waits on tool calls or all are done; the stop reason."""
        ptc = turn.mode == "ptc"
        while True:
            if turn.active is not None:
                step, run = turn.active, container.run
                assert run is not None
                if not await run.settle():
                    await container.interrupt_run(self.containers.pool, cell_timeout_message(run.limit_s or 0))
                if not run.finished:
                    if ptc and self.faults.take("pause_turn"):
                        return "pause_turn"
                    content.extend(self._deliver(container, run))
                    return "tool_use"
                turn.active = None
                content.extend(await self._python_result(container, turn, step, run))
                continue
            if turn.next >= len(turn.steps):
                content.append(wire.text_block(answer_text(turn.outcomes)))
                turn.reported = True
                return "end_turn"
            step = turn.steps[turn.next]
            turn.next += 1
            if not ptc:
                self._start_python(container, turn, step)
                continue
            content.append(wire.server_tool_block(step.id, step.name, step.input))
            error_code = self.faults.take_step_error(f"{step.name}_error")
            if error_code is not None:
                message = INJECTED if step.kind == "text_editor" else None
                content.append(wire.tool_error_block(step.name, step.id, error_code, message))
                turn.outcomes.append(Outcome(step.kind, error_code=error_code, error_message=message))
            elif step.kind == "python":
                turn.before = await asyncio.to_thread(snapshot, container.sandbox.outputs)
                self._start_python(container, turn, step)
            elif step.kind == "bash":
                content.append(await self._bash(container, turn, step))
            else:
                content.append(await self._edit(container, turn, step))

    def _start_python(self, container: Container, turn: Turn, step: Step) -> None:
        ptc = turn.mode == "ptc"
        container.start_run(
            mode=turn.mode,
            code=step.code,
            tools=turn.tools,
            tools_key=turn.tools_key,
            positional=turn.positional,
            srvtoolu_id=step.id if ptc else None,
            deadline_s=self.config.pending_deadline_s if ptc else None,
            limit_s=self.config.cell_limit_s if ptc else None,
        )
        turn.active = step

    async def _python_result(self, container: Container, turn: Turn, step: Step, run: ScriptRun) -> list[dict]:
        result = dict(run.result or {})
        if turn.mode != "ptc":
            turn.outcomes.append(Outcome("python", result))
            return []
        found, too_large = await asyncio.to_thread(
            changed_outputs, container.sandbox.outputs, turn.before, self.files.max_bytes
        )
        file_ids = [self.files.add(name, data, downloadable=True).id for name, data in found]
        for rel in too_large:
            result["stderr"] += (
                f"\n$OUTPUT_DIR/{rel} is larger than {self.files.max_bytes} bytes: it was not returned as a file.\n"
            )
        turn.outcomes.append(Outcome("python", result))
        if self.faults.take("encrypted_code_execution_result"):
            return [wire.encrypted_code_execution_result_block(step.id, **result, file_ids=file_ids)]
        return [wire.code_execution_result_block(step.id, **result, file_ids=file_ids)]

    async def _bash(self, container: Container, turn: Turn, step: Step) -> dict:
        sandbox = container.sandbox
        try:
            before = await asyncio.to_thread(snapshot, sandbox.outputs)
            outcome = await run_bash(step.input["command"], sandbox, limit_s=self.config.cell_limit_s)
        except OSError:  # the container's directory is gone (its process died)
            outcome = "unavailable"
        if isinstance(outcome, str):
            turn.outcomes.append(Outcome("bash", error_code=outcome))
            return wire.tool_error_block(step.name, step.id, outcome)
        found, too_large = await asyncio.to_thread(changed_outputs, sandbox.outputs, before, self.files.max_bytes)
        if too_large:
            turn.outcomes.append(Outcome("bash", error_code="output_file_too_large"))
            return wire.tool_error_block(step.name, step.id, "output_file_too_large")
        file_ids = [self.files.add(name, data, downloadable=True).id for name, data in found]
        turn.outcomes.append(Outcome("bash", outcome))
        return wire.bash_result_block(step.id, **outcome, file_ids=file_ids)

    async def _edit(self, container: Container, turn: Turn, step: Step) -> dict:
        result = await asyncio.to_thread(text_editor, step.input, container.sandbox.workdir)
        if result["type"].endswith("_error"):
            turn.outcomes.append(
                Outcome("text_editor", error_code=result["error_code"], error_message=result["error_message"])
            )
        else:
            turn.outcomes.append(Outcome("text_editor"))
        return wire.text_editor_result_block(step.id, result)

    def _deliver(self, container: Container, run: ScriptRun) -> list[dict]:
        if run.mode == "direct":
            calls = run.take_calls(limit=1)
            for call in calls:
                self.containers.by_tool_use[call["id"]] = container
            return [wire.tool_use_block(c, {"type": "direct"}) for c in calls]
        calls = run.take_calls()
        caller = {"type": wire.CALLER_TYPE, "tool_id": run.srvtoolu_id}
        blocks = [wire.tool_use_block(c, caller) for c in calls]
        if blocks and self.faults.take("bad_caller"):
            blocks[0]["caller"] = {"type": wire.CALLER_TYPE, "tool_id": wire.new_id("srvtoolu")}
        return blocks

    def _final_text(self, body: dict, text: str, container: Container | None = None) -> dict:
        content = [wire.text_block(text)]
        info = {"id": container.id, "expires_at": wire.iso_in(self.config.container_idle_s)} if container else None
        return wire.message(
            body["model"], content, "end_turn", wire.usage(body, content, code_execution=False), container=info
        )
