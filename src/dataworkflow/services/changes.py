"""Changes to a branch (put, delete) and applying them to trees, rebuilding only the path.

A commit that changes one file adds only the trees on that file's path; every other
subtree keeps its id and is shared with the parent commit.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

from dataworkflow.core.ids import ObjectId, parse_object_id
from dataworkflow.core.names import split_path
from dataworkflow.core.objects import FileMode, Tree, TreeEntry
from dataworkflow.errors import InvalidInput, NotAFile, PathNotFound

Source = bytes | bytearray | memoryview | BinaryIO | os.PathLike[str]


@dataclass(frozen=True)
class Put:
    """Add or replace the file at ``path`` with bytes, a binary stream or a local file."""

    path: str
    source: Source
    executable: bool = False


@dataclass(frozen=True)
class PutBlob:
    """Add or replace the file at ``path`` with a blob the repository already has."""

    path: str
    blob_id: str
    executable: bool = False


@dataclass(frozen=True)
class Delete:
    """Remove the file or folder at ``path``."""

    path: str


Change = Put | PutBlob | Delete

# An edit: a new entry for the path (file, or a whole subtree), or None to delete it.
Edit = TreeEntry | None
_Node = dict[str, Union["_Node", TreeEntry, None]]


def check_source(source: object) -> None:
    """Reject sources that would be ambiguous, such as a plain ``str``.

    Raises:
        InvalidInput: if ``source`` is not bytes, a binary stream or a path.
    """
    if isinstance(source, (bytes, bytearray, memoryview, os.PathLike)):
        return
    if hasattr(source, "read") and not isinstance(source, str):
        return
    raise InvalidInput(
        "file content must be bytes, a binary stream or a pathlib.Path "
        f"(got {type(source).__name__})"
    )


def file_mode(executable: bool) -> FileMode:
    """The mode of a file entry."""
    return FileMode.EXECUTABLE if executable else FileMode.FILE


def parse_change_paths(changes: list[Change]) -> list[tuple[tuple[str, ...], Change]]:
    """Validate every path; reject duplicates and a path inside another changed path.

    Raises:
        InvalidName: for a bad path.
        InvalidInput: for the root, duplicates or nested changes.
    """
    parsed: list[tuple[tuple[str, ...], Change]] = []
    for change in changes:
        parts = split_path(change.path)
        if not parts:
            raise InvalidInput("a change must name a path below the root")
        if isinstance(change, PutBlob):
            parse_object_id(change.blob_id)
        parsed.append((parts, change))
    ordered = sorted(p for p, _ in parsed)
    for before, after in itertools.pairwise(ordered):
        if before == after:
            raise InvalidInput(f"path {'/'.join(before)!r} is changed twice")
        if after[: len(before)] == before:
            raise InvalidInput(
                f"path {'/'.join(after)!r} is inside {'/'.join(before)!r}, changed too"
            )
    return parsed


def apply_edits(
    load_tree: Callable[[ObjectId], Tree],
    root: Tree,
    edits: Mapping[tuple[str, ...], Edit],
) -> tuple[Tree, list[Tree]]:
    """Apply edits to ``root``; return the new root and every tree that was (re)built.

    Folders left empty disappear, as in Git; the root stays (possibly empty).

    Raises:
        PathNotFound: a delete names a path that is not there.
        NotAFile: a path crosses a file as if it were a folder, or a file replaces a
            folder (delete the folder first).
    """
    nested: _Node = {}
    for parts, edit in edits.items():
        node = nested
        for name in parts[:-1]:
            child = node.setdefault(name, {})
            assert isinstance(child, dict)
            node = child
        node[parts[-1]] = edit
    built: list[Tree] = []

    def rebuild(tree: Tree, node: _Node, prefix: str) -> Tree:
        entries = {entry.name: entry for entry in tree.entries}
        for name, edit in node.items():
            path = f"{prefix}{name}"
            existing = entries.get(name)
            if isinstance(edit, dict):
                if existing is not None and existing.kind == "blob":
                    raise NotAFile(f"{path!r} is a file, not a folder")
                subtree = load_tree(existing.id) if existing is not None else Tree(())
                if existing is None and all(v is None for v in _leaves(edit)):
                    raise PathNotFound(path + "/" + _first_leaf(edit))
                new_subtree = rebuild(subtree, edit, path + "/")
                if new_subtree.entries:
                    entries[name] = TreeEntry(name, FileMode.TREE, "tree", new_subtree.id)
                else:
                    entries.pop(name, None)
            elif edit is None:
                if existing is None:
                    raise PathNotFound(path)
                del entries[name]
            else:
                if existing is not None and existing.kind == "tree" and edit.kind == "blob":
                    raise NotAFile(f"{path!r} is a folder; delete it before putting a file there")
                if existing is not None and existing.kind == "blob" and edit.kind == "tree":
                    raise NotAFile(f"{path!r} is a file; delete it before putting a folder there")
                if edit.kind == "tree" and edit.id == EMPTY_TREE:
                    entries.pop(name, None)
                else:
                    entries[name] = TreeEntry(name, edit.mode, edit.kind, edit.id)
        new_tree = Tree(entries.values())
        built.append(new_tree)
        return new_tree

    new_root = rebuild(root, nested, "")
    return new_root, built


def _leaves(node: _Node) -> list[Edit]:
    found: list[Edit] = []
    for value in node.values():
        if isinstance(value, dict):
            found.extend(_leaves(value))
        else:
            found.append(value)
    return found


def _first_leaf(node: _Node) -> str:
    name, value = next(iter(node.items()))
    return name if not isinstance(value, dict) else f"{name}/{_first_leaf(value)}"


EMPTY_TREE = Tree(()).id


def local_path(source: Source) -> Path | None:
    """The local file a source names, if it is a path."""
    return Path(os.fspath(source)) if isinstance(source, os.PathLike) else None
