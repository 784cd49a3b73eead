"""Helpers shared by the page modules: resolving ``rev/path`` and page context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort

from dataworkflow.services.repository import LogEntry, Repository
from dataworkflow.web.context import get_repository


@dataclass
class Location:
    """Where a page is: repository, revision as written, commit id, and path."""

    repo: Repository
    rev: str
    commit: LogEntry
    path: str

    @property
    def crumbs(self) -> list[tuple[str, str]]:
        """``(name, path so far)`` for each component of the path."""
        parts = self.path.split("/") if self.path else []
        return [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]

    @property
    def is_branch(self) -> bool:
        """Whether ``rev`` names a branch (uploads need one)."""
        return any(name == self.rev for name, _ in self.repo.list_branches())


def locate(repo_name: str, rev_and_path: str) -> Location:
    """Resolve ``rev/path`` of a URL.

    Raises:
        RepositoryNotFound, RevisionNotFound: 404 through the error handlers.
    """
    repo = get_repository(repo_name)
    rev, path = repo.split_rev_and_path(rev_and_path)
    if not rev:
        abort(404)
    commit = repo.get_commit(rev)
    return Location(repo, rev, commit, path)


def refs_context(repo: Repository) -> dict[str, Any]:
    """Branches and tags for the switcher."""
    return {"branches": repo.list_branches(), "tags": repo.list_tags()}
