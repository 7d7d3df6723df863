"""The host's own policy for each tool call: `allowed_callers` is only guidance to the model.

A call runs only if its tool is offered in this run, its input is an object, it comes from a
caller this host knows (the model directly, a code-execution script of this run that is still
awaiting its result, or, with `sandbox="local"`, a local script that is running), from code only
for tools that allow it, and within the run's call budget. Anything else gets an error result
naming the reason and never runs. The reasons are one table, `REFUSALS`.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from ptc_jupyter.calls.tools import Tool
from ptc_jupyter.host.local_mode import LOCAL_CALLER
from ptc_jupyter.trace.run import ToolCall

RefusalKind = Literal[
    "unknown_tool",
    "input_not_object",
    "unknown_caller_type",
    "code_in_direct_run",
    "not_callable_from_code",
    "caller_not_awaiting",
    "budget_exhausted",
]

#: Every reason a call is refused, and the text its error result says (`str.format` fields).
REFUSALS: dict[RefusalKind, str] = {
    "unknown_tool": "unknown tool {name!r}: it is not offered in this run",
    "input_not_object": "tool input must be a JSON object",
    "unknown_caller_type": "caller type {caller!r} is not one this host knows; the call was not run",
    "code_in_direct_run": "programmatic calls are not allowed in a direct (classic tool calling) run",
    "not_callable_from_code": "tool {name!r} may not be called from code (allowed_callers: {allowed_callers})",
    "caller_not_awaiting": "caller {script_id!r} matches no {script_kind} of this run that is awaiting its result",
    "budget_exhausted": "call budget exhausted: this run allows at most {max_calls} tool calls",
}
assert set(REFUSALS) == set(get_args(RefusalKind))


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    message: str


@dataclass(frozen=True)
class CallPolicy:
    """One run's policy: what it offers and how it runs. `check` is asked once per call."""

    tools: Mapping[str, Tool]
    max_calls: int
    direct_run: bool = False
    local_run: bool = False

    def check(self, call: ToolCall, *, awaiting: Container[str | None], calls_started: int) -> Refusal | None:
        """Why `call` may not run, or None if it may."""
        tool = self.tools.get(call.name)
        if tool is None:
            return self._refuse("unknown_tool", call)
        if not isinstance(call.input, dict):
            return self._refuse("input_not_object", call)
        if call.programmatic:
            known = call.caller == LOCAL_CALLER if self.local_run else call.caller.startswith("code_execution_")
            if not known:
                return self._refuse("unknown_caller_type", call)
            if self.direct_run:
                return self._refuse("code_in_direct_run", call)
            if not tool.programmatic:
                return self._refuse("not_callable_from_code", call, allowed_callers=tool.allowed_callers)
            if call.script_id not in awaiting:
                return self._refuse("caller_not_awaiting", call)
        if calls_started >= self.max_calls:
            return self._refuse("budget_exhausted", call)
        return None

    def _refuse(self, kind: RefusalKind, call: ToolCall, **fields: object) -> Refusal:
        script_kind = "local script" if self.local_run else "code-execution block"
        message = REFUSALS[kind].format(
            name=call.name,
            caller=call.caller,
            script_id=call.script_id,
            script_kind=script_kind,
            max_calls=self.max_calls,
            **fields,
        )
        return Refusal(kind, message)
