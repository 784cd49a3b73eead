"""A repository's activity: the ref log, newest first, one page at a time.

Every movement of every ref is there, force moves and deletions included, so a commit
a branch no longer points at can still be found. The commits named may since have been
collected by ``dw gc``; those ids are shown without a link instead of failing the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import render_template, request
from flask.typing import ResponseReturnValue

from dataworkflow.core.names import BRANCH_PREFIX, TAG_PREFIX, branch_ref, tag_ref
from dataworkflow.errors import DataWorkflowError
from dataworkflow.metadata.refs import RefLogEntry
from dataworkflow.services.repository import Repository
from dataworkflow.web.auth import access
from dataworkflow.web.context import get_repository
from dataworkflow.web.ui import bp
from dataworkflow.web.ui._common import refs_context

PAGE = 50
MAX_ENTRY_ID = 10**12 - 1
"""Largest ``before`` taken from a URL: ids are sequence numbers far below this, and a
bigger number would overflow the database's integer instead of meaning "from the top"."""


@dataclass(frozen=True, slots=True)
class Movement:
    """One ref log entry as the page shows it."""

    entry: RefLogEntry
    when: datetime
    kind: str
    """``branch`` or ``tag``."""
    name: str
    """The ref's short name."""
    old_exists: bool
    new_exists: bool


def _short(ref: str) -> tuple[str, str]:
    if ref.startswith(TAG_PREFIX):
        return "tag", ref.removeprefix(TAG_PREFIX)
    return "branch", ref.removeprefix(BRANCH_PREFIX)


def _log_ref(repo: Repository, name: str) -> str | None:
    """The full ref a ``?ref=`` stands for: itself if full, else a branch, else a tag.

    Looked up in the log, not among today's refs, so a deleted branch can be followed;
    None if no such ref ever moved.

    Raises:
        InvalidName, InvalidInput: for a malformed name.
    """
    candidates = [name] if name.startswith("refs/") else [branch_ref(name), tag_ref(name)]
    for full in candidates:
        if repo.ref_log(full, limit=1):
            return full
    return None


def _before(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ENTRY_ID:
        raise ValueError(text)
    return int(text)


@bp.get("/<repo_name>/activity")
@access("read")
def activity(repo_name: str) -> ResponseReturnValue:
    """Who moved which ref when, and why; filter with ``?ref=``, page with ``?before=``."""
    repo = get_repository(repo_name)
    ref_name = request.args.get("ref", "").strip()
    error = None
    entries: list[RefLogEntry] = []
    try:
        before = _before(request.args.get("before"))
    except ValueError:
        before, error = None, "The page asked for does not exist: showing the newest entries."
    status = 200
    try:
        full = _log_ref(repo, ref_name) if ref_name else None
        if full is not None or not ref_name:
            entries = repo.ref_log(full, before=before, limit=PAGE + 1)
    except DataWorkflowError as exc:
        error, status = str(exc), 400
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    exists: dict[str, bool] = {}

    def commit_exists(commit_id: str | None) -> bool:
        # Looked up once per id: a page of moves of one branch repeats the same ids.
        if commit_id is None:
            return False
        if commit_id not in exists:
            try:
                repo.get_commit(commit_id)
            except DataWorkflowError:
                exists[commit_id] = False  # collected by gc since it was logged
            else:
                exists[commit_id] = True
        return exists[commit_id]

    movements = [
        Movement(
            entry,
            datetime.fromtimestamp(entry.at, UTC),
            *_short(entry.ref),
            commit_exists(entry.old),
            commit_exists(entry.new),
        )
        for entry in entries
    ]
    return render_template(
        "ui/activity.html",
        repo=repo,
        movements=movements,
        ref=ref_name,
        error=error,
        next_before=entries[-1].id if more and entries else None,
        paged=before is not None,
        **refs_context(repo),
    ), status
