"""What a `%%ptc` line means: its flags and `%config` traits, made from `RunOptions`, parsed into `CellOptions`.

The magic only parses; the run gets a `CellOptions` (its `RunOptions` plus what only a cell has:
`-o`, `--compare`, `--record`/`--replay`, `--tools`, the live view). The flags of run settings and
the traits behind `%config PTCMagics.<name>` are generated from `RunOptions`' fields, so each
setting is declared once. Every mistake is a one-line `UsageError`, never a traceback.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import traitlets
from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ptc_jupyter.calls.tools import registry
from ptc_jupyter.errors import OptionError
from ptc_jupyter.host.attachments import path_problem
from ptc_jupyter.options import NOT_GIVEN, RunOptions, Setting

DEFAULT_UPDATE_INTERVAL_S = 0.25


@dataclass(frozen=True)
class CellOptions:
    """One `%%ptc` cell's settings: the run's, and those only a cell has."""

    run: RunOptions = RunOptions()
    out: str | None = None
    compare: bool = False
    record: str | None = None
    replay: str | None = None
    replay_strict: bool = False  # a request that drifted from the recorded one fails the run
    files: tuple[tuple[str, Any], ...] = ()  # input files: (name, path or DataFrame)
    continue_conversation: bool = False  # --continue: the previous %%ptc cell's conversation goes on
    tools: tuple[str, ...] | None = None  # None: every registered tool
    live: bool | None = None  # None: a live widget view when the frontend can show one
    update_interval_s: float = DEFAULT_UPDATE_INTERVAL_S


def _flag_dest(f_name: str) -> str:
    return f"opt_{f_name}"


def _argument_for(f: Any, s: Setting) -> list[Callable[[Any], Any]]:
    """The argparse option(s) of one run setting; None as default means "not given on the line"."""
    dest = _flag_dest(f.name)
    kind = typing.get_type_hints(RunOptions)[f.name]
    if kind in (bool, bool | None):
        on = argument(s.flag, action="store_true", default=None, dest=dest, help=s.help)
        if not s.off_flag:
            return [on]
        off = argument(s.off_flag, action="store_false", dest=dest, help=f"turn {s.flag} off for this cell")
        return [on, off]
    convert: Callable[[str], Any] = str
    if kind in (int, int | None):
        convert = int
    elif kind in (float, float | None):
        convert = float
    extra = {"choices": s.choices} if s.choices else {}
    return [argument(s.flag, type=convert, metavar=s.metavar, dest=dest, default=None, help=s.help, **extra)]


def ptc_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """The `%%ptc` options (decorate the magic with it, so `%%ptc?` shows them)."""
    decorators: list[Callable[[Any], Any]] = [
        magic_arguments(name="%ptc"),  # the usage line then reads "%%ptc ..."
        argument("-o", "--out", metavar="VAR", help="store the Run in this variable"),
    ]
    for f, s in RunOptions.settings():
        if s.flag:
            decorators += _argument_for(f, s)
    decorators += [
        argument("--compare", action="store_true", help="run with PTC, then directly; the trace shows what PTC saved"),
        argument("--tools", metavar="A,B", help="offer only these registered tools (comma separated)"),
        argument("--record", metavar="PATH", help="save the API exchange to PATH (JSON lines, no key)"),
        argument("--replay", metavar="PATH", help="answer from a --record file instead of the API"),
        argument(
            "--file",
            action="append",
            default=[],
            metavar="PATH",
            dest="files",
            help="upload a file (or a DataFrame variable, as CSV) for the script to read in $INPUT_DIR (repeatable)",
        ),
        argument(
            "--continue",
            action="store_true",
            default=None,
            dest="continue_",
            help="continue the previous %%%%ptc cell's conversation (its messages and container)",
        ),
        argument(
            "--new",
            action="store_false",
            dest="continue_",
            help="start a new conversation (the default unless PTCMagics.continue_conversation)",
        ),
        argument(
            "--replay-strict",
            action="store_true",
            help="with --replay: fail the run where a request differs from the recorded one",
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def config_traits() -> dict[str, traitlets.TraitType]:
    """The `%config PTCMagics.<name>` traits: one per configurable run setting, plus the view's."""
    defaults = RunOptions()
    traits: dict[str, traitlets.TraitType] = {}
    hints = typing.get_type_hints(RunOptions)
    for f, s in RunOptions.settings():
        if not s.config:
            continue
        value, kind = getattr(defaults, f.name), hints[f.name]
        if f.name == "executor":  # %config deep-copies values: name a kernel variable instead
            trait: traitlets.TraitType = traitlets.Any(value, allow_none=True)
        elif kind in (bool, bool | None):
            trait = traitlets.Bool(value, allow_none=kind is not bool)  # type: ignore[call-overload]
        elif kind in (int, int | None):  # (traitlets' stubs want allow_none as a literal)
            trait = traitlets.Int(value, allow_none=kind is not int)  # type: ignore[call-overload]
        elif kind in (float, float | None):
            trait = traitlets.Float(value, allow_none=kind is not float)  # type: ignore[call-overload]
        else:
            trait = traitlets.Unicode(value, allow_none=kind is not str)  # type: ignore[call-overload]
        traits[s.config] = trait.tag(config=True)
        traits[s.config].help = s.help
    traits["live"] = traitlets.Bool(
        None, allow_none=True, help="Live widget view: True/False, None = when the frontend is interactive."
    ).tag(config=True)
    traits["continue_conversation"] = traitlets.Bool(
        False, help="Every %%ptc cell continues the previous one's conversation (--new starts afresh)."
    ).tag(config=True)
    traits["update_interval"] = traitlets.Float(
        DEFAULT_UPDATE_INTERVAL_S, help="Seconds between live view redraws."
    ).tag(config=True)
    return traits


