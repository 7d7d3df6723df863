"""`RunOptions`: every setting of one run, with its default and its validation, defined once.

`ptc.run(..., max_calls=50)`, `%%ptc --max-calls 50` and `%config PTCMagics.max_calls = 50` all
end up here; the host reads it. Each field's metadata (`Setting`) says how the other entry points
spell it: the magic builds its `--flags` and its `%config` traits from these fields, so adding a
run option means adding a field here and reading it where it matters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from ptc_jupyter.constants import (
    CODE_EXECUTION_TYPES,
    DEFAULT_APPROVAL_TIMEOUT_S,
    DEFAULT_CODE_EXECUTION,
    DEFAULT_MAX_CALLS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    DEFAULT_TOOL_TIMEOUT_S,
    NON_STREAMING_MAX_TOKENS,
)
from ptc_jupyter.errors import OptionError


class NotGiven:
    """The default of a run setting's keyword argument when the caller did not give it (httpx's
    `USE_CLIENT_DEFAULT`): it falls back to `options=` or the default, while None keeps its
    meaning ("no limit", "automatic")."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()


SANDBOXES = ("local",)


@dataclass(frozen=True)
class Setting:
    """How one run setting appears outside Python: its help text, `%%ptc` flag and `%config` trait."""

    help: str
    flag: str | None = None  # the %%ptc option; None: not settable per cell
    off_flag: str | None = None  # for booleans: the flag that turns it off again for one cell
    metavar: str | None = None
    config: str | None = None  # the PTCMagics trait name; None: not configurable
    choices: tuple[str, ...] | None = None


def setting(default: Any, help: str, **how: Any) -> Any:
    return field(default=default, metadata={"setting": Setting(help, **how)})


