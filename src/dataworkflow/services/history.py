"""Walking history page by page, newest first, optionally filtered by path."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from dataworkflow.core.ids import ObjectId
from dataworkflow.core.objects import TreeEntry
from dataworkflow.errors import InvalidInput
from dataworkflow.metadata.commits import StoredCommit, ancestor_ids, get_commits

EntryLookup = Callable[[ObjectId, str], TreeEntry | None]


def _entry_at(
    tree_id: ObjectId,
    parts: Sequence[str],
    lookup: EntryLookup,
    cache: dict[tuple[str, str], TreeEntry | None],
) -> ObjectId | None:
    """The id at ``parts`` below a tree, or None if the path is absent."""
    current: ObjectId | None = tree_id
    for name in parts:
        if current is None:
            return None
        key = (current, name)
        if key not in cache:
            cache[key] = lookup(current, name)
        entry = cache[key]
        if entry is None:
            return None
        current = entry.id if entry.kind == "tree" or name == parts[-1] else None
    return current


def walk_history(
    session: Session,
    repository_id: int,
    start: Sequence[ObjectId],
    limit: int,
    path: Sequence[str] | None,
    lookup: EntryLookup,
) -> tuple[list[StoredCommit], list[ObjectId]]:
    """Up to ``limit`` commits reachable from ``start``, and the frontier to resume from.

    Commits are popped by descending generation, so every child of a commit is emitted
    before it: the frontier (the heap) is the whole state of the walk, and a cursor made
    of it resumes exactly, without a "seen" set.

    Raises:
        InvalidInput: if a start id is not a commit of the repository.
    """
    cache: dict[str, StoredCommit] = {}

    def load(ids: Sequence[str]) -> None:
        missing = [i for i in ids if i not in cache]
        if missing:
            # Prefetch the ancestry a page will need in one query, not one per commit.
            wanted = max(16, 2 * (limit - len(found)) + 8)
            ahead = ancestor_ids(session, repository_id, missing, wanted)
            fetch = [i for i in dict.fromkeys([*missing, *ahead]) if i not in cache]
            cache.update(get_commits(session, repository_id, fetch))

    found: list[StoredCommit] = []
    load(start)
    for commit_id in start:
        if commit_id not in cache:
            raise InvalidInput("history cursor names an unknown commit")
    heap: list[tuple[int, int, str]] = []
    queued: set[str] = set()

    def push(commit_id: str) -> None:
        if commit_id in queued:
            return
        stored = cache[commit_id]
        queued.add(commit_id)
        heapq.heappush(heap, (-stored.generation, -stored.commit.committer.timestamp, commit_id))

    for commit_id in start:
        push(commit_id)
    entry_cache: dict[tuple[str, str], TreeEntry | None] = {}
    while heap and len(found) < limit:
        _, _, popped = heapq.heappop(heap)
        commit_id = ObjectId(popped)
        queued.discard(commit_id)
        stored = cache[commit_id]
        parents = stored.commit.parents
        load(parents)
        for parent in parents:
            push(parent)
        if path is None:
            found.append(stored)
            continue
        mine = _entry_at(stored.commit.tree, path, lookup, entry_cache)
        theirs = [_entry_at(cache[p].commit.tree, path, lookup, entry_cache) for p in parents]
        if (not parents and mine is not None) or (parents and all(t != mine for t in theirs)):
            found.append(stored)
    frontier = [item[2] for item in sorted(heap)]
    return found, [ObjectId(c) for c in frontier]
