"""Refs: branches and tags, moved only by compare-and-swap."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dataworkflow.core.ids import ObjectId
from dataworkflow.errors import RefConflict
from dataworkflow.metadata.tables import RefRow


def get_ref(session: Session, repository_id: int, name: str) -> ObjectId | None:
    """The commit a ref points at, or None."""
    value = session.scalar(
        select(RefRow.commit_id).where(RefRow.repository_id == repository_id, RefRow.name == name)
    )
    return ObjectId(value) if value is not None else None


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


def delete_ref(session: Session, repository_id: int, name: str, expected: ObjectId) -> None:
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
