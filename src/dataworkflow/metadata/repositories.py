"""Queries on the repositories table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dataworkflow.errors import AlreadyExists, RepositoryNotFound
from dataworkflow.metadata.tables import (
    BlobRow,
    CommitMetadataRow,
    CommitParentRow,
    CommitRow,
    ProtectedBranchRow,
    RefLogRow,
    RefRow,
    RepositoryRoleRow,
    RepositoryRow,
    TreeEntryRow,
    TreeRow,
)


def insert_repository(
    session: Session, name: str, description: str, default_branch: str, private: bool
) -> RepositoryRow:
    """Add a repository row.

    Raises:
        AlreadyExists: if the name is taken.
    """
    row = RepositoryRow(
        name=name, description=description, default_branch=default_branch, private=private
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(f"repository {name!r} already exists") from None
    return row


def get_repository_row(session: Session, name: str) -> RepositoryRow:
    """The repository called ``name``.

    Raises:
        RepositoryNotFound: if there is none.
    """
    row = session.execute(_BY_NAME, {"name": name}).scalar()
    if row is None:
        raise RepositoryNotFound(name)
    return row


_BY_NAME = select(RepositoryRow).where(RepositoryRow.name == bindparam("name"))


def read_repository(session: Session, name: str) -> Row[tuple[int, str, str, str, bool, datetime]]:
    """The repository called ``name`` as a row of columns, for reads: no ORM object.

    Columns: id, name, description, default_branch, private, created_at.

    Raises:
        RepositoryNotFound: if there is none.
    """
    row = session.connection().execute(_COLUMNS_BY_NAME, {"name": name}).first()
    if row is None:
        raise RepositoryNotFound(name)
    return row


_REPOSITORIES = RepositoryRow.__table__
_COLUMNS_BY_NAME = select(
    _REPOSITORIES.c.id,
    _REPOSITORIES.c.name,
    _REPOSITORIES.c.description,
    _REPOSITORIES.c.default_branch,
    _REPOSITORIES.c.private,
    _REPOSITORIES.c.created_at,
).where(_REPOSITORIES.c.name == bindparam("name"))
"""Built once: every request for a repository's URL runs it (through the access check)."""


def list_repository_rows(session: Session) -> list[RepositoryRow]:
    """Every repository, by name."""
    return list(session.scalars(select(RepositoryRow).order_by(RepositoryRow.name)))


def delete_repository_rows(session: Session, repository_id: int) -> None:
    """Delete a repository and every metadata row it owns, children first."""
    for table in (
        RefRow,
        RefLogRow,
        RepositoryRoleRow,
        ProtectedBranchRow,
        CommitMetadataRow,
        CommitParentRow,
        CommitRow,
        TreeEntryRow,
        TreeRow,
        BlobRow,
    ):
        session.execute(delete(table).where(table.repository_id == repository_id))
    session.execute(delete(RepositoryRow).where(RepositoryRow.id == repository_id))


def repository_summaries(session: Session) -> dict[int, tuple[int, int, datetime | None]]:
    """``{repository id: (bytes of blobs, number of commits, last ref update)}``, in 3 queries."""
    sizes = dict(
        list(
            session.execute(
                select(BlobRow.repository_id, func.sum(BlobRow.size)).group_by(
                    BlobRow.repository_id
                )
            ).tuples()
        )
    )
    counts = dict(
        list(
            session.execute(
                select(CommitRow.repository_id, func.count()).group_by(CommitRow.repository_id)
            ).tuples()
        )
    )
    latest = dict(
        list(
            session.execute(
                select(RefRow.repository_id, func.max(RefRow.updated_at)).group_by(
                    RefRow.repository_id
                )
            ).tuples()
        )
    )
    ids = set(sizes) | set(counts) | set(latest)
    return {i: (int(sizes.get(i) or 0), int(counts.get(i) or 0), latest.get(i)) for i in ids}


def stored_totals(session: Session) -> tuple[int, int]:
    """``(distinct objects, their bytes)`` named by blob rows across every repository."""
    distinct = select(BlobRow.id, func.max(BlobRow.size).label("size")).group_by(BlobRow.id)
    inner = distinct.subquery()
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(inner.c.size), 0))
    ).one()
    return int(count or 0), int(total or 0)
