"""Traces and notebooks for the browser tests, made with the record (`ptc_jupyter.trace`) only."""

from __future__ import annotations

import html
import inspect
import struct
import zlib
from pathlib import Path

import nbformat

from ptc_jupyter.constants import MIME_TYPE
from ptc_jupyter.trace import run as trace
from ptc_jupyter.trace.files import OutputFile

ROOT = Path(__file__).resolve().parents[1]
Run, ToolCall, Step, MIME_TYPE = trace.Run, trace.ToolCall, trace.Step, MIME_TYPE

XSS = "<img src=x onerror=alert(1)>"
XSS_FLAG = '<img src=x onerror="window.__ptcXss=1"><script>window.__ptcXss=2</script>'

PORTFOLIO_SCRIPT = """import asyncio, json

async def main():
    names = ["A", "B", "C"]
    prices = await asyncio.gather(*[get_prices({"portfolio": n}) for n in names])
    for name, p in zip(names, prices):
        print(name, sharpe(json.loads(p)))

asyncio.run(main())
"""


def portfolio_run() -> Run:
    """A small, complete trace: one script, 4 calls (one failed), streams, usage, comparison."""
    script = Step(
        id="srvtoolu_01ABC",
        code=PORTFOLIO_SCRIPT,
        stdout="A 0.8\nB 1.42\nC -0.3\n",
        stderr="warning: C has 2 missing days\n",
        return_code=0,
    )
    calls = [
        ToolCall(
            id=f"toolu_0{i}",
            name="get_prices",
            input={"portfolio": n},
            caller="code_execution_20260120",
            script_id=script.id,
            status="ok",
            output=f'{{"portfolio": "{n}", "prices": [101.5, 102.25, 99.75]}}',
            started_s=0.05 + 0.01 * i,
            duration_s=0.12 + 0.02 * i,
            request_index=1,
        )
        for i, n in enumerate("ABC")
    ]
    calls.append(
        ToolCall(
            id="toolu_04",
            name="get_prices",
            input={"portfolio": 3},
            caller="code_execution_20260120",
            script_id=script.id,
            status="error",
            output="Error: portfolio must be a string, got 3",
            is_error=True,
            started_s=0.2,
            duration_s=0.01,
            request_index=1,
        )
    )
    return Run(
        prompt="Which of my three portfolios has the best Sharpe ratio?",
        model="claude-sonnet-4-5",
        backend="offline-emulator",
        mode="ptc",
        text="Portfolio B has the best Sharpe ratio (1.42).",
        steps=[script],
        calls=calls,
        usage={"input_tokens": 1834, "output_tokens": 412, "cache_read_input_tokens": 0},
        requests=2,
        container_id="container_011CZkq7Hs9",
        stop_reason="end_turn",
        status="completed",
        context_bytes=310,
        wall_s=0.41,
        notices=["offline emulator: no API key used"],
        comparison={
            "ptc": {"requests": 2, "context_bytes": 310, "wall_s": 0.4},
            "direct": {"requests": 11, "context_bytes": 4200, "wall_s": 3.3},
        },
    )


def xss_run() -> Run:
    """Every text field the renderer shows holds HTML that would run if injected."""
    script = Step(
        id="srvtoolu_x",
        code=f"print('{XSS}')  # {XSS_FLAG}\n",
        stdout=f"{XSS}\n",
        stderr=f"{XSS_FLAG}\n",
        return_code=0,
        error_code=None,
    )
    calls = [
        ToolCall(
            id="toolu_x1",
            name=f"lookup{XSS}",
            input={"q": XSS_FLAG},
            caller="code_execution_20260120",
            script_id=script.id,
            status="ok",
            output=XSS,
            started_s=0.0,
            duration_s=0.05,
            request_index=1,
        ),
        ToolCall(
            id="toolu_x2",
            name="lookup",
            input={"q": 1},
            caller="direct",
            status="error",
            is_error=True,
            output=f"Error: {XSS_FLAG}",
            started_s=0.06,
            duration_s=0.01,
            request_index=2,
        ),
    ]
    return Run(
        prompt=f"Look up {XSS}",
        model=f"model{XSS}",
        backend="offline-emulator",
        text=f"The answer is {XSS} and {XSS_FLAG}",
        steps=[script],
        calls=calls,
        usage={"input_tokens": 10, "note": XSS},
        requests=2,
        container_id=XSS,
        status="completed",
        notices=[XSS_FLAG],
        error=None,
        wall_s=0.1,
    )


