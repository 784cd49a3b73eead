"""History pages and the commit page."""

from __future__ import annotations

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue

from dataworkflow.errors import InvalidInput
from dataworkflow.web.auth import access
from dataworkflow.web.context import get_repository
from dataworkflow.web.ui import bp
from dataworkflow.web.ui._common import locate, refs_context
from dataworkflow.web.ui.compare import file_diffs, parse_key

PAGE = 50
MAX_CHANGES = 1000  # a 100,000-file import lists its first thousand changes


@bp.get("/<repo_name>/commits/<path:rev_and_path>")
@access("read")
def commits(repo_name: str, rev_and_path: str) -> ResponseReturnValue:
    """History of a revision, or of one path in it, ``PAGE`` commits at a time."""
    loc = locate(repo_name, rev_and_path)
    cursor = request.args.get("cursor")
    if cursor is not None and len(cursor) > 65 * 64:
        abort(400, "invalid cursor")
    page = loc.repo.log(loc.commit.id, path=loc.path or None, limit=PAGE, cursor=cursor)
    return render_template(
        "ui/commits.html", loc=loc, page=page, cursor=cursor, **refs_context(loc.repo)
    )


@bp.get("/<repo_name>/commit/<path:rev>")
@access("read")
def commit(repo_name: str, rev: str) -> ResponseReturnValue:
    """One commit: message, people, metadata, parents and the files it changed."""
    if len(rev) > 200:
        raise InvalidInput("revision too long")
    repo = get_repository(repo_name)
    entry = repo.get_commit(rev)
    parents = entry.commit.parents
    changes = repo.diff(parents[0] if parents else None, entry.id)
    shown = changes[:MAX_CHANGES]
    sizes = repo.blob_sizes(c.new.id for c in shown if c.new is not None)
    key = parse_key(request.args.get("key"))
    view = "split" if request.args.get("view") == "split" else "unified"
    return render_template(
        "ui/commit.html",
        repo=repo,
        entry=entry,
        changes=shown,
        total_changes=len(changes),
        sizes=sizes,
        diffs=file_diffs(repo, shown, key),
        parent_rev=parents[0] if parents else entry.id,
        view=view,
        **refs_context(repo),
    )
