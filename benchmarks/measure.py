"""The measurements behind `benchmarks/run.py`. Each takes the emulator's URL and sizes; each
returns plain numbers. Runs go through the public path (`ptc.arun` -> host -> SDK -> HTTP ->
emulator -> dispatch -> your tools) unless a docstring says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import workloads
from typing_extensions import Self

import ptc_jupyter as ptc
from ptc_jupyter.calls.dispatch import Dispatcher
from ptc_jupyter.calls.tools import CODE_EXECUTION_CALLER, function_tool
from ptc_jupyter.constants import (
    DEFAULT_CODE_EXECUTION,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    MIME_TYPE,
)
from ptc_jupyter.conversation import Conversation
from ptc_jupyter.host.session import Session
from ptc_jupyter.pricing import Price
from ptc_jupyter.trace.run import Run, ToolCall


@dataclass
class Sizes:
    """How big and how often. `full()` is what the README table reports; `quick()` is a smoke run."""

    reps: int = 5  # repetitions of the quick measurements (plus one warm-up)
    slow_reps: int = 3  # repetitions of the multi-second ones (sequential, CPU-bound)
    gather_calls: int = 50
    sleep_s: float = 0.3
    overhead_calls: int = 1000
    overhead_batch: int = 100
    trace_calls: int = 1000
    cpu_calls: int = 200
    cpu_call_s: float = 0.05
    dask_workers: int = 2
    load_batches: int = 100  # the load run: load_batches × load_batch no-op calls, one run
    load_batch: int = 100

    @classmethod
    def full(cls) -> Sizes:
        return cls()

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            reps=2,
            slow_reps=1,
            sleep_s=0.02,
            overhead_calls=200,
            overhead_batch=50,
            trace_calls=200,
            cpu_calls=16,
            cpu_call_s=0.01,
            load_batches=10,
        )


def median(values: list[float]) -> float:
    return statistics.median(values)


async def close(*sessions: Session) -> None:
    """Close the sessions' HTTP clients on this loop (before `asyncio.run` closes the loop)."""
    for session in sessions:
        await session.client(session.backend(True)).close()


def check(run: Run, calls: int) -> Run:
    """A benchmark run must have done what it claims: every call made, none failed."""
    if run.status != "completed" or len(run.calls) != calls or run.errors:
        first = run.errors[0].output if run.errors else run.text[-300:]
        raise RuntimeError(
            f"benchmark run went wrong: status {run.status}, {len(run.calls)}/{calls} calls, "
            f"{len(run.errors)} errors ({first})"
        )
    return run


# -- the emulator ---------------------------------------------------------------------------------


