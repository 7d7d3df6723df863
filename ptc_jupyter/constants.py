"""The API's names and limits this package relies on, stated once (shared/ptc-protocol.md).

The offline emulator keeps its own copy on purpose: it is an independent reference of the API.
"""

from __future__ import annotations

#: Code-execution tool versions that let code call the request's tools (PTC). The newest is last.
CODE_EXECUTION_TYPES = ("code_execution_20260120", "code_execution_20260521")
#: The newest: its tool description tells Claude about the 90 s limit per Python cell.
DEFAULT_CODE_EXECUTION = CODE_EXECUTION_TYPES[-1]
#: The API waits about 4 minutes (270 s) for a pending programmatic call's result, and a paused
#: response's `container.expires_at` may come sooner; calls are answered this long before either.
PENDING_CALL_DEADLINE_S = 270.0
DEADLINE_MARGIN_S = 15.0

#: The caller tag of a programmatic call. Responses always carry this one, whichever version the
#: request declared, and either value in `allowed_callers` admits calls from either version.
CODE_EXECUTION_CALLER = CODE_EXECUTION_TYPES[0]
#: Every value `allowed_callers` accepts.
CALLER_VALUES = ("direct", "code_execution_20250825", *CODE_EXECUTION_TYPES)

#: The largest file the Files API accepts (500 MB per file); a larger input file is refused up front.
FILES_API_MAX_BYTES = 500 * 1024 * 1024

DEFAULT_MODEL = "claude-opus-5-5"
DEFAULT_MAX_TOKENS = 8192
#: Above this, the SDK refuses a non-streaming request (3600 s · max_tokens / 128,000 > 600 s).
NON_STREAMING_MAX_TOKENS = 21_333
DEFAULT_MAX_CALLS = 500
#: Per-call limit, under the API's ~4-minute (270 s) wait for a pending programmatic call.
DEFAULT_TOOL_TIMEOUT_S = 200.0
DEFAULT_APPROVAL_TIMEOUT_S = 120.0

#: Tool names the API accepts.
TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,128}$"

#: The MIME type a finished run is saved under in a notebook (the labextension renders it).
MIME_TYPE = "application/vnd.ptc-jupyter.trace+json"

#: The import every `%ptc_script` cell begins with (its bind line): what marks a cell as a script cell.
SCRIPT_CELL_IMPORT = "from ptc_jupyter.script_cell import bind_tools"
