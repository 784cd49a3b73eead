"""Blobs by id: streamed upload, download, and which of a list the repository lacks.

An upload is read from the request stream in chunks straight into storage (hashing as
it goes), never held in memory; the id comes back, ready for a commit's ``blob``.
"""

from __future__ import annotations

from typing import IO, BinaryIO, cast

from flask import current_app, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import LengthRequired, RequestEntityTooLarge, UnsupportedMediaType

from dataworkflow.core.ids import ObjectId, is_object_id, parse_object_id
from dataworkflow.errors import ObjectNotFound
from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository
from dataworkflow.web.api.files import blob_response
from dataworkflow.web.api.schemas import Fields, json_body
from dataworkflow.web.auth import access

MAX_QUERY_IDS = 10_000


class _CountingReader:
    """A binary stream that counts the bytes read through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.stream.read(size)
        self.size += len(data)
        return data


@bp.post("/repos/<repo>/objects")
@access("write")
def upload_object(repo: str) -> ResponseReturnValue:
    """Store the request body as a blob of the repository; answer its id and size.

    The body is the raw bytes (``application/octet-stream``), with a ``Content-Length``
    or chunked transfer encoding (411 without either: an empty file says length 0).
    Above ``API_MAX_OBJECT_BYTES`` the answer is 413, before reading when the length is
    declared, else as soon as the limit is passed.
    """
    r = repository(repo)
    if request.mimetype not in ("", "application/octet-stream"):
        raise UnsupportedMediaType("send the bytes as application/octet-stream")
    limit = int(current_app.config["API_MAX_OBJECT_BYTES"])
    length = request.content_length
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if length is None and not (chunked and request.environ.get("wsgi.input_terminated")):
        # No body at all, or a chunked one this server cannot delimit (it would hand us
        # an empty stream): refuse rather than store an empty blob by mistake.
        raise LengthRequired("send the bytes with a Content-Length header or chunked")
    if length is not None and length > limit:
        raise RequestEntityTooLarge(f"an object may hold at most {limit} bytes")
    # One byte of slack: on servers that terminate the input (gunicorn, chunked bodies)
    # Werkzeug raises 413 on the read *at* the limit, even when the body ends exactly there.
    request.max_content_length = limit + 1
    reader = _CountingReader(request.stream)
    blob_id = r.create_blob(cast(BinaryIO, reader))
    location = url_for("api.download_object", repo=repo, object_id=blob_id)
    return {"id": blob_id, "size": reader.size}, 201, {"Location": location}


@bp.get("/repos/<repo>/objects/<object_id>")
@access("read")
def download_object(repo: str, object_id: str) -> ResponseReturnValue:
    """The bytes of a blob the repository has; the ETag is its id."""
    r = repository(repo)
    blob_id = parse_object_id(object_id)
    sizes = r.blob_sizes([blob_id])
    if blob_id not in sizes:
        raise ObjectNotFound(blob_id, kind="blob")
    return blob_response(blob_id, sizes[blob_id], blob_id)


@bp.post("/repos/<repo>/objects/missing")
@access("write")
def missing_objects(repo: str) -> ResponseReturnValue:
    """Which of the given blob ids the repository lacks: upload only those."""
    r = repository(repo)
    body = Fields(json_body())
    items = body.array("ids", required=True, max_items=MAX_QUERY_IDS)
    ids: list[ObjectId] = []
    for index, item in enumerate(items):
        if is_object_id(item):
            ids.append(ObjectId(item))
            continue
        body.errors.append(
            {"pointer": f"/ids/{index}", "detail": "must be 64 lowercase hex characters"}
        )
    body.finish()
    body.check()
    known = r.blob_sizes(ids)
    missing = list(dict.fromkeys(i for i in ids if i not in known))
    return {"missing": missing}
