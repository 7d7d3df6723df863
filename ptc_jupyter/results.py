"""Tool return values -> the text of a `tool_result` (PTC results must be text), capped in size.

JSON for what Claude's script will parse (dicts, lists, numbers, pydantic models, dataclasses,
DataFrames as records); `str()` for everything else. Oversized text is cut at a character
boundary with a visible marker, so the script (and the reader of the trace) can tell.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

DEFAULT_RESULT_BYTES = 100_000


def _jsonable(value: Any) -> Any:
    """Fallback for json.dumps: the common scientific/pydantic types, else str()."""
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
    return str(value)


def _pandas(value: Any) -> Any:
    kind = type(value).__name__
    if kind == "DataFrame":
        return json.loads(value.to_json(orient="records", date_format="iso"))
    if kind == "Series":
        return json.loads(value.to_json(date_format="iso"))
    return value.to_dict()


def serialize(value: Any) -> str:
    """The uncapped text form of a tool's return value."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if value is None or isinstance(value, (bool, int, float, dict, list, tuple)):
        return json.dumps(value, default=_jsonable, ensure_ascii=False)
    if hasattr(value, "model_dump_json"):
        return value.model_dump_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json.dumps(dataclasses.asdict(value), default=_jsonable, ensure_ascii=False)
    if type(value).__module__.startswith(("pandas", "numpy")):
        return json.dumps(_jsonable(value), default=_jsonable, ensure_ascii=False)
    return str(value)


def cap(text: str, max_bytes: int = DEFAULT_RESULT_BYTES) -> str:
    """Cut `text` to at most `max_bytes` UTF-8 bytes (marker included), saying how much was cut."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    marker = f"\n…[truncated: {{kept:,}} of {len(data):,} bytes shown]"
    room = max(0, max_bytes - len(marker.format(kept=len(data)).encode()))
    kept = data[:room].decode("utf-8", errors="ignore")
    return kept + marker.format(kept=len(kept.encode()))


def sanitize(text: str) -> str:
    """Valid UTF-8 without NUL characters: lone surrogates (e.g. from a bad decode) become '?'."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text.replace("\x00", "")


def to_text(value: Any, max_bytes: int = DEFAULT_RESULT_BYTES) -> str:
    """What the model's script receives for a tool's return value."""
    return cap(sanitize(serialize(value)), max_bytes)
