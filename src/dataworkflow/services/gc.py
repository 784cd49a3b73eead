"""Garbage collection: delete the rows and bytes that nothing can reach any more.

What stays is everything reachable (commits to their parents and trees, trees to their
entries) from every ref of every repository; from the commits that ref-log rows younger
than the retention window name, so that a deleted branch or a forced move can be undone
for a while; and from commits younger than the grace period, because the seed's API
creates a commit and moves a ref in two calls. Unreachable commit, tree and blob rows
are deleted per repository, except blob rows whose bytes are younger than the grace
period: an upload waiting for the commit that will use it. Then the stored objects that
no blob row of any repository names, and that are older than the grace period, are
deleted. Storage deduplicates across repositories, so bytes go only once no repository
has a row for them; a deleted repository's rows are gone already, so its unique bytes go
at the next run, while the bytes it shared stay.

Concurrent writers (the hard part). A writer stores bytes first, skipping the put when
storage has the object already, then inserts rows and moves a ref in one transaction.
Left alone, gc could delete bytes that a writer has just decided not to store, or rows
that a writer's transaction has just checked for. The protocol:

1. Mark, without any lock: per repository, scan the ids of every commit, tree and blob
   row, then walk from the roots. Scanning before walking matters: a row is written in
   the same transaction as its children rows, so every row the scan saw has its
   children in place for the walk. Then list storage, with sizes and ages.
2. Take the gc guard exclusive (:meth:`Database.gc_lock`). ``Repository``'s writes hold
   it shared from before their first put until their transaction commits, so while gc
   holds it no write is half way. Writes that start later wait, then find whatever gc
   deleted gone: a put stores the bytes again, a check for a row fails cleanly with
   ObjectNotFound instead of committing a dangling reference.
3. Under the guard, re-mark incrementally from the current refs and ref log, and from
   every commit and tree row the scan did not see (rows written since, which may point
   at candidates), expanding those even where their ids are marked already. Only rows
   the scan saw and that are still unmarked are deleted (one transaction per
   repository); candidate bytes are checked again against the blob rows of every
   repository, then deleted. Then the guard is released.

Limits:

- Writers that bypass ``Repository``'s guarded methods are not held off: the merge,
  revert and cherry-pick transactions of :mod:`~dataworkflow.services.merging` and
  anything writing rows directly. They are safe while what they reference is reachable
  from a ref or the ref log (merges of branches are); cherry-picking a commit that
  nothing reaches, while gc deletes it on PostgreSQL, is not.
- The grace period counts from when the bytes were first stored. Uploading bytes that
  storage has held for longer (a dedupe hit) and committing them after a gc has run in
  between loses the upload's blob row; the commit then fails with ObjectNotFound and
  uploading again fixes it. Trees made with ``create_tree`` have no age: if no commit
  uses them before the next gc, they are collected.
- Ages come from storage (file mtimes, S3's LastModified): a grace period of minutes
  or more absorbs clock differences between hosts.
- Run one gc at a time. Dry runs take no lock, so what they report may change before a
  real run. While gc deletes, new writes wait.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from dataworkflow.core.ids import ObjectId
from dataworkflow.core.objects import FileMode
from dataworkflow.errors import InvalidInput
from dataworkflow.metadata._sql import chunked
from dataworkflow.metadata.engine import Database
from dataworkflow.metadata.tables import (
    BlobRow,
    CommitMetadataRow,
    CommitParentRow,
    CommitRow,
    GcRunRow,
    RefLogRow,
    RefRow,
    RepositoryRow,
    TreeEntryRow,
    TreeRow,
)
from dataworkflow.settings import Settings
from dataworkflow.storage.base import (
    ObjectInfo,
    ObjectStorage,
    SupportsDeleteMany,
    SupportsLeftovers,
    SupportsObjectListing,
    SupportsRepack,
)

GcProgress = Callable[[str, int], None]
"""``(phase, count so far)``. Phases: ``mark`` (objects found reachable), ``list``
(stored objects listed), ``sweep`` (metadata rows deleted) and ``delete`` (stored objects
deleted)."""

HOOK_POINTS = frozenset({"marked", "locked"})
"""Test seams: ``marked`` runs after the unlocked mark and listing, ``locked`` once the
guard is held (in a dry run, at the same point without it)."""

LEFTOVER_AGE = 3600
"""Seconds a leftover of an interrupted write is kept at least, whatever the grace period:
nothing gains from removing one sooner, and a write this slow is surely dead."""
DELETE_WORKERS = 8
"""Stored objects deleted at once: S3 deletes are one request each."""

_TREE_MODE = FileMode.TREE.value


@dataclass
class GcReport:
    """What a run reclaimed or, in a dry run, would reclaim."""

    run_id: int
    dry_run: bool
    grace_seconds: int
    commits: int = 0
    """Commit rows deleted."""
    trees: int = 0
    """Tree rows deleted."""
    blobs: int = 0
    """Blob rows deleted."""
    rows_deleted: int = 0
    """Every metadata row deleted: the above, plus parents, metadata and tree entries."""
    objects_deleted: int = 0
    """Stored objects deleted."""
    bytes_reclaimed: int = 0
    objects_kept_young: int = 0
    """Unreferenced stored objects kept because they are younger than the grace period."""
    bytes_kept_young: int = 0
    packs_merged: int = 0
    """Small packs of a local storage folder merged into one (see ``repack``)."""
    leftovers_removed: int = 0
    """Files of writes that died (temp files, packs without an index) removed."""
    reachable: int = 0
    """Commits, trees and blobs found reachable (counted per repository)."""
    stored_objects: int = 0
    """Stored objects listed."""


@dataclass(frozen=True, slots=True)
class _Repository:
    """Who a repository is: an id alone could be reused after a deletion (SQLite)."""

    id: int
    name: str
    created_at: datetime | None


@dataclass
class _Marks:
    """One repository's view: the rows the scan saw and what is reachable."""

    repository: _Repository
    seen_commits: set[str] = field(default_factory=set)
    seen_trees: set[str] = field(default_factory=set)
    seen_blobs: set[str] = field(default_factory=set)
    commits: set[str] = field(default_factory=set)
    trees: set[str] = field(default_factory=set)
    blobs: set[str] = field(default_factory=set)

    @property
    def repository_id(self) -> int:
        """The repository's id."""
        return self.repository.id

    @property
    def reachable(self) -> int:
        """How many ids are marked."""
        return len(self.commits) + len(self.trees) + len(self.blobs)


