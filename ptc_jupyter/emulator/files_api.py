"""The Files API endpoints of the emulator, over a `FileStore` (`files.py`).

`POST /v1/files` (multipart, field `file`; optional `expires_in_seconds`), `GET /v1/files` (newest
first; `limit`, `page` cursor, `ids[]`, or `after_id`/`before_id`), `GET /v1/files/{id}`
(`FileMetadata`), `GET /v1/files/{id}/content` (the bytes; only files a step produced are
downloadable, as on the API) and `DELETE /v1/files/{id}` (`{"id", "type": "file_deleted"}`).
The GA SDK (`client.files`) and the beta one (`client.beta.files`, which may send an
`anthropic-beta` header and `?beta=true`) both work: extra headers and query parameters are ignored.
Like every route, these pass the emulator's `Guard` first.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ptc_jupyter.emulator.faults import FaultQueue
from ptc_jupyter.emulator.files import EXPIRY_RANGE_S, FileStore, clean_filename, guess_mime
from ptc_jupyter.emulator.wire import ApiError, invalid_request, new_id

Handler = Callable[[Request], Awaitable[Response]]


def _answering(handler: Callable[[Request, str], Awaitable[Response]]) -> Handler:
    """Give the handler a request id, and turn its `ApiError`s into the API's error answers."""

    async def endpoint(request: Request) -> Response:
        request_id = new_id("req")
        try:
            response = await handler(request, request_id)
        except ApiError as exc:
            response = JSONResponse(exc.body(request_id), exc.status)
        response.headers["request-id"] = request_id
        return response

    return endpoint


def file_routes(store: FileStore, faults: FaultQueue | None = None) -> list[Route]:
    """The routes over `store`; `faults` may make a download fail (`file_download_error`)."""

    async def upload(request: Request, _rid: str) -> Response:
        async with request.form(max_files=1) as form:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise invalid_request("file: Field required (a multipart/form-data part named `file`)")
            data = await part.read()
            expires = form.get("expires_in_seconds")
        if len(data) > store.max_bytes:
            raise ApiError(413, f"File too large: {len(data)} bytes; the limit is {store.max_bytes} bytes.")
        expires_in = _expiry(expires)
        sent_type = (part.content_type or "").split(";")[0].strip()
        filename = clean_filename(part.filename, sent_type)
        mime = sent_type if sent_type and sent_type != "application/octet-stream" else guess_mime(filename)
        record = store.add(filename, data, mime, downloadable=False, expires_in_s=expires_in)
        return JSONResponse(record.metadata())

    async def list_files(request: Request, _rid: str) -> Response:
        query = request.query_params
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            raise invalid_request("limit: Input should be a valid integer") from None
        ids = query.getlist("ids[]") + query.getlist("ids")
        return JSONResponse(
            store.page(
                limit=limit,
                page=query.get("page"),
                ids=ids or None,
                after_id=query.get("after_id"),
                before_id=query.get("before_id"),
            )
        )

    async def metadata(request: Request, _rid: str) -> Response:
        return JSONResponse(store.get(request.path_params["file_id"]).metadata())

    async def content(request: Request, _rid: str) -> Response:
        if faults is not None and faults.take("file_download_error"):
            raise ApiError(
                404,
                f"File {request.path_params['file_id']} has no content any more "
                "(fault injected in the offline emulator).",
                "not_found_error",
            )
        record = store.content(request.path_params["file_id"])
        disposition = f"attachment; filename*=UTF-8''{urllib.parse.quote(record.filename)}"
        return Response(record.data, media_type=record.mime_type, headers={"content-disposition": disposition})

    async def delete(request: Request, _rid: str) -> Response:
        return JSONResponse(store.delete(request.path_params["file_id"]))

    return [
        Route("/v1/files", _answering(upload), methods=["POST"]),
        Route("/v1/files", _answering(list_files), methods=["GET"]),
        Route("/v1/files/{file_id}/content", _answering(content), methods=["GET"]),
        Route("/v1/files/{file_id}", _answering(metadata), methods=["GET"]),
        Route("/v1/files/{file_id}", _answering(delete), methods=["DELETE"]),
    ]


def _expiry(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        seconds = int(str(value))
    except ValueError:
        raise invalid_request("expires_in_seconds: Input should be a valid integer") from None
    low, high = EXPIRY_RANGE_S
    if not low <= seconds <= high:
        raise invalid_request(f"expires_in_seconds: must be between {low} and {high}")
    return seconds
