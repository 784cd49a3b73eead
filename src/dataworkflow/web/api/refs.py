"""Branches and tags: list, show, create, move by compare-and-swap, delete.

A branch or tag name is the last part of the URL and may contain ``/``:
``/repos/r/branches/feature/x`` names ``feature/x`` (``feature%2Fx`` works too).
"""

from __future__ import annotations

from flask import url_for
from flask.typing import ResponseReturnValue

from dataworkflow.core.ids import parse_object_id
from dataworkflow.core.names import TAG_PREFIX, branch_ref, tag_ref
from dataworkflow.errors import AlreadyExists, InvalidInput, RefConflict, RefNotFound
from dataworkflow.services.repository import Repository
from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository, with_current
from dataworkflow.web.api.schemas import Fields, Query, json_body, ref_json
from dataworkflow.web.auth import access
from dataworkflow.web.errors import InvalidParameters


def _branch(repo: Repository, name: str) -> str:
    """The commit a branch points at.

    Raises:
        InvalidName: 400 for a malformed name.
        RefNotFound: if there is no such branch.
    """
    branch_ref(name)
    head = repo.head(name)
    if head is None:
        raise RefNotFound(name)
    return head


def _tag(repo: Repository, name: str) -> str:
    """The commit a tag names.

    Raises:
        InvalidName: 400 for a malformed name.
        RefNotFound: if there is no such tag.
    """
    ref = tag_ref(name)
    for tag, target in repo.list_tags():
        if TAG_PREFIX + tag == ref:
            return target
    raise RefNotFound(name)


def _created_ref(body: Fields) -> tuple[str, str | None]:
    name = body.ref_name("name", required=True)
    source = body.revision("from")
    body.finish()
    body.check()
    assert name is not None
    return name, source


def _move_request(body: Fields) -> tuple[str, str]:
    target = body.revision("commit", required=True)
    expected = body.object_id("expected", required=True)
    return target or "", expected or ""


# --- branches -----------------------------------------------------------------------


@bp.get("/repos/<repo>/branches")
@access("read")
def list_branches(repo: str) -> ResponseReturnValue:
    """Every branch with the commit it points at, by name."""
    branches = repository(repo).list_branches()
    return {"branches": [ref_json(name, target) for name, target in branches]}


@bp.post("/repos/<repo>/branches")
@access("write")
def create_branch(repo: str) -> ResponseReturnValue:
    """Create a branch at a revision (default: the default branch's head)."""
    r = repository(repo)
    name, source = _created_ref(Fields(json_body()))
    target = r.create_branch(name, source)
    location = url_for("api.get_branch", repo=repo, branch=name)
    return ref_json(name, target), 201, {"Location": location}


@bp.get("/repos/<repo>/branches/<path:branch>")
@access("read")
def get_branch(repo: str, branch: str) -> ResponseReturnValue:
    """One branch and the commit it points at."""
    return ref_json(branch, _branch(repository(repo), branch))


@bp.patch("/repos/<repo>/branches/<path:branch>")
@access("write")
def move_branch(repo: str, branch: str) -> ResponseReturnValue:
    """Point a branch at another commit if it still points at ``expected``."""
    r = repository(repo)
    _branch(r, branch)
    body = Fields(json_body())
    target, expected = _move_request(body)
    body.finish()
    body.check()
    commit_id = r.resolve(target)
    ref = branch_ref(branch)
    try:
        r.create_or_update_ref(ref, commit_id, expected=expected)
    except RefConflict as error:
        raise with_current(error, r, ref) from error
    return ref_json(branch, commit_id)


@bp.delete("/repos/<repo>/branches/<path:branch>")
@access("write")
def delete_branch(repo: str, branch: str) -> ResponseReturnValue:
    """Delete a branch (never the default one), if it still points at ``expected``."""
    r = repository(repo)
    query = Query()
    expected = query.text("expected", max_length=64)
    query.done()
    if expected is not None:
        try:
            parse_object_id(expected)
        except InvalidInput as error:
            raise InvalidParameters([{"parameter": "expected", "detail": str(error)}]) from None
    _branch(r, branch)
    try:
        r.delete_branch(branch, expected)
    except RefConflict as error:
        raise with_current(error, r, branch_ref(branch)) from error
    return "", 204


# --- tags -----------------------------------------------------------------------------


@bp.get("/repos/<repo>/tags")
@access("read")
def list_tags(repo: str) -> ResponseReturnValue:
    """Every tag with the commit it names, by name."""
    tags = repository(repo).list_tags()
    return {"tags": [ref_json(name, target) for name, target in tags]}


@bp.post("/repos/<repo>/tags")
@access("write")
def create_tag(repo: str) -> ResponseReturnValue:
    """Tag a revision (default: the default branch's head); 409 if the tag exists."""
    r = repository(repo)
    name, source = _created_ref(Fields(json_body()))
    target = r.create_tag(name, source)
    location = url_for("api.get_tag", repo=repo, tag=name)
    return ref_json(name, target), 201, {"Location": location}


@bp.get("/repos/<repo>/tags/<path:tag>")
@access("read")
def get_tag(repo: str, tag: str) -> ResponseReturnValue:
    """One tag and the commit it names."""
    return ref_json(tag, _tag(repository(repo), tag))


@bp.patch("/repos/<repo>/tags/<path:tag>")
@access("write")
def move_tag(repo: str, tag: str) -> ResponseReturnValue:
    """Move a tag: only with ``"force": true``, and only if it still names ``expected``."""
    r = repository(repo)
    _tag(r, tag)
    body = Fields(json_body())
    target, expected = _move_request(body)
    force = body.boolean("force")
    body.finish()
    body.check()
    if not force:
        raise AlreadyExists(f'tag {tag!r} exists; tags move only with "force": true')
    commit_id = r.resolve(target)
    ref = tag_ref(tag)
    try:
        r.create_or_update_ref(ref, commit_id, expected=expected, force=True)
    except RefConflict as error:
        raise with_current(error, r, ref) from error
    return ref_json(tag, commit_id)


@bp.delete("/repos/<repo>/tags/<path:tag>")
@access("write")
def delete_tag(repo: str, tag: str) -> ResponseReturnValue:
    """Delete a tag."""
    r = repository(repo)
    _tag(r, tag)
    r.delete_tag(tag)
    return "", 204
