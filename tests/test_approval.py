"""Batch approval (approval.py + dispatch.py): several side-effect calls of one batch get one
question; per-call choices; a tool allowed for the rest of the run is not asked again; the batch's
deadline; the stdin answer parser; the widget group. Through the Dispatcher with real tools."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ptc_jupyter.calls.approval import BATCH_RETRY, ConsoleAsker, TextAsker, batch_question, parse_batch_answer
from ptc_jupyter.calls.dispatch import Dispatcher
from ptc_jupyter.calls.tools import Tool, function_tool
from ptc_jupyter.notebook.approval import MainThreadAsker, WidgetApprover
from ptc_jupyter.notebook.live_view import LiveView
from ptc_jupyter.trace.run import Run, ToolCall
from ptc_jupyter.trace.steps import Step

SCRIPT_ID = "srvtoolu_01batch"


class Outbox:
    """Real side-effect tools (send, delete) and a read-only one (lookup) that record what ran."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str]] = []

        def send(to: str) -> str:
            """Sends a message. Returns 'sent to <to>'."""
            self.done.append(("send", to))
            return f"sent to {to}"

        async def delete(path: str) -> str:
            """Deletes a file. Returns 'deleted <path>'."""
            self.done.append(("delete", path))
            return f"deleted {path}"

        async def lookup(key: str) -> str:
            """Looks a key up. Returns its value."""
            return key.upper()

        self.tools: dict[str, Tool] = {
            "send": function_tool(send, side_effects=True, allow_code=True),
            "delete": function_tool(delete, side_effects=True, allow_code=True),
            "lookup": function_tool(lookup),
        }


def calls_of(*specs: tuple[str, dict]) -> list[ToolCall]:
    return [
        ToolCall(id=f"toolu_{n}", name=name, input=args, caller="code_execution_20260120", script_id=SCRIPT_ID)
        for n, (name, args) in enumerate(specs, 1)
    ]


def three_calls() -> list[ToolCall]:
    return calls_of(("send", {"to": "ann"}), ("send", {"to": "bob"}), ("delete", {"path": "x"}))


class TypedAnswers(TextAsker):
    """A text asker whose answers are typed in advance; keeps every prompt it showed."""

    def __init__(self, *answers: str) -> None:
        super().__init__()
        self.answers = list(answers)
        self.prompts: list[str] = []

    async def ask(self, prompt: str) -> str | None:
        self.prompts.append(prompt)
        return self.answers.pop(0)


def run_batch(dispatcher: Dispatcher, calls: list[ToolCall], outbox: Outbox, **kwargs) -> list[ToolCall]:
    asyncio.run(dispatcher.run_batch(calls, outbox.tools, **kwargs))
    return calls


def outcome(calls: list[ToolCall]) -> list[tuple[str, str]]:
    return [(c.status, c.output) for c in calls]


# -- one question per batch ------------------------------------------------------------------------


def test_a_batch_of_three_side_effect_calls_asks_once():
    outbox, asker = Outbox(), TypedAnswers("a")
    calls = run_batch(Dispatcher(approve=asker), three_calls(), outbox)
    assert asker.prompts == [
        (
            f"ptc: 3 side-effect calls from script {SCRIPT_ID}:\n"
            '  [1] send({"to":"ann"})\n'
            '  [2] send({"to":"bob"})\n'
            '  [3] delete({"path":"x"})\n'
            "Allow? [a]ll / [n]one / numbers (e.g. 1,3) / t:TOOL (TOOL for the rest of this run): "
        )
    ]
    assert outcome(calls) == [("ok", "sent to ann"), ("ok", "sent to bob"), ("ok", "deleted x")]


def test_per_call_choices_run_only_the_chosen_calls():
    outbox, asker = Outbox(), TypedAnswers("1,3")
    calls = run_batch(Dispatcher(approve=asker), three_calls(), outbox)
    assert outcome(calls) == [("ok", "sent to ann"), ("denied", "Error: denied by user"), ("ok", "deleted x")]
    assert sorted(outbox.done) == [("delete", "x"), ("send", "ann")]


