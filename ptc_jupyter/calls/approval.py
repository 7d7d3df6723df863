"""Asking before a side-effect tool runs: the questions, the answers, and asking in a terminal.

An approver is `async (call, tool) -> bool | str`; dispatch.py turns False into "denied by user"
(a string is the reason). Each one here is also a `dispatch.BatchApprover`: several side-effect
calls of one batch get one question (the script, every call with its input; allow all, none, some,
or a tool for the rest of the run), and what was allowed for the rest of the run is not asked again.
The notebook's own ways to ask (buttons in the live view, the kernel's stdin) are in
notebook/approval.py; `--yes` approves everything, for unattended runs.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ptc_jupyter.calls.dispatch import Approver, Decisions
from ptc_jupyter.calls.tools import Tool
from ptc_jupyter.trace.clipping import clip, preview
from ptc_jupyter.trace.run import Run, ToolCall

NO_WAY_TO_ASK = (
    "side-effect call(s) denied: there is no way to ask for approval here (the frontend takes no "
    "input and shows no live view); use %%ptc --yes or %config PTCMagics.yes = True for unattended runs"
)


#: How much of a script the batch question shows (collapsed) in the live view.
SCRIPT_PREVIEW_CHARS = 4_000
INPUT_PREVIEW_CHARS = 300


def question(call: ToolCall, tool: Tool) -> str:
    return f"ptc: allow {tool.name}({preview(call.input, INPUT_PREVIEW_CHARS)}) [side effects]? [y/N] "


def _scripts_phrase(calls: Sequence[ToolCall]) -> str:
    ids = list(dict.fromkeys(c.script_id for c in calls if c.script_id))
    if not ids:
        return ""
    return f" from script {ids[0]}" if len(ids) == 1 else f" from scripts {', '.join(ids)}"


def batch_question(calls: Sequence[ToolCall]) -> str:
    """One question for several side-effect calls, numbered from 1 (what `parse_batch_answer` reads)."""
    lines = [f"ptc: {len(calls)} side-effect calls{_scripts_phrase(calls)}:"]
    lines += [f"  [{n}] {c.name}({preview(c.input, INPUT_PREVIEW_CHARS)})" for n, c in enumerate(calls, 1)]
    lines.append(f"Allow? [a]ll / [n]one / numbers (e.g. 1,{len(calls)}) / t:TOOL (TOOL for the rest of this run): ")
    return "\n".join(lines)


BATCH_RETRY = "ptc: please answer a, n, call numbers such as 1,3 or 2-3, or t:TOOL (one of the tools listed)\n"
_ALL = {"a", "all", "y", "yes"}
_NONE = {"", "n", "no", "none"}


@dataclass(frozen=True)
class BatchAnswer:
    """What a typed answer to `batch_question` allows: call ids, and tools for the rest of the run."""

    allowed: frozenset[str]
    tools: frozenset[str]

    def decisions(self, calls: Sequence[ToolCall]) -> Decisions:
        return {c.id: c.id in self.allowed for c in calls}


def parse_batch_answer(answer: str, calls: Sequence[ToolCall]) -> BatchAnswer | None:
    """Read `a` / `all` / `y`, `n` / `none` / nothing, call numbers (`1,3`, `1 3`, `2-3`) and
    `t:TOOL` (also combined: `1, t:send`). None when any part is unclear: the caller asks again."""
    text = re.sub(r"\bt\s*:\s*", "t:", answer.strip(), flags=re.IGNORECASE)  # "T: send" -> "t:send"
    words = [w for w in re.split(r"[,;\s]+", text) if w]
    if len(words) <= 1 and (words[0].lower() if words else "") in _ALL | _NONE:
        everything = bool(words) and words[0].lower() in _ALL
        return BatchAnswer(frozenset(c.id for c in calls if everything), frozenset())
    names = {c.name.lower(): c.name for c in calls}
    numbers: set[int] = set()
    tools: set[str] = set()
    for word in words:
        if word.lower().startswith("t:"):
            name = word[2:]
            exact = next((c.name for c in calls if c.name == name), None)
            if exact is None and name.lower() not in names:
                return None
            tools.add(exact or names[name.lower()])
            continue
        span = re.fullmatch(r"(\d+)(?:-(\d+))?", word)
        if span is None:
            return None
        first, last = int(span[1]), int(span[2] or span[1])
        if not 1 <= first <= last <= len(calls):
            return None
        numbers.update(range(first, last + 1))
    allowed = {c.id for n, c in enumerate(calls, 1) if n in numbers or c.name in tools}
    return BatchAnswer(frozenset(allowed), frozenset(tools))


def note(run_of: Callable[[], Run | None], message: str) -> None:
    """Put a note in the live run's notices, once."""
    run = run_of()
    if run is not None and message not in run.notices:
        run.notices.append(message)


