"""benchmarks/run.py --quick --json: a smoke run that yields every figure with a sane type.

No timing is asserted here (a shared CI machine is no benchmark rig); the figures themselves are
reported by the full run in docs/performance.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "run.py"

SECONDS = [
    "gather50_wall_s",
    "sequential50_wall_s",
    "overhead_ms_per_call",
    "trace_1000_render_s",
    "dask_cpu_wall_s",
    "threads_cpu_wall_s",
    "sdk_tool_runner_wall_s",
    "calls_10k_wall_s",
    "serve_gather50_wall_s",
    "serve_direct50_wall_s",
]
#: Figures that are floats but not durations: ratios, memory growth, a rate.
FLOATS = [
    "gather50_speedup",
    "sdk_tool_runner_ratio",
    "calls_10k_rss_mb",
    "calls_10k_view_redraws_per_s",
    "cached_input_ratio",
]
PER_TASK = ["context_bytes_ptc", "context_bytes_direct", "requests_ptc", "requests_direct"]
TASKS = {"stocks10", "servers50"}


@dataclass
class QuickRun:
    pid: int  # also its session id: it ran in a session of its own
    stdout: str


@pytest.fixture(scope="module")
def quick_run():
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--quick", "--json"],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    return QuickRun(proc.pid, stdout)


@pytest.fixture(scope="module")
def figures(quick_run):
    return json.loads(quick_run.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_every_figure_is_there_with_a_sane_type(figures):
    for key in SECONDS:
        assert isinstance(figures[key], float) and figures[key] > 0, key
    for key in PER_TASK:
        assert set(figures[key]) == TASKS, key
        assert all(isinstance(v, int) and v > 0 for v in figures[key].values()), key
    for key in FLOATS:
        assert isinstance(figures[key], float), key
    for key in ("trace_1000_bytes", "calls_10k_bundle_bytes"):
        assert isinstance(figures[key], int) and figures[key] > 0, key
    assert figures["calls_10k_view_redraws_per_s"] > 0  # the view drew at least once (its final redraw)
    assert figures["quick"] is True and figures["machine"]["cpus"] >= 1


@pytest.mark.slow
def test_the_counts_are_the_protocol_facts(figures):
    """Not timings: one gathered batch is two round trips; direct mode is one per call plus the answer."""
    assert figures["requests_ptc"] == {"stocks10": 2, "servers50": 2}
    assert figures["requests_direct"] == {"stocks10": 11, "servers50": 51}
    for task in TASKS:
        assert figures["context_bytes_ptc"][task] < figures["context_bytes_direct"][task]
    assert "3 of 50 not healthy" in figures["details"]["context"]["servers50"]["answer_ptc"]
    # the SDK's tool runner also ends the gathered batch in two requests; it is only slower
    assert figures["details"]["sdk_tool_runner"]["requests"] == 2
    load, config = figures["details"]["calls_10k"], figures["config"]
    assert load["calls"] == config["load_batches"] * config["load_batch"]
    assert load["requests"] == config["load_batches"] + 1  # one per gathered batch, plus the answer
    assert set(figures["targets_met"]) >= {
        "gather50_wall_s",
        "overhead_ms_per_call",
        "dask_cpu_wall_s",
        "sdk_tool_runner_ratio",
        "calls_10k_rss_mb",
        "calls_10k_bundle_bytes",
        "calls_10k_view_redraws_per_s",
        "cached_input_ratio",
        "serve_gather50_wall_s",
    }


@pytest.mark.slow
def test_the_cached_input_ratio_compares_the_same_conversation(figures):
    """Token estimates, not timings: the same 10 requests (a five-pause turn, two follow-ups) with and
    without caching. A response that only resumes the script bills 0 and touches no cache (the
    recorded rule); the uncached run has no cache tokens; the cached one writes on its first request
    and every later billed one reads."""
    cache = figures["details"]["cached_input"]
    assert cache["turn_requests"] == [6, 2, 2] and cache["requests"] == 10
    assert len(cache["usage_cached"]) == len(cache["usage_uncached"]) == 10
    assert all(u["cache_creation_input_tokens"] == u["cache_read_input_tokens"] == 0 for u in cache["usage_uncached"])
    resumes = [1, 2, 3, 4]  # the five-pause turn's responses between its first and its last
    for usage in (cache["usage_cached"], cache["usage_uncached"]):
        assert all(sum(usage[i].values()) == 0 for i in resumes)
    billed = [u for i, u in enumerate(cache["usage_cached"]) if i not in resumes]
    assert cache["billed_requests"] == len(billed) == 6
    first, *later = billed
    assert first["cache_read_input_tokens"] == 0 and first["cache_creation_input_tokens"] > 1024
    assert all(u["cache_read_input_tokens"] >= first["cache_creation_input_tokens"] for u in later)
    for cached, uncached in zip(cache["usage_cached"], cache["usage_uncached"]):  # the same requests: the same
        assert sum(cached.values()) == sum(uncached.values())  # total, split differently
    assert 0 < figures["cached_input_ratio"] < 1
    assert abs(figures["cached_input_ratio"] - cache["billed_input_cached"] / cache["billed_input_uncached"]) < 0.002


@pytest.mark.slow
def test_the_table_comes_first_and_nothing_is_left_running(quick_run):
    lines = quick_run.stdout.strip().splitlines()
    assert lines[0].startswith("| figure |") and lines[-1].startswith("{")
    leftovers = []
    for proc in psutil.process_iter(["cmdline"]):  # the emulator, dask's nannies and workers, pools
        try:
            if os.getsid(proc.pid) == quick_run.pid and proc.status() != psutil.STATUS_ZOMBIE:
                leftovers.append(" ".join(proc.info["cmdline"] or []))
        except (OSError, psutil.Error):
            pass
    assert not leftovers, leftovers
