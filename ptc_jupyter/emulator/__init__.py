"""The offline emulator: a local stand-in for the Messages API's programmatic tool calling.

The real `anthropic` SDK talks to it over HTTP (`base_url=server.url`, `api_key=server.api_key`),
so a host runs the same code path as against the API. It is a protocol stand-in, not a model: the
prompt's last user message says what "Claude" does. See DESIGN.md section 4. It runs that code as
the user, so it serves only requests with its key addressed to a loopback host (docs/security.md).

    with EmulatorServer(EmulatorConfig(pending_deadline_s=5)) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key=server.api_key)

Prompt conventions (the text blocks of the last user message, `container_upload` blocks beside
them allowed; `role: "system"` messages anywhere are accepted and ignored). Its fenced blocks are
the turn's steps, run in the order they appear; fences with other info strings are skipped:

- ```` ```python ```` (also `python3`, `py`): a Python cell: `server_tool_use` `code_execution`
  `{"code"}`, then `code_execution_tool_result` (`code_execution_result` `{stdout, stderr,
  return_code, content: [code_execution_output {file_id}]}`). Only these can call tools (PTC): a
  cell that calls tools pauses the turn (`stop_reason: "tool_use"`) until their results come back.
  REPL state persists in the container.
- ```` ```bash ```` (also `sh`): `server_tool_use` `bash_code_execution` `{"command"}`, then
  `bash_code_execution_tool_result` (`bash_code_execution_result` `{stdout, stderr, return_code,
  content: [bash_code_execution_output {file_id}]}`), run by `bash -c` in the container's
  directory with its environment; background processes it leaves are killed when it exits.
- ```` ```text_editor ```` holding a JSON object: `server_tool_use` `text_editor_code_execution`
  with that object as input, then `text_editor_code_execution_tool_result`: `view` (`path`,
  optional `view_range` [first, last], -1 for the end) gives `…_view_result {content, file_type,
  num_lines, start_line, total_lines}`; `create` (`path`, `file_text`) gives `…_create_result
  {is_file_update}`; `str_replace` (`path`, `old_str` occurring exactly once, `new_str`) gives
  `…_str_replace_result {old_start, old_lines, new_start, new_lines, lines}` ("-old", "+new"
  lines); failures give `…_tool_result_error {error_code: file_not_found | invalid_tool_input,
  error_message}`. Relative paths are relative to the container's directory.

Steps after a failing one still run (the script is fixed in advance). The final text is the
steps' stripped stdout, then how each failed step failed; a prompt with no step gets a text that
explains offline mode. Without a code_execution tool (direct mode) only the first python block
runs, as classic tool calling. Without a code_execution tool but with a client tool named
`run_python` (a model without code execution, `--sandbox local`), each python block goes out in
turn as a direct `tool_use` of `run_python` `{"code"}`, and the final text is the results' texts
(`run_python.py`). Model ids containing "no-code-execution" (or listed in
`EmulatorConfig.models_without_code_execution`) say in the Models API that code execution is not
supported, and a request for one of them with a code_execution tool gets a 400.

The container: a private directory (HOME and cwd) with `$OUTPUT_DIR` (`outputs/`) and
`$INPUT_DIR` (`inputs/`, both also in the environment). The docs say only that `container_upload`
files appear in the container's input directory (the SDK's `ContainerUploadBlockParam`) and code
reads them from `$INPUT_DIR` (e.g. vercel/ai#15556); the emulator copies every `container_upload`
file of the request's user messages to `$INPUT_DIR/<filename>` before a turn's steps run (an
unknown `file_id` gets a 404 `not_found_error`). After each python or bash step, files new or
changed in `$OUTPUT_DIR` become Files API files (`downloadable: true`) listed in the step's result.
Files API: `POST/GET /v1/files`, `GET/DELETE /v1/files/{id}`, `GET /v1/files/{id}/content`
(`files_api.py`); uploaded files are `downloadable: false`, as the SDK's
`FileNotDownloadableError` documents.

What a host can rely on:
- A `tool_result` reaches the script as the tool function's return value: the string, or its
  text blocks joined with no separator. `is_error: true` changes nothing: the script gets the
  same string (so put "Error: ..." in it); it does not raise.
- A call unanswered for `pending_deadline_s` raises `TimeoutError` in the script; a late result
  for it is accepted and ignored.
- A Python cell running longer than `cell_limit_s` (90 s, the 20260521 tool's documented limit)
  ends with a normal result: return code 1 and a `detection_timeout` message in stderr. Assumed,
  as the docs do not say: time spent waiting for tool results does not count. A cell that does not
  stop when interrupted costs the container its process (REPL state and files). A bash command
  running longer ends with the `execution_time_exceeded` error result.
- Limits (docs/security.md): each container process may allocate `memory_limit_bytes` (2 GiB; a
  larger allocation raises MemoryError in the script, on Linux); past `max_processes` (64) processes
  at once, all of the container's processes are killed, the cell ends with return code 137 and
  says why, and the container is gone. What a cell leaves running is killed when it ends.
- Usage is an estimate (bytes/4: input, what is in Claude's context, which the calls a script made
  and their results are not; output, what the model wrote, which those calls and the server tools'
  results are not; the response says `"emulator": {"usage_estimated": true}`), split by prompt
  caching as the API splits it (`prompt_cache.py`): with `cache_control` breakpoints, the longest
  prefix cached within its TTL (5 minutes) is `cache_read_input_tokens`, the part up to the last
  breakpoint is written (`cache_creation_input_tokens`, only for prefixes of at least
  `cache_min_tokens`, 1,024), the rest `input_tokens`. More than 4 breakpoints, or one on a code-called `tool_use` or its
  `tool_result`, is the API's 400.
- Resending a continuation that was already applied (a retry after a broken stream) gets the
  same answer again.
- `/_emulator/state` counts every sandbox process, the warm spare included.
"""

from ptc_jupyter.emulator.config import EmulatorConfig
from ptc_jupyter.emulator.server import EmulatorServer, start_emulator

__all__ = ["EmulatorConfig", "EmulatorServer", "start_emulator"]
