"""Helpers shared by the API modules: opening the repository a URL names."""

from __future__ import annotations

from dataworkflow.core.names import BRANCH_PREFIX, TAG_PREFIX, validate_repository_name
from dataworkflow.errors import InvalidName, RefConflict, RepositoryNotFound
from dataworkflow.services.installation import get_repository_info
from dataworkflow.services.repository import DEFAULT_REPOSITORY, Repository
from dataworkflow.web.context import get_backend, get_repository


def repository(name: str) -> Repository:
    """The repository a URL names; a name no repository could have is simply not found.

    ``Repository(db, storage)`` creates the ``default`` repository on first use, which
    a read must never do, so that name is looked up first.

    Raises:
        RepositoryNotFound: if there is none.
    """
    try:
        validate_repository_name(name)
    except InvalidName:
        raise RepositoryNotFound(name) from None
    if name == DEFAULT_REPOSITORY:
        get_repository_info(get_backend().db, name)
    return get_repository(name)


def with_current(error: RefConflict, repo: Repository, ref: str) -> RefConflict:
    """The same conflict, naming where the ref points now, so a client can retry."""
    if ref.startswith(TAG_PREFIX):
        current = next((c for n, c in repo.list_tags() if TAG_PREFIX + n == ref), None)
    else:
        current = repo.head(ref.removeprefix(BRANCH_PREFIX))
    return RefConflict(ref, error.expected, actual=current)
