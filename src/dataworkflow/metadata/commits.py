"""Queries on commits, their parents and metadata."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dataworkflow.core.ids import ObjectId
from dataworkflow.core.objects import Commit
from dataworkflow.metadata._sql import chunked
from dataworkflow.metadata.convert import commit_from_row, commit_to_row
from dataworkflow.metadata.tables import CommitMetadataRow, CommitParentRow, CommitRow


@dataclass(frozen=True, slots=True)
class StoredCommit:
    """A commit with what the database knows besides its content: its topological rank."""

    id: ObjectId
    commit: Commit
    generation: int


def commit_generations(session: Session, repository_id: int, ids: Iterable[str]) -> dict[str, int]:
    """Generation numbers of those ``ids`` that are commits of the repository."""
    wanted = sorted(set(ids))
    found: dict[str, int] = {}
    for part in chunked(wanted):
        rows = session.execute(
            select(CommitRow.id, CommitRow.generation).where(
                CommitRow.repository_id == repository_id, CommitRow.id.in_(part)
            )
        )
        found.update((cid, gen) for cid, gen in rows)
    return found


def insert_commit(session: Session, repository_id: int, commit: Commit, generation: int) -> bool:
    """Insert a commit with its parents and metadata; False if it existed already.

    The caller must have checked that its tree and parents exist in the repository.
    """
    commit_id = commit.id
    if session.get(CommitRow, (repository_id, commit_id)) is not None:
        return False
    session.add(commit_to_row(repository_id, commit, generation))
    session.flush()
    session.add_all(
        CommitParentRow(
            repository_id=repository_id, commit_id=commit_id, position=i, parent_id=parent
        )
        for i, parent in enumerate(commit.parents)
    )
    session.add_all(
        CommitMetadataRow(repository_id=repository_id, commit_id=commit_id, key=k, value=v)
        for k, v in commit.metadata
    )
    session.flush()
    return True


def get_commits(
    session: Session, repository_id: int, ids: Iterable[str]
) -> dict[str, StoredCommit]:
    """Several commits at once, keyed by id; ids the repository lacks are left out."""
    wanted = sorted(set(ids))
    result: dict[str, StoredCommit] = {}
    for part in chunked(wanted):
        rows = list(
            session.scalars(
                select(CommitRow).where(
                    CommitRow.repository_id == repository_id, CommitRow.id.in_(part)
                )
            )
        )
        if not rows:
            continue
        parents: dict[str, list[tuple[int, str]]] = {row.id: [] for row in rows}
        for cid, position, parent in session.execute(
            select(
                CommitParentRow.commit_id, CommitParentRow.position, CommitParentRow.parent_id
            ).where(
                CommitParentRow.repository_id == repository_id,
                CommitParentRow.commit_id.in_(part),
            )
        ):
            parents[cid].append((position, parent))
        metadata: dict[str, list[tuple[str, str]]] = {row.id: [] for row in rows}
        for cid, key, value in session.execute(
            select(
                CommitMetadataRow.commit_id, CommitMetadataRow.key, CommitMetadataRow.value
            ).where(
                CommitMetadataRow.repository_id == repository_id,
                CommitMetadataRow.commit_id.in_(part),
            )
        ):
            metadata[cid].append((key, value))
        for row in rows:
            ordered = [p for _, p in sorted(parents[row.id])]
            commit = commit_from_row(row, ordered, metadata[row.id])
            result[row.id] = StoredCommit(ObjectId(row.id), commit, row.generation)
    return result


def get_commit(session: Session, repository_id: int, commit_id: str) -> StoredCommit | None:
    """One commit, or None if the repository does not have it."""
    return get_commits(session, repository_id, [commit_id]).get(commit_id)


def get_commit_tree(session: Session, repository_id: int, commit_id: str) -> ObjectId | None:
    """The tree of a commit, or None if the repository lacks it: one indexed lookup.

    Reads that only need the tree (or to know the commit exists) use this rather than
    loading the whole commit with its parents and metadata.
    """
    value = (
        session.connection()
        .execute(_COMMIT_TREE, {"repository_id": repository_id, "commit_id": commit_id})
        .scalar()
    )
    return ObjectId(value) if value is not None else None


_COMMIT_TREE = select(CommitRow.tree_id).where(
    CommitRow.repository_id == bindparam("repository_id"),
    CommitRow.id == bindparam("commit_id"),
)


def find_commits_by_prefix(
    session: Session, repository_id: int, prefix: str, limit: int = 2
) -> list[ObjectId]:
    """Commit ids starting with ``prefix`` (hex only, so no LIKE escaping is needed)."""
    rows = session.scalars(
        select(CommitRow.id)
        .where(CommitRow.repository_id == repository_id, CommitRow.id.startswith(prefix))
        .order_by(CommitRow.id)
        .limit(limit)
    )
    return [ObjectId(cid) for cid in rows]


def count_commits(session: Session, repository_id: int) -> int:
    """How many commits the repository holds (all of them, reachable or not)."""
    from sqlalchemy import func

    return (
        session.scalar(
            select(func.count())
            .select_from(CommitRow)
            .where(CommitRow.repository_id == repository_id)
        )
        or 0
    )


def ancestor_ids(
    session: Session, repository_id: int, start: Iterable[str], limit: int
) -> list[str]:
    """Up to ``limit`` commits reachable from ``start`` (start included), in one query.

    A recursive query that the outer LIMIT stops early on both databases, so prefetching
    a page of history costs one round trip instead of one per commit.
    """
    starts = sorted(set(start))
    if not starts:
        return []
    seed = (
        select(CommitRow.id.label("id"))
        .where(CommitRow.repository_id == repository_id, CommitRow.id.in_(starts))
        .cte("ancestry", recursive=True)
    )
    step = select(CommitParentRow.parent_id).where(
        CommitParentRow.repository_id == repository_id,
        CommitParentRow.commit_id == seed.c.id,
    )
    ancestry = seed.union(step)
    return list(session.scalars(select(ancestry.c.id).limit(limit)))
