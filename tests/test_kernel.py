"""`%%ptc` in a real ipykernel (offline emulator): the saved output, interrupts, the live view,
the Stop button and approvals. Kernels run on loopback, started with jupyter_client / nbclient.

Each test waits on the kernel's messages (a tool prints "slow started", a button's comm_open
arrives), never on a fixed sleep.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

from ptc_jupyter.constants import MIME_TYPE

pytestmark = pytest.mark.kernel


def _kernel_answers_widgets_during_cells() -> bool:
    import inspect

    from ipykernel.kernelbase import Kernel as IPyKernel

    return "concurrent" in inspect.signature(IPyKernel.dispatch_shell).parameters


needs_concurrent_comms = pytest.mark.skipif(
    not _kernel_answers_widgets_during_cells(),
    reason="this ipykernel (< 7.4) handles widget clicks only after the cell; %%ptc then runs in the "
    "worker-thread mode, whose approvals and interrupts test_fallback_mode_* cover",
)

ROOT = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STATIC_KEYS = {MIME_TYPE, "text/html", "text/plain"}


def lasting(threads: list[str]) -> set[str]:
    """The kernel's threads, less the pooled ones that come and go by design: the loops' default
    executor workers (`asyncio_N`, bounded) and the in-process emulator's sandbox watchdog, which
    stays while its container's script still waits for the cancelled calls (until the API-like
    pending-call deadline)."""
    return {name for name in threads if not re.fullmatch(r"asyncio_\d+", name)} - {"ptc-sandbox-watch"}


def kernel_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PTC_JUPYTER_OFFLINE"] = "1"
    return env


SETUP = '''
%load_ext ptc_jupyter
import asyncio, os, threading
import psutil
import ptc_jupyter as ptc

@ptc.tool
async def double(x: int) -> int:
    """Twice x. Returns an integer."""
    await asyncio.sleep(0.01)
    return 2 * x

@ptc.tool
async def slow(seconds: float) -> str:
    """Sleeps, then returns 'done'."""
    print("slow started", flush=True)
    await asyncio.sleep(seconds)
    return "done"

@ptc.tool(side_effects=True, allow_code=True)
async def send(to: str) -> str:
    """Sends a message. Returns 'sent to <to>'."""
    return "sent to " + to

def snapshot():
    """Threads, child processes and pending asyncio tasks of this kernel, to compare before/after a run."""
    threads = sorted(t.name for t in threading.enumerate())
    children = sorted(p.pid for p in psutil.Process().children(recursive=True))
    tasks = sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks() if not t.done())
    return threads, children, tasks
'''

GATHER = """%%ptc -o r
Double 0..9.
```python
import asyncio
r = await asyncio.gather(*[double({"x": i}) for i in range(10)])
print(sum(int(v) for v in r))
```
"""
SLOW_S = 60  # what the slow call asks for; stopping it must take a small part of that
SLOW = f'%%ptc -o s\n```python\nprint(await slow({{"seconds": {SLOW_S}}}))\n```\n'
SEND_TWO = (
    "%%ptc -o m\n```python\nimport asyncio\n"
    'print(await asyncio.gather(send({"to": "ann"}), send({"to": "bob"})))\n```\n'
)  # one batch: one question
SEND_EACH = (
    '%%ptc -o m\n```python\nprint(await send({"to": "ann"}), await send({"to": "bob"}))\n```\n'  # a question each
)


class Kernel:
    """A kernel and a blocking client; `execute` collects IOPub messages and can react to them."""

    def __init__(self) -> None:
        self.km, self.kc = start_new_kernel(kernel_name="python3", env=kernel_env(), cwd=str(ROOT / "tests"))

    def execute(
        self,
        code: str,
        *,
        allow_stdin: bool = False,
        stdin_answer: str | None = None,
        on_message=None,
        timeout: float = 60,
    ):
        messages = []

        def output(msg):
            messages.append(msg)
            if on_message is not None:
                on_message(msg)

        def stdin(msg):
            messages.append(msg)
            self.kc.input(stdin_answer)

        reply = self.kc.execute_interactive(
            code,
            allow_stdin=allow_stdin,
            output_hook=output,
            stdin_hook=stdin if allow_stdin else None,
            timeout=timeout,
        )
        return reply["content"], messages

    def ok(self, code: str) -> str:
        reply, messages = self.execute(code)
        assert reply["status"] == "ok", reply
        return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")

    def value(self, expression: str):
        import ast

        return ast.literal_eval(self.ok(f"print(repr({expression}))").strip())

    def click(self, comm_id: str) -> None:
        """What the browser sends when a Button is clicked."""
        msg = self.kc.session.msg(
            "comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
        )
        self.kc.shell_channel.send(msg)

    def update(self, comm_id: str, **state) -> None:
        """What the browser sends when the user changes a widget (a ToggleButtons' `index`)."""
        msg = self.kc.session.msg(
            "comm_msg", {"comm_id": comm_id, "data": {"method": "update", "state": state, "buffer_paths": []}}
        )
        self.kc.shell_channel.send(msg)

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel():
    k = Kernel()
    try:
        k.ok(SETUP)
        k.ok(GATHER)  # the emulator (a server thread and a pre-warmed sandbox) now exists
        yield k
    finally:
        k.close()


@pytest.fixture
def autoawait(kernel, request):
    kernel.ok(f"%autoawait {'on' if request.param else 'off'}")
    yield request.param
    kernel.ok("%autoawait on")


def outputs_of(messages, kind: str):
    return [m["content"] for m in messages if m["msg_type"] == kind]


class Widgets:
    """Follows widget models through comm_open / comm_msg(update) on IOPub."""

    def __init__(self) -> None:
        self.state: dict[str, dict] = {}

    def see(self, msg) -> None:
        content = msg["content"]
        if msg["msg_type"] == "comm_open":
            self.state[content["comm_id"]] = dict(content["data"].get("state", {}))
        elif msg["msg_type"] == "comm_msg" and content["data"].get("method") == "update":
            self.state.setdefault(content["comm_id"], {}).update(content["data"].get("state", {}))

    def find(self, **match) -> list[str]:
        return [cid for cid, s in self.state.items() if all(s.get(k) == v for k, v in match.items())]


# -- the saved notebook ------------------------------------------------------------------------------


def test_notebook_run_with_nbclient_saves_the_static_trace(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(GATHER),
        nbformat.v4.new_code_cell(
            "assert len(r.calls) == 10 and r.status == 'completed'\n"
            "assert [c.output for c in r.calls] == [str(2 * i) for i in range(10)]"
        ),
        nbformat.v4.new_code_cell(SEND_TWO),
        nbformat.v4.new_code_cell(
            "assert [c.status for c in m.calls] == ['denied', 'denied']\n"
            "assert any('no way to ask' in n for n in m.notices)"
        ),
    ]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=kernel_env())
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)

    saved = nbformat.read(path, as_version=4)
    outputs = saved.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data"]
    assert set(outputs[0].data) == STATIC_KEYS
    trace = outputs[0].data[MIME_TYPE]
    assert trace["status"] == "completed" and len(trace["calls"]) == 10
    assert "ptc: completed · 10 tool calls" in outputs[0].data["text/plain"]
    assert outputs[0].data["text/html"].startswith('<details class="ptc-trace"')
    assert WIDGET_VIEW not in path.read_text()
    assert "no way to ask" in saved.cells[3].outputs[0].data["text/plain"]


