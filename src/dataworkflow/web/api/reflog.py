"""The ref log: every movement of every ref, newest first, with who moved it and why.

It is the record that keeps a force move or a deletion from losing track of a commit,
so it is readable by whoever may read the repository, and written only by the
repository service itself (there is no endpoint that changes it).
"""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from dataworkflow.core.names import branch_ref, tag_ref
from dataworkflow.errors import InvalidInput, RefNotFound
from dataworkflow.services.repository import Repository
from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository
from dataworkflow.web.api.schemas import Query, reflog_json
from dataworkflow.web.auth import access
from dataworkflow.web.errors import InvalidParameters

MAX_PAGE = 1000
"""Most entries per page (the service's own cap)."""
MAX_ENTRY_ID = 10**12 - 1
"""Largest ``before`` accepted: ids are database sequence numbers, far below this."""


def _log_ref(repo: Repository, name: str) -> str:
    """The full ref name ``name`` stands for: itself if full, else a branch, else a tag.

    A short name is looked up in the log, not among current refs, so a deleted
    branch's movements can still be read.

    Raises:
        InvalidParameters: for a malformed name (400).
        RefNotFound: if no branch or tag of that name ever moved.
    """
    try:
        candidates = [name] if name.startswith("refs/") else [branch_ref(name), tag_ref(name)]
        for full in candidates:
            if repo.ref_log(full, limit=1):
                return full
    except InvalidInput as error:
        raise InvalidParameters([{"parameter": "ref", "detail": str(error)}]) from None
    raise RefNotFound(name)


@bp.get("/repos/<repo>/reflog")
@access("read")
def reflog(repo: str) -> ResponseReturnValue:
    """A page of ref movements, newest first; ``next`` is the ``before`` of the next page."""
    r = repository(repo)
    query = Query()
    name = query.text("ref")
    before = query.integer("before", 0, minimum=1, maximum=MAX_ENTRY_ID)
    limit = query.integer("limit", 100, minimum=1, maximum=MAX_PAGE)
    query.done()
    ref = _log_ref(r, name) if name is not None else None
    # One entry more than asked says whether there is a next page without counting; at
    # the service's cap of 1000 a full page may be followed by an empty one.
    entries = r.ref_log(ref, before=before or None, limit=min(limit + 1, MAX_PAGE))
    more = len(entries) > limit or len(entries) == MAX_PAGE
    entries = entries[:limit]
    return {
        "entries": [reflog_json(entry) for entry in entries],
        "next": entries[-1].id if more and entries else None,
    }
