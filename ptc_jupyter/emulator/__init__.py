"""The offline emulator: a local stand-in for the Messages API's programmatic tool calling.

The real `anthropic` SDK talks to it over HTTP (`base_url=server.url`, `api_key=server.api_key`),
so a host runs the same code path as against the API. It is a protocol stand-in, not a model: the
script is the first fenced python block of the prompt's last user message. See DESIGN.md section 4.
It runs that code as the user, so it serves only requests with its key addressed to a loopback
host (docs/security.md).

    with EmulatorServer(EmulatorConfig(pending_deadline_s=5)) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key=server.api_key)

What a host can rely on:
- A `tool_result` reaches the script as the tool function's return value: the string, or its
  text blocks joined with no separator. `is_error: true` changes nothing: the script gets the
  same string (so put "Error: ..." in it); it does not raise.
- A call unanswered for `pending_deadline_s` raises `TimeoutError` in the script; a late result
  for it is accepted and ignored.
- Resending a continuation that was already applied (a retry after a broken stream) gets the
  same answer again.
- `/_emulator/state` counts every sandbox process, the warm spare included.
"""

from .config import EmulatorConfig
from .server import EmulatorServer, start_emulator

__all__ = ["EmulatorConfig", "EmulatorServer", "start_emulator"]
