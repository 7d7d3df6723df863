"""`ptc.run` / `ptc.arun`: one prompt, the registered tools, a `Run` back. Usable without IPython."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Any

from ._sync import run_sync
from .dispatch import DEFAULT_TOOL_TIMEOUT_S, Approver
from .host import DEFAULT_MAX_CALLS, DEFAULT_MAX_TOKENS, DEFAULT_MODEL, Host, HostOptions, Listener
from .session import Session, default_session
from .tools import Tool, registry
from .trace import Run, ToolCall

last: Run | None = None  # the most recent run of this process (`ptc.last`)


async def approve_all(call: ToolCall, tool: Tool) -> bool:
    """The approver of unattended runs (`yes=True` / `--yes`)."""
    return True



async def ask_on_console(call: ToolCall, tool: Tool) -> bool:
    """Ask on the terminal before a side-effect tool runs (plain Python with a tty)."""
    question = f"ptc: allow {tool.name}({call.input}) [side effects]? [y/N] "
    answer = await asyncio.to_thread(input, question)
    return answer.strip().lower() in ("y", "yes")


def default_approver(yes: bool, approve: Approver | None) -> Approver | None:
    if yes:
        return approve_all
    if approve is not None:
        return approve
    return ask_on_console if sys.stdin is not None and sys.stdin.isatty() else None


async def arun(
    prompt: str,
    *,
    tools: Iterable[str | Tool | Callable[..., Any]] | None = None,
    model: str | None = None,
    offline: bool | None = None,
    container: str | None = None,
    max_calls: int | None = None,
    tool_timeout: float | None = None,
    direct: bool = False,
    max_tokens: int | None = None,
    new_container: bool = False,
    stream: bool = False,
    code_execution: str = "code_execution_20260120",
    executor: Executor | None = None,
    approve: Approver | None = None,
    yes: bool = False,
    on_event: Listener | None = None,
    session: Session | None = None,
) -> Run:
    """Send `prompt` to Claude with the code-execution tool and your tools; run the calls; return the `Run`.

    Side-effect tools run only when approved: `yes=True` approves all, `approve=` decides per call,
    otherwise a terminal asks (and without one, the call is denied).
    """
    global last
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string")
    session = session or default_session
    chosen = registry.select(tools)
    options = HostOptions(
        model=model or DEFAULT_MODEL,
        max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
        max_calls=DEFAULT_MAX_CALLS if max_calls is None else max_calls,
        tool_timeout_s=DEFAULT_TOOL_TIMEOUT_S if tool_timeout is None else tool_timeout,
        direct=direct, code_execution=code_execution, container=container,
        new_container=new_container, stream=stream, executor=executor,
    )
    backend = session.backend(offline)
    if not direct:
        await session.check_model(backend, options.model)
    host = Host(session.client(backend), backend=backend.name, memory=session.memory(backend))
    notices = [backend.notice] if backend.notice else []
    try:
        result = await host.run(prompt, chosen, options, approve=default_approver(yes, approve),
                                on_event=on_event, notices=notices)
    except BaseException as exc:
        partial = getattr(exc, "run", None)
        if isinstance(partial, Run):
            last = partial
        raise
    last = result
    return result


def run(prompt: str, **options: Any) -> Run:
    """Synchronous `arun` (works in scripts and inside a running loop, e.g. a notebook cell)."""
    return run_sync(arun(prompt, **options))


def figures(run: Run) -> dict[str, Any]:
    """The numbers a PTC-vs-direct comparison shows for one run."""
    return {
        "requests": run.requests,
        "calls": len(run.calls),
        "context_bytes": run.context_bytes,
        "input_tokens": run.usage.get("input_tokens", 0),
        "output_tokens": run.usage.get("output_tokens", 0),
        "wall_s": round(run.wall_s, 3),
    }


async def acompare(prompt: str, **options: Any) -> Run:
    """Run `prompt` with PTC, then as classic tool calling; the PTC `Run` carries both in `.comparison`.

    The tools run twice (once per mode), so keep side-effect tools out of comparisons.
    """
    options.pop("direct", None)
    ptc_run = await arun(prompt, **options)
    direct_run = await arun(prompt, direct=True, **options)
    ptc_run.comparison = {"ptc": figures(ptc_run), "direct": figures(direct_run)}
    global last
    last = ptc_run
    return ptc_run


def compare(prompt: str, **options: Any) -> Run:
    """Synchronous `acompare`."""
    return run_sync(acompare(prompt, **options))
