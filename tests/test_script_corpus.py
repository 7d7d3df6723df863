"""Scripts as Claude writes them run unchanged, with the same stdout, in the three places a script
runs: the emulator's container (`%%ptc`), the local sandbox (`%%ptc --sandbox local`) and a
`%ptc_script` cell in the kernel (a headless shell here, and a real kernel).

The corpus (`tests/scripts/`) has the shapes real scripts take (shared/ptc-protocol.md items 22
and 1.2): `asyncio.run(main())` (the recorded run's shape) and top-level `await`, under a
`__main__` guard or not; `asyncio.gather`; dict, keyword and lone-string arguments; results read
with `json.loads(...)` and `int(...)`; and a script that fails, whose message names its exception
and line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.utils.capture import capture_output
from shell_support import offline_shell

from ptc_jupyter.notebook.script_cell import cell_source

ROOT = Path(__file__).resolve().parents[1]
CORPUS = sorted((ROOT / "tests" / "scripts").glob("*.py"))
PASSING = [p for p in CORPUS if p.stem != "fails"]

TOOLS_CELL = '''
import ptc_jupyter as ptc

ROLLS = {"player1": [6, 5, 6, 6, 2], "player2": [6, 4, 4, 3, 1]}
rolled = {}

def reset_tools():
    rolled.clear()

@ptc.tool
def roll_die(player: str) -> int:
    """Roll the die of `player` ("player1" or "player2"). Returns the number rolled, 1-6."""
    rolled[player] = rolled.get(player, -1) + 1
    return ROLLS[player][rolled[player]]

@ptc.tool
def get_team_members(department: str) -> list:
    """The members of a department. Returns a list of {"id", "name"}."""
    return [{"id": f"u{i}", "name": name} for i, name in enumerate(["Ada", "Bo", "Cy"])]

@ptc.tool
def get_expenses(user_id: str, quarter: str) -> list:
    """A user's expenses in a quarter. Returns a list of {"amount"}."""
    return [{"amount": 400.0 * (int(user_id[1:]) + 1)}, {"amount": 150.0}]

@ptc.tool
def get_sales(region: str, quarter: str = "Q1") -> list:
    """Sales rows of a region. Returns a list of {"region", "quarter", "revenue"}."""
    base = {"West": 100, "East": 70, "North": 40}[region]
    return [{"region": region, "quarter": quarter, "revenue": base + i} for i in range(3)]

@ptc.tool
def query(sql: str) -> list:
    """Run a read-only SQL query. Returns the rows, a list of objects."""
    return [{"sql": sql, "row": i} for i in range(4)]
'''


def prompt_cell(script: str, options: str = "") -> str:
    return f"%%ptc -o corpus_run {options}\nRun this script.\n```python\n{script}```\n"


def run_in_shell(shell, source: str):
    shell.user_ns["reset_tools"]()
    with capture_output() as captured:
        result = shell.run_cell(source)
    return result, captured.stdout


@pytest.fixture(scope="module")
def shell():
    with offline_shell(TOOLS_CELL) as shell:
        shell.autoawait = True
        yield shell


def three_places(shell, script: str):
    """stdout in the container, in the local sandbox and in the script cell; and the two runs."""
    assert run_in_shell(shell, prompt_cell(script))[0].success
    container = shell.user_ns["corpus_run"]
    assert run_in_shell(shell, prompt_cell(script, "--sandbox local"))[0].success
    local = shell.user_ns["corpus_run"]
    cell_result, cell_stdout = run_in_shell(shell, cell_source(container))
    (container_step,), (local_step,) = container.scripts_detail, local.scripts_detail
    return (container_step.stdout, local_step.stdout, cell_stdout), (container, local, cell_result)


@pytest.mark.parametrize("path", PASSING, ids=lambda p: p.stem)
def test_a_script_prints_the_same_in_the_container_the_local_sandbox_and_a_script_cell(shell, path):
    (in_container, in_sandbox, in_cell), (container, local, cell) = three_places(shell, path.read_text())
    assert container.status == local.status == "completed" and cell.success
    assert container.scripts_detail[0].return_code == local.scripts_detail[0].return_code == 0
    assert in_container.strip(), "the script printed nothing"
    assert in_container == in_sandbox == in_cell


def test_the_recorded_shape_plays_its_game_to_the_end(shell):
    (stdout, _, _), _ = three_places(shell, (ROOT / "tests" / "scripts" / "dice_game.py").read_text())
    assert "Round 1: 6 vs 6 -> 0:0" in stdout and stdout.endswith("Winner: player1 after 4 rounds\n")


def test_a_failing_script_prints_the_same_and_its_message_names_the_exception_and_line(shell):
    (in_container, in_sandbox, in_cell), (container, local, cell) = three_places(
        shell, (ROOT / "tests" / "scripts" / "fails.py").read_text()
    )
    assert in_container == in_sandbox == "3 rows\n" and in_cell.startswith(in_container)  # then the shell's traceback
    assert container.scripts_detail[0].return_code == local.scripts_detail[0].return_code == 1
    assert container.text.endswith("The script failed (return code 1): KeyError: 'profit' (line 9)")
    assert "KeyError: 'profit'" in local.text and "line 9, in main" in local.text
    assert isinstance(cell.error_in_exec, KeyError)
    for stderr in (container.scripts_detail[0].stderr, local.scripts_detail[0].stderr):
        assert "RuntimeWarning" not in stderr and "RuntimeError" not in stderr


@pytest.mark.kernel
def test_the_corpus_prints_the_same_as_script_cells_in_a_real_kernel(shell):
    from test_script_cell import Kernel

    expected = {}
    for path in PASSING:
        assert run_in_shell(shell, prompt_cell(path.read_text()))[0].success
        run = shell.user_ns["corpus_run"]
        expected[path.stem] = (cell_source(run), run.scripts_detail[0].stdout)
    kernel = Kernel()
    try:
        kernel.execute("%load_ext ptc_jupyter\n" + TOOLS_CELL)
        for stem, (source, stdout) in expected.items():
            kernel.execute("reset_tools()")
            assert kernel.execute(source)[1] == stdout, stem
    finally:
        kernel.close()
