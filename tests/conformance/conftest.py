"""Conformance tests: the host driven through recorded-shape real API traffic (fixtures/), served by
replay_server.py (not the emulator), through the real anthropic SDK. Helpers: conformance_support.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from replay_server import ReplayServer, load_scenario


@pytest.fixture
def replay() -> Iterator[Callable[[str], ReplayServer]]:
    """`server = replay("ptc_dice")`: a running replay server for that scenario, stopped after the test."""
    started: list[ReplayServer] = []

    def start(name: str) -> ReplayServer:
        server = ReplayServer(load_scenario(name)).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
