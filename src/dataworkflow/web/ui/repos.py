"""Home page and repository home."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from dataworkflow.errors import NotAFile, NotFound, RevisionNotFound
from dataworkflow.services.access import readable_repository_ids
from dataworkflow.services.installation import list_repository_summaries
from dataworkflow.services.repository import page_key
from dataworkflow.web.auth import access, principal
from dataworkflow.web.context import get_backend, get_repository
from dataworkflow.web.previews import render_markdown
from dataworkflow.web.ui import bp
from dataworkflow.web.ui._common import Location, refs_context
from dataworkflow.web.ui.tree import PAGE as TREE_PAGE

README_NAMES = ("README.md", "readme.md", "README.markdown", "README", "README.txt")
README_LIMIT = 512 * 1024


@bp.get("/")
@access("public")
def home() -> ResponseReturnValue:
    """Every repository with its description, default branch, size and last activity."""
    db = get_backend().db
    readable = readable_repository_ids(db, principal())
    summaries = [
        summary
        for summary in list_repository_summaries(db)
        if readable is None or summary.info.id in readable
    ]
    return render_template("ui/home.html", repositories=summaries)


@bp.get("/<repo_name>")
@bp.get("/<repo_name>/")
@access("read")
def repo_home(repo_name: str) -> ResponseReturnValue:
    """The default branch's root listing, latest commit, counts and README."""
    repo = get_repository(repo_name)
    try:
        commit = repo.get_commit(repo.default_branch)
    except RevisionNotFound:
        return render_template("ui/empty.html", repo=repo, **refs_context(repo))
    location = Location(repo, repo.default_branch, commit, "")
    entries = repo.list_tree(commit.id, "", limit=TREE_PAGE + 1, folders_first=True)
    next_after = page_key(entries[TREE_PAGE - 1]) if len(entries) > TREE_PAGE else None
    entries = entries[:TREE_PAGE]
    readme = None
    for name in README_NAMES:  # looked up by name: the root may have any number of entries
        try:
            with repo.open_file(commit.id, name) as stream:
                text = stream.read(README_LIMIT).decode("utf-8", errors="replace")
        except NotFound:
            continue
        except NotAFile:
            continue
        readme = (name, render_markdown(text))
        break
    return render_template(
        "ui/repo.html",
        loc=location,
        entries=entries,
        readme=readme,
        commit_count=repo.count_commits(),
        next_after=next_after,
        **refs_context(repo),
    )
