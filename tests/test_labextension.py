"""The JupyterLab extension as installed: listed, enabled, consistent with the Python side,
shipped in the wheel, and built so that no trace content can become HTML."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trace_samples import MIME_TYPE, trace

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "labextension"
INSTALLED = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "ptc-jupyter"


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )


def test_labextension_list_shows_it_enabled_and_ok(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        capture_output=True,
        text=True,
        env=_isolated_env(tmp_path),
        timeout=120,
    )
    listing = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # drop colours
    line = next((entry for entry in listing.splitlines() if "ptc-jupyter" in entry), None)
    assert line is not None, f"ptc-jupyter not listed (pip install -e . builds it):\n{listing}"
    version = json.loads((SOURCE / "package.json").read_text())["version"]
    assert re.search(rf"ptc-jupyter v{re.escape(version)} enabled\s+OK", line), line
    assert "(python, ptc_jupyter)" in line, f"installed without install.json: {line}"


def test_installed_extension_is_the_prebuilt_mime_renderer():
    meta = json.loads((INSTALLED / "package.json").read_text())
    assert meta["name"] == "ptc-jupyter"
    assert meta["jupyterlab"]["_build"]["mimeExtension"]
    assert (INSTALLED / meta["jupyterlab"]["_build"]["load"]).is_file()
    assert json.loads((INSTALLED / "install.json").read_text())["packageName"] == "ptc_jupyter"


def test_a_plugin_beside_the_renderer_hands_it_the_notebook_tracker():
    """ "Copy as cell" inserts below a saved trace: a MIME renderer gets no DI tokens, so the
    package also has a regular plugin (optional INotebookTracker); both are built and installed."""
    declared = json.loads((SOURCE / "package.json").read_text())["jupyterlab"]
    assert declared["mimeExtension"] == "lib/index.js" and declared["extension"] == "lib/plugin.js"
    built = json.loads((INSTALLED / "package.json").read_text())["jupyterlab"]["_build"]
    assert built["extension"] == "./extension" and built["mimeExtension"] == "./mimeExtension"
    plugin = (SOURCE / "src" / "plugin.ts").read_text()
    assert "optional: [INotebookTracker]" in plugin and "requires" not in plugin


def test_one_version_for_the_python_and_npm_packages(tmp_path):
    """labextension/package.json's "version" is the only one: hatch-nodejs-version gives it to the
    Python package (pyproject `dynamic = ["version"]`), so the two cannot drift apart."""
    import importlib.metadata

    import ptc_jupyter

    version = json.loads((SOURCE / "package.json").read_text())["version"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M), "pyproject states a version of its own"
    assert not re.search(r"^version\s*=", pyproject, re.M)
    hatch = subprocess.run(
        [sys.executable, "-m", "hatchling", "version"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert hatch.returncode == 0, hatch.stderr  # needs hatch-nodejs-version (the test extra has it)
    assert hatch.stdout.strip() == version
    assert importlib.metadata.version("ptc-jupyter") == version, "installed from another version: pip install -e ."
    assert ptc_jupyter.__version__ == version


def test_mime_type_matches_python():
    types_ts = (SOURCE / "src" / "types.ts").read_text()
    declared = re.search(r"export const MIME_TYPE = '([^']+)'", types_ts).group(1)
    assert declared == MIME_TYPE == "application/vnd.ptc-jupyter.trace+json"


def test_known_trace_version_matches_python():
    types_ts = (SOURCE / "src" / "types.ts").read_text()
    assert int(re.search(r"export const KNOWN_VERSION = (\d+);", types_ts).group(1)) == trace.TRACE_VERSION


def test_images_come_only_from_checked_data_uris():
    """The one place a trace value becomes a URL: an <img> src, for allow-listed image types
    (the same as files.IMAGE_TYPES) with valid base64; no link takes an href from the trace."""
    from ptc_jupyter.trace.files import IMAGE_TYPES

    sources = {
        p.name: re.sub(r"/\*.*?\*/|//[^\n]*", "", p.read_text(), flags=re.S) for p in (SOURCE / "src").glob("*.ts")
    }
    assignments = [
        (name, line.strip())
        for name, code in sources.items()
        for line in code.splitlines()
        if re.search(r"\.(src|href|srcset|action|data)\s*=[^=]", line)
    ]
    assert assignments == [("files.ts", "img.src = src;")]
    files_ts = sources["files.ts"]
    declared = set(
        re.findall(r"'(image/[a-z+.-]+)'", re.search(r"IMAGE_TYPES = new Set\(\[([^\]]*)\]", files_ts).group(1))
    )
    assert declared == set(IMAGE_TYPES)
    assert "!IMAGE_TYPES.has(file.mediaType) || !BASE64.test(file.data)" in re.sub(r"\s+", " ", files_ts)


def test_renderer_is_safe_and_ranked_before_html():
    index_ts = (SOURCE / "src" / "index.ts").read_text()
    assert re.search(r"safe:\s*true", index_ts)
    ranks = [int(r) for r in re.findall(r"(?:defaultRank|rank):\s*(\d+)", index_ts)]
    assert ranks and all(r < 50 for r in ranks)  # text/html's rank is 50; lower wins


def test_sources_never_parse_html():
    html_sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|"
        r"createContextualFragment|DOMParser|dangerouslySetInnerHTML|setAttribute\('on"
    )
    for path in sorted((SOURCE / "src").glob("*.ts")):
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", path.read_text(), flags=re.S)  # not comments
        hits = [line for line in code.splitlines() if html_sinks.search(line)]
        assert hits == [], f"{path.name} may inject HTML: {hits}"


def test_css_uses_only_theme_variables_for_colors():
    css = (SOURCE / "style" / "base.css").read_text()
    literal = re.findall(
        r"(?:color|background|fill|border[a-z-]*|box-shadow)\s*:[^;]*(?:#[0-9a-fA-F]{3,8}\b|rgb|hsl)", css
    )
    assert literal == [], f"hard-coded colours do not follow the theme: {literal}"


def test_yarn_lock_is_committed_with_the_sources():
    assert (SOURCE / "yarn.lock").stat().st_size > 0


# -- the TypeScript's own checks: unit tests (node --test) and lint (eslint, prettier) ---------------


def _jlpm(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """`jlpm <args>` in labextension/: JupyterLab's yarn (from jupyter-builder), this Python's own
    (beside sys.executable, so a venv need not be activated), else the one on PATH."""
    import shutil

    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    beside = Path(sys.executable).with_name("jlpm")
    jlpm = str(beside) if beside.exists() else shutil.which("jlpm")
    if jlpm is None:
        pytest.fail("jlpm not found: pip install jupyterlab (or jupyter-builder)")
    return subprocess.run(
        [jlpm, *args],
        cwd=SOURCE,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, FORCE_COLOR="0", NO_COLOR="1"),
    )


def test_typescript_unit_tests_pass():
    """`jlpm test`: compiles src/ and test/ (tsconfig.test.json) and runs node's test runner on
    the parse, format, steps, calls and view modules."""
    if not (SOURCE / "node_modules" / "typescript").is_dir():
        pytest.fail("labextension/node_modules missing: run `cd labextension && jlpm install` (pip install -e . does)")
    done = _jlpm("test")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    ran = re.search(r"^\S* ?tests (\d+)$", output, re.M)  # the spec reporter's summary: "ℹ tests 103"
    assert ran and int(ran.group(1)) > 50, f"node --test ran too few tests:\n{output[-3000:]}"
    assert re.search(r"^\S* ?fail 0$", output, re.M), output[-6000:]


def test_typescript_lint_check_passes():
    """`jlpm lint:check`: prettier --check and eslint (the extension template's rules), no warnings."""
    if not (SOURCE / "node_modules" / "eslint").is_dir():
        pytest.skip("eslint is not installed in labextension/node_modules (cd labextension && jlpm install)")
    done = _jlpm("lint:check")
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]


