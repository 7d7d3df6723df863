"""session.py: backend choice, clients per loop, and the up-front model check."""

from __future__ import annotations

import asyncio

import pytest
from scripted_api import ScriptedAPI, message

import ptc_jupyter as ptc
from ptc_jupyter.calls.tools import function_tool
from ptc_jupyter.host.session import ANTHROPIC, Backend, Session


def answer(value: str) -> str:
    """Returns value."""
    return value


def keyed_session(api: ScriptedAPI) -> Session:
    return Session(api_key="test-key", base_url=api.url, max_retries=0)


def test_a_model_without_ptc_is_refused_before_any_message():
    with ScriptedAPI([], models={"claude-haiku-4-5": False}) as api:
        with pytest.raises(
            ValueError, match="'claude-haiku-4-5' has no code execution that can call tools.*sandbox='local'"
        ):
            ptc.run("hi", tools=[function_tool(answer)], model="claude-haiku-4-5", session=keyed_session(api))
    assert api.requests == []


def test_an_unknown_model_is_refused_clearly():
    with ScriptedAPI([], models={}) as api:
        with pytest.raises(ValueError, match="model 'claude-nope' was not found"):
            ptc.run("hi", tools=[function_tool(answer)], model="claude-nope", session=keyed_session(api))


def test_the_check_runs_once_per_model_and_not_for_direct_runs():
    replies = [message([{"type": "text", "text": "ok"}]) for _ in range(3)]
    with ScriptedAPI(replies, models={"claude-a": True}) as api:
        session = keyed_session(api)
        for _ in range(2):
            ptc.run("hi", tools=[function_tool(answer)], model="claude-a", session=session, stream=False)
        ptc.run(
            "hi", tools=[function_tool(answer)], model="claude-direct-only", session=session, stream=False, direct=True
        )
    assert api.model_lookups == ["claude-a"] and len(api.requests) == 3


def test_clients_belong_to_their_event_loop():
    session = Session(api_key="k", base_url="http://127.0.0.1:9")
    backend = Backend(ANTHROPIC)

    async def get():
        return session.client(backend), session.client(backend)

    first_a, first_b = asyncio.run(get())
    second, _ = asyncio.run(get())
    assert first_a is first_b and second is not first_a


SOCKET_COUNT = r"""
import asyncio, json, sys
import psutil
import ptc_jupyter as ptc
from ptc_jupyter.host.background import background_loop
from ptc_jupyter.emulator import EmulatorServer

async def double(x: int) -> int:
    '''Returns 2*x.'''
    return 2 * x

PROMPT = "Run this.\n\n```python\nprint(await double({'x': 2}))\n```\n"
server = EmulatorServer().start()
session = ptc.Session(emulator=server)

def client_sockets():
    port = int(server.url.rsplit(":", 1)[1])
    return sum(1 for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port)

counts = {}
for _ in range(20):
    assert ptc.run(PROMPT, tools=[double], offline=True, session=session).text
counts["after_20_run"] = client_sockets()
for _ in range(20):
    assert asyncio.run(ptc.arun(PROMPT, tools=[double], offline=True, session=session)).text
counts["after_20_asyncio_run"] = client_sockets()
background_loop.stop()
counts["after_stop"] = client_sockets()
server.stop()
print(json.dumps(counts))
"""


def test_twenty_runs_from_a_script_leave_no_open_sockets():
    """Sync runs share the background loop's one client; each asyncio.run closes the client it made."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", SOCKET_COUNT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["after_20_run"] <= 1, counts  # the one pooled keep-alive connection, reused 20 times
    assert counts["after_20_asyncio_run"] <= 1, counts  # those 20 loops closed their clients
    assert counts["after_stop"] == 0, counts


def test_a_client_is_closed_with_the_loop_that_made_it():
    session = Session(emulator_url="http://127.0.0.1:9", emulator_key="k")
    clients = []

    async def make():
        clients.append(session.client(Backend("offline-emulator")))

    asyncio.run(make())
    assert clients[0].is_closed()
