"""ptc_jupyter.notebook.script_cell and `%ptc_script`: Claude's script as a cell that runs in the kernel.

The tool functions are checked against the dispatcher itself (same text for the same call), the
cell's source line by line, and the round trip end to end: a `%%ptc` run against the offline
emulator, `%ptc_script`, then the produced cell executed in the same shell (and in a real
kernel) prints exactly what the script printed in the container, with the tools run here.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from shell_support import offline_shell

import ptc_jupyter.mcp as ptc_mcp
from ptc_jupyter import api
from ptc_jupyter.calls.dispatch import Dispatcher
from ptc_jupyter.calls.tools import CODE_EXECUTION_CALLER, registry, tool
from ptc_jupyter.notebook.script_cell import (
    BIND_COMMENT,
    BIND_LINE,
    CLIPPED_NOTE,
    ScriptCellError,
    bind_tools,
    cell_source,
    source_for_line,
    tool_functions,
)
from ptc_jupyter.trace.clipping import clip
from ptc_jupyter.trace.run import Run, ToolCall
from ptc_jupyter.trace.steps import Step

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tests" / "servers" / "demo_server.py"


# -- the tool functions ------------------------------------------------------------------------
def _register_tools(ran: list) -> None:
    @tool
    def price(ticker: str, currency: str | None = None) -> dict:
        """Price of a stock. Returns {"ticker", "price"}."""
        ran.append(ticker)
        return {"ticker": ticker, "price": len(ticker) * 10.5}

    @tool
    async def double(x: int) -> int:
        """Twice x. Returns an integer."""
        ran.append(x)
        return 2 * x

    @tool
    def fail(why: str) -> str:
        """Always fails. Returns nothing."""
        raise RuntimeError(why)

    @tool
    def big(n: int) -> str:
        """n characters. Returns text."""
        return "x" * n

    @tool
    def pair(a: str, b: str) -> str:
        """Joins a and b. Returns text."""
        return a + b

    @tool(side_effects=True, allow_code=True)
    def send(to: str) -> str:
        """Sends a message. Returns 'sent to <to>'."""
        ran.append("send:" + to)
        return "sent to " + to

    @tool(side_effects=True)
    def wipe(path: str) -> str:
        """Deletes. Direct-only. Returns 'wiped'."""
        return "wiped"


@pytest.fixture
def ran(clean_registry):
    calls: list = []
    _register_tools(calls)
    return calls


def call(name: str, *args, **kwargs):
    return asyncio.run(tool_functions()[name](*args, **kwargs))


def dispatched(name: str, tool_input: dict) -> str:
    """What a run's dispatcher answers for this call."""
    tool_call = ToolCall(id="t1", name=name, input=tool_input, caller=CODE_EXECUTION_CALLER)
    asyncio.run(Dispatcher().run_batch([tool_call], {name: registry[name]}))
    return tool_call.output


def test_a_tool_function_takes_one_dict_keyword_arguments_or_both(ran):
    assert call("double", {"x": 2}) == "4"
    assert call("double", x=3) == "6"
    assert call("double", {"x": 1}, x=5) == "10"  # keywords win, as in the container
    assert ran == [2, 3, 5]


def test_a_lone_string_fills_the_only_string_parameter_when_the_others_are_optional(ran):
    assert json.loads(call("price", "AAPL")) == {"ticker": "AAPL", "price": 42.0}
    assert call("pair", {"a": "x", "b": "y"}) == "xy"
    with pytest.raises(TypeError, match=r"pair\(\) takes one dict of arguments or keyword arguments, not str"):
        call("pair", "x")
    with pytest.raises(TypeError, match=r"double\(\) takes one dict .* not str"):
        call("double", "2")
    with pytest.raises(TypeError, match="not list"):
        call("double", [2])


def test_input_json_cannot_carry_is_a_type_error_as_in_the_container(ran):
    with pytest.raises(TypeError, match="not JSON serializable"):
        call("double", {"x": {1, 2}})
    assert ran == []


@pytest.mark.parametrize(
    ("name", "tool_input"),
    [
        ("price", {"ticker": "MSFT"}),
        ("double", {"x": "many"}),
        ("double", {"x": 1, "y": 2}),
        ("fail", {"why": "boom"}),
        ("big", {"n": 300_000}),
    ],
)
def test_results_are_the_text_a_runs_dispatcher_gives(ran, name, tool_input):
    assert call(name, tool_input) == dispatched(name, tool_input)


def test_errors_come_back_as_text_not_raised(ran):
    assert call("fail", {"why": "boom"}) == "Error: RuntimeError: boom"
    assert call("double", {"x": "many"}).startswith("Error: invalid input for double: x:")


