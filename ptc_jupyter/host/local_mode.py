"""Programmatic tool calling with a local sandbox (`sandbox="local"`), for a model or endpoint
without server code execution: the model gets one client tool, `run_python`; each of its calls
runs the code in a `LocalSandbox` on this machine, whose tool calls come back through the same
dispatcher as server PTC (policy, concurrency, approvals, budget, timeouts, trace); only the
script's output (capped) goes back to the model.

The sandbox persists for the run, or for the conversation when there is one (REPL state carries
over, as a server container's does). It is not a security boundary: see docs/security.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ptc_jupyter.calls.tools import Tool
from ptc_jupyter.sandbox import RUN_PYTHON, LocalSandbox, SandboxConfig, ToolRequest, run_python_tool_definition
from ptc_jupyter.sandbox.arguments import positional_parameters
from ptc_jupyter.trace.events import StepFinished, StepStarted
from ptc_jupyter.trace.run import ToolCall
from ptc_jupyter.trace.steps import LOCAL_STEP, Step

LOCAL_CALLER = "local_sandbox"  # the caller of a tool call made by a local script
NOTICE = (
    "local sandbox: Claude's scripts run in a subprocess on this machine (limits: time, memory, "
    "processes, output; no network on Linux). It is not a security boundary; side-effect tools still ask."
)


def tools_param(tools: Sequence[Tool], config: SandboxConfig | None = None) -> list[dict[str, Any]]:
    """What the model is offered: the one `run_python` tool, describing the callable tools."""
    return [run_python_tool_definition([t for t in tools if t.programmatic], config)]


class LocalAnswers:
    """Answers one run's `run_python` calls: each script runs in the sandbox, its tool calls go
    through the turn's policy and dispatcher (`run_calls`), and the step is recorded like a server
    script's (`Step.local`). Other calls go to `run_calls` as they are (the policy refuses them:
    only `run_python` is offered)."""

    def __init__(self, turn: Any, tools: Sequence[Tool], sandbox: LocalSandbox | None) -> None:
        self.turn = turn
        self.sandbox = sandbox or LocalSandbox()
        self.owned = sandbox is None  # made for this run: closed with it
        self.tool_names = [t.name for t in tools if t.programmatic]
        self.positional = positional_parameters(
            {"name": t.name, "input_schema": t.input_schema} for t in tools if t.programmatic
        )

    async def put_inputs(self, payloads: Sequence[tuple[str, bytes, str]]) -> list[str]:
        """Write a run's input files into the sandbox's `$INPUT_DIR` (no Files API here: nothing
        would copy them from it); they stay there as long as the sandbox does."""
        await self.sandbox.start()
        workdir = self.sandbox.workdir
        assert workdir is not None  # started just now
        inputs = workdir / "inputs"
        for name, data, _media_type in payloads:
            (inputs / name).write_bytes(data)
        return [name for name, _data, _media_type in payloads]

    async def answer(self, calls: list[ToolCall]) -> None:
        for call in calls:
            if call.name == RUN_PYTHON:
                await self._script(call)
            else:
                await self.turn.run_calls([call], None)

    async def _script(self, call: ToolCall) -> None:
        turn, run = self.turn, self.turn.run
        run.calls.remove(call)  # shown as a step, not as a tool call
        step = Step(call.id, name=LOCAL_STEP, input=dict(call.input), started_s=run.elapsed_s())
        run.steps.append(step)
        turn.awaiting[step.id] = step
        turn.emit(StepStarted(run, step))
        try:
            call.output = await self._run(call, step)
        finally:
            turn.awaiting.pop(step.id, None)
            step.duration_s = run.elapsed_s() - (step.started_s or 0.0)
            turn.emit(StepFinished(run, step))
        call.status, call.is_error = "ok", False

    async def _run(self, call: ToolCall, step: Step) -> str:
        code = call.input.get("code")
        if not isinstance(code, str) or not code.strip():
            step.error_code, step.error_message = "invalid_tool_input", "run_python needs {'code': '<python>'}"
            return f"Error: {step.error_message}"
        run = self.turn.run

        async def tool_calls(requests: list[ToolRequest]) -> list[str]:
            made = [
                ToolCall(
                    id=f"{call.id}_{r.id}",
                    name=r.name,
                    input=r.input,
                    caller=LOCAL_CALLER,
                    script_id=call.id,
                    request_index=run.requests,
                )
                for r in requests
            ]
            run.calls.extend(made)
            await self.turn.run_calls(made, None)
            return [c.output or "" for c in made]

        result = await self.sandbox.run(code, self.tool_names, tool_calls, self.positional)
        step.stdout, step.stderr, step.return_code = result.stdout, result.stderr, result.return_code
        step.result_type = "local_sandbox_result"
        return result.as_tool_result()

    async def aclose(self) -> None:
        if self.owned:
            await self.sandbox.aclose()
