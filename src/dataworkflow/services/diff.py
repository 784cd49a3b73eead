"""Tree diff: which paths changed between two trees, skipping identical subtrees by id.

The cost grows with the size of the change, not of the repository: two subtrees with
the same id are equal all the way down and are never opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from dataworkflow.core.ids import ObjectId
from dataworkflow.core.objects import FileMode, Tree, TreeEntry

ChangeKind = Literal["added", "deleted", "modified", "mode", "renamed", "copied"]
STATUS_LETTER: dict[str, str] = {
    "added": "A",
    "deleted": "D",
    "modified": "M",
    "mode": "T",
    "renamed": "R",
    "copied": "C",
}


@dataclass(frozen=True, slots=True)
class Change:
    """One changed file: its path, what happened, and the entries before and after."""

    kind: ChangeKind
    path: str
    old: TreeEntry | None
    new: TreeEntry | None
    old_path: str | None = None
    """Where a renamed or copied file came from."""

    @property
    def status(self) -> str:
        """Git's one-letter status: A, D, M, T (mode only), R (renamed) or C (copied)."""
        return STATUS_LETTER[self.kind]


TreeLoader = Callable[[ObjectId], Tree]


def diff_trees(
    load: TreeLoader, old: ObjectId | None, new: ObjectId | None, prefix: str = ""
) -> Iterator[Change]:
    """Yield the changed files between two trees, in path order.

    A file replaced by a folder (or the reverse) shows as a deletion and additions.
    """
    if old == new:
        return
    old_entries = {e.name: e for e in load(old).entries} if old is not None else {}
    new_entries = {e.name: e for e in load(new).entries} if new is not None else {}
    names = sorted(set(old_entries) | set(new_entries), key=lambda n: n.encode("utf-8"))
    for name in names:
        before, after = old_entries.get(name), new_entries.get(name)
        path = prefix + name
        if before is not None and after is not None and before.kind == after.kind:
            if before.kind == "tree":
                yield from diff_trees(load, before.id, after.id, path + "/")
            elif before.id != after.id:
                yield Change("modified", path, before, after)
            elif before.mode != after.mode:
                yield Change("mode", path, before, after)
            continue
        if before is not None:
            yield from _all(load, before, path, "deleted")
        if after is not None:
            yield from _all(load, after, path, "added")


def _all(load: TreeLoader, entry: TreeEntry, path: str, kind: ChangeKind) -> Iterator[Change]:
    if entry.mode is FileMode.TREE:
        for child in load(entry.id).entries:
            yield from _all(load, child, f"{path}/{child.name}", kind)
        return
    if kind == "added":
        yield Change("added", path, None, entry)
    else:
        yield Change("deleted", path, entry, None)


def detect_renames(changes: list[Change]) -> list[Change]:
    """Pair deletions and additions of the same blob as renames, in path order.

    An added file whose blob is the old content of a file this change modified or
    deleted (and is not claimed by a rename) is marked as a copy of it. Only files in
    the change are candidates, so the cost stays proportional to the change.
    """
    deleted: dict[str, list[Change]] = {}
    sources: dict[str, Change] = {}
    for change in changes:
        if change.old is not None and change.kind in ("deleted", "modified", "mode"):
            sources.setdefault(change.old.id, change)
            if change.kind == "deleted":
                deleted.setdefault(change.old.id, []).append(change)
    renamed_from: set[str] = set()
    result: list[Change] = []
    for change in changes:
        if change.kind != "added" or change.new is None:
            continue
        candidates = [c for c in deleted.get(change.new.id, []) if c.path not in renamed_from]
        if candidates:
            source = candidates[0]
            renamed_from.add(source.path)
            result.append(Change("renamed", change.path, source.old, change.new, source.path))
        elif change.new.id in sources:
            source = sources[change.new.id]
            result.append(Change("copied", change.path, source.old, change.new, source.path))
        else:
            result.append(change)
    result += [
        c
        for c in changes
        if c.kind != "added" and not (c.kind == "deleted" and c.path in renamed_from)
    ]
    return sorted(result, key=lambda c: c.path.encode("utf-8"))
