"""The magics in a headless IPython shell, against the real offline emulator (a local server).

Every option is checked where it lands: in the `Run`, in the recorded API requests (`--record`
writes exactly what the SDK sent), or in the cell's output bundle.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from shell_support import offline_shell, set_magics_config

import ptc_jupyter as ptc
from ptc_jupyter.calls.tools import Tool, registry
from ptc_jupyter.constants import MIME_TYPE
from ptc_jupyter.notebook import cell_run, magics

GATHER = """Double the numbers 0..9 and add them up.
```python
import asyncio
r = await asyncio.gather(*[double({"x": i}) for i in range(10)])
print(sum(int(v) for v in r))
```
"""

TOOLS_CELL = '''
import asyncio, threading
import ptc_jupyter as ptc

tool_threads = []
slow_started = threading.Event()

@ptc.tool(direct=True)
async def double(x: int) -> int:
    """Twice x. Returns an integer."""
    tool_threads.append(threading.current_thread().name)
    return 2 * x

@ptc.tool
async def slow(seconds: float) -> str:
    """Sleeps, then returns 'done'."""
    slow_started.set()
    await asyncio.sleep(seconds)
    return "done"

@ptc.tool(side_effects=True, allow_code=True)
def send(to: str) -> str:
    """Sends a message. Returns 'sent to <to>'."""
    return "sent to " + to
'''


@pytest.fixture(scope="module")
def ip():
    with offline_shell(TOOLS_CELL) as shell:
        yield shell


@pytest.fixture(autouse=True)
def fresh_defaults(request):
    if "ip" not in request.fixturenames:
        yield
        return
    shell = request.getfixturevalue("ip")
    shell.autoawait = True
    yield
    shell.autoawait = True
    set_magics_config(shell, {"offline": True})


def ptc_cell(shell, line: str, body: str = GATHER):
    """Run a %%ptc cell like a user would; returns (result, captured output)."""
    with capture_output() as captured:
        result = shell.run_cell(f"%%ptc {line}\n{body}")
    return result, captured


def final_bundle(captured) -> dict:
    bundles = [o.data for o in captured.outputs if MIME_TYPE in o.data]
    assert len(bundles) == 1, [list(o.data) for o in captured.outputs]
    return bundles[0]


def recorded(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def last_line(run) -> str:
    """The script's final output line (the emulator's answer may start with an explanation)."""
    return run.text.strip().splitlines()[-1]


def assert_usage_error(result, captured, *words: str) -> None:
    assert isinstance(result.error_in_exec, UsageError), repr(result.error_in_exec)
    message = str(result.error_in_exec)
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    assert "Traceback" not in captured.stdout + captured.stderr


# -- loading --------------------------------------------------------------------------------------


def test_load_registers_and_unload_removes_everything(monkeypatch):
    from ptc_jupyter.host import session as session_module
    from ptc_jupyter.mcp import api as mcp_api

    session_module.emulator_url()  # running, as after an offline cell

    closed = []  # the MCP API is loaded (as after %ptc_mcp add), so unloading closes its connections
    monkeypatch.setattr(mcp_api, "close_all", lambda original=mcp_api.close_all: (closed.append(True), original())[1])
    shell = InteractiveShell.instance()
    shell.run_line_magic("unload_ext", "ptc_jupyter")
    before_transformers = list(shell.input_transformers_post)
    before_configurables = list(shell.configurables)
    shell.run_line_magic("load_ext", "ptc_jupyter")
    try:
        manager = shell.magics_manager
        assert {"ptc", "ptc_async"} <= set(manager.magics["cell"])
        assert {"ptc_tool", "ptc_tools"} <= set(manager.magics["line"])
        assert any(isinstance(c, magics.PTCMagics) for c in shell.configurables)
        assert len(shell.input_transformers_post) == len(before_transformers) + 2  # %%ptc awaited; script cells
        assert "ptc_mcp" in manager.magics["line"]
        assert shell.find_cell_magic("ptc").__doc__.lstrip(": \n").startswith("%%ptc [-o VAR]")
    finally:
        shell.run_line_magic("unload_ext", "ptc_jupyter")
    manager = shell.magics_manager
    assert not {"ptc", "ptc_async"} & set(manager.magics["cell"])
    assert not {"ptc_tool", "ptc_tools", "ptc_mcp"} & set(manager.magics["line"])
    assert shell.input_transformers_post == before_transformers
    assert shell.configurables == before_configurables
    assert "PTCMagics" not in manager.registry and "MCPMagics" not in manager.registry
    assert closed == [True]  # the MCP connections were closed
    assert session_module._emulator is None  # and the offline emulator with its sandboxes
    shell.run_line_magic("load_ext", "ptc_jupyter")  # and back, for the other tests


def test_transformer_awaits_only_ptc_cells_and_only_with_autoawait(ip):
    assert ip.transform_cell("%%ptc -o r\nhi\n").startswith("await get_ipython().run_cell_magic('ptc_async', '-o r'")
    assert ip.transform_cell("x = {'a': 1}\n") == "x = {'a': 1}\n"
    assert "await" not in ip.transform_cell("%%ptc_tools_like\nx\n")
    ip.autoawait = False
    assert ip.transform_cell("%%ptc\nhi\n").startswith("get_ipython().run_cell_magic('ptc', ")


# -- running ---------------------------------------------------------------------------------------


def test_await_path_runs_on_the_shells_loop_and_leaves_one_bundle(ip):
    ip.user_ns["tool_threads"].clear()
    result, captured = ptc_cell(ip, "-o r")
    assert result.success, result.error_in_exec
    run = ip.user_ns["r"]
    assert [c.output for c in run.calls] == [str(2 * i) for i in range(10)]
    assert run.status == "completed" and last_line(run) == "90" and ptc.last is run
    assert set(ip.user_ns["tool_threads"]) == {threading.main_thread().name}  # the awaited path
    bundle = final_bundle(captured)
    assert set(bundle) == {MIME_TYPE, "text/html", "text/plain"}
    assert len(bundle[MIME_TYPE]["calls"]) == 10 and "offline" in bundle["text/plain"]
    assert result.result is None  # no Out[] repeating the trace


def test_fallback_path_with_autoawait_off_runs_on_the_background_loop(ip):
    ip.autoawait = False
    ip.user_ns["tool_threads"].clear()
    result, captured = ptc_cell(ip, "-o r")
    assert result.success, result.error_in_exec
    assert len(ip.user_ns["r"].calls) == 10
    assert set(ip.user_ns["tool_threads"]) == {"ptc-background"}
    assert set(final_bundle(captured)) == {MIME_TYPE, "text/html", "text/plain"}
    assert not [t for t in threading.enumerate() if t.name == "ptc-loop"]


def test_interrupt_in_fallback_mode_cancels_and_keeps_the_trace(ip):
    ip.autoawait = False
    started = ip.user_ns["slow_started"]
    started.clear()

    def interrupt() -> None:
        if started.wait(20):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    slow_s = 30
    t0 = time.monotonic()
    result, captured = ptc_cell(ip, "-o s", f'```python\nprint(await slow({{"seconds": {slow_s}}}))\n```')
    assert time.monotonic() - t0 < slow_s / 3  # cut short, not waited for
    assert isinstance(result.error_in_exec, cell_run.RunInterrupted)
    run = ip.user_ns["s"]
    assert run.status == "cancelled" and [c.status for c in run.calls] == ["cancelled"]
    assert final_bundle(captured)[MIME_TYPE]["status"] == "cancelled"
    assert "RunInterrupted: ptc: the run was interrupted" in captured.stdout + captured.stderr
    assert not [t for t in threading.enumerate() if t.name == "ptc-loop"]


def test_options_reach_the_api(ip, tmp_path):
    rec = tmp_path / "rec.jsonl"
    result, _ = ptc_cell(ip, f"-o r --model claude-test-1 --max-tokens 1234 --tools double --record {rec}")
    assert result.success, result.error_in_exec
    requests = [e["request"] for e in recorded(rec)]
    assert {r["model"] for r in requests} == {"claude-test-1"} and {r["max_tokens"] for r in requests} == {1234}
    assert [t["name"] for t in requests[0]["tools"]] == ["code_execution", "double"]
    assert ip.user_ns["r"].model == "claude-test-1"


def test_stream_and_direct(ip, tmp_path):
    rec = tmp_path / "rec.jsonl"
    result, _ = ptc_cell(ip, f"-o r --stream --record {rec}")
    assert result.success and len(ip.user_ns["r"].calls) == 10
    assert {e["content_type"].split(";")[0] for e in recorded(rec)} == {"text/event-stream"}
    rec_json = tmp_path / "rec-json.jsonl"
    result, _ = ptc_cell(ip, f"-o j --no-stream --record {rec_json}")
    assert result.success and {e["content_type"].split(";")[0] for e in recorded(rec_json)} == {"application/json"}
    result, captured = ptc_cell(ip, f"-o d --direct --record {rec}")
    run = ip.user_ns["d"]
    assert result.success and run.mode == "direct" and run.requests == 11
    assert all(not t.get("type", "").startswith("code_execution") for t in recorded(rec)[0]["request"]["tools"])
    assert final_bundle(captured)["text/plain"].startswith("ptc (direct)")


def test_compare_runs_both_ways_and_shows_the_savings(ip):
    result, captured = ptc_cell(ip, "-o c --compare")
    assert result.success, result.error_in_exec
    run = ip.user_ns["c"]
    assert run.mode == "ptc" and run.comparison["ptc"]["requests"] < run.comparison["direct"]["requests"]
    assert "PTC vs direct: requests 2 vs 11" in final_bundle(captured)["text/plain"]


def test_record_then_replay_gives_the_same_run_without_a_backend(ip, tmp_path):
    rec = tmp_path / "session.jsonl"
    assert ptc_cell(ip, f"-o a --record {rec}")[0].success
    text = rec.read_text()
    from ptc_jupyter.host.session import process_emulator

    assert process_emulator().api_key not in text and "x-api-key" not in text.lower()  # no key, no headers
    result, _ = ptc_cell(ip, f"-o b --replay {rec}")
    assert result.success, result.error_in_exec
    a, b = ip.user_ns["a"], ip.user_ns["b"]
    assert b.backend == "replay" and [c.output for c in b.calls] == [c.output for c in a.calls]
    assert b.text == a.text and b.container_id == a.container_id
    assert not [n for n in b.notices if n.startswith("replay drift:")]  # a's container came from an earlier cell


def test_replay_names_drift_and_strict_replay_fails_on_it(ip, tmp_path):
    rec = tmp_path / "session.jsonl"
    assert ptc_cell(ip, f"--record {rec}")[0].success
    changed = GATHER.replace("0..9", "0 to 9")
    result, _ = ptc_cell(ip, f"-o r --replay {rec}", changed)
    assert result.success, result.error_in_exec
    [notice] = [n for n in ip.user_ns["r"].notices if n.startswith("replay drift:")]
    assert notice.startswith("replay drift: request 1: the prompt differs from the recording: recorded")
    assert "0..9" in notice and "0 to 9" in notice
    result, captured = ptc_cell(ip, f"-o s --replay {rec} --replay-strict", changed)
    assert_usage_error(result, captured, "ptc: the run failed:", "replay drift: request 1: the prompt differs")
    assert ip.user_ns["s"].status == "error" and not ip.user_ns["s"].calls
    assert ptc_cell(ip, f"-o t --replay {rec} --replay-strict")[0].success  # unchanged: strict passes


def test_replay_that_runs_out_is_a_one_line_error(ip, tmp_path):
    rec = tmp_path / "short.jsonl"
    assert ptc_cell(ip, f"--record {rec}")[0].success
    rec.write_text(rec.read_text().splitlines()[0] + "\n")
    result, captured = ptc_cell(ip, f"-o r --replay {rec}")
    assert_usage_error(result, captured, "all were used")
    assert ip.user_ns["r"].status == "error"
    assert final_bundle(captured)[MIME_TYPE]["status"] == "error"


def test_input_files_are_read_in_the_container(ip, tmp_path):
    import pandas as pd

    path = tmp_path / "numbers.csv"
    path.write_text("n\n1\n2\n3\n")
    ip.user_ns["regions"] = pd.DataFrame({"region": ["W", "E"], "sales": [5, 7]})
    body = (
        "Sum both.\n```python\nimport csv, os\nd = os.environ['INPUT_DIR']\n"
        "a = sum(int(r['n']) for r in csv.DictReader(open(os.path.join(d, 'numbers.csv'))))\n"
        "b = sum(int(r['sales']) for r in csv.DictReader(open(os.path.join(d, 'regions.csv'))))\n"
        "print(a, b)\n```\n"
    )
    result, _ = ptc_cell(ip, f"-o f --file {path} --file regions", body)
    assert result.success, result.error_in_exec
    run = ip.user_ns["f"]
    assert run.steps[0].stdout.strip() == "6 12"
    assert any(n.startswith("uploaded 2 input file(s): numbers.csv, regions.csv") for n in run.notices)


def test_budget_timeout_and_containers(ip):
    result, _ = ptc_cell(ip, "-o r --max-calls 3")
    calls = ip.user_ns["r"].calls
    assert [c.status for c in calls].count("ok") == 3 and "call budget exhausted" in calls[-1].output
    result, _ = ptc_cell(ip, "-o t --tool-timeout 0.2", '```python\nprint(await slow({"seconds": 5}))\n```')
    assert result.success and ip.user_ns["t"].calls[0].status == "timeout"
    assert ptc_cell(ip, "-o a", "```python\nkept = 41\nprint(kept)\n```")[0].success
    same = ptc_cell(ip, "-o b", "```python\nprint(kept + 1)\n```")[0]
    fresh = ptc_cell(ip, "-o c --new-container", "```python\nprint(kept + 1)\n```")[0]
    a, b, c = (ip.user_ns[k] for k in "abc")
    assert same.success and last_line(b) == "42" and b.container_id == a.container_id
    assert fresh.success and c.container_id != a.container_id and "NameError" in c.text
    resumed = ptc_cell(ip, f"-o d --container {a.container_id}", "```python\nprint(kept)\n```")[0]
    assert resumed.success and last_line(ip.user_ns["d"]) == "41"


SEND = '```python\nprint(await send({"to": "bob"}))\n```'


def test_side_effects_are_denied_without_a_way_to_ask_and_run_with_yes(ip):
    _, captured = ptc_cell(ip, "-o r", SEND)
    call = ip.user_ns["r"].calls[0]
    assert (
        call.status == "denied"
        and call.output == "Error: denied (no way to ask for approval here; use --yes for unattended runs)"
    )
    assert any("no way to ask" in n for n in ip.user_ns["r"].notices)
    assert "no way to ask" in final_bundle(captured)["text/plain"]
    _result, _ = ptc_cell(ip, "-o r --yes", SEND)
    assert ip.user_ns["r"].calls[0].output == "sent to bob"


def test_defaults_come_from_config(ip):
    ip.run_line_magic("config", "PTCMagics.max_calls = 2")
    ip.run_line_magic("config", "PTCMagics.model = 'claude-configured'")
    ip.run_line_magic("config", "PTCMagics.yes = True")
    ptc_cell(ip, "-o r")
    run = ip.user_ns["r"]
    assert run.model == "claude-configured" and [c.status for c in run.calls].count("ok") == 2
    ptc_cell(ip, "-o r --max-calls 5 --model claude-line")  # the line wins
    run = ip.user_ns["r"]
    assert run.model == "claude-line" and [c.status for c in run.calls].count("ok") == 5
    ptc_cell(ip, "-o r", SEND)
    assert ip.user_ns["r"].calls[0].status == "ok"


def test_executor_is_named_by_a_kernel_variable(ip):
    ip.run_cell(
        "from concurrent.futures import ThreadPoolExecutor\n"
        "class CountingPool(ThreadPoolExecutor):\n"
        "    submitted = 0\n"
        "    def submit(self, *a, **k):\n"
        "        CountingPool.submitted += 1\n"
        "        return super().submit(*a, **k)\n"
        "pool = CountingPool(2)\n"
        "not_a_pool = 3\n"
    )
    ip.run_line_magic("config", "PTCMagics.executor = 'pool'")  # %config can store a name, not a pool
    ptc_cell(ip, "-o r --yes", SEND)
    assert ip.user_ns["r"].calls[0].output == "sent to bob" and ip.user_ns["CountingPool"].submitted == 1
    ip.run_line_magic("config", "PTCMagics.executor = None")
    ptc_cell(ip, "-o r --yes --executor pool", SEND)
    assert ip.user_ns["CountingPool"].submitted == 2
    result, captured = ptc_cell(ip, "--executor nowhere", SEND)
    assert_usage_error(result, captured, "executor 'nowhere': no such variable")
    result, captured = ptc_cell(ip, "--executor not_a_pool", SEND)
    assert_usage_error(result, captured, "is a int, not a concurrent.futures.Executor")
    ip.user_ns["pool"].shutdown()


def test_offline_flag(ip, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-used")
    ip.run_line_magic("config", "PTCMagics.offline = None")
    result, _ = ptc_cell(ip, "-o r --offline")
    assert result.success and ip.user_ns["r"].backend == "offline-emulator"


# -- the prompt -----------------------------------------------------------------------------------

CODE_WITH_BRACES = """Check this:
```python
import json
price = {"usd": 5, "nested": {"a": [1, {"b": 2}]}}
print(f"${price['usd']:.2f} {{literal}} {json.dumps(price)}")
print("%s costs $%d" % ("x", 3), r"\\{{2}")
```
"""


def test_code_with_braces_and_dollars_passes_through_untouched(ip):
    result, _ = ptc_cell(ip, "-o r", CODE_WITH_BRACES)
    assert result.success
    assert ip.user_ns["r"].prompt == CODE_WITH_BRACES.strip("\n")
    assert "$5.00 {literal}" in ip.user_ns["r"].text


def test_interpolation_escape_and_nbval_markers(ip):
    ip.user_ns.update(n=4, cfg=type("Cfg", (), {"name": "west"})())
    body = (
        "# NBVAL_IGNORE_OUTPUT\nRegion {{ cfg.name }}, n={{n}}, literal \\{{n}}.\n"
        "```python\n# NBVAL_CHECK_OUTPUT\nprint(f'{{n}}', [{'n': n} for n in [1]])\n```\nAgain: {{n}}\n"
    )
    result, _ = ptc_cell(ip, "-o r", body)
    assert result.success, result.error_in_exec
    run = ip.user_ns["r"]
    assert run.prompt == (
        "Region west, n=4, literal {{n}}.\n```python\nprint(f'{{n}}', [{'n': n} for n in [1]])\n```\nAgain: 4"
    )  # the fenced code is sent as written
    assert last_line(run) == "{n} [{'n': 1}]"


@pytest.mark.parametrize(
    "line,body,words",
    [
        ("--bogus", GATHER, ["unrecognized arguments: --bogus"]),
        ("--max-calls many", GATHER, ["--max-calls", "invalid int value"]),
        ("--max-calls -1", GATHER, ["--max-calls must be >= 0"]),
        ("--max-tokens 0", GATHER, ["--max-tokens must be >= 1"]),
        ("--tool-timeout 0", GATHER, ["--tool-timeout must be a positive"]),
        ("--tools double,nope", GATHER, ["unknown tool(s) nope", "registered:"]),
        ("--direct --compare", GATHER, ["leave out --direct"]),
        ("--record a.jsonl --replay b.jsonl", GATHER, ["not both"]),
        ("--replay /no/such/file.jsonl", GATHER, ["--replay file not found"]),
        ("--replay-strict", GATHER, ["--replay-strict needs --replay PATH"]),
        ("--file /no/such.csv", GATHER, ["--file /no/such.csv: no such file, nor a DataFrame variable"]),
        ("--online --new-container --container c1", GATHER, ["--new-container cannot be combined with container"]),
        ("-o 1x", GATHER, ["Python variable name"]),
        ("--model 'unclosed", GATHER, ["cannot parse"]),
        ("", "# NBVAL_SKIP\n\n", ["prompt", "empty"]),
        ("", "Use {{no_such_variable}} here", ["no variable 'no_such_variable'", "\\{{"]),
        ("", "Use {{n.nope}} here", ["no attribute 'nope'"]),
    ],
)
def test_bad_cells_are_one_line_usage_errors(ip, line, body, words):
    ip.user_ns["n"] = 1
    result, captured = ptc_cell(ip, line, body)
    assert_usage_error(result, captured, *words)


# -- %ptc_tool / %ptc_tools --------------------------------------------------------------------------


def test_ptc_tool_registers_namespace_functions(ip):
    ip.run_cell('''
def area(w: float, h: float) -> float:
    """Area of a w x h rectangle. Returns a number."""
    return w * h

def delete_row(row_id: int) -> str:
    """Deletes a row. Returns 'deleted'."""
    return "deleted"

class Geo:
    @staticmethod
    def perimeter(w: float, h: float) -> float:
        """Perimeter of a rectangle. Returns a number."""
        return 2 * (w + h)
''')
    try:
        with capture_output() as captured:
            ip.run_line_magic("ptc_tool", "area Geo.perimeter --direct")
            ip.run_line_magic("ptc_tool", "delete_row --side-effects")
        assert "registered area, perimeter" in captured.stdout
        assert registry["area"].allowed_callers == ["direct", "code_execution_20260120"]
        assert registry["perimeter"].func is ip.user_ns["Geo"].perimeter
        assert registry["delete_row"].side_effects and registry["delete_row"].allowed_callers == ["direct"]
        result, _ = ptc_cell(ip, "-o r --tools area", '```python\nprint(await area({"w": 2, "h": 3}))\n```')
        assert result.success and ip.user_ns["r"].calls[0].output == "6.0"
    finally:
        for name in ("area", "perimeter", "delete_row"):
            registry.remove(name)


@pytest.mark.parametrize(
    "line,words",
    [
        ("", ["NAME"]),
        ("no_such_function", ["no variable named 'no_such_function'"]),
        ("math_mod", ["is a module, not a function"]),
        ("undocumented", ["has no description"]),
        ("starry", ["*args"]),
        ("area2 --allow-code", ["only applies with --side-effects"]),
        ("area2 --bogus", ["unrecognized arguments"]),
    ],
)
def test_ptc_tool_rejects_with_one_line(ip, line, words):
    ip.run_cell('''
import math as math_mod
def undocumented(x: int) -> int:
    return x
def starry(*args: int) -> int:
    """Sums. Returns a number."""
    return sum(args)
def area2(w: float) -> float:
    """Area. Returns a number."""
    return w
''')
    with capture_output() as captured:
        result = ip.run_cell(f"%ptc_tool {line}")
    assert_usage_error(result, captured, *words)
    assert "undocumented" not in registry and "starry" not in registry


def test_ptc_tools_shows_the_registry_as_a_table(ip):
    mcp_tool = Tool(
        name="read_file",
        description="Reads a file.\nMore.",
        input_schema={"type": "object"},
        allowed_callers=["code_execution_20260120"],
        invoke=lambda **kw: "",
        validate=lambda d: d,
        source="mcp:files",
    )
    registry.add(mcp_tool)
    try:
        with capture_output() as captured:
            ip.run_line_magic("ptc_tools", "")
        data = captured.outputs[0].data
        lines = data["text/plain"].splitlines()
        assert lines[0].split()[:2] == ["name", "allowed_callers"]
        row = {line.split()[0]: line for line in lines[1:]}
        assert "direct, code_execution_20260120" in row["double"] and " no " in row["double"]
        assert " yes " in row["send"]
        assert "MCP server files" in row["read_file"] and "kernel" in row["double"]
        assert "<table>" in data["text/html"] and "Reads a file." in data["text/html"]
        with capture_output() as captured:
            result = ip.run_cell("%ptc_tools extra")
        assert_usage_error(result, captured, "no arguments")
    finally:
        registry.remove("read_file")


def test_ptc_tools_with_an_empty_registry(ip, clean_registry):
    with capture_output() as captured:
        ip.run_line_magic("ptc_tools", "")
    assert "no tools registered" in captured.outputs[0].data["text/plain"]


# -- conversations ----------------------------------------------------------------------------------


def test_continue_sends_the_previous_cell_and_reuses_its_container(ip, tmp_path):
    rec = tmp_path / "second.jsonl"
    first_body = "Count.\n```python\nseen = 1\nprint('first', seen)\n```\n"
    second_body = "Again.\n```python\nseen += 1\nprint('second', seen)\n```\n"
    assert ptc_cell(ip, "-o one", first_body)[0].success
    result, _ = ptc_cell(ip, f"-o two --continue --record {rec}", second_body)
    assert result.success, result.error_in_exec
    one, two = ip.user_ns["one"], ip.user_ns["two"]
    assert two.container_id == one.container_id and two.steps[-1].stdout.strip() == "second 2"
    assert two.conversation["turn"] == 2 and two.conversation["id"] == one.conversation["id"]
    first_request = json.loads(rec.read_text().splitlines()[0])["request"]
    assert "print('first', seen)" in json.dumps(first_request["messages"])  # turn 1 went along
    assert any(n.startswith(f"continues {one.conversation['id']} from turn 1") for n in two.notices)


def test_re_running_a_continued_cell_replaces_its_turn(ip):
    assert ptc_cell(ip, "-o a", "First.\n```python\nprint(1)\n```\n")[0].success
    body = "Second.\n```python\nprint(2)\n```\n"
    assert ptc_cell(ip, "-o b --continue", body)[0].success
    assert ptc_cell(ip, "-o c --continue", body)[0].success
    c = ip.user_ns["c"]
    assert c.conversation["turn"] == 2 and any("earlier turn 2 is replaced" in n for n in c.notices)


def test_new_and_ptc_new_start_afresh(ip):
    assert ptc_cell(ip, "-o a", "First.\n```python\nprint(1)\n```\n")[0].success
    assert ptc_cell(ip, "-o b --new", "Other.\n```python\nprint(2)\n```\n")[0].success
    assert ip.user_ns["b"].conversation["turn"] == 1
    with capture_output():
        ip.run_line_magic("ptc_new", "")
    assert ptc_cell(ip, "-o c --continue", "Third.\n```python\nprint(3)\n```\n")[0].success
    assert ip.user_ns["c"].conversation["turn"] == 1


def test_only_script_cells_have_their_asyncio_run_awaited_and_only_when_the_shell_awaits():
    class Shell:
        autoawait = True

    shell = Shell()
    transform = magics.make_script_cell_transformer(shell)
    script = [
        "from ptc_jupyter.script_cell import bind_tools; bind_tools(globals())\n",
        "import asyncio\n",
        "asyncio.run(main())\n",
    ]
    assert transform(script)[-1] == "await (     main())\n"
    own_cell = script[1:]
    assert transform(own_cell) == own_cell  # the user's own cells are theirs
    shell.autoawait = False
    assert transform(script) == script  # top-level await would not run: leave asyncio.run to work alone