def test_calls_without_side_effects_do_not_wait_for_the_answer():
    outbox = Outbox()

    class AnswersOnceLookupRan(TextAsker):
        async def ask(self, prompt: str) -> str:
            await asyncio.wait_for(looked_up.wait(), 5)  # held behind the question: a timeout, a denial
            return "a"

    async def main() -> list[ToolCall]:
        nonlocal looked_up
        looked_up = asyncio.Event()
        calls = [*three_calls(), ToolCall(id="toolu_read", name="lookup", input={"key": "k"})]
        dispatcher = Dispatcher(
            approve=AnswersOnceLookupRan(), on_finish=lambda c: c.name == "lookup" and looked_up.set()
        )
        await dispatcher.run_batch(calls, outbox.tools)
        return calls

    looked_up: asyncio.Event
    calls = asyncio.run(main())
    assert [c.status for c in calls] == ["ok", "ok", "ok", "ok"]


def test_allow_a_tool_for_the_rest_of_the_run_skips_later_questions():
    outbox, asker = Outbox(), TypedAnswers("t:send")
    dispatcher = Dispatcher(approve=asker)
    first = run_batch(dispatcher, three_calls(), outbox)
    assert [c.status for c in first] == ["ok", "ok", "denied"]  # t:send allows send; the rest is denied
    later = run_batch(dispatcher, calls_of(("send", {"to": "cy"}), ("send", {"to": "di"})), outbox)
    alone = run_batch(dispatcher, calls_of(("send", {"to": "ed"})), outbox)  # one call: the per-call path
    assert [c.status for c in later + alone] == ["ok", "ok", "ok"] and len(asker.prompts) == 1

    asker.answers.append("2")  # a later batch asks only about the calls of other tools
    mixed = run_batch(
        dispatcher, calls_of(("send", {"to": "fay"}), ("delete", {"path": "y"}), ("delete", {"path": "z"})), outbox
    )
    assert len(asker.prompts) == 2 and asker.prompts[1].startswith("ptc: 2 side-effect calls")
    assert "send" not in asker.prompts[1].split("Allow?")[0]
    assert [c.status for c in mixed] == ["ok", "denied", "ok"]


def test_one_side_effect_call_is_asked_on_its_own():
    outbox, asker = Outbox(), TypedAnswers("y")
    calls = run_batch(
        Dispatcher(approve=asker),
        [*calls_of(("send", {"to": "ann"})), ToolCall(id="r", name="lookup", input={"key": "k"})],
        outbox,
    )
    assert asker.prompts == ['ptc: allow send({"to":"ann"}) [side effects]? [y/N] ']
    assert [c.status for c in calls] == ["ok", "ok"]


def test_a_bad_input_gets_its_error_and_is_not_in_the_question():
    outbox, asker = Outbox(), TypedAnswers("a")
    calls = run_batch(
        Dispatcher(approve=asker),
        calls_of(("send", {"to": "ann"}), ("send", {"to": 3}), ("delete", {"path": "x"})),
        outbox,
    )
    assert calls[1].status == "error" and calls[1].output.startswith("Error: ") and "to" in calls[1].output
    assert len(asker.prompts) == 1 and "[3]" not in asker.prompts[0] and '"to":3' not in asker.prompts[0]
    assert [calls[0].status, calls[2].status] == ["ok", "ok"]


def test_approvers_without_batch_are_still_asked_per_call():
    outbox, asked = Outbox(), []

    async def approve(call, tool):
        asked.append(call.id)
        return call.input.get("to") != "bob"

    calls = run_batch(Dispatcher(approve=approve), three_calls(), outbox)
    assert sorted(asked) == ["toolu_1", "toolu_2", "toolu_3"]
    assert [c.status for c in calls] == ["ok", "denied", "ok"]


class Decides:
    """A hand-written batch approver: the protocol is `__call__` plus `async batch(calls, tools)`."""

    def __init__(self, batch) -> None:
        self._batch = batch
        self.batches: list[list[str]] = []

    async def __call__(self, call, tool):
        raise AssertionError("a batch approver is asked once per batch")

    async def batch(self, calls, tools):
        self.batches.append([c.id for c in calls])
        return await self._batch(calls, tools)


