"""The file page (previews) and raw downloads (streamed, ranged, never as HTML)."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.core.ids import ObjectId
from dataworkflow.storage.base import ObjectStorage, SupportsPresignedUrls
from dataworkflow.web.auth import access
from dataworkflow.web.context import get_backend
from dataworkflow.web.downloads import content_disposition, not_modified, send_blob
from dataworkflow.web.previews import (
    IMAGE_TYPES,
    build_preview,
    extension,
    guess_mime,
    looks_binary,
)
from dataworkflow.web.ui import bp
from dataworkflow.web.ui._common import locate, refs_context

RAW_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


@bp.get("/<repo_name>/blob/<path:rev_and_path>")
@access("read")
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


@bp.get("/<repo_name>/raw/<path:rev_and_path>")
@access("read")
def raw(repo_name: str, rev_and_path: str) -> ResponseReturnValue:
    """The file's bytes: ETag from the blob id, single byte ranges, safe content types."""
    loc = locate(repo_name, rev_and_path)
    listed = loc.repo.stat(loc.commit.id, loc.path)
    if listed.entry.kind == "tree":
        return redirect(url_for("ui.tree", repo_name=repo_name, rev_and_path=rev_and_path))
    storage = get_backend().storage
    blob_id, size = listed.entry.id, listed.size or 0
    download = request.args.get("download") == "1"
    if isinstance(storage, SupportsPresignedUrls) and download:
        url = storage.presigned_url(
            blob_id,
            expires_in=300,
            content_disposition=content_disposition("attachment", listed.entry.name),
            content_type="application/octet-stream",
        )
        return redirect(url, code=302)
    if request.if_none_match.contains(blob_id):
        return not_modified(blob_id)  # before sniffing the content type: no storage read
    mime, inline = _content_type(listed.entry.name, storage, blob_id)
    disposition = "attachment" if download or not inline else "inline"
    response = send_blob(
        storage,
        blob_id,
        size,
        content_type=mime,
        disposition=content_disposition(disposition, listed.entry.name),
    )
    response.headers["Content-Security-Policy"] = RAW_CSP
    return response
