"""Integrity check: recompute every id from the database and compare bytes with storage.

Problems stream out as they are found, so a 100,000-object repository is checked in
bounded memory: trees and commits are read a page of ids at a time, references are
checked by anti-joins the database streams, and blob rows are walked beside the storage
listing, both in id order, so that sizes come from the listing (a thousand per S3
request) rather than one request per object. ``full`` also reads every stored object
back and hashes it.

The whole check reads one snapshot of the database (a read transaction; REPEATABLE READ
on PostgreSQL) and holds the gc guard shared, so a concurrent ``dw gc`` cannot make
rows or bytes disappear half way; writers go on as usual.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from dataworkflow.core.hashing import CHUNK_SIZE
from dataworkflow.core.ids import ObjectId
from dataworkflow.core.objects import FileMode, Tree, TreeEntry
from dataworkflow.errors import DataWorkflowError, ObjectNotFound
from dataworkflow.metadata.convert import commit_from_row
from dataworkflow.metadata.engine import Database
from dataworkflow.metadata.repositories import get_repository_row
from dataworkflow.metadata.tables import (
    BlobRow,
    CommitMetadataRow,
    CommitParentRow,
    CommitRow,
    RefRow,
    RepositoryRow,
    TreeEntryRow,
    TreeRow,
)
from dataworkflow.storage.base import ObjectStorage, SupportsLeftovers, SupportsObjectListing

PAGE = 500
"""Trees, commits or blob rows read per query."""
HASH_WORKERS = 8
"""Objects read back at once with ``full`` (reads and SHA-256 release the GIL)."""

FsckProgress = Callable[[str, int], None]
"""``(kind, checked so far)`` for kinds ``ref``, ``commit``, ``tree`` and ``blob``."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: where, what kind of object, which one, and what is wrong with it."""

    repository: str
    """The repository's name; empty for a problem of the storage that all share."""
    kind: str
    """``blob``, ``tree``, ``commit``, ``ref``, or ``storage`` (a file of the store)."""
    id: str
    """The object's id, or the ref's full name."""
    code: str
    """A stable name for scripts, e.g. ``tree-id-mismatch`` or ``missing-object``."""
    message: str

    def __str__(self) -> str:
        where = f"{self.repository}: " if self.repository else ""
        return f"{where}{self.kind} {self.id}: {self.message}"