# -- interrupts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("autoawait", [True, False], indirect=True, ids=["await", "fallback"])
def test_interrupt_stops_the_run_quickly_and_leaks_nothing(kernel, autoawait):
    kernel.ok(GATHER)  # in this mode once first: the long-lived background loop (fallback) then exists
    before = kernel.value("snapshot()")
    interrupted_at: list[float] = []

    def on_message(msg):
        if msg["msg_type"] == "stream" and "slow started" in msg["content"]["text"] and not interrupted_at:
            interrupted_at.append(time.monotonic())
            kernel.km.interrupt_kernel()

    reply, messages = kernel.execute(SLOW, on_message=on_message)
    latency = time.monotonic() - interrupted_at[0]
    assert latency < SLOW_S / 4, latency  # the call was cut short, not waited for
    assert reply["status"] == "error" and reply["ename"] == "RunInterrupted"
    assert "keep everything recorded so far" in reply["evalue"]
    bundles = [d["data"] for d in outputs_of(messages, "display_data") if MIME_TYPE in d["data"]]
    assert len(bundles) == 1 and bundles[0][MIME_TYPE]["status"] == "cancelled"
    assert kernel.value("(s.status, [c.status for c in s.calls], ptc.last is s)") == ("cancelled", ["cancelled"], True)
    threads, children, tasks = kernel.value("snapshot()")
    # no extra thread (no new loop, no tool thread), child process or task
    assert (lasting(threads), children, tasks) == (lasting(before[0]), before[1], before[2])


