"""`sandbox/event_loop_calls.py`: a script's module-level `asyncio.run(...)` rewritten to `await`.

The rewritten script, run inside an event loop, prints what the original prints as a plain Python
program; lines (and columns, where the text allows) stay where they were."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from ptc_jupyter.sandbox.event_loop_calls import await_loop_calls

PROGRAMS = {
    "asyncio.run": "import asyncio\nasync def main():\n    print('main')\n    return 3\nprint(asyncio.run(main()))\n",
    "guarded, multi-line": (
        "import asyncio\nasync def main(n):\n    return n * 2\nif __name__ == '__main__':\n"
        "    x = asyncio.run(\n        main(4),\n        debug=False) + 1\n    print(x)\n"
    ),
    "aliases": (
        "import asyncio as aio\nfrom asyncio import run as go\nasync def f(v):\n    return v\n"
        "print(aio.run(f(1)), go(f(2)))\n"
    ),
    "run_until_complete": (
        "import asyncio\nasync def f():\n    return 'done'\nprint(asyncio.new_event_loop().run_until_complete(f()))\n"
    ),
    "nested call left alone": (
        "import asyncio\nasync def f():\n    return 5\n"
        "def sync():\n    return asyncio.run(f())\nprint('defined', sync.__name__)\n"
    ),
}


def in_a_running_loop(source: str) -> str:
    """What `source` prints when run as the REPL runs it: top-level await, inside a running loop."""
    script = (
        "import ast, asyncio, sys\n"
        "code = compile(sys.stdin.read(), '<script>', 'exec', flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)\n"
        "async def run():\n"
        "    result = eval(code, {'__name__': '__main__'})\n"
        "    if asyncio.iscoroutine(result):\n"
        "        await result\n"
        "asyncio.run(run())\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], input=source, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("source", PROGRAMS.values(), ids=PROGRAMS.keys())
def test_rewritten_in_a_loop_it_prints_what_the_program_prints(source):
    alone = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, check=True).stdout
    assert in_a_running_loop(await_loop_calls(source)) == alone


def test_without_the_rewrite_the_loop_refuses():
    with pytest.raises(subprocess.CalledProcessError) as info:
        in_a_running_loop(PROGRAMS["asyncio.run"])
    assert "cannot be called from a running event loop" in info.value.stderr


def test_lines_and_columns_stay_where_they_were():
    source = PROGRAMS["guarded, multi-line"] + "r = asyncio.run(main(1)); print(r)\n"
    rewritten = await_loop_calls(source)
    assert [len(line) for line in rewritten.splitlines()][:3] == [len(line) for line in source.splitlines()][:3]
    assert rewritten.count("\n") == source.count("\n")
    assert rewritten.splitlines()[-1] == "r = await (     main(1)); print(r)"
    before, after = ast.parse(source).body[-1], ast.parse(rewritten).body[-1]
    assert (before.lineno, before.col_offset) == (after.lineno, after.col_offset)


@pytest.mark.parametrize(
    "source",
    [
        "print(1)\n",
        "x = (\n",  # does not parse: compiling it reports the error
        "import asyncio\nasync def main():\n    asyncio.run(other())\n",
        "import asyncio\nclass A:\n    x = [asyncio.run(f()) for f in fs]\n",
        "run(main())\n",  # not asyncio's run
    ],
)
def test_other_code_is_left_as_it_is(source):
    assert await_loop_calls(source) == source


def test_a_script_with_both_forms_runs_both():
    source = "import asyncio\nasync def main():\n    await asyncio.sleep(0)\n    print('a')\nasyncio.run(main())\nawait main()\n"
    assert in_a_running_loop(await_loop_calls(source)) == "a\na\n"
