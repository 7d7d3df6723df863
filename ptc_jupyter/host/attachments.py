"""Input files of a run: uploaded with the Files API before the first request, attached to the
prompt as `container_upload` blocks, named in the prompt, and deleted after the run unless kept.

In the container they appear in its input directory (`$INPUT_DIR`), under their file names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

from ptc_jupyter.trace.files import UploadedFile, delete_uploaded, upload_input_files

Inputs = Iterable[Any] | Mapping[str, Any]


def as_items(inputs: Inputs | Any | None) -> list[Any]:
    """`files=` as a list of items: one path, bytes or DataFrame alone counts as one item."""
    if inputs is None:
        return []
    if isinstance(inputs, (str, bytes, PurePath)) or hasattr(inputs, "to_csv"):
        return [inputs]
    if isinstance(inputs, Mapping):
        return list(inputs.items())
    return list(inputs)


def prompt_note(uploaded: list[UploadedFile]) -> str:
    names = ", ".join(u.filename for u in uploaded)
    return f"\n\nAttached files, in the container's input directory ($INPUT_DIR): {names}"


def first_message(prompt: str, uploaded: list[UploadedFile]) -> dict[str, Any]:
    """The run's first user message: the prompt, with the uploaded files attached and named."""
    if not uploaded:
        return {"role": "user", "content": prompt}
    return {"role": "user", "content": [*(u.block for u in uploaded),
                                        {"type": "text", "text": prompt + prompt_note(uploaded)}]}


async def attach(client: Any, inputs: Inputs) -> list[UploadedFile]:
    """Upload `inputs` (paths, bytes, DataFrames; `(name, value)` pairs or a mapping name them)."""
    return await upload_input_files(client, inputs)


async def detach(client: Any, uploaded: list[UploadedFile]) -> list[str]:
    """Delete what `attach` uploaded; a failure is logged, never raised (the run's outcome stands)."""
    return await delete_uploaded(client, uploaded) if uploaded else []
