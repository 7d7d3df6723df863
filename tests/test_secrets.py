"""With ANTHROPIC_API_KEY set, nothing the package writes or says contains it: runs, recordings,
saved notebooks, exported traces, error messages, logs, and MCP servers' environments."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from scripted_api import ScriptedAPI, api_error, message, script_block, script_result, tool_use

import ptc_jupyter as ptc
from ptc_jupyter.calls.tools import function_tool
from ptc_jupyter.display.render import mime_bundle
from ptc_jupyter.errors import RunError
from ptc_jupyter.host.background import background_loop
from ptc_jupyter.host.recording import session_for
from ptc_jupyter.host.session import Session

KEY = "fake-test-key-NOTREAL-secretsTest-0123456789abcdefZZZ"
ROOT = Path(__file__).resolve().parents[1]


def echo(text: str) -> str:
    """Returns the text."""
    return text


def turn():
    first = message(
        [script_block("print(await echo({'text': 'hi'}))"), tool_use("toolu_1", "echo", {"text": "hi"})],
        "tool_use",
        container="c_secret",
    )
    final = message([script_result("hi"), {"type": "text", "text": "said hi"}], container="c_secret")
    return [first, final]


def assert_no_key(*texts: str) -> None:
    for text in texts:
        assert KEY not in text and KEY[-16:] not in text


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("PTC_JUPYTER_OFFLINE", raising=False)


def test_run_trace_logs_and_recording_hold_no_key(keyed, monkeypatch, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # the SDK's and httpx's debug logs included
    with ScriptedAPI(turn()) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        recording = tmp_path / "rec.jsonl"

        async def recorded():
            async with session_for(str(recording), None) as session:
                return await ptc.arun(
                    "say hi", tools=[function_tool(echo)], session=session, stream=False, model="claude-test"
                )

        run = background_loop.run(recorded())
    sent = api.headers[0].get("x-api-key") or api.headers[0].get("authorization", "").removeprefix("Bearer ")
    assert run.text == "said hi" and sent == KEY  # the key was really used
    run.to_json(tmp_path / "trace.json")
    bundle = mime_bundle(run)
    assert_no_key(
        recording.read_text(),
        (tmp_path / "trace.json").read_text(),
        json.dumps(bundle),
        str(run),
        repr(run),
        "\n".join(r.getMessage() for r in caplog.records),
        caplog.text,
    )


@pytest.mark.parametrize("status, kind", [(401, "authentication_error"), (500, "api_error")])
def test_errors_hold_no_key(keyed, status, kind, caplog):
    caplog.set_level(logging.DEBUG)
    with ScriptedAPI([api_error(status, "nope", kind)]) as api:
        session = Session(base_url=api.url, max_retries=0)
        with pytest.raises(RunError) as info:
            ptc.run("x", tools=[function_tool(echo)], session=session, stream=False, model="claude-test")
    assert_no_key(str(info.value), info.value.run.error, info.value.run.to_json(), caplog.text)


def test_mcp_servers_do_not_inherit_the_key(keyed):
    from ptc_jupyter import mcp
    from ptc_jupyter.calls.tools import ToolRegistry

    registry = ToolRegistry()
    mcp.add("secrets_demo", [sys.executable, str(ROOT / "tests" / "servers" / "demo_server.py")], registry=registry)
    try:
        seen = ptc.run(
            """Read the environment.

```python
print(await environment({"name": "ANTHROPIC_API_KEY"}))
```
""",
            tools=[registry["environment"]],
            offline=True,
        )
    finally:
        mcp.remove("secrets_demo")
    call = seen.calls[0]
    assert not call.is_error and call.output.startswith("|")  # empty value, then the server's cwd
    assert_no_key(call.output, seen.to_json())


@pytest.mark.kernel
def test_a_saved_notebook_holds_no_key(tmp_path):
    with ScriptedAPI(turn()) as api:
        nb = nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_code_cell(
                    "%load_ext ptc_jupyter\nimport ptc_jupyter as ptc\n"
                    "@ptc.tool\ndef echo(text: str) -> str:\n    '''Returns the text.'''\n    return text"
                ),
                nbformat.v4.new_code_cell("%%ptc -o r --no-stream --model claude-test --record rec.jsonl\nsay hi"),
                nbformat.v4.new_code_cell("r.to_json('trace.json'); print(r.text)"),
            ]
        )
        env = {
            **os.environ,
            "ANTHROPIC_API_KEY": KEY,
            "ANTHROPIC_BASE_URL": api.url,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        env.pop("PTC_JUPYTER_OFFLINE", None)
        client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
        client.execute(env=env)
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    assert "said hi" in path.read_text()
    assert_no_key(path.read_text(), (tmp_path / "rec.jsonl").read_text(), (tmp_path / "trace.json").read_text())
