"""Folder listings, keyset-paginated for folders of any size."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.web.ui import bp
from dataworkflow.web.ui._common import locate, refs_context

PAGE = 500


@bp.get("/<repo_name>/tree/<path:rev_and_path>")
def tree(repo_name: str, rev_and_path: str) -> ResponseReturnValue:
    """A folder at a revision: folders first, then files, ``PAGE`` entries per page."""
    loc = locate(repo_name, rev_and_path)
    entry = loc.repo.stat(loc.commit.id, loc.path)
    if entry.entry.kind == "blob":
        return redirect(url_for("ui.blob", repo_name=repo_name, rev_and_path=rev_and_path))
    after = request.args.get("after")
    if after is not None and (not after or len(after) > 1024):
        abort(400, "invalid 'after' parameter")
    # Keyset over names: folders and files interleave by name in storage, so each page
    # is ordered folders-first within itself.
    entries = loc.repo.list_tree(loc.commit.id, loc.path, after=after, limit=PAGE + 1)
    next_after = entries[PAGE - 1].name if len(entries) > PAGE else None
    entries = sorted(entries[:PAGE], key=lambda e: e.entry.kind != "tree")
    return render_template(
        "ui/tree.html",
        loc=loc,
        entries=entries,
        next_after=next_after,
        after=after,
        **refs_context(loc.repo),
    )
