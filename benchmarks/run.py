"""What PTC in the kernel saves, measured side by side, offline (no API key needed).

    python benchmarks/run.py            # readable table (~4 minutes)
    python benchmarks/run.py --json     # the same; the last line is one JSON object
    python benchmarks/run.py --quick    # small sizes, a smoke run (~25 s)
    python benchmarks/run.py --profile  # pyinstrument profile of the host on the overhead workload

Every figure is a median of several repetitions, next to its baseline measured in the same run.
Method and results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # workloads/measure, importable here and in process-pool/dask workers
if str(HERE.parent) not in sys.path:
    sys.path.insert(1, str(HERE.parent))  # ptc_jupyter from the checkout when it is not installed

import measure
import workloads
from measure import Emulator, Sizes

MB = 1_000_000

#: (key, target check, target text). Checked on the figures; reported, never asserted.
TARGETS = [
    ("gather50_wall_s", lambda f: f["gather50_wall_s"] <= 0.45, "≤ 0.45 s"),
    ("gather50_speedup", lambda f: f["gather50_speedup"] >= 30, "≥ 30× sequential"),
    ("overhead_ms_per_call", lambda f: f["overhead_ms_per_call"] <= 1.0, "≤ 1 ms"),
    (
        "context_bytes_ptc",
        lambda f: all(f["context_bytes_ptc"][t] <= 0.1 * f["context_bytes_direct"][t] for t in f["context_bytes_ptc"]),
        "≤ 10% of direct, each task",
    ),
    ("requests_ptc", lambda f: all(v == 2 for v in f["requests_ptc"].values()), "= 2 (one gathered batch)"),
    ("trace_1000_bytes", lambda f: f["trace_1000_bytes"] <= 300_000, "≤ 300 KB"),
    ("trace_1000_render_s", lambda f: f["trace_1000_render_s"] <= 1.0, "≤ 1 s"),
    ("dask_cpu_wall_s", lambda f: f["dask_cpu_wall_s"] < 0.9 * f["threads_cpu_wall_s"], "< threads (by ≥ 10%)"),
    (
        "sdk_tool_runner_ratio",
        lambda f: f["sdk_tool_runner_ratio"] >= 10,
        "PTC ≥ 10× faster than the SDK's tool_runner",
    ),
    ("calls_10k_rss_mb", lambda f: f["calls_10k_rss_mb"] <= 200, "≤ 200 MB"),
    ("calls_10k_bundle_bytes", lambda f: f["calls_10k_bundle_bytes"] <= MB, "≤ 1 MB"),
    ("calls_10k_view_redraws_per_s", lambda f: f["calls_10k_view_redraws_per_s"] <= 10, "≤ 10 per second"),
    (
        "cached_input_ratio",
        lambda f: f["cached_input_ratio"] <= 0.4,
        "≤ 0.4 of the uncached conversation's billed input",
    ),
    (
        "serve_gather50_wall_s",
        lambda f: f["serve_gather50_wall_s"] <= 0.1 * f["serve_direct50_wall_s"],
        "≤ 1/10 of 50 direct MCP calls",
    ),
]


def machine() -> dict[str, Any]:
    import anthropic

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "anthropic": anthropic.__version__,
    }
    try:
        info["cpu"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or "unknown"
    try:
        import distributed

        info["distributed"] = distributed.__version__
    except ImportError:
        info["distributed"] = None
    return info


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class Stopwatch:
    """Seconds each section of the benchmark took (reported, so the run's own cost is visible)."""

    def __init__(self) -> None:
        self.sections: dict[str, float] = {}
        self._t0 = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.sections[name] = round(now - self._t0, 2)
        self._t0 = now


async def io_figures(url: str, sizes: Sizes, watch: Stopwatch) -> dict[str, Any]:
    load = await measure.load(url, sizes)  # first: its RSS growth is not hidden by memory earlier runs freed
    watch.lap("load")
    gather = await measure.gather_vs_sequential(url, sizes)
    watch.lap("gather_and_sequential")
    runner = await measure.sdk_tool_runner(url, sizes)
    watch.lap("sdk_tool_runner")
    over = await measure.overhead(url, sizes)
    watch.lap("overhead")
    ctx = await measure.context(url, sizes)
    watch.lap("context")
    cached = await measure.cached_input(url)
    watch.lap("cached_input")
    trace = measure.trace_bundle(await measure.trace_run(url, sizes), sizes)
    watch.lap("trace")
    served = await measure.serve_gather_vs_direct(sizes)
    watch.lap("serve")
    return {
        "gather50_wall_s": round(gather["gather_wall_s"], 3),
        "sequential50_wall_s": round(gather["sequential_wall_s"], 3),
        "gather50_speedup": round(gather["sequential_wall_s"] / gather["gather_wall_s"], 1),
        "overhead_ms_per_call": round(over["overhead_ms_per_call"], 3),
        "context_bytes_ptc": {t: v["context_bytes_ptc"] for t, v in ctx.items()},
        "context_bytes_direct": {t: v["context_bytes_direct"] for t, v in ctx.items()},
        "requests_ptc": {t: v["requests_ptc"] for t, v in ctx.items()},
        "requests_direct": {t: v["requests_direct"] for t, v in ctx.items()},
        "trace_1000_bytes": trace["bytes"],
        "trace_1000_render_s": round(trace["render_s"], 4),
        "sdk_tool_runner_wall_s": round(runner["wall_s"], 3),
        "sdk_tool_runner_ratio": round(runner["wall_s"] / gather["gather_wall_s"], 1),
        "calls_10k_wall_s": round(load["wall_s"], 2),
        "calls_10k_rss_mb": round(load["rss_growth_bytes"] / MB, 1),
        "calls_10k_bundle_bytes": load["bundle_bytes"],
        "calls_10k_view_redraws_per_s": round(load["view_flushes"] / load["wall_s"], 2),
        "cached_input_ratio": round(cached["ratio"], 3),
        "serve_gather50_wall_s": round(served["gather_wall_s"], 3),
        "serve_direct50_wall_s": round(served["direct_wall_s"], 3),
        "details": {
            "serve": {
                "runs": served["runs"],
                "gather_walls_s": [round(w, 3) for w in served["gather_walls_s"]],
                "direct_walls_s": [round(w, 3) for w in served["direct_walls_s"]],
            },
            "gather50": {
                "requests": gather["gather_requests"],
                "http_s": round(gather["gather_http_s"], 4),
                "host_s_outside_tools_and_http": round(gather["gather_host_s"], 4),
            },
            "overhead": {
                "calls": over["calls"],
                "requests": over["requests"],
                "http_ms_per_request": round(over["http_ms_per_request"], 2),
            },
            "context": {
                t: {
                    "answer_ptc": v["answer_ptc"],
                    "wall_s_ptc": round(v["wall_s_ptc"], 3),
                    "wall_s_direct": round(v["wall_s_direct"], 3),
                }
                for t, v in ctx.items()
            },
            "trace": {k: trace[k] for k in ("calls", "parts_bytes", "notebook_bytes", "to_dict_bytes")},
            "sdk_tool_runner": {"requests": runner["requests"], "walls_s": [round(w, 3) for w in runner["walls_s"]]},
            "calls_10k": {
                "calls": load["calls"],
                "requests": load["requests"],
                "view_flushes": load["view_flushes"],
                "rss_peak_growth_mb": round(load["rss_peak_growth_bytes"] / MB, 1),
                "http_s": round(load["http_s"], 2),
                "host_s_outside_http": round(load["wall_s"] - load["http_s"], 2),
                "render_s": round(load["render_s"], 3),
                "saved_calls": load["saved_calls"],
                "parts_bytes": load["parts_bytes"],
            },
            "cached_input": {
                "requests": len(cached["cached"]["requests"]),
                "calls": cached["cached"]["calls"],
                "turn_requests": measure.TURN_REQUESTS,
                "billed_requests": sum(1 for u in cached["uncached"]["requests"] if u["input_tokens"]),
                "billed_input_cached": round(cached["cached"]["billed_input"], 1),
                "billed_input_uncached": round(cached["uncached"]["billed_input"], 1),
                "usage_cached": cached["cached"]["requests"],
                "usage_uncached": cached["uncached"]["requests"],
            },
        },
    }


def cpu_figures(url: str, sizes: Sizes, with_process_pool: bool, watch: Stopwatch) -> dict[str, Any]:
    """The CPU-bound calls: default thread pool vs a dask LocalCluster (processes) [vs a process pool]."""
    from distributed import Client, LocalCluster

    rounds = workloads.calibrate_crunch(sizes.cpu_call_s)
    with contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="ptc-bench-dask-"))
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=sizes.dask_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                local_directory=scratch,
            )
        )
        client = stack.enter_context(Client(cluster))
        startup = time.perf_counter() - t0
        # pure=False: two calls with equal inputs are two calls (dask would otherwise run one and share it)
        executors: dict[str, Any] = {"threads": None, "dask": client.get_executor(pure=False)}
        if with_process_pool:
            executors["process_pool"] = stack.enter_context(
                ProcessPoolExecutor(max_workers=sizes.dask_workers, mp_context=multiprocessing.get_context("spawn"))
            )
        walls = asyncio.run(measure.cpu_bound(url, sizes, executors, rounds))
    watch.lap("cpu")
    figures: dict[str, Any] = {f"{name}_cpu_wall_s": round(wall, 3) for name, wall in walls.items()}
    figures["cpu_details"] = {
        "calls": sizes.cpu_calls,
        "rounds_per_call": rounds,
        "target_call_s": sizes.cpu_call_s,
        "dask_workers": sizes.dask_workers,
        "dask_startup_s": round(startup, 2),
        "serial_estimate_s": round(sizes.cpu_calls * sizes.cpu_call_s, 2),
        "dask_speedup": round(walls["threads"] / walls["dask"], 2),
    }
    return figures


