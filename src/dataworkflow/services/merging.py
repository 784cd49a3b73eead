"""Merge a branch into another, revert a commit, cherry-pick a commit: history operations.

Each one reads the target branch's head once, computes a tree, and lands its commit
with a compare-and-swap from that head: a commit that reaches the branch meanwhile
makes the operation fail with ``RefConflict`` instead of being lost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

from sqlalchemy.orm import Session

from dataworkflow.core.ids import ObjectId
from dataworkflow.core.names import branch_ref
from dataworkflow.core.objects import Commit, Tree
from dataworkflow.errors import InvalidInput, RefNotFound, RevisionNotFound
from dataworkflow.metadata import commits as commit_queries
from dataworkflow.metadata import objects as object_queries
from dataworkflow.metadata import refs as ref_queries
from dataworkflow.services.merge import Conflict, Resolution, Side, merge_bases, merge_trees
from dataworkflow.services.repository import Repository, _signature

MergeStatus = Literal["up-to-date", "fast-forward", "merged", "conflicts"]


@dataclass
class MergeOutcome:
    """What a merge, revert or cherry-pick did (or would have to resolve)."""

    status: MergeStatus
    commit_id: ObjectId | None
    """The branch's new head; the unchanged head for up-to-date; None on conflicts."""
    target: ObjectId | None
    """The head the operation started from."""
    bases: list[ObjectId] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def _head(session: Session, repo: Repository, branch: str) -> ObjectId:
    head = ref_queries.get_ref(session, repo.id, branch_ref(branch))
    if head is None:
        raise RefNotFound(branch)
    return head


def _tree_of(session: Session, repo: Repository, commit_id: ObjectId) -> ObjectId:
    stored = commit_queries.get_commit(session, repo.id, commit_id)
    if stored is None:
        raise RevisionNotFound(f"commit {commit_id} not found")
    return stored.commit.tree


class _Loader:
    """Loads trees from the database, and from trees built in memory during this merge."""

    def __init__(self, session: Session, repo: Repository) -> None:
        self.session = session
        self.repo = repo
        self.extra: dict[str, Tree] = {}

    def __call__(self, tree_id: ObjectId) -> Tree:
        if tree_id in self.extra:
            return self.extra[tree_id]
        return self.repo._load_tree(self.session, tree_id)


def _virtual_base(
    session: Session, repo: Repository, bases: list[ObjectId], load: _Loader
) -> ObjectId:
    """One base tree from several merge bases (criss-cross), merged recursively like Git.

    Where the bases themselves conflict, the later base's side is taken: the final merge
    then sees those paths as changed on both sides and reports them rather than guessing.
    The virtual trees stay in memory; no commit refers to them.
    """
    tree = _tree_of(session, repo, bases[0])
    for other in bases[1:]:
        inner = merge_bases(session, repo.id, bases[0], other)
        inner_tree = _tree_of(session, repo, inner[0]) if inner else None
        merged = merge_trees(
            load, inner_tree, tree, _tree_of(session, repo, other), strategy="theirs"
        )
        assert merged.tree is not None
        for built in (*merged.built, merged.tree):
            load.extra[built.id] = built
        tree = merged.tree.id
    return tree


_F = TypeVar("_F", bound=Callable[..., Any])


def _gc_guarded(operation: _F) -> _F:
    """Hold the gc guard shared for the whole operation, as Repository's writes do.

    A merge, revert or cherry-pick reads commits and trees, then writes rows that point
    at them; garbage collection must not delete them in between (services/gc.py).
    """

    @functools.wraps(operation)
    def guarded(repo: Repository, *args: Any, **kwargs: Any) -> Any:
        with repo.db.gc_lock(shared=True):
            return operation(repo, *args, **kwargs)

    return cast(_F, guarded)


@_gc_guarded
def merge_branch(
    repo: Repository,
    source: str,
    into: str,
    *,
    message: str | None = None,
    strategy: Side | None = None,
    resolutions: Mapping[str, Resolution] | None = None,
    author: str | None = None,
    author_email: str | None = None,
    authored_at: datetime | int | None = None,
    fast_forward: bool = True,
) -> MergeOutcome:
    """Merge revision ``source`` into branch ``into``.

    Fast-forwards when ``into`` is an ancestor of ``source`` (unless ``fast_forward`` is
    False); otherwise a three-way merge makes a two-parent commit. With unresolved
    conflicts nothing is written and the outcome lists them.

    Raises:
        RefNotFound: if ``into`` is not a branch.
        RevisionNotFound: if ``source`` names nothing.
        RefConflict: if ``into`` moved while the merge was computed.
    """
    ref = branch_ref(into)
    with repo.db.reading() as session:
        target = _head(session, repo, into)
        theirs = repo._resolve(session, source)
        bases = merge_bases(session, repo.id, target, theirs)
        if theirs in bases:
            return MergeOutcome("up-to-date", target, target, bases)
        fast = target in bases and fast_forward
        if not fast:
            load = _Loader(session, repo)
            base_tree = _virtual_base(session, repo, bases, load) if bases else None
            merged = merge_trees(
                load,
                base_tree,
                _tree_of(session, repo, target),
                _tree_of(session, repo, theirs),
                strategy=strategy,
                resolutions=resolutions,
            )
            if merged.tree is None:
                return MergeOutcome("conflicts", None, target, bases, merged.conflicts)
    with repo.db.transaction() as session:
        if fast:
            ref_queries.compare_and_swap_ref(
                session,
                repo.id,
                ref,
                target,
                theirs,
                actor=repo.actor,
                reason="merge",
                message=f"fast-forward {source} into {into}",
            )
            return MergeOutcome("fast-forward", theirs, target, bases)
        assert merged.tree is not None
        text = message or f"Merge {source} into {into}"
        commit_id = _land(
            session,
            repo,
            ref,
            target,
            merged.tree,
            merged.built,
            (target, theirs),
            text,
            author,
            author_email,
            authored_at,
            reason="merge",
        )
        return MergeOutcome("merged", commit_id, target, bases)


