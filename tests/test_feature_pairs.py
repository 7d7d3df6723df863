"""Features used together, in one real kernel: every pair of `--continue`, `--file`, `--sandbox
local`, `--replay`, `--stream`, an MCP tool, a side-effect tool with approval and `%ptc_script`
runs at least once (all pairs in seven cases, not the full product). Each case checks the run's
result and what went on the wire: its `--record` file (the request bodies), or, for a replay, that
the requests matched the recorded ones (no drift notice).

    case              --continue --file --sandbox local --replay --stream MCP approval %ptc_script
    file_then_more        x        x                         x       x
    local_approved        x                  x                                  x          x
    local_file_replay              x         x         x
    streamed_replay                                    x        x       x       x
    file_approved_script           x                                            x          x
    continued_replay      x                            x                                   x
    local_streamed_mcp                       x                  x       x                  x

A case without `--stream` runs with `--no-stream`, so both ways meet every other feature.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest
from test_kernel import ROOT, Kernel

from ptc_jupyter.host.recording import DRIFT, read_entries

pytestmark = pytest.mark.kernel

FEATURES = ("continue", "file", "local", "replay", "stream", "mcp", "approval", "script")
CASES = {
    "file_then_more": {"continue", "file", "stream", "mcp"},
    "local_approved": {"continue", "local", "approval", "script"},
    "local_file_replay": {"file", "local", "replay"},
    "streamed_replay": {"replay", "stream", "mcp", "approval"},
    "file_approved_script": {"file", "approval", "script"},
    "continued_replay": {"continue", "replay", "script"},
    "local_streamed_mcp": {"local", "stream", "mcp", "script"},
}

SETUP = f'''
%load_ext ptc_jupyter
%autoawait off
import ptc_jupyter as ptc
import ptc_jupyter.mcp as ptc_mcp

@ptc.tool
async def double(x: int) -> int:
    """Twice x. Returns an integer."""
    return 2 * x

sent = []

@ptc.tool(side_effects=True, allow_code=True)
async def send(to: str) -> str:
    """Sends a message. Returns 'sent to <to>'."""
    sent.append(to)
    return "sent to " + to

ptc_mcp.add("demo", [{sys.executable!r}, {str(ROOT / "tests" / "servers" / "demo_server.py")!r}])
'''


def test_the_cases_cover_every_pair():
    covered = {frozenset(pair) for features in CASES.values() for pair in itertools.combinations(sorted(features), 2)}
    missing = [pair for pair in itertools.combinations(FEATURES, 2) if frozenset(pair) not in covered]
    assert missing == [] and set().union(*CASES.values()) == set(FEATURES)


@pytest.fixture(scope="module")
def kernel():
    k = Kernel()
    try:
        k.ok(SETUP)
        yield k
    finally:
        k.close()


def ptc_cell(flags: str, script: str, ask: str = "Run this.") -> str:
    return f"%%ptc -o r {flags}\n{ask}\n```python\n{script}\n```\n"


def run_cell(kernel, code: str, approve: str | None = None) -> dict:
    """Run a %%ptc cell (answering approval questions with `approve`); the Run `r` as a dict of
    what the checks need."""
    reply, messages = kernel.execute(code, allow_stdin=approve is not None, stdin_answer=approve, timeout=120)
    assert reply["status"] == "ok", (reply, [m["content"] for m in messages if m["msg_type"] == "stream"])
    return kernel.value(
        "dict(status=r.status, text=r.text, notices=r.notices, calls=[(c.name, c.status, c.output) "
        "for c in r.calls], stdout=r.steps[-1].stdout if r.steps else None, "
        "conversation=r.conversation, container=r.container_id, local=[s.local for s in r.steps])"
    )


def script_source(kernel) -> str:
    """The cell `%ptc_script r` puts below."""
    reply, _ = kernel.execute("%ptc_script r")
    (cell,) = [p["text"] for p in reply.get("payload", []) if p.get("source") == "set_next_input"]
    return cell


def script_cell(kernel, yes: bool = False) -> str:
    """`%ptc_script r`, then the cell it puts below run in the kernel: its stdout."""
    cell = script_source(kernel)
    if yes:
        cell = cell.replace("bind_tools(globals())", "bind_tools(globals(), yes=True)")
    kernel.ok("%autoawait on")  # the script's top-level awaits (the %%ptc cells ask through stdin: off)
    try:
        return kernel.ok(cell)
    finally:
        kernel.ok("%autoawait off")


def requests(path: Path) -> list[dict]:
    """The Messages API request bodies of a recording, in order (Files API calls left out)."""
    return [
        e["request"] for e in read_entries(path) if isinstance(e.get("request"), dict) and "messages" in e["request"]
    ]


def prompts(body: dict) -> list[str]:
    """The text of each user message of a request that is a prompt (not tool results)."""
    texts = []
    for m in body["messages"]:
        content = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        if m["role"] == "user" and not any(b["type"] == "tool_result" for b in content):
            texts.append("".join(b.get("text", "") for b in content if b["type"] == "text"))
    return texts


def blocks(body: dict, kind: str) -> list[dict]:
    return [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"] if b["type"] == kind]


def tool_names(body: dict) -> list[str]:
    return [t["name"] for t in body["tools"]]


def no_drift(run: dict) -> bool:
    return not [n for n in run["notices"] if n.startswith(DRIFT)]


def streamed(path: Path, expected: bool) -> bool:
    return all(bool(body.get("stream")) is expected for body in requests(path))


READ = "import os\nprint(open(os.path.join(os.environ['INPUT_DIR'], '{name}')).read().strip())"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "first.csv").write_text("region,total\nnorth,7\n")
    (tmp_path / "second.csv").write_text("region,total\nsouth,5\n")
    return tmp_path


def test_file_then_more(kernel, files):
    """--file in turn 1, then --continue with a second --file, streamed, calling an MCP tool: the
    first turn's file is still there (the history says so in a note, not a dead upload block)."""
    first = run_cell(kernel, ptc_cell(f"--no-stream --file {files / 'first.csv'}", READ.format(name="first.csv")))
    assert first["status"] == "completed" and "north,7" in first["stdout"]
    wire = files / "turn2.jsonl"
    script = (
        READ.format(name="first.csv")
        + "\n"
        + READ.format(name="second.csv").replace("import os\n", "")
        + "\nprint(await add({'a': 2, 'b': 3}))"
    )
    second = run_cell(kernel, ptc_cell(f"--continue --stream --file {files / 'second.csv'} --record {wire}", script))
    assert second["status"] == "completed" and second["conversation"]["turn"] == 2
    assert second["stdout"].strip().split("\n") == ["region,total", "north,7", "region,total", "south,5", "5"]
    assert second["container"] == first["container"] and ("add", "ok", "5") in second["calls"]
    body = requests(wire)[0]
    assert streamed(wire, True) and "add" in tool_names(body) and "code_execution" in tool_names(body)
    turn1, turn2 = prompts(body)  # turn 1 goes along, its upload block now a note naming the file
    assert turn1.startswith("Attached file no longer in the Files API: first.csv") and "Run this." in turn1
    assert "second.csv" in turn2 and len(blocks(body, "container_upload")) == 1  # the second file's