# -- the live view (a frontend that takes input: JupyterLab) -----------------------------------------


def test_live_view_is_replaced_by_the_static_bundle(kernel):
    widgets = Widgets()
    reply, messages = kernel.execute(GATHER, allow_stdin=True, on_message=widgets.see)
    assert reply["status"] == "ok"
    shown = outputs_of(messages, "display_data")
    assert len(shown) == 1 and set(shown[0]["data"]) == {WIDGET_VIEW, "text/plain"}
    root = shown[0]["data"][WIDGET_VIEW]["model_id"]
    assert "ptc-live" in widgets.state[root]["_dom_classes"]
    updates = outputs_of(messages, "update_display_data")
    assert updates and set(updates[-1]["data"]) == STATIC_KEYS
    assert updates[-1]["transient"]["display_id"] == shown[0]["transient"]["display_id"]
    closed = {m["content"]["comm_id"] for m in messages if m["msg_type"] == "comm_close"}
    assert root in closed  # the widgets are gone once the trace replaced them


@needs_concurrent_comms
def test_stop_button_cancels_the_run_and_the_cell_succeeds(kernel):
    widgets = Widgets()
    clicked: list[float] = []

    def on_message(msg):
        widgets.see(msg)
        if msg["msg_type"] == "stream" and "slow started" in msg["content"]["text"]:
            (stop,) = widgets.find(_model_name="ButtonModel", description="Stop")
            clicked.append(time.monotonic())
            kernel.click(stop)

    reply, messages = kernel.execute(SLOW, allow_stdin=True, on_message=on_message)
    assert reply["status"] == "ok" and time.monotonic() - clicked[0] < SLOW_S / 4  # cut short, not waited for
    final = outputs_of(messages, "update_display_data")[-1]["data"]
    assert final[MIME_TYPE]["status"] == "cancelled"
    assert kernel.value("s.status") == "cancelled"


@needs_concurrent_comms
def test_approval_buttons_work_while_the_cell_runs(kernel):
    widgets = Widgets()
    answered: set[str] = set()

    def on_message(msg):
        widgets.see(msg)
        for row in widgets.find(_model_name="HBoxModel"):
            state = widgets.state[row]
            if "ptc-approval" not in state.get("_dom_classes", ()) or row in answered:
                continue
            label, *buttons = (c.removeprefix("IPY_MODEL_") for c in state["children"])
            if label not in widgets.state or any(b not in widgets.state for b in buttons):
                continue
            answered.add(row)
            want = "Allow" if "ann" in widgets.state[label]["value"] else "Deny"
            kernel.click(next(b for b in buttons if widgets.state[b]["description"] == want))

    reply, _ = kernel.execute(SEND_EACH, allow_stdin=True, on_message=on_message)
    assert reply["status"] == "ok" and len(answered) == 2
    assert kernel.value("[(c.input['to'], c.status, c.output) for c in m.calls]") == [
        ("ann", "ok", "sent to ann"),
        ("bob", "denied", "Error: denied by user"),
    ]


