"""Row <-> core object conversions, in one place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dataworkflow.core.ids import ObjectId
from dataworkflow.core.objects import Commit, FileMode, Signature, TreeEntry
from dataworkflow.metadata.tables import CommitRow, TreeEntryRow


def entry_from_row(row: TreeEntryRow) -> TreeEntry:
    """A TreeEntry from its row (trusted: it was validated when written)."""
    mode = FileMode(row.mode)
    return TreeEntry(row.name, mode, mode.kind, ObjectId(row.object_id))


def entry_to_values(repository_id: int, tree_id: ObjectId, entry: TreeEntry) -> dict[str, object]:
    """Column values of a tree entry, for a batched insert."""
    return {
        "repository_id": repository_id,
        "tree_id": tree_id,
        "name": entry.name,
        "mode": str(entry.mode),  # a StrEnum's str() is its value, 5x faster than .value
        "kind": entry.kind,
        "object_id": entry.id,
    }


def commit_from_row(
    row: CommitRow, parents: Sequence[str], metadata: Iterable[tuple[str, str]]
) -> Commit:
    """A Commit from its row, its ordered parent ids and its metadata pairs."""
    return Commit(
        tree=ObjectId(row.tree_id),
        parents=tuple(ObjectId(p) for p in parents),
        author=Signature(row.author_name, row.author_email, row.author_time, row.author_offset),
        committer=Signature(
            row.committer_name, row.committer_email, row.committer_time, row.committer_offset
        ),
        message=row.message,
        metadata=tuple(metadata),
    )


def commit_to_row(repository_id: int, commit: Commit, generation: int) -> CommitRow:
    """The row of a commit; parents and metadata go in their own tables."""
    return CommitRow(
        repository_id=repository_id,
        id=commit.id,
        tree_id=commit.tree,
        author_name=commit.author.name,
        author_email=commit.author.email,
        author_time=commit.author.timestamp,
        author_offset=commit.author.offset_minutes,
        committer_name=commit.committer.name,
        committer_email=commit.committer.email,
        committer_time=commit.committer.timestamp,
        committer_offset=commit.committer.offset_minutes,
        message=commit.message,
        generation=generation,
    )
