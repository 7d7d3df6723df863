"""A conversation across runs: each turn's messages (prompt, scripts, results, answer) and the
container carry over to the next, so "now break that down by month" knows what "that" was.

    conv = ptc.Conversation()
    ptc.run("Which region sold most?", conversation=conv)
    ptc.run("Break that down by month.", conversation=conv)     # sends turn 1's messages too

Only a run that completed becomes a turn. Long histories are trimmed at turn boundaries, oldest
first (a turn is kept whole, so every `tool_use` keeps its `tool_result` and every script its
result, as the API requires), once there are more than `max_turns` turns or the history's JSON
exceeds `max_chars`; the run says so. Running the same source again (a re-run notebook cell)
replaces that source's own latest turn instead of stacking a copy of it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_TURNS = 20
DEFAULT_MAX_CHARS = 400_000  # about 100k tokens of history


@dataclass
class Turn:
    """One completed run of the conversation: where its messages start, and what it was."""

    number: int
    prompt: str
    start: int  # index into Conversation.messages of the turn's first (user) message
    source: str | None = None  # who asked (a notebook cell), so a re-run replaces its own turn


def _headline(prompt: str, limit: int = 60) -> str:
    line = next((ln.strip() for ln in prompt.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class Conversation:
    """Messages and container of earlier runs; `ptc.run(..., conversation=conv)` continues it."""

    max_turns: int = DEFAULT_MAX_TURNS
    max_chars: int = DEFAULT_MAX_CHARS
    id: str = field(default_factory=lambda: f"conv_{secrets.token_hex(4)}")
    messages: list[dict[str, Any]] = field(default_factory=list, repr=False)
    turns: list[Turn] = field(default_factory=list)
    container_id: str | None = None
    model: str | None = None  # the model of its first turn: later turns continue with it
    _pending: tuple[list[Turn], int] | None = field(default=None, repr=False, compare=False)
    _sandbox: Any = field(default=None, repr=False, compare=False)

    def describe(self, turn: Turn) -> dict[str, Any]:
        """What a run's trace says of its place here: `{"id", "turn", "continues"}`."""
        index = next((i for i, t in enumerate(self.turns) if t is turn), len(self.turns))
        earlier = self.turns[index - 1] if index > 0 else None
        return {
            "id": self.id,
            "turn": turn.number,
            "continues": {"turn": earlier.number, "prompt": _headline(earlier.prompt)} if earlier else None,
        }

    def local_sandbox(self) -> Any:
        """The conversation's local sandbox (`sandbox="local"`), made on first use: its REPL
        state carries over from turn to turn, like a server container's."""
        if self._sandbox is None:
            from ptc_jupyter.sandbox import LocalSandbox

            self._sandbox = LocalSandbox()
        return self._sandbox

    def __len__(self) -> int:
        return len(self.turns)

    def prepare(self, source: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        """The history the next turn sends, and notes saying what it continues (and what was
        dropped). Nothing changes until `record`: a run that fails leaves the conversation as it was."""
        turns = [dataclasses.replace(t) for t in self.turns]
        messages = list(self.messages)
        notes = []
        if source is not None and turns and turns[-1].source == source:
            replaced = turns.pop()
            del messages[replaced.start :]
            notes.append(f"this source's earlier turn {replaced.number} is replaced, not repeated")
        dropped = _trim(turns, messages, self.max_turns, self.max_chars)
        if dropped:
            notes.append(
                f"the oldest {dropped} turn(s) were left out of the history "
                f"(limits: {self.max_turns} turns, {self.max_chars:,} characters)"
            )
        if turns:
            last = turns[-1]
            notes.insert(
                0,
                f"continues {self.id} from turn {last.number} ({_headline(last.prompt)!r})"
                + (f" in container {self.container_id}" if self.container_id else ""),
            )
        self._pending = (turns, len(messages))
        return copy.deepcopy(messages), notes

    def record(
        self,
        prompt: str,
        messages: list[dict[str, Any]],
        container_id: str | None,
        source: str | None = None,
        *,
        model: str | None = None,
    ) -> Turn:
        """Take a completed run's whole exchange: the history `prepare` gave it, then its own messages."""
        turns, sent = self._pending if self._pending is not None else (list(self.turns), len(self.messages))
        self._pending = None
        number = (turns[-1].number + 1) if turns else 1
        turn = Turn(number=number, prompt=prompt, start=sent, source=source)
        self.turns = [*turns, turn]
        self.messages = copy.deepcopy(messages)
        if container_id:
            self.container_id = container_id
        if len(self.turns) == 1 or self.model is None:  # a first turn (or its replacement) sets the model
            self.model = model
        return turn

    def __repr__(self) -> str:
        return f"<Conversation {self.id}: {len(self.turns)} turns, container {self.container_id}>"


def _trim(turns: list[Turn], messages: list[dict[str, Any]], max_turns: int, max_chars: int) -> int:
    """Drop whole turns, oldest first, until at most `max_turns - 1` remain (room for the new one)
    and the history's JSON fits `max_chars`; the newest turn is always kept. Returns how many."""
    dropped = 0
    while len(turns) > 1 and (
        len(turns) >= max_turns or len(json.dumps(messages, ensure_ascii=False, default=str)) > max_chars
    ):
        cut = turns[1].start
        del messages[:cut]
        turns.pop(0)
        for turn in turns:
            turn.start -= cut
        dropped += 1
    return dropped
