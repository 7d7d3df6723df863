"""What a `/v1/messages` request means, and the response the emulator gives it.

A request is one of: a new turn (the last user message carries the prompt; its first fenced
```python block is the script, "you play Claude"), a continuation (the last user message answers
tool uses), or a `pause_turn` echo (the last message is the assistant's). PTC mode runs the script
in a container and delivers each batch of calls in one response; direct mode (no code_execution
tool) runs it hidden and delivers one direct `tool_use` per response.
"""

from __future__ import annotations

import re
from typing import Any

from . import rules, wire
from .config import EmulatorConfig
from .containers import Container, Containers, ScriptRun, expired_error
from .faults import STATUSES, FaultQueue
from .rules import ToolSet
from .wire import ApiError

SCRIPT_BLOCK = re.compile(r"```(?:python3?|py)[ \t]*\r?\n(.*?)```", re.DOTALL)

PTC_INTRO = "Running the script from your prompt in the offline emulator."
DIRECT_INTRO = ("Running the script from your prompt in the offline emulator as classic tool calling: "
                "one direct tool call per response.")
OFFLINE_HELP = (
    "This is the ptc-jupyter offline emulator, a stand-in for the Messages API with no model behind it: "
    "you play Claude. It runs the first fenced ```python block of your prompt as Claude's script, "
    "calling your tools as `await tool_name({...})`, and answers with what the script prints. "
    "Your prompt has no such block, so there is nothing to run. Add a ```python fenced script to the "
    "prompt, or set ANTHROPIC_API_KEY to use the real API."
)
NOTHING_TO_RESUME = "The offline emulator has no paused script to resume in this container."


def extract_script(message: dict) -> str | None:
    """The first fenced python block of a user message's text, or None."""
    text = "\n".join(b.get("text", "") for b in rules.content_blocks(message, 0) if b.get("type") == "text")
    match = SCRIPT_BLOCK.search(text)
    return match.group(1) if match else None


def answer_text(result: dict) -> str:
    """The final text: the script's stripped stdout, and how it failed if it did."""
    stdout = result["stdout"].strip()
    if result["return_code"] == 0:
        return stdout or "The script finished without printing anything."
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    failure = f"The script failed (return code {result['return_code']}): {lines[-1] if lines else 'no error output'}"
    return f"{stdout}\n\n{failure}" if stdout else failure


def container_id_of(param: Any) -> str | None:
    if isinstance(param, dict):
        param = param.get("id")
    return param if isinstance(param, str) and param else None


