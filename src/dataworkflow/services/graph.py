"""Commit-graph walks: how far two commits have diverged.

Walks pop commits by descending generation, so the work is proportional to the
commits that differ, not to the length of the history.
"""

from __future__ import annotations

import heapq

from sqlalchemy.orm import Session

from dataworkflow.core.ids import ObjectId
from dataworkflow.metadata.commits import StoredCommit, get_commits

_LEFT, _RIGHT = 1, 2


def ahead_behind(
    session: Session, repository_id: int, left: ObjectId, right: ObjectId
) -> tuple[int, int]:
    """``(commits only in left's history, commits only in right's history)``."""
    if left == right:
        return 0, 0
    cache: dict[str, StoredCommit] = get_commits(session, repository_id, {left, right})
    flags: dict[str, int] = {left: _LEFT, right: 0}
    flags[right] |= _RIGHT
    heap: list[tuple[int, str]] = []
    for start in (left, right):
        heapq.heappush(heap, (-cache[start].generation, start))
    counts = {_LEFT: 0, _RIGHT: 0}
    while heap:
        if all(flags[c] == _LEFT | _RIGHT for _, c in heap):
            break  # only common history remains
        _, commit_id = heapq.heappop(heap)
        flag = flags[commit_id]
        if flag in counts:
            counts[flag] += 1
        parents = cache[commit_id].commit.parents
        missing = [p for p in parents if p not in cache]
        if missing:
            cache.update(get_commits(session, repository_id, missing))
        for parent in parents:
            if parent not in flags:
                flags[parent] = flag
                heapq.heappush(heap, (-cache[parent].generation, parent))
            else:
                flags[parent] |= flag
    return counts[_LEFT], counts[_RIGHT]


def only_in(
    session: Session, repository_id: int, head: ObjectId, base: ObjectId, limit: int
) -> tuple[list[StoredCommit], int]:
    """Commits reachable from ``head`` but not from ``base``, newest first (at most ``limit``).

    Returns the listed commits and how many there are in all.
    """
    if head == base:
        return [], 0
    cache: dict[str, StoredCommit] = get_commits(session, repository_id, {head, base})
    flags: dict[str, int] = {head: _LEFT}
    flags[base] = flags.get(base, 0) | _RIGHT
    heap: list[tuple[int, int, str]] = []
    for start in {head, base}:
        stored = cache[start]
        heapq.heappush(heap, (-stored.generation, -stored.commit.committer.timestamp, start))
    listed: list[StoredCommit] = []
    total = 0
    while heap:
        if all(flags[c] & _RIGHT for _, _, c in heap):
            break  # only history that base has too remains
        _, _, commit_id = heapq.heappop(heap)
        flag = flags[commit_id]
        if flag == _LEFT:
            total += 1
            if len(listed) < limit:
                listed.append(cache[commit_id])
        parents = cache[commit_id].commit.parents
        missing = [p for p in parents if p not in cache]
        if missing:
            cache.update(get_commits(session, repository_id, missing))
        for parent in parents:
            if parent not in flags:
                flags[parent] = flag
                stored = cache[parent]
                heapq.heappush(
                    heap, (-stored.generation, -stored.commit.committer.timestamp, parent)
                )
            else:
                flags[parent] |= flag
    return listed, total


def is_ancestor(session: Session, repository_id: int, old: ObjectId, new: ObjectId) -> bool:
    """Whether moving a ref from ``old`` to ``new`` is a fast-forward."""
    return ahead_behind(session, repository_id, old, new)[0] == 0
