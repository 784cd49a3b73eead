"""Search over the API: commits, file content, paths by glob, a path's history.

``/search`` covers every repository the caller may read (the SQL filters on that set,
so a private repository cannot appear, not even as a count); with ``repo=`` it covers
one, which must be readable (404 otherwise, like every other repository URL).
"""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from dataworkflow.services import access as access_service
from dataworkflow.services import search as search_service
from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository
from dataworkflow.web.api.schemas import Query
from dataworkflow.web.auth import access, principal
from dataworkflow.web.context import get_backend
from dataworkflow.web.errors import InvalidParameters

KINDS = ("commits", "content", "paths", "history")


@bp.get("/search")
@access("public")
def search() -> ResponseReturnValue:
    """One page of results of one kind; ``next`` goes back as ``offset`` or ``cursor``."""
    db = get_backend().db
    query = Query()
    text = query.text("q", required=True, max_length=search_service.MAX_PATTERN_CHARS)
    kind = query.text("kind") or "commits"
    repo_name = query.text("repo", max_length=100)
    rev = query.text("rev", max_length=1024)
    limit = query.integer("limit", 20, minimum=1, maximum=search_service.MAX_LIMIT)
    offset = query.integer("offset", 0, minimum=0, maximum=search_service.MAX_OFFSET)
    cursor = query.text("cursor", max_length=4096)
    query.done()
    assert text is not None
    empty = [
        name
        for name, value in (("repo", repo_name), ("rev", rev), ("cursor", cursor))
        if value == ""
    ]
    if empty:
        raise InvalidParameters(
            [{"parameter": name, "detail": "must not be empty"} for name in empty]
        )
    if kind not in KINDS:
        detail = f"must be one of {', '.join(KINDS)}"
        raise InvalidParameters([{"parameter": "kind", "detail": detail}])
    if kind in ("paths", "history") and repo_name is None:
        detail = f"a {kind} search needs a repository"
        raise InvalidParameters([{"parameter": "repo", "detail": detail}])
    if repo_name is not None:
        access_service.authorize(db, principal(), repo_name, "read")
        repo = repository(repo_name)
        readable: set[int] | None = {repo.id}
    else:
        readable = access_service.readable_repository_ids(db, principal())
    if kind == "commits":
        page = search_service.search_commits(
            db, text, repository_ids=readable, limit=limit, offset=offset
        )
        items = [search_service.commit_hit_json(hit) for hit in page.items]
        return {"kind": kind, "items": items, "next": page.next_offset}
    if kind == "content":
        found = search_service.search_content(
            db, text, repository_ids=readable, limit=limit, offset=offset
        )
        items = [search_service.content_hit_json(hit) for hit in found.items]
        return {"kind": kind, "items": items, "next": found.next_offset}
    if kind == "paths":
        paths = search_service.find_paths(repo, rev, text, limit=limit)
        items = [
            search_service.found_path_json(repo.name, paths.commit_id, item)
            for item in paths.entries
        ]
        return {"kind": kind, "items": items, "next": None, "truncated": paths.truncated}
    history = search_service.path_history(repo, text, rev, limit=limit, cursor=cursor)
    items = [search_service.path_change_json(change) for change in history.changes]
    return {"kind": kind, "items": items, "next": history.next_cursor}