class Turns:
    """Answers `/v1/messages` bodies (raises `ApiError` for the API's error answers)."""

    def __init__(self, config: EmulatorConfig, containers: Containers, faults: FaultQueue) -> None:
        self.config = config
        self.containers = containers
        self.faults = faults

    async def respond(self, body: Any) -> dict:
        status = self.faults.take_status()
        if status is not None:
            raise ApiError(status, STATUSES[status])
        rules.check_request(body)
        toolset = rules.check_tools(body.get("tools"), body.get("tool_choice"))
        container_id = container_id_of(body.get("container"))
        messages = body["messages"]
        rules.check_history(messages, has_code_execution=toolset.code_execution is not None,
                            container_id=container_id)
        last = messages[-1]
        if last["role"] == "assistant":
            return await self._resume(body, container_id)
        results = [b for b in rules.content_blocks(last, len(messages) - 1) if b.get("type") == "tool_result"]
        if results:
            return await self._continue(body, container_id, results)
        script = extract_script(last)
        if script is None:
            return self._final_text(body, OFFLINE_HELP)
        if toolset.code_execution is None:
            return await self._start_direct(body, toolset, script)
        return await self._start_ptc(body, toolset, script, container_id)

    # --- the three kinds of request -------------------------------------------------------------

    async def _start_ptc(self, body: dict, toolset: ToolSet, script: str, container_id: str | None) -> dict:
        container = self._lookup(container_id) if container_id else await self.containers.create()
        async with container.lock:
            await container.cancel_run(self.containers.pool)
            callable_tools = toolset.programmatic + (toolset.direct_only if self.config.expose_direct_tools else [])
            run = container.start_run(mode="ptc", code=script, tools=callable_tools,
                                      tools_key=rules.tools_key(body.get("tools")),
                                      srvtoolu_id=wire.new_id("srvtoolu"),
                                      deadline_s=self.config.pending_deadline_s)
            await run.settle()
            reply = self._reply(body, container, run, first=True)
            container.touch()
        return reply

    async def _start_direct(self, body: dict, toolset: ToolSet, script: str) -> dict:
        container = await self.containers.create(hidden=True)
        async with container.lock:
            run = container.start_run(mode="direct", code=script, tools=toolset.programmatic + toolset.direct_only,
                                      tools_key=rules.tools_key(body.get("tools")), srvtoolu_id=None,
                                      deadline_s=None)
            await run.settle()
            reply = self._reply(body, container, run, first=True)
            container.touch()
        return reply

    async def _continue(self, body: dict, container_id: str | None, results: list[dict]) -> dict:
        ids = [r.get("tool_use_id") for r in results]
        container = self.containers.by_tool_use.get(ids[0])
        if container is None:
            if container_id is None:
                raise rules.unexpected_result(
                    "tool_result", ids[0], "The offline emulator has no script waiting for it (it may have "
                    "ended or expired); send the prompt again.")
            container = self._lookup(container_id)
        async with container.lock:
            run = container.run
            if run is None:
                raise rules.unexpected_result("tool_result", ids[0], "It matches no pending tool use of this container.")
            if run.last_reply is not None and run.last_results == frozenset(ids) and not set(ids) & set(run.pending):
                return run.last_reply  # a retried request (e.g. after a broken stream): same answer
            if run.mode == "ptc":
                rules.check_same_tools(body.get("tools"), run.tools_key)
            rules.check_results_match_pending(ids, run.pending, run.timed_out)
            fresh = [r for r in results if r.get("tool_use_id") in run.pending]
            for r in fresh:
                del run.pending[r["tool_use_id"]]
                self.containers.by_tool_use.pop(r["tool_use_id"], None)
            container.feed([{"id": r["tool_use_id"], "content": rules.tool_result_text(r)} for r in fresh])
            await run.settle()
            reply = self._reply(body, container, run, first=False)
            run.last_results, run.last_reply = frozenset(ids), reply
            container.touch()
        return reply

    async def _resume(self, body: dict, container_id: str | None) -> dict:
        """A `pause_turn` echo: the assistant turn sent back as it was, no new user message."""
        if container_id is None:
            return self._final_text(body, NOTHING_TO_RESUME)
        container = self._lookup(container_id)
        async with container.lock:
            run = container.run
            if run is None or run.reported or run.pending:
                return self._final_text(body, NOTHING_TO_RESUME, container)
            rules.check_same_tools(body.get("tools"), run.tools_key)
            await run.settle()
            reply = self._reply(body, container, run, first=False)
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

    def _reply(self, body: dict, container: Container, run: ScriptRun, *, first: bool) -> dict:
        ptc = run.mode == "ptc"
        content: list[dict] = []
        if first:
            content.append(wire.text_block(PTC_INTRO if ptc else DIRECT_INTRO))
            if ptc:
                content.append(wire.server_tool_use_block(run.srvtoolu_id, run.code))
        stop_reason, stop_details = "end_turn", None
        truncation = next((k for k in ("max_tokens", "refusal") if self.faults.take(k)), None)
        if truncation is not None:
            full = content[0]["text"] if content else (answer_text(run.result) if run.finished else "Continuing.")
            content = [wire.text_block(full[: max(1, len(full) // 2)])]
            stop_reason = truncation
            if truncation == "refusal":
                stop_details = {"type": "refusal", "category": None,
                                "explanation": "Refusal injected by the offline emulator's fault queue."}
        elif run.finished:
            if ptc:
                content.append(wire.code_execution_result_block(run.srvtoolu_id, **run.result))
            content.append(wire.text_block(answer_text(run.result)))
            run.reported = True
        elif ptc and self.faults.take("pause_turn"):
            stop_reason = "pause_turn"
        else:
            content.extend(self._deliver(container, run))
            stop_reason = "tool_use"
        if self.faults.take("unknown_block"):
            content.insert(0, {"type": "future_block", "id": wire.new_id("future"),
                               "note": "A block type this client does not know (injected fault)."})
        if run.mode == "direct" and run.reported:
            self.containers.expire(container, "its direct-mode script ended")
        container_info = {"id": container.id, "expires_at": wire.iso_in(self.config.container_idle_s)} if ptc else None
        return wire.message(body["model"], content, stop_reason, wire.usage(body, content, code_execution=ptc and any(
                                b.get("type") == "server_tool_use" for b in content)),
                            container=container_info, stop_details=stop_details)

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
        return wire.message(body["model"], content, "end_turn", wire.usage(body, content, code_execution=False),
                            container=info)
