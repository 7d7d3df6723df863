"""`python -m ptc_jupyter.emulator` (or `ptc-emulator`): run the offline emulator in the foreground."""

from __future__ import annotations

import argparse
import signal
import threading

from .config import EmulatorConfig
from .server import EmulatorServer


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    parser = argparse.ArgumentParser(
        prog="ptc-emulator", description="Offline stand-in for the Messages API's programmatic tool calling.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--deadline", type=float, default=270.0, metavar="S",
                        help="seconds a programmatic call may wait for its result (default: 270)")
    parser.add_argument("--idle", type=float, default=300.0, metavar="S",
                        help="seconds of idleness after which a container expires (default: 300)")
    parser.add_argument("--expose-direct-tools", action="store_true",
                        help="also let scripts call tools whose allowed_callers lack code execution")
    args = parser.parse_args(argv)
    return EmulatorConfig(pending_deadline_s=args.deadline, container_idle_s=args.idle,
                          expose_direct_tools=args.expose_direct_tools, host=args.host, port=args.port)


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    server = EmulatorServer(config).start()
    print(server.url, flush=True)
    print(f"ptc-jupyter offline emulator listening; use ANTHROPIC_BASE_URL={server.url} "
          "with any API key. Ctrl-C stops it.", flush=True)
    try:
        stopping.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
