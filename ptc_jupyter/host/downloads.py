"""The files a step left in `$OUTPUT_DIR`, downloaded with the Files API into `OutputFile`s.

Steps name them by `file_id` (`Step.file_ids`); `fetch_output_files` downloads them (a few at a
time). Small files stay in memory; a file larger than `max_inline_bytes` is written under
`spill_dir` (default `ptc_files/` in the working directory, i.e. beside the notebook) and kept as
a path. A download that fails keeps the file with its error. The client is any
`anthropic.AsyncAnthropic` (`client.files`, GA; `client.beta.files` on SDKs without it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ptc_jupyter.errors import error_text
from ptc_jupyter.trace.files import OutputFile, media_type_of, safe_name

log = logging.getLogger(__name__)

#: A downloaded file larger than this is written to disk, not kept in memory.
MAX_INLINE_BYTES = 5_000_000
#: Where such files go: beside the notebook.
DEFAULT_SPILL_DIR = "ptc_files"
DOWNLOAD_CONCURRENCY = 4


def files_api(client: Any) -> Any:
    """`client.files` (GA), or `client.beta.files` on an SDK without it."""
    api = getattr(client, "files", None)
    return api if api is not None else client.beta.files


def failure_text(exc: BaseException) -> str:
    """Why a Files API request failed: an API error in our own words (not the SDK's), else the exception.
    Used for downloads here and for deleting uploads (`host/attachments.py`)."""
    if isinstance(getattr(exc, "status_code", None), int):
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


async def fetch_output_files(
    client: Any,
    file_ids: Iterable[str],
    *,
    max_inline_bytes: int = MAX_INLINE_BYTES,
    spill_dir: str | Path | None = None,
    concurrency: int = DOWNLOAD_CONCURRENCY,
) -> list[OutputFile]:
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
                return OutputFile(
                    name=safe_name(None, file_id), file_id=file_id, error=f"no metadata: {failure_text(exc)}"
                )
            name = safe_name(getattr(meta, "filename", None), file_id)
            f = OutputFile(
                name=name,
                media_type=media_type_of(name, getattr(meta, "mime_type", None)),
                size_bytes=getattr(meta, "size_bytes", 0) or 0,
                file_id=file_id,
            )
            if getattr(meta, "downloadable", None) is False:
                f.error = "not downloadable"
                return f
            try:
                await _download(api, f, max_inline_bytes, folder)
            except Exception as exc:
                f.data, f.error = None, f"not downloaded: {failure_text(exc)}"
            return f

    return list(await asyncio.gather(*(fetch(i) for i in dict.fromkeys(file_ids))))
