"""Merge bases and three-way tree merges; conflicts are returned as data, not raised.

A conflict is a path changed differently on both sides: modify/modify, add/add,
modify/delete (either way round) and file/folder clashes. The caller decides whether
conflicts are an error, resolves them all one way (strategy ``ours`` or ``theirs``), or
passes per-path resolutions.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.orm import Session

from dataworkflow.core.ids import ObjectId
from dataworkflow.core.objects import EMPTY_TREE_ID, FileMode, Tree, TreeEntry
from dataworkflow.errors import InvalidInput
from dataworkflow.metadata.commits import StoredCommit, get_commits
from dataworkflow.services.changes import apply_edits
from dataworkflow.services.diff import Change, diff_trees

_LEFT, _RIGHT, _STALE = 1, 2, 4
Side = Literal["ours", "theirs"]
TreeLoader = Callable[[ObjectId], Tree]


def merge_bases(
    session: Session, repository_id: int, left: ObjectId, right: ObjectId
) -> list[ObjectId]:
    """Every lowest common ancestor of two commits (two or more in criss-cross histories).

    Commits are visited by descending generation, so all children of a commit are seen
    before it: a commit reachable from both sides is a best common ancestor exactly when
    no other such commit descends from it, which the ``STALE`` flag tracks.
    """
    if left == right:
        return [left]
    cache: dict[str, StoredCommit] = get_commits(session, repository_id, {left, right})
    flags: dict[str, int] = {left: _LEFT}
    flags[right] = flags.get(right, 0) | _RIGHT
    heap = [(-cache[c].generation, c) for c in {left, right}]
    heapq.heapify(heap)
    queued = {left, right}
    found: list[ObjectId] = []
    while heap and any(not flags[c] & _STALE for _, c in heap):
        _, commit_id = heapq.heappop(heap)
        queued.discard(commit_id)
        flag = flags[commit_id]
        if flag & (_LEFT | _RIGHT) == _LEFT | _RIGHT and not flag & _STALE:
            found.append(ObjectId(commit_id))
            flag |= _STALE
            flags[commit_id] = flag
        parents = cache[commit_id].commit.parents
        missing = [p for p in parents if p not in cache]
        if missing:
            cache.update(get_commits(session, repository_id, missing))
        for parent in parents:
            new = flags.get(parent, 0) | flag
            if new != flags.get(parent):
                flags[parent] = new
            if parent not in queued:
                queued.add(parent)
                heapq.heappush(heap, (-cache[parent].generation, parent))
    return sorted(found, key=lambda c: (-cache[c].generation, c))


@dataclass(frozen=True, slots=True)
class Conflict:
    """A path both sides changed differently; entries are None where the path is absent."""

    path: str
    kind: str  # modify/modify, add/add, modify/delete, delete/modify, file/folder, mode
    base: TreeEntry | None
    ours: TreeEntry | None
    theirs: TreeEntry | None


@dataclass
class TreeMerge:
    """The merged tree (when there are no unresolved conflicts), trees built, conflicts."""

    tree: Tree | None
    built: list[Tree] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


Resolution = Side | TreeEntry | None
"""Per-path resolution: take one side, a given entry, or None to delete the path."""


def merge_trees(
    load: TreeLoader,
    base: ObjectId | None,
    ours: ObjectId | None,
    theirs: ObjectId | None,
    *,
    strategy: Side | None = None,
    resolutions: Mapping[str, Resolution] | None = None,
    detect_renames: bool = True,
) -> TreeMerge:
    """Three-way merge of trees; untouched subtrees are never opened.

    Renames (a file deleted on one side and its exact blob added elsewhere) are followed:
    if the other side changed the old path, its change lands at the new path.
    Unresolved conflicts leave ``tree`` None. ``strategy`` resolves every conflict to one
    side; ``resolutions`` (by path) take precedence over it.

    Raises:
        InvalidInput: for a resolution naming a path that is not in conflict.
    """
    resolutions = dict(resolutions or {})
    result = TreeMerge(tree=None)
    used: set[str] = set()
    if detect_renames and base is not None and ours is not None and theirs is not None:
        overlay: dict[str, Tree] = {}
        base, ours, theirs = _follow_renames(load, base, ours, theirs, overlay)
        if overlay:
            inner_load = load

            def load(tree_id: ObjectId) -> Tree:
                found = overlay.get(tree_id)
                return found if found is not None else inner_load(tree_id)

            result.built.extend(overlay.values())

    def entries(tree_id: ObjectId | None) -> dict[str, TreeEntry]:
        return {} if tree_id is None else {e.name: e for e in load(tree_id).entries}

    def resolve(conflict: Conflict) -> tuple[bool, TreeEntry | None]:
        choice: Resolution | str | None
        if conflict.path in resolutions:
            used.add(conflict.path)
            choice = resolutions[conflict.path]
        elif strategy is not None:
            choice = strategy
        else:
            result.conflicts.append(conflict)
            return False, None
        if choice == "ours":
            return True, conflict.ours
        if choice == "theirs":
            return True, conflict.theirs
        if choice is None or isinstance(choice, TreeEntry):
            return True, choice
        raise InvalidInput(f"invalid resolution for {conflict.path!r}: {choice!r}")

    def merge(b: ObjectId | None, o: ObjectId | None, t: ObjectId | None, prefix: str) -> Tree:
        if o == t:
            return load(o) if o is not None else Tree(())
        if b == o:
            return load(t) if t is not None else Tree(())
        if b == t:
            return load(o) if o is not None else Tree(())
        base_entries, our_entries, their_entries = entries(b), entries(o), entries(t)
        merged: dict[str, TreeEntry] = {}
        names = sorted(
            set(base_entries) | set(our_entries) | set(their_entries), key=lambda n: n.encode()
        )
        for name in names:
            chosen = merge_entry(
                base_entries.get(name),
                our_entries.get(name),
                their_entries.get(name),
                prefix + name,
            )
            if chosen is not None:
                merged[name] = chosen
        tree = Tree(merged.values())
        result.built.append(tree)
        return tree

    def merge_entry(
        b: TreeEntry | None, o: TreeEntry | None, t: TreeEntry | None, path: str
    ) -> TreeEntry | None:
        if _same(o, t):
            return o
        if _same(b, o):
            return t
        if _same(b, t):
            return o
        # Both sides changed this path, differently.
        if o is not None and t is not None and o.kind == "tree" and t.kind == "tree":
            subtree = merge(
                b.id if b is not None and b.kind == "tree" else None, o.id, t.id, path + "/"
            )
            return _tree_entry(o.name, subtree) if subtree.entries else None
        if (
            o is not None
            and t is not None
            and o.kind == "blob"
            and t.kind == "blob"
            and b is not None
            and b.kind == "blob"
        ):
            # One side changed only the mode, the other only the content: take both.
            if o.id == b.id and t.mode == b.mode:
                return TreeEntry(o.name, o.mode, "blob", t.id)
            if t.id == b.id and o.mode == b.mode:
                return TreeEntry(o.name, t.mode, "blob", o.id)
        kind = _conflict_kind(b, o, t)
        ok, chosen = resolve(Conflict(path, kind, b, o, t))
        if not ok:
            return o if o is not None else t  # placeholder so siblings still merge
        if chosen is not None and chosen.name != path.rsplit("/", 1)[-1]:
            chosen = TreeEntry(path.rsplit("/", 1)[-1], chosen.mode, chosen.kind, chosen.id)
        return chosen

    tree = merge(base, ours, theirs, "")
    unknown = set(resolutions) - used
    if unknown:
        raise InvalidInput(f"no conflict at {sorted(unknown)[0]!r} to resolve")
    if not result.conflicts:
        result.tree = tree
    return result


def _follow_renames(
    load: TreeLoader,
    base: ObjectId,
    ours: ObjectId,
    theirs: ObjectId,
    overlay: dict[str, Tree],
) -> tuple[ObjectId, ObjectId, ObjectId]:
    """Move files renamed on one side to their new path in the base and the other side.

    Only renames whose old path the other side modified matter: every other case the
    plain three-way merge already gets right.
    """
    ours_changes = {c.path: c for c in diff_trees(load, base, ours)}
    theirs_changes = {c.path: c for c in diff_trees(load, base, theirs)}

    def renames(changes: dict[str, Change], other: dict[str, Change]) -> dict[str, str]:
        added: dict[str, list[str]] = {}
        for change in changes.values():
            if change.kind == "added" and change.new is not None:
                added.setdefault(change.new.id, []).append(change.path)
        moved = {}
        for change in changes.values():
            if change.kind != "deleted" or change.old is None:
                continue
            targets = added.get(change.old.id, [])
            theirs_change = other.get(change.path)
            if (
                len(targets) == 1
                and theirs_change is not None
                and theirs_change.kind in ("modified", "mode")
                and targets[0] not in other
            ):
                moved[change.path] = targets[0]
        return moved

    def move(tree_id: ObjectId, moves: dict[str, str]) -> ObjectId:
        edits: dict[tuple[str, ...], TreeEntry | None] = {}
        current = {c.path: c for c in diff_trees(load, None, tree_id)}
        for old, new in moves.items():
            entry = current[old].new
            assert entry is not None
            parts = tuple(new.split("/"))
            edits[tuple(old.split("/"))] = None
            edits[parts] = TreeEntry(parts[-1], entry.mode, "blob", entry.id)
        root, built = apply_edits(load, load(tree_id), edits)
        for tree in built:
            overlay[tree.id] = tree
        return root.id

    theirs_moves = renames(theirs_changes, ours_changes)
    ours_moves = renames(ours_changes, theirs_changes)
    if theirs_moves:
        base, ours = move(base, theirs_moves), move(ours, theirs_moves)
    if ours_moves:
        base, theirs = move(base, ours_moves), move(theirs, ours_moves)
    return base, ours, theirs


def _same(a: TreeEntry | None, b: TreeEntry | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.mode, a.id) == (b.mode, b.id)


def _tree_entry(name: str, tree: Tree) -> TreeEntry:
    return TreeEntry(name, FileMode.TREE, "tree", tree.id)


def _conflict_kind(b: TreeEntry | None, o: TreeEntry | None, t: TreeEntry | None) -> str:
    if o is not None and t is not None and o.kind != t.kind:
        return "file/folder"
    if b is None:
        return "add/add"
    if o is None:
        return "delete/modify"
    if t is None:
        return "modify/delete"
    if o.id == t.id:
        return "mode"
    return "modify/modify"


def empty_tree() -> ObjectId:
    """The id of the empty tree (the base when two histories share nothing)."""
    return EMPTY_TREE_ID
