"""options.py: one definition of every run setting, its default and its validation."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import ptc_jupyter as ptc
from ptc_jupyter import api, constants
from ptc_jupyter.errors import OptionError
from ptc_jupyter.options import NOT_GIVEN, RunOptions


def test_defaults_come_from_the_constants():
    options = RunOptions()
    assert options.model == constants.DEFAULT_MODEL and options.max_calls == constants.DEFAULT_MAX_CALLS
    assert options.code_execution == constants.DEFAULT_CODE_EXECUTION and options.stream is True


@pytest.mark.parametrize(
    ("values", "option", "reason"),
    [
        ({"max_tokens": 0}, "max_tokens", "must be >= 1"),
        ({"max_calls": -1}, "max_calls", "must be >= 0"),
        ({"max_calls": 2.5}, "max_calls", "whole number"),
        ({"max_calls": True}, "max_calls", "whole number"),
        ({"tool_timeout_s": 0}, "tool_timeout_s", "positive number of seconds"),
        ({"approval_timeout_s": None}, "approval_timeout_s", "positive number of seconds"),
        ({"code_execution": "code_execution_20250825"}, "code_execution", "must be one of"),
        ({"model": " "}, "model", "empty string"),
        ({"stream": "yes"}, "stream", "must be bool"),
        ({"executor": "pool"}, "executor", "concurrent.futures.Executor"),
        ({"container": "c", "new_container": True}, "new_container", "cannot be combined"),
    ],
)
def test_bad_values_name_the_setting(values, option, reason):
    with pytest.raises(OptionError, match=reason) as info:
        RunOptions(**values)
    assert info.value.option == option


def test_variants_are_validated_again():
    with pytest.raises(OptionError):
        dataclasses.replace(RunOptions(), max_tokens=-5)


def test_build_takes_not_given_as_not_given_and_none_as_a_value():
    base = RunOptions(model="m1", max_calls=7, offline=True)
    built = RunOptions.build(base, model=NOT_GIVEN, max_calls=3, tool_timeout_s=NOT_GIVEN)
    assert (built.model, built.max_calls, built.tool_timeout_s) == ("m1", 3, constants.DEFAULT_TOOL_TIMEOUT_S)
    unlimited = RunOptions.build(base, tool_timeout_s=None, offline=None)
    assert unlimited.tool_timeout_s is None and unlimited.offline is None  # no limit; backend by the key
    assert not NOT_GIVEN and repr(NOT_GIVEN) == "NOT_GIVEN" and type(NOT_GIVEN)() is NOT_GIVEN
    with pytest.raises(TypeError, match="unknown run option"):
        RunOptions.build(modle="x")


def test_executor_accepts_any_executor():
    with ThreadPoolExecutor(1) as pool:
        assert RunOptions(executor=pool).executor is pool


def test_run_and_arun_spell_out_every_setting():
    """Explicit keyword parameters (what help() and editors show), one per RunOptions field."""
    for function in (ptc.run, ptc.arun):
        params = inspect.signature(function).parameters
        assert not any(p.kind is p.VAR_KEYWORD for p in params.values()), function
    assert inspect.signature(ptc.run).parameters == inspect.signature(ptc.arun).parameters
    keywords = {api.KEYWORDS.get(f.name, f.name) for f in dataclasses.fields(RunOptions)}
    assert keywords <= set(inspect.signature(ptc.run).parameters)


def test_keyword_errors_use_the_keyword_name():
    with pytest.raises(OptionError, match="^approval_timeout: "):
        ptc.run("x", tools=[], approval_timeout=-1)


def test_the_version_literals_live_in_one_module():
    from pathlib import Path

    package = Path(ptc.__file__).parent
    holders = sorted(
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if "code_execution_2026" in p.read_text() and p.parts[-2] != "emulator"
    )
    assert holders == ["constants.py"]


def test_importing_the_package_loads_no_sdk_widgets_or_server():
    code = (
        "import sys, ptc_jupyter\n"
        "print(sorted(m for m in ('anthropic', 'ipywidgets', 'uvicorn', 'starlette', 'mcp') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_loading_the_extension_loads_no_sdk_widgets_or_server():
    code = (
        "import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'ptc_jupyter')\n"
        "print(sorted(m for m in ('anthropic', 'ipywidgets', 'uvicorn', 'starlette', 'mcp') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
