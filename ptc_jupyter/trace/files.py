"""The files a run's steps left behind, as the record keeps them: `OutputFile` (`Run.files`), what
a saved trace embeds of them, and how they read (text, tables). Downloading them is the host's
(`host/downloads.py`); uploading input files too (`host/attachments.py`). No SDK, no pandas until needed.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptc_jupyter.trace.clipping import clip
from ptc_jupyter.trace.presentation import presenters

log = logging.getLogger(__name__)

#: Output images a renderer may show inline (as a data URI); never text/html or anything active.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"})
TEXT_TYPES = frozenset({"text/csv", "application/json", "text/plain", "text/markdown", "application/x-ndjson"})
#: Base64 characters of output images one saved trace embeds, across the run; the rest are listed.
EMBED_BUDGET_CHARS = 2_000_000
PREVIEW_ROWS = 10
PREVIEW_CHARS = 2_000


def media_type_of(name: str, given: str | None = None) -> str:
    """`given` unless it is empty or generic, else what the file name suggests."""
    if given and given != "application/octet-stream":
        return given.split(";")[0].strip().lower()
    guessed = mimetypes.guess_type(name)[0]
    return guessed or (given or "application/octet-stream")


def safe_name(name: str | None, fallback: str) -> str:
    """A bare file name (no directories, no control characters) for a name a server sent."""
    base = re.sub(r"[\x00-\x1f\x7f]", "", (name or "").replace("\\", "/")).rsplit("/", 1)[-1].strip()
    return base[:200] if base not in ("", ".", "..") else re.sub(r"[^A-Za-z0-9_.-]", "_", fallback) or "file"


@dataclass
class OutputFile:
    """A file the container produced (or a saved trace's record of one)."""

    name: str
    media_type: str = "application/octet-stream"
    size_bytes: int = 0
    file_id: str | None = None
    data: bytes | None = field(default=None, repr=False)  # the bytes, when kept in memory
    path: Path | None = None  # where the bytes were written (large files), relative to the cwd if given so
    error: str | None = None  # why the file could not be fetched
    saved_preview: str | None = field(default=None, repr=False, compare=False)  # a preview read back from a trace

    @property
    def is_image(self) -> bool:
        return self.media_type in IMAGE_TYPES

    def read_bytes(self) -> bytes | None:
        if self.data is not None:
            return self.data
        if self.path is not None and Path(self.path).is_file():
            return Path(self.path).read_bytes()
        return None

    def save(self, path: str | Path) -> Path:
        """Write the file to `path` (into it, under its own name, if `path` is a directory)."""
        target = Path(path)
        if target.is_dir():
            target = target / self.name
        data = self.read_bytes()
        if data is None:
            raise FileNotFoundError(f"{self.name}: the bytes are not available ({self.error or 'not downloaded'})")
        target.write_bytes(data)
        return target

    def to_pandas(self) -> Any:
        """The file as a pandas DataFrame (CSV, JSON or Parquet)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("OutputFile.to_pandas() needs pandas: pip install pandas") from None
        data = self.read_bytes()
        if data is None:
            raise FileNotFoundError(f"{self.name}: the bytes are not available ({self.error or 'not downloaded'})")
        kind = _table_kind(self)
        if kind == "csv":
            return pd.read_csv(io.BytesIO(data))
        if kind == "json":
            lines = self.name.lower().endswith((".jsonl", ".ndjson"))
            return pd.read_json(io.BytesIO(data), lines=lines)
        if kind == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        raise ValueError(f"{self.name} ({self.media_type}) is not CSV, JSON or Parquet")

    def text_preview(self) -> str | None:
        """The start of a text file (PREVIEW_ROWS lines, PREVIEW_CHARS characters at most)."""
        if not (self.media_type in TEXT_TYPES or self.media_type.startswith("text/")) or self.is_image:
            return None
        data = self.data
        if data is None and self.path is not None and Path(self.path).is_file():
            with open(self.path, "rb") as f:
                data = f.read(PREVIEW_CHARS * 4)
        if data is None:
            return self.saved_preview
        text = data[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
        return clip("\n".join(text.splitlines()[: PREVIEW_ROWS + 1]), PREVIEW_CHARS)

    def table_preview(self, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]] | None:
        """(columns, first rows) of a CSV or JSON file, from its text preview; None if it is not a table."""
        text, kind = self.text_preview(), _table_kind(self)
        if not text or kind not in ("csv", "json"):
            return None
        if kind == "csv":
            table = [r for r in csv.reader(io.StringIO(text)) if r]
            return (table[0], [r for r in table[1 : rows + 1]]) if len(table) > 1 else None
        data = self.read_bytes() if self.size_bytes <= 1_000_000 else None
        try:
            value = json.loads(data) if data is not None else None
        except ValueError:
            return None
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value[:rows]):
            columns = list(dict.fromkeys(k for v in value[:rows] for k in v))
            return columns, [[_cell(v.get(c)) for c in columns] for v in value[:rows]]
        return None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        show = presenters.file_bundle
        return show(self) if show else {"text/plain": f"{self.name} ({self.media_type})"}

    # -- the saved trace -------------------------------------------------------------------------
    def to_dict(self, *, embed: bool = False) -> dict[str, Any]:
        """Metadata (and the text preview); with `embed`, the bytes as base64 under `data`."""
        d: dict[str, Any] = {
            "name": self.name,
            "media_type": self.media_type,
            "size_bytes": self.size_bytes,
            "file_id": self.file_id,
            "path": Path(self.path).as_posix() if self.path else None,
        }
        if self.error:
            d["error"] = self.error
        preview = self.text_preview()
        if preview:
            d["preview"] = preview
        if embed and self.data is not None:
            d["data"] = base64.b64encode(self.data).decode("ascii")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OutputFile:
        data = d.get("data")
        try:
            raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
        except ValueError:
            raw = None
        size = d.get("size_bytes")
        return cls(
            name=str(d.get("name") or d.get("file_id") or "file"),
            media_type=str(d.get("media_type") or "application/octet-stream"),
            size_bytes=size if isinstance(size, int) else 0,
            file_id=d.get("file_id"),
            data=raw,
            path=Path(d["path"]) if isinstance(d.get("path"), str) else None,
            error=d.get("error"),
            saved_preview=d.get("preview") if isinstance(d.get("preview"), str) else None,
        )


def _table_kind(f: OutputFile) -> str | None:
    name = f.name.lower()
    if f.media_type == "text/csv" or name.endswith(".csv"):
        return "csv"
    if f.media_type in ("application/json", "application/x-ndjson") or name.endswith((".json", ".jsonl", ".ndjson")):
        return "json"
    if name.endswith(".parquet") or "parquet" in f.media_type:
        return "parquet"
    return None


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def embed_plan(files: Iterable[OutputFile], budget: int = EMBED_BUDGET_CHARS) -> list[bool]:
    """Which files a saved trace embeds: images with their bytes in memory, in order, while the
    base64 of those embedded so far fits `budget`."""
    plan, left = [], budget
    for f in files:
        size = 4 * ((len(f.data) + 2) // 3) if f.is_image and f.data is not None else None
        plan.append(size is not None and size <= left)
        if plan[-1]:
            left -= size  # type: ignore[operator]
    return plan


def not_embedded_note(files: list[OutputFile], plan: list[bool]) -> str | None:
    """The visible marker for the images a saved trace does not embed, or None."""
    left = [f for f, embedded in zip(files, plan) if f.is_image and not embedded and not f.error]
    if not left:
        return None
    paths = [Path(f.path).as_posix() for f in left if f.path is not None]
    unsaved = len(left) - len(paths)
    parts = ["saved at " + ", ".join(paths[:3]) + (", …" if len(paths) > 3 else "")] if paths else []
    if unsaved:
        parts.append(f"{unsaved if paths else ''} not saved to disk (keep with run.files[i].save(path))".lstrip())
    place = "; ".join(parts)
    return f"… {len(left)} more file{'s' if len(left) != 1 else ''} not embedded: {place}"
