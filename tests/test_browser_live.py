"""A `%%ptc --offline` cell run live in JupyterLab: the ipywidgets live view (`.ptc-live`)
shows while it runs, then the cell's output becomes the static trace, which is what is saved.
A script that saves a chart into `$OUTPUT_DIR` shows it live, in the saved trace, and in the
notebook reopened with no kernel.

Drives a real kernel and the offline emulator; Debian's chromium via Playwright.
"""

from __future__ import annotations

import json
import os
import re
import textwrap

import nbformat
import pytest
from conftest_browser import (
    ROOT,
    PageWatch,
    chromium,
    chromium_path,
    lab_server,
    open_notebook,
    screenshot,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from trace_samples import BAR_CHART_CODE, MIME_TYPE

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

SETUP = "%load_ext ptc_jupyter\nimport time\nimport ptc_jupyter as ptc"
TOOL = textwrap.dedent('''\
    @ptc.tool
    def double(x: int) -> int:
        """Return twice x."""
        time.sleep(2.0)  # keeps the live view on screen long enough to see
        return 2 * x''')
PTC_CELL = textwrap.dedent("""\
    %%ptc --offline
    Double 0, 1 and 2.
    ```python
    import asyncio
    r = await asyncio.gather(*[double({"x": i}) for i in range(3)])
    print(r)
    ```""")

# The chart script: a bar chart PNG into $OUTPUT_DIR (standard library only), then a tool call that
# keeps the run live for a while, so the live view shows the chart before the trace replaces it.
CHART_CELL = (
    "%%ptc --offline -o r\nDraw the quarterly scores as a bar chart.\n```python\n" + BAR_CHART_CODE + "\nimport os\n"
    "with open(os.path.join(os.environ['OUTPUT_DIR'], 'scores.png'), 'wb') as f:\n"
    "    f.write(bar_chart_png([3, 7, 5, 9]))\n"
    "print('saved scores.png')\n```\n"
    "```python\nprint('checked:', await double({'x': 21}))\n```"
)
FILES_CELL = textwrap.dedent("""\
    import struct
    chart = r.files[0]
    print("r.files:", [f.name for f in r.files], chart.media_type, struct.unpack(">II", chart.data[16:24]))""")

# Records, in the page, when a live view and a trace first appear in the %%ptc cell's output.
WATCH = """() => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-CodeCell')[2];
    window.__ptcSeen = {};
    const look = () => {
        for (const [key, sel] of [['live', '.ptc-live'], ['trace', '.jp-PtcTrace[data-render-ms]']]) {
            if (!window.__ptcSeen[key] && cell.querySelector(sel)) {
                window.__ptcSeen[key] = performance.now();
            }
        }
    };
    new MutationObserver(look).observe(cell, {childList: true, subtree: true, attributes: true});
}"""


def _notebook(path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def server(tmp_path, monkeypatch):
    chromium_path()
    root = tmp_path / "notebooks"
    root.mkdir()
    _notebook(root / "live.ipynb", SETUP, TOOL, PTC_CELL)
    _notebook(root / "chart.ipynb", SETUP, TOOL.replace("time.sleep(2.0)", "time.sleep(3.0)"), CHART_CELL, FILES_CELL)
    # the kernel imports ptc_jupyter from this checkout even before `pip install -e .`
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with lab_server(tmp_path, root, kernels=True) as lab:
        yield lab


def test_ptc_cell_shows_live_view_then_saved_trace(server):
    with chromium() as browser:
        page = browser.new_page()
        watch = PageWatch(page)
        open_notebook(page, server, "live.ipynb", kernel=True)
        page.wait_for_function(
            "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
            timeout=90_000,
        )
        page.wait_for_selector(".jp-Notebook .jp-CodeCell >> nth=2")
        page.evaluate(WATCH)
        # not awaited: the command's promise settles only when every cell has run
        page.evaluate("() => { jupyterapp.commands.execute('notebook:run-all-cells'); }")

        cell = page.locator(".jp-Notebook .jp-CodeCell").nth(2)
        try:
            # the observer catches the live view even if it is gone before a poll would see it
            page.wait_for_function("() => window.__ptcSeen.live || window.__ptcSeen.trace", timeout=90_000)
        except PlaywrightTimeout:
            outputs = "\n".join(page.locator(".jp-Notebook .jp-OutputArea").all_inner_texts())
            raise AssertionError(f"%%ptc showed neither a live view nor a trace; outputs:\n{outputs}") from None
        assert page.evaluate("window.__ptcSeen.live"), "the trace came without a live view first"
        # while the tools sleep, the live view already shows the script and the three running calls
        page.wait_for_function(
            """() => { const v = document.querySelector('.ptc-live');
                       return v && v.innerText.includes('asyncio.gather')
                              && (v.innerText.match(/double/g) || []).length >= 3; }""",
            timeout=60_000,
        )
        screenshot(page, "live-running.png")

        trace = cell.locator(".jp-PtcTrace[data-render-ms]")
        trace.wait_for(timeout=120_000)
        seen = page.evaluate("window.__ptcSeen")
        print(f"\n[live] live view at {seen.get('live', 0):.0f} ms, trace at {seen.get('trace', 0):.0f} ms")
        assert seen["live"] < seen["trace"]
        # the live view gave way to the static bundle
        assert cell.locator(".ptc-live").count() == 0
        assert cell.locator(".jp-OutputArea-output").count() == 1

        rows = trace.locator(".jp-PtcTrace-calls tbody tr")
        assert rows.count() == 3
        assert rows.locator(".jp-PtcTrace-tool").all_inner_texts() == ["double"] * 3
        assert trace.locator(".jp-PtcTrace-row-error").count() == 0
        assert "asyncio.gather" in trace.locator(".jp-PtcTrace-script").inner_text()
        assert re.search(r"\[\D*0\D*2\D*4\D*\]", trace.locator(".jp-PtcTrace-stdout").inner_text())
        assert trace.locator(".jp-PtcTrace-answer").inner_text().strip()
        screenshot(page, "live-final.png")

        # what is saved is the static bundle, no widget view
        page.evaluate("jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function("() => !jupyterapp.shell.currentWidget.context.model.dirty")
        saved = json.loads((server.root / "live.ipynb").read_text())
        outputs = saved["cells"][2]["outputs"]
        data = [o["data"] for o in outputs if "data" in o]
        assert any(MIME_TYPE in d for d in data), outputs
        assert not any("application/vnd.jupyter.widget-view+json" in d for d in data)
        bundle = next(d for d in data if MIME_TYPE in d)
        assert {"text/html", "text/plain"} <= set(bundle)
        assert len(bundle[MIME_TYPE]["calls"]) == 3
        print(f"[console errors] {watch.errors[:5]}")
        assert watch.ours() == []


# Records when the chart first shows as an image: in the live view, and in the saved trace.
WATCH_CHART = """() => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-CodeCell')[2];
    window.__ptcChart = {};
    const look = () => {
        for (const [key, sel] of [['live', '.ptc-live img'], ['trace', '.jp-PtcTrace img.jp-PtcTrace-image']]) {
            const img = cell.querySelector(sel);
            if (!window.__ptcChart[key] && img) {
                window.__ptcChart[key] = {at: performance.now(), src: img.src.slice(0, 30)};
            }
        }
    };
    new MutationObserver(look).observe(cell, {childList: true, subtree: true, attributes: true});
}"""


def _image_size(page, img) -> list[int]:
    img.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(), timeout=10_000)
    return img.evaluate("img => [img.naturalWidth, img.naturalHeight]")


def test_a_chart_shows_live_in_the_saved_trace_and_after_reopening_without_a_kernel(server):
    with chromium() as browser:
        page = browser.new_page()
        watch = PageWatch(page)
        open_notebook(page, server, "chart.ipynb", kernel=True)
        page.wait_for_function(
            "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
            timeout=90_000,
        )
        page.wait_for_selector(".jp-Notebook .jp-CodeCell >> nth=2")
        page.evaluate(WATCH_CHART)
        page.evaluate("() => { jupyterapp.commands.execute('notebook:run-all-cells'); }")

        # live: the chart comes in while the tool call still runs (the run is not over)
        cell = page.locator(".jp-Notebook .jp-CodeCell").nth(2)
        live_img = cell.locator(".ptc-live img")
        live_img.wait_for(timeout=90_000)
        assert _image_size(page, live_img) == [240, 120]
        assert "scores.png" in cell.locator(".ptc-live").inner_text()
        assert cell.locator(".ptc-live .ptc-cost").inner_text().startswith("cost ≈ $")
        screenshot(page, "live-chart.png")
        # "Copy as cell" while the run is live: set_next_input rides on this cell's reply
        copy = cell.locator(".ptc-live button", has_text="Copy script 1 as cell")
        copy.click()
        page.wait_for_function("b => b.classList.contains('mod-success')", arg=copy.element_handle(), timeout=10_000)

        # saved: the trace that replaced the live view shows it from its embedded base64
        trace = cell.locator(".jp-PtcTrace[data-render-ms]")
        trace.wait_for(timeout=120_000)
        seen = page.evaluate("window.__ptcChart")
        print(f"\n[chart] live at {seen['live']['at']:.0f} ms, in the trace at {seen['trace']['at']:.0f} ms")
        assert seen["live"]["at"] < seen["trace"]["at"] and seen["live"]["src"].startswith("data:image/png;base64,")
        image = trace.locator(".jp-PtcTrace-filesection img.jp-PtcTrace-image")
        assert image.get_attribute("alt") == "scores.png" and _image_size(page, image) == [240, 120]
        assert re.search(r"cost\s*≈ \$\d+\.\d{4} \(estimate\)", trace.locator(".jp-PtcTrace-header").inner_text())
        # the script's cell came below the %%ptc cell when it ended (not run: run-all had queued the rest)
        page.wait_for_function(
            "() => jupyterapp.shell.currentWidget.content.model.sharedModel.cells.length === 5", timeout=30_000
        )
        copied = page.evaluate("() => jupyterapp.shell.currentWidget.content.model.sharedModel.cells[3].getSource()")
        files_out = page.locator(".jp-Notebook .jp-CodeCell").nth(4).locator(".jp-OutputArea-output")
        files_out.wait_for(timeout=60_000)
        assert "r.files: ['scores.png'] image/png (240, 120)" in files_out.inner_text()
        screenshot(page, "chart-saved-trace.png")

        page.evaluate("jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function("() => !jupyterapp.shell.currentWidget.context.model.dirty")
        saved = json.loads((server.root / "chart.ipynb").read_text())
        trace_data = next(o["data"][MIME_TYPE] for o in saved["cells"][2]["outputs"] if MIME_TYPE in o.get("data", {}))
        assert [f["name"] for f in trace_data["files"]] == ["scores.png"] and trace_data["files"][0]["data"]
        from ptc_jupyter.notebook.script_cell import cell_source
        from ptc_jupyter.trace.run import Run

        assert copied == cell_source(Run.from_dict(trace_data), 1)
        assert copied.startswith('# Claude\'s script 1 (of 2) of run "Draw the quarterly scores as a bar chart."')
        assert trace_data["cost"]["estimate"] is True

        # reopened where no kernel can start (a second JupyterLab on the same folder, no kernelspec
        # allowed): the labextension renders the saved trace from the file alone
        (server.root / "chart-reopened.ipynb").write_text(json.dumps(saved))
        with lab_server(server.work / "no-kernels", server.root, kernels=False) as plain:
            open_notebook(page, plain, "chart-reopened.ipynb", kernel=False)
            trace = page.locator(".jp-PtcTrace[data-render-ms]").first
            trace.wait_for(timeout=60_000)
            assert plain.api("/api/kernels") == []
            image = trace.locator(".jp-PtcTrace-filesection img.jp-PtcTrace-image")
            assert _image_size(page, image) == [240, 120]
            assert "saved scores.png" in trace.locator(".jp-PtcTrace-stdout").first.inner_text()
            screenshot(page, "chart-reopened-no-kernel.png")
            _readme_picture(page, trace)
        print(f"[console errors] {watch.errors[:5]}")
        assert watch.ours() == []


def _readme_picture(page, trace) -> None:
    """chart-run.png, the README's picture (docs/images/make_images.py puts it there): the saved
    trace with its chart, alone, at a width that reads well."""
    page.set_viewport_size({"width": 1100, "height": 1400})
    page.evaluate("() => jupyterapp.commands.execute('application:toggle-left-area')")
    page.wait_for_timeout(300)  # the panel's collapse animation: no event to wait on
    trace.scroll_into_view_if_needed()
    screenshot(page, "chart-run.png", locator=trace, readme=True)
