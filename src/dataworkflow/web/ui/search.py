"""Search pages: across every repository the caller may read, or inside one."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, request
from flask.typing import ResponseReturnValue

from dataworkflow.errors import InvalidInput
from dataworkflow.services import search as search_service
from dataworkflow.services.access import readable_repository_ids
from dataworkflow.web.auth import access, principal
from dataworkflow.web.context import get_backend, get_repository
from dataworkflow.web.ui import bp

PAGE = 20
KINDS = ("commits", "content", "paths")


def _offset() -> int:
    try:
        return max(0, min(int(request.args.get("offset", "0")), search_service.MAX_OFFSET))
    except ValueError:
        return 0


def _kind(default: str) -> str:
    kind = request.args.get("kind", default)
    return kind if kind in KINDS else default


@bp.get("/search")
@access("public")
def search() -> ResponseReturnValue:
    """Commits and file content across every repository the caller may read."""
    db = get_backend().db
    query = request.args.get("q", "").strip()
    kind = _kind("content")
    if kind == "paths":
        kind = "content"  # a glob needs one repository and revision
    results: dict[str, Any] = {}
    error = None
    if query:
        readable = readable_repository_ids(db, principal())
        try:
            results = _run(db, kind, query, readable)
        except InvalidInput as exc:
            error = str(exc)
    status = 400 if error else 200
    return (
        render_template(
            "ui/search.html", repo=None, query=query, kind=kind, error=error, **results
        ),
        status,
    )


@bp.get("/<repo_name>/search")
@access("read")
def repo_search(repo_name: str) -> ResponseReturnValue:
    """Commits, file content at branch heads, or paths matching a glob at a revision."""
    db = get_backend().db
    repo = get_repository(repo_name)
    query = request.args.get("q", "").strip()
    kind = _kind("content")
    rev = request.args.get("rev", "").strip() or repo.default_branch
    results: dict[str, Any] = {}
    error = None
    if query:
        try:
            if kind == "paths":
                found = search_service.find_paths(repo, rev, query, limit=search_service.MAX_LIMIT)
                results = {"paths": found}
            else:
                results = _run(db, kind, query, {g.repository_info.id})
        except InvalidInput as exc:
            error = str(exc)
    status = 400 if error else 200
    return (
        render_template(
            "ui/search.html", repo=repo, query=query, kind=kind, rev=rev, error=error, **results
        ),
        status,
    )


def _run(db: Any, kind: str, query: str, readable: set[int] | None) -> dict[str, Any]:
    offset = _offset()
    if kind == "commits":
        page = search_service.search_commits(
            db, query, repository_ids=readable, limit=PAGE, offset=offset
        )
        return {"commits": page.items, "next_offset": page.next_offset, "offset": offset}
    page_content = search_service.search_content(
        db, query, repository_ids=readable, limit=PAGE, offset=offset
    )
    return {
        "content": page_content.items,
        "next_offset": page_content.next_offset,
        "offset": offset,
    }
