"""Resolving revisions to commits, and splitting ``rev/path`` strings from URLs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from dataworkflow.core.ids import ObjectId, is_object_id, is_short_id
from dataworkflow.core.names import BRANCH_PREFIX, TAG_PREFIX
from dataworkflow.core.revisions import parse_revision
from dataworkflow.errors import InvalidRevision, RevisionNotFound
from dataworkflow.metadata.commits import find_commits_by_prefix, get_commit, get_commit_tree
from dataworkflow.metadata.refs import get_first_ref, list_refs


def resolve_base(session: Session, repository_id: int, base: str, default_branch: str) -> ObjectId:
    """Resolve a branch, tag, full ref name, ``HEAD`` or (short) commit id.

    Follows Git's order: a full commit id first, then ``refs/<base>`` forms, tags before
    branches, and last an unambiguous id prefix of at least 7 characters.

    Raises:
        RevisionNotFound: if nothing matches.
        InvalidRevision: if a short id is ambiguous.
    """
    return _resolve_base(session, repository_id, base, default_branch)[0]


def _resolve_base(
    session: Session, repository_id: int, base: str, default_branch: str
) -> tuple[ObjectId, ObjectId | None]:
    """``resolve_base``, with the commit's tree where the lookup found it on the way."""
    if is_object_id(base):
        tree_id = get_commit_tree(session, repository_id, base)
        if tree_id is not None:
            return ObjectId(base), tree_id
    if base == "HEAD":
        base = default_branch
    candidates = [base] if base.startswith("refs/") else []
    candidates += [TAG_PREFIX + base, BRANCH_PREFIX + base]
    found = get_first_ref(session, repository_id, candidates)
    if found is not None:
        return found
    if is_short_id(base):
        matches = find_commits_by_prefix(session, repository_id, base)
        if len(matches) == 1:
            return matches[0], None
        if len(matches) > 1:
            raise InvalidRevision(f"short commit id {base!r} is ambiguous")
    raise RevisionNotFound(f"revision {base!r} not found")


def resolve_revision(
    session: Session, repository_id: int, revision: str, default_branch: str
) -> ObjectId:
    """Resolve ``revision`` (with ``~N`` and ``^N`` steps) to a commit id.

    Raises:
        InvalidRevision: if it cannot be parsed or a short id is ambiguous.
        RevisionNotFound: if it names nothing, or walks past the first commit.
    """
    spec = parse_revision(revision)
    commit_id = resolve_base(session, repository_id, spec.base, default_branch)
    return _walk_steps(session, repository_id, revision, commit_id, spec.steps)


def resolve_tree(
    session: Session, repository_id: int, revision: str, default_branch: str
) -> tuple[ObjectId, ObjectId]:
    """``resolve_revision`` and the root tree of the commit it names.

    A plain branch, tag or full id costs one query for both, which every read of a path
    at a revision starts with.

    Raises:
        InvalidRevision, RevisionNotFound: see ``resolve_revision``.
    """
    spec = parse_revision(revision)
    commit_id, tree_id = _resolve_base(session, repository_id, spec.base, default_branch)
    if spec.steps:
        commit_id = _walk_steps(session, repository_id, revision, commit_id, spec.steps)
        tree_id = None
    if tree_id is None:
        tree_id = get_commit_tree(session, repository_id, commit_id)
        assert tree_id is not None, f"commit {commit_id} resolved but is not stored"
    return commit_id, tree_id


def _walk_steps(
    session: Session,
    repository_id: int,
    revision: str,
    commit_id: ObjectId,
    steps: Sequence[tuple[str, int]],
) -> ObjectId:
    for op, count in steps:
        if op == "^":
            if count == 0:
                continue
            stored = get_commit(session, repository_id, commit_id)
            assert stored is not None
            if count > len(stored.commit.parents):
                raise RevisionNotFound(f"revision {revision!r}: no parent {count}")
            commit_id = stored.commit.parents[count - 1]
            continue
        for _ in range(count):
            stored = get_commit(session, repository_id, commit_id)
            assert stored is not None
            if not stored.commit.parents:
                raise RevisionNotFound(f"revision {revision!r} goes past the first commit")
            commit_id = stored.commit.parents[0]
    return commit_id


def split_rev_and_path(session: Session, repository_id: int, rev_and_path: str) -> tuple[str, str]:
    """Split ``feature/x/data/a.csv`` into ``("feature/x", "data/a.csv")``.

    Branch names may contain ``/``, so a URL cannot say where the revision ends. Like
    klaus, take the longest prefix that names a branch or tag; failing that, the first
    segment is the revision (a commit id or an expression such as ``main~2``).
    """
    parts = rev_and_path.strip("/").split("/")
    names = {
        name.removeprefix(BRANCH_PREFIX).removeprefix(TAG_PREFIX)
        for name, _ in list_refs(session, repository_id)
    }
    for cut in range(len(parts), 0, -1):
        candidate = "/".join(parts[:cut])
        try:
            base = parse_revision(candidate).base if candidate else candidate
        except InvalidRevision:  # "main~2/data.csv": the path is not part of the revision
            continue
        if candidate in names or (base in names and base != candidate):
            return candidate, "/".join(parts[cut:])
    return parts[0], "/".join(parts[1:])
