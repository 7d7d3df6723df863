"""view.py and approval.py without a kernel: the live view fed by host events, its throttling,
the Stop button, and the ways of asking before a side-effect call."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
import trace_samples as samples

from ptc_jupyter.calls.approval import deny_all
from ptc_jupyter.calls.tools import function_tool
from ptc_jupyter.notebook.approval import MainThreadAsker, WidgetApprover
from ptc_jupyter.notebook.live_view import WIDGET_VIEW, LiveView, calls_table, highlight_python
from ptc_jupyter.trace.events import (
    CallFinished,
    CallStarted,
    FilesAdded,
    Notice,
    RequestSent,
    ResponseReceived,
    RunFinished,
    ScriptDraft,
    StepFinished,
    StepStarted,
    TextReceived,
)
from ptc_jupyter.trace.files import OutputFile
from ptc_jupyter.trace.run import Run, ToolCall
from ptc_jupyter.trace.steps import Step


def _run() -> Run:
    return Run(prompt="p", model="m", backend="offline-emulator")


def _send_side_effect(to: str) -> str:
    """Send a message. Returns 'sent'."""
    return "sent"


SEND = function_tool(_send_side_effect, name="send", side_effects=True, allow_code=True)


def test_root_box_has_the_ptc_live_class_and_a_widget_view_bundle():
    view = LiveView(max_calls=10)
    assert "ptc-live" in view.widget._dom_classes
    bundle = view.bundle()
    assert bundle[WIDGET_VIEW]["model_id"] == view.widget.model_id
    assert set(bundle) == {WIDGET_VIEW, "text/plain"}
    view.close()


def test_events_fill_every_part_of_the_view():
    run = _run()
    view = LiveView(max_calls=500)
    run.notices.append("offline: the emulator plays Claude")  # as the host does before emitting
    view(Notice(run, run.notices[-1]))
    run.requests = 1
    view(RequestSent(run, 1))
    script = Step(id="srvtoolu_1", code="r = await double({'x': 1})\nprint(r)")
    run.scripts_detail.append(script)
    view(StepStarted(run, script))
    ok = ToolCall(id="t1", name="double", input={"x": 1}, status="ok", output="2", duration_s=0.01)
    bad = ToolCall(
        id="t2",
        name="double",
        input={"x": "<b>"},
        status="error",
        is_error=True,
        output="Error: x must be an integer",
        duration_s=0.001,
    )
    running = ToolCall(id="t3", name="double", input={"x": 3}, status="running")
    run.calls += [ok, bad, running]
    for call in (ok, bad, running):
        view(CallStarted(run, call))
    view(CallFinished(run, ok))
    view(CallFinished(run, bad))
    script.stdout, script.stderr, script.return_code = "2\n", "warn <x>\n", 0
    view(StepFinished(run, script))
    run.text = "**Two** it is"
    view(TextReceived(run, run.text))
    run.usage = {"input_tokens": 120, "output_tokens": 30}
    run.container_id = "container_abc"
    view(ResponseReceived(run, 1, "end_turn"))
    view.flush()

    assert "offline: the emulator plays Claude" in view.notices.value
    assert "<span" in view.script.value and "double" in view.script.value  # highlighted
    calls = view.calls.value
    assert "&quot;&lt;b&gt;&quot;" in calls and "<b>" not in calls.replace("<b>Script", "")  # escaped
    assert "✗ error" in calls and "color:#b00020" in calls  # the failed call is marked
    assert "…" in calls  # the running one has no duration yet
    assert "2 done" in view.counts.value and "1 pending" in view.counts.value and "budget 500" in view.counts.value
    assert "1 failed" in view.counts.value
    assert view.progress.value == 2 and view.progress.max == 3
    assert "warn &lt;x&gt;" in view.streams.value
    assert view.answer.outputs[0]["data"]["text/markdown"] == "**Two** it is"
    assert "round trips 1" in view.footer.value and "container_abc" in view.footer.value
    assert "input tokens 120" in view.footer.value
    view.close()


NEVER_S = 1e9  # a redraw interval that never passes during a test


def test_events_between_redraws_only_mark_what_changed():
    async def main() -> tuple[LiveView, int]:
        run = _run()
        view = LiveView(max_calls=2000, interval_s=NEVER_S)
        calls = [ToolCall(id=f"t{i}", name="double", input={"x": i}) for i in range(1000)]
        for call in calls:
            run.calls.append(call)
            call.status = "running"
            view(CallStarted(run, call))
        for call in calls:
            call.status, call.output, call.duration_s = "ok", "2", 0.001
            view(CallFinished(run, call))
            await asyncio.sleep(0)  # the loop keeps turning, as it does during a run
        return view, view.flushes

    view, flushes_during_the_run = asyncio.run(main())
    assert flushes_during_the_run == 0  # 2,000 events, no redraw before the interval
    view.close()


def test_the_end_of_the_run_redraws_at_once():
    run = _run()
    view = LiveView(max_calls=10, interval_s=NEVER_S)
    run.calls.append(ToolCall(id="t1", name="double", input={"x": 1}, status="ok", output="2", duration_s=0.001))
    run.status = "completed"
    view(RunFinished(run))
    assert view.flushes == 1 and "1 done" in view.counts.value and "double" in view.calls.value
    view.close()


def test_a_scheduled_redraw_runs_on_the_loop():
    async def main() -> LiveView:
        run = _run()
        view = LiveView(max_calls=10, interval_s=0)
        redrawn = asyncio.Event()
        view.calls.observe(lambda _change: redrawn.set(), names="value")
        call = ToolCall(id="t1", name="double", input={"x": 1}, status="running")
        run.calls.append(call)
        view(CallStarted(run, call))
        await asyncio.wait_for(redrawn.wait(), timeout=5)
        return view

    view = asyncio.run(main())
    assert view.flushes == 1 and "double" in view.calls.value
    view.close()


def test_the_live_table_shows_the_latest_calls_and_earlier_failures():
    run = _run()
    run.calls = [
        ToolCall(
            id=f"t{i}",
            name="double",
            input={"x": i},
            status="error" if i % 97 == 96 else "ok",
            is_error=i % 97 == 96,
            output="2",
            duration_s=0.001,
        )
        for i in range(1000)
    ]
    table = calls_table(run)
    numbers = [int(n) for n in re.findall(r"<tr[^>]*><td>(\d+)</td>", table)]
    assert numbers == [97 * k for k in range(1, 10)] + list(range(941, 1001))
    assert "… 96 calls not listed" in table and "… 67 calls not listed" in table


def test_stop_button_calls_on_stop_once():
    view = LiveView(max_calls=1)
    stopped = []
    view.on_stop = lambda: stopped.append(True)
    view.stop_button.click()
    view.stop_button.click()  # a disabled button in the browser sends nothing; here it still fires
    assert stopped == [True]
    view.close()


def test_stop_button_disables_itself_and_says_so():
    view = LiveView(max_calls=1)
    view.stop_button.click()
    assert view.stop_button.disabled and view.stop_button.description == "Stopping…"
    view.close()


def test_stop_button_is_disabled_when_the_run_cannot_be_stopped_by_it():
    view = LiveView(max_calls=1, stoppable=False)
    assert view.stop_button.disabled and "interrupt" in view.stop_button.tooltip
    view.close()


def test_compare_shows_the_second_run_as_a_phase():
    first, second = _run(), Run(prompt="p", model="m", mode="direct")
    view = LiveView(max_calls=5)
    view(RequestSent(first, 1))
    view(RequestSent(second, 1))
    view.flush()
    assert "direct run (for the comparison)" in view.status.value
    view.close()


def test_highlight_is_inline_styled_and_escaped():
    html = highlight_python("x = '<script>'  # {braces} $dollar")
    assert "<span" in html and "style=" in html and "<script>" not in html
    assert "$dollar" in html


# -- approvals ----------------------------------------------------------------------------------


def _call(to: str = "a") -> ToolCall:
    return ToolCall(id=f"toolu_{to}", name="send", input={"to": to})


def _approval_rows(view: LiveView):
    return [row for row in view.approvals.children if "ptc-approval" in row._dom_classes]


async def _questions_shown(view: LiveView, count: int, timeout_s: float = 5) -> list:
    """The approval rows, once the approver has put up `count` of them."""
    shown = asyncio.Event()

    def check(_change=None) -> None:
        if len(_approval_rows(view)) >= count:
            shown.set()

    view.approvals.observe(check, names="children")
    try:
        check()
        await asyncio.wait_for(shown.wait(), timeout_s)
    finally:
        view.approvals.unobserve(check, names="children")
    return _approval_rows(view)


def test_widget_approver_waits_for_the_click():
    view = LiveView(max_calls=5)
    run = _run()
    approver = WidgetApprover(view.approvals, timeout_s=5, run_of=lambda: run)

    async def main() -> list[bool]:
        first = asyncio.ensure_future(approver(_call("a"), SEND))
        second = asyncio.ensure_future(approver(_call("b"), SEND))
        row_a, row_b = await _questions_shown(view, 2)
        assert "&quot;a&quot;" in row_a.children[0].value and "send" in row_a.children[0].value
        next(b for b in row_a.children[1:] if b.description == "Allow").click()
        next(b for b in row_b.children[1:] if b.description == "Deny").click()
        return list(await asyncio.gather(first, second))

    assert asyncio.run(main()) == [True, False]
    assert view.approvals.children == ()  # answered rows go away
    view.close()


def test_allow_all_approves_the_pending_and_the_rest_of_the_run():
    view = LiveView(max_calls=5)
    approver = WidgetApprover(view.approvals, timeout_s=5, run_of=lambda: None)

    async def main() -> list[bool]:
        pending = [asyncio.ensure_future(approver(_call(x), SEND)) for x in "ab"]
        rows = await _questions_shown(view, 2)
        next(b for b in rows[0].children[1:] if b.description.startswith("Allow all")).click()
        answers = list(await asyncio.gather(*pending))
        return answers + [await approver(_call("c"), SEND)]

    assert asyncio.run(main()) == [True, True, True]
    view.close()


def test_widget_approver_denies_with_a_note_when_nobody_answers():
    view = LiveView(max_calls=5)
    run = _run()
    approver = WidgetApprover(view.approvals, timeout_s=0.05, run_of=lambda: run)
    assert asyncio.run(approver(_call(), SEND)) == "(no answer within 0.05 s)"  # a denial, with its reason
    assert any("no answer within 0.05 s" in n for n in run.notices)
    view.close()


def test_deny_all_leaves_one_clear_note():
    run = _run()
    deny = deny_all(lambda: run)

    async def main() -> list[bool | str]:
        return [await deny(_call(x), SEND) for x in "ab"]

    answers = asyncio.run(main())
    assert all(isinstance(a, str) and "no way to ask" in a for a in answers)  # denials, with the reason
    assert len(run.notices) == 1 and "--yes" in run.notices[0] and "no way to ask" in run.notices[0]


def _serve_in_worker(asker: MainThreadAsker, calls: list[ToolCall]) -> list[bool]:
    """The fallback's shape: approvals asked on a worker loop, answered by this (main) thread."""
    done, results = threading.Event(), []

    def worker() -> None:
        async def main() -> None:
            try:
                results.extend(await asyncio.gather(*[asker(c, SEND) for c in calls]))
            finally:
                asker.finished()

        asyncio.run(main())
        done.set()

    threading.Thread(target=worker, daemon=True).start()
    asker.serve(done)
    return results


