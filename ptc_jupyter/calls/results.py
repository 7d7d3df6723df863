"""Tool return values -> the text of a `tool_result` (PTC results must be text), sanitized and capped.

JSON for what Claude's script will parse (dicts, lists, numbers, pydantic models, dataclasses,
DataFrames as records); `str()` for other objects that define a text form. Values that cannot be
a useful result (a generator, an object with neither a JSON nor a text form) raise
`UnusableResult` with a message that says what to return instead.

The text is made safe for the wire and for any terminal or page that shows it: valid UTF-8 (a
surrogate pair is joined, a lone surrogate becomes '?'), no ANSI escape sequences, no control
characters except newline and tab. Inside JSON, control characters in strings stay JSON-escaped
(`\\u001b`): that is data for the script, not terminal codes. HTML is not escaped here; views
escape it when they render. Oversized text is cut at a character boundary with a visible marker;
a huge value is only cleaned as far as the cut, so a 50 MB result is not copied again.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

DEFAULT_RESULT_BYTES = 100_000
#: A DataFrame whose JSON is longer than this is sent as pandas writes it (compact, '/' escaped)
#: instead of being parsed and written again in the house style.
REFORMAT_LIMIT_CHARS = 1_000_000

_CHUNK_CHARS = 1 << 16  # a huge text is cleaned in pieces of this size, only up to the cut
_BATCH_ITEMS = 256  # a list or dict with more items is written to JSON this many items at a time
_BIG_CHARS = 1 << 16  # a string this long inside a list or dict is written on its own
_BIG_DEPTH = 32  # how deep a value is searched for big parts
_SEQUENCE_CHARS = 4096  # an escape sequence longer than this may be cut between two pieces

_UNSAFE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement
    r"|(?:\x1b[\]P_^X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC/DCS/APC strings
    r"|\x1b[ -/]*[0-~]"  # the other escape sequences
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # C0 and C1 controls except tab and newline, and DEL
    r"|[\ud800-\udbff][\udc00-\udfff]"  # a surrogate pair written as two code points
    r"|[\ud800-\udfff]"  # a lone surrogate
)
_INTRODUCER = re.compile(r"[\x1b\x90-\x9f\ud800-\udbff]")  # where a piece must not be cut just after


class UnusableResult(TypeError):
    """A return value that is almost certainly a bug in the tool; the message says what to return."""


def _replacement(match: re.Match[str]) -> str:
    found = match.group()
    if "\ud800" <= found[0] <= "\udfff":
        if len(found) == 2:
            return found.encode("utf-16", "surrogatepass").decode("utf-16")
        return "?"
    return ""


def _refuse(value: Any) -> None:
    """Raise `UnusableResult` for values a tool returns by mistake (checked before any str())."""
    if inspect.isgenerator(value):
        raise UnusableResult("returned a generator; return a list instead (e.g. list(...))")
    if inspect.isasyncgen(value):
        raise UnusableResult("returned an async generator; collect it into a list first ([x async for x in ...])")
    if inspect.isawaitable(value):
        raise UnusableResult("returned an awaitable (a coroutine, task or future) inside its result; await it first")


def _text_form(value: Any) -> str:
    """`str(value)` when the type defines a text form; the default `<X object at 0x...>` is refused."""
    _refuse(value)
    kind = type(value)
    if kind.__str__ is object.__str__ and kind.__repr__ is object.__repr__:
        raise UnusableResult(
            f"returned a {kind.__name__} object, which has no JSON or text form; return a dict, list or str "
            "(or a dataclass or pydantic model), or give the class a __str__"
        )
    return str(value)


def _jsonable(value: Any) -> Any:
    """Fallback for json.dumps: the common scientific/pydantic types, else a text form."""
    if hasattr(value, "model_dump"):  # pydantic v2 model
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "to_dict") and type(value).__module__.startswith("pandas"):
        return _pandas(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return _text_form(value)


def _pandas(value: Any) -> Any:
    kind = type(value).__name__
    if kind == "DataFrame":
        return json.loads(value.to_json(orient="records", date_format="iso"))
    if kind == "Series":
        return json.loads(value.to_json(date_format="iso"))
    return value.to_dict()


def _pandas_text(value: Any) -> str | None:
    """A DataFrame or Series as JSON text, written once by pandas; re-styled only when it is small."""
    kind = type(value).__name__
    if not type(value).__module__.startswith("pandas") or kind not in ("DataFrame", "Series"):
        return None
    orient = {"orient": "records"} if kind == "DataFrame" else {}
    text = value.to_json(date_format="iso", force_ascii=False, **orient)
    if len(text) > REFORMAT_LIMIT_CHARS:
        return text
    return json.dumps(json.loads(text), ensure_ascii=False)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_jsonable, ensure_ascii=False)


def _is_big(value: Any, batch_items: int, big_chars: int, depth: int = 0) -> bool:
    """Worth writing in pieces: a long string, or a list or dict with many items or a big item.
    Looks at most `_BIG_DEPTH` levels down (so a cycle counts as small, and `json.dumps` reports it)."""
    if isinstance(value, str):
        return len(value) > big_chars
    if isinstance(value, dict):
        items: Iterable[Any] = value.values()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return False
    if len(value) > batch_items:
        return True
    if depth >= _BIG_DEPTH:
        return False
    for item in items:
        if isinstance(item, str):
            if len(item) > big_chars:
                return True
        elif isinstance(item, (dict, list, tuple)) and _is_big(item, batch_items, big_chars, depth + 1):
            return True
    return False


def _groups(items: list[Any], is_big: Callable[[Any], bool], batch_items: int) -> Iterator[list[Any]]:
    """Consecutive items in groups of at most `batch_items`; a big item alone in its group."""
    group: list[Any] = []
    for item in items:
        if is_big(item):
            if group:
                yield group
            group = []
            yield [item]
            continue
        group.append(item)
        if len(group) == batch_items:
            yield group
            group = []
    if group:
        yield group


def json_pieces(
    value: Any, *, batch_items: int = _BATCH_ITEMS, big_chars: int = _BIG_CHARS, _outer: frozenset[int] = frozenset()
) -> Iterator[str]:
    """`json.dumps(value)` (house style) in pieces: a big list or dict is written a batch of items
    at a time and its big items recursively, so a 50 MB result never exists as one string.
    Joined, the pieces are exactly the `json.dumps` text."""
    if isinstance(value, str) or not _is_big(value, batch_items, big_chars):
        yield _dumps(value)
        return
    if id(value) in _outer:
        raise ValueError("Circular reference detected")
    outer = _outer | {id(value)}
    is_dict = isinstance(value, dict)
    items = list(value.items()) if is_dict else list(value)

    def item_value(item: Any) -> Any:
        return item[1] if is_dict else item

    def is_big(item: Any) -> bool:
        return _is_big(item_value(item), batch_items, big_chars)

    yield "{" if is_dict else "["
    for n, group in enumerate(_groups(items, is_big, batch_items)):
        if n:
            yield ", "
        if len(group) > 1 or not is_big(group[0]):
            yield _dumps(dict(group) if is_dict else group)[1:-1]
            continue
        if is_dict:
            yield _dumps({group[0][0]: 0})[1:-2]  # the key and ': '
        yield from json_pieces(item_value(group[0]), batch_items=batch_items, big_chars=big_chars, _outer=outer)
    yield "}" if is_dict else "]"


def _json_like(value: Any) -> bool:
    """Dataclass instances, numpy and pandas values: written as JSON through `_jsonable`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return True
    return type(value).__module__.startswith(("numpy", "pandas"))