@dataclass(frozen=True)
class _Cutoffs:
    """Epoch seconds that split old from new.

    Ref-log rows at or after ``ref_log`` are roots; stored objects and commits after
    ``young`` are within the grace period.
    """

    ref_log: float
    young: float


def collect_garbage(
    db: Database,
    storage: ObjectStorage,
    *,
    grace: timedelta,
    dry_run: bool,
    now: datetime | None = None,
    retention: timedelta | None = None,
    progress: GcProgress | None = None,
    hooks: Mapping[str, Callable[[], None]] | None = None,
    lock_timeout: float | None = None,
) -> GcReport:
    """Delete unreachable metadata rows and unreferenced stored objects (see the module).

    Every run, dry or not, is recorded in ``gc_runs``.

    Args:
        db: The installation's database.
        storage: Its object storage.
        grace: Unreferenced objects younger than this are kept.
        dry_run: Only count what would be deleted.
        now: The time ages are measured at (default: the clock).
        retention: How long the ref log keeps commits alive (default: the
            ``REFLOG_RETENTION_DAYS`` default).
        progress: Called as work advances, see :data:`GcProgress`.
        hooks: Callbacks at :data:`HOOK_POINTS`, for tests of concurrent writers.
        lock_timeout: Seconds to wait for the guard before giving up (default: wait).

    Raises:
        InvalidInput: for a negative grace period or retention, or an unknown hook.
        Conflict: if ``lock_timeout`` passed while writers held the guard.
    """
    if grace < timedelta(0):
        raise InvalidInput("the grace period cannot be negative")
    if retention is None:
        retention = timedelta(days=Settings().reflog_retention_days)
    if retention < timedelta(0):
        raise InvalidInput("the ref log retention cannot be negative")
    unknown = set(hooks or {}) - HOOK_POINTS
    if unknown:
        raise InvalidInput(f"unknown gc hook(s): {', '.join(sorted(unknown))}")
    clock = (now or datetime.now(UTC)).timestamp()
    cutoffs = _Cutoffs(clock - retention.total_seconds(), clock - grace.total_seconds())
    report = GcReport(run_id=0, dry_run=dry_run, grace_seconds=int(grace.total_seconds()))
    report.run_id = _start_run(db, report)
    try:
        _collect(db, storage, report, cutoffs, progress or _no_progress, hooks or {}, lock_timeout)
    except BaseException:
        _finish_run(db, report, "failed")
        raise
    _finish_run(db, report, "finished")
    return report


