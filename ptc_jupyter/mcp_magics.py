"""`%ptc_mcp`: connect MCP servers from a notebook (their tools become PTC tools).

    %ptc_mcp add finance -- python examples/finance_server.py
    %ptc_mcp add docs --url http://127.0.0.1:8000/mcp --header "Authorization=Bearer $TOKEN"
    %ptc_mcp list
    %ptc_mcp remove finance

The line is parsed into a small options object (`parse_line`); the work is `ptc_jupyter.mcp`'s.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field
from typing import NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Float

from .mcp import MCPServerError, ServerStatus, add, remove, servers
from .mcp_client import DEFAULT_CALL_TIMEOUT_S, DEFAULT_START_TIMEOUT_S

USAGE = ("usage: %ptc_mcp add NAME [--env K=V] [--cwd DIR] [--prefix] -- COMMAND [ARGS...] | "
         "add NAME --url URL [--header K=V] [--prefix] | list | remove NAME")


@dataclass(frozen=True)
class AddServer:
    name: str
    command: tuple[str, ...] = ()
    url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    prefix: bool = False
    call_timeout: float | None = None
    start_timeout: float | None = None


@dataclass(frozen=True)
class ListServers:
    pass


@dataclass(frozen=True)
class RemoveServer:
    name: str


def _usage(problem: str) -> NoReturn:
    raise UsageError(f"%ptc_mcp: {problem} ({USAGE})")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _usage(message)


def _add_parser() -> _Parser:
    parser = _Parser(prog="%ptc_mcp add", add_help=False)
    parser.add_argument("name")
    parser.add_argument("--url")
    parser.add_argument("--header", action="append", default=[], metavar="K=V")
    parser.add_argument("--env", action="append", default=[], metavar="K=V")
    parser.add_argument("--cwd")
    parser.add_argument("--prefix", action="store_true", help="name every tool NAME_<tool>")
    parser.add_argument("--call-timeout", type=float, metavar="SECONDS")
    parser.add_argument("--start-timeout", type=float, metavar="SECONDS")
    return parser


def _pairs(items: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _usage(f"{option} takes KEY=VALUE, got {item!r}")
        pairs[key.strip()] = value
    return pairs


def parse_line(line: str) -> AddServer | ListServers | RemoveServer:
    """The `%ptc_mcp` line as an options object; bad input raises a one-line `UsageError`."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        _usage(f"cannot split the line: {exc}")
    if not words:
        _usage("missing subcommand")
    sub, rest = words[0], words[1:]
    if sub == "list":
        if rest:
            _usage("list takes no arguments")
        return ListServers()
    if sub == "remove":
        if len(rest) != 1:
            _usage("remove takes one server NAME")
        return RemoveServer(rest[0])
    if sub != "add":
        _usage(f"unknown subcommand {sub!r}")
    command: list[str] = []
    if "--" in rest:
        cut = rest.index("--")
        rest, command = rest[:cut], rest[cut + 1:]
        if not command:
            _usage("nothing after '--': give the command that starts the server")
    options = _add_parser().parse_args(rest)
    if bool(command) == bool(options.url):
        _usage("add needs either '-- COMMAND [ARGS...]' (stdio) or '--url URL' (HTTP), not both")
    if options.url and (options.env or options.cwd):
        _usage("--env and --cwd apply to stdio servers ('-- COMMAND'), not to --url")
    if command and options.header:
        _usage("--header applies to --url servers")
    return AddServer(
        name=options.name, command=tuple(command), url=options.url,
        env=_pairs(options.env, "--env"), cwd=options.cwd, headers=_pairs(options.header, "--header"),
        prefix=options.prefix, call_timeout=options.call_timeout, start_timeout=options.start_timeout,
    )


def servers_table(statuses: list[ServerStatus]) -> str:
    if not statuses:
        return "ptc: no MCP servers (add one with %ptc_mcp add NAME -- COMMAND [ARGS...])"
    head = ("name", "state", "transport", "tools", "target")
    rows = [(s.name, s.state, s.transport, ", ".join(s.tools) or "-", s.target) for s in statuses]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] for r in [head, *rows]]
    for status in statuses:
        if status.failure:
            lines.append(f"\n{status.failure}")
    return "\n".join(lines)


@magics_class
class MCPMagics(Magics):
    """`%ptc_mcp add|list|remove`. Defaults: `%config MCPMagics.call_timeout = 60`."""

    call_timeout = Float(DEFAULT_CALL_TIMEOUT_S, config=True,
                         help="Seconds an MCP tool call may take before the server is checked for a hang.")
    start_timeout = Float(DEFAULT_START_TIMEOUT_S, config=True, help="Seconds an MCP server may take to start.")

    @line_magic
    def ptc_mcp(self, line: str) -> None:
        """Connect MCP servers (their tools become PTC tools): add, list, remove."""
        request = parse_line(line)
        if isinstance(request, ListServers):
            print(servers_table(servers()))
        elif isinstance(request, RemoveServer):
            try:
                status = remove(request.name)
            except KeyError as exc:
                raise UsageError(f"%ptc_mcp: {exc.args[0]}") from None
            print(f"ptc: removed MCP server {status.name} ({len(status.tools)} tools unregistered)")
        else:
            print(self._add(request))

    def _add(self, request: AddServer) -> str:
        try:
            status = add(
                request.name, list(request.command) or None, url=request.url, env=request.env or None,
                cwd=request.cwd, headers=request.headers or None, prefix=request.prefix,
                call_timeout=request.call_timeout or self.call_timeout,
                start_timeout=request.start_timeout or self.start_timeout,
            )
        except MCPServerError:
            raise  # shown without a traceback: the server's name and its stderr tail
        except ValueError as exc:
            raise UsageError(f"%ptc_mcp: {exc}") from None
        took = f" in {status.connect_s:.2f} s" if status.connect_s is not None else ""
        count = f"{len(status.tools)} tool{'s' * (len(status.tools) != 1)}"
        lines = [f"ptc: MCP server {status.name} connected{took} ({status.transport}: {status.target}); "
                 f"{count}: {', '.join(status.tools) or '-'}"]
        lines += [f"  skipped {name}: {why}" for name, why in status.skipped.items()]
        return "\n".join(lines)
