"""What `pytest --nbval notebooks/` checks beyond the saved outputs (tests/test_notebooks.py runs it).

nbval ignores the output of `%%ptc` cells (tagged `nbval-ignore-output`: the trace holds times and
ids), so this hook checks it instead, as each such cell runs: the cell left exactly one output
bundle, the static trace (trace JSON, HTML, text; no widget that a reopened notebook could not
show), and the run it records ended as the cell says — "completed", or "error" for a cell tagged
`raises-exception` (one that fails on purpose). Notebooks run from any other folder are untouched.
"""

from __future__ import annotations

import pytest

TRACE_MIME = "application/vnd.ptc-jupyter.trace+json"  # ptc_jupyter.MIME_TYPE
STATIC_BUNDLE = {TRACE_MIME, "text/html", "text/plain"}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    result = yield  # nbval ran the cell (and compared what it checks)
    cell = getattr(item, "cell", None)
    if cell is not None and cell.cell_type == "code" and cell.source.startswith("%%ptc"):
        check_ptc_cell(item, cell)
    return result


def check_ptc_cell(item: pytest.Item, cell) -> None:
    outputs = getattr(item, "test_outputs", None)
    if outputs is None:
        raise RuntimeError("nbval kept no test_outputs for this %%ptc cell: notebooks/conftest.py needs updating "
                           "for this nbval version")
    bundles = [o for o in outputs if o["output_type"] in ("display_data", "execute_result")]
    kinds = [sorted(o.get("data", {})) for o in bundles]
    assert len(bundles) == 1 and set(bundles[0]["data"]) == STATIC_BUNDLE, (
        f"{item.name}: a %%ptc cell should leave one static trace bundle {sorted(STATIC_BUNDLE)}, got {kinds}")
    expected = "error" if "raises-exception" in cell.metadata.get("tags", []) else "completed"
    trace = bundles[0]["data"][TRACE_MIME]
    assert trace.get("status") == expected, (
        f"{item.name}: the run ended {trace.get('status')!r} ({trace.get('error')}), expected {expected!r}")