@pytest.mark.slow
def test_wheel_ships_prebuilt_extension_without_node(tmp_path):
    """With the assets built, a wheel build runs no node: PATH holds neither node nor jlpm."""
    if not (ROOT / "ptc_jupyter" / "labextension" / "static" / "style.js").exists():
        pytest.fail("assets missing: run `pip install -e .` (or `cd labextension && jlpm build`) first")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = dict(os.environ, PATH=str(empty_bin))
    out = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    share = [n for n in names if "/data/share/jupyter/labextensions/ptc-jupyter/" in n]
    for needed in ("package.json", "install.json", "static/style.js"):
        assert any(n.endswith(f"labextensions/ptc-jupyter/{needed}") for n in share), needed
    assert any(re.search(r"static/remoteEntry\.[0-9a-f]+\.js$", n) for n in share)
    assert not any(n.startswith("ptc_jupyter/labextension/") for n in names), "assets duplicated in the package"
    assert not any("node_modules" in n for n in names)


# -- "Copy as cell": the TypeScript makes Python's cell, character for character ----------------------

CELLSOURCE_JS = SOURCE / "lib" / "cellsource.js"


def test_copy_as_cell_constants_match_script_cell():
    from ptc_jupyter.notebook import script_cell

    ts = (SOURCE / "src" / "cellsource.ts").read_text()

    def declared(name: str) -> str:
        found = re.search(rf"export const {name} =\s*(['\"])((?:(?!\1)[^\\]|\\.)*)\1;", ts)
        assert found, f"cellsource.ts declares no string {name}"
        return re.sub(r"\\(.)", r"\1", found.group(2))  # prettier picks the quote; escapes undone

    assert declared("BIND_LINE") == script_cell.BIND_LINE
    assert declared("BIND_COMMENT") == script_cell.BIND_COMMENT
    assert declared("CLIPPED_NOTE") == script_cell.CLIPPED_NOTE
    assert declared("INPUT_DIR_NOTE") == script_cell.INPUT_DIR_NOTE
    assert int(re.search(r"export const LABEL_CHARS = (\d+);", ts).group(1)) == script_cell.LABEL_CHARS