def test_main_thread_asker_asks_one_question_at_a_time():
    questions = []

    def ask(prompt: str) -> str:
        questions.append(prompt)
        return "y" if '"a"' in prompt else "n"

    asker = MainThreadAsker(ask)
    assert _serve_in_worker(asker, [_call("a"), _call("b")]) == [True, False]
    assert len(questions) == 2 and all(q.startswith("ptc: allow send(") for q in questions)


def test_main_thread_asker_denies_when_stdin_is_not_available():
    from IPython.core.error import StdinNotImplementedError

    def ask(prompt: str) -> str:
        raise StdinNotImplementedError("raw_input was called, but this frontend does not support input requests.")

    assert _serve_in_worker(MainThreadAsker(ask), [_call("a")]) == [False]


@pytest.mark.parametrize("answer,allowed", [("y", True), ("YES ", True), ("", False), ("no", False)])
def test_answers_are_read_strictly(answer, allowed):
    assert _serve_in_worker(MainThreadAsker(lambda prompt: answer), [_call()]) == [allowed]


def test_a_script_being_written_shows_until_it_starts():
    run = _run()
    view = LiveView(max_calls=10)
    view(ScriptDraft(run, "total = sum(await asyncio.gath"))
    view.flush()
    assert "being written" in view.script.value and "gath" in view.script.value
    script = Step(id="srvtoolu_1", code="total = sum(await asyncio.gather(a(), b()))")
    run.scripts_detail.append(script)
    view(StepStarted(run, script))
    view.flush()
    assert "being written" not in view.script.value and view.script.value.count("Script 1") == 1
    view.close()


