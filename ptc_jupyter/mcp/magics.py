"""`%ptc_mcp`: connect MCP servers from a notebook (their tools become PTC tools).

    %ptc_mcp add finance -- python examples/finance_server.py
    %ptc_mcp add docs --url http://127.0.0.1:8000/mcp --header "Authorization=Bearer $TOKEN"
    %ptc_mcp list
    %ptc_mcp remove finance

The options are declared with IPython's `magic_arguments` (so `%ptc_mcp?` shows them); `parse_line`
turns a line into a small options object and the work is `ptc_jupyter.mcp`'s, whose MCP SDK loads
with the first `%ptc_mcp`, not with `%load_ext`. The line is split
the POSIX way (quotes removed, as a shell does) because IPython's `parse_argstring` keeps quotes,
which would end up inside a server's command and headers; everything after `--` is the command.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, kwds, magic_arguments
from traitlets import Float

from ptc_jupyter.mcp.spec import DEFAULT_CALL_TIMEOUT_S, DEFAULT_START_TIMEOUT_S

if TYPE_CHECKING:
    from ptc_jupyter.mcp.api import ServerStatus

FORMS = (
    "add NAME [--env K=V] [--cwd DIR] [--prefix] -- COMMAND [ARGS...]",
    "add NAME --url URL [--header K=V] [--prefix]",
    "list",
    "remove NAME",
)
USAGE = "usage: %ptc_mcp " + " | ".join(FORMS)
SUBCOMMANDS = ("add", "list", "remove")


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


def mcp_arguments(func: Any) -> Any:
    """The `%ptc_mcp` options (decorate the magic with it, so `%ptc_mcp?` shows them)."""
    decorators = [
        magic_arguments(),
        kwds(
            usage="\n  %%".join(f"ptc_mcp {form}" for form in FORMS),
            epilog="`python` as the COMMAND means the kernel's interpreter. Default timeouts: "
            "%config MCPMagics.call_timeout = SECONDS (and MCPMagics.start_timeout).",
        ),
        argument("subcommand", metavar="add|list|remove", help="connect a server, show them, or close one"),
        argument("name", nargs="?", metavar="NAME", help="the server's name (its tools' source is mcp:NAME)"),
        argument("--url", help="a streamable HTTP server (instead of '-- COMMAND [ARGS...]', a stdio one)"),
        argument("--header", action="append", default=[], metavar="K=V", help="an HTTP header (--url servers)"),
        argument(
            "--env",
            action="append",
            default=[],
            metavar="K=V",
            help="an environment variable of the server process (stdio servers)",
        ),
        argument("--cwd", metavar="DIR", help="the server process's working directory (stdio servers)"),
        argument("--prefix", action="store_true", help="name every tool NAME_<tool>"),
        argument(
            "--call-timeout",
            type=float,
            metavar="SECONDS",
            dest="call_timeout",
            help="seconds a call may take before the server is checked for a hang",
        ),
        argument(
            "--start-timeout",
            type=float,
            metavar="SECONDS",
            dest="start_timeout",
            help="seconds the server may take to start",
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


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
    command: list[str] = []
    if "--" in words:
        cut = words.index("--")
        words, command = words[:cut], words[cut + 1 :]
        if not command:
            _usage("nothing after '--': give the command that starts the server")
    try:
        args = MCPMagics.ptc_mcp.parser.parse_intermixed_args(words)  # options before or after NAME
    except UsageError as exc:  # argparse's own complaint, e.g. an unknown option
        _usage(str(exc))
    if args.subcommand not in SUBCOMMANDS:
        _usage(f"unknown subcommand {args.subcommand!r}")
    options = {key: value for key, value in vars(args).items() if key not in ("subcommand", "name")}
    given = sorted(key for key, value in options.items() if value not in (None, False, []))
    if args.subcommand == "list":
        if args.name or command or given:
            _usage("list takes no arguments")
        return ListServers()
    if args.subcommand == "remove":
        if not args.name or command or given:
            _usage("remove takes one server NAME")
        return RemoveServer(args.name)
    if not args.name:
        _usage("the following arguments are required: name")
    if bool(command) == bool(args.url):
        _usage("add needs either '-- COMMAND [ARGS...]' (stdio) or '--url URL' (HTTP), not both")
    if args.url and (args.env or args.cwd):
        _usage("--env and --cwd apply to stdio servers ('-- COMMAND'), not to --url")
    if command and args.header:
        _usage("--header applies to --url servers")
    return AddServer(
        name=args.name,
        command=tuple(command),
        url=args.url,
        env=_pairs(args.env, "--env"),
        cwd=args.cwd,
        headers=_pairs(args.header, "--header"),
        prefix=args.prefix,
        call_timeout=args.call_timeout,
        start_timeout=args.start_timeout,
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


def connected(status: ServerStatus) -> str:
    """What `%ptc_mcp add` prints: how long the start took, and the tools it contributed (or skipped)."""
    took = f" in {status.connect_s:.2f} s" if status.connect_s is not None else ""
    count = f"{len(status.tools)} tool{'s' * (len(status.tools) != 1)}"
    lines = [
        f"ptc: MCP server {status.name} connected{took} ({status.transport}: {status.target}); "
        f"{count}: {', '.join(status.tools) or '-'}"
    ]
    lines += [f"  skipped {name}: {why}" for name, why in status.skipped.items()]
    return "\n".join(lines)


@magics_class
class MCPMagics(Magics):
    """`%ptc_mcp add|list|remove`. Defaults: `%config MCPMagics.call_timeout = 60`."""

    call_timeout = Float(
        DEFAULT_CALL_TIMEOUT_S,
        config=True,
        help="Seconds an MCP tool call may take before the server is checked for a hang.",
    )
    start_timeout = Float(DEFAULT_START_TIMEOUT_S, config=True, help="Seconds an MCP server may take to start.")

    @mcp_arguments
    @line_magic
    def ptc_mcp(self, line: str) -> None:
        """Connect MCP servers (their tools become PTC tools): add, list, remove."""
        from ptc_jupyter.mcp import api

        request = parse_line(line)
        if isinstance(request, ListServers):
            print(servers_table(api.servers()))
        elif isinstance(request, RemoveServer):
            try:
                status = api.remove(request.name)
            except KeyError as exc:
                raise UsageError(f"%ptc_mcp: {exc.args[0]}") from None
            print(f"ptc: removed MCP server {status.name} ({len(status.tools)} tools unregistered)")
        else:
            print(connected(self._add(request)))

    def _add(self, request: AddServer) -> ServerStatus:
        """`MCPServerError` (a server that does not start) shows as is: its name and its stderr tail."""
        from ptc_jupyter.mcp import api

        try:
            return api.add(
                request.name,
                list(request.command) or None,
                url=request.url,
                env=request.env or None,
                cwd=request.cwd,
                headers=request.headers or None,
                prefix=request.prefix,
                call_timeout=self.call_timeout if request.call_timeout is None else request.call_timeout,
                start_timeout=self.start_timeout if request.start_timeout is None else request.start_timeout,
            )
        except ValueError as exc:
            raise UsageError(f"%ptc_mcp: {exc}") from None