def _no_progress(_phase: str, _count: int) -> None:
    pass


def _collect(
    db: Database,
    storage: ObjectStorage,
    report: GcReport,
    cutoffs: _Cutoffs,
    progress: GcProgress,
    hooks: Mapping[str, Callable[[], None]],
    lock_timeout: float | None,
) -> None:
    """The pipeline: mark, list storage, then under the guard re-mark and sweep."""
    all_marks = [
        find_reachable(db, repository, cutoffs, progress, report)
        for repository in _repositories(db)
    ]
    reachable_blobs = set().union(*(marks.blobs for marks in all_marks))
    young, candidates = find_unreferenced_objects(
        storage, reachable_blobs, cutoffs.young, progress, report
    )
    if "marked" in hooks:
        hooks["marked"]()
    guard: AbstractContextManager[None] = (
        nullcontext() if report.dry_run else db.gc_lock(shared=False, timeout=lock_timeout)
    )
    with guard:
        if "locked" in hooks:
            hooks["locked"]()
        current = {repository.id: repository for repository in _repositories(db)}
        live = [
            marks for marks in all_marks if current.get(marks.repository_id) == marks.repository
        ]
        # The others were deleted (their rows with them) or replaced meanwhile: rows of a
        # replacement are all newer than the scan, and the blob-row check below keeps its bytes.
        doomed_blob_rows: dict[int, set[str]] = {}
        for marks in live:
            remark(db, marks, cutoffs)
            doomed_blob_rows[marks.repository_id] = delete_unreachable_rows(
                db, marks, young, report, progress
            )
        reachable_blobs = set().union(*(marks.blobs for marks in live))
        doomed_objects = [
            (object_id, size)
            for object_id, size in candidates.items()
            if object_id not in reachable_blobs
        ]
        doomed_objects = _without_blob_rows(db, list(current), doomed_objects, doomed_blob_rows)
        delete_objects(storage, doomed_objects, report, progress)
        if not report.dry_run and isinstance(storage, SupportsRepack):
            report.packs_merged = storage.repack()
    if isinstance(storage, SupportsLeftovers):
        older_than = min(cutoffs.young, time.time() - LEFTOVER_AGE)
        report.leftovers_removed = storage.remove_leftovers(older_than, dry_run=report.dry_run)


# --- 1. mark ----------------------------------------------------------------------------


def find_reachable(
    db: Database,
    repository: _Repository,
    cutoffs: _Cutoffs,
    progress: GcProgress,
    report: GcReport,
) -> _Marks:
    """Scan a repository's rows, then mark what its roots reach (no lock taken)."""
    marks = _Marks(repository)
    rid = repository.id
    with db.reading() as session:
        young_commits: list[str] = []
        rows = _core(session).execute(
            select(CommitRow.id, CommitRow.committer_time).where(CommitRow.repository_id == rid)
        )
        for commit_id, committed_at in rows:
            marks.seen_commits.add(commit_id)
            if committed_at > cutoffs.young:
                young_commits.append(commit_id)
        marks.seen_trees.update(_ids(session, TreeRow, rid))
        marks.seen_blobs.update(_ids(session, BlobRow, rid))
        before = marks.reachable
        roots = [*_roots(session, rid, cutoffs.ref_log), *young_commits]
        _walk(session, marks, roots, progress=progress, base=report.reachable)
        report.reachable += marks.reachable - before
    return marks


