"""How a record shows itself (IPython's rich display, `print(run)`), without importing a view.

`Run` and `OutputFile` ask these hooks; the display layer fills them in when `ptc_jupyter` is
imported (`display/__init__.py`). The record never depends on how it is drawn, and until a view
is installed a record shows as its one-line repr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Bundle = dict[str, Any]


@dataclass
class Presenters:
    run_bundle: Callable[[Any], Bundle] | None = None  # a finished run as a MIME bundle
    run_text: Callable[[Any], str] | None = None  # a run as plain text (`str(run)`)
    file_bundle: Callable[[Any], Bundle] | None = None  # one output file as a MIME bundle


presenters = Presenters()
