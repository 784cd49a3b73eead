"""Comparing two revisions: the commits one has that the other lacks, and the file changes.

Like a code host's ``base...head``: changes are taken from the merge base to ``head``, so
work done on ``base`` since the fork does not show up as reverted on ``head``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataworkflow.core.ids import ObjectId
from dataworkflow.services.diff import Change
from dataworkflow.services.graph import only_in
from dataworkflow.services.merge import merge_bases
from dataworkflow.services.repository import LogEntry, Repository

COMMIT_LIMIT = 250


@dataclass
class Comparison:
    """What ``head`` adds to ``base``."""

    base: ObjectId
    head: ObjectId
    merge_base: ObjectId | None
    commits: list[LogEntry]
    total_commits: int
    behind: int
    changes: list[Change]


def compare(repo: Repository, base_rev: str, head_rev: str) -> Comparison:
    """Compare two revisions.

    Raises:
        InvalidRevision, RevisionNotFound: if either revision is bad or missing.
    """
    with repo.db.reading() as session:
        base = repo._resolve(session, base_rev)
        head = repo._resolve(session, head_rev)
        bases = merge_bases(session, repo.id, base, head)
        listed, total = only_in(session, repo.id, head, base, COMMIT_LIMIT)
        _, behind = only_in(session, repo.id, base, head, 0)
    fork = bases[0] if bases else None
    changes = repo.diff(fork, head) if fork is not None else repo.diff(None, head)
    return Comparison(
        base,
        head,
        fork,
        [LogEntry(s.id, s.commit) for s in listed],
        total,
        behind,
        changes,
    )
