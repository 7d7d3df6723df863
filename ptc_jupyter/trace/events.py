"""The events the host emits as a run goes: each carries the live `Run` and the part that changed.

The host fills a `Run` in and emits an event after each change; views subscribe (the loop knows
nothing of widgets). `StepStarted`/`StepFinished` come once per step (`step.kind` says which);
`ScriptDraft` shows a Python cell while it streams; `FilesAdded` follows `Run.files` growing.

Only type annotations name the record's classes, so this module imports nothing of `trace` at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ptc_jupyter.trace.files import OutputFile
    from ptc_jupyter.trace.run import Run, ToolCall
    from ptc_jupyter.trace.steps import Step

__all__ = [
    "CallFinished",
    "CallStarted",
    "Event",
    "FilesAdded",
    "Notice",
    "RequestSent",
    "ResponseReceived",
    "RunFinished",
    "ScriptDraft",
    "StepFinished",
    "StepStarted",
    "TextReceived",
]


@dataclass
class Event:
    run: Run


@dataclass
class RequestSent(Event):
    index: int  # 1-based API round trip


@dataclass
class ResponseReceived(Event):
    index: int
    stop_reason: str | None


@dataclass
class ScriptDraft(Event):
    code: str  # a script Claude is still writing (streamed responses only); StepStarted follows


@dataclass
class StepStarted(Event):
    step: Step  # appended to run.steps; no result yet


@dataclass
class StepFinished(Event):
    step: Step  # its result was applied


@dataclass
class FilesAdded(Event):
    files: list[OutputFile]  # just appended to run.files


@dataclass
class CallStarted(Event):
    call: ToolCall


@dataclass
class CallFinished(Event):
    call: ToolCall


@dataclass
class TextReceived(Event):
    text: str  # a text block of Claude's (the answer grows by these)


@dataclass
class Notice(Event):
    message: str  # something the user should see: offline mode, expired container, budget...


@dataclass
class RunFinished(Event):
    pass