def test_side_effect_tools_are_approved_as_ptc_run_approves_them(ran, monkeypatch):
    monkeypatch.setattr("sys.stdin", None)  # nothing can ask
    denied = call("send", {"to": "ann"})
    assert denied == (
        "Error: denied (no way to ask for approval here; bind_tools(globals(), yes=True) allows side-effect calls)"
    )
    asked = []

    async def approve(tool_call, tool_):
        asked.append((tool_.name, tool_call.input))
        return tool_call.input["to"] == "bob"

    functions = tool_functions(approve=approve)
    assert asyncio.run(functions["send"]({"to": "cy"})) == "Error: denied by user"
    assert asyncio.run(functions["send"]({"to": "bob"})) == "sent to bob"
    assert asked == [("send", {"to": "cy"}), ("send", {"to": "bob"})]
    assert asyncio.run(tool_functions(yes=True)["send"](to="dee")) == "sent to dee"
    assert ran == ["send:bob", "send:dee"]


def test_by_default_the_tools_claudes_code_may_call(ran):
    assert set(tool_functions()) == {"price", "double", "fail", "big", "pair", "send"}  # not direct-only wipe
    assert set(tool_functions(["wipe", "double"])) == {"wipe", "double"}


def test_calls_of_one_batch_run_at_once(clean_registry):
    both_started = asyncio.Event()
    started = []

    @tool
    async def meet(who: str) -> str:
        """Waits for the other caller. Returns who."""
        started.append(who)
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), 5)
        return who

    async def script():
        meet_ = tool_functions()["meet"]
        return await asyncio.gather(meet_({"who": "a"}), meet_({"who": "b"}))

    assert asyncio.run(script()) == ["a", "b"]


def test_bind_tools_outside_ipython_fills_the_namespace(ran):
    namespace = {"double": "mine"}
    bind_tools(namespace, ["double"])
    assert asyncio.run(namespace["double"]({"x": 4})) == "8"


# -- the cell ------------------------------------------------------------------------------------
def a_run(*scripts: str, prompt: str = "Add things up.\n```python\n...\n```") -> Run:
    run = Run(prompt=prompt, model="m")
    run.steps = [Step(f"srvtoolu_{i}", code) for i, code in enumerate(scripts)]
    return run


def test_the_cell_is_a_header_the_bind_line_and_the_script_unchanged():
    script = 'x = await double({"x": 1})\nprint(x)  # {braces} and "quotes"\n'
    assert cell_source(a_run("print(1)", script), label="r").split("\n") == [
        "# Claude's script 2 (of 2) of run r; tools run in this kernel",
        BIND_LINE + BIND_COMMENT,
        'x = await double({"x": 1})',
        'print(x)  # {braces} and "quotes"',
        "",
    ]
    assert cell_source(a_run("print(1)", script)).endswith("\n" + script)
    assert BIND_LINE == "from ptc_jupyter.script_cell import bind_tools; bind_tools(globals())"


def test_n_picks_the_script_and_the_prompt_names_an_unnamed_run():
    run = a_run("print(1)", "print(2)", "print(3)", prompt="\n  Sum the squares of 0..9 " + "and more " * 10)
    source = cell_source(run, 1)
    assert source.splitlines()[0] == (
        "# Claude's script 1 (of 3) of run \"Sum the squares of 0..9 and more and more "
        'and more and more…"; tools run in this kernel'
    )  # 59 characters and …
    assert source.endswith("\nprint(1)")
    assert cell_source(a_run("print(1)"), label="r").splitlines()[0] == (
        "# Claude's script 1 of run r; tools run in this kernel"
    )


def test_a_script_clipped_by_a_saved_trace_says_so():
    clipped = clip("print(1)\n" * 5_000, 20_000)
    lines = cell_source(a_run(clipped)).splitlines()
    assert lines[1] == CLIPPED_NOTE and lines[2] == BIND_LINE + BIND_COMMENT
    assert CLIPPED_NOTE not in cell_source(a_run("print(1)"))


@pytest.mark.parametrize(
    ("n", "message"),
    [
        (0, "run r has 3 scripts; N must be 1..3, got 0"),
        (4, "run r has 3 scripts; N must be 1..3, got 4"),
        (-1, "run r has 3 scripts; N must be 1..3, got -1"),
    ],
)
def test_n_out_of_range_says_how_many_scripts_there_are(n, message):
    with pytest.raises(ScriptCellError) as caught:
        cell_source(a_run("a", "b", "c"), n, label="r")
    assert str(caught.value) == message


def test_a_run_without_scripts_is_refused():
    with pytest.raises(ScriptCellError, match=r"^run r has no scripts \(Claude ran no Python code in it\)$"):
        cell_source(a_run(), label="r")