def test_a_call_the_batch_answer_leaves_out_is_denied():
    async def only_first(calls, tools):
        return {calls[0].id: True}

    approver = Decides(only_first)
    calls = run_batch(Dispatcher(approve=approver), three_calls(), Outbox())
    assert approver.batches == [["toolu_1", "toolu_2", "toolu_3"]]
    assert outcome(calls)[1:] == [("denied", "Error: denied (the approver gave no answer for this call)")] * 2


def test_a_failing_batch_approver_denies_and_says_why():
    async def broken(calls, tools):
        raise KeyError("oops")

    calls = run_batch(Dispatcher(approve=Decides(broken)), three_calls(), Outbox())
    assert {c.output for c in calls} == {"Error: denied (the approver failed: KeyError: 'oops')"}


# -- the deadline ----------------------------------------------------------------------------------


def test_the_batch_question_is_due_by_the_calls_deadline():
    async def never(calls, tools):
        await asyncio.Event().wait()

    outbox = Outbox()
    calls = run_batch(Dispatcher(approve=Decides(never), timeout_s=0.2), three_calls(), outbox)
    assert {(c.status, c.output) for c in calls} == {("timeout", "Error: no approval within 0.2 s")}
    assert outbox.done == []


def test_the_batch_question_is_due_by_the_batch_deadline():
    async def never(calls, tools):
        await asyncio.Event().wait()

    async def main() -> list[ToolCall]:
        calls = three_calls()
        deadline = asyncio.get_running_loop().time() + 0.2
        await Dispatcher(approve=Decides(never), timeout_s=60).run_batch(calls, Outbox().tools, deadline=deadline)
        return calls

    calls = asyncio.run(main())
    assert all(c.status == "timeout" and c.output.startswith("Error: no approval within 0 s") for c in calls)


def test_the_approval_wait_counts_against_each_calls_budget():
    stuck = asyncio.Event

    asking_s, budget_s = 1.0, 1.5

    async def slow_yes(calls, tools):
        await asyncio.sleep(asking_s)
        return {c.id: True for c in calls}

    async def main() -> list[ToolCall]:
        never = stuck()

        async def hang(n: int) -> str:
            """Waits forever."""
            await never.wait()
            return "never"

        tools = {"hang": function_tool(hang, side_effects=True, allow_code=True)}
        calls = [ToolCall(id=f"h{n}", name="hang", input={"n": n}) for n in range(2)]
        await Dispatcher(approve=Decides(slow_yes), timeout_s=budget_s).run_batch(calls, tools)
        return calls

    calls = asyncio.run(main())
    assert all(c.status == "timeout" and f"timed out after {budget_s:g} s" in c.output for c in calls), calls[0].output
    # the budget in all (1.5 s), not the asking and then the budget (2.5 s): halfway is the line
    assert all(c.duration_s < budget_s + asking_s / 2 for c in calls), [c.duration_s for c in calls]


def test_cancelling_while_the_question_waits_cancels_every_call():
    async def main() -> list[ToolCall]:
        asked = asyncio.Event()

        async def waits(calls, tools):
            asked.set()
            await asyncio.Event().wait()

        calls = three_calls()
        task = asyncio.ensure_future(Dispatcher(approve=Decides(waits)).run_batch(calls, Outbox().tools))
        await asked.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return calls

    assert {c.status for c in asyncio.run(main())} == {"cancelled"}


# -- the typed answer ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, allowed, tools",
    [
        ("a", {1, 2, 3}, set()),
        (" ALL ", {1, 2, 3}, set()),
        ("y", {1, 2, 3}, set()),
        ("n", set(), set()),
        ("none", set(), set()),
        ("", set(), set()),
        ("1,3", {1, 3}, set()),
        ("1 3", {1, 3}, set()),
        ("3, 1,", {1, 3}, set()),
        ("2-3", {2, 3}, set()),
        ("t:send", {1, 2}, {"send"}),
        ("t: delete", {3}, {"delete"}),
        ("T: Send", {1, 2}, {"send"}),
        ("1, t:delete", {1, 3}, {"delete"}),
    ],
)
def test_batch_answers_are_read(answer, allowed, tools):
    calls = three_calls()
    parsed = parse_batch_answer(answer, calls)
    assert parsed is not None
    assert parsed.decisions(calls) == {c.id: n in allowed for n, c in enumerate(calls, 1)}
    assert parsed.tools == tools