def test_every_step_shows_in_order_with_its_outcome():
    saved = samples.steps_run()
    run = Run.from_dict(saved.to_dict())  # the sample is built with its own copy of trace.py
    live, view = Run(prompt="p", model="m"), LiveView(max_calls=10, interval_s=NEVER_S)
    for step in run.steps:
        live.steps.append(step)
        view(StepStarted(live, step))
        view(StepFinished(live, step))
    view.flush()
    html = view.script.value
    order = [
        html.index(marker)
        for marker in (
            "<b>Script 1</b>",
            "Bash",
            "$ ls -la $OUTPUT_DIR",
            "str_replace /tmp/config.json",
            "view /tmp/nope",
            "future_tool",
        )
    ]
    assert order == sorted(order)
    assert "cell time limit (90 s) reached" in html  # the Python step's state
    assert "plot.png\nsummary.csv" in html and "exit 0" in html  # the bash command's output and code
    assert "-  &quot;debug&quot;: true" in html and "+  &quot;debug&quot;: false" in html  # the diff, escaped
    assert "file_not_found: /tmp/nope does not exist" in html and "color:#b00020" in html
    assert "&quot;answer&quot;: 42" in html  # an unknown result, as JSON
    assert "detection_timeout" in view.streams.value and "script 1 stderr" in view.streams.value
    view.close()


