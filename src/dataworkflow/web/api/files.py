"""Files at a revision: raw bytes (ranges, ETag) and their metadata (stat)."""

from __future__ import annotations

from flask import Response
from flask.typing import ResponseReturnValue

from dataworkflow.core.ids import ObjectId
from dataworkflow.errors import NotAFile
from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository
from dataworkflow.web.api.schemas import Query, entry_json
from dataworkflow.web.auth import access
from dataworkflow.web.context import get_backend
from dataworkflow.web.downloads import content_disposition, send_blob

DOWNLOAD_CSP = "default-src 'none'; sandbox"
"""Downloads are data: even if a browser rendered one, it could run nothing."""


def blob_response(blob_id: str, size: int, name: str) -> Response:
    """The bytes of a blob as an ``application/octet-stream`` attachment."""
    response = send_blob(
        get_backend().storage,
        ObjectId(blob_id),
        size,
        content_type="application/octet-stream",
        disposition=content_disposition("attachment", name),
    )
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    return response


@bp.get("/repos/<repo>/files")
@access("read")
def download_file(repo: str) -> ResponseReturnValue:
    """The bytes of the file at ``path`` in ``ref``; HEAD gives only the headers.

    The ETag is the blob id (the SHA-256 of the bytes), so a client can verify what it
    downloaded; ``X-DataWorkflow-Commit`` and ``X-DataWorkflow-Mode`` say which commit
    was read and whether the file is executable.
    """
    r = repository(repo)
    query = Query()
    ref = query.revision("ref")
    path = query.path("path", required=True)
    query.done()
    commit_id, listed = r.locate(ref, path)
    if listed.entry.kind != "blob":
        raise NotAFile(f"{path!r} is a folder, not a file")
    response = blob_response(listed.entry.id, listed.size or 0, listed.entry.name)
    response.headers["X-DataWorkflow-Commit"] = commit_id
    response.headers["X-DataWorkflow-Mode"] = listed.entry.mode.value
    return response


@bp.get("/repos/<repo>/stat")
@access("read")
def stat(repo: str) -> ResponseReturnValue:
    """The entry at ``path`` in ``ref`` (a file or a folder; the root if no path)."""
    r = repository(repo)
    query = Query()
    ref = query.revision("ref")
    path = query.path("path")
    query.done()
    commit_id, listed = r.locate(ref, path)
    return {"commit": commit_id, **entry_json(listed)}