@pytest.mark.parametrize("answer", ["4", "0", "x", "t:nope", "t:", "1-", "3-1", "a,1", "n 2", "1.5", "yes please"])
def test_unclear_batch_answers_are_refused(answer):
    assert parse_batch_answer(answer, three_calls()) is None


def test_an_unclear_answer_is_asked_once_more_then_read():
    outbox, asker = Outbox(), TypedAnswers("maybe", "2")
    calls = run_batch(Dispatcher(approve=asker), three_calls(), outbox)
    assert len(asker.prompts) == 2 and asker.prompts[1] == BATCH_RETRY + asker.prompts[0]
    assert [c.status for c in calls] == ["denied", "ok", "denied"]


def test_two_unclear_answers_deny_the_batch():
    outbox, asker = Outbox(), TypedAnswers("maybe", "later")
    calls = run_batch(Dispatcher(approve=asker), three_calls(), outbox)
    assert len(asker.prompts) == 2 and outbox.done == []
    assert {c.output for c in calls} == {"Error: denied (unclear answer 'later')"}


def test_batch_question_without_a_script():
    calls = [ToolCall(id=f"d{n}", name="send", input={"to": str(n)}) for n in range(2)]  # direct calls
    assert batch_question(calls).startswith('ptc: 2 side-effect calls:\n  [1] send({"to":"0"})\n')


def test_main_thread_asker_asks_the_batch_in_one_question():
    """The fallback's shape: the batch runs on a worker loop; this (main) thread answers stdin."""
    outbox, prompts = Outbox(), []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return "2-3"

    asker = MainThreadAsker(answer)
    calls, done = three_calls(), threading.Event()

    def worker() -> None:
        async def main() -> None:
            try:
                await Dispatcher(approve=asker).run_batch(calls, outbox.tools)
            finally:
                asker.finished()

        asyncio.run(main())
        done.set()

    threading.Thread(target=worker, daemon=True).start()
    asker.serve(done)
    assert len(prompts) == 1 and prompts[0].startswith("ptc: 3 side-effect calls")
    assert [c.status for c in calls] == ["denied", "ok", "ok"]


def test_console_asker_asks_the_batch_on_the_terminal(monkeypatch):
    prompts: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "t:delete")
    outbox, asker = Outbox(), ConsoleAsker()
    dispatcher = Dispatcher(approve=asker)
    first = run_batch(dispatcher, three_calls(), outbox)
    later = run_batch(dispatcher, calls_of(("delete", {"path": "y"}), ("delete", {"path": "z"})), outbox)
    assert len(prompts) == 1 and "t:TOOL" in prompts[0]
    assert [c.status for c in first + later] == ["denied", "denied", "ok", "ok", "ok"]


