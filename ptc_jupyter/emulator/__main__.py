"""`python -m ptc_jupyter.emulator` (or `ptc-emulator`): run the offline emulator in the foreground.

Standard output starts with the URL, then the `export` lines a shell needs to point the SDK at
it; the API key is printed only when it was generated here (one given is never echoed).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping

from ptc_jupyter.emulator.config import EmulatorConfig
from ptc_jupyter.emulator.server import EmulatorServer
from ptc_jupyter.sandbox.config import GIB

KEY_ENV = "PTC_EMULATOR_KEY"


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> EmulatorConfig:
    parser = argparse.ArgumentParser(
        prog="ptc-emulator", description="Offline stand-in for the Messages API's programmatic tool calling."
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1); beyond loopback, the key is the only guard",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the key clients must send (default: ${KEY_ENV}, else a new random one, printed "
        "at start); prefer the variable: command lines are visible to other users",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also serve requests whose Host header names NAME (repeatable)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=270.0,
        metavar="S",
        help="seconds a programmatic call may wait for its result (default: 270)",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=300.0,
        metavar="S",
        help="seconds of idleness after which a container expires (default: 300)",
    )
    parser.add_argument(
        "--cell-limit",
        type=float,
        default=90.0,
        metavar="S",
        help="seconds a Python cell or bash command may run (default: 90; tool waits not counted)",
    )
    parser.add_argument(
        "--memory-limit",
        type=float,
        default=2.0,
        metavar="GIB",
        help="memory each container process may allocate, in GiB (default: 2; 0: no limit)",
    )
    parser.add_argument(
        "--max-processes",
        type=int,
        default=64,
        metavar="N",
        help="most processes a container may have at once (default: 64; 0: no cap)",
    )
    parser.add_argument(
        "--cache-min-tokens",
        type=int,
        default=1024,
        metavar="N",
        help="shortest prefix (estimated tokens) prompt caching stores (default: 1024, as for "
        "Opus/Sonnet-class models; 2048 or 4096 for Haiku)",
    )
    parser.add_argument(
        "--expose-direct-tools",
        action="store_true",
        help="also let scripts call tools whose allowed_callers lack code execution",
    )
    args = parser.parse_args(argv)
    return EmulatorConfig(
        pending_deadline_s=args.deadline,
        container_idle_s=args.idle,
        cell_limit_s=args.cell_limit,
        expose_direct_tools=args.expose_direct_tools,
        host=args.host,
        port=args.port,
        api_key=args.api_key or environ.get(KEY_ENV) or None,
        allowed_hosts=tuple(args.allow_host),
        memory_limit_bytes=int(args.memory_limit * GIB) if args.memory_limit > 0 else None,
        max_processes=args.max_processes if args.max_processes > 0 else None,
        cache_min_tokens=args.cache_min_tokens,
    )


def client_lines(server: EmulatorServer, key_was_given: bool) -> list[str]:
    """What to print on standard output: the URL, then the shell lines for the SDK's variables."""
    lines = [server.url or "", f"export ANTHROPIC_BASE_URL={server.url}"]
    if key_was_given:
        lines.append(f"# ANTHROPIC_API_KEY: the key given by --api-key or ${KEY_ENV}")
    else:
        lines.append(f"export ANTHROPIC_API_KEY={server.api_key}")
    return lines


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="ptc-emulator: %(levelname)s: %(message)s")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    server = EmulatorServer(config).start()
    print("\n".join(client_lines(server, key_was_given=config.api_key is not None)), flush=True)
    print(
        "ptc-jupyter offline emulator listening; clients must send its API key. Ctrl-C stops it.",
        file=sys.stderr,
        flush=True,
    )
    try:
        stopping.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