@_gc_guarded
def revert(
    repo: Repository,
    rev: str,
    branch: str,
    *,
    mainline: int = 1,
    message: str | None = None,
    strategy: Side | None = None,
    resolutions: Mapping[str, Resolution] | None = None,
    author: str | None = None,
    author_email: str | None = None,
    authored_at: datetime | int | None = None,
) -> MergeOutcome:
    """Add a commit to ``branch`` that undoes commit ``rev`` (against parent ``mainline``).

    Raises:
        InvalidInput: for a root commit, or a bad ``mainline``.
        RefNotFound, RevisionNotFound, RefConflict: as for ``merge_branch``.
    """
    return _replay(
        repo,
        rev,
        branch,
        mainline,
        message,
        strategy,
        resolutions,
        author,
        author_email,
        authored_at,
        undo=True,
    )


@_gc_guarded
def cherry_pick(
    repo: Repository,
    rev: str,
    onto: str,
    *,
    mainline: int = 1,
    message: str | None = None,
    strategy: Side | None = None,
    resolutions: Mapping[str, Resolution] | None = None,
    author: str | None = None,
    author_email: str | None = None,
    authored_at: datetime | int | None = None,
) -> MergeOutcome:
    """Apply the change commit ``rev`` made (against parent ``mainline``) onto ``onto``.

    Raises:
        InvalidInput, RefNotFound, RevisionNotFound, RefConflict: as for ``revert``.
    """
    return _replay(
        repo,
        rev,
        onto,
        mainline,
        message,
        strategy,
        resolutions,
        author,
        author_email,
        authored_at,
        undo=False,
    )


def _replay(
    repo: Repository,
    rev: str,
    branch: str,
    mainline: int,
    message: str | None,
    strategy: Side | None,
    resolutions: Mapping[str, Resolution] | None,
    author: str | None,
    author_email: str | None,
    authored_at: datetime | int | None,
    *,
    undo: bool,
) -> MergeOutcome:
    ref = branch_ref(branch)
    with repo.db.reading() as session:
        target = _head(session, repo, branch)
        commit_id = repo._resolve(session, rev)
        stored = commit_queries.get_commit(session, repo.id, commit_id)
        assert stored is not None
        parents = stored.commit.parents
        if not parents:
            raise InvalidInput(f"commit {commit_id[:10]} has no parent to compare with")
        if not 1 <= mainline <= len(parents):
            raise InvalidInput(f"commit {commit_id[:10]} has no parent number {mainline}")
        parent_tree = _tree_of(session, repo, parents[mainline - 1])
        base, theirs = (
            (stored.commit.tree, parent_tree) if undo else (parent_tree, stored.commit.tree)
        )
        target_tree = _tree_of(session, repo, target)
        merged = merge_trees(
            _Loader(session, repo),
            base,
            target_tree,
            theirs,
            strategy=strategy,
            resolutions=resolutions,
        )
    if merged.tree is None:
        return MergeOutcome("conflicts", None, target, [], merged.conflicts)
    if merged.tree.id == target_tree:
        return MergeOutcome("up-to-date", target, target)
    title = stored.commit.title
    text = message or (
        f'Revert "{title}"\n\nThis reverts commit {commit_id}.'
        if undo
        else f"{stored.commit.message}\n\n(cherry picked from commit {commit_id})"
    )
    with repo.db.transaction() as session:
        new = _land(
            session,
            repo,
            ref,
            target,
            merged.tree,
            merged.built,
            (target,),
            text,
            author,
            author_email,
            authored_at,
            reason="revert" if undo else "cherry-pick",
        )
    return MergeOutcome("merged", new, target)


def _land(
    session: Session,
    repo: Repository,
    ref: str,
    target: ObjectId,
    tree: Tree,
    built: list[Tree],
    parents: tuple[ObjectId, ...],
    message: str,
    author: str | None,
    author_email: str | None,
    authored_at: datetime | int | None,
    *,
    reason: str,
) -> ObjectId:
    """Insert the trees and the commit, then move the branch by compare-and-swap.

    Only merges may land on a protected branch; reverts and cherry-picks are direct
    commits.
    """
    if reason != "merge":
        repo._check_unprotected(session, ref, f"a direct commit ({reason})")
    object_queries.insert_trees(session, repo.id, [*built, tree])
    signature = _signature(author, author_email, authored_at)
    commit = Commit(tree.id, parents, signature, signature, message)
    repo._insert_commit(session, commit)
    ref_queries.compare_and_swap_ref(
        session,
        repo.id,
        ref,
        target,
        commit.id,
        actor=repo.actor,
        reason=reason,
        message=message.strip().split("\n", 1)[0],
    )
    return commit.id