class Emulator:
    """The offline emulator in its own process (as the real API would be: its CPU is not the host's),
    or in a thread of this process (as `ptc.run(offline=True)` starts it)."""

    def __init__(self, where: str = "process") -> None:
        self.where = where
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._server: Any = None

    def __enter__(self) -> Self:
        # the emulator's key, for the server (a child inherits it) and for Session(emulator_url=...)
        self.api_key = os.environ.setdefault("PTC_EMULATOR_KEY", secrets.token_urlsafe(24))
        if self.where == "thread":
            from ptc_jupyter.emulator import EmulatorConfig, EmulatorServer

            self._server = EmulatorServer(EmulatorConfig(api_key=self.api_key)).start()
            self.url = self._server.url
        else:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "ptc_jupyter.emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
            )
            self.url = (self._proc.stdout.readline() if self._proc.stdout else "").strip()
            if not self.url.startswith("http"):
                self.__exit__()
                raise RuntimeError("the offline emulator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()
        if self._proc is not None:
            self._proc.terminate()  # it stops its sandboxes on SIGTERM
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout:
                self._proc.stdout.close()


# -- HTTP time, measured apart --------------------------------------------------------------------


class TimedTransport(httpx2.AsyncBaseTransport):
    """The SDK's HTTP transport, plus a stopwatch: `seconds` is the time spent inside HTTP round trips
    (request bytes out, server work, response bytes in, body read), i.e. what is *not* host-side."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.seconds = 0.0
        self.requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        t0 = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        self.seconds += time.perf_counter() - t0
        self.requests += 1
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            content=body,
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


class UsageTransport(TimedTransport):
    """A `TimedTransport` that also keeps each response's `usage` (from the JSON body, or the SSE
    stream's `message_start` updated by its `message_delta`, whose usage is cumulative), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.usages: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        if request.url.path.endswith("/v1/messages") and response.status_code == 200:
            self.usages.append(response_usage(response.content))
        return response


def response_usage(body: bytes) -> dict[str, Any]:
    text = body.decode()
    if not text.lstrip().startswith("event:"):
        return json.loads(text)["usage"]
    usage: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith("data: "):
            event = json.loads(line[6:])
            if event.get("type") == "message_start":
                usage = event["message"]["usage"]
            elif event.get("type") == "message_delta":  # its keys replace the start's, as the SDK does
                usage = {**usage, **event["usage"]}
    return usage


class TimedSession(Session):
    """A Session whose offline client sends through a `TimedTransport` (same SDK, same settings)."""

    def __init__(self, emulator_url: str, transport: TimedTransport | None = None) -> None:
        super().__init__(emulator_url=emulator_url)
        self.transport = transport or TimedTransport()
        self._timed: dict[int, anthropic.AsyncAnthropic] = {}

    def client(self, backend: Any) -> anthropic.AsyncAnthropic:
        loop = id(asyncio.get_running_loop())
        if loop not in self._timed:
            url, key = self._emulator_address()
            self._timed[loop] = anthropic.AsyncAnthropic(
                api_key=key,
                base_url=url,
                max_retries=self._max_retries,
                http_client=anthropic.DefaultAsyncHttpxClient(transport=self.transport),
            )
        return self._timed[loop]


# -- 1. gather vs sequential ----------------------------------------------------------------------


async def gather_vs_sequential(url: str, sizes: Sizes) -> dict[str, Any]:
    """50 sleeping async tools gathered by one script through the full host, vs the same 50 calls
    dispatched one at a time by the same Dispatcher (no HTTP at all: a lower bound for any
    sequential runner, which would also pay one model round trip per call)."""
    workloads.SLEEP_S = sizes.sleep_s
    tool = function_tool(workloads.slow_lookup)
    session = Session(emulator_url=url)
    prompt = workloads.gather_script("slow_lookup", sizes.gather_calls)
    walls = []
    for rep in range(sizes.reps + 1):
        t0 = time.perf_counter()
        run = check(await ptc.arun(prompt, tools=[tool], offline=True, session=session), sizes.gather_calls)
        if rep:  # the first one warms up connections and the container
            walls.append(time.perf_counter() - t0)
    requests = run.requests

    # Where the time above the tools' own sleep goes: HTTP (emulator + transport) vs host-side.
    timed = TimedSession(url)
    http, host = [], []
    for rep in range(sizes.reps + 1):
        timed.transport.seconds = 0.0
        t0 = time.perf_counter()
        run = check(await ptc.arun(prompt, tools=[tool], offline=True, session=timed), sizes.gather_calls)
        wall = time.perf_counter() - t0
        if rep:
            span = max(c.started_s + c.duration_s for c in run.calls) - min(c.started_s for c in run.calls)
            http.append(timed.transport.seconds)
            host.append(wall - timed.transport.seconds - span)

    sequential = []
    for _ in range(sizes.slow_reps):
        dispatcher = Dispatcher()
        t0 = time.perf_counter()
        for i in range(sizes.gather_calls):
            call = ToolCall(id=f"toolu_seq{i}", name=tool.name, input={"i": i}, caller=CODE_EXECUTION_CALLER)
            await dispatcher.run_batch([call], {tool.name: tool})
            if call.is_error:
                raise RuntimeError(f"sequential call failed: {call.output}")
        sequential.append(time.perf_counter() - t0)
    await close(session, timed)
    return {
        "gather_wall_s": median(walls),
        "gather_requests": requests,
        "gather_http_s": median(http),
        "gather_host_s": median(host),
        "sequential_wall_s": median(sequential),
    }


# -- 2. host-side overhead per call ---------------------------------------------------------------


async def overhead(url: str, sizes: Sizes) -> dict[str, Any]:
    """Host-side cost per programmatic call: no-op async tools, `overhead_calls` calls in batches of
    `overhead_batch`, through the full host; (wall time - time inside HTTP round trips) / calls.

    What remains is everything the kernel does: building each request (the SDK's copy and JSON
    encoding of the history), parsing each response, the host loop, policy checks, dispatch,
    input validation, result conversion, trace recording and event emission (a no-op listener is
    attached, as a view would be). The tool itself does nothing (`return "ok"`)."""
    tool = function_tool(workloads.noop)
    session = TimedSession(url)
    batches = sizes.overhead_calls // sizes.overhead_batch
    prompt = workloads.batches_script("noop", batches, sizes.overhead_batch)
    events = 0

    def listener(_event: Any) -> None:
        nonlocal events
        events += 1

    per_call_ms, http_ms = [], []
    for rep in range(sizes.reps + 1):
        session.transport.seconds = 0.0
        t0 = time.perf_counter()
        run = await ptc.arun(
            prompt, tools=[tool], offline=True, session=session, on_event=listener, max_calls=sizes.overhead_calls
        )
        wall = time.perf_counter() - t0
        check(run, batches * sizes.overhead_batch)
        if rep:
            per_call_ms.append((wall - session.transport.seconds) / len(run.calls) * 1000)
            http_ms.append(session.transport.seconds / run.requests * 1000)
    await close(session)
    return {
        "overhead_ms_per_call": median(per_call_ms),
        "requests": run.requests,
        "http_ms_per_request": median(http_ms),
        "calls": len(run.calls),
    }


# -- 3. context and round trips, PTC vs direct ----------------------------------------------------

TASKS = {
    "stocks10": (workloads.get_stock_price, workloads.stocks_script, len(workloads.TICKERS)),
    "servers50": (workloads.check_server_status, workloads.servers_script, len(workloads.SERVERS)),
}


async def context(url: str, sizes: Sizes) -> dict[str, dict[str, Any]]:
    """The guide's two tasks, as PTC and as classic tool calling (`direct=True`): bytes of tool output
    that entered the model's context (`Run.context_bytes`) and API round trips (`Run.requests`)."""
    session = Session(emulator_url=url)
    out: dict[str, dict[str, Any]] = {}
    for task, (func, script, calls) in TASKS.items():
        tool = function_tool(func, allowed_callers=["direct", CODE_EXECUTION_CALLER])
        figures: dict[str, list[Any]] = {}
        for _ in range(max(1, sizes.slow_reps)):
            for mode, direct in (("ptc", False), ("direct", True)):
                run = check(await ptc.arun(script(), tools=[tool], offline=True, session=session, direct=direct), calls)
                figures.setdefault(f"context_bytes_{mode}", []).append(run.context_bytes)
                figures.setdefault(f"requests_{mode}", []).append(run.requests)
                figures.setdefault(f"wall_s_{mode}", []).append(run.wall_s)
                figures[f"answer_{mode}"] = [run.text.strip()]
        out[task] = {k: (median(v) if k.startswith("wall") else v[-1]) for k, v in figures.items()}
        if len(set(figures["context_bytes_ptc"])) > 1 or len(set(figures["context_bytes_direct"])) > 1:
            raise RuntimeError(f"{task}: context bytes differ between repetitions: {figures}")
    await close(session)
    return out


# -- 4. the saved trace of a 1,000-call run -------------------------------------------------------


async def trace_run(url: str, sizes: Sizes) -> Run:
    tool = function_tool(workloads.check_server_status)
    session = Session(emulator_url=url)
    run = await ptc.arun(
        workloads.servers_script(sizes.trace_calls),
        tools=[tool],
        offline=True,
        session=session,
        max_calls=sizes.trace_calls,
    )
    await close(session)
    return check(run, sizes.trace_calls)


def trace_bundle(run: Run, sizes: Sizes) -> dict[str, Any]:
    """Size of `render.mime_bundle(run)` as the kernel sends it (JSON, UTF-8, as jupyter_client
    encodes messages), and the time to build and encode it (median)."""
    from ptc_jupyter.display import render

    times = []
    for rep in range(sizes.reps + 1):
        t0 = time.perf_counter()
        bundle = render.mime_bundle(run)
        encoded = json.dumps(bundle, ensure_ascii=False).encode("utf-8")
        if rep:
            times.append(time.perf_counter() - t0)
    parts = {mime: len(json.dumps(data, ensure_ascii=False).encode("utf-8")) for mime, data in bundle.items()}
    return {
        "bytes": len(encoded),
        "render_s": median(times),
        "calls": len(run.calls),
        "parts_bytes": parts,
        "notebook_bytes": notebook_bytes(bundle),
        "to_dict_bytes": len(json.dumps(run.to_dict(), ensure_ascii=False).encode("utf-8")),
    }


def notebook_bytes(bundle: dict[str, Any]) -> int | None:
    """What the output adds to a saved .ipynb (nbformat indents JSON), if nbformat is installed."""
    try:
        import nbformat
    except ImportError:
        return None
    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%%ptc")])
    full = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("%%ptc", outputs=[nbformat.v4.new_output("display_data", data=bundle)])]
    )
    return len(nbformat.writes(full).encode("utf-8")) - len(nbformat.writes(empty).encode("utf-8"))


