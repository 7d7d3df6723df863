"""ptc_jupyter.mcp.magics: `%ptc_mcp` line parsing (one-line UsageErrors) and the magic on a headless shell."""

from __future__ import annotations

import subprocess
import sys

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from mcp_support import DEMO, FINANCE, ROOT, server_processes

import ptc_jupyter.mcp as ptc_mcp
from ptc_jupyter.calls.tools import registry
from ptc_jupyter.mcp.magics import AddServer, ListServers, MCPMagics, RemoveServer, parse_line


# -- parsing -----------------------------------------------------------------------------------
def test_add_stdio_keeps_everything_after_the_separator_as_the_command():
    assert parse_line("add finance --env A=1 --env B=x=y --cwd /tmp -- python server.py --flag 'a b'") == AddServer(
        name="finance", command=("python", "server.py", "--flag", "a b"), env={"A": "1", "B": "x=y"}, cwd="/tmp"
    )


def test_add_http_with_headers_and_options():
    assert parse_line(
        "add docs --url http://127.0.0.1:8000/mcp --header 'Authorization=Bearer t' --prefix "
        "--call-timeout 5 --start-timeout 9"
    ) == AddServer(
        name="docs",
        url="http://127.0.0.1:8000/mcp",
        headers={"Authorization": "Bearer t"},
        prefix=True,
        call_timeout=5.0,
        start_timeout=9.0,
    )


def test_list_and_remove():
    assert parse_line("list") == ListServers()
    assert parse_line("  remove finance ") == RemoveServer("finance")


def test_options_may_come_anywhere_before_the_separator_and_none_after_it_is_ours():
    assert parse_line("add --prefix finance --cwd /srv -- npx -y server --url x --prefix") == AddServer(
        name="finance", command=("npx", "-y", "server", "--url", "x", "--prefix"), cwd="/srv", prefix=True
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("", "missing subcommand"),
        ("start finance", "unknown subcommand 'start'"),
        ("add finance", "either '-- COMMAND"),
        ("add finance --url http://h/mcp -- python s.py", "either '-- COMMAND"),
        ("add finance --", "nothing after '--'"),
        ("add -- python s.py", "the following arguments are required: name"),
        ("add finance --header X -- python s.py", "--header applies to --url servers"),
        ("add docs --url http://h/mcp --header novalue", "--header takes KEY=VALUE, got 'novalue'"),
        ("add docs --url http://h/mcp --env A=1", "--env and --cwd apply to stdio servers"),
        ("add docs --bogus 1 --url http://h/mcp", "unrecognized arguments: --bogus 1"),
        ("add docs --url 'http://h/mcp", "cannot split the line"),
        ("remove", "remove takes one server NAME"),
        ("remove a b", "unrecognized arguments: b"),
        ("remove a --prefix", "remove takes one server NAME"),
        ("list all", "list takes no arguments"),
        ("list --url http://h/mcp", "list takes no arguments"),
        ("add x --call-timeout soon -- python s.py", "argument --call-timeout: invalid float value: 'soon'"),
    ],
)
def test_bad_lines_are_one_line_usage_errors(line, problem):
    with pytest.raises(UsageError) as caught:
        parse_line(line)
    message = str(caught.value)
    assert message.startswith("%ptc_mcp: ") and problem in message and "\n" not in message


# -- the magic in a shell ----------------------------------------------------------------------
@pytest.fixture
def shell():
    ip = InteractiveShell.instance()
    ip.register_magics(MCPMagics)
    yield ip
    ptc_mcp.close_all()
    assert server_processes() == []


def test_the_question_mark_shows_every_form_and_option(shell, capsys):
    shell.run_cell("%ptc_mcp?")
    shown = capsys.readouterr().out
    assert "%ptc_mcp add NAME [--env K=V] [--cwd DIR] [--prefix] -- COMMAND [ARGS...]" in shown
    assert "%ptc_mcp add NAME --url URL [--header K=V] [--prefix]" in shown
    assert "%ptc_mcp list" in shown and "%ptc_mcp remove NAME" in shown
    for option in ("--url", "--header", "--env", "--cwd", "--prefix", "--call-timeout", "--start-timeout"):
        assert option in shown


def test_add_list_remove_in_a_notebook(shell, capsys):
    shell.run_line_magic("ptc_mcp", f"add finance -- python {FINANCE}")
    out = capsys.readouterr().out
    assert out.startswith("ptc: MCP server finance connected in ")
    assert out.rstrip().endswith("2 tools: get_stock_price, get_company_info")
    assert registry["get_stock_price"].source == "mcp:finance"

    shell.run_line_magic("ptc_mcp", "list")
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "state", "transport", "tools", "target"]
    assert table[1].split()[:3] == ["finance", "ready", "stdio"]

    shell.run_line_magic("ptc_mcp", "remove finance")
    assert capsys.readouterr().out == "ptc: removed MCP server finance (2 tools unregistered)\n"
    assert "get_stock_price" not in registry
    shell.run_line_magic("ptc_mcp", "list")
    assert capsys.readouterr().out.startswith("ptc: no MCP servers")


def test_config_defaults_apply_and_options_win(shell):
    shell.run_line_magic("config", "MCPMagics.call_timeout = 7")
    try:
        shell.run_line_magic("ptc_mcp", f"add demo -- python {DEMO}")
        shell.run_line_magic("ptc_mcp", f"add demo2 --call-timeout 3 --prefix -- python {DEMO}")
        timeouts = {s.name: s.call_timeout_s for s in ptc_mcp.servers()}
        assert timeouts == {"demo": 7.0, "demo2": 3.0}
        assert "demo2_add" in registry and registry["add"].source == "mcp:demo"
    finally:
        shell.run_line_magic("config", "MCPMagics.call_timeout = 120.0")


def test_errors_show_without_a_traceback(shell, capsys):
    result = shell.run_cell("%ptc_mcp remove nothing")
    assert isinstance(result.error_in_exec, UsageError)
    assert capsys.readouterr().err.strip() == ("UsageError: %ptc_mcp: no MCP server named 'nothing' (connected: none)")
    result = shell.run_cell(f"%ptc_mcp add zero --call-timeout 0 -- python {DEMO}")
    assert isinstance(result.error_in_exec, UsageError)
    assert capsys.readouterr().err.strip() == "UsageError: %ptc_mcp: timeouts must be positive numbers of seconds"
    result = shell.run_cell(f"%ptc_mcp add broken --env DEMO_FAIL_AT_START=1 -- python {DEMO}")
    assert type(result.error_in_exec).__name__ == "MCPServerError"
    shown = capsys.readouterr().out
    assert shown.startswith("MCPServerError: MCP server 'broken' failed to start")
    assert "DEMO_TOKEN is not set" in shown and "Traceback" not in shown


def test_registering_the_magic_does_not_load_the_mcp_sdk():
    code = (
        "import sys; from ptc_jupyter.mcp.magics import MCPMagics; "
        "print(sorted(m for m in ('mcp', 'anthropic', 'ptc_jupyter.mcp.api') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr[-500:]  # `%load_ext ptc_jupyter` stays quick