def test_local_approved(kernel):
    """--sandbox local, continued, with an approved side-effect call; then %ptc_script of it."""
    kernel.ok("sent.clear()")
    first = run_cell(kernel, ptc_cell("--no-stream --sandbox local", "kept = await double({'x': 4})\nprint(kept)"))
    assert first["status"] == "completed" and first["stdout"].strip() == "8" and first["local"] == [True]
    wire = Path(kernel.value("__import__('tempfile').mkdtemp()")) / "approved.jsonl"
    script = "print(kept, await send({'to': 'ann'}))"
    second = run_cell(kernel, ptc_cell(f"--continue --no-stream --sandbox local --record {wire}", script), approve="y")
    assert second["status"] == "completed" and second["stdout"].strip() == "8 sent to ann"  # REPL state kept
    assert ("send", "ok", "sent to ann") in second["calls"] and kernel.value("sent") == ["ann"]
    body = requests(wire)[-1]
    assert tool_names(body) == ["run_python"] and streamed(wire, False)
    results = [b["content"] for b in blocks(body, "tool_result")]
    assert any("8 sent to ann" in json.dumps(r) for r in results)  # what the model got back
    kernel.ok("kept = 8")  # what the sandbox's REPL held
    assert "no way to ask" in script_cell(kernel)  # the script cell cannot ask here: it says how to allow
    assert script_cell(kernel, yes=True).strip() == "8 sent to ann" and kernel.value("sent") == ["ann", "ann"]