def remark(db: Database, marks: _Marks, cutoffs: _Cutoffs) -> None:
    """Under the guard: mark from today's roots and from rows written since the scan."""
    rid = marks.repository_id
    with db.reading() as session:
        new_commits = set(_ids(session, CommitRow, rid)) - marks.seen_commits
        new_trees = set(_ids(session, TreeRow, rid)) - marks.seen_trees
        _walk(
            session,
            marks,
            _roots(session, rid, cutoffs.ref_log),
            expand_commits=new_commits,
            expand_trees=new_trees,
        )


def _roots(session: Session, repository_id: int, ref_log_cutoff: float) -> list[str]:
    """Commits named by refs and by ref-log rows inside the retention window."""
    roots = list(
        session.scalars(select(RefRow.commit_id).where(RefRow.repository_id == repository_id))
    )
    moves = session.execute(
        select(RefLogRow.old_commit_id, RefLogRow.new_commit_id).where(
            RefLogRow.repository_id == repository_id, RefLogRow.created_at >= ref_log_cutoff
        )
    )
    for old, new in moves:
        roots.extend(commit_id for commit_id in (old, new) if commit_id)
    return roots


def _walk(
    session: Session,
    marks: _Marks,
    commits: Iterable[str],
    *,
    expand_commits: Iterable[str] = (),
    expand_trees: Iterable[str] = (),
    progress: GcProgress = _no_progress,
    base: int = 0,
) -> None:
    """Mark what ``commits`` reach, breadth first, a batch of ids per query.

    Marked ids are not visited again, except those in ``expand_*``: rows the mark's
    scan did not see, whose children the first walk may never have looked at.
    """
    rid = marks.repository_id
    commit_frontier = {c for c in commits if c not in marks.commits} | set(expand_commits)
    tree_frontier: set[str] = set(expand_trees)
    while commit_frontier:
        batch = sorted(commit_frontier)
        marks.commits.update(batch)
        commit_frontier = set()
        for part in chunked(batch):
            for tree_id in _core(session).scalars(
                select(CommitRow.tree_id).where(
                    CommitRow.repository_id == rid, CommitRow.id.in_(part)
                )
            ):
                if tree_id not in marks.trees:
                    tree_frontier.add(tree_id)
            for parent_id in _core(session).scalars(
                select(CommitParentRow.parent_id).where(
                    CommitParentRow.repository_id == rid, CommitParentRow.commit_id.in_(part)
                )
            ):
                if parent_id not in marks.commits:
                    commit_frontier.add(parent_id)
        progress("mark", base + marks.reachable)
    while tree_frontier:
        batch = sorted(tree_frontier)
        marks.trees.update(batch)
        tree_frontier = set()
        for part in chunked(batch):
            entries = _core(session).execute(
                select(TreeEntryRow.mode, TreeEntryRow.object_id).where(
                    TreeEntryRow.repository_id == rid, TreeEntryRow.tree_id.in_(part)
                )
            )
            # The mode, not the kind column, says what an entry is: it is what the
            # tree's id covers, so an edited kind cannot hide a blob from the mark.
            for mode, object_id in entries:
                if mode == _TREE_MODE:
                    if object_id not in marks.trees:
                        tree_frontier.add(object_id)
                else:
                    marks.blobs.add(object_id)
        progress("mark", base + marks.reachable)


# --- 2. unreferenced stored objects ------------------------------------------------------


