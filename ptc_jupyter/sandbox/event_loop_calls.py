"""A script's module-level `asyncio.run(coro)` made to work where an event loop already runs.

Claude's scripts end with `asyncio.run(main())` as often as they use top-level `await`
(shared/ptc-protocol.md, item 22). Where a script runs here (the sandbox's REPL, a `%ptc_script`
cell in a kernel), its module-level code runs inside an event loop, so `asyncio.run` would raise
"cannot be called from a running event loop". `await_loop_calls` rewrites the source: every
module-level `asyncio.run(X, ...)` and `<loop>.run_until_complete(X)` becomes `await (X)`, which
the REPL and IPython run as top-level `await`, with the same output as the container's.

The rewrite is textual, guided by the syntax tree, and keeps every line and (where the text is
long enough) every column where it was, so a traceback points at the text Claude wrote. Calls inside functions and
classes are left alone (a synchronous function cannot await). Standard library only: the REPL
loads this file by path.
"""

from __future__ import annotations

import ast

#: Function definitions, classes, lambdas and comprehensions: scopes where `await` would not run
#: the call in the script's own loop, so calls inside them are not rewritten.
_OTHER_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def await_loop_calls(source: str) -> str:
    """`source` with its module-level event-loop calls turned into `await`; unchanged if there are
    none or it does not parse (compiling it then reports the error)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    calls = _loop_calls(tree)
    if not calls:
        return source
    data = source.encode("utf-8")
    starts = _line_starts(data)

    def offset(line: int, col: int) -> int:  # ast columns count UTF-8 bytes
        return starts[line - 1] + col

    edits: list[tuple[int, int, bytes]] = []
    for call in calls:
        arg = call.args[0]
        head = (offset(call.lineno, call.col_offset), offset(arg.lineno, arg.col_offset))
        assert arg.end_lineno is not None and arg.end_col_offset is not None  # set by ast.parse
        assert call.end_lineno is not None and call.end_col_offset is not None
        tail = (offset(arg.end_lineno, arg.end_col_offset), offset(call.end_lineno, call.end_col_offset))
        edits.append((*head, _same_shape(b"await (", data[slice(*head)], at_start=True)))
        edits.append((*tail, _same_shape(b")", data[slice(*tail)], at_start=False)))
    for start, end, text in sorted(edits, reverse=True):
        data = data[:start] + text + data[end:]
    return data.decode("utf-8")


def _same_shape(text: bytes, replaced: bytes, *, at_start: bool) -> bytes:
    """`text` in place of `replaced`, padded with spaces and the same newlines, so that what
    follows keeps its line and, if possible, its column. Newlines stay inside the parentheses."""
    newlines = b"\n" * replaced.count(b"\n")
    if at_start:
        first = replaced.split(b"\n", 1)[0]
        pad = b" " * (len(first) - len(text)) if len(first) >= len(text) else b""
        return text + pad + newlines + b" " * len(replaced.rsplit(b"\n", 1)[-1]) if newlines else text + pad
    last = replaced.rsplit(b"\n", 1)[-1]
    return newlines + text + b" " * max(len(last) - len(text), 0)


def _line_starts(data: bytes) -> list[int]:
    starts, position = [0], 0
    for line in data.splitlines(keepends=True):
        position += len(line)
        starts.append(position)
    return starts


def _loop_calls(tree: ast.Module) -> list[ast.Call]:
    """The module-level calls that run a coroutine in a new or an idle event loop."""
    modules, functions = _asyncio_names(tree)
    found: list[ast.Call] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _OTHER_SCOPES):
                continue
            if isinstance(child, ast.Call) and _runs_a_coroutine(child, modules, functions):
                found.append(child)
                continue  # a loop call inside its own argument is not the script's to rewrite
            visit(child)

    visit(tree)
    return found


def _asyncio_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names bound to the asyncio module (`import asyncio [as aio]`) and to `asyncio.run`
    (`from asyncio import run [as r]`)."""
    modules: set[str] = {"asyncio"}
    functions: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names if a.name == "asyncio")
        elif isinstance(node, ast.ImportFrom) and node.module == "asyncio" and node.level == 0:
            functions.update(a.asname or a.name for a in node.names if a.name == "run")
    return modules, functions


def _runs_a_coroutine(call: ast.Call, modules: set[str], functions: set[str]) -> bool:
    if len(call.args) != 1 or isinstance(call.args[0], ast.Starred):
        return False
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in functions
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "run":
        return isinstance(func.value, ast.Name) and func.value.id in modules
    return func.attr == "run_until_complete" and not call.keywords
