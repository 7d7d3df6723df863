"""The Wire view draws in JupyterLab from a saved notebook with no kernel.

The notebook holds the trace of a real offline comparison (PTC, then direct, through the SDK and
the emulator). JupyterLab loads the labextension built in this tree (`ptc_jupyter/labextension`,
`jlpm build`): the isolated data dir links it first, ahead of the installed one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest_browser import PageWatch, chromium, chromium_path, lab_server, open_notebook, screenshot
from playwright.sync_api import expect
from trace_samples import trace_notebook

import ptc_jupyter as ptc

pytestmark = pytest.mark.browser

BUILT = Path(__file__).resolve().parents[1] / "ptc_jupyter" / "labextension"
PROMPT = """Double 1 and 2.
```python
import asyncio
print(await asyncio.gather(double({"x": 1}), double({"x": 2})))
```
"""


def double(x: int) -> int:
    """Twice x. Returns an integer."""
    return 2 * x


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    chromium_path()
    if not (BUILT / "package.json").is_file():
        pytest.fail(f"no labextension built at {BUILT}: cd labextension && jlpm build")
    work = tmp_path_factory.mktemp("lab-wire")
    root = work / "notebooks"
    root.mkdir()
    extensions = work / "data" / "labextensions"
    extensions.mkdir(parents=True)
    (extensions / "ptc-jupyter").symlink_to(BUILT, target_is_directory=True)
    trace_notebook(ptc.compare(PROMPT, tools=[double], offline=True), root / "wire.ipynb")
    with lab_server(work, root, kernels=False) as lab:
        yield lab


def test_the_wire_of_a_saved_comparison_draws_without_a_kernel(server):
    with chromium() as browser:
        page = browser.new_page()
        watch = PageWatch(page)
        open_notebook(page, server, "wire.ipynb", kernel=False)
        page.wait_for_selector(".jp-PtcTrace[data-render-ms]", timeout=60_000)
        wire = page.locator(".jp-PtcTrace-wire")
        expect(wire.locator("h3")).to_have_text("Wire (2 round trips)")
        trips = wire.locator("details.jp-PtcTrace-wiretrip")
        assert trips.count() == 2
        assert trips.nth(0).locator("summary").inner_text().startswith("#1 → the prompt + 2 tool definitions")
        assert (
            "← 2 tool_results" not in trips.nth(1).inner_text() and "#2 → 2 tool_results" in trips.nth(1).inner_text()
        )

        trips.nth(0).locator("summary").click()
        script = trips.nth(0).locator('.jp-PtcTrace-wiremark[data-part="server_tool_use"]')
        expect(script).to_be_visible()
        assert "asyncio.gather" in script.inner_text()
        assert trips.nth(0).locator('.jp-PtcTrace-wiremark[data-part="tool_use_from_script"]').count() == 2
        assert "← the script (server_tool_use)" in trips.nth(0).inner_text()
        trips.nth(1).locator("summary").click()
        results = trips.nth(1).locator('.jp-PtcTrace-wiremark[data-part="tool_results_only"]')
        expect(results).to_be_visible()
        assert '"tool_result"' in results.inner_text()

        compare = page.locator(".jp-PtcTrace-wirecompare")
        assert compare.locator("tbody tr").count() == 3  # direct takes a third round trip
        assert compare.locator(".jp-PtcTrace-wirebar-direct").count() == 3
        assert server.api("/api/kernels") == []
        screenshot(page, "wire.png", page.locator(".jp-PtcTrace-wire"))
        assert watch.ours() == []
        page.close()