def test_bash_and_other_steps_are_not_taken_for_a_script_being_written():
    run, view = _run(), LiveView(max_calls=10)
    view(ScriptDraft(run, "x = 1"))
    bash = Step(id="b", name="bash_code_execution", input={"command": "ls"})
    run.steps.append(bash)
    view(StepStarted(run, bash))
    view.flush()
    assert "being written" in view.script.value and "$ ls" in view.script.value and "running…" in view.script.value
    bash.stdout, bash.return_code = "a.txt", 0
    view(StepFinished(run, bash))
    view.flush()
    assert "a.txt" in view.script.value
    view.close()


def test_an_encrypted_stdout_says_so():
    run, view = _run(), LiveView(max_calls=10)
    step = Step(
        id="s", code="await search()", encrypted=True, return_code=0, result_type="encrypted_code_execution_result"
    )
    run.steps.append(step)
    view(StepFinished(run, step))
    view.flush()
    assert "script 1 stdout" in view.streams.value and "(encrypted)" in view.streams.value
    view.close()


def test_output_files_show_images_inline_and_tables_previewed():
    run, view = _run(), LiveView(max_calls=10, interval_s=NEVER_S)
    run.files = [
        OutputFile(name="plot.png", media_type="image/png", size_bytes=79, file_id="f1", data=samples.png_bytes()),
        OutputFile(name="s.csv", media_type="text/csv", size_bytes=20, file_id="f2", data=b"a,b\n1,2\n"),
        OutputFile(name="model.bin", size_bytes=2048, file_id="f3", data=b"\0" * 2048),
        OutputFile(name="gone.png", media_type="image/png", file_id="f4", error="not downloadable"),
    ]
    view(FilesAdded(run, run.files))  # no loop running: drawn at once
    html = view.files.value
    assert '<img src="data:image/png;base64,' in html and html.count("<img") == 1
    assert "<th style='text-align:left'>a</th>" in html and "<td>2</td>" in html
    assert "model.bin</b> · application/octet-stream · 2.0 KB" in html and "not downloadable" in html
    view.close()


# -- cost, load, "Copy as cell" --------------------------------------------------------------------


def test_the_footer_shows_the_estimated_cost():
    run = Run(prompt="p", model="claude-sonnet-4-5", usage={"input_tokens": 10_000, "output_tokens": 1_000})
    view = LiveView(max_calls=5)
    view(ResponseReceived(run, 1, "end_turn"))
    view.flush()
    assert "cost ≈ $0.0450 (estimate)" in view.footer.value
    view.close()


class FakeClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when the test moves it: timers run by the fake time."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def time(self) -> float:
        return self.now


def test_ten_thousand_call_events_redraw_a_bounded_number_of_times():
    """10,000 CallFinished events over 20 s of (fake) loop time, with interval_s=0.25: at most one
    redraw per interval, plus the first, however many events come in between."""
    step_s, interval_s = 0.002, 0.25

    async def main(loop: FakeClockLoop) -> tuple[LiveView, int]:
        run = _run()
        view = LiveView(max_calls=20_000, interval_s=interval_s)
        run.calls = [ToolCall(id=f"t{i}", name="double", input={"x": i}, status="running") for i in range(10_000)]
        for call in run.calls:
            call.status, call.output, call.duration_s = "ok", "2", 0.001
            view(CallFinished(run, call))
            loop.now += step_s
            await asyncio.sleep(0)  # due timers run here, by the fake clock
        return view, view.flushes

    loop = FakeClockLoop()
    try:
        view, flushes = loop.run_until_complete(main(loop))
    finally:
        loop.close()
    simulated_s = 10_000 * step_s
    assert simulated_s / interval_s * 0.9 <= flushes <= simulated_s / interval_s + 2  # ~80, not 10,000
    print(f"\n[load] 10,000 CallFinished over {simulated_s:.0f} s of loop time: {flushes} redraws")
    view(RunFinished(view.run))  # the end redraws at once
    assert view.flushes == flushes + 1 and "10,000 done" in view.counts.value
    view.close()


class FakeShell:
    def __init__(self) -> None:
        self.next_inputs: list[tuple[str, bool]] = []

    def set_next_input(self, text: str, replace: bool = False) -> None:
        self.next_inputs.append((text, replace))


def _two_script_run() -> Run:
    run = Run(prompt="\n  Sum the doubles  \nmore", model="m")
    run.steps = [
        Step(id="s1", code="a = await double({'x': 1})"),
        Step(id="b1", name="bash_code_execution", input={"command": "ls"}),
        Step(id="s2", code="print(await double({'x': 2}))"),
    ]
    return run


def test_each_python_step_gets_a_copy_as_cell_button_that_sets_the_next_input(monkeypatch):
    from ptc_jupyter.notebook import live_view as view_module
    from ptc_jupyter.notebook.script_cell import cell_source

    shell = FakeShell()
    monkeypatch.setattr(view_module, "_shell", lambda: shell)
    run = _run()
    view = LiveView(max_calls=5)
    first = Step(id="s1", code="a = await double({'x': 1})")
    run.steps.append(first)
    view(StepStarted(run, first))
    view.flush()
    (button,) = view.copy_row.children
    assert button.description == "Copy as cell" and not button.disabled  # as soon as the step has its code
    run.steps.append(Step(id="b1", name="bash_code_execution", input={"command": "ls"}))
    run.steps.append(Step(id="s2", code="print(await double({'x': 2}))"))
    view(StepStarted(run, run.steps[-1]))
    view.flush()
    buttons = view.copy_row.children
    assert [b.description for b in buttons] == ["Copy script 1 as cell", "Copy script 2 as cell"]
    buttons[1].click()
    assert shell.next_inputs == [(cell_source(run, 2), False)]
    assert shell.next_inputs[0][0].startswith('# Claude\'s script 2 (of 2) of run "p"')
    assert buttons[1].button_style == "success" and buttons[0].button_style == ""
    buttons[0].click()
    assert shell.next_inputs[-1] == (cell_source(run, 1), False)
    assert buttons[0].button_style == "success" and buttons[1].button_style == ""
    view.close()


def test_copy_as_cell_is_disabled_outside_ipython(monkeypatch):
    from ptc_jupyter.notebook import live_view as view_module

    monkeypatch.setattr(view_module, "_shell", lambda: None)
    run = _run()
    view = LiveView(max_calls=5)
    step = Step(id="s1", code="print(1)")
    run.steps.append(step)
    view(StepStarted(run, step))
    view.flush()
    (button,) = view.copy_row.children
    assert button.disabled and "IPython" in button.tooltip
    button.click()  # nothing to call: no error
    view.close()