@dataclass
class IntegrityCheck:
    """An integrity check: iterate it for problems; ``checked`` counts as it goes.

    Nothing runs until it is iterated.
    """

    db: Database
    storage: ObjectStorage
    full: bool = False
    repository: str | None = None
    progress: FsckProgress | None = None
    checked: dict[str, int] = field(
        default_factory=lambda: {"ref": 0, "commit": 0, "tree": 0, "blob": 0, "object": 0}
    )
    """Refs, commits, trees and blob rows checked; ``object``: stored objects looked at."""
    bytes_hashed: int = 0
    problems: int = 0
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def __iter__(self) -> Iterator[Problem]:
        with (
            self.db.gc_lock(shared=True),
            self.db.reading() as session,
            ThreadPoolExecutor(HASH_WORKERS, thread_name_prefix="dw-fsck") as self._pool,
        ):
            if self.db.dialect == "postgresql":  # one snapshot for every query below
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            repositories = _repositories(session, self.repository)
            for repository_id, name in repositories:
                for problem in self._check_repository(session, repository_id, name):
                    self.problems += 1
                    yield problem
            for problem in self._check_blobs(session, dict(repositories)):
                self.problems += 1
                yield problem
            if isinstance(self.storage, SupportsLeftovers):
                for path in self.storage.damaged_files():
                    self.problems += 1
                    yield Problem(
                        "",
                        "storage",
                        path,
                        "damaged-pack-index",
                        "the pack index fails its checks; the objects it lists count as"
                        " missing (the next import of their files stores them again)",
                    )

    def _count(self, kind: str, n: int = 1) -> None:
        self.checked[kind] += n
        if self.progress is not None:
            self.progress(kind, self.checked[kind])

    # --- refs, commits, trees -----------------------------------------------------------

    def _check_repository(self, session: Session, rid: int, name: str) -> Iterator[Problem]:
        yield from self._check_refs(session, rid, name)
        yield from self._check_commits(session, rid, name)
        yield from self._check_trees(session, rid, name)

    def _check_refs(self, session: Session, rid: int, name: str) -> Iterator[Problem]:
        refs = session.execute(
            select(RefRow.name, RefRow.commit_id, _has_commit(RefRow.commit_id, rid))
            .where(RefRow.repository_id == rid)
            .order_by(RefRow.name)
        )
        for ref, commit_id, present in refs:
            self._count("ref")
            if not present:
                yield Problem(
                    name, "ref", ref, "dangling-ref", f"points at missing commit {commit_id}"
                )

    def _check_commits(self, session: Session, rid: int, name: str) -> Iterator[Problem]:
        for page in _pages(session, CommitRow, rid):
            rows = {
                row.id: row
                for row in session.scalars(
                    select(CommitRow).where(CommitRow.repository_id == rid, CommitRow.id.in_(page))
                )
            }
            parents: dict[str, list[tuple[int, str]]] = {cid: [] for cid in rows}
            for cid, position, parent in session.execute(
                select(
                    CommitParentRow.commit_id, CommitParentRow.position, CommitParentRow.parent_id
                ).where(CommitParentRow.repository_id == rid, CommitParentRow.commit_id.in_(page))
            ):
                parents[cid].append((position, parent))
            metadata: dict[str, list[tuple[str, str]]] = {cid: [] for cid in rows}
            for cid, key, value in session.execute(
                select(
                    CommitMetadataRow.commit_id, CommitMetadataRow.key, CommitMetadataRow.value
                ).where(
                    CommitMetadataRow.repository_id == rid, CommitMetadataRow.commit_id.in_(page)
                )
            ):
                metadata[cid].append((key, value))
            for cid in page:
                ordered = [parent for _, parent in sorted(parents[cid])]
                try:
                    got = commit_from_row(rows[cid], ordered, metadata[cid]).id
                except (DataWorkflowError, ValueError) as exc:
                    yield Problem(
                        name, "commit", cid, "unreadable-commit", f"cannot be read: {exc}"
                    )
                else:
                    if got != cid:
                        yield Problem(
                            name,
                            "commit",
                            cid,
                            "commit-id-mismatch",
                            f"its rows hash to {got}, not to its id: it was changed",
                        )
            self._count("commit", len(page))
        missing_trees = session.execute(
            select(CommitRow.id, CommitRow.tree_id)
            .where(CommitRow.repository_id == rid, ~_has_tree(CommitRow.tree_id, rid))
            .order_by(CommitRow.id)
        )
        for cid, tree_id in missing_trees:
            yield Problem(name, "commit", cid, "missing-tree", f"its tree {tree_id} is missing")
        missing_parents = session.execute(
            select(CommitParentRow.commit_id, CommitParentRow.parent_id)
            .where(
                CommitParentRow.repository_id == rid,
                ~_has_commit(CommitParentRow.parent_id, rid),
            )
            .order_by(CommitParentRow.commit_id, CommitParentRow.position)
        )
        for cid, parent in missing_parents:
            yield Problem(name, "commit", cid, "missing-parent", f"its parent {parent} is missing")

    def _check_trees(self, session: Session, rid: int, name: str) -> Iterator[Problem]:
        for page in _pages(session, TreeRow, rid):
            counts: dict[str, int] = {
                tid: count
                for tid, count in session.execute(
                    select(TreeRow.id, TreeRow.entry_count).where(
                        TreeRow.repository_id == rid, TreeRow.id.in_(page)
                    )
                )
            }
            entries: dict[str, list[_Entry]] = {tid: [] for tid in page}
            rows = session.connection().execute(  # plain rows: no ORM objects per entry
                select(
                    TreeEntryRow.tree_id,
                    TreeEntryRow.name,
                    TreeEntryRow.mode,
                    TreeEntryRow.kind,
                    TreeEntryRow.object_id,
                ).where(TreeEntryRow.repository_id == rid, TreeEntryRow.tree_id.in_(page))
            )
            for tid, entry_name, mode, kind, object_id in rows:
                entries[tid].append((entry_name, mode, kind, object_id))
            for tid in page:
                yield from _check_tree(name, tid, entries[tid], counts[tid])
            self._count("tree", len(page))
        # What an entry points at is told by its mode (what the tree id covers).
        is_folder = TreeEntryRow.mode == FileMode.TREE.value
        for kind, table, of_kind in (("blob", BlobRow, ~is_folder), ("tree", TreeRow, is_folder)):
            target = and_(table.repository_id == rid, table.id == TreeEntryRow.object_id)
            dangling = session.execute(
                select(TreeEntryRow.tree_id, TreeEntryRow.name, TreeEntryRow.object_id)
                .where(TreeEntryRow.repository_id == rid, of_kind, ~exists().where(target))
                .order_by(TreeEntryRow.tree_id, TreeEntryRow.name)
            )
            for tid, entry, object_id in dangling:
                yield Problem(
                    name,
                    "tree",
                    tid,
                    f"missing-{kind}",
                    f"entry {entry!r} points at {kind} {object_id}, which the repository lacks",
                )

    # --- blobs against storage ----------------------------------------------------------

    def _check_blobs(self, session: Session, names: dict[int, str]) -> Iterator[Problem]:
        """Walk blob rows and the storage listing side by side, both in id order.

        A blob id several repositories have is looked up (and hashed) once.
        """
        query = select(BlobRow.id, BlobRow.repository_id, BlobRow.size)
        if self.repository is not None:
            query = query.where(BlobRow.repository_id.in_(list(names)))
        by_id = BlobRow.id.collate("C") if self.db.dialect == "postgresql" else BlobRow.id
        rows = session.connection().execute(
            query.order_by(by_id, BlobRow.repository_id).execution_options(yield_per=5000)
        )
        assert self._pool is not None
        sizes = _StoredSizes(self.storage, self._pool)
        batch: list[tuple[str, list[tuple[int, int]]]] = []
        for blob_id, group in groupby(rows, key=lambda row: str(row[0])):
            batch.append((blob_id, [(rid, size) for _, rid, size in group]))
            if len(batch) >= PAGE:
                yield from self._check_blob_batch(batch, sizes, names)
                batch = []
        if batch:
            yield from self._check_blob_batch(batch, sizes, names)

    def _check_blob_batch(
        self,
        batch: list[tuple[str, list[tuple[int, int]]]],
        sizes: _StoredSizes,
        names: dict[int, str],
    ) -> Iterator[Problem]:
        stored = sizes.lookup([blob_id for blob_id, _ in batch])
        self._count("object", len(stored))
        hashes: dict[str, str | Exception] = {}
        if self.full:
            assert self._pool is not None
            wanted = [b for b, _ in batch if b in stored]
            hashes = dict(_hash_objects(self.storage, wanted, self._pool))
            self.bytes_hashed += sum(stored[b] for b in hashes)
        for blob_id, owners in batch:
            for rid, size in owners:
                yield from _blob_problems(
                    names[rid], blob_id, size, stored.get(blob_id), hashes.get(blob_id)
                )
            self._count("blob", len(owners))


