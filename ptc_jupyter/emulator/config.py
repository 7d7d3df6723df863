"""`EmulatorConfig`: the few knobs of the offline emulator, with the real API's values as defaults."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    """

    pending_deadline_s: float = 270.0
    container_idle_s: float = 300.0
    expose_direct_tools: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()
