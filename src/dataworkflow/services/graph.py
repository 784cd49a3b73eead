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