def run_all(sizes: Sizes, *, emulator: str, with_process_pool: bool) -> dict[str, Any]:
    started, load_before, watch = time.perf_counter(), load_average(), Stopwatch()
    with Emulator(emulator) as emu:
        watch.lap("emulator_start")
        figures = asyncio.run(io_figures(emu.url, sizes, watch))
        cpu = cpu_figures(emu.url, sizes, with_process_pool, watch)
    details = figures.pop("details")
    details["cpu"] = cpu.pop("cpu_details")
    details["sections_s"] = watch.sections
    figures.update(cpu)
    figures["targets_met"] = {key: bool(ok(figures)) for key, ok, _ in TARGETS}
    figures["details"] = details
    figures["config"] = {**vars(sizes), "emulator": emulator}
    figures["machine"] = {**machine(), "load_average_before": load_before, "load_average_after": load_average()}
    figures["quick"] = sizes == Sizes.quick()
    figures["total_s"] = round(time.perf_counter() - started, 1)
    return figures


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def table(f: dict[str, Any]) -> str:
    """The figures as the README's table (Markdown)."""
    met, c, cache = f["targets_met"], f["config"], f["details"]["cached_input"]
    mark = {True: "met", False: "**missed**"}
    load = (
        f"{c['load_batches'] * c['load_batch']:,} no-op calls ({c['load_batches']} gathered batches of "
        f"{c['load_batch']}{', quick' if f.get('quick') else ''})"
    )
    rows = [
        (
            f"{c['gather_calls']} async tools × {c['sleep_s']:g} s, gathered by one script (full host)",
            f"{f['gather50_wall_s']:.3f} s",
            f"{f['sequential50_wall_s']:.2f} s one at a time ({f['gather50_speedup']:.0f}× longer)",
            f"≤ 0.45 s and ≥ 30×: {mark[met['gather50_wall_s'] and met['gather50_speedup']]}",
        ),
        (
            f"{c['gather_calls']} async tools × {c['sleep_s']:g} s: the SDK's tool_runner",
            f"{f['gather50_wall_s']:.3f} s",
            f"{f['sdk_tool_runner_wall_s']:.2f} s tool_runner ({f['sdk_tool_runner_ratio']:.0f}× longer)",
            f"PTC ≥ 10× faster: {mark[met['sdk_tool_runner_ratio']]}",
        ),
        (
            f"host-side overhead per call ({c['overhead_calls']:,} no-op calls, {c['overhead_batch']} per batch)",
            f"{f['overhead_ms_per_call']:.3f} ms",
            "—",
            f"≤ 1 ms: {mark[met['overhead_ms_per_call']]}",
        ),
    ]
    for task in f["context_bytes_ptc"]:
        p, d = f["context_bytes_ptc"][task], f["context_bytes_direct"][task]
        rows.append(
            (
                f"{task}: tool output entering the context",
                f"{p:,} B",
                f"{d:,} B direct (PTC = {percent(p, d)})",
                f"≤ 10%: {mark[p <= 0.1 * d]}",
            )
        )
        rows.append(
            (
                f"{task}: API round trips",
                str(f["requests_ptc"][task]),
                f"{f['requests_direct'][task]} direct",
                f"= 2: {mark[f['requests_ptc'][task] == 2]}",
            )
        )
    rows += [
        (
            f"{c['trace_calls']:,}-call run: saved output bundle",
            f"{f['trace_1000_bytes'] / 1000:.0f} KB",
            "—",
            f"≤ 300 KB: {mark[met['trace_1000_bytes']]}",
        ),
        (
            f"{c['trace_calls']:,}-call run: build + JSON-encode the bundle",
            f"{f['trace_1000_render_s'] * 1000:.0f} ms",
            "—",
            f"≤ 1 s: {mark[met['trace_1000_render_s']]}",
        ),
        (f"{load}, one run with the live view: wall time", f"{f['calls_10k_wall_s']:.1f} s", "—", "completes: met"),
        (
            "  same run: memory the kernel keeps (RSS growth)",
            f"{f['calls_10k_rss_mb']:.0f} MB",
            "—",
            f"≤ 200 MB: {mark[met['calls_10k_rss_mb']]}",
        ),
        (
            "  same run: saved output bundle",
            f"{f['calls_10k_bundle_bytes'] / MB:.2f} MB",
            "—",
            f"≤ 1 MB: {mark[met['calls_10k_bundle_bytes']]}",
        ),
        (
            "  same run: live view redraws",
            f"{f['calls_10k_view_redraws_per_s']:.1f} per s",
            "—",
            f"≤ 10 per s: {mark[met['calls_10k_view_redraws_per_s']]}",
        ),
        (
            f"3-turn conversation, a five-pause run + 2 follow-ups ({cache['calls']} calls, {cache['requests']} requests, "
            + f"{cache['billed_requests']} billed): billed input tokens with prompt caching (emulator estimate; "
            + "resumes bill 0, as recorded)",
            f"{cache['billed_input_cached']:,.0f}",
            f"{cache['billed_input_uncached']:,.0f} without (ratio {f['cached_input_ratio']:.2f})",
            f"≤ 0.4: {mark[met['cached_input_ratio']]}",
        ),
        (
            f"{c['cpu_calls']} CPU-bound calls × {c['cpu_call_s'] * 1000:g} ms, dask LocalCluster "
            + f"({c['dask_workers']} processes)",
            f"{f['dask_cpu_wall_s']:.2f} s",
            f"{f['threads_cpu_wall_s']:.2f} s default thread pool",
            f"below threads: {mark[met['dask_cpu_wall_s']]}",
        ),
    ]
    rows.append(
        (
            f"ptc.serve, seen by an MCP client: {c['gather_calls']} tools × {c['sleep_s']:g} s gathered by one "
            "run_python",
            f"{f['serve_gather50_wall_s']:.3f} s",
            f"{f['serve_direct50_wall_s']:.2f} s as {c['gather_calls']} MCP tool calls one after another "
            f"({f['serve_direct50_wall_s'] / f['serve_gather50_wall_s']:.0f}× longer)",
            f"≤ 1/10: {mark[met['serve_gather50_wall_s']]}",
        )
    )
    if "process_pool_cpu_wall_s" in f:
        rows.append(
            (f"  same, ProcessPoolExecutor({c['dask_workers']})", f"{f['process_pool_cpu_wall_s']:.2f} s", "", "")
        )
    lines = ["| figure | PTC | baseline (same run) | target |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    m = f["machine"]
    lines.append("")
    if f.get("quick"):
        lines.append("Quick sizes (a smoke run): the targets apply to the full run.")
    lines.append(
        f"Machine: {m['cpu']}, {m['cpus']} cores, Python {m['python']}, {m['platform']}; "
        f"anthropic {m['anthropic']}, distributed {m['distributed']}; load average before/after "
        f"{m['load_average_before']} / {m['load_average_after']}; emulator in a {c['emulator']}; "
        f"total {f['total_s']} s."
    )
    return "\n".join(lines)


def profile(sizes: Sizes, emulator: str) -> None:
    """Profile the host on the overhead workload (pyinstrument: `pip install ptc-jupyter[dev]`)."""
    from pyinstrument import Profiler

    with Emulator(emulator) as emu:

        async def main() -> None:
            await measure.overhead(
                emu.url, Sizes(reps=1, overhead_calls=sizes.overhead_calls, overhead_batch=sizes.overhead_batch)
            )  # warm
            profiler = Profiler(interval=0.0005, async_mode="disabled")  # CPU where it is spent, not awaits
            profiler.start()
            await measure.overhead(
                emu.url, Sizes(reps=3, overhead_calls=sizes.overhead_calls, overhead_batch=sizes.overhead_batch)
            )
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False))

        asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--quick", action="store_true", help="small sizes and one repetition (smoke run)")
    parser.add_argument(
        "--emulator",
        choices=("process", "thread"),
        default="process",
        help="run the offline emulator in its own process (default, like a remote API) "
        "or in a thread of this process (as ptc.run(offline=True) does)",
    )
    parser.add_argument(
        "--process-pool", action="store_true", help="also run the CPU-bound calls on a ProcessPoolExecutor (adds ~20 s)"
    )
    parser.add_argument("--profile", action="store_true", help="profile the host (pyinstrument) and exit")
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes.full()
    if args.profile:
        profile(sizes, args.emulator)
        return 0
    figures = run_all(sizes, emulator=args.emulator, with_process_pool=args.process_pool)
    print(table(figures), flush=True)
    if args.json:
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
