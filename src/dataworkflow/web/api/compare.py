"""Comparing two revisions: the files that changed, with status, ids and modes."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository
from dataworkflow.web.api.schemas import Query, change_json
from dataworkflow.web.auth import access

COMPARE_LIMIT = 1000
COMPARE_MAX = 10_000


@bp.get("/repos/<repo>/compare")
@access("read")
def compare(repo: str) -> ResponseReturnValue:
    """The files that differ between ``base`` and ``head``, in the byte order of their paths.

    Status A (added), D (deleted), M (modified), R (renamed), C (copied) or T (mode
    only). ``path`` limits the comparison to a folder. Pages continue ``after`` the ``next``
    path of the previous page; pass the returned commit ids as ``base`` and ``head`` to
    keep comparing the same snapshots.
    """
    r = repository(repo)
    query = Query()
    base = query.revision("base", required=True)
    head = query.revision("head", required=True)
    path = query.path("path")
    after = query.path("after") or None
    limit = query.integer("limit", COMPARE_LIMIT, minimum=1, maximum=COMPARE_MAX)
    query.done()
    base_id, head_id = r.resolve(base), r.resolve(head)
    # Sorted here, whatever order the service uses, so that "after" always continues
    # exactly where the previous page stopped (paths are unique within a diff).
    changes = sorted(r.diff(base_id, head_id, path), key=lambda c: c.path.encode("utf-8"))
    if after is not None:
        cut = after.encode("utf-8")
        changes = [c for c in changes if c.path.encode("utf-8") > cut]
    page = changes[:limit]
    return {
        "base": base_id,
        "head": head_id,
        "path": path,
        "changes": [change_json(change) for change in page],
        "next": page[-1].path if len(changes) > limit else None,
    }