def check_integrity(
    db: Database,
    storage: ObjectStorage,
    *,
    full: bool,
    repository: str | None = None,
    progress: FsckProgress | None = None,
) -> IntegrityCheck:
    """Check every repository (or one), streaming problems as they are found.

    Checks: every tree id recomputed from its entry rows (and its entry count), every
    commit id from its row, parents and metadata; refs, tree entries and commits that
    point at missing rows; every blob row's bytes present in storage with the recorded
    size (and, with ``full``, hashing to the blob's id). Iterate the result to run it.

    Raises:
        RepositoryNotFound: (when iterated) if ``repository`` names none.
    """
    return IntegrityCheck(db, storage, full=full, repository=repository, progress=progress)


# --- helpers ----------------------------------------------------------------------------


def _repositories(session: Session, name: str | None) -> list[tuple[int, str]]:
    if name is not None:
        row = get_repository_row(session, name)
        return [(row.id, row.name)]
    rows = session.execute(
        select(RepositoryRow.id, RepositoryRow.name).order_by(RepositoryRow.name)
    )
    return [(rid, rname) for rid, rname in rows]


def _pages(session: Session, table: Any, repository_id: int) -> Iterator[list[str]]:
    """The ids of a table's rows for one repository, a page at a time (keyset)."""
    after: str | None = None
    while True:
        query = select(table.id).where(table.repository_id == repository_id)
        if after is not None:
            query = query.where(table.id > after)
        page = list(session.scalars(query.order_by(table.id).limit(PAGE)))
        if not page:
            return
        yield page
        after = page[-1]


def _has_commit(column: Any, repository_id: int) -> Any:
    other = select(CommitRow.id).where(
        CommitRow.repository_id == repository_id, CommitRow.id == column
    )
    return exists(other)


def _has_tree(column: Any, repository_id: int) -> Any:
    other = select(TreeRow.id).where(TreeRow.repository_id == repository_id, TreeRow.id == column)
    return exists(other)


_Entry = tuple[str, str, str, str]
"""A tree entry row's name, mode, kind and object id."""