def find_unreferenced_objects(
    storage: ObjectStorage,
    referenced: set[str],
    young_cutoff: float,
    progress: GcProgress,
    report: GcReport,
) -> tuple[set[str], dict[str, int]]:
    """List storage once: ids stored after ``young_cutoff``, and unreferenced older ones.

    Returns:
        Every young id (referenced or not: an unreachable blob row whose bytes are young
        is an upload waiting for its commit), and the old unreferenced ids with sizes.
    """
    young: set[str] = set()
    candidates: dict[str, int] = {}
    for count, info in enumerate(_list_objects(storage), 1):
        report.stored_objects = count
        if info.stored_at > young_cutoff:
            young.add(info.id)
            if info.id not in referenced:
                report.objects_kept_young += 1
                report.bytes_kept_young += info.size
        elif info.id not in referenced:
            candidates[info.id] = info.size
        if count % 1000 == 0:
            progress("list", count)
    progress("list", report.stored_objects)
    return young, candidates


def _list_objects(storage: ObjectStorage) -> Iterator[ObjectInfo]:
    """Objects with ages; a storage that cannot tell ages makes every object young."""
    if isinstance(storage, SupportsObjectListing):
        yield from storage.iter_objects()
        return
    for object_id in storage.iter_ids():
        yield ObjectInfo(object_id, storage.size(object_id), math.inf)


# --- 3. sweep ---------------------------------------------------------------------------


def delete_unreachable_rows(
    db: Database, marks: _Marks, young: set[str], report: GcReport, progress: GcProgress
) -> set[str]:
    """Delete (or count) a repository's rows the scan saw and nothing reaches.

    Children go before the rows they belong to, and commits before the trees they name,
    so that no foreign key ever points at a deleted row.

    Returns:
        The blob ids whose rows were (or would be) deleted.
    """
    rid = marks.repository_id
    commits = sorted(marks.seen_commits - marks.commits)
    trees = sorted(marks.seen_trees - marks.trees)
    blobs = sorted(b for b in marks.seen_blobs - marks.blobs if b not in young)
    if not (commits or trees or blobs):
        return set()
    steps: list[tuple[type[Any], InstrumentedAttribute[str], Sequence[str], str | None]] = [
        (CommitParentRow, CommitParentRow.commit_id, commits, None),
        (CommitMetadataRow, CommitMetadataRow.commit_id, commits, None),
        (CommitRow, CommitRow.id, commits, "commits"),
        (TreeEntryRow, TreeEntryRow.tree_id, trees, None),
        (TreeRow, TreeRow.id, trees, "trees"),
        (BlobRow, BlobRow.id, blobs, "blobs"),
    ]
    session_scope = db.reading() if report.dry_run else db.transaction()
    with session_scope as session:
        for table, column, ids, kind in steps:
            removed = 0
            for part in chunked(ids):
                removed += _remove(session, table, column, rid, part, report.dry_run)
            report.rows_deleted += removed
            if kind is not None:
                setattr(report, kind, getattr(report, kind) + removed)
            progress("sweep", report.rows_deleted)
    return set(blobs)


def _remove(
    session: Session,
    table: type[Any],
    column: InstrumentedAttribute[str],
    repository_id: int,
    ids: Sequence[str],
    dry_run: bool,
) -> int:
    """Delete the rows of ``table`` whose ``column`` is in ``ids``; count them if dry."""
    where = (table.repository_id == repository_id, column.in_(ids))
    if dry_run:
        return session.scalar(select(func.count()).select_from(table).where(*where)) or 0
    result = session.execute(
        delete(table).where(*where), execution_options={"synchronize_session": False}
    )
    return int(cast("CursorResult[Any]", result).rowcount)


