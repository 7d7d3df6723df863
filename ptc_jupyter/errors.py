"""The package's own exceptions (no heavy imports, so `import ptc_jupyter` stays fast)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ptc_jupyter.trace.run import Run


class RunError(Exception):
    """The run failed for good (the API, after the SDK's retries). `.run` keeps everything recorded so far."""

    def __init__(self, message: str, run: Run) -> None:
        super().__init__(message)
        self.run = run


class OptionError(ValueError):
    """A run setting with a value it cannot take; `.option` names the setting."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.reason = message
