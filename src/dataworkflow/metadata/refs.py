"""Refs: branches and tags, moved only by compare-and-swap, every move logged.

The ref log row is written in the same transaction as the move it records, so the log
can never miss a movement nor record one that did not happen.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dataworkflow.core.ids import ObjectId
from dataworkflow.errors import RefConflict
from dataworkflow.metadata.tables import CommitRow, RefLogRow, RefRow

REASONS = frozenset(
    {"create", "commit", "merge", "revert", "cherry-pick", "update", "force", "delete"}
)


def get_ref(session: Session, repository_id: int, name: str) -> ObjectId | None:
    """The commit a ref points at, or None."""
    value = session.scalar(
        select(RefRow.commit_id).where(RefRow.repository_id == repository_id, RefRow.name == name)
    )
    return ObjectId(value) if value is not None else None


_FIRST_REF = (
    select(RefRow.name, RefRow.commit_id, CommitRow.tree_id)
    .outerjoin(
        CommitRow,
        (CommitRow.repository_id == RefRow.repository_id) & (CommitRow.id == RefRow.commit_id),
    )
    .where(
        RefRow.repository_id == bindparam("repository_id"),
        RefRow.name.in_(bindparam("names", expanding=True)),
    )
)
"""Built once: the hot read paths (every API request resolves a ref) skip building the
statement and its cache key, which cost as much as running it."""


def get_first_ref(
    session: Session, repository_id: int, names: Sequence[str]
) -> tuple[ObjectId, ObjectId] | None:
    """The commit of the first of ``names`` that exists and that commit's tree, or None.

    One query for all the names, with the tree joined in: a read that goes on to a path
    needs the tree next, and this saves it a round trip.
    """
    params = {"repository_id": repository_id, "names": list(names)}
    # Through the connection: a column select needs none of the ORM's result handling.
    rows = session.connection().execute(_FIRST_REF, params)
    found = {name: (commit_id, tree_id) for name, commit_id, tree_id in rows.all()}
    for name in names:
        if name in found:
            commit_id, tree_id = found[name]
            assert tree_id is not None, f"ref {name} points at a missing commit {commit_id}"
            return ObjectId(commit_id), ObjectId(tree_id)
    return None


def list_refs(session: Session, repository_id: int, prefix: str = "") -> list[tuple[str, ObjectId]]:
    """``(name, commit id)`` of every ref starting with ``prefix``, by name."""
    query = select(RefRow.name, RefRow.commit_id).where(RefRow.repository_id == repository_id)
    if prefix:
        query = query.where(RefRow.name.startswith(prefix, autoescape=True))
    return [(name, ObjectId(cid)) for name, cid in session.execute(query.order_by(RefRow.name))]


def compare_and_swap_ref(
    session: Session,
    repository_id: int,
    name: str,
    expected: ObjectId | None,
    new: ObjectId,
    *,
    actor: str,
    reason: str,
    message: str = "",
) -> None:
    """Point ``name`` at ``new`` only if it still points at ``expected``.

    ``expected=None`` means the ref must not exist yet. The check and the write are one
    statement, so two writers racing from the same old value cannot both win.

    Raises:
        RefConflict: another writer moved (or created, or deleted) the ref first.
    """
    if expected is None:
        try:
            with session.begin_nested():  # a duplicate key fails only this savepoint
                session.add(RefRow(repository_id=repository_id, name=name, commit_id=new))
        except IntegrityError as exc:
            raise RefConflict(name, expected=None) from exc
        _log(session, repository_id, name, None, new, actor, reason, message)
        return
    updated = session.scalar(
        update(RefRow)
        .where(
            RefRow.repository_id == repository_id,
            RefRow.name == name,
            RefRow.commit_id == expected,
        )
        .values(commit_id=new)
        .returning(RefRow.name)
    )
    if updated is None:
        raise RefConflict(name, expected=expected)
    _log(session, repository_id, name, expected, new, actor, reason, message)


def delete_ref(
    session: Session,
    repository_id: int,
    name: str,
    expected: ObjectId,
    *,
    actor: str,
    message: str = "",
) -> None:
    """Delete ``name`` only if it still points at ``expected``.

    Raises:
        RefConflict: if it moved or was deleted since it was read.
    """
    deleted = session.scalar(
        delete(RefRow)
        .where(
            RefRow.repository_id == repository_id,
            RefRow.name == name,
            RefRow.commit_id == expected,
        )
        .returning(RefRow.name)
    )
    if deleted is None:
        raise RefConflict(name, expected=expected)
    _log(session, repository_id, name, expected, None, actor, "delete", message)


@dataclass(frozen=True, slots=True)
class RefLogEntry:
    """One recorded movement of a ref; ``old`` is None on creation, ``new`` on deletion."""

    id: int
    ref: str
    old: ObjectId | None
    new: ObjectId | None
    actor: str
    reason: str
    message: str
    at: int
    """Seconds since the epoch, UTC."""


def list_ref_log(
    session: Session,
    repository_id: int,
    *,
    ref: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[RefLogEntry]:
    """Newest first; pass the last entry's ``id`` as ``before`` for the next page."""
    query = select(RefLogRow).where(RefLogRow.repository_id == repository_id)
    if ref is not None:
        query = query.where(RefLogRow.ref == ref)
    if before is not None:
        query = query.where(RefLogRow.id < before)
    rows = session.scalars(query.order_by(RefLogRow.id.desc()).limit(limit))
    return [
        RefLogEntry(
            row.id,
            row.ref,
            ObjectId(row.old_commit_id) if row.old_commit_id else None,
            ObjectId(row.new_commit_id) if row.new_commit_id else None,
            row.actor,
            row.reason,
            row.message,
            row.created_at,
        )
        for row in rows
    ]


def _log(
    session: Session,
    repository_id: int,
    name: str,
    old: ObjectId | None,
    new: ObjectId | None,
    actor: str,
    reason: str,
    message: str,
) -> None:
    if reason not in REASONS:
        raise ValueError(f"unknown ref log reason {reason!r}")
    session.add(
        RefLogRow(
            repository_id=repository_id,
            ref=name,
            old_commit_id=old,
            new_commit_id=new,
            actor=actor,
            reason=reason,
            message=message[:1000],
            created_at=int(time.time()),
        )
    )