def test_the_line_names_a_run_a_number_both_or_neither(monkeypatch):
    named, last = a_run("print('r1')", "print('r2')"), a_run("print('last')")
    namespace = {"r": named, "box": type("Box", (), {"run": named})(), "n": 3}
    monkeypatch.setattr(api, "last", last)
    assert source_for_line("", namespace).endswith("print('last')")
    assert source_for_line(" 1 ", namespace).endswith("print('last')")
    assert source_for_line("r", namespace).endswith("print('r2')")
    assert source_for_line("r 1", namespace).endswith("print('r1')")
    assert "of run box.run;" in source_for_line("box.run 2", namespace)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("nope", "no variable named 'nope' in the kernel"),
        ("n", "'n' holds a int, not a Run (keep one with %%ptc -o n or n = ptc.run(...))"),
        ("r two", "N must be a script number, got 'two'"),
        ("r 1 2", "takes at most RUN and N, got 3 arguments: r 1 2"),
        ("r 9", "run r has 1 script; N must be 1..1, got 9"),
        ("r.x", "'r' has no attribute 'x'"),
        ("'r", "cannot split the line (No closing quotation)"),
    ],
)
def test_bad_lines_say_what_is_wrong(line, message):
    with pytest.raises(ScriptCellError) as caught:
        source_for_line(line, {"r": a_run("print(1)"), "n": 3})
    assert str(caught.value) == message


def test_no_run_yet(monkeypatch):
    monkeypatch.setattr(api, "last", None)
    with pytest.raises(ScriptCellError, match="^no run yet: run a %%ptc cell"):
        source_for_line("", {})


# -- in a shell: %%ptc, %ptc_script, the cell ----------------------------------------------------
TOOLS_CELL = '''
import ptc_jupyter as ptc
ran = []

@ptc.tool
def price(ticker: str) -> dict:
    """Price of a stock. Returns {"ticker", "price"}."""
    ran.append(ticker)
    return {"ticker": ticker, "price": len(ticker) * 10.5}

@ptc.tool
async def double(x: int) -> int:
    """Twice x. Returns an integer."""
    ran.append(x)
    return 2 * x

@ptc.tool
def fail(why: str) -> str:
    """Always fails. Returns nothing."""
    raise RuntimeError(why)
'''

SCRIPT = """import asyncio, json
tickers = ["AAPL", "MSFT", "GOOGL"]
quotes = [json.loads(q) for q in await asyncio.gather(*[price({"ticker": t}) for t in tickers])]
doubled = await asyncio.gather(double({"x": 1}), double(x=2))
print({q["ticker"]: q["price"] for q in quotes})
print(doubled)
print(await double({"x": "many"}))
print(await fail({"why": "boom"}))
"""
RUN_CELL = f"%%ptc -o r\nPrice three stocks, double two numbers.\n```python\n{SCRIPT}```\n"
EXPECTED_STDOUT = (
    "{'AAPL': 42.0, 'MSFT': 42.0, 'GOOGL': 52.5}\n['2', '4']\n"
    "Error: invalid input for double: x: Input should be a valid integer, unable to parse string "
    "as an integer\nError: RuntimeError: boom\n"
)


@pytest.fixture(scope="module")
def ip():
    with offline_shell(TOOLS_CELL) as shell:
        shell.autoawait = True
        with capture_output():
            assert shell.run_cell(RUN_CELL).success
        yield shell


def script_cell(shell, line: str = "r") -> str:
    shell.rl_next_input = None
    shell.run_line_magic("ptc_script", line)
    return shell.rl_next_input


def run_cell(shell, source: str):
    with capture_output() as captured:
        result = shell.run_cell(source)
    assert result.success, result.error_in_exec or result.error_before_exec
    return captured.stdout


def test_the_copied_script_prints_what_it_printed_in_the_run_and_its_tools_run_here(ip):
    run = ip.user_ns["r"]
    assert run.status == "completed" and run.scripts == [SCRIPT]
    assert run.scripts_detail[-1].stdout == EXPECTED_STDOUT  # what the container printed
    source = script_cell(ip)
    assert source.endswith("\n" + SCRIPT) and source.startswith("# Claude's script 1 of run r;")
    ran = ip.user_ns["ran"]
    del ran[:]
    assert run_cell(ip, source) == run.scripts_detail[-1].stdout
    assert sorted(map(str, ran)) == ["1", "2", "AAPL", "GOOGL", "MSFT"]  # called here, once each
    edited = source.replace('tickers = ["AAPL", "MSFT", "GOOGL"]', 'tickers = ["TSLA"]')
    assert run_cell(ip, edited).splitlines()[0] == "{'TSLA': 42.0}"