# -- 5. CPU-bound tools: thread pool vs dask vs process pool --------------------------------------


async def cpu_bound(url: str, sizes: Sizes, executors: dict[str, Executor | None], rounds: int) -> dict[str, float]:
    """Median wall time of one run whose script gathers `cpu_calls` CPU-bound sync tool calls, per
    executor. Repetitions are interleaved (threads, dask, ..., threads, dask, ...), so every executor
    sees the same background load on a shared machine."""
    tool = function_tool(workloads.crunch)
    session = Session(emulator_url=url)
    warm = workloads.crunch_script(min(sizes.cpu_calls, 4), 1000)
    for executor in executors.values():  # first use: worker imports, pool start-up
        check(
            await ptc.arun(warm, tools=[tool], offline=True, session=session, executor=executor),
            min(sizes.cpu_calls, 4),
        )
    prompt = workloads.crunch_script(sizes.cpu_calls, rounds)
    walls: dict[str, list[float]] = {name: [] for name in executors}
    for _ in range(sizes.slow_reps):
        for name, executor in executors.items():
            t0 = time.perf_counter()
            check(
                await ptc.arun(
                    prompt, tools=[tool], offline=True, session=session, executor=executor, max_calls=sizes.cpu_calls
                ),
                sizes.cpu_calls,
            )
            walls[name].append(time.perf_counter() - t0)
    await close(session)
    return {name: median(values) for name, values in walls.items()}


