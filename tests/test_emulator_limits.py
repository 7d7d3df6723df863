"""Scripts that never stop, eat memory or spawn processes, through the real SDK
(`sandbox/os_limits.py`, `sandbox/tree.py`, `emulator/containers.py`): each is stopped by a limit,
the emulator goes on serving, and the process hosting it (this one) is unaffected."""

from __future__ import annotations

import sys
import time

import anthropic
import psutil
import pytest
from emulator_helpers import CODE_EXECUTION, ptc_tool, run_turn, script_prompt, wait_until

from ptc_jupyter.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the limits are enforced on Linux")

TOOLS = [CODE_EXECUTION, ptc_tool("get")]
LIMIT_S = 1.0  # the cell limit of the time tests' own emulator
GRACE_S = 2.0  # sandbox.config.STOP_GRACE_S
MEMORY = 256 * 2**20
MAX_PROCESSES = 8
#: Memory and process tests get the documented 90 s cell limit: a loaded machine must not turn
#: their MemoryError or process kill into a time limit.
CONFIG = EmulatorConfig(memory_limit_bytes=MEMORY, max_processes=MAX_PROCESSES)
TIMED = EmulatorConfig(cell_limit_s=LIMIT_S, memory_limit_bytes=MEMORY, max_processes=MAX_PROCESSES)


@pytest.fixture(scope="module")
def emulator():
    with EmulatorServer(CONFIG) as s:
        yield s


@pytest.fixture(scope="module")
def timed_client():
    """A client of an emulator whose cells stop after LIMIT_S."""
    with EmulatorServer(TIMED) as server:
        yield anthropic.Anthropic(base_url=server.url, api_key=server.api_key, max_retries=0)


def run(client, code: str, container: str | None = None):
    """One turn of one python cell: (its code_execution_result, the final response)."""
    final, _ = run_turn(client, prompt=script_prompt(code), tools=TOOLS, answer=lambda b: "ok", container=container)
    result = next(b.content for b in final.content if b.type == "code_execution_tool_result")
    return result, final


