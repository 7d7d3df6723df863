"""files.py against a tiny Files API on 127.0.0.1 (starlette, the API's paths and shapes), through
the real SDK client: downloads kept in memory or spilled to disk, failures recorded per file,
uploads of paths and DataFrames, and how files are shown and saved in a trace."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import anthropic
import pandas as pd
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from trace_samples import png_bytes

from ptc_jupyter.display.render import to_html, to_text
from ptc_jupyter.host import attachments, downloads
from ptc_jupyter.trace import files as F
from ptc_jupyter.trace.files import OutputFile
from ptc_jupyter.trace.run import Run
from ptc_jupyter.trace.steps import Step


class FilesAPI:
    """The Files API's routes over a dict; `MAX_BYTES` is its upload limit (413 beyond)."""

    MAX_BYTES = 50_000

    def __init__(self) -> None:
        self.files: dict[str, dict] = {}
        self.ids = itertools.count(1)
        self.requests: list[str] = []

    def add(self, filename: str, data: bytes, mime: str, *, downloadable: bool = True) -> str:
        file_id = f"file_{next(self.ids):03d}"
        self.files[file_id] = {
            "meta": {
                "id": file_id,
                "type": "file",
                "filename": filename,
                "mime_type": mime,
                "size_bytes": len(data),
                "created_at": "2026-11-30T12:00:00Z",
                "downloadable": downloadable,
            },
            "data": data,
        }
        return file_id

    def app(self) -> Starlette:
        def missing(file_id: str) -> JSONResponse:
            return JSONResponse(
                {"type": "error", "error": {"type": "not_found_error", "message": f"File not found: {file_id}"}}, 404
            )

        async def upload(request: Request) -> Response:
            form = await request.form()
            part = form["file"]
            data = await part.read()
            if len(data) > self.MAX_BYTES:
                return JSONResponse(
                    {"type": "error", "error": {"type": "request_too_large", "message": "too big"}}, 413
                )
            file_id = self.add(part.filename, data, part.content_type, downloadable=False)
            return JSONResponse(self.files[file_id]["meta"])

        async def one(request: Request) -> Response:
            file_id = request.path_params["file_id"]
            self.requests.append(f"{request.method} {request.url.path}")
            if file_id not in self.files:
                return missing(file_id)
            if request.method == "DELETE":
                del self.files[file_id]
                return JSONResponse({"id": file_id, "type": "file_deleted"})
            return JSONResponse(self.files[file_id]["meta"])

        async def content(request: Request) -> Response:
            file_id = request.path_params["file_id"]
            self.requests.append(f"GET {request.url.path}")
            record = self.files.get(file_id)
            if record is None:
                return missing(file_id)
            return Response(record["data"], media_type=record["meta"]["mime_type"])

        return Starlette(
            routes=[
                Route("/v1/files", upload, methods=["POST"]),
                Route("/v1/files/{file_id}/content", content, methods=["GET"]),
                Route("/v1/files/{file_id}", one, methods=["GET", "DELETE"]),
            ]
        )