# -- 6. load: one run of 10,000 calls, with the live view -----------------------------------------


class PeakRSS:
    """This process's resident memory, sampled in a thread every `interval_s` until closed, so the
    peak during a run shows as well as the growth from before it to after it."""

    def __init__(self, interval_s: float = 0.05) -> None:
        import psutil  # the test extra; also a dependency of dask's distributed

        self._process = psutil.Process()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.peak_bytes = self.rss_bytes()
        self._thread = threading.Thread(target=self._sample, name="ptc-bench-rss", daemon=True)
        self._thread.start()

    def rss_bytes(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.peak_bytes = max(self.peak_bytes, self.rss_bytes())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


async def load(url: str, sizes: Sizes) -> dict[str, Any]:
    """One run of `load_batches` × `load_batch` no-op calls (10,000: 100 gathered batches of 100)
    through the full host, with the live view (`view.LiveView`, headless: no frontend receives the
    widget updates) as the event listener, as a `%%ptc` cell has. Not repeated: it is a load test.

    Wall time; this process's RSS growth from before the run to after it (each reading after
    `gc.collect()`, the run still referenced, as the kernel keeps it) and its peak during the run;
    the saved output bundle as the kernel sends it (`render.mime_bundle`, JSON, UTF-8); the view's
    redraws. The emulator's own memory is not counted when it runs in its own process."""
    from ptc_jupyter.display import render
    from ptc_jupyter.notebook.live_view import LiveView

    calls = sizes.load_batches * sizes.load_batch
    tool = function_tool(workloads.noop)
    session = TimedSession(url)
    prompt = workloads.batches_script("noop", sizes.load_batches, sizes.load_batch)
    view = LiveView(max_calls=calls, interval_s=0.25)
    gc.collect()
    rss = PeakRSS()
    before = rss.rss_bytes()
    try:
        t0 = time.perf_counter()
        run = await ptc.arun(prompt, tools=[tool], offline=True, session=session, on_event=view, max_calls=calls)
        wall = time.perf_counter() - t0
        view.finish()
        gc.collect()
        after = rss.rss_bytes()
    finally:
        rss.close()
    check(run, calls)
    t0 = time.perf_counter()
    bundle = render.mime_bundle(run)
    encoded = json.dumps(bundle, ensure_ascii=False).encode("utf-8")
    render_s = time.perf_counter() - t0
    parts = {mime: len(json.dumps(data, ensure_ascii=False).encode("utf-8")) for mime, data in bundle.items()}
    saved_calls = len(bundle[MIME_TYPE]["calls"])  # beyond a cap the trace keeps some and summarises the rest
    view.close()
    await close(session)
    return {
        "wall_s": wall,
        "rss_growth_bytes": after - before,
        "rss_peak_growth_bytes": rss.peak_bytes - before,
        "bundle_bytes": len(encoded),
        "parts_bytes": parts,
        "render_s": render_s,
        "saved_calls": saved_calls,
        "view_flushes": view.flushes,
        "calls": len(run.calls),
        "requests": run.requests,
        "http_s": session.transport.seconds,
    }


# -- 7. the SDK's own tool runner on the gather50 script ------------------------------------------


async def sdk_tool_runner(url: str, sizes: Sizes) -> dict[str, Any]:
    """The gather50 script (50 × `slow_lookup`, sleeping `sleep_s`) run by the anthropic SDK's own
    loop, `client.beta.messages.tool_runner`, against the same emulator: the tool declared with
    `beta_async_tool(..., allowed_callers=[code execution])`, iterated to the end. Its runner
    answers the 50 calls of a batch one after another. Median of `reps` runs, after a one-call
    warm-up; each run must make all 50 calls and end with the script's output."""
    from anthropic import beta_async_tool

    workloads.SLEEP_S = sizes.sleep_s
    made = 0

    @functools.wraps(workloads.slow_lookup)
    async def slow_lookup(i: int) -> str:
        nonlocal made
        made += 1
        return await workloads.slow_lookup(i)

    client = anthropic.AsyncAnthropic(base_url=url, api_key=os.environ["PTC_EMULATOR_KEY"])
    tools: list[Any] = [
        {"type": DEFAULT_CODE_EXECUTION, "name": "code_execution"},
        beta_async_tool(slow_lookup, allowed_callers=[CODE_EXECUTION_CALLER]),
    ]

    async def one_run(calls: int) -> int:
        nonlocal made
        made, requests, last = 0, 0, None
        runner = client.beta.messages.tool_runner(
            model=DEFAULT_MODEL,
            max_tokens=DEFAULT_MAX_TOKENS,
            tools=tools,
            thread=False,
            messages=[{"role": "user", "content": workloads.gather_script("slow_lookup", calls)}],
        )
        async for message in runner:
            requests, last = requests + 1, message
        text = "".join(getattr(block, "text", "") for block in last.content) if last else ""
        if made != calls or f"{calls} results" not in text:
            raise RuntimeError(f"the SDK's tool runner went wrong: {made}/{calls} calls, answer {text[-300:]!r}")
        return requests

    try:
        await one_run(1)
        walls = []
        for _ in range(sizes.reps):
            t0 = time.perf_counter()
            requests = await one_run(sizes.gather_calls)
            walls.append(time.perf_counter() - t0)
    finally:
        await client.close()
    return {"wall_s": median(walls), "requests": requests, "walls_s": walls}


# -- 8. prompt caching on a three-turn conversation -----------------------------------------------

#: Billing multipliers of cache writes (5-minute TTL) and cache reads, as fractions of the input price.
CACHE_WRITE = Price(1.0, 0.0).cache_write_per_mtok  # 1.25
CACHE_READ = Price(1.0, 0.0).cache_read_per_mtok  # 0.1
#: Requests per turn: the five-pause review (the first response, four resumes that bill nothing,
#: the final one), then two follow-ups that pause once each.
TURN_REQUESTS = [6, 2, 2]


def billed_input(usage: dict[str, Any]) -> float:
    """Input tokens as billed, in units of the input price: input + 1.25 × written + 0.1 × read."""
    return (
        usage.get("input_tokens", 0)
        + CACHE_WRITE * usage.get("cache_creation_input_tokens", 0)
        + CACHE_READ * usage.get("cache_read_input_tokens", 0)
    )


async def cached_input(url: str) -> dict[str, Any]:
    """A three-turn conversation (`ptc.Conversation`, what `--continue` keeps): the five-pause
    fulfilment review (`workloads.fulfilment_script`: five tools with full docstrings, five rounds of
    gathered lookups, 6 requests), then two follow-ups (`workloads.fulfilment_follow_ups`, 2 requests
    each), through the full host, once with prompt caching (the host's breakpoints, `cache=True`) and
    once without; each request's usage as the emulator estimated it. Only the responses in which
    the model writes bill (the first and last of each turn; a resume of the script bills 0, as
    recorded), so what caching can save is their context: the final response of the paused turn and
    each later turn, which re-read the earlier ones. Token counts are deterministic (no timing), so
    one run of each is the figure. The cached run goes first, on prefixes nothing else in the
    benchmark sends: a cold cache."""
    tools = [function_tool(f) for f in workloads.FULFILMENT_TOOLS]
    prompts = [workloads.fulfilment_script(), *workloads.fulfilment_follow_ups()]
    out: dict[str, Any] = {}
    for mode, cache in (("cached", True), ("uncached", False)):
        session = TimedSession(url, UsageTransport())
        conversation = Conversation()
        runs = []
        for prompt, expected in zip(prompts, TURN_REQUESTS):
            run = await ptc.arun(
                prompt, tools=tools, offline=True, session=session, cache=cache, conversation=conversation
            )
            if run.status != "completed" or run.errors or run.requests != expected:
                raise RuntimeError(
                    f"turn {len(runs) + 1} went wrong ({mode}): status {run.status}, "
                    f"{run.requests} requests, {len(run.errors)} errors: {run.text[-300:]}"
                )
            runs.append(run)
        usages = session.transport.usages
        out[mode] = {
            "requests": [
                {k: u.get(k, 0) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")}
                for u in usages
            ],
            "billed_input": sum(billed_input(u) for u in usages),
            "calls": sum(len(r.calls) for r in runs),
            "answer": [r.text.strip() for r in runs],
        }
        await close(session)
    if out["cached"]["answer"] != out["uncached"]["answer"] or out["cached"]["calls"] != out["uncached"]["calls"]:
        raise RuntimeError(f"the cached and uncached runs differ: {out}")
    out["ratio"] = out["cached"]["billed_input"] / out["uncached"]["billed_input"]
    return out


async def serve_gather_vs_direct(sizes: Sizes) -> dict[str, Any]:
    """`ptc.serve` seen by an agent (the `mcp` client over HTTP): 50 sleeping async tools gathered by
    one `run_python` script, vs the same 50 as separate MCP tool calls from one client, one after
    another (what an agent without code mode does; no model round trips counted in either)."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    workloads.SLEEP_S = sizes.sleep_s
    tool = function_tool(workloads.slow_lookup)
    code = "\n".join(workloads.gather_script("slow_lookup", sizes.gather_calls).split("```")[1].splitlines()[1:])
    expected = f"{sizes.gather_calls} results"
    with contextlib.redirect_stdout(io.StringIO()):  # the server's `claude mcp add` lines: not the table's
        server = ptc.serve(tools=[tool], show=False)
    with server:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {server.token}"}) as http:
            async with Client(streamable_http_client(server.url, http_client=http)) as client:
                gather = []
                for rep in range(sizes.reps + 1):
                    t0 = time.perf_counter()
                    result = await client.call_tool("run_python", {"code": code})
                    if rep:  # the first one starts the sandbox
                        gather.append(time.perf_counter() - t0)
                    if result.is_error or result.content[0].text.strip() != expected:
                        raise RuntimeError(f"run_python answered {result.content}")
                direct = []
                for _ in range(sizes.slow_reps):
                    t0 = time.perf_counter()
                    for i in range(sizes.gather_calls):
                        result = await client.call_tool(tool.name, {"i": i})
                        if result.is_error:
                            raise RuntimeError(f"direct call failed: {result.content}")
                    direct.append(time.perf_counter() - t0)
        runs = len(server.runs)
    return {
        "gather_wall_s": median(gather),
        "direct_wall_s": median(direct),
        "runs": runs,
        "gather_walls_s": gather,
        "direct_walls_s": direct,
    }
