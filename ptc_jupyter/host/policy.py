"""The host's own policy for each tool call: `allowed_callers` is only guidance to the model.

A call runs only if its tool is offered in this run, its input is an object, it comes from a
caller this host knows — the model directly, a code-execution script of this run that is still
awaiting its result, or (with `sandbox="local"`) a local script that is running — from code only
for tools that allow it, and within the run's call budget. Anything else gets an error result
naming the reason and never runs.
"""

from __future__ import annotations

from collections.abc import Container, Mapping

from ptc_jupyter.host.local_mode import LOCAL_CALLER
from ptc_jupyter.calls.tools import Tool
from ptc_jupyter.trace.run import ToolCall


def refusal(call: ToolCall, tools: Mapping[str, Tool], *, direct_run: bool, local_run: bool,
            awaiting: Container[str | None], calls_started: int, max_calls: int) -> str | None:
    """Why `call` may not run, or None if it may."""
    tool = tools.get(call.name)
    if tool is None:
        return f"unknown tool {call.name!r}: it is not offered in this run"
    if not isinstance(call.input, dict):
        return "tool input must be a JSON object"
    if call.programmatic:
        known = call.caller == LOCAL_CALLER if local_run else call.caller.startswith("code_execution_")
        if not known:
            return f"caller type {call.caller!r} is not one this host knows; the call was not run"
        if direct_run:
            return "programmatic calls are not allowed in a direct (classic tool calling) run"
        if not tool.programmatic:
            return f"tool {call.name!r} may not be called from code (allowed_callers: {tool.allowed_callers})"
        if call.script_id not in awaiting:
            what = "local script" if local_run else "code-execution block"
            return f"caller {call.script_id!r} matches no {what} of this run that is awaiting its result"
    if calls_started >= max_calls:
        return f"call budget exhausted: this run allows at most {max_calls} tool calls"
    return None