def test_without_run_the_last_run_is_used(ip):
    assert script_cell(ip, "").splitlines()[0] == (
        '# Claude\'s script 1 of run "Price three stocks, double two numbers."; tools run in this kernel'
    )


def test_the_tool_names_are_the_users_again_after_the_cell(ip):
    own_double = ip.user_ns["double"]
    ip.user_ns.pop("fail")  # a tool whose name holds nothing in the namespace
    run_cell(ip, script_cell(ip))
    assert ip.user_ns["double"] is own_double is registry["double"].func
    assert "fail" not in ip.user_ns
    assert run_cell(ip, script_cell(ip) + "\nprice = 'rebound by the script'\n")
    assert ip.user_ns["price"] == "rebound by the script"
    ip.run_cell(TOOLS_CELL)


def test_a_split_cell_binds_the_tools_again(ip):
    source = BIND_LINE + '\nprint(await double({"x": 21}))'
    assert run_cell(ip, source) == "42\n"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("nope", ["no variable named 'nope'"]),
        ("ran", ["'ran' holds a list, not a Run"]),
        ("r 2", ["run r has 1 script", "1..1", "got 2"]),
        ("bare", ["run bare has no scripts (Claude ran no Python code in it)"]),
    ],
)
def test_the_magic_raises_one_line_usage_errors(ip, line, words):
    ip.user_ns["bare"] = Run(prompt="Just answer.", model="m", text="An answer, no script.")
    before = ip.rl_next_input if hasattr(ip, "rl_next_input") else None
    with capture_output() as captured:
        result = ip.run_cell(f"%ptc_script {line}")
    assert isinstance(result.error_in_exec, UsageError), repr(result.error_in_exec)
    message = str(result.error_in_exec)
    assert message.startswith("%ptc_script: ") and "\n" not in message
    for word in words:
        assert word in message, message
    assert "Traceback" not in captured.stdout + captured.stderr
    assert getattr(ip, "rl_next_input", None) == before  # no cell was put below


def test_the_magic_help_shows_its_usage(ip):
    with capture_output() as captured:
        ip.run_cell("%ptc_script?")
    assert "Usage: %ptc_script [RUN] [N]" in captured.stdout


def test_an_mcp_tool_works_through_the_same_functions(ip):
    ptc_mcp.add("demo_cell", ["python", str(DEMO)])
    try:
        script = 'import asyncio\nprint(await asyncio.gather(add({"a": 2, "b": 3}), add(a=40, b=2)))\nprint(await boom({}))\n'
        with capture_output():
            assert ip.run_cell(f"%%ptc -o m\nAdd.\n```python\n{script}```\n").success
        run = ip.user_ns["m"]
        assert run.status == "completed" and run.scripts_detail[-1].stdout.startswith("['5', '42']\nError: ")
        assert run_cell(ip, script_cell(ip, "m")) == run.scripts_detail[-1].stdout
        assert "add" not in ip.user_ns
    finally:
        ptc_mcp.remove("demo_cell")


# -- in a real kernel ----------------------------------------------------------------------------
class Kernel:
    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        env["PTC_JUPYTER_OFFLINE"] = "1"
        self.km, self.kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(ROOT / "tests"))

    def execute(self, code: str) -> tuple[dict, str]:
        """The reply's content and the cell's stdout."""
        messages = []
        reply = self.kc.execute_interactive(code, output_hook=messages.append, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        stdout = "".join(
            m["content"]["text"] for m in messages if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )
        return reply["content"], stdout

    def value(self, expression: str):
        return ast.literal_eval(self.execute(f"print(repr({expression}))")[1].strip())

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.mark.kernel
def test_a_copied_script_gets_the_same_output_in_a_real_kernel():
    kernel = Kernel()
    try:
        kernel.execute("%load_ext ptc_jupyter\n" + TOOLS_CELL)
        kernel.execute(RUN_CELL)
        assert kernel.value("r.status") == "completed"
        expected = kernel.value("r.scripts_detail[-1].stdout")
        assert expected == EXPECTED_STDOUT
        reply, _ = kernel.execute("%ptc_script r")
        cells = [p for p in reply.get("payload", []) if p.get("source") == "set_next_input"]
        assert len(cells) == 1 and cells[0]["replace"] is False
        kernel.execute("ran.clear()")
        _, stdout = kernel.execute(cells[0]["text"])
        assert stdout == expected
        assert kernel.value("sorted(map(str, ran))") == ["1", "2", "AAPL", "GOOGL", "MSFT"]
        assert kernel.value("double is ptc.registry['double'].func")  # the user's function again
    finally:
        kernel.close()
