"""A `%%ptc --offline` cell run live in JupyterLab: the ipywidgets live view (`.ptc-live`)
shows while it runs, then the cell's output becomes the static trace, which is what is saved.

Drives a real kernel and the offline emulator; Debian's chromium via Playwright.
"""

from __future__ import annotations

import json
import os
import re
import textwrap

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from conftest_browser import ROOT, PageWatch, chromium, chromium_path, lab_server, open_notebook, screenshot
from trace_samples import MIME_TYPE

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

SETUP = "%load_ext ptc_jupyter\nimport time\nimport ptc_jupyter as ptc"
TOOL = textwrap.dedent('''\
    @ptc.tool
    def double(x: int) -> int:
        """Return twice x."""
        time.sleep(2.0)  # keeps the live view on screen long enough to see
        return 2 * x''')
PTC_CELL = textwrap.dedent('''\
    %%ptc --offline
    Double 0, 1 and 2.
    ```python
    import asyncio
    r = await asyncio.gather(*[double({"x": i}) for i in range(3)])
    print(r)
    ```''')

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


@pytest.fixture
def server(tmp_path, monkeypatch):
    chromium_path()
    root = tmp_path / "notebooks"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (SETUP, TOOL, PTC_CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "live.ipynb")
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
            timeout=90_000)
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
            timeout=60_000)
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