@needs_concurrent_comms
def test_a_batch_of_side_effect_calls_gets_one_group_of_buttons(kernel):
    widgets = Widgets()
    answered: list[str] = []

    def on_message(msg):
        widgets.see(msg)
        groups = [
            g
            for g in widgets.find(_model_name="VBoxModel")
            if "ptc-approval-batch" in widgets.state[g].get("_dom_classes", ())
        ]
        if not groups or answered:
            return
        (group,) = groups
        _header, *rows, buttons = (c.removeprefix("IPY_MODEL_") for c in widgets.state[group]["children"])
        answered.append(group)
        for row in rows:  # the browser's toggle: Allow for ann; bob stays on Deny
            label, choice = (c.removeprefix("IPY_MODEL_") for c in widgets.state[row]["children"])
            if "ann" in widgets.state[label]["value"]:
                kernel.update(choice, index=0)
        apply = next(
            b.removeprefix("IPY_MODEL_")
            for b in widgets.state[buttons]["children"]
            if widgets.state[b.removeprefix("IPY_MODEL_")]["description"] == "Apply"
        )
        kernel.click(apply)

    reply, _ = kernel.execute(SEND_TWO, allow_stdin=True, on_message=on_message)
    assert reply["status"] == "ok" and len(answered) == 1
    assert kernel.value("[(c.input['to'], c.status, c.output) for c in m.calls]") == [
        ("ann", "ok", "sent to ann"),
        ("bob", "denied", "Error: denied by user"),
    ]


@pytest.mark.parametrize("autoawait", [False], indirect=True, ids=["fallback"])
def test_fallback_mode_asks_through_stdin(kernel, autoawait):
    reply, messages = kernel.execute(SEND_EACH, allow_stdin=True, stdin_answer="y")
    prompts = [m["content"]["prompt"] for m in messages if m["msg_type"] == "input_request"]
    assert reply["status"] == "ok"
    assert prompts == [
        'ptc: allow send({"to":"ann"}) [side effects]? [y/N] ',
        'ptc: allow send({"to":"bob"}) [side effects]? [y/N] ',
    ]
    assert kernel.value("[c.status for c in m.calls]") == ["ok", "ok"]


@pytest.mark.parametrize("autoawait", [False], indirect=True, ids=["fallback"])
def test_fallback_mode_asks_once_for_a_batch(kernel, autoawait):
    reply, messages = kernel.execute(SEND_TWO, allow_stdin=True, stdin_answer="2")
    prompts = [m["content"]["prompt"] for m in messages if m["msg_type"] == "input_request"]
    assert reply["status"] == "ok" and len(prompts) == 1, prompts
    head, *lines = prompts[0].split("\n")
    script_id = kernel.value("m.steps[0].id")
    assert head == f"ptc: 2 side-effect calls from script {script_id}:"
    assert lines == [
        '  [1] send({"to":"ann"})',
        '  [2] send({"to":"bob"})',
        "Allow? [a]ll / [n]one / numbers (e.g. 1,2) / t:TOOL (TOOL for the rest of this run): ",
    ]
    assert kernel.value("[(c.input['to'], c.status) for c in m.calls]") == [("ann", "denied"), ("bob", "ok")]


def test_continue_in_a_kernel_carries_the_conversation_and_the_container(kernel):
    kernel.ok('%%ptc -o t1\nRemember.\n```python\nnote = "kept"\nprint(note)\n```\n')
    kernel.ok("%%ptc -o t2 --continue --record continued.jsonl\nRecall.\n```python\nprint(note)\n```\n")
    assert kernel.value("(t2.conversation['turn'], t2.container_id == t1.container_id)") == (2, True)
    assert kernel.value("t2.steps[-1].stdout.strip()") == "kept"  # the container's REPL state
    sent = kernel.value("open('continued.jsonl').readline()")  # the first request of the second cell
    assert "Remember." in sent and "Recall." in sent  # it carried the first cell's messages
    kernel.ok("import os; os.remove('continued.jsonl')")
