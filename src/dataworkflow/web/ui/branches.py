"""Branches (with ahead/behind of the default branch) and tags; create and delete."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.errors import DataWorkflowError
from dataworkflow.web.auth import access
from dataworkflow.web.context import get_repository
from dataworkflow.web.ui import bp
from dataworkflow.web.ui._common import refs_context


@bp.route("/<repo_name>/branches", methods=["GET", "POST"])
@access("read", unsafe="write")
def branches(repo_name: str) -> ResponseReturnValue:
    """List branches; POST creates one from a revision."""
    repo = get_repository(repo_name)
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        source = request.form.get("from", "").strip() or repo.default_branch
        try:
            repo.create_branch(name, source)
        except DataWorkflowError as error:
            flash(str(error), "error")
            return redirect(url_for("ui.branches", repo_name=repo_name)), 303
        flash(f"Created branch {name} from {source}.", "success")
        return redirect(url_for("ui.branches", repo_name=repo_name)), 303
    rows = []
    for name, target in repo.list_branches():
        entry = repo.get_commit(target)
        try:
            ahead, behind = repo.ahead_behind(target)
        except DataWorkflowError:
            ahead = behind = 0
        rows.append((name, entry, ahead, behind))
    return render_template("ui/branches.html", repo=repo, rows=rows, **refs_context(repo))


@bp.post("/<repo_name>/branches/delete")
@access("write")
def delete_branch(repo_name: str) -> ResponseReturnValue:
    """Delete a branch (never the default one)."""
    repo = get_repository(repo_name)
    name = request.form.get("name", "")
    try:
        repo.delete_branch(name)
    except DataWorkflowError as error:
        flash(str(error), "error")
    else:
        flash(f"Deleted branch {name}.", "success")
    return redirect(url_for("ui.branches", repo_name=repo_name)), 303


@bp.get("/<repo_name>/tags")
@access("read")
def tags(repo_name: str) -> ResponseReturnValue:
    """Every tag with the commit it names."""
    repo = get_repository(repo_name)
    rows = [(name, repo.get_commit(target)) for name, target in repo.list_tags()]
    return render_template("ui/tags.html", repo=repo, rows=rows, **refs_context(repo))