def serialize_pieces(value: Any) -> Iterator[str]:
    """The uncapped, unsanitized text of a tool's return value, in pieces (raises `UnusableResult`)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (bytes, bytearray)):
        yield bytes(value).decode("utf-8", errors="replace")
    elif value is None or isinstance(value, (bool, int, float, dict, list, tuple)):
        yield from json_pieces(value)
    elif hasattr(value, "model_dump_json"):
        yield value.model_dump_json()
    elif (frame_text := _pandas_text(value)) is not None:
        yield frame_text
    elif _json_like(value):
        yield from json_pieces(_jsonable(value))
    else:
        yield _text_form(value)


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8 (a lone surrogate counted as 3), without encoding it all at once."""
    if text.isascii():
        return len(text)
    return sum(
        len(text[i : i + _CHUNK_CHARS].encode("utf-8", "surrogatepass")) for i in range(0, len(text), _CHUNK_CHARS)
    )


def _piece_end(text: str, start: int) -> int:
    """End of the piece starting at `start`: moved back before an escape sequence or a surrogate
    pair that the plain cut would split."""
    end = min(len(text), start + _CHUNK_CHARS)
    if end == len(text):
        return end
    starts = [m.start() for m in _INTRODUCER.finditer(text, max(start, end - _SEQUENCE_CHARS), end)]
    return starts[-1] if starts and starts[-1] > start else end