def _usage(message: str) -> UsageError:
    return UsageError(message.replace("\n", " "))


def _option_name(option: str) -> str:
    """How a cell names a setting in an error: its flag, else its trait."""
    for f, s in RunOptions.settings():
        if f.name == option:
            return s.flag or f"PTCMagics.{s.config}"
    return option


def parse_cell_options(
    magic: Callable[..., Any], line: str, config: Mapping[str, Any], namespace: Mapping[str, Any]
) -> CellOptions:
    """Parse a `%%ptc` line; what the line leaves out comes from `config` (the traits' values)."""
    try:
        args = parse_argstring(magic, line)
    except ValueError as exc:  # shlex: unbalanced quotes
        raise _usage(f"%%ptc: cannot parse the options ({exc})") from None
    if args.out is not None and not args.out.isidentifier():
        raise _usage(f"%%ptc: -o/--out needs a Python variable name, got {args.out!r}")
    if args.opt_direct and args.compare:
        raise _usage("%%ptc: --compare already runs both ways; leave out --direct")
    if args.record and args.replay:
        raise _usage("%%ptc: use --record or --replay, not both")
    if args.replay and not os.path.isfile(args.replay):
        raise _usage(f"%%ptc: --replay file not found: {args.replay}")
    continue_ = config.get("continue_conversation", False) if args.continue_ is None else args.continue_
    if continue_ and args.compare:
        raise _usage("%%ptc: --compare runs the prompt twice from scratch; leave out --continue")
    if args.replay_strict and not args.replay:
        raise _usage("%%ptc: --replay-strict needs --replay PATH")
    values: dict[str, Any] = {}
    for f, s in RunOptions.settings():
        given = getattr(args, _flag_dest(f.name), None) if s.flag else None
        if given is None and s.config:
            given = config.get(s.config)
        values[f.name] = given if given is not None else NOT_GIVEN
    if values["executor"] is not NOT_GIVEN:
        values["executor"] = executor_named(values["executor"], namespace)
    try:
        run = RunOptions.build(**values)
    except OptionError as exc:
        raise _usage(f"%%ptc: {_option_name(exc.option)} {exc.reason}") from None
    return CellOptions(
        run=run,
        out=args.out,
        compare=args.compare,
        record=args.record,
        replay=args.replay,
        replay_strict=args.replay_strict,
        files=_files(args.files, namespace),
        continue_conversation=bool(continue_),
        tools=_tools(args.tools),
        live=config.get("live"),
        update_interval_s=float(config.get("update_interval") or DEFAULT_UPDATE_INTERVAL_S),
    )


def _files(specs: list[str], namespace: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Each `--file`: a path, or the name of a kernel variable holding a DataFrame (sent as NAME.csv)."""
    chosen: list[tuple[str, Any]] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if spec.isidentifier() and not path.exists() and hasattr(namespace.get(spec), "to_csv"):
            chosen.append((f"{spec}.csv", namespace[spec]))
            continue
        problem = path_problem(path)
        if problem is None:
            chosen.append((path.name, path))
        elif not path.exists():
            raise _usage(f"%%ptc: --file {spec}: no such file, nor a DataFrame variable of that name")
        else:
            raise _usage(f"%%ptc: --file {problem}")
    names = [name for name, _ in chosen]
    if len(set(names)) != len(names):
        raise _usage(f"%%ptc: --file names must differ, got {', '.join(names)}")
    return tuple(chosen)


def _tools(spec: str | None) -> tuple[str, ...] | None:
    if spec is None:
        return None
    tools = tuple(t.strip() for t in spec.split(",") if t.strip())
    unknown = [t for t in tools if t not in registry]
    if unknown or not tools:
        known = ", ".join(registry.names()) or "none registered"
        raise _usage(f"%%ptc: unknown tool(s) {', '.join(unknown) or '(empty --tools)'}; registered: {known}")
    return tools


def executor_named(value: Any, namespace: Mapping[str, Any]) -> Executor:
    """An Executor given as itself or by the name of a kernel variable holding one."""
    if isinstance(value, Executor):
        return value
    found = namespace.get(value) if isinstance(value, str) else None
    if found is None:
        raise _usage(f"ptc: executor {value!r}: no such variable in the kernel")
    if not isinstance(found, Executor):
        raise _usage(f"ptc: executor {value!r} is a {type(found).__name__}, not a concurrent.futures.Executor")
    return found


__all__ = ["CellOptions", "config_traits", "executor_named", "parse_cell_options", "ptc_arguments"]
