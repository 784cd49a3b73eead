"""Folder listings, keyset-paginated for folders of any size."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.services.repository import page_key
from dataworkflow.web.auth import access
from dataworkflow.web.ui import bp
from dataworkflow.web.ui._common import locate, refs_context

PAGE = 500


@bp.get("/<repo_name>/tree/<path:rev_and_path>")
@access("read")
def tree(repo_name: str, rev_and_path: str) -> ResponseReturnValue:
    """A folder at a revision: folders first, then files, ``PAGE`` entries per page."""
    loc = locate(repo_name, rev_and_path)
    entry = loc.repo.stat(loc.commit.id, loc.path)
    if entry.entry.kind == "blob":
        return redirect(url_for("ui.blob", repo_name=repo_name, rev_and_path=rev_and_path))
    after = request.args.get("after")
    if after is not None and (not after or len(after) > 1024):
        abort(400, "invalid 'after' parameter")
    # Keyset over (kind, name): folders first across every page, stable links.
    entries = loc.repo.list_tree(
        loc.commit.id, loc.path, after=after, limit=PAGE + 1, folders_first=True
    )
    next_after = page_key(entries[PAGE - 1]) if len(entries) > PAGE else None
    entries = entries[:PAGE]
    return render_template(
        "ui/tree.html",
        loc=loc,
        entries=entries,
        next_after=next_after,
        after=after,
        **refs_context(loc.repo),
    )
