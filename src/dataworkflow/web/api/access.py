"""Who may do what to a repository: collaborators' roles and protected branches.

Roles and protection are repository settings, so changing them (and seeing who holds
which role) needs ``admin``; which branches are protected is visible to every reader,
because it tells a writer whether to commit or to open a merge. A protection pattern
may contain ``/`` (``release/*``), so it travels as a query parameter when deleted.
"""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from dataworkflow.core.names import branch_pattern_matches, validate_branch_pattern
from dataworkflow.errors import InvalidInput, NotFound
from dataworkflow.services import access as access_service
from dataworkflow.services.repository import Repository
from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository
from dataworkflow.web.api.schemas import (
    MAX_TEXT,
    Fields,
    Query,
    collaborator_json,
    json_body,
    protection_json,
)
from dataworkflow.web.api.users import named_user
from dataworkflow.web.auth import access
from dataworkflow.web.context import get_backend
from dataworkflow.web.errors import InvalidParameters

# --- collaborators ----------------------------------------------------------------------


@bp.get("/repos/<repo>/collaborators")
@access("admin")
def list_collaborators(repo: str) -> ResponseReturnValue:
    """Every role granted on the repository, by username."""
    grants = access_service.grants(get_backend().db, repository(repo).id)
    return {"collaborators": [collaborator_json(grant) for grant in grants]}


@bp.put("/repos/<repo>/collaborators/<username>")
@access("admin")
def set_collaborator(repo: str, username: str) -> ResponseReturnValue:
    """Give a user a role on the repository, replacing any role they had."""
    db = get_backend().db
    repository_id = repository(repo).id
    named_user(username)  # before the body: an unknown user is a 404, not a 422
    body = Fields(json_body())
    role = body.choice("role", access_service.ROLES, required=True)
    body.finish()
    body.check()
    assert role is not None
    return collaborator_json(access_service.grant(db, repository_id, username, role))


@bp.delete("/repos/<repo>/collaborators/<username>")
@access("admin")
def remove_collaborator(repo: str, username: str) -> ResponseReturnValue:
    """Take a user's role away (a public repository stays readable to them)."""
    repository_id = repository(repo).id
    named_user(username)
    access_service.revoke(get_backend().db, repository_id, username)
    return "", 204


# --- protected branches -------------------------------------------------------------------


def _protections(repo: Repository, patterns: list[str]) -> list[dict[str, object]]:
    """Each pattern with the branches it covers now (one branch listing for all)."""
    branches = [name for name, _ in repo.list_branches()] if patterns else []
    return [
        protection_json(pattern, [b for b in branches if branch_pattern_matches(pattern, b)])
        for pattern in patterns
    ]


@bp.get("/repos/<repo>/protected-branches")
@access("read")
def list_protected_branches(repo: str) -> ResponseReturnValue:
    """The protection patterns, by pattern, with the branches each covers now."""
    r = repository(repo)
    return {"protected_branches": _protections(r, r.protected_branches())}


@bp.post("/repos/<repo>/protected-branches")
@access("admin")
def protect_branches(repo: str) -> ResponseReturnValue:
    """Protect branches matching a pattern: only merges move them from now on.

    201 when the pattern is new, 200 when it was there already (nothing changes).
    """
    r = repository(repo)
    body = Fields(json_body())
    pattern = body.string("pattern", required=True, max_length=MAX_TEXT)
    body.finish()
    body.check()
    assert pattern is not None
    added = r.protect_branches(pattern)
    return _protections(r, [pattern])[0], 201 if added else 200


@bp.delete("/repos/<repo>/protected-branches")
@access("admin")
def unprotect_branches(repo: str) -> ResponseReturnValue:
    """Remove a protection pattern, given exactly as listed."""
    r = repository(repo)
    query = Query()
    pattern = query.text("pattern", required=True)
    query.done()
    assert pattern is not None
    try:
        validate_branch_pattern(pattern)  # no malformed pattern can be stored: say why
    except InvalidInput as error:
        raise InvalidParameters([{"parameter": "pattern", "detail": str(error)}]) from None
    if not r.unprotect_branches(pattern):
        raise NotFound(f"no protection pattern {pattern!r} in {repo}")
    return "", 204