def test_console_asker_without_a_terminal_denies(monkeypatch):
    def no_stdin(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", no_stdin)
    calls = run_batch(Dispatcher(approve=ConsoleAsker()), three_calls(), Outbox())
    assert {c.output for c in calls} == {"Error: denied (no way to ask for approval here)"}


# -- the widget group ------------------------------------------------------------------------------


def _run_with_script() -> Run:
    run = Run(prompt="p", model="m", backend="offline-emulator")
    run.steps.append(Step(SCRIPT_ID, 'import asyncio\nawait asyncio.gather(send({"to": "ann"}), ...)  # <all>'))
    return run


def _groups(view: LiveView) -> list:
    return [g for g in view.approvals.children if "ptc-approval-batch" in g._dom_classes]


async def _group_shown(view: LiveView) -> object:
    """The batch group, once the approver has put it up."""
    shown = asyncio.Event()

    def check(_change=None) -> None:
        if _groups(view):
            shown.set()

    view.approvals.observe(check, names="children")
    try:
        check()
        await asyncio.wait_for(shown.wait(), 5)
    finally:
        view.approvals.unobserve(check, names="children")
    return _groups(view)[0]


def _parts(group):
    """(header, [(label, choice)], {button description: button})"""
    header, *rows, buttons = group.children
    return header, [tuple(row.children) for row in rows], {b.description: b for b in buttons.children}


def widget_batch(view: LiveView, approver: WidgetApprover, calls: list[ToolCall], answer) -> list[ToolCall]:
    """Run the batch through a Dispatcher; `answer(group)` clicks like the user would."""
    outbox = Outbox()

    async def main() -> None:
        batch = asyncio.ensure_future(Dispatcher(approve=approver).run_batch(calls, outbox.tools))
        answer(await _group_shown(view))
        await batch

    asyncio.run(main())
    return calls


def test_widget_batch_shows_the_script_and_every_call_and_applies_per_call_choices():
    view, run = LiveView(max_calls=5), _run_with_script()
    approver = WidgetApprover(view.approvals, timeout_s=5, run_of=lambda: run)
    seen = {}

    def answer(group) -> None:
        header, rows, buttons = _parts(group)
        seen.update(
            header=header.value,
            labels=[label.value for label, _ in rows],
            buttons=list(buttons),
            widgets=[header, *group.children, *(w for row in rows for w in row), *buttons.values()],
        )
        rows[0][1].value = "Allow"
        rows[2][1].value = "Allow"
        buttons["Apply"].click()

    calls = widget_batch(view, approver, three_calls(), answer)
    assert [c.status for c in calls] == ["ok", "denied", "ok"]
    assert "3 side-effect calls from script 1" in seen["header"] and "<details" in seen["header"]
    assert "asyncio.gather" in seen["header"] and "&lt;all&gt;" in seen["header"]  # the code, escaped
    assert ["send" in seen["labels"][0], "&quot;bob&quot;" in seen["labels"][1], "delete" in seen["labels"][2]] == [
        True
    ] * 3
    assert seen["buttons"] == ["Allow all", "Deny all", "Apply", "Allow send for this run", "Allow delete for this run"]
    assert view.approvals.children == () and all(w.comm is None for w in seen["widgets"])  # gone and closed
    view.close()


@pytest.mark.parametrize("button, statuses", [("Allow all", ["ok"] * 3), ("Deny all", ["denied"] * 3)])
def test_widget_batch_allow_all_and_deny_all(button, statuses):
    view = LiveView(max_calls=5)
    approver = WidgetApprover(view.approvals, timeout_s=5, run_of=lambda: None)
    calls = widget_batch(view, approver, three_calls(), lambda group: _parts(group)[2][button].click())
    assert [c.status for c in calls] == statuses
    view.close()


def test_widget_allow_a_tool_for_this_run_skips_later_questions():
    view = LiveView(max_calls=5)
    approver = WidgetApprover(view.approvals, timeout_s=5, run_of=lambda: None)

    def answer(group) -> None:
        _, rows, buttons = _parts(group)
        rows[2][1].value = "Allow"  # the delete call, as chosen above
        buttons["Allow send for this run"].click()

    calls = widget_batch(view, approver, three_calls(), answer)
    assert [c.status for c in calls] == ["ok", "ok", "ok"] and approver.allowed_tools == {"send"}
    later = calls_of(("send", {"to": "cy"}), ("send", {"to": "di"}))
    asyncio.run(Dispatcher(approve=approver).run_batch(later, Outbox().tools))  # no group: nobody clicks
    assert [c.status for c in later] == ["ok", "ok"] and view.approvals.children == ()
    view.close()


def test_widget_batch_denies_with_a_note_when_nobody_answers():
    view, run = LiveView(max_calls=5), _run_with_script()
    approver = WidgetApprover(view.approvals, timeout_s=0.05, run_of=lambda: run)
    calls = three_calls()
    asyncio.run(Dispatcher(approve=approver).run_batch(calls, Outbox().tools))
    assert {c.output for c in calls} == {"Error: denied (no answer within 0.05 s)"}
    assert any("3 side-effect calls denied: no answer within 0.05 s" in n for n in run.notices)
    assert view.approvals.children == ()
    view.close()
