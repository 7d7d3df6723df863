"""Files in and out of the code-execution container, through the Files API.

Files the container's code leaves in `$OUTPUT_DIR` come back as `file_id`s on its steps
(`Step.file_ids`); `fetch_output_files` downloads them into `OutputFile`s (`Run.files`). Small
files stay in memory; a file larger than `max_inline_bytes` is written under `spill_dir`
(default `ptc_files/` in the working directory, i.e. beside the notebook) and kept as a path.
`upload_input_files` sends paths or DataFrames the other way; attach `UploadedFile.block`
(`{"type": "container_upload", "file_id": ...}`) to a user message and the file appears in the
container. `delete_uploaded` removes them again.

The client is any `anthropic.AsyncAnthropic` (`client.files`, GA; `client.beta.files` on SDKs
without it). Nothing here imports the SDK or pandas until it is needed.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import logging
import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ptc_jupyter.errors import error_text
from ptc_jupyter.trace.clipping import clip
from ptc_jupyter.trace.presentation import presenters

log = logging.getLogger(__name__)

#: Output images a renderer may show inline (as a data URI); never text/html or anything active.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"})
TEXT_TYPES = frozenset({"text/csv", "application/json", "text/plain", "text/markdown", "application/x-ndjson"})
#: A downloaded file larger than this is written to disk, not kept in memory.
MAX_INLINE_BYTES = 5_000_000
#: Base64 characters of output images one saved trace embeds, across the run; the rest are listed.
EMBED_BUDGET_CHARS = 2_000_000
DEFAULT_SPILL_DIR = "ptc_files"
PREVIEW_ROWS = 10
PREVIEW_CHARS = 2_000
DOWNLOAD_CONCURRENCY = 4


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
        text = data[:PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
        return clip("\n".join(text.splitlines()[:PREVIEW_ROWS + 1]), PREVIEW_CHARS)

    def table_preview(self, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]] | None:
        """(columns, first rows) of a CSV or JSON file, from its text preview; None if it is not a table."""
        text, kind = self.text_preview(), _table_kind(self)
        if not text or kind not in ("csv", "json"):
            return None
        if kind == "csv":
            table = [r for r in csv.reader(io.StringIO(text)) if r]
            return (table[0], [r for r in table[1:rows + 1]]) if len(table) > 1 else None
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
        d: dict[str, Any] = {"name": self.name, "media_type": self.media_type, "size_bytes": self.size_bytes,
                             "file_id": self.file_id, "path": Path(self.path).as_posix() if self.path else None}
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
        return cls(name=str(d.get("name") or d.get("file_id") or "file"),
                   media_type=str(d.get("media_type") or "application/octet-stream"),
                   size_bytes=size if isinstance(size, int) else 0, file_id=d.get("file_id"), data=raw,
                   path=Path(d["path"]) if isinstance(d.get("path"), str) else None, error=d.get("error"),
                   saved_preview=d.get("preview") if isinstance(d.get("preview"), str) else None)


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


# -- the Files API ---------------------------------------------------------------------------------

def files_api(client: Any) -> Any:
    """`client.files` (GA), or `client.beta.files` on an SDK without it."""
    api = getattr(client, "files", None)
    return api if api is not None else client.beta.files


def _error_text(exc: BaseException) -> str:
    if isinstance(getattr(exc, "status_code", None), int):  # an API error: in our words, not the SDK's
        return f"API error: {error_text(exc)}"
    return f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"


async def _download(api: Any, f: OutputFile, max_inline_bytes: int, spill_dir: Path) -> None:
    """Stream the bytes into `f.data`, switching to a file under `spill_dir` past `max_inline_bytes`."""
    buffer, out, size = bytearray(), None, 0
    try:
        async with api.with_streaming_response.download(f.file_id) as response:
            async for chunk in response.iter_bytes():
                size += len(chunk)
                if out is None and size > max_inline_bytes:
                    path = spill_dir / safe_name(f.file_id, "file") / f.name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    out = open(path, "wb")  # noqa: SIM115 (closed below)
                    out.write(buffer)
                    buffer = bytearray()
                    f.path = path
                if out is not None:
                    out.write(chunk)
                else:
                    buffer.extend(chunk)
    finally:
        if out is not None:
            out.close()
    f.size_bytes = size
    if out is None:
        f.data = bytes(buffer)


async def fetch_output_files(client: Any, file_ids: Iterable[str], *, max_inline_bytes: int = MAX_INLINE_BYTES,
                             spill_dir: str | Path | None = None,
                             concurrency: int = DOWNLOAD_CONCURRENCY) -> list[OutputFile]:
    """Download the files `file_ids` name (each once, in order) with their metadata.

    A file that cannot be fetched (expired, not downloadable, network) comes back with `error`
    set and no bytes; it never raises for one file. Files larger than `max_inline_bytes` are
    written to `spill_dir/<file_id>/<name>` and kept as `path`.
    """
    api, folder = files_api(client), Path(spill_dir if spill_dir is not None else DEFAULT_SPILL_DIR)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def fetch(file_id: str) -> OutputFile:
        async with gate:
            try:
                meta = await api.retrieve_metadata(file_id)
            except Exception as exc:  # one missing file must not lose the others, or the run
                return OutputFile(name=safe_name(None, file_id), file_id=file_id,
                                  error=f"no metadata: {_error_text(exc)}")
            name = safe_name(getattr(meta, "filename", None), file_id)
            f = OutputFile(name=name, media_type=media_type_of(name, getattr(meta, "mime_type", None)),
                           size_bytes=getattr(meta, "size_bytes", 0) or 0, file_id=file_id)
            if getattr(meta, "downloadable", None) is False:
                f.error = "not downloadable"
                return f
            try:
                await _download(api, f, max_inline_bytes, folder)
            except Exception as exc:
                f.data, f.error = None, f"not downloaded: {_error_text(exc)}"
            return f

    return list(await asyncio.gather(*(fetch(i) for i in dict.fromkeys(file_ids))))


class UploadedFile(NamedTuple):
    """A file sent to the Files API: unpacks as `(file_id, filename)`."""

    file_id: str
    filename: str

    @property
    def block(self) -> dict[str, str]:
        """The content block that puts the file in the container."""
        return {"type": "container_upload", "file_id": self.file_id}


def container_upload_blocks(uploaded: Iterable[UploadedFile]) -> list[dict[str, str]]:
    return [u.block for u in uploaded]


def _is_dataframe(value: Any) -> bool:
    return type(value).__module__.startswith("pandas") and hasattr(value, "to_csv")


def _payload(item: Any, index: int) -> tuple[str, bytes, str]:
    """(filename, bytes, media type) for one item to upload."""
    name, value = item if isinstance(item, tuple) else (None, item)
    if isinstance(value, (str, Path)):
        path = Path(value)
        filename = name or path.name
        return filename, path.read_bytes(), media_type_of(filename)
    if isinstance(value, (bytes, bytearray)):
        filename = name or f"file_{index + 1}"
        return filename, bytes(value), media_type_of(filename)
    if _is_dataframe(value):
        filename = name or f"dataframe_{index + 1}.csv"
        if filename.lower().endswith(".parquet"):
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                filename = filename[: -len(".parquet")] + ".csv"
                log.warning("pyarrow is not installed: %s is uploaded as CSV", filename)
            else:
                buf = io.BytesIO()
                value.to_parquet(buf, index=False)
                return filename, buf.getvalue(), "application/vnd.apache.parquet"
        if filename.lower().endswith(".json"):
            return filename, value.to_json(orient="records").encode(), "application/json"
        if not filename.lower().endswith(".csv"):
            filename += ".csv"
        return filename, value.to_csv(index=False).encode(), "text/csv"
    raise TypeError(f"cannot upload {type(value).__name__}: give a path, bytes or a pandas DataFrame")


def input_payloads(items: Iterable[Any] | Mapping[str, Any]) -> list[tuple[str, bytes, str]]:
    """(filename, bytes, media type) of each input item, as `upload_input_files` sends them."""
    entries = list(items.items()) if isinstance(items, Mapping) else list(items)
    return [_payload(item, i) for i, item in enumerate(entries)]


async def upload_input_files(client: Any, items: Iterable[Any] | Mapping[str, Any]) -> list[UploadedFile]:
    """Upload paths (str/Path), bytes or DataFrames; `(name, value)` pairs or a `{name: value}`
    mapping name them. DataFrames go as CSV, or Parquet when the name ends `.parquet` and pyarrow
    is installed. If one upload fails, the others are deleted again and the error is raised."""
    entries = list(items.items()) if isinstance(items, Mapping) else list(items)
    payloads = [_payload(item, i) for i, item in enumerate(entries)]  # bad items fail before any upload
    api = files_api(client)
    results = await asyncio.gather(*(api.upload(file=p) for p in payloads), return_exceptions=True)
    uploaded = [UploadedFile(r.id, getattr(r, "filename", None) or p[0])
                for r, p in zip(results, payloads) if not isinstance(r, BaseException)]
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await delete_uploaded(client, uploaded)
        raise failures[0]
    return uploaded


async def delete_uploaded(client: Any, uploaded: Iterable[UploadedFile | str]) -> list[str]:
    """Delete uploaded files; returns the ids deleted (failures are logged, not raised)."""
    api = files_api(client)
    ids = [u.file_id if isinstance(u, UploadedFile) else u for u in uploaded]
    results = await asyncio.gather(*(api.delete(i) for i in ids), return_exceptions=True)
    for file_id, result in zip(ids, results):
        if isinstance(result, BaseException):
            log.warning("could not delete uploaded file %s: %s", file_id, _error_text(result))
    return [i for i, r in zip(ids, results) if not isinstance(r, BaseException)]
