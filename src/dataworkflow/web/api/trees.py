"""Folder listings at a revision: one level or recursive, keyset-paginated.

The response names the commit the revision resolved to; pass it back as ``ref`` with
``after=<next>`` so every page lists the same snapshot even if the branch moves.
"""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository
from dataworkflow.web.api.schemas import Query, entry_json
from dataworkflow.web.auth import access

TREE_LIMIT = 1000
TREE_MAX = 10_000


@bp.get("/repos/<repo>/tree")
@access("read")
def list_tree(repo: str) -> ResponseReturnValue:
    """Entries of the folder at ``path`` in ``ref``, by name (depth first if recursive).

    ``after`` continues after the entry whose ``next`` key a previous page returned: an
    entry name, or for recursive listings a path relative to ``path``.
    """
    r = repository(repo)
    query = Query()
    ref = query.revision("ref")
    path = query.path("path")
    recursive = query.boolean("recursive")
    limit = query.integer("limit", TREE_LIMIT, minimum=1, maximum=TREE_MAX)
    after = (query.path("after") or None) if recursive else query.name("after")
    query.done()
    commit_id = r.resolve(ref)
    listed = r.list_tree(commit_id, path, recursive=recursive, after=after, limit=limit + 1)
    page = listed[:limit]
    next_key = None
    if len(listed) > limit:
        last = page[-1]
        if recursive:
            next_key = last.path[len(path) + 1 :] if path else last.path
        else:
            next_key = last.name
    return {
        "commit": commit_id,
        "path": path,
        "entries": [entry_json(item) for item in page],
        "next": next_key,
    }
