"""Everything a code-execution container returns, through the full host: the real SDK over HTTP to
the emulator. Steps in order (python, bash, text editor, their errors), output files fetched with
the Files API, input files uploaded, read in the container and deleted afterwards."""

from __future__ import annotations

import asyncio

import anthropic
import pandas as pd
import pytest

import ptc_jupyter as ptc
from ptc_jupyter.emulator import EmulatorConfig, EmulatorServer

PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)

CHART_AND_BASH = f"""Make a chart, then list it.

```python
import os
open(os.path.join(os.environ["OUTPUT_DIR"], "chart.png"), "wb").write(bytes.fromhex("{PNG_1X1.hex()}"))
print("saved")
```

```bash
ls "$OUTPUT_DIR"
```
"""


async def double(x: int) -> int:
    """Twice x. Returns an integer."""
    return 2 * x


@pytest.fixture(scope="module")
def emulator():
    with EmulatorServer(EmulatorConfig(cell_limit_s=2.0)) as server:
        yield server


def run(session, prompt, **options):
    return ptc.run(prompt, tools=[double], offline=True, session=session, **options)


def uploaded_count(emulator) -> int:
    client = anthropic.Anthropic(base_url=emulator.url, api_key=emulator.api_key)
    return sum(1 for f in client.files.list() if not f.downloadable)


def test_a_chart_becomes_a_run_file_and_a_bash_step_follows_in_order(session):
    result = run(session, CHART_AND_BASH)
    assert [s.kind for s in result.steps] == ["python", "bash"]
    python, bash = result.steps
    assert python.stdout.strip() == "saved" and bash.input == {"command": 'ls "$OUTPUT_DIR"'}
    assert bash.stdout.strip() == "chart.png" and bash.return_code == 0
    (chart,) = result.files
    assert (chart.name, chart.media_type, chart.data) == ("chart.png", "image/png", PNG_1X1)
    saved = result.to_dict()
    assert [s["name"] for s in saved["steps"]] == ["code_execution", "bash_code_execution"]
    assert ptc.Run.from_dict(saved).files[0].name == "chart.png"


def test_the_steps_stream_the_same(session):
    assert [s.kind for s in run(session, CHART_AND_BASH, stream=True).steps] == ["python", "bash"]


def test_text_editor_steps_are_recorded_with_their_results(session):
    prompt = """Edit a file.

```text_editor
{"command": "create", "path": "notes.txt", "file_text": "alpha\\nbeta\\n"}
```

```text_editor
{"command": "str_replace", "path": "notes.txt", "old_str": "beta", "new_str": "gamma"}
```

```text_editor
{"command": "view", "path": "missing.txt"}
```
"""
    created, replaced, missing = run(session, prompt).steps
    assert created.kind == replaced.kind == "editor"
    assert created.result_type.endswith("create_result")
    assert replaced.detail["lines"] == ["-beta", "+gamma"]
    assert missing.error_code == "file_not_found"


@pytest.mark.parametrize(
    "fault, code",
    [
        ({"kind": "code_execution_error", "error_code": "unavailable"}, "unavailable"),
        ({"kind": "bash_code_execution_error", "error_code": "output_file_too_large"}, "output_file_too_large"),
    ],
)
def test_error_results_are_kept_on_their_step(emulator, session, fault, code):
    emulator.inject(fault)
    result = run(session, CHART_AND_BASH)
    assert result.status == "completed" and code in [s.error_code for s in result.steps]


def test_an_encrypted_result_is_shown_as_such(emulator, session):
    emulator.inject({"kind": "encrypted_code_execution_result"})
    result = run(session, CHART_AND_BASH)
    assert result.steps[0].encrypted and "(encrypted)" in str(result)


def test_a_cell_past_the_time_limit_says_so(session):
    result = run(session, "Loop.\n\n```python\nimport time\ntime.sleep(30)\n```\n")
    (step,) = result.steps
    assert step.return_code != 0 and "detection_timeout" in step.stderr
    assert "cell time limit" in str(result)


def test_an_input_dataframe_is_read_in_the_container_and_deleted_after(emulator, session):
    before = uploaded_count(emulator)
    sales = pd.DataFrame({"region": ["W", "E", "W"], "sales": [1, 2, 3]})
    prompt = (
        "Total it.\n\n```python\nimport csv, os\n"
        "rows = list(csv.DictReader(open(os.path.join(os.environ['INPUT_DIR'], 'sales.csv'))))\n"
        "print(sum(int(r['sales']) for r in rows))\n```\n"
    )
    result = run(session, prompt, files={"sales.csv": sales})
    assert result.steps[0].stdout.strip() == "6"
    assert any(n.startswith("uploaded 1 input file(s): sales.csv") for n in result.notices)
    assert uploaded_count(emulator) == before


def test_input_files_can_be_kept(emulator, session, tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("n\n1\n2\n")
    before = uploaded_count(emulator)
    prompt = 'Count.\n\n```bash\nwc -l < "$INPUT_DIR/numbers.csv"\n```\n'
    result = run(session, prompt, files=[path], keep_files=True)
    assert result.steps[0].stdout.strip() == "3"
    assert uploaded_count(emulator) == before + 1


def test_a_file_that_cannot_be_fetched_is_kept_with_its_error(emulator, session):
    async def main():
        client = anthropic.AsyncAnthropic(base_url=emulator.url, api_key=emulator.api_key)
        from ptc_jupyter.host.downloads import fetch_output_files

        return await fetch_output_files(client, ["file_does_not_exist"])

    (missing,) = asyncio.run(main())
    assert missing.error and missing.data is None
