"""Sending a stored blob over HTTP: streamed, one byte range at most, ETag from its id.

Shared by the UI's raw pages and the API's file and object downloads, so both answer
``Range``, ``If-Range`` and ``If-None-Match`` the same way. A whole blob from filesystem
storage goes out as a file through the server's ``wsgi.file_wrapper`` when it has one;
gunicorn sends that with ``sendfile(2)``, without a copy through Python.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from flask import Response, request
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from dataworkflow.core.ids import ObjectId
from dataworkflow.storage.base import ObjectStorage
from dataworkflow.storage.filesystem import FileSystemStorage

STREAM_CHUNK = 256 * 1024
FILE_CHUNK = 1024 * 1024
"""Read size of a server's file wrapper when it cannot ``sendfile`` (TLS, say)."""


def stream_blob(
    storage: ObjectStorage, blob_id: ObjectId, start: int, stop: int
) -> Iterator[bytes]:
    """Yield bytes ``start`` to ``stop`` (exclusive) of a blob in ``STREAM_CHUNK`` pieces."""
    with storage.open(blob_id) as stream:
        if start:
            if stream.seekable():
                stream.seek(start)
            else:
                remaining = start
                while remaining:
                    skipped = stream.read(min(STREAM_CHUNK, remaining))
                    if not skipped:
                        return
                    remaining -= len(skipped)
        left = stop - start
        while left > 0:
            chunk = stream.read(min(STREAM_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def send_blob(
    storage: ObjectStorage,
    blob_id: ObjectId,
    size: int,
    *,
    content_type: str,
    disposition: str | None = None,
) -> Response:
    """A response with the blob's bytes, honouring conditional and range headers.

    The ETag is the blob id: content-addressed, so it is strong and never changes for the
    same bytes. ``If-None-Match`` gives 304; one satisfiable ``bytes`` range gives 206
    (only if ``If-Range``, when sent, names the same ETag); several ranges are ignored and
    the whole blob is sent.

    Raises:
        RequestedRangeNotSatisfiable: 416 for a single range outside the blob; the
            exception carries the ``Content-Range: bytes */size`` header.
    """
    etag = blob_id
    if request.if_none_match.contains(etag):
        return not_modified(etag)
    start, stop, status = 0, size, 200
    byte_range = request.range
    if_range = request.if_range
    range_applies = byte_range is not None and (
        (if_range.etag is None and if_range.date is None) or if_range.etag == etag
    )
    if range_applies and byte_range is not None and len(byte_range.ranges) == 1:
        bounds = byte_range.range_for_length(size) if byte_range.units == "bytes" else None
        if bounds is None:
            raise RequestedRangeNotSatisfiable(length=size)
        start, stop = bounds
        status = 206
    file_wrapper = request.environ.get("wsgi.file_wrapper")
    file = None
    if file_wrapper is not None and status == 200 and request.method != "HEAD":
        file = open_whole_file(storage, blob_id, size)
    if file_wrapper is not None and file is not None:
        # Passed through untouched: the server recognises its wrapper and uses sendfile.
        body = file_wrapper(file, FILE_CHUNK)
        response = Response(body, status=status, mimetype=None, direct_passthrough=True)
    else:
        response = Response(
            stream_blob(storage, blob_id, start, stop), status=status, mimetype=None
        )
    response.headers["Content-Type"] = content_type
    response.headers["Content-Length"] = str(stop - start)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, max-age=0, must-revalidate"
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    response.set_etag(etag)
    if disposition is not None:
        response.headers["Content-Disposition"] = disposition
    return response


def open_whole_file(storage: ObjectStorage, blob_id: ObjectId, size: int) -> BinaryIO | None:
    """The blob's file, open for reading, if it is a regular file of ``size`` bytes.

    Only filesystem storage has such files; for any other storage (S3 streams as before)
    or a file whose size disagrees with the metadata, None.

    Raises:
        ObjectNotFound: if the blob is missing from filesystem storage.
    """
    if not isinstance(storage, FileSystemStorage):
        return None
    file = storage.open(blob_id)
    try:
        info = os.fstat(file.fileno())
    except io.UnsupportedOperation:  # a packed object, read into memory: streamed instead
        file.close()
        return None
    except BaseException:
        file.close()
        raise
    if not stat.S_ISREG(info.st_mode) or info.st_size != size:
        file.close()
        return None
    return file


def not_modified(etag: str) -> Response:
    """A 304 answer for a request whose ``If-None-Match`` names ``etag``."""
    response = Response(status=304)
    response.set_etag(etag)
    return response


def content_disposition(kind: str, name: str) -> str:
    """``attachment; filename=...`` with an ASCII fallback and the RFC 5987 UTF-8 name."""
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
    ascii_name = "".join(c if 32 <= ord(c) < 127 else "_" for c in ascii_name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
