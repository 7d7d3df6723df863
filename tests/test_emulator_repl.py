"""The container's inside (`sandbox/repl.py`), driven through its JSON-lines protocol."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ptc_jupyter.emulator.sandbox import REPL_PATH


class Child:
    """A REPL subprocess with blocking helpers; reads wait on the child's next line."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(REPL_PATH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.read()["ev"] == "ready"
        self.ack = 0

    def send(self, msg: dict) -> None:
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        assert line, "the child closed its channel"
        return json.loads(line)

    def run(self, code: str, tools=("get",), run_id: int = 1, deadline_s=None) -> None:
        self.ack = 1
        self.send(
            {"op": "run", "run_id": run_id, "code": code, "tools": list(tools), "deadline_s": deadline_s, "ack": 1}
        )

    def results(self, pairs: dict, run_id: int = 1) -> None:
        self.ack += 1
        self.send(
            {
                "op": "results",
                "run_id": run_id,
                "ack": self.ack,
                "results": [{"id": k, "content": v} for k, v in pairs.items()],
            }
        )

    def next_event(self, kinds=("blocked", "done", "expired"), skip_empty=True) -> dict:
        while True:
            event = self.read()
            if event["ev"] == "blocked" and skip_empty and not event["calls"]:
                continue
            if event["ev"] in kinds:
                return event

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


@pytest.fixture
def child():
    c = Child()
    yield c
    c.close()


def test_gathered_calls_leave_in_one_batch(child):
    child.run("import asyncio\nr = await asyncio.gather(*[get({'i': i}) for i in range(50)])\nprint(len(r), r[7])")
    batch = child.next_event()
    assert batch["ev"] == "blocked" and batch["ack"] == 1
    assert [c["input"] for c in batch["calls"]] == [{"i": i} for i in range(50)]
    child.results({c["id"]: f"r{c['input']['i']}" for c in batch["calls"]})
    done = child.next_event()
    assert done == {"ev": "done", "run_id": 1, "stdout": "50 r7\n", "stderr": "", "return_code": 0, "truncated": False}


def test_sequential_calls_make_one_batch_each(child):
    child.run("a = await get(x=1)\nb = await get({'x': 2}, y=3)\nprint(a, b)")
    first = child.next_event()
    assert [c["input"] for c in first["calls"]] == [{"x": 1}]
    child.results({first["calls"][0]["id"]: "one"})
    second = child.next_event()
    assert second["ack"] == 2 and [c["input"] for c in second["calls"]] == [{"x": 2, "y": 3}]
    child.results({second["calls"][0]["id"]: "two"})
    assert child.next_event()["stdout"] == "one two\n"


def test_printing_and_writing_to_fd1_cannot_corrupt_the_channel(child):
    child.run(
        "import os, sys\nprint('to stdout')\nos.write(1, b'raw fd1 bytes\\n')\n"
        "print('to stderr', file=sys.stderr)\nprint(input.__name__)"
    )
    done = child.next_event()
    assert done["stdout"] == "to stdout\ninput\n"
    assert done["stderr"] == "to stderr\n"


def test_repl_state_persists_between_runs(child):
    child.run("counter = 41\ndef bump():\n    global counter\n    counter += 1\n    return counter", run_id=1)
    assert child.next_event()["return_code"] == 0
    child.run("print(bump())", run_id=2)
    assert child.next_event()["stdout"] == "42\n"


def test_failures_report_a_traceback_and_return_code(child):
    child.run("x = 1\nraise ValueError('boom')", run_id=1)
    done = child.next_event()
    assert done["return_code"] == 1
    assert 'File "<script 1>", line 2' in done["stderr"] and done["stderr"].rstrip().endswith("ValueError: boom")
    assert "repl.py" not in done["stderr"]
    child.run("def broken(:\n  pass", run_id=2)
    assert "SyntaxError" in child.next_event()["stderr"]
    child.run("import sys\nsys.exit(3)", run_id=3)
    assert child.next_event()["return_code"] == 3


def test_positional_non_dict_argument_is_a_type_error(child):
    child.run("try:\n    await get('AAPL')\nexcept TypeError as e:\n    print(e)")
    assert "takes one dict of arguments" in child.next_event()["stdout"]


def test_deadline_raises_timeout_error_in_the_script_and_late_results_are_ignored(child):
    child.run(
        "try:\n    await get({'q': 1})\nexcept TimeoutError as e:\n    print('caught:', e)\nprint(await get({'q': 2}))",
        deadline_s=0.05,
    )
    first = child.next_event()
    expired = child.next_event(kinds=("expired",))
    assert expired["ids"] == [first["calls"][0]["id"]]
    second = child.next_event()
    child.results({first["calls"][0]["id"]: "late", second["calls"][0]["id"]: "on time"})
    done = child.next_event(kinds=("done",))
    assert done["stdout"] == ("caught: Calling tool ['get'] timed out (no response after 0.05s)\non time\n")


def test_cancel_stops_the_script_and_keeps_the_repl(child):
    child.run("kept = 'yes'\nawait get({})", run_id=1)
    child.next_event()
    child.send({"op": "cancel", "run_id": 1})
    done = child.next_event(kinds=("done",))
    assert done["return_code"] == 1 and "cancelled" in done["stderr"]
    child.run("print(kept)", run_id=2, tools=())
    assert child.next_event()["stdout"] == "yes\n"


def test_closing_the_channel_ends_the_child(child):
    child.proc.stdin.close()
    assert child.proc.wait(timeout=10) == 0