def clean_pieces(text: str) -> Iterator[str]:
    """`text` sanitized piece by piece, so a consumer can stop reading a huge text early."""
    start = 0
    while start < len(text):
        end = _piece_end(text, start)
        yield _UNSAFE.sub(_replacement, text[start:end])
        start = end


def sanitize(text: str) -> str:
    """Valid UTF-8 without NUL, other control characters (but newline and tab) or ANSI sequences."""
    return "".join(clean_pieces(text))


def _cut(text: str, max_bytes: int, total_bytes: int) -> str:
    marker = f"\n…[truncated: {{kept:,}} of {total_bytes:,} bytes shown]"
    room = max(0, max_bytes - len(marker.format(kept=total_bytes).encode()))
    kept = text.encode("utf-8", "surrogatepass")[:room].decode("utf-8", errors="ignore")
    return kept + marker.format(kept=len(kept.encode()))


def cap(text: str, max_bytes: int = DEFAULT_RESULT_BYTES) -> str:
    """Cut `text` to at most `max_bytes` UTF-8 bytes (marker included), saying how much was cut."""
    head = text[: max_bytes + 1]  # a character is at least one byte: more than this never fits
    if len(head) == len(text) and utf8_size(text) <= max_bytes:
        return text
    return _cut(head, max_bytes, utf8_size(text))


def _capped(raw_pieces: Iterable[str], max_bytes: int) -> str:
    """The pieces sanitized and capped: only the part before the cut is cleaned and kept; the rest
    is only measured, for the marker."""
    raw = iter(raw_pieces)
    kept: list[str] = []
    kept_bytes = raw_bytes = 0
    for text in raw:
        raw_bytes += utf8_size(text)
        for piece in clean_pieces(text):
            kept.append(piece)
            kept_bytes += len(piece.encode("utf-8"))
            if kept_bytes > max_bytes:
                total = raw_bytes + sum(utf8_size(rest) for rest in raw)
                return _cut("".join(kept)[: max_bytes + 1], max_bytes, total)
    return "".join(kept)


def safe_text(text: str, max_bytes: int = DEFAULT_RESULT_BYTES) -> str:
    """`text` sanitized and capped; only the part before the cut is cleaned (and copied)."""
    if len(text) <= _CHUNK_CHARS:  # the common small result, in one step
        clean = _UNSAFE.sub(_replacement, text)
        if len(clean) * 4 <= max_bytes or len(clean.encode("utf-8")) <= max_bytes:
            return clean
    return _capped([text], max_bytes)


def to_text(value: Any, max_bytes: int = DEFAULT_RESULT_BYTES) -> str:
    """What the model's script receives for a tool's return value."""
    if isinstance(value, str):
        return safe_text(value, max_bytes)
    if isinstance(value, (dict, list, tuple)) and not _is_big(value, _BATCH_ITEMS, _BIG_CHARS):
        return safe_text(_dumps(value), max_bytes)
    return _capped(serialize_pieces(value), max_bytes)