def deny_all(run_of: Callable[[], Run | None], message: str = NO_WAY_TO_ASK) -> Approver:
    async def deny(call: ToolCall, tool: Tool) -> str:
        note(run_of, message)
        return "(no way to ask for approval here; use --yes for unattended runs)"

    return deny


class RunAllowances:
    """What the user allowed for the rest of this run: every call, or every call of some tools."""

    def __init__(self) -> None:
        self.allow_rest = False
        self.allowed_tools: set[str] = set()

    def allowed_already(self, call: ToolCall) -> bool:
        return self.allow_rest or call.name in self.allowed_tools

    async def batch(self, calls: list[ToolCall], tools: Mapping[str, Tool]) -> Decisions:
        """One question for the calls not allowed already (with a single one: its own question)."""
        decisions: Decisions = {c.id: True for c in calls if self.allowed_already(c)}
        rest = [c for c in calls if c.id not in decisions]
        if len(rest) == 1:
            decisions[rest[0].id] = await self(rest[0], tools[rest[0].name])
        elif rest:
            decisions.update(await self._ask_batch(rest))
        return decisions

    async def __call__(self, call: ToolCall, tool: Tool) -> bool | str:
        raise NotImplementedError

    async def _ask_batch(self, calls: list[ToolCall]) -> Decisions:
        raise NotImplementedError


class TextAsker(RunAllowances):
    """Asks in text: a y/N question per call; one numbered question for a batch (`batch_question`),
    asked once more if the answer is unclear, then denied. Subclasses say how a question is asked."""

    async def ask(self, prompt: str) -> str | None:
        """The typed answer; None when nobody can answer (no stdin after all)."""
        raise NotImplementedError

    async def __call__(self, call: ToolCall, tool: Tool) -> bool:
        if self.allowed_already(call):
            return True
        reply = await self.ask(question(call, tool))
        return reply is not None and reply.strip().lower() in ("y", "yes")

    async def _ask_batch(self, calls: list[ToolCall]) -> Decisions:
        prompt = batch_question(calls)
        reply = None
        for attempt in range(2):
            reply = await self.ask(prompt if attempt == 0 else BATCH_RETRY + prompt)
            if reply is None:
                return {c.id: "(no way to ask for approval here)" for c in calls}
            answer = parse_batch_answer(reply, calls)
            if answer is not None:
                self.allowed_tools.update(answer.tools)
                return answer.decisions(calls)
        return {c.id: f"(unclear answer {clip(reply or '', 40)!r})" for c in calls}


class ConsoleAsker(TextAsker):
    """Plain Python with a terminal: `input()` in a thread, one question at a time (a lock shared
    by every loop, so askers on different loops never interleave their prompts)."""

    _terminal = threading.Lock()

    async def ask(self, prompt: str) -> str | None:
        return await asyncio.to_thread(self._ask_now, prompt)

    def _ask_now(self, prompt: str) -> str | None:
        with self._terminal:
            try:
                return input(prompt)
            except (EOFError, OSError, RuntimeError):
                return None