def _node_cell_sources(cases: list[dict]) -> list[str]:
    import shutil

    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not CELLSOURCE_JS.exists():
        pytest.fail("labextension/lib missing: run `cd labextension && jlpm build:prod` (pip install -e . does)")
    script = (
        f"import({json.dumps(CELLSOURCE_JS.as_uri())}).then(m => {{ let s = '';"
        "process.stdin.on('data', d => s += d); process.stdin.on('end', () => {"
        "const out = JSON.parse(s).map(c => m.cellSource(c.prompt, c.codes, c.n));"
        "process.stdout.write(JSON.stringify(out)); }); });"
    )
    done = subprocess.run(
        ["node", "--no-warnings", "-e", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


PROMPT_CHARS = st.text(
    alphabet=st.sampled_from(list('ab "\\\t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000\ufeffé🙂…'))
    | st.characters(blacklist_categories=("Cs",)),
    max_size=80,
)
CODES = st.lists(
    st.text(alphabet=st.sampled_from(list("ab\n …[+,]1chars")), max_size=40)
    | st.sampled_from(
        ["x = 1… [+1,234 chars]", "y… [+12 chars]\n", "z… [+3 chars]\n\n", "print(os.listdir(os.environ['INPUT_DIR']))"]
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=4, deadline=None)
@given(
    st.lists(
        st.tuples(
            PROMPT_CHARS
            | st.sampled_from(['\n  Plot the "scores"  \nsecond line', "x" * 59 + "🙂yz", "🙂" * 61, "\u3000\n\x1c\n"]),
            CODES,
            st.integers(1, 3),
        ),
        min_size=150,
        max_size=150,
    )
)
def test_copy_as_cell_source_is_the_same_in_typescript_and_python(cases):
    """Many odd prompts and scripts through both sides at once (one node process)."""
    from ptc_jupyter.notebook.script_cell import cell_source
    from ptc_jupyter.trace.run import Run
    from ptc_jupyter.trace.steps import Step

    prepared = []
    for prompt, codes, n in cases:
        n = min(n, len(codes))
        prepared.append({"prompt": prompt, "codes": codes, "n": n})
    typescript = _node_cell_sources(prepared)
    for case, made in zip(prepared, typescript):
        run = Run(
            prompt=case["prompt"],
            model="m",
            steps=[Step(id=f"s{i}", code=code) for i, code in enumerate(case["codes"])],
        )
        assert made == cell_source(run, case["n"]), case
