"""Input files of a run: uploaded with the Files API before the first request, attached to the
prompt as `container_upload` blocks, named in the prompt, and deleted after the run unless kept.

In the container they appear in its input directory (`$INPUT_DIR`), under their file names.
Once a file is deleted, its block leaves the run's messages for a text note (`forget`): a
conversation's next turn sends that history again, and a block naming a deleted file would fail
the whole request. The container keeps its copy, so a later turn in the same container still
reads it; in a new container it is gone, and the run says so (`earlier_files`).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any, NamedTuple

from ptc_jupyter.constants import FILES_API_MAX_BYTES
from ptc_jupyter.errors import OptionError
from ptc_jupyter.host.downloads import failure_text, files_api
from ptc_jupyter.trace.files import media_type_of

log = logging.getLogger(__name__)

Inputs = Iterable[Any] | Mapping[str, Any]


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
    uploaded = [
        UploadedFile(r.id, getattr(r, "filename", None) or p[0])
        for r, p in zip(results, payloads)
        if not isinstance(r, BaseException)
    ]
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
            log.warning("could not delete uploaded file %s: %s", file_id, failure_text(result))
    return [i for i, r in zip(ids, results) if not isinstance(r, BaseException)]


def as_items(inputs: Inputs | Any | None) -> list[Any]:
    """`files=` as a list of items: one path, bytes or DataFrame alone counts as one item."""
    if inputs is None:
        return []
    if isinstance(inputs, (str, bytes, PurePath)) or hasattr(inputs, "to_csv"):
        return [inputs]
    if isinstance(inputs, Mapping):
        return list(inputs.items())
    return list(inputs)


def path_problem(path: str | PurePath, *, upload: bool = True) -> str | None:
    """Why a path cannot be an input file (missing, a directory, larger than the Files API takes),
    in a few words; None when it can."""
    where = Path(path).expanduser()
    if where.is_dir():
        return f"{path} is a directory; give its files one by one (or an archive of it)"
    if not where.is_file():
        return f"no such file: {path}"
    size = where.stat().st_size
    if upload and size > FILES_API_MAX_BYTES:
        return (
            f"{path} is {size / 2**20:,.0f} MB, more than the Files API accepts "
            f"({FILES_API_MAX_BYTES / 2**20:,.0f} MB per file)"
        )
    return None


def check(items: list[Any], *, upload: bool = True) -> None:
    """Refuse, before anything is uploaded, the first path among `items` that cannot be sent."""
    for item in items:
        value = item[1] if isinstance(item, tuple) and len(item) == 2 else item
        if isinstance(value, (str, PurePath)):
            problem = path_problem(value, upload=upload)
            if problem is not None:
                raise OptionError("files", problem)


def prompt_note(names: list[str]) -> str:
    return f"\n\nAttached files, in the container's input directory ($INPUT_DIR): {', '.join(names)}"


def first_message(prompt: str, uploaded: list[UploadedFile]) -> dict[str, Any]:
    """The run's first user message: the prompt, with the uploaded files attached and named."""
    if not uploaded:
        return {"role": "user", "content": prompt}
    return {
        "role": "user",
        "content": [
            *(u.block for u in uploaded),
            {"type": "text", "text": prompt + prompt_note([u.filename for u in uploaded])},
        ],
    }


async def attach(client: Any, inputs: Inputs) -> list[UploadedFile]:
    """Upload `inputs` (paths, bytes, DataFrames; `(name, value)` pairs or a mapping name them)."""
    return await upload_input_files(client, inputs)


FORGOTTEN = "Attached file no longer in the Files API:"  # how each note for a deleted file begins


def forget(messages: list[dict[str, Any]], deleted: list[UploadedFile], container_id: str | None) -> None:
    """Replace, in place, the `container_upload` blocks of `deleted` files with a note naming the file."""
    names = {u.file_id: u.filename for u in deleted}
    where = f"container {container_id}" if container_id else "the container"
    for message in messages:
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            continue
        for i, block in enumerate(content):
            if isinstance(block, dict) and block.get("type") == "container_upload" and block.get("file_id") in names:
                name = names[block["file_id"]]
                content[i] = {
                    "type": "text",
                    "text": f"{FORGOTTEN} {name} (deleted after its run); {where} keeps "
                    f"it as $INPUT_DIR/{name} while that container lives.",
                }


def earlier_files(messages: list[dict[str, Any]]) -> list[str]:
    """The names of files earlier turns attached and `forget` replaced, as their notes say."""
    names = []
    for message in messages:
        content = message.get("content")
        for block in content if message.get("role") == "user" and isinstance(content, list) else ():
            text = block.get("text", "") if isinstance(block, dict) else ""
            if text.startswith(FORGOTTEN):
                names.append(text[len(FORGOTTEN) :].split(" (deleted", 1)[0].strip())
    return names


async def detach(client: Any, uploaded: list[UploadedFile]) -> list[str]:
    """Delete what `attach` uploaded; a failure is logged, never raised (the run's outcome stands)."""
    return await delete_uploaded(client, uploaded) if uploaded else []