@dataclass(frozen=True)
class RunOptions:
    """How one run behaves. Frozen: derive variants with `dataclasses.replace` (validated again)."""

    model: str = setting(DEFAULT_MODEL, "model name", flag="--model", metavar="NAME", config="model")
    max_tokens: int = setting(
        DEFAULT_MAX_TOKENS, "max_tokens per request", flag="--max-tokens", metavar="N", config="max_tokens"
    )
    max_calls: int = setting(
        DEFAULT_MAX_CALLS,
        "budget of tool calls for the run; more get an error result",
        flag="--max-calls",
        metavar="N",
        config="max_calls",
    )
    tool_timeout_s: float | None = setting(
        DEFAULT_TOOL_TIMEOUT_S,
        "time limit of one tool call (seconds)",
        flag="--tool-timeout",
        metavar="SECONDS",
        config="tool_timeout",
    )
    offline: bool | None = setting(
        None,
        "use the offline emulator (default: only when there is no API key)",
        flag="--offline",
        off_flag="--online",
        config="offline",
    )
    stream: bool = setting(
        True,
        "stream responses (the script shows while Claude writes it)",
        flag="--stream",
        off_flag="--no-stream",
        config="stream",
    )
    cache: bool = setting(
        True,
        "mark the stable prefix for prompt caching (later requests read it from the cache)",
        flag="--cache",
        off_flag="--no-cache",
        config="cache",
    )
    yes: bool = setting(
        False,
        "approve every side-effect call without asking (unattended runs)",
        flag="--yes",
        off_flag="--ask",
        config="yes",
    )
    direct: bool = setting(False, "classic tool calling, no code execution (for comparisons)", flag="--direct")
    code_execution: str = setting(
        DEFAULT_CODE_EXECUTION,
        "code-execution tool version",
        flag="--code-execution",
        metavar="VERSION",
        config="code_execution",
        choices=CODE_EXECUTION_TYPES,
    )
    sandbox: str | None = setting(
        None,
        "where Claude's scripts run: None = the API's code-execution container; "
        "'local' = a subprocess sandbox on this machine (for models without code execution)",
        flag="--sandbox",
        metavar="local",
        config="sandbox",
        choices=SANDBOXES,
    )
    container: str | None = setting(None, "resume this container", flag="--container", metavar="ID")
    new_container: bool = setting(
        False, "start a fresh code-execution container (forget the REPL state)", flag="--new-container"
    )
    executor: Executor | None = setting(
        None,
        "a concurrent.futures.Executor for sync tools (None: a shared "
        "thread pool); in a cell, the name of a kernel variable holding one",
        flag="--executor",
        metavar="NAME",
        config="executor",
    )
    keep_files: bool = setting(
        False, "keep the uploaded input files after the run (default: deleted)", flag="--keep-files"
    )
    approval_timeout_s: float = setting(
        DEFAULT_APPROVAL_TIMEOUT_S,
        "seconds to wait for Allow/Deny before denying",
        flag="--approval-timeout",
        metavar="SECONDS",
        config="approval_timeout",
    )

    def __post_init__(self) -> None:
        _check_type(self, "model", str)
        if not self.model.strip():
            raise OptionError("model", "must be a model name, got an empty string")
        _check_int(self, "max_tokens", low=1)
        if not self.stream and self.max_tokens > NON_STREAMING_MAX_TOKENS:
            raise OptionError(
                "max_tokens",
                f"above {NON_STREAMING_MAX_TOKENS:,} needs streaming (the SDK refuses a "
                f"single response that may take over 10 minutes): keep stream on, or "
                f"lower max_tokens; got {self.max_tokens:,}",
            )
        _check_int(self, "max_calls", low=0)
        _check_seconds(self, "tool_timeout_s", allow_none=True)
        _check_seconds(self, "approval_timeout_s", allow_none=False)
        for name in ("offline",):
            _check_type(self, name, (bool, type(None)))
        for name in ("stream", "cache", "yes", "direct", "new_container", "keep_files"):
            _check_type(self, name, bool)
        if self.code_execution not in CODE_EXECUTION_TYPES:
            raise OptionError(
                "code_execution", f"must be one of {', '.join(CODE_EXECUTION_TYPES)}, got {self.code_execution!r}"
            )
        _check_type(self, "container", (str, type(None)))
        if self.sandbox not in (None, *SANDBOXES):
            raise OptionError("sandbox", f"must be one of {', '.join(SANDBOXES)} (or None), got {self.sandbox!r}")
        if self.sandbox and self.direct:
            raise OptionError("sandbox", "cannot be combined with direct (a direct run executes no scripts)")
        if self.container is not None and self.new_container:
            raise OptionError("new_container", "cannot be combined with container (pick one)")
        if self.executor is not None and not isinstance(self.executor, Executor):
            raise OptionError("executor", f"must be a concurrent.futures.Executor, got {type(self.executor).__name__}")

    @classmethod
    def settings(cls) -> Iterator[tuple[dataclasses.Field[Any], Setting]]:
        """Every field with its `Setting`, in declaration order."""
        for f in dataclasses.fields(cls):
            yield f, f.metadata["setting"]

    @classmethod
    def build(cls, base: RunOptions | None = None, /, **values: Any) -> RunOptions:
        """`base` (default: the defaults) with every value that is not `NOT_GIVEN` put in.

        None is a value like any other (`tool_timeout_s=None`: no limit; `offline=None`: decide
        by the API key), so keyword arguments default to `NOT_GIVEN` to fall back to `base`."""
        given = {k: v for k, v in values.items() if v is not NOT_GIVEN}
        unknown = set(given) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown run option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(base or cls(), **given)


def _check_type(options: RunOptions, name: str, kind: type | tuple[type, ...]) -> None:
    value = getattr(options, name)
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise OptionError(name, f"must be {names.replace('NoneType', 'None')}, got {value!r}")


def _check_int(options: RunOptions, name: str, *, low: int) -> None:
    value = getattr(options, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(name, f"must be a whole number, got {value!r}")
    if value < low:
        raise OptionError(name, f"must be >= {low}, got {value}")


def _check_seconds(options: RunOptions, name: str, *, allow_none: bool) -> None:
    value = getattr(options, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise OptionError(name, f"must be a positive number of seconds, got {value!r}")