def _check_tree(
    repository: str, tree_id: str, rows: list[_Entry], entry_count: int
) -> Iterator[Problem]:
    entries = []
    try:
        for name, mode_text, kind, object_id in rows:
            mode = FileMode(mode_text)
            # As metadata.convert.entry_from_row reads it: the mode says what it is.
            entries.append(TreeEntry(name, mode, mode.kind, ObjectId(object_id)))
            if kind != mode.kind:
                yield Problem(
                    repository,
                    "tree",
                    tree_id,
                    "entry-kind-mismatch",
                    f"entry {name!r} has mode {mode_text} but type {kind}",
                )
        got = Tree(entries).id
    except (DataWorkflowError, ValueError) as exc:
        yield Problem(repository, "tree", tree_id, "unreadable-tree", f"cannot be read: {exc}")
        return
    if got != tree_id:
        yield Problem(
            repository,
            "tree",
            tree_id,
            "tree-id-mismatch",
            f"its entries hash to {got}, not to its id: it was changed",
        )
    if entry_count != len(rows):
        yield Problem(
            repository,
            "tree",
            tree_id,
            "entry-count-mismatch",
            f"it records {entry_count} entries but has {len(rows)}",
        )


class _StoredSizes:
    """Sizes of stored objects, looked up in ascending id order.

    With a listing, one pass over it serves every lookup (a merge with the blob rows);
    without one, each object costs a size request.
    """

    def __init__(self, storage: ObjectStorage, pool: ThreadPoolExecutor) -> None:
        self._storage = storage
        self._pool = pool
        self._listing = (
            _ordered_listing(storage) if isinstance(storage, SupportsObjectListing) else None
        )
        self._current = next(self._listing, None) if self._listing is not None else None

    def lookup(self, ids: Sequence[str]) -> dict[str, int]:
        """Sizes of those ``ids`` that are stored; ids must ascend, across calls too."""
        if self._listing is None:
            return _sizes_one_by_one(self._storage, ids, self._pool)
        found: dict[str, int] = {}
        for object_id in ids:
            while self._current is not None and self._current[0] < object_id:
                self._current = next(self._listing, None)
            if self._current is not None and self._current[0] == object_id:
                found[object_id] = self._current[1]
        return found


def _blob_problems(
    repository: str, blob_id: str, size: int, stored: int | None, got: str | Exception | None
) -> Iterator[Problem]:
    if stored is None:
        yield Problem(repository, "blob", blob_id, "missing-object", "its bytes are not in storage")
        return
    if stored != size:
        yield Problem(
            repository,
            "blob",
            blob_id,
            "size-mismatch",
            f"the database says {size} bytes, storage has {stored}",
        )
    if isinstance(got, Exception):
        yield Problem(repository, "blob", blob_id, "unreadable-object", f"cannot be read: {got}")
    elif got is not None and got != blob_id:
        yield Problem(
            repository,
            "blob",
            blob_id,
            "hash-mismatch",
            f"its stored bytes hash to {got}: they are corrupt",
        )


def _ordered_listing(storage: SupportsObjectListing) -> Iterator[tuple[str, int]]:
    """``(id, size)`` of every stored object, checked to ascend (the walk relies on it)."""
    previous = ""
    for info in storage.iter_objects():
        if info.id <= previous:
            raise RuntimeError("storage listed objects out of id order")
        previous = info.id
        yield info.id, info.size


def _sizes_one_by_one(
    storage: ObjectStorage, ids: Sequence[str], pool: ThreadPoolExecutor
) -> dict[str, int]:
    """For storage without listing: one size request per object, several at once."""

    def size(object_id: str) -> int | None:
        try:
            return storage.size(ObjectId(object_id))
        except ObjectNotFound:
            return None

    found = dict(zip(ids, pool.map(size, ids), strict=True))
    return {object_id: n for object_id, n in found.items() if n is not None}


HASH_GROUP = 16
"""Objects hashed one after the other per task: small files cost less than a task each."""


def _hash_objects(
    storage: ObjectStorage, ids: Sequence[str], pool: ThreadPoolExecutor
) -> Iterator[tuple[str, str | Exception]]:
    """Read each object back and hash it; a read error is returned, not raised."""

    def digest(object_id: str) -> str | Exception:
        hasher = hashlib.sha256()
        try:
            with storage.open(ObjectId(object_id)) as stream:
                while chunk := stream.read(CHUNK_SIZE):
                    hasher.update(chunk)
        except (DataWorkflowError, OSError) as exc:
            return exc
        return hasher.hexdigest()

    def digest_group(group: Sequence[str]) -> list[str | Exception]:
        return [digest(object_id) for object_id in group]

    groups = [ids[i : i + HASH_GROUP] for i in range(0, len(ids), HASH_GROUP)]
    for group, digests in zip(groups, pool.map(digest_group, groups), strict=True):
        yield from zip(group, digests, strict=True)