def big_run(n_calls: int = 1000, concurrency: int = 8) -> Run:
    """`n_calls` calls, `concurrency` at a time; every 10th result long, every 97th failed."""
    script = Step(
        id="srvtoolu_big",
        code=(
            f"import asyncio\nr = await asyncio.gather(*[fetch({{'i': i}}) for i in range({n_calls})])\nprint(len(r))\n"
        ),
        stdout=f"{n_calls}\n",
        return_code=0,
    )
    calls = []
    for i in range(n_calls):
        failed = i % 97 == 96
        output = (
            f"Error: item {i} not found"
            if failed
            else ("row " * 1500 + f"#{i}")
            if i % 10 == 0
            else f'{{"i": {i}, "v": {i * 2}}}'
        )
        calls.append(
            ToolCall(
                id=f"toolu_{i:04d}",
                name="fetch",
                input={"i": i},
                caller="code_execution_20260120",
                script_id=script.id,
                status="error" if failed else "ok",
                output=output,
                is_error=failed,
                started_s=(i // concurrency) * 0.01,
                duration_s=0.008 + (i % 5) * 0.0005,
                request_index=1,
            )
        )
    return Run(
        prompt=f"Fetch all {n_calls} items",
        model="claude-sonnet-4-5",
        backend="offline-emulator",
        text=f"Fetched {n_calls} items.",
        steps=[script],
        calls=calls,
        usage={"input_tokens": 900, "output_tokens": 60},
        requests=2,
        container_id="container_big",
        status="completed",
        wall_s=(n_calls // concurrency) * 0.01 + 0.05,
        context_bytes=5,
    )


def png_bytes(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (220, 40, 40)) -> bytes:
    """A real PNG of one colour, made by hand (zlib + struct): signature, IHDR, IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))  # filter byte 0 per row
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def steps_run() -> Run:
    """Every kind of step: Python (ran past the cell limit), bash, a text editor str_replace, an
    error, a server tool this version does not know; and output files (a PNG, a CSV)."""
    python = Step(
        id="srvtoolu_py",
        code="import time\ntime.sleep(100)\n",
        stdout="begun\n",
        stderr="detection_timeout: this cell ran for more than 90 seconds, the wall-clock limit per "
        "Python cell, and was stopped.\n",
        return_code=1,
        result_type="code_execution_result",
    )
    bash = Step(
        id="srvtoolu_sh",
        name="bash_code_execution",
        input={"command": "ls -la $OUTPUT_DIR"},
        stdout="plot.png\nsummary.csv\n",
        stderr="",
        return_code=0,
        file_ids=["file_png", "file_csv"],
        result_type="bash_code_execution_result",
    )
    edit = Step(
        id="srvtoolu_ed",
        name="text_editor_code_execution",
        input={
            "command": "str_replace",
            "path": "/tmp/config.json",
            "old_str": '"debug": true',
            "new_str": '"debug": false',
        },
        result_type="text_editor_code_execution_str_replace_result",
        detail={
            "old_start": 3,
            "old_lines": 1,
            "new_start": 3,
            "new_lines": 1,
            "lines": ['-  "debug": true', '+  "debug": false'],
        },
    )
    missing = Step(
        id="srvtoolu_nf",
        name="text_editor_code_execution",
        input={"command": "view", "path": "/tmp/nope"},
        error_code="file_not_found",
        error_message="/tmp/nope does not exist",
        result_type="text_editor_code_execution_tool_result_error",
    )
    unknown = Step(
        id="srvtoolu_fx",
        name="future_tool",
        input={"query": "x"},
        result_type="future_result",
        detail={"content": {"type": "future_result", "answer": 42}},
    )
    files = [
        OutputFile(
            name="plot.png",
            media_type="image/png",
            size_bytes=len(png_bytes(16, 16)),
            file_id="file_png",
            data=png_bytes(16, 16),
        ),
        OutputFile(
            name="summary.csv",
            media_type="text/csv",
            size_bytes=25,
            file_id="file_csv",
            data=b"name,score\nA,0.8\nB,1.42\n",
        ),
    ]
    return Run(
        prompt="Plot the scores and fix the config",
        model="claude-sonnet-4-5",
        backend="offline-emulator",
        text="Done: plot.png and summary.csv.",
        steps=[python, bash, edit, missing, unknown],
        files=files,
        requests=2,
        container_id="container_steps",
        status="completed",
        wall_s=1.5,
        stop_reason="end_turn",
    )


def saved_trace(notebook: str) -> dict:
    """The first trace saved in `notebooks/<notebook>`, as the version that ran it wrote it."""
    nb = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
    return next(o["data"][MIME_TYPE] for c in nb.cells for o in c.get("outputs", []) if MIME_TYPE in o.get("data", {}))


def bundle(run: Run | dict) -> dict:
    """The three MIME keys of a `%%ptc` result (from a Run or a saved trace); the HTML is a
    marked, escaped fallback."""
    trace = run if isinstance(run, dict) else run.to_dict()
    plain = f"<PTC run: {len(trace['calls'])} tool calls> {trace['text']}"
    return {
        MIME_TYPE: trace,
        "text/html": f'<pre class="ptc-html-fallback">{html.escape(plain)}</pre>',
        "text/plain": plain,
    }


def trace_notebook(run: Run | dict, path: Path, *, kernel_name: str = "no-such-kernel") -> Path:
    """A notebook with one `%%ptc` cell whose saved output is the trace, as nbclient/CI writes
    it: unsigned, so JupyterLab treats it as untrusted."""
    nb = nbformat.v4.new_notebook()
    data = bundle(run)
    cell = nbformat.v4.new_code_cell(f"%%ptc --offline\n{data[MIME_TYPE]['prompt']}", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("display_data", data=data)]
    nb.cells = [nbformat.v4.new_markdown_cell("# Saved PTC trace"), cell]
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": kernel_name, "language": "python"}
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path


# -- a real chart, made with the standard library only (matplotlib is not installed) -------------


def bar_chart_png(values, width=240, height=120):
    """A bar chart as PNG bytes: axes and one coloured bar per value (zlib + struct only)."""
    colours = [(66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (171, 71, 188)]
    pixels = [[(255, 255, 255)] * width for _ in range(height)]
    base, top, slot = height - 12, max(values) or 1, (width - 24) // len(values)
    for i, value in enumerate(values):
        left, bar = 18 + i * slot + slot // 6, int((base - 8) * value / top)
        for y in range(base - bar, base):
            pixels[y][left : left + slot * 2 // 3] = [colours[i % len(colours)]] * (slot * 2 // 3)
    pixels[base][12 : width - 6] = [(60, 60, 60)] * (width - 18)
    for y in range(6, base + 1):
        pixels[y][12] = (60, 60, 60)
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


#: `bar_chart_png` as source, for a `%%ptc` prompt: the container has the standard library only.
BAR_CHART_CODE = "import struct, zlib\n\n\n" + inspect.getsource(bar_chart_png)


def copy_cell_run() -> Run:
    """Two Python steps (the first one longer than a trace keeps, so saved clipped) and a bash step
    between; a prompt whose first line has quotes, a backslash, non-ASCII and more than 60 characters."""
    long_code = "import json\n" + "".join(f"row_{i} = await fetch({{'i': {i}}})\n" for i in range(900))
    first = Step(id="srvtoolu_c1", code=long_code, stdout="done\n", return_code=0)
    bash = Step(id="srvtoolu_cb", name="bash_code_execution", input={"command": "ls"}, stdout="", return_code=0)
    second = Step(
        id="srvtoolu_c2",
        code="total = sum(json.loads(await fetch({'i': 1})).values())\nprint(total)\n",
        stdout="3\n",
        return_code=0,
    )
    call = ToolCall(
        id="toolu_c1",
        name="fetch",
        input={"i": 1},
        caller="code_execution_20260120",
        script_id=second.id,
        status="ok",
        output='{"a": 1, "b": 2}',
        started_s=0.1,
        duration_s=0.02,
        request_index=1,
    )
    prompt = '\n   Sum the "scores" of C:\\data — naïve café 🙂 and everything else that is long enough  \nsecond line'
    return Run(
        prompt=prompt,
        model="claude-sonnet-4-5",
        backend="offline-emulator",
        text="3",
        steps=[first, bash, second],
        calls=[call],
        usage={"input_tokens": 500, "output_tokens": 80},
        requests=2,
        container_id="container_copy",
        status="completed",
        wall_s=0.5,
        stop_reason="end_turn",
    )
