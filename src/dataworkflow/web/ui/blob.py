"""The file page (previews) and raw downloads (streamed, ranged, never as HTML)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from flask import Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.core.ids import ObjectId
from dataworkflow.storage.base import ObjectStorage, SupportsPresignedUrls
from dataworkflow.web.context import get_backend
from dataworkflow.web.previews import (
    IMAGE_TYPES,
    build_preview,
    extension,
    guess_mime,
    looks_binary,
)
from dataworkflow.web.ui import bp
from dataworkflow.web.ui._common import locate, refs_context

STREAM_CHUNK = 256 * 1024
RAW_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


@bp.get("/<repo_name>/blob/<path:rev_and_path>")
def blob(repo_name: str, rev_and_path: str) -> ResponseReturnValue:
    """A file with its preview, size, id, and raw/download/permalink links."""
    loc = locate(repo_name, rev_and_path)
    listed = loc.repo.stat(loc.commit.id, loc.path)
    if listed.entry.kind == "tree":
        return redirect(url_for("ui.tree", repo_name=repo_name, rev_and_path=rev_and_path))
    size = listed.size or 0
    preview = build_preview(listed.entry.name, listed.entry.id, size, get_backend().storage)
    return render_template(
        "ui/blob.html",
        loc=loc,
        file=listed,
        size=size,
        preview=preview,
        mime=guess_mime(listed.entry.name),
        **refs_context(loc.repo),
    )


def _content_type(name: str, storage: ObjectStorage, blob_id: ObjectId) -> tuple[str, bool]:
    """A safe type and whether to show inline: images and plain text only, never HTML."""
    ext = extension(name)
    if ext in IMAGE_TYPES:
        return IMAGE_TYPES[ext], True
    head = storage.read_range(blob_id, 0, 8192)
    if not looks_binary(head):
        return "text/plain; charset=utf-8", True
    return "application/octet-stream", False


def _stream(storage: ObjectStorage, blob_id: ObjectId, start: int, stop: int) -> Iterator[bytes]:
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


@bp.get("/<repo_name>/raw/<path:rev_and_path>")
def raw(repo_name: str, rev_and_path: str) -> ResponseReturnValue:
    """The file's bytes: ETag from the blob id, single byte ranges, safe content types."""
    loc = locate(repo_name, rev_and_path)
    listed = loc.repo.stat(loc.commit.id, loc.path)
    if listed.entry.kind == "tree":
        return redirect(url_for("ui.tree", repo_name=repo_name, rev_and_path=rev_and_path))
    storage = get_backend().storage
    blob_id, size = listed.entry.id, listed.size or 0
    etag = blob_id
    download = request.args.get("download") == "1"
    if isinstance(storage, SupportsPresignedUrls) and download:
        url = storage.presigned_url(
            blob_id,
            expires_in=300,
            content_disposition=_disposition("attachment", listed.entry.name),
            content_type="application/octet-stream",
        )
        return redirect(url, code=302)
    if request.if_none_match.contains(etag):
        response = Response(status=304)
        response.set_etag(etag)
        return response
    mime, inline = _content_type(listed.entry.name, storage, blob_id)
    start, stop, status = 0, size, 200
    byte_range = request.range
    if_range = request.if_range
    range_applies = byte_range is not None and (
        (if_range.etag is None and if_range.date is None) or if_range.etag == etag
    )
    if range_applies and byte_range is not None:
        bounds = byte_range.range_for_length(size) if byte_range.units == "bytes" else None
        if len(byte_range.ranges) == 1:  # several ranges: ignored, the whole file is sent
            if bounds is None:
                response = Response(status=416)
                response.headers["Content-Range"] = f"bytes */{size}"
                return response
            start, stop = bounds
            status = 206
    response = Response(_stream(storage, blob_id, start, stop), status=status, mimetype=None)
    response.headers["Content-Type"] = mime
    response.headers["Content-Length"] = str(stop - start)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Content-Security-Policy"] = RAW_CSP
    response.headers["Cache-Control"] = "private, max-age=0, must-revalidate"
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    response.set_etag(etag)
    disposition = "attachment" if download or not inline else "inline"
    response.headers["Content-Disposition"] = _disposition(disposition, listed.entry.name)
    return response


def _disposition(kind: str, name: str) -> str:
    """``attachment; filename=...`` with an ASCII fallback and the RFC 5987 UTF-8 name."""
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
    ascii_name = "".join(c if 32 <= ord(c) < 127 else "_" for c in ascii_name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
