"""session.py: backend choice, clients per loop, and the up-front model check."""

from __future__ import annotations

import asyncio

import pytest

import ptc_jupyter as ptc
from ptc_jupyter.session import ANTHROPIC, Backend, Session
from ptc_jupyter.tools import function_tool
from scripted_api import ScriptedAPI, message


def answer(value: str) -> str:
    """Returns value."""
    return value


def keyed_session(api: ScriptedAPI) -> Session:
    return Session(api_key="test-key", base_url=api.url, max_retries=0)


def test_a_model_without_ptc_is_refused_before_any_message():
    with ScriptedAPI([], models={"claude-haiku-4-5": False}) as api:
        with pytest.raises(ValueError, match="'claude-haiku-4-5' cannot run programmatic tool calling"):
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
            ptc.run("hi", tools=[function_tool(answer)], model="claude-a", session=session)
        ptc.run("hi", tools=[function_tool(answer)], model="claude-direct-only", session=session, direct=True)
    assert api.model_lookups == ["claude-a"] and len(api.requests) == 3


def test_clients_belong_to_their_event_loop():
    session = Session(api_key="k", base_url="http://127.0.0.1:9")
    backend = Backend(ANTHROPIC)

    async def get():
        return session.client(backend), session.client(backend)

    first_a, first_b = asyncio.run(get())
    second, _ = asyncio.run(get())
    assert first_a is first_b and second is not first_a
