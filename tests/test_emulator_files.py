"""Files through the real SDK (`emulator/files.py`, `files_api.py`): output files of steps as
file ids, the Files API endpoints (GA and beta), uploads put in the container by `container_upload`."""

from __future__ import annotations

import datetime as dt
import struct
import zlib

import anthropic
import httpx2
import pytest
from emulator_helpers import CODE_EXECUTION, ptc_tool, run_turn, script_prompt

from ptc_jupyter.emulator import EmulatorConfig, EmulatorServer
from ptc_jupyter.emulator.files import FileStore
from ptc_jupyter.emulator.wire import ApiError

TOOLS = [CODE_EXECUTION, ptc_tool("get")]


def tiny_png() -> bytes:
    """A valid 1x1 red PNG, made by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG = tiny_png()


def turn(client, prompt, **kw):
    return run_turn(client, prompt=prompt, tools=TOOLS, answer=lambda b: "ok", **kw)


def step_results(message, kind="code_execution_tool_result"):
    return [b.content for b in message.content if b.type == kind]


# --- output files -------------------------------------------------------------------------------


def test_a_png_left_in_output_dir_comes_back_as_a_downloadable_file(client):
    code = f"import os\nopen(os.path.join(os.environ['OUTPUT_DIR'], 'plot.png'), 'wb').write({PNG!r})\nprint('saved')"
    final, _ = turn(client, script_prompt(code))
    result = step_results(final)[0]
    assert result.type == "code_execution_result" and result.stdout == "saved\n"
    [output] = result.content
    assert output.type == "code_execution_output" and output.file_id.startswith("file_")
    assert client.files.download(output.file_id).read() == PNG
    meta = client.files.retrieve_metadata(output.file_id)
    assert (meta.id, meta.type, meta.filename, meta.mime_type) == (output.file_id, "file", "plot.png", "image/png")
    assert meta.size_bytes == len(PNG) and meta.downloadable is True and meta.created_at.tzinfo is not None
    beta = client.beta.files.retrieve_metadata(output.file_id, betas=["files-api-2025-04-14"])
    assert beta.mime_type == "image/png"
    assert client.beta.files.download(output.file_id).read() == PNG


def test_only_new_or_changed_files_become_files_of_each_step(client):
    prompt = (
        "```python\nimport os\nout = os.environ['OUTPUT_DIR']\n"
        "open(f'{out}/a.txt', 'w').write('a')\nopen(f'{out}/b.txt', 'w').write('b')\n```\n"
        "```bash\nmkdir -p $OUTPUT_DIR/deep && echo changed >> $OUTPUT_DIR/a.txt"
        " && echo c > $OUTPUT_DIR/deep/c.csv && ln -s /etc/hostname $OUTPUT_DIR/link\n```\n"
        "```python\nprint('nothing new')\n```\n"
    )
    final, _ = turn(client, prompt)
    python_first, python_last = step_results(final)
    [bash] = step_results(final, "bash_code_execution_tool_result")
    names = [client.files.retrieve_metadata(o.file_id).filename for o in python_first.content]
    assert names == ["a.txt", "b.txt"]
    assert [o.type for o in bash.content] == ["bash_code_execution_output"] * 2
    changed, new = (client.files.retrieve_metadata(o.file_id) for o in bash.content)
    assert (changed.filename, new.filename, new.mime_type) == ("a.txt", "c.csv", "text/csv")
    assert client.files.download(changed.id).read() == b"achanged\n"
    assert python_last.content == []


def test_a_file_over_the_limit_is_not_returned():
    with EmulatorServer(EmulatorConfig(max_file_bytes=10)) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key, max_retries=0)
        prompt = (
            "```python\nimport os\nopen(os.environ['OUTPUT_DIR'] + '/big.bin', 'wb').write(b'x' * 11)\n```\n"
            "```bash\nhead -c 20 /dev/zero > $OUTPUT_DIR/bigger.bin\n```\n"
        )
        final, _ = turn(client, prompt)
        [python] = step_results(final)
        [bash] = step_results(final, "bash_code_execution_tool_result")
        assert python.content == [] and "big.bin is larger than 10 bytes" in python.stderr
        assert (bash.type, bash.error_code) == ("bash_code_execution_tool_result_error", "output_file_too_large")
        with pytest.raises(anthropic.APIStatusError) as info:
            client.files.upload(file=("big.txt", b"y" * 11, "text/plain"))
        assert info.value.status_code == 413


# --- uploads -----------------------------------------------------------------------------------

CSV = b"city,population\nLyon,522250\nNantes,323204\n"


def test_an_uploaded_csv_attached_as_container_upload_is_read_by_the_script(client):
    meta = client.files.upload(file=("cities.csv", CSV, "text/csv"))
    assert (meta.filename, meta.mime_type, meta.size_bytes) == ("cities.csv", "text/csv", len(CSV))
    assert meta.downloadable is False
    code = (
        "import csv, os\nrows = list(csv.DictReader(open(os.path.join(os.environ['INPUT_DIR'], 'cities.csv'))))\n"
        "print(sum(int(r['population']) for r in rows))"
    )
    content = [
        {"type": "text", "text": "Sum the populations."},
        {"type": "container_upload", "file_id": meta.id},
        {"type": "text", "text": script_prompt(code) + "```bash\nwc -l < $INPUT_DIR/cities.csv\n```\n"},
    ]
    messages = [{"role": "user", "content": content}]
    final = client.messages.create(model="m", max_tokens=100, tools=TOOLS, messages=messages)
    assert final.stop_reason == "end_turn"
    assert final.content[-1].text == "845454\n\n3"
    with pytest.raises(anthropic.BadRequestError) as info:  # uploads are not downloadable, as on the API
        client.files.download(meta.id)
    assert info.value.error_code == "file_not_downloadable"


def test_an_unknown_container_upload_is_a_404(client):
    content = [{"type": "container_upload", "file_id": "file_nope"}, {"type": "text", "text": script_prompt("1")}]
    with pytest.raises(anthropic.NotFoundError, match="file_nope"):
        client.messages.create(model="m", max_tokens=100, tools=TOOLS, messages=[{"role": "user", "content": content}])


def test_list_pages_newest_first_and_delete(emulator, client):
    fresh = EmulatorServer().start()
    try:
        c = anthropic.Anthropic(base_url=fresh.url, api_key=fresh.api_key, max_retries=0)
        ids = [c.files.upload(file=(f"f{i}.txt", b"x" * i, "text/plain")).id for i in range(1, 3)]
        ids.append(c.beta.files.upload(file=("f3.txt", b"xxx", "text/plain"), betas=["files-api-2025-04-14"]).id)
        page = c.files.list(limit=2)
        assert [f.id for f in page.data] == ids[:0:-1] and page.has_next_page()
        assert [f.id for f in c.files.list(limit=2)] == ids[::-1]  # auto-paging follows next_page
        raw = c.get("/v1/files", cast_to=object, options={"params": {"limit": 2}})
        assert raw["has_more"] is True and (raw["first_id"], raw["last_id"]) == (ids[2], ids[1])
        assert [f.id for f in c.beta.files.list(limit=1000)] == ids[::-1]
        assert [f.id for f in c.files.list(ids=[ids[0], "file_unknown"])] == [ids[0]]
        deleted = c.files.delete(ids[1])
        assert (deleted.id, deleted.type) == (ids[1], "file_deleted")
        with pytest.raises(anthropic.NotFoundError):
            c.files.retrieve_metadata(ids[1])
        with pytest.raises(anthropic.NotFoundError):
            c.beta.files.delete(ids[1])
        assert [f.id for f in c.files.list()] == [ids[2], ids[0]]
    finally:
        fresh.stop()


def test_the_files_endpoints_are_guarded(emulator):
    for method, path in (("GET", "/v1/files"), ("POST", "/v1/files"), ("GET", "/v1/files/file_x/content")):
        response = httpx2.request(method, emulator.url + path)
        assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"
    response = httpx2.get(emulator.url + "/v1/files", headers={"x-api-key": emulator.api_key, "host": "evil.example"})
    assert response.status_code == 421


def test_bad_uploads_and_expiry():
    store = FileStore(100)
    record = store.add("old.csv", b"a", downloadable=True, expires_in_s=3600)
    assert record.metadata()["expires_at"].endswith("Z")
    record.expires = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    with pytest.raises(ApiError) as info:
        store.content(record.id)
    assert info.value.status == 404 and info.value.details == {"error_code": "file_expired"}
    with EmulatorServer() as server:
        key = {"x-api-key": server.api_key}
        no_file = httpx2.post(server.url + "/v1/files", data={"x": "1"}, files={"other": ("a", b"b")}, headers=key)
        assert no_file.status_code == 400 and "file" in no_file.json()["error"]["message"]
        short = httpx2.post(
            server.url + "/v1/files",
            data={"expires_in_seconds": "5"},
            files={"file": ("a.txt", b"b", "text/plain")},
            headers=key,
        )
        assert short.status_code == 400 and "expires_in_seconds" in short.json()["error"]["message"]
        unnamed = httpx2.post(
            server.url + "/v1/files", files={"file": ("../../", b"{}", "application/json")}, headers=key
        )
        assert unnamed.json()["filename"] == "unnamed.json"
