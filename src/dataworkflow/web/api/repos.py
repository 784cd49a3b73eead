"""Repositories: list, create, show, update (description, default branch, visibility), delete.

A private repository is invisible to whoever may not read it: absent from the listing,
404 by name (the access check says so before a view runs).
"""

from __future__ import annotations

from flask import url_for
from flask.typing import ResponseReturnValue

from dataworkflow.services.access import grant, visible
from dataworkflow.services.installation import (
    DEFAULT_BRANCH,
    MAX_DEFAULT_BRANCH,
    MAX_DESCRIPTION,
    create_repository,
    delete_repository,
    get_repository_info,
    list_repositories,
    update_repository,
)
from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository
from dataworkflow.web.api.schemas import Fields, json_body, repository_json
from dataworkflow.web.auth import access, principal
from dataworkflow.web.context import get_backend


@bp.get("/repos")
@access("public")
def list_repos() -> ResponseReturnValue:
    """Every repository the caller may read, by name."""
    db = get_backend().db
    infos = visible(db, principal(), list_repositories(db))
    return {"repositories": [repository_json(info) for info in infos]}


@bp.post("/repos")
@access("user")
def create_repo() -> ResponseReturnValue:
    """Create an empty repository; its default branch appears with the first commit.

    The creator is granted ``admin`` on it, unless they are an installation admin and
    hold that on every repository already.
    """
    body = Fields(json_body())
    name = body.string("name", required=True, max_length=100)
    description = body.string("description", max_length=MAX_DESCRIPTION)
    default_branch = body.ref_name("default_branch", max_length=MAX_DEFAULT_BRANCH)
    private = body.boolean("private")
    body.finish()
    body.check()
    assert name is not None
    db = get_backend().db
    info = create_repository(
        db,
        name,
        description=description or "",
        default_branch=default_branch or DEFAULT_BRANCH,
        private=private,
    )
    creator = principal().user
    assert creator is not None  # the "user" level refused anonymous callers
    if not creator.is_admin:
        grant(db, info.id, creator.username, "admin")
    location = url_for("api.get_repo", repo=info.name)
    return repository_json(info), 201, {"Location": location}


@bp.get("/repos/<repo>")
@access("read")
def get_repo(repo: str) -> ResponseReturnValue:
    """One repository's settings."""
    repository(repo)
    return repository_json(get_repository_info(get_backend().db, repo))


@bp.patch("/repos/<repo>")
@access("admin")
def update_repo(repo: str) -> ResponseReturnValue:
    """Change the description, the default branch and/or whether it is private."""
    repository(repo)
    body = Fields(json_body())
    description = body.string("description", max_length=MAX_DESCRIPTION)
    default_branch = body.ref_name("default_branch", max_length=MAX_DEFAULT_BRANCH)
    private = body.boolean("private") if body.has("private") else None
    body.finish()
    body.check()
    info = update_repository(
        get_backend().db,
        repo,
        description=description,
        default_branch=default_branch,
        private=private,
    )
    return repository_json(info)


@bp.delete("/repos/<repo>")
@access("admin")
def delete_repo(repo: str) -> ResponseReturnValue:
    """Delete a repository's metadata; its bytes become garbage for ``dw gc``."""
    repository(repo)
    delete_repository(get_backend().db, repo)
    return "", 204
