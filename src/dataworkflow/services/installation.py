"""Repositories of an installation: create, list, show, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from dataworkflow.core.names import (
    BRANCH_PREFIX,
    branch_ref,
    check_ref_format,
    validate_repository_name,
)
from dataworkflow.errors import InvalidInput
from dataworkflow.metadata.engine import Database
from dataworkflow.metadata.refs import get_ref, list_refs
from dataworkflow.metadata.repositories import (
    delete_repository_rows,
    get_repository_row,
    insert_repository,
    list_repository_rows,
    read_repository,
    repository_summaries,
    stored_totals,
)
from dataworkflow.metadata.tables import RepositoryRow

DEFAULT_BRANCH = "main"
MAX_DESCRIPTION = 10_000
MAX_DEFAULT_BRANCH = 255
"""The repositories table keeps the default branch's name in 255 characters."""


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    """What an installation knows about one repository."""

    id: int
    name: str
    description: str
    default_branch: str
    private: bool
    created_at: datetime | None


def _info(row: RepositoryRow) -> RepositoryInfo:
    return RepositoryInfo(
        row.id, row.name, row.description, row.default_branch, row.private, row.created_at
    )


def create_repository(
    db: Database,
    name: str,
    *,
    description: str = "",
    default_branch: str = DEFAULT_BRANCH,
    private: bool = False,
) -> RepositoryInfo:
    """Create an empty repository; its default branch appears with the first commit.

    Raises:
        InvalidName: for a bad repository or branch name.
        InvalidInput: for an over-long description or default branch name.
        AlreadyExists: if the name is taken.
    """
    validate_repository_name(name)
    _check_default_branch(default_branch)
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is longer than {MAX_DESCRIPTION} characters")
    with db.transaction() as session:
        row = insert_repository(session, name, description, default_branch, private)
        session.flush()
        return _info(row)


def _check_default_branch(name: str) -> None:
    check_ref_format(name)
    if len(name) > MAX_DEFAULT_BRANCH:
        raise InvalidInput(f"a default branch name is longer than {MAX_DEFAULT_BRANCH} characters")


def get_repository_info(db: Database, name: str) -> RepositoryInfo:
    """The repository called ``name``.

    Raises:
        RepositoryNotFound: if there is none.
    """
    with db.reading() as session:
        return repository_info(session, name)


def repository_info(session: Session, name: str) -> RepositoryInfo:
    """:func:`get_repository_info` inside a caller's read.

    Raises:
        RepositoryNotFound: if there is none.
    """
    return RepositoryInfo(*read_repository(session, name))


def update_repository(
    db: Database,
    name: str,
    *,
    description: str | None = None,
    default_branch: str | None = None,
    private: bool | None = None,
) -> RepositoryInfo:
    """Change a repository's description, default branch or visibility (None: as is).

    Once a repository has branches, the default must be one of them: pointing it at a
    missing branch would make every page of the repository fail to resolve.

    Raises:
        RepositoryNotFound: if there is none.
        InvalidName: for a bad branch name.
        InvalidInput: for an over-long description or a branch that does not exist.
    """
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is longer than {MAX_DESCRIPTION} characters")
    if default_branch is not None:
        default_branch = branch_ref(default_branch).removeprefix(BRANCH_PREFIX)
        _check_default_branch(default_branch)
    with db.transaction() as session:
        row = get_repository_row(session, name)
        if default_branch is not None and default_branch != row.default_branch:
            has_branches = bool(list_refs(session, row.id, BRANCH_PREFIX))
            if has_branches and get_ref(session, row.id, branch_ref(default_branch)) is None:
                raise InvalidInput(f"branch {default_branch!r} does not exist")
            row.default_branch = default_branch
        if description is not None:
            row.description = description
        if private is not None:
            row.private = private
        session.flush()
        return _info(row)


def list_repositories(db: Database) -> list[RepositoryInfo]:
    """Every repository of the installation, by name."""
    with db.reading() as session:
        return [_info(row) for row in list_repository_rows(session)]


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    """A repository with its size in bytes, commit count and last ref movement."""

    info: RepositoryInfo
    size: int
    commits: int
    last_activity: datetime | None


def list_repository_summaries(db: Database) -> list[RepositorySummary]:
    """Every repository with its size, commit count and last activity, by name."""
    with db.reading() as session:
        stats = repository_summaries(session)
        return [
            RepositorySummary(_info(row), *stats.get(row.id, (0, 0, None)))
            for row in list_repository_rows(session)
        ]


def delete_repository(db: Database, name: str) -> None:
    """Delete a repository's metadata; its bytes become garbage for ``dw gc``.

    Bytes are shared across repositories by content, so they cannot be deleted here.

    Raises:
        RepositoryNotFound: if there is none.
    """
    with db.transaction() as session:
        row = get_repository_row(session, name)
        delete_repository_rows(session, row.id)


def storage_totals(db: Database) -> tuple[int, int]:
    """``(objects, bytes)`` the installation's repositories refer to, each object once."""
    with db.reading() as session:
        return stored_totals(session)