def _without_blob_rows(
    db: Database,
    repository_ids: list[int],
    objects: list[tuple[str, int]],
    doomed_blob_rows: Mapping[int, set[str]],
) -> list[tuple[str, int]]:
    """Drop the objects some blob row still names, in any repository.

    Rows this run deleted are gone; in a dry run they are still there, and are ignored.
    Per repository, so each lookup is on the primary key.
    """
    if not objects:
        return []
    wanted = sorted(object_id for object_id, _ in objects)
    named: set[str] = set()
    with db.reading() as session:
        for rid in repository_ids:
            doomed = doomed_blob_rows.get(rid, set())
            for part in chunked(wanted):
                named.update(
                    blob_id
                    for blob_id in session.scalars(
                        select(BlobRow.id).where(BlobRow.repository_id == rid, BlobRow.id.in_(part))
                    )
                    if blob_id not in doomed
                )
    return [(object_id, size) for object_id, size in objects if object_id not in named]


def delete_objects(
    storage: ObjectStorage,
    objects: list[tuple[str, int]],
    report: GcReport,
    progress: GcProgress,
) -> None:
    """Delete (or, in a dry run, count) stored objects, several at a time."""
    if report.dry_run:
        report.objects_deleted = len(objects)
        report.bytes_reclaimed = sum(size for _, size in objects)
        return

    if isinstance(storage, SupportsDeleteMany):
        storage.delete_many(ObjectId(object_id) for object_id, _ in objects)
        report.objects_deleted = len(objects)
        report.bytes_reclaimed = sum(size for _, size in objects)
        progress("delete", report.objects_deleted)
        return

    def remove(item: tuple[str, int]) -> int:
        storage.delete(ObjectId(item[0]))
        return item[1]

    with ThreadPoolExecutor(DELETE_WORKERS, thread_name_prefix="dw-gc") as pool:
        for size in pool.map(remove, objects):
            report.objects_deleted += 1
            report.bytes_reclaimed += size
            if report.objects_deleted % 100 == 0:
                progress("delete", report.objects_deleted)
    progress("delete", report.objects_deleted)


# --- the record of runs -----------------------------------------------------------------


def _repositories(db: Database) -> list[_Repository]:
    with db.reading() as session:
        rows = session.execute(
            select(RepositoryRow.id, RepositoryRow.name, RepositoryRow.created_at).order_by(
                RepositoryRow.id
            )
        )
        return [_Repository(rid, name, created_at) for rid, name, created_at in rows]


def _ids(session: Session, table: type[Any], repository_id: int) -> Iterator[str]:
    return iter(
        _core(session).scalars(select(table.id).where(table.repository_id == repository_id))
    )


def _core(session: Session) -> Connection:
    """The session's connection: plain rows for bulk reads, no ORM work per row."""
    return session.connection()


def _start_run(db: Database, report: GcReport) -> int:
    with db.transaction() as session:
        row = GcRunRow(
            started_at=int(time.time()),
            dry_run=report.dry_run,
            grace_seconds=report.grace_seconds,
            status="running",
        )
        session.add(row)
        session.flush()
        return row.id


def _finish_run(db: Database, report: GcReport, status: str) -> None:
    with db.transaction() as session:
        session.execute(
            update(GcRunRow)
            .where(GcRunRow.id == report.run_id)
            .values(
                finished_at=int(time.time()),
                objects_deleted=report.objects_deleted,
                bytes_reclaimed=report.bytes_reclaimed,
                rows_deleted=report.rows_deleted,
                status=status,
            )
        )


@dataclass(frozen=True, slots=True)
class GcRun:
    """A recorded run, as the admin page shows it."""

    id: int
    started_at: int
    finished_at: int | None
    dry_run: bool
    grace_seconds: int
    objects_deleted: int
    bytes_reclaimed: int
    rows_deleted: int
    status: str


def last_runs(db: Database, limit: int = 10) -> list[GcRun]:
    """The most recent runs, newest first."""
    with db.reading() as session:
        rows = session.scalars(select(GcRunRow).order_by(GcRunRow.id.desc()).limit(limit))
        return [
            GcRun(
                row.id,
                row.started_at,
                row.finished_at,
                row.dry_run,
                row.grace_seconds,
                row.objects_deleted,
                row.bytes_reclaimed,
                row.rows_deleted,
                row.status,
            )
            for row in rows
        ]
