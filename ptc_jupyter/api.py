"""`ptc.run` / `ptc.arun` / `ptc.compare`: one prompt, the registered tools, a `Run` back. No IPython.

Keyword arguments left as None take `RunOptions`' defaults (or those of `options=`, when given):
one definition of every setting, whichever way a run is started. The sync forms run on the one
background loop (`background.py`), so a script's runs share one SDK client, closed at exit.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Any

from ptc_jupyter.calls.approval import ConsoleAsker
from ptc_jupyter.calls.dispatch import Approver
from ptc_jupyter.calls.tools import Tool, registry
from ptc_jupyter.conversation import Conversation
from ptc_jupyter.errors import OptionError
from ptc_jupyter.host import attachments, local_mode
from ptc_jupyter.host.attachments import Inputs, as_items
from ptc_jupyter.host.background import background_loop
from ptc_jupyter.host.loop import Host, Listener
from ptc_jupyter.host.session import Backend, Session, default_session
from ptc_jupyter.options import NOT_GIVEN, NotGiven, RunOptions
from ptc_jupyter.trace.exchanges import wire_rows
from ptc_jupyter.trace.run import Run, ToolCall

ToolSpec = Iterable["str | Tool | Callable[..., Any]"]
#: `RunOptions` fields whose keyword argument here is spelled without the unit.
KEYWORDS = {"tool_timeout_s": "tool_timeout", "approval_timeout_s": "approval_timeout"}

last: Run | None = None  # the most recent run of this process (`ptc.last`)


async def approve_all(call: ToolCall, tool: Tool) -> bool:
    """The approver of unattended runs (`yes=True` / `--yes`)."""
    return True


def default_approver(yes: bool, approve: Approver | None) -> Approver | None:
    if yes:
        return approve_all
    if approve is not None:
        return approve
    return ConsoleAsker() if sys.stdin is not None and sys.stdin.isatty() else None


async def arun(
    prompt: str,
    *,
    tools: ToolSpec | None = None,
    files: Inputs | None = None,
    model: str | None | NotGiven = NOT_GIVEN,
    offline: bool | None | NotGiven = NOT_GIVEN,
    container: str | None | NotGiven = NOT_GIVEN,
    new_container: bool | None | NotGiven = NOT_GIVEN,
    max_calls: int | None | NotGiven = NOT_GIVEN,
    tool_timeout: float | None | NotGiven = NOT_GIVEN,
    max_tokens: int | None | NotGiven = NOT_GIVEN,
    direct: bool | None | NotGiven = NOT_GIVEN,
    stream: bool | None | NotGiven = NOT_GIVEN,
    cache: bool | None | NotGiven = NOT_GIVEN,
    code_execution: str | None | NotGiven = NOT_GIVEN,
    sandbox: str | None | NotGiven = NOT_GIVEN,
    executor: Executor | None | NotGiven = NOT_GIVEN,
    yes: bool | None | NotGiven = NOT_GIVEN,
    approval_timeout: float | None | NotGiven = NOT_GIVEN,
    keep_files: bool | None | NotGiven = NOT_GIVEN,
    conversation: Conversation | None = None,
    client: Any = None,
    options: RunOptions | None = None,
    approve: Approver | None = None,
    on_event: Listener | None = None,
    session: Session | None = None,
    source: str | None = None,
) -> Run:
    """Send `prompt` to Claude with the code-execution tool and your tools; run the calls; return the `Run`.

    `tools`: names, functions or `Tool`s (default: every registered tool). `files`: input files for
    the container (paths, bytes or DataFrames; `(name, value)` pairs or a `{name: value}` dict name
    them), uploaded with the Files API, readable in `$INPUT_DIR`, deleted after the run unless
    `keep_files=True`. The settings are those
    of `RunOptions` (`tool_timeout` is its `tool_timeout_s`, `approval_timeout` its
    `approval_timeout_s`); `options=` gives a base that the keyword arguments override. A setting
    you leave out is `NOT_GIVEN` and comes from `options=` or its default; None is a value of its
    own: `tool_timeout=None` sets no per-call time limit, `offline=None` picks the backend by the
    API key (the emulator without one).
    Side-effect tools run only when approved: `yes=True` approves all, `approve=` decides per
    call, otherwise a terminal asks (and without one, the call is denied). `on_event` follows the
    run live; `session` picks the backend and keeps the container (default: the process's).
    `sandbox="local"` runs Claude's scripts in a subprocess on this machine (for a model or endpoint
    without server code execution: `client=` takes any SDK client, e.g. `AnthropicBedrock`).
    `conversation` (a `ptc.Conversation`) sends its earlier turns first and keeps this one when it
    completes; `source` names who asks (a notebook cell), so asking again replaces that turn.
    """
    global last
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string")
    try:
        settings = RunOptions.build(
            options,
            model=model,
            offline=offline,
            container=container,
            new_container=new_container,
            max_calls=max_calls,
            tool_timeout_s=tool_timeout,
            max_tokens=max_tokens,
            direct=direct,
            stream=stream,
            cache=cache,
            code_execution=code_execution,
            sandbox=sandbox,
            executor=executor,
            yes=yes,
            approval_timeout_s=approval_timeout,
            keep_files=keep_files,
        )
    except OptionError as exc:  # say it with the keyword the caller wrote
        raise OptionError(KEYWORDS.get(exc.option, exc.option), exc.reason) from None
    inputs = as_items(files)
    attachments.check(inputs, upload=settings.sandbox != "local")  # before anything is sent
    session = session or default_session
    chosen = registry.select(tools)
    backend = session.backend(settings.offline) if client is None else Backend(type(client).__name__)
    if not settings.direct and settings.sandbox is None:
        await session.check_model(backend, settings.model, client)
    host = Host(client or session.client(backend), backend=backend.name, memory=session.memory(backend))
    notices = [backend.notice] if backend.notice else []
    mcp_api = sys.modules.get("ptc_jupyter.mcp.api")  # loaded once an MCP server was added
    notices += mcp_api.take_notices() if mcp_api is not None else []  # its tool-list changes since the last run
    local_sandbox = None
    if settings.sandbox == "local":
        notices.append(local_mode.NOTICE)
        local_sandbox = conversation.local_sandbox() if conversation is not None else None
    history: list[dict[str, Any]] = []
    if conversation is not None:
        history, said = conversation.prepare(source)
        if history and conversation.model not in (None, settings.model):
            raise OptionError(
                "conversation",
                f"{conversation.id} was started with model {conversation.model!r}, "
                f"not {settings.model!r}; continue it with that model, or start a "
                "new conversation (ptc.Conversation(), %ptc_new)",
            )
        notices += said
        if conversation.container_id and not settings.container and not settings.new_container:
            settings = dataclasses.replace(settings, container=conversation.container_id)
    try:
        result = await host.run(
            prompt,
            chosen,
            settings,
            approve=default_approver(settings.yes, approve),
            on_event=on_event,
            notices=notices,
            files=inputs,
            history=history,
            sandbox=local_sandbox,
        )
    except BaseException as exc:
        partial = getattr(exc, "run", None)
        if isinstance(partial, Run):
            last = partial
        raise
    if conversation is not None:
        turn = conversation.record(prompt, host.last_messages, result.container_id, source, model=settings.model)
        result.conversation = conversation.describe(turn)
    last = result
    return result


def run(
    prompt: str,
    *,
    tools: ToolSpec | None = None,
    files: Inputs | None = None,
    model: str | None | NotGiven = NOT_GIVEN,
    offline: bool | None | NotGiven = NOT_GIVEN,
    container: str | None | NotGiven = NOT_GIVEN,
    new_container: bool | None | NotGiven = NOT_GIVEN,
    max_calls: int | None | NotGiven = NOT_GIVEN,
    tool_timeout: float | None | NotGiven = NOT_GIVEN,
    max_tokens: int | None | NotGiven = NOT_GIVEN,
    direct: bool | None | NotGiven = NOT_GIVEN,
    stream: bool | None | NotGiven = NOT_GIVEN,
    cache: bool | None | NotGiven = NOT_GIVEN,
    code_execution: str | None | NotGiven = NOT_GIVEN,
    sandbox: str | None | NotGiven = NOT_GIVEN,
    executor: Executor | None | NotGiven = NOT_GIVEN,
    yes: bool | None | NotGiven = NOT_GIVEN,
    approval_timeout: float | None | NotGiven = NOT_GIVEN,
    keep_files: bool | None | NotGiven = NOT_GIVEN,
    conversation: Conversation | None = None,
    client: Any = None,
    options: RunOptions | None = None,
    approve: Approver | None = None,
    on_event: Listener | None = None,
    session: Session | None = None,
    source: str | None = None,
) -> Run:
    """`arun`, waited for: works in scripts and inside a running loop (a notebook cell).

    It runs on the background loop; an interrupt (Ctrl-C, the kernel's stop) cancels the run."""
    return background_loop.run(arun(**locals()))


def figures(run: Run) -> dict[str, Any]:
    """The numbers a PTC-vs-direct comparison shows for one run."""
    return {
        "requests": run.requests,
        "calls": len(run.calls),
        "context_bytes": run.context_bytes,
        "input_tokens": run.usage.get("input_tokens", 0),
        "output_tokens": run.usage.get("output_tokens", 0),
        "wall_s": round(run.wall_s, 3),
        "cost_usd": run.cost["total_usd"],
        "wire": wire_rows(run.exchanges),  # round trip by round trip, for the side by side
    }


async def acompare(
    prompt: str,
    *,
    tools: ToolSpec | None = None,
    options: RunOptions | None = None,
    approve: Approver | None = None,
    on_event: Listener | None = None,
    session: Session | None = None,
    **settings: Any,
) -> Run:
    """Run `prompt` with PTC, then as classic tool calling; the PTC `Run` carries both in `.comparison`.

    `settings` are `arun`'s keyword settings (`model`, `max_calls`, ...). The tools run twice
    (once per mode), so keep side-effect tools out of comparisons.
    """
    global last
    if "direct" in settings:
        raise TypeError("acompare runs both ways; leave out direct")
    wiring: dict[str, Any] = {
        "tools": tools,
        "options": options,
        "approve": approve,
        "on_event": on_event,
        "session": session,
    }
    ptc_run = await arun(prompt, **wiring, **settings)
    direct_run = await arun(prompt, direct=True, **wiring, **settings)
    ptc_run.comparison = {"ptc": figures(ptc_run), "direct": figures(direct_run)}
    last = ptc_run
    return ptc_run


def compare(prompt: str, **settings: Any) -> Run:
    """`acompare`, waited for (on the background loop)."""
    return background_loop.run(acompare(prompt, **settings))
