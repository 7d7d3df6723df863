import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # test helpers such as scripted_api

import pytest

from ptc_jupyter.calls.tools import registry


@pytest.fixture
def clean_registry():
    """The process-wide tool registry, empty for one test and restored after it (public API only)."""
    saved = list(registry)
    registry.clear()
    yield registry
    registry.clear()
    for tool in saved:
        registry.add(tool)


@pytest.fixture(scope="module")
def emulator():
    """An offline emulator of the module's own (a module overrides this to configure it)."""
    from ptc_jupyter.emulator import EmulatorServer

    with EmulatorServer() as server:
        yield server


@pytest.fixture
def client(emulator):
    """The real (sync) SDK client, talking to `emulator`; no retries, so each answer is the emulator's own."""
    import anthropic

    return anthropic.Anthropic(base_url=emulator.url, api_key=emulator.api_key, max_retries=0)


@pytest.fixture
def session(emulator):
    """A session whose offline runs go to `emulator`."""
    from ptc_jupyter.host.session import Session

    return Session(emulator=emulator)
