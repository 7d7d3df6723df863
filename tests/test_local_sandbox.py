"""The local sandbox (`ptc_jupyter/sandbox/`): batches of tool calls, REPL state, limits, the
`run_python` tool, and the emulator playing a model without code execution, through the real SDK."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time

import anthropic
import psutil
import pytest
from emulator_helpers import CODE_EXECUTION, ptc_tool, tool_results, wait_until

from ptc_jupyter.emulator import EmulatorConfig, EmulatorServer
from ptc_jupyter.sandbox import LocalSandbox, SandboxConfig, SandboxResult, ToolRequest, run_python_tool_definition

LINUX = sys.platform.startswith("linux")
FAST = SandboxConfig(wall_time_s=1.0, memory_bytes=256 * 2**20, output_bytes=1000, max_processes=8)


def in_sandbox(scenario, config: SandboxConfig = FAST):
    """Run `scenario(sandbox)` on a new loop with a new sandbox, closed afterwards."""

    async def main():
        async with LocalSandbox(config) as sandbox:
            return await scenario(sandbox)

    return asyncio.run(main())


class Calls:
    """A `call` recording its batches; answers with `answer(request)` after `delay_s`."""

    def __init__(self, answer=lambda r: f"{r.name}:{json.dumps(r.input, sort_keys=True)}", delay_s: float = 0.0):
        self.batches: list[list[ToolRequest]] = []
        self.answer = answer
        self.delay_s = delay_s
        self.arrived = asyncio.Event()  # set by the first batch

    async def __call__(self, requests: list[ToolRequest]) -> list[str]:
        self.batches.append(requests)
        self.arrived.set()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return [self.answer(r) for r in requests]


# --- calls and state ------------------------------------------------------------------------------


def test_gathered_calls_come_to_call_as_one_batch_and_results_return_in_order():
    calls = Calls()
    code = "import asyncio\nr = await asyncio.gather(*[get({'i': i}) for i in range(10)])\nprint(r[0], r[9])"
    result = in_sandbox(lambda s: s.run(code, ["get"], calls))
    assert result == SandboxResult('get:{"i": 0} get:{"i": 9}\n', "", 0, timed_out=False, truncated=False)
    assert len(calls.batches) == 1 and [r.input for r in calls.batches[0]] == [{"i": i} for i in range(10)]
    assert all(r.name == "get" for r in calls.batches[0]) and len({r.id for r in calls.batches[0]}) == 10


def test_sequential_calls_make_one_batch_each_and_keyword_arguments_work():
    calls = Calls()
    code = "for i in range(3):\n    await get(i=i)\nprint(await other({'x': 1}))"
    result = in_sandbox(lambda s: s.run(code, ["get", "other"], calls))
    assert [[r.name for r in b] for b in calls.batches] == [["get"], ["get"], ["get"], ["other"]]
    assert result.stdout == 'other:{"x": 1}\n'


def test_repl_state_persists_between_runs_and_tools_are_those_of_each_run():
    async def scenario(sandbox):
        first = await sandbox.run("import math\nkept = [await get({})]", ["get"], Calls())
        second = await sandbox.run("print(kept, math.pi > 3, 'get' in globals())", ["other"], Calls())
        return first, second

    first, second = in_sandbox(scenario)
    assert first.return_code == 0
    assert second.stdout == "['get:{}'] True False\n"


def test_errors_come_back_as_stderr_and_a_return_code():
    result = in_sandbox(lambda s: s.run("print('before')\n1 / 0", [], Calls()))
    assert (result.stdout, result.return_code) == ("before\n", 1)
    assert "ZeroDivisionError" in result.stderr and '<script 1>", line 2' in result.stderr
    assert result.as_tool_result().startswith("before\n[stderr]\nTraceback")
    assert result.as_tool_result().endswith("[return code 1]")


def test_call_must_answer_every_request():
    async def wrong(requests):
        return ["only one"]

    async def scenario(sandbox):
        with pytest.raises(TypeError, match="2 strings"):
            await sandbox.run("import asyncio\nawait asyncio.gather(get({}), get({}))", ["get"], wrong)
        return await sandbox.run("print('next')", [], Calls())

    assert in_sandbox(scenario).stdout == "next\n"


def test_a_cancelled_run_stops_its_script_and_the_sandbox_goes_on():
    async def scenario(sandbox):
        calls = Calls(delay_s=30)
        task = asyncio.create_task(sandbox.run("kept = 1\nawait get({})\nprint('never')", ["get"], calls))
        await asyncio.wait_for(calls.arrived.wait(), 30)  # the script is waiting on its call
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await sandbox.run("print(kept)", [], Calls())

    assert in_sandbox(scenario).stdout == "1\n"


# --- limits -------------------------------------------------------------------------------------------


def test_the_wall_time_limit_interrupts_a_busy_script_and_keeps_the_repl():
    async def scenario(sandbox):
        started = time.monotonic()
        stopped = await sandbox.run("kept = 'here'\nwhile True:\n    pass", [], Calls())
        elapsed = time.monotonic() - started
        return stopped, elapsed, await sandbox.run("print(kept)", [], Calls())

    stopped, elapsed, after = in_sandbox(scenario)
    assert stopped.timed_out and stopped.return_code == 1 and "Time limit" in stopped.stderr
    assert elapsed < 10 * FAST.wall_time_s  # stopped: the loop never ends by itself
    assert after.stdout == "here\n"


def test_time_waiting_for_calls_does_not_count():
    code = "for i in range(3):\n    await get({})\nprint('done')"
    result = in_sandbox(lambda s: s.run(code, ["get"], Calls(delay_s=0.5)))
    assert result.stdout == "done\n" and not result.timed_out


def test_a_script_that_will_not_stop_loses_the_process_and_a_new_one_takes_over():
    async def scenario(sandbox):
        old = sandbox.pid
        stopped = await sandbox.run("import itertools\nkept = 1\nsum(itertools.repeat(1, 10**15))", [], Calls())
        after = await sandbox.run("print('kept' in globals())", [], Calls())
        return old, stopped, after, sandbox.pid

    old, stopped, after, new = in_sandbox(scenario)
    assert stopped.timed_out and "process was replaced" in stopped.stderr
    assert after.stdout == "False\n" and new != old
    wait_until(lambda: not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE)


@pytest.mark.skipif(not LINUX, reason="only Linux enforces the memory limit")
def test_the_memory_limit_raises_memory_error_and_the_sandbox_goes_on():
    async def scenario(sandbox):
        assert sandbox.enforced["memory"]
        return (
            await sandbox.run("kept = 1\nbig = bytearray(1 << 30)", [], Calls()),
            await sandbox.run("print(kept)", [], Calls()),
        )

    failed, after = in_sandbox(scenario)
    assert failed.return_code == 1 and "MemoryError" in failed.stderr
    assert after.stdout == "1\n"


def test_output_past_the_cap_is_dropped_with_a_marker():
    result = in_sandbox(lambda s: s.run("print('é' * 3000)\nimport sys\nprint('x', file=sys.stderr)", [], Calls()))
    assert result.truncated and result.stderr == "x\n"
    kept, marker = result.stdout.split("\n[... ")
    assert kept == "é" * 500 and marker == "5001 more bytes not kept]\n"


def test_past_the_process_cap_everything_is_killed_and_the_next_run_starts_afresh():
    async def scenario(sandbox):
        killed = await sandbox.run("import subprocess\nwhile True:\n    subprocess.Popen(['sleep', '60'])", [], Calls())
        return killed, await sandbox.run("print('fresh')", [], Calls())

    killed, after = in_sandbox(scenario)
    assert killed.return_code == 137 and "max_processes" in killed.stderr
    assert after.stdout == "fresh\n"


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


CONNECT = (
    "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n    print('connected')\n"
    "except OSError as exc:\n    print('refused', type(exc).__name__)"
)


def test_without_network_a_script_cannot_connect_even_to_loopback(listener):
    async def scenario(sandbox):
        await sandbox.start()
        if not sandbox.enforced.get("network"):
            pytest.skip("this OS does not let the sandbox leave the network (no network namespace)")
        return await sandbox.run(CONNECT.format(port=listener), [], Calls())

    result = in_sandbox(scenario, SandboxConfig(network=False))
    assert result.stdout.startswith("refused"), result


def test_with_network_the_same_script_connects(listener):
    result = in_sandbox(lambda s: s.run(CONNECT.format(port=listener), [], Calls()), SandboxConfig(network=True))
    assert result.stdout == "connected\n"


def test_aclose_leaves_no_process_behind():
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}

    async def scenario():
        sandbox = LocalSandbox(FAST)
        await sandbox.run("import subprocess\nkept = subprocess.Popen(['sleep', '60'])", [], Calls())
        pid = sandbox.pid
        await sandbox.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await sandbox.run("print(1)", [], Calls())
        return pid

    pid = asyncio.run(scenario())
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    wait_until(lambda: {p.pid for p in me.children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE} <= before)


# --- the run_python tool ----------------------------------------------------------------------------

PRICE = {
    "name": "get_stock_price",
    "description": "Current price of a stock.",
    "input_schema": {
        "type": "object",
        "properties": {"ticker": {"type": "string"}, "unit": {"enum": ["USD", "EUR"]}},
        "required": ["ticker", "unit"],
    },
}


def test_run_python_definition_lists_each_tool_as_a_python_call():
    definition = run_python_tool_definition([PRICE, ptc_tool("odd-name")], SandboxConfig(output_bytes=5000))
    assert definition["name"] == "run_python"
    assert definition["input_schema"]["required"] == ["code"]
    assert definition["input_schema"]["properties"]["code"]["type"] == "string"
    text = definition["description"]
    assert "- get_stock_price: Current price of a stock." in text
    assert "result = await get_stock_price({'ticker': '...', 'unit': 'USD'})" in text
    assert '"required": ["ticker", "unit"]' in text
    assert "await globals()['odd-name']({})" in text
    assert "asyncio.gather" in text and "5000 bytes" in text and "no network" in text


def test_run_python_definition_takes_tool_objects(clean_registry):
    import ptc_jupyter as ptc

    @ptc.tool
    def double(x: int) -> int:
        """Twice x.

        Args:
            x: A number.
        """
        return 2 * x

    text = run_python_tool_definition([clean_registry.get("double")])["description"]
    assert "- double: Twice x." in text and "await double({'x': 1})" in text


# --- the emulator as a model without code execution ---------------------------------------------------


@pytest.fixture(scope="module")
def client():
    with EmulatorServer(EmulatorConfig(models_without_code_execution=("listed-model",))) as server:
        yield anthropic.Anthropic(base_url=server.url, api_key=server.api_key, max_retries=0)


PROMPT = (
    "Sum the prices.\n\n```python\nimport asyncio, json\n"
    "prices = await asyncio.gather(*[get_stock_price({'ticker': t}) for t in ['A', 'B', 'C']])\n"
    "total = sum(json.loads(p)['price'] for p in prices)\nprint('partial', total)\n```\n"
    "Then:\n```python\nprint('total', total * 2)\n```\n"
)


def test_the_emulator_sends_the_scripts_to_run_python_and_answers_from_the_results(client):
    tools = [run_python_tool_definition([PRICE])]
    calls = Calls(lambda r: json.dumps({"ticker": r.input["ticker"], "price": 10}))
    messages: list[dict] = [{"role": "user", "content": PROMPT}]

    async def converse():
        async with LocalSandbox(FAST) as sandbox:
            for _ in range(5):
                response = await asyncio.to_thread(
                    client.messages.create,
                    model="claude-no-code-execution",
                    max_tokens=1000,
                    tools=tools,
                    messages=messages,
                )
                messages.append({"role": "assistant", "content": response.content})
                if response.stop_reason != "tool_use":
                    return response
                use = next(b for b in response.content if b.type == "tool_use")
                assert use.name == "run_python" and use.caller.type == "direct" and response.container is None
                result = await sandbox.run(use.input["code"], ["get_stock_price"], calls)
                text = result.as_tool_result()
                messages.append(tool_results(response, lambda _block, text=text: text))
        raise AssertionError("no final answer")

    final = asyncio.run(converse())
    assert final.stop_reason == "end_turn" and final.content[-1].text == "partial 30\n\ntotal 60"
    assert [len(b) for b in calls.batches] == [3]
    assert len(messages) == 6  # prompt, run_python, result, run_python, result, answer


def test_without_a_script_the_emulator_explains_itself(client):
    response = client.messages.create(
        model="m",
        max_tokens=100,
        tools=[run_python_tool_definition([])],
        messages=[{"role": "user", "content": "hello"}],
    )
    assert response.stop_reason == "end_turn" and "run_python" in response.content[0].text


def test_the_models_api_says_which_models_lack_code_execution(client):
    assert client.models.retrieve("claude-x").capabilities.code_execution.supported is True
    assert client.models.retrieve("claude-x-no-code-execution").capabilities.code_execution.supported is False
    assert client.models.retrieve("listed-model").capabilities.code_execution.supported is False
    with pytest.raises(anthropic.BadRequestError, match="does not support"):
        client.messages.create(
            model="listed-model",
            max_tokens=100,
            tools=[CODE_EXECUTION],
            messages=[{"role": "user", "content": "```python\nprint(1)\n```"}],
        )


# --- the process tree ------------------------------------------------------------------------------


def test_members_are_descendants_and_session_or_group_mates_but_not_zombies():
    from ptc_jupyter.sandbox.tree import ProcessInfo, members

    table = {
        pid: ProcessInfo(pid, ppid, pgid, sid, zombie)
        for pid, ppid, pgid, sid, zombie in [
            (1, 0, 1, 1, False),
            (10, 1, 10, 10, False),  # the REPL
            (11, 10, 10, 10, False),  # its child
            (12, 11, 12, 12, False),  # left with setsid, still a descendant
            (13, 1, 10, 10, False),  # orphaned to init, still in the group
            (14, 13, 14, 14, False),  # child of that
            (15, 10, 10, 10, True),  # a zombie: nothing runs
            (20, 1, 20, 20, False),  # a stranger
        ]
    }
    assert members(table, [10]) == {10, 11, 12, 13, 14}
    assert members(table, [99]) == set()
