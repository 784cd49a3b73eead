"""The JSON shapes of commits, entries and changes, shared by ``dw --json`` and the API.

Written once so the command line and the REST API cannot drift apart. Parameters are
structural (Protocols): the service values and the client's same-shaped ones both fit.
"""

from __future__ import annotations

from typing import Any, Protocol

from dataworkflow.core.objects import Commit, Signature, TreeEntry


class ChangeLike(Protocol):
    """What a changed path offers (services.diff.Change, client.Change)."""

    @property
    def status(self) -> str: ...  # noqa: D102
    @property
    def path(self) -> str: ...  # noqa: D102
    @property
    def old_path(self) -> str | None: ...  # noqa: D102
    @property
    def old(self) -> TreeEntry | None: ...  # noqa: D102
    @property
    def new(self) -> TreeEntry | None: ...  # noqa: D102


class ListedEntryLike(Protocol):
    """What a listed entry offers (services.repository.ListedEntry, client.ListedEntry)."""

    @property
    def path(self) -> str: ...  # noqa: D102
    @property
    def name(self) -> str: ...  # noqa: D102
    @property
    def entry(self) -> TreeEntry: ...  # noqa: D102
    @property
    def size(self) -> int | None: ...  # noqa: D102


def signature_json(signature: Signature) -> dict[str, Any]:
    """``{"name", "email", "time"}``; the time in ISO 8601 with the signer's UTC offset."""
    return {"name": signature.name, "email": signature.email, "time": signature.when.isoformat()}


def commit_json(commit_id: str, commit: Commit) -> dict[str, Any]:
    """A commit: id, tree, parents, author, committer, message, metadata."""
    return {
        "id": commit_id,
        "tree": commit.tree,
        "parents": list(commit.parents),
        "author": signature_json(commit.author),
        "committer": signature_json(commit.committer),
        "message": commit.message,
        "metadata": dict(commit.metadata),
    }


def change_json(change: ChangeLike) -> dict[str, Any]:
    """A changed path: status letter, path (and where it came from), ids and modes."""
    return {
        "status": change.status,
        "path": change.path,
        "old_path": change.old_path,
        "old_id": change.old.id if change.old else None,
        "new_id": change.new.id if change.new else None,
        "old_mode": change.old.mode.value if change.old else None,
        "new_mode": change.new.mode.value if change.new else None,
    }


def entry_json(item: ListedEntryLike) -> dict[str, Any]:
    """A tree entry: path, name, mode, type, id and size (null for folders)."""
    return {
        "path": item.path,
        "name": item.name,
        "mode": item.entry.mode.value,
        "type": item.entry.kind,
        "id": item.entry.id,
        "size": item.size,
    }
