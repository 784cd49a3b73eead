"""History (log), one commit, and making a commit from a set of changes.

A commit request names the branch, the head it was prepared against
(``expected_head``, null to create the branch) and its changes: puts that reference an
uploaded blob by id or carry small contents inline, and deletes. The commit lands only
if the branch still points at ``expected_head``; otherwise the answer is 409 with the
current head, and nothing is written: a writer never silently loses another's work.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import current_app, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.core.names import branch_ref
from dataworkflow.errors import RefConflict
from dataworkflow.services.changes import Change, Delete, Put, PutBlob
from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository, with_current
from dataworkflow.web.api.schemas import (
    MAX_CURSOR,
    Fields,
    Query,
    check_revision,
    commit_json,
    json_body,
)
from dataworkflow.web.auth import access

LOG_LIMIT = 50
LOG_MAX = 1000
MAX_CHANGES = 200_000
MAX_MESSAGE = 100_000


@bp.get("/repos/<repo>/commits")
@access("read")
def log(repo: str) -> ResponseReturnValue:
    """History from a revision, newest first, optionally only commits touching a path.

    ``next`` is an opaque cursor: pass it back as ``cursor`` (with the same ``path``)
    for the next page; null means the history is exhausted.
    """
    r = repository(repo)
    query = Query()
    ref = query.revision("ref")
    path = query.path("path")
    limit = query.integer("limit", LOG_LIMIT, minimum=1, maximum=LOG_MAX)
    cursor = query.text("cursor", max_length=MAX_CURSOR)
    query.done()
    page = r.log(ref, path=path or None, limit=limit, cursor=cursor)
    return {
        "commits": [commit_json(entry.id, entry.commit) for entry in page.commits],
        "next": page.next_cursor,
    }


@bp.get("/repos/<repo>/commits/<path:rev>")
@access("read")
def get_commit(repo: str, rev: str) -> ResponseReturnValue:
    """One commit, by id, short id, branch, tag or expression such as ``main~2``."""
    r = repository(repo)
    entry = r.get_commit(check_revision(rev))
    return commit_json(entry.id, entry.commit)


@bp.post("/repos/<repo>/commits")
@access("write")
def create_commit(repo: str) -> ResponseReturnValue:
    """Apply puts and deletes to a branch as one commit, if its head is ``expected_head``."""
    r = repository(repo)
    body = Fields(json_body())
    branch = body.ref_name("branch", required=True)
    message = body.string("message", required=True, max_length=MAX_MESSAGE)
    if message is not None and not message.strip():
        body.error("message", "must not be empty")
    expected_head = body.object_id("expected_head", required=True) if _not_null(body) else None
    author = body.string("author", max_length=256)
    author_email = body.string("author_email", max_length=256)
    metadata = body.string_map("metadata")
    items = body.array("changes", required=True, max_items=MAX_CHANGES)
    changes = [_change(item, i, body) for i, item in enumerate(items)]
    body.finish()
    body.check()
    assert branch is not None and message is not None
    try:
        result = r.commit(
            branch,
            [c for c in changes if c is not None],
            message,
            author=author,
            author_email=author_email,
            metadata=metadata,
            expected_head=expected_head,
        )
    except RefConflict as error:
        raise with_current(error, r, branch_ref(branch)) from error
    answer: dict[str, Any] = {
        "branch": branch,
        "commit": result.commit_id,
        "tree": result.tree_id,
        "parent": result.parent_id,
        "created": result.created,
    }
    if not result.created:
        return answer, 200
    location = url_for("api.get_commit", repo=repo, rev=result.commit_id)
    return answer, 201, {"Location": location}


def _not_null(body: Fields) -> bool:
    """Whether ``expected_head`` is given as something other than null.

    It is required, and null is meaningful: the branch must not exist yet.
    """
    if body.has("expected_head") and body.data["expected_head"] is None:
        body.seen.add("expected_head")
        return False
    return True


def _change(item: object, index: int, parent: Fields) -> Change | None:
    """One change of a commit request, or None (with errors recorded) if it is invalid."""
    fields = Fields(item, f"/changes/{index}", parent.errors)
    if not fields.data:
        if isinstance(item, dict):
            fields.error("op", "is required")
        return None
    op = fields.string("op", required=True, max_length=16)
    path = fields.path("path", required=True)
    change: Change | None = None
    if op == "delete":
        change = Delete(path) if path else None
    elif op == "put":
        executable = fields.boolean("executable")
        if fields.has("blob") == fields.has("content"):
            fields.error("blob", "give exactly one of blob (an uploaded object id) or content")
        elif fields.has("blob"):
            blob = fields.object_id("blob", required=True)
            if blob and path:
                change = PutBlob(path, blob, executable=executable)
        else:
            data = _inline_content(fields)
            if data is not None and path:
                change = Put(path, data, executable=executable)
    elif op is not None:
        fields.error("op", "must be put or delete")
    fields.finish()
    return change


def _inline_content(fields: Fields) -> bytes | None:
    """Decode ``content`` (``encoding``: utf-8, the default, or base64) within the cap."""
    cap = int(current_app.config["API_MAX_INLINE_BYTES"])
    encoding = fields.string("encoding", max_length=16) or "utf-8"
    text = fields.string("content", required=True, max_length=4 * cap, allow_nul=True)
    if text is None:
        return None
    if encoding == "utf-8":
        data = text.encode("utf-8")
    elif encoding == "base64":
        try:
            data = base64.b64decode(text.encode("ascii"), validate=True)
        except (ValueError, binascii.Error):
            fields.error("content", "is not valid base64")
            return None
    else:
        fields.error("encoding", "must be utf-8 or base64")
        return None
    if len(data) > cap:
        fields.error(
            "content",
            f"inline content is limited to {cap} bytes; upload larger files to "
            "/repos/{repo}/objects and put them by blob id",
        )
        return None
    return data