@pytest.fixture(scope="module")
def api():
    state = FilesAPI()
    server = uvicorn.Server(uvicorn.Config(state.app(), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the Files API test server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    server.should_exit = True
    thread.join(10)


def call(api: FilesAPI, fn, *args, **kwargs):
    """Run `fn(client, ...)` with a fresh SDK client on a fresh loop, closed afterwards."""

    async def main():
        async with anthropic.AsyncAnthropic(api_key="test-key", base_url=api.url, max_retries=0) as client:
            return await fn(client, *args, **kwargs)

    return asyncio.run(main())


CSV = b"name,score\nA,0.8\nB,1.42\nC,-0.3\n"


def test_small_files_come_back_in_memory_with_their_metadata(api, tmp_path):
    png, csv = api.add("plot.png", png_bytes(), "image/png"), api.add("scores.csv", CSV, "text/csv")
    got = call(api, downloads.fetch_output_files, [png, csv, png], spill_dir=tmp_path)
    assert [(f.name, f.media_type, f.size_bytes, f.file_id, f.path) for f in got] == [
        ("plot.png", "image/png", len(png_bytes()), png, None),
        ("scores.csv", "text/csv", len(CSV), csv, None),
    ]
    assert got[0].data == png_bytes() and got[1].data == CSV and not list(tmp_path.iterdir())
    frame = got[1].to_pandas()
    assert list(frame.columns) == ["name", "score"] and frame["score"].tolist() == [0.8, 1.42, -0.3]
    bundle = got[0]._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == png_bytes() and "plot.png" in bundle["text/plain"]
    html = got[1]._repr_mimebundle_()["text/html"]
    assert "<th style='text-align:left'>score</th>" in html and "<td>1.42</td>" in html


def test_large_files_are_written_beside_the_notebook_and_kept_as_a_path(api, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = bytes(range(256)) * 40
    file_id = api.add("../../outside/big.bin", data, "application/octet-stream")
    (got,) = call(api, downloads.fetch_output_files, [file_id], max_inline_bytes=1_000)
    assert got.data is None and got.size_bytes == len(data) and got.name == "big.bin"
    assert got.path == Path("ptc_files") / file_id / "big.bin" and not got.path.is_absolute()
    assert (tmp_path / got.path).read_bytes() == data and got.read_bytes() == data
    assert not (tmp_path.parent / "outside").exists()  # the server's name cannot leave the folder
    saved = got.save(tmp_path / "copy.bin")
    assert saved.read_bytes() == data and got.save(tmp_path).name == "big.bin"


def test_a_file_that_cannot_be_fetched_is_recorded_not_raised(api, tmp_path):
    ok = api.add("a.txt", b"hello", "text/plain")
    locked = api.add("secret.txt", b"x", "text/plain", downloadable=False)
    got = call(api, downloads.fetch_output_files, ["file_missing", ok, locked], spill_dir=tmp_path)
    assert got[0].error.startswith("no metadata: API error: HTTP 404") and got[0].data is None
    assert got[1].error is None and got[1].data == b"hello"
    assert got[2].error == "not downloadable" and f"GET /v1/files/{locked}/content" not in api.requests
    with pytest.raises(FileNotFoundError, match="not downloadable"):
        got[2].save(tmp_path / "x")


def test_a_download_that_fails_midway_keeps_the_metadata(api, tmp_path):
    file_id = api.add("gone.csv", CSV, "text/csv")

    async def fetch_after_delete(client, ids, **kw):
        original = client.files.with_streaming_response.download

        def vanish(fid, **k):
            api.files.pop(fid, None)  # deleted between the metadata and the download
            return original(fid, **k)

        client.files.with_streaming_response.download = vanish
        return await downloads.fetch_output_files(client, ids, **kw)

    (got,) = call(api, fetch_after_delete, [file_id], spill_dir=tmp_path)
    assert (
        got.name == "gone.csv"
        and got.size_bytes == len(CSV)
        and got.error.startswith("not downloaded: API error: HTTP 404")
    )


def test_uploads_paths_bytes_and_dataframes_and_deletes_them(api, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as here: no pyarrow, so Parquet falls back to CSV
    path = tmp_path / "notes.txt"
    path.write_text("remember")
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    uploaded = call(
        api,
        attachments.upload_input_files,
        [path, frame, ("raw.bin", b"\x00\x01"), ("t.parquet", frame), ("rows.json", frame)],
    )
    names = [u.filename for u in uploaded]
    assert names == ["notes.txt", "dataframe_2.csv", "raw.bin", "t.csv", "rows.json"]
    stored = {u.filename: api.files[u.file_id] for u in uploaded}
    assert stored["notes.txt"]["data"] == b"remember" and stored["notes.txt"]["meta"]["mime_type"] == "text/plain"
    assert (
        stored["dataframe_2.csv"]["data"] == b"x,y\n1,a\n2,b\n" and stored["t.csv"]["meta"]["mime_type"] == "text/csv"
    )
    assert json.loads(stored["rows.json"]["data"]) == [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]
    file_id, filename = uploaded[0]  # unpacks as a pair
    assert uploaded[0].block == {"type": "container_upload", "file_id": file_id} and filename == "notes.txt"
    assert attachments.container_upload_blocks(uploaded)[1] == {
        "type": "container_upload",
        "file_id": uploaded[1].file_id,
    }
    deleted = call(api, attachments.delete_uploaded, uploaded + ["file_never"])
    assert deleted == [u.file_id for u in uploaded] and not any(u.file_id in api.files for u in uploaded)


def test_a_mapping_names_the_uploads(api):
    uploaded = call(api, attachments.upload_input_files, {"a.csv": pd.DataFrame({"v": [1]}), "b.txt": b"b"})
    assert [u.filename for u in uploaded] == ["a.csv", "b.txt"]
    call(api, attachments.delete_uploaded, uploaded)


def test_a_failed_upload_deletes_the_others_and_raises(api):
    before = set(api.files)
    with pytest.raises(anthropic.APIStatusError) as info:
        call(api, attachments.upload_input_files, [("ok.txt", b"fine"), ("huge.bin", b"x" * (FilesAPI.MAX_BYTES + 1))])
    assert info.value.status_code == 413 and set(api.files) == before
    with pytest.raises(TypeError, match="cannot upload int"):
        call(api, attachments.upload_input_files, [3])


def test_the_beta_files_api_is_used_when_there_is_no_ga_one():
    beta = object()
    assert downloads.files_api(SimpleNamespace(files=None, beta=SimpleNamespace(files=beta))) is beta
    ga = object()
    assert downloads.files_api(SimpleNamespace(files=ga)) is ga


def test_to_pandas_reads_json_and_says_what_it_cannot():
    rows = OutputFile(name="r.json", media_type="application/json", data=b'[{"a": 1}, {"a": 2}]', size_bytes=20)
    assert rows.to_pandas()["a"].tolist() == [1, 2]
    assert rows.table_preview() == (["a"], [["1"], ["2"]])
    with pytest.raises(ValueError, match="not CSV, JSON or Parquet"):
        OutputFile(name="x.bin", data=b"1").to_pandas()


def test_to_pandas_without_pandas_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        OutputFile(name="s.csv", media_type="text/csv", data=CSV).to_pandas()


def test_safe_names_and_media_types():
    assert F.safe_name("../../etc/passwd", "file_1") == "passwd" and F.safe_name("a\\b\\c.txt", "f") == "c.txt"
    assert F.safe_name("..", "file/1") == "file_1" and F.safe_name("x\x00y.png", "f") == "xy.png"
    assert F.media_type_of("a.csv", "application/octet-stream") == "text/csv"
    assert F.media_type_of("a.png", "image/png; charset=binary") == "image/png"


def test_fetched_files_are_shown_and_saved_with_the_run(api, tmp_path):
    png, csv = api.add("plot.png", png_bytes(), "image/png"), api.add("scores.csv", CSV, "text/csv")
    run = Run(
        prompt="p",
        model="m",
        status="completed",
        steps=[Step(id="s", name="bash_code_execution", input={"command": "make"}, file_ids=[png, csv])],
    )
    run.files += call(api, downloads.fetch_output_files, run.unfetched_file_ids(), spill_dir=tmp_path)
    assert run.unfetched_file_ids() == []
    saved = run.to_dict()
    assert base64.b64decode(saved["files"][0]["data"]) == png_bytes() and "data" not in saved["files"][1]
    assert saved["files"][1]["preview"] == CSV.decode().rstrip("\n")
    html = to_html(run)
    assert f'<img src="data:image/png;base64,{base64.b64encode(png_bytes()).decode()}"' in html
    assert "<td>1.42</td>" in html
    text = to_text(run)
    assert f"file 1: plot.png · image/png · {len(png_bytes())} B · {png}" in text and "2 files" in text.splitlines()[0]
    back = Run.from_dict(json.loads(json.dumps(saved)))
    assert back.to_dict() == saved and back.files[0].data == png_bytes() and "<td>1.42</td>" in to_html(back)


def test_pictures_too_big_to_embed_are_linked_by_relative_path():
    run = Run(
        prompt="p",
        model="m",
        files=[
            OutputFile(
                name="huge.png",
                media_type="image/png",
                size_bytes=9_000_000,
                file_id="file_h",
                path=Path("ptc_files/file_h/huge.png"),
            )
        ],
    )
    html = to_html(run)
    assert '<a href="ptc_files/file_h/huge.png">ptc_files/file_h/huge.png</a>' in html and "<img" not in html
    assert "… 1 more file not embedded: saved at ptc_files/file_h/huge.png" in html
    assert "… 1 more file not embedded" in to_text(run)
    absolute = OutputFile(name="a.png", media_type="image/png", path=Path("/abs/a.png"))
    assert "<a " not in to_html(Run(prompt="p", model="m", files=[absolute]))


def test_a_hostile_media_type_never_becomes_a_data_uri():
    evil = OutputFile(name="<b>x</b>.html", media_type="text/html", data=b"<script>alert(1)</script>", size_bytes=25)
    html = to_html(Run(prompt="p", model="m", files=[evil]))
    assert "<script>" not in html and "data:" not in html and "&lt;b&gt;x&lt;/b&gt;.html" in html
    saved = Run(prompt="p", model="m", files=[evil]).to_dict()
    assert "data" not in saved["files"][0]


def test_a_table_preview_is_small_even_for_a_long_file():
    big = b"a,b\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(10_000))
    f = OutputFile(name="big.csv", media_type="text/csv", data=big, size_bytes=len(big))
    columns, rows = f.table_preview()
    assert columns == ["a", "b"] and len(rows) == F.PREVIEW_ROWS and rows[-1] == ["9", "81"]
    assert len(f.to_dict()["preview"]) <= F.PREVIEW_CHARS
    assert io.StringIO(f.text_preview()).read().count("\n") == F.PREVIEW_ROWS


def test_the_readme_states_the_limits_the_code_uses():
    from ptc_jupyter.notebook.live_view import INLINE_IMAGE_BYTES

    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    assert (
        f"up to {downloads.MAX_INLINE_BYTES // 1_000_000} MB; a larger one is written to `{downloads.DEFAULT_SPILL_DIR}/"
        in readme
    )
    assert f"each up to {INLINE_IMAGE_BYTES // 1_000_000} MB" in readme
    assert f"up to {F.EMBED_BUDGET_CHARS:,} base64 characters per run" in readme
