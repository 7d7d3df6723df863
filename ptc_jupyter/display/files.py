"""Output files as views: one line of text, HTML (image, table preview or text start), a MIME bundle."""

from __future__ import annotations

import base64
import urllib.parse
from html import escape
from pathlib import Path
from typing import Any

from ptc_jupyter.display.formatting import ERROR_STYLE, MUTED_STYLE, PRE_STYLE, format_bytes
from ptc_jupyter.trace.clipping import clip
from ptc_jupyter.trace.files import OutputFile, not_embedded_note


def describe_file(f: OutputFile) -> str:
    """One line: name, type, size, id, where it is (or why it is missing)."""
    parts = [f.name, f.media_type, format_bytes(f.size_bytes)]
    if f.file_id:
        parts.append(f.file_id)
    if f.path is not None:
        parts.append(f"saved at {Path(f.path).as_posix()}")
    if f.error:
        parts.append(f.error)
    return " · ".join(parts)


def table_html(columns: list[str], rows: list[list[str]], cell_chars: int = 60) -> str:
    """A small escaped HTML table (inline styles only)."""
    head = "".join(f"<th style='text-align:left'>{escape(clip(c, cell_chars))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(clip(v, cell_chars))}</td>" for v in row) + "</tr>" for row in rows)
    return (
        f"<table cellpadding='2' style='border-collapse:collapse;font-size:12px'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def file_html(f: Any, *, embedded: bool) -> str:
    """One output file: a line of metadata (a link when it was saved at a relative path), then
    the image (a data URI, when `embedded`), a table preview or the start of its text."""
    head = [f"<b>{escape(f.name)}</b>", escape(f.media_type), format_bytes(f.size_bytes)]
    if f.path is not None:
        path = Path(f.path).as_posix()
        head.append(
            f'<a href="{escape(urllib.parse.quote(path))}">{escape(path)}</a>'
            if not Path(f.path).is_absolute()
            else f"saved at {escape(path)}"
        )
    if f.error:
        head.append(f'<span style="{ERROR_STYLE}">{escape(f.error)}</span>')
    out = f"<div>{' · '.join(head)}</div>"
    if embedded and f.is_image and f.data is not None:
        data = base64.b64encode(f.data).decode("ascii")
        return out + (
            f'<img src="data:{escape(f.media_type)};base64,{data}" alt="{escape(f.name)}" '
            'style="max-width:100%;max-height:32em">'
        )
    table = f.table_preview()
    if table is not None:
        return out + table_html(*table)
    text = f.text_preview()
    return out + (f'<pre style="{PRE_STYLE}">{escape(text)}</pre>' if text else "")


def file_bundle(f: OutputFile) -> dict[str, Any]:
    """One output file as a MIME bundle: the image itself, or a table preview as HTML, and a line of text."""
    bundle: dict[str, Any] = {"text/plain": describe_file(f)}
    data = f.data
    if f.is_image and data is not None:
        bundle[f.media_type] = (
            data.decode("utf-8", "replace")
            if f.media_type == "image/svg+xml"
            else base64.b64encode(data).decode("ascii")
        )
    else:
        table = f.table_preview()
        if table is not None:
            bundle["text/html"] = f"<div>{escape(describe_file(f))}</div>{table_html(*table)}"
    return bundle


def files_html(files: list[OutputFile], embedded: list[bool]) -> str:
    """The files of a run, each as `file_html` (images inline where `embedded` says so), and the
    note for images left out: the part the live view and the saved HTML share."""
    items = "".join(f'<div style="margin:4px 0">{file_html(f, embedded=e)}</div>' for f, e in zip(files, embedded))
    note = not_embedded_note(files, embedded)
    return items + (f'<div style="{MUTED_STYLE}">{escape(note)}</div>' if note else "")
