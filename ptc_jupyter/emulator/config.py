"""`EmulatorConfig`: the few knobs of the offline emulator, with the real API's values as defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from ptc_jupyter.sandbox.config import GIB, SandboxConfig

#: A model whose id contains this says, in the Models API, that it has no code execution.
NO_CODE_EXECUTION_MARK = "no-code-execution"
#: Captured stdout/stderr of a python cell beyond this many bytes is dropped with a marker.
CELL_OUTPUT_BYTES = 1_000_000


@dataclass
class EmulatorConfig:
    """How the emulator behaves; the time limits are shortened in tests.

    pending_deadline_s: how long a programmatic call may wait for its result before the script
        gets `TimeoutError` (the API's ~4-minute wait).
    container_idle_s: a container idle this long is killed; later requests naming it get the
        API's expired-container 400.
    expose_direct_tools: also define tools without a code-execution caller in the script, so a
        host can be tested on refusing such calls.
    host, port: where to listen; port 0 picks a free port. Beyond loopback, the key is the only guard.
    api_key: the key every request must carry; None makes a random one (`EmulatorServer.api_key`).
    allowed_hosts: Host header names served besides loopback ones and `host` (e.g. the machine's
        name when listening beyond loopback).
    cell_limit_s: how long one step may run: a Python cell that runs longer ends with a normal
        result, a non-zero return code and a `detection_timeout` message in stderr (the API's
        90-second limit per cell; the time a cell waits for tool results does not count); a bash
        command that runs longer ends with the `execution_time_exceeded` error result. None: no limit.
    max_file_bytes: the largest file the Files API accepts (upload: 413) and the largest output
        file a step may leave in $OUTPUT_DIR (bash: `output_file_too_large`; python: the file is
        left out and stderr says so).
    memory_limit_bytes: the memory each process of a container may allocate (Linux: enforced, a
        larger allocation raises MemoryError in the script; the API's container has 5 GiB). None: no limit.
    max_processes: the most processes a container may have at once; past it all of them are killed
        (the cell ends with return code 137 and says why; the container is gone). None: no cap.
    models_without_code_execution: model ids whose Models API entry says code execution is not
        supported (as does any id containing "no-code-execution"); a request for one of them with
        a code execution tool gets a 400.
    cache_min_tokens: the shortest prefix (estimated tokens) a breakpoint caches: 1,024 for the
        Opus/Sonnet-class models; 2,048 or 4,096 for others (Haiku). See `prompt_cache.py`.
    cache_ttl_s, cache_ttl_1h_s: how long a cached prefix lives unread (`ttl` "5m", the default, and "1h").
    cache_lookback_blocks: how many blocks before each breakpoint the cache is also looked up at.
    """

    pending_deadline_s: float = 270.0
    container_idle_s: float = 300.0
    expose_direct_tools: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()
    cell_limit_s: float | None = 90.0
    max_file_bytes: int = 500 * 1024 * 1024
    memory_limit_bytes: int | None = 2 * GIB
    max_processes: int | None = 64
    models_without_code_execution: tuple[str, ...] = ()
    cache_min_tokens: int = 1024
    cache_ttl_s: float = 300.0
    cache_ttl_1h_s: float = 3600.0
    cache_lookback_blocks: int = 20

    def sandbox_config(self) -> SandboxConfig:
        """The limits of the containers' processes (the cell limit is applied by the turns)."""
        return SandboxConfig(
            wall_time_s=self.cell_limit_s,
            memory_bytes=self.memory_limit_bytes,
            output_bytes=CELL_OUTPUT_BYTES,
            network=True,
            max_processes=self.max_processes,
        )

    def supports_code_execution(self, model: str) -> bool:
        return NO_CODE_EXECUTION_MARK not in model and model not in self.models_without_code_execution
