"""The notebooks in notebooks/ run offline and assert their own key facts; they also pass nbval
against their saved outputs (the `%%ptc` cells are tagged nbval-ignore-output)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ptc_jupyter.trace import MIME_TYPE

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PTC_JUPYTER_OFFLINE"] = "1"
    return env


def ptc_outputs(nb) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%ptc") for o in c.outputs]


@pytest.mark.parametrize("name", ["quickstart", "ptc-vs-direct", "mcp-finance"])
def test_notebook_runs_offline_and_keeps_its_traces(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=90, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=offline_env())
    outputs = ptc_outputs(nb)  # every assertion cell ran (execute raises on an error)
    assert outputs and all(set(o["data"]) == {MIME_TYPE, "text/html", "text/plain"} for o in outputs)
    assert all(o["data"][MIME_TYPE]["status"] == "completed" for o in outputs)


def test_saved_notebooks_show_a_trace_without_a_kernel():
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        outputs = ptc_outputs(nb)
        assert outputs, f"{path.name}: no saved %%ptc output"
        assert all("application/vnd.jupyter.widget-view+json" not in o.get("data", {}) for o in outputs)
        tagged = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%ptc")]
        assert all("nbval-ignore-output" in c.metadata.get("tags", []) for c in tagged), path.name


def test_notebooks_pass_nbval():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
         "--nbval-kernel-name", "python3", *map(str, sorted(NOTEBOOKS.glob("*.ipynb")))],
        cwd=ROOT / "notebooks", env=offline_env(), capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