def gone(pid: int) -> bool:
    """Whether the process is gone (a zombie counts: nothing runs any more)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def sleepers() -> set[int]:
    """`sleep 60` processes of this machine (what the scripts below start)."""
    found = set()
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["cmdline"] == ["sleep", "60"] and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.add(proc.pid)
    return found


# --- time ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loop",
    [
        "import signal\nfor s in (signal.SIGUSR1, signal.SIGINT, signal.SIGTERM):\n    signal.signal(s, signal.SIG_IGN)\n"
        "while True:\n    pass",
        "import itertools\nsum(itertools.repeat(1, 10**15))",  # a C loop: no signal handler runs until it returns
    ],
    ids=["signals-ignored", "busy-c-loop"],
)
def test_a_cell_that_will_not_stop_loses_its_process_and_the_container_goes_on(timed_client, loop):
    client = timed_client
    first, final = run(client, "import os\nkept = 1\nprint(os.getpid())")
    old_pid = int(first.stdout)
    started = time.monotonic()
    result, final = run(client, loop, container=final.container.id)
    assert time.monotonic() - started < 10 * (LIMIT_S + GRACE_S)  # stopped: the loop never ends by itself
    assert result.return_code == 1
    assert "detection_timeout" in result.stderr and "process was replaced" in result.stderr
    wait_until(lambda: gone(old_pid), timeout_s=30)
    again, _ = run(client, "import os\nprint(os.getpid(), 'kept' in globals())", container=final.container.id)
    pid, kept = again.stdout.split()
    assert int(pid) != old_pid and kept == "False"  # a new process: the REPL state went with the old one


# --- memory ----------------------------------------------------------------------------------------


def test_a_large_allocation_raises_memory_error_and_the_repl_goes_on(client):
    result, final = run(client, "kept = 'still here'\nbig = bytearray(1 << 30)")
    assert result.return_code == 1
    assert "MemoryError" in result.stderr and "memory limit is 256 MiB" in result.stderr
    again, _ = run(client, "print(kept)", container=final.container.id)
    assert again.stdout == "still here\n"


def test_memory_filled_little_by_little_raises_memory_error_and_can_be_freed(client):
    result, final = run(client, "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))")
    assert result.return_code == 1 and "MemoryError" in result.stderr
    again, _ = run(
        client,
        "print(len(chunks) < 30)\ndel chunks\nx = bytearray(10**8)\nprint('freed')",
        container=final.container.id,
    )
    assert again.stdout == "True\nfreed\n" and again.return_code == 0


def test_bash_steps_have_the_memory_limit_too(client):
    final, _ = run_turn(
        client, prompt="```bash\npython3 -c 'bytearray(1 << 30)'; echo rc=$?\n```\n", tools=TOOLS, answer=lambda b: "ok"
    )
    result = next(b.content for b in final.content if b.type == "bash_code_execution_tool_result")
    assert "MemoryError" in result.stderr and result.stdout == "rc=1\n"


# --- processes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spawn",
    [
        "import subprocess\nwhile True:\n    subprocess.Popen(['sleep', '60'])",
        "import os, time\nwhile True:\n    if os.fork() == 0:\n        os.execvp('sleep', ['sleep', '60'])",
        "import os, time\nwhile True:\n    if os.fork() == 0:\n        time.sleep(60)\n        os._exit(0)",
    ],
    ids=["popen", "fork-exec", "fork"],
)
def test_past_the_process_cap_every_process_of_the_container_is_killed(emulator, client, spawn):
    before = sleepers()
    result, final = run(client, spawn)
    assert result.return_code == 137  # killed by the cap: the spawning loop never ends by itself
    assert f"more than its limit of {MAX_PROCESSES} (max_processes)" in result.stderr
    wait_until(lambda: not (sleepers() - before), timeout_s=30)
    with pytest.raises(anthropic.BadRequestError, match="process limit"):
        run(client, "print(1)", container=final.container.id)
    assert run(client, "print('next container')")[0].stdout == "next container\n"


def test_what_a_cell_starts_ends_with_it_even_in_a_session_of_its_own(client):
    code = (
        "import subprocess\n"
        "p = subprocess.Popen(['sleep', '60'])\n"
        'escaped = subprocess.run("setsid sleep 60 >/dev/null 2>&1 & echo $!", shell=True, capture_output=True, text=True)\n'
        "print(p.pid, escaped.stdout.strip())"
    )
    result, final = run(client, code)
    pids = [int(pid) for pid in result.stdout.split()]
    assert len(pids) == 2 and result.return_code == 0
    wait_until(lambda: all(gone(pid) for pid in pids), timeout_s=30)
    again, _ = run(client, "print(p.poll() is not None)", container=final.container.id)
    assert again.stdout == "True\n"  # the REPL and its state stay


# --- the host ---------------------------------------------------------------------------------------


def test_the_process_hosting_the_emulator_is_unaffected():
    me = psutil.Process()
    children_before = {p.pid for p in me.children(recursive=True)}
    rss_before = me.memory_info().rss
    with EmulatorServer(CONFIG) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key, max_retries=0)
        assert run(client, "x = bytearray(1 << 30)")[0].return_code == 1
        assert (
            run(client, "import subprocess\nwhile True:\n    subprocess.Popen(['sleep', '60'])")[0].return_code == 137
        )
        assert run(client, "print('fine')")[0].stdout == "fine\n"
    wait_until(
        lambda: {p.pid for p in me.children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE} <= children_before,
        timeout_s=30,
    )
    assert me.memory_info().rss - rss_before < 64 * 2**20


def test_the_command_line_sets_the_limits():
    from ptc_jupyter.emulator.__main__ import parse_args

    config = parse_args(["--memory-limit", "0.5", "--max-processes", "10"], environ={})
    assert (config.memory_limit_bytes, config.max_processes) == (2**29, 10)
    config = parse_args(["--memory-limit", "0", "--max-processes", "0"], environ={})
    assert (config.memory_limit_bytes, config.max_processes) == (None, None)
    assert parse_args([], environ={}).memory_limit_bytes == 2 * 2**30
