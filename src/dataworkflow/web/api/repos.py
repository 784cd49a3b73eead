"""Repositories: list, create, show, update (description, default branch), delete."""

from __future__ import annotations

from flask import url_for
from flask.typing import ResponseReturnValue

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
from dataworkflow.web.auth import access
from dataworkflow.web.context import get_backend


@bp.get("/repos")
@access("public")
def list_repos() -> ResponseReturnValue:
    """Every repository of the installation, by name."""
    infos = list_repositories(get_backend().db)
    return {"repositories": [repository_json(info) for info in infos]}


@bp.post("/repos")
@access("user")
def create_repo() -> ResponseReturnValue:
    """Create an empty repository; its default branch appears with the first commit."""
    body = Fields(json_body())
    name = body.string("name", required=True, max_length=100)
    description = body.string("description", max_length=MAX_DESCRIPTION)
    default_branch = body.ref_name("default_branch", max_length=MAX_DEFAULT_BRANCH)
    private = body.boolean("private")
    body.finish()
    body.check()
    assert name is not None
    info = create_repository(
        get_backend().db,
        name,
        description=description or "",
        default_branch=default_branch or DEFAULT_BRANCH,
        private=private,
    )
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
    """Change the description and/or the default branch."""
    repository(repo)
    body = Fields(json_body())
    description = body.string("description", max_length=MAX_DESCRIPTION)
    default_branch = body.ref_name("default_branch", max_length=MAX_DEFAULT_BRANCH)
    body.finish()
    body.check()
    info = update_repository(
        get_backend().db, repo, description=description, default_branch=default_branch
    )
    return repository_json(info)


@bp.delete("/repos/<repo>")
@access("admin")
def delete_repo(repo: str) -> ResponseReturnValue:
    """Delete a repository's metadata; its bytes become garbage for ``dw gc``."""
    repository(repo)
    delete_repository(get_backend().db, repo)
    return "", 204
