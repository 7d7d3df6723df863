"""The notebooks in notebooks/ run offline under `pytest --nbval`, and assert their own key facts.

Each notebook runs in a fresh kernel, cell by cell, against its saved outputs: strictly, except the
cells tagged `nbval-ignore-output` (the `%%ptc` cells, whose traces hold times and ids, which
notebooks/conftest.py checks instead: one static trace bundle, the run completed). A cell whose
`assert` fails, or whose output drifted from the saved one, fails the notebook. The saved outputs
are what executing the notebook produced (`jupyter nbconvert --to notebook --execute --inplace`
with PTC_JUPYTER_OFFLINE=1, from notebooks/); re-save them that way after changing a notebook's
code or when a message it prints changes. Except ptc-vs-direct.ipynb: its trace was saved by an
earlier version on purpose (tests/test_trace.py and the browser tests read it as one), so edit its
markdown only, or give those tests another earlier-version trace before re-saving it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from ptc_jupyter.constants import MIME_TYPE
from ptc_jupyter.notebook.script_cell import cell_source
from ptc_jupyter.trace.run import Run

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("quickstart", "ptc-vs-direct", "mcp-finance", "data-analysis", "safety", "agents", "how-ptc-works")
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
#: Absolute paths of a Unix or Windows machine, as saved outputs must not hold them.
MACHINE_PATH = re.compile(r"(?<![\w.:/])/(?:root|home|Users|tmp|var|private|usr|opt|work)/|\b[A-Z]:\\\\")


def offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PTC_JUPYTER_OFFLINE"] = "1"
    return env


def read(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def ptc_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%ptc")]


def test_every_notebook_is_tested():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_saved_notebook_shows_its_traces_without_a_kernel(name):
    nb = read(name)
    nbformat.validate(nb)
    cells = ptc_cells(nb)
    assert cells, f"{name}: no %%ptc cell"
    for cell in cells:
        assert "nbval-ignore-output" in cell.metadata.get("tags", []), f"{name}: {cell.source[:40]!r}"
        bundles = [o for o in cell.outputs if o.output_type == "display_data"]
        assert len(bundles) == 1 and set(bundles[0].data) == {MIME_TYPE, "text/html", "text/plain"}, name
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"{name}: save it executed, every cell"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_opens_with_what_a_key_changes(name):
    first = read(name).cells[0]
    assert first.cell_type == "markdown"
    for words in ("ANTHROPIC_API_KEY", "real API", "only suggestions", "offline"):
        assert words in first.source, f"{name}: the first cell should say {words!r}"


@pytest.mark.parametrize("name", NAMES)
def test_saved_outputs_hold_no_machine_paths(name):
    outputs = json.dumps([c.get("outputs", []) for c in read(name).cells])
    for path in {str(ROOT), str(Path.home()), sys.prefix, sys.base_prefix, sys.executable, tempfile.gettempdir()}:
        assert json.dumps(path)[1:-1] not in outputs, f"{name}: a saved output holds {path}"
    found = MACHINE_PATH.search(outputs)
    assert found is None, f"{name}: a saved output holds a path: …{outputs[found.start() - 60 : found.end() + 60]}…"


def test_the_script_cell_is_what_ptc_script_makes():
    """data-analysis.ipynb keeps the cell `%ptc_script r` inserted; it must still be that cell for
    the saved run `r` (its trace keeps the script), as the notebook claims."""
    cells = read("data-analysis").cells
    [run_cell] = [c for c in cells if c.cell_type == "code" and c.source.startswith("%%ptc -o r\n")]
    [at] = [i for i, c in enumerate(cells) if c.cell_type == "code" and c.source.rstrip().endswith("%ptc_script r")]
    run = Run.from_dict(run_cell.outputs[0].data[MIME_TYPE])
    assert cells[at + 1].source.strip() == cell_source(run, label="r").strip()


def test_notebooks_pass_nbval():
    """All six in one pytest process (its start-up, with nbval's imports, takes seconds here),
    with only the nbval plugin loaded; notebooks/conftest.py adds its checks of the %%ptc cells."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "--color=no",
            "-p",
            "no:cacheprovider",
            "-p",
            "nbval.plugin",
            "--nbval",
            "--nbval-kernel-name",
            "python3",
            *(f"{name}.ipynb" for name in NAMES),
        ],
        cwd=NOTEBOOKS,
        env={**offline_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, failure_report(result.stdout) + result.stderr[-2000:]


def failure_report(stdout: str, first_chars: int = 5000) -> str:
    """The first failures in full, then pytest's one-line summary of every failure (no colours:
    the kernel colours its tracebacks)."""
    stdout = ANSI_COLOUR.sub("", stdout)
    failures, summary = stdout.find("= FAILURES ="), stdout.find("= short test summary info =")
    if not 0 <= failures < summary:
        return stdout[-first_chars:]
    failures, summary = stdout.rfind("\n", 0, failures) + 1, stdout.rfind("\n", 0, summary) + 1
    first = stdout[failures:summary]
    clipped = f"\n[… {len(first) - first_chars:,} more characters of failures …]\n" if len(first) > first_chars else ""
    return first[:first_chars] + clipped + stdout[summary:]