def test_local_file_replay(kernel, files):
    """A --file run in the local sandbox, recorded, then replayed: the file is copied in both times."""
    wire = files / "local.jsonl"
    flags = f"--no-stream --sandbox local --file {files / 'first.csv'}"
    live = run_cell(kernel, ptc_cell(f"{flags} --record {wire}", READ.format(name="first.csv")))
    again = run_cell(kernel, ptc_cell(f"{flags} --replay {wire}", READ.format(name="first.csv")))
    assert live["status"] == again["status"] == "completed" and "north,7" in again["stdout"]
    assert again["text"] == live["text"] and no_drift(again)
    bodies = requests(wire)
    assert tool_names(bodies[0]) == ["run_python"] and not blocks(bodies[0], "container_upload")
    assert prompts(bodies[0])[0].endswith("($INPUT_DIR): first.csv")
    assert all(isinstance(e.get("request"), dict) for e in read_entries(wire))  # no Files API call at all


def test_streamed_replay(kernel, tmp_path):
    """Streamed, with an MCP tool and an approved side-effect call, recorded and replayed: the
    tools run again (approved again), the requests match the recording."""
    kernel.ok("sent.clear()")
    wire = tmp_path / "streamed.jsonl"
    script = "print(await add({'a': 1, 'b': 1}), await send({'to': 'bob'}))"
    live = run_cell(kernel, ptc_cell(f"--stream --record {wire}", script), approve="y")
    again = run_cell(kernel, ptc_cell(f"--replay {wire}", script), approve="y")
    for run in (live, again):
        assert run["status"] == "completed" and run["stdout"].strip() == "2 sent to bob"
        assert ("send", "ok", "sent to bob") in run["calls"] and ("add", "ok", "2") in run["calls"]
    assert no_drift(again) and kernel.value("sent") == ["bob", "bob"]
    assert streamed(wire, True) and {"add", "send"} <= set(tool_names(requests(wire)[0]))


def test_file_approved_script(kernel, files):
    """A --file run with an approved call, then its script as a cell: the kernel has no
    $INPUT_DIR, and the cell says where the files were."""
    kernel.ok("sent.clear()")
    wire = files / "file.jsonl"
    script = READ.format(name="first.csv") + "\nprint(await send({'to': 'cy'}))"
    run = run_cell(kernel, ptc_cell(f"--no-stream --file {files / 'first.csv'} --record {wire}", script), approve="y")
    assert run["status"] == "completed" and run["stdout"].strip().split("\n")[:3] == [
        "region,total",
        "north,7",
        "sent to cy",
    ]
    body = requests(wire)[0]
    assert len(blocks(body, "container_upload")) == 1 and streamed(wire, False)
    assert "sent to cy" in json.dumps([b["content"] for b in blocks(requests(wire)[-1], "tool_result")])
    assert "first set os.environ['INPUT_DIR'] to a folder holding them" in script_source(kernel).split("\n")[1]
    kernel.ok(f"import os; os.environ['INPUT_DIR'] = {str(files)!r}")  # as the cell's header says
    try:
        assert script_cell(kernel, yes=True).split("\n")[:3] == ["region,total", "north,7", "sent to cy"]
    finally:
        kernel.ok("del os.environ['INPUT_DIR']")


def test_continued_replay(kernel, tmp_path):
    """A --continue turn recorded, then the same cell replayed: it replaces its own turn, so the
    history sent is the recorded one; its script then runs as a cell."""
    run_cell(kernel, ptc_cell("--no-stream", "print(await double({'x': 10}))", ask="Start."))
    wire = tmp_path / "continued.jsonl"
    script = "print(await double({'x': 21}))"
    live = run_cell(kernel, ptc_cell(f"--continue --no-stream --record {wire}", script))
    again = run_cell(kernel, ptc_cell(f"--continue --replay {wire}", script))
    assert live["conversation"]["turn"] == again["conversation"]["turn"] == 2
    assert again["stdout"].strip() == "42" and no_drift(again)
    assert prompts(requests(wire)[0])[0].startswith("Start.")
    assert script_cell(kernel).strip() == "42"


def test_local_streamed_mcp(kernel, tmp_path):
    """The local sandbox, streamed, calling an MCP tool and a kernel tool; then the script as a cell."""
    wire = tmp_path / "mcp.jsonl"
    script = "import asyncio\nprint(*await asyncio.gather(add({'a': 20, 'b': 1}), double({'x': 21})))"
    run = run_cell(kernel, ptc_cell(f"--stream --sandbox local --record {wire}", script))
    assert run["status"] == "completed" and run["stdout"].strip() == "21 42" and run["local"] == [True]
    body = requests(wire)[0]
    assert tool_names(body) == ["run_python"] and streamed(wire, True)
    assert "add" in body["tools"][0]["description"]  # the MCP tool is offered inside run_python
    assert script_cell(kernel).strip() == "21 42"
