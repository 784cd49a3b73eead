"""``Repository(db, storage)``: the Python API every interface calls.

Writes follow one rule (DESIGN "Storage"): bytes are stored, durably, before any
metadata row refers to them; the metadata of a commit (blobs, trees, commit, ref move)
is then written in one transaction ending in a compare-and-swap of the ref. A failure
at any point leaves the branch as it was and at most unreferenced bytes behind.
"""

from __future__ import annotations

import functools
import getpass
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from sqlalchemy.orm import Session

from dataworkflow.core.ids import ObjectId, parse_object_id
from dataworkflow.core.names import (
    BRANCH_PREFIX,
    TAG_PREFIX,
    branch_pattern_matches,
    branch_ref,
    check_ref_format,
    normalize_path,
    split_path,
    tag_ref,
    validate_branch_pattern,
)
from dataworkflow.core.objects import EMPTY_TREE_ID, Commit, FileMode, Signature, Tree, TreeEntry
from dataworkflow.errors import (
    AlreadyExists,
    ChecksumMismatch,
    InvalidInput,
    NotAFile,
    ObjectNotFound,
    PathNotFound,
    ProtectedBranch,
    RefConflict,
    RefNotFound,
    RepositoryNotFound,
)
from dataworkflow.metadata import access as access_queries
from dataworkflow.metadata import commits as commit_queries
from dataworkflow.metadata import objects as object_queries
from dataworkflow.metadata import refs as ref_queries
from dataworkflow.metadata.engine import Database
from dataworkflow.metadata.repositories import get_repository_row, insert_repository
from dataworkflow.services.changes import (
    Change,
    Delete,
    Put,
    PutBlob,
    apply_edits,
    check_source,
    file_mode,
    parse_change_paths,
)
from dataworkflow.services.diff import Change as DiffChange
from dataworkflow.services.diff import detect_renames, diff_trees
from dataworkflow.services.export import (
    ExportProgress,
    ExportStats,
    check_export_path,
    prepare_destination,
    write_verified,
)
from dataworkflow.services.folder import (
    FolderScan,
    IgnoreRule,
    LocalFile,
    StatCache,
    build_trees,
    changed_behind_the_cache,
    hash_files,
    iter_unique,
    outside_known_trees,
    record_folders,
    scan_folder,
    store_known_files,
    topmost,
    unchanged_folders,
    without_below,
)
from dataworkflow.services.graph import ahead_behind, is_ancestor
from dataworkflow.services.installation import DEFAULT_BRANCH
from dataworkflow.services.resolve import resolve_revision, resolve_tree, split_rev_and_path
from dataworkflow.storage.base import ObjectStorage, SupportsDeferredSync, SupportsLocalFiles

DEFAULT_REPOSITORY = "default"
DEFAULT_AUTHOR = ("DataWorkflow", "dataworkflow@localhost")
STORE_WORKERS = 4
BULK_STORE_MIN = 16
"""Fewer unstored files of known id than this are stored one by one (no pack)."""
PROGRESS_FILES = 32
PROGRESS_BYTES = 8 * 1024 * 1024
"""Hashing progress is reported every this many files or bytes, and at the end: a call
per file through the CLI's callback cost ~50 ms of a 20,000-file import (the bars
redraw ten times a second anyway)."""


class _Unset:
    """Marker for "argument not given" where None is a meaningful value."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What a commit operation did."""

    commit_id: ObjectId | None
    """The new commit, or the unchanged head when nothing changed."""
    tree_id: ObjectId
    created: bool
    """False when the tree was unchanged and no commit was made."""
    parent_id: ObjectId | None
    files_stored: int = 0
    bytes_stored: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    """``(path, why)`` of what a folder import left out: symbolic links, special files."""


@dataclass(frozen=True, slots=True)
class ListedEntry:
    """An entry of a listing, with its path below the root and its size (files)."""

    path: str
    entry: TreeEntry
    size: int | None

    @property
    def name(self) -> str:
        """The last component of the path."""
        return self.entry.name


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One commit of a history listing."""

    id: ObjectId
    commit: Commit


@dataclass(frozen=True, slots=True)
class LogPage:
    """A page of history; pass ``next_cursor`` back to get the next page."""

    commits: list[LogEntry]
    next_cursor: str | None


ProgressCallback = Callable[[str, int, int], None]
"""``(phase, files, bytes)`` reported as work advances: phases ``hash`` and ``store``.

Before each phase its totals are reported once: ``scan`` (every file found, to hash) and
``plan`` (the new files, to store), so a progress bar can show an ETA.
"""


def local_actor() -> str:
    """Who the ref log names when no signed-in user is given: the local account."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no LOGNAME (containers)
        return "local"


def _first_line(message: str) -> str:
    return message.strip().split("\n", 1)[0]


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _gc_guarded(method: _Method) -> _Method:
    """Hold the gc guard shared from before the first put until the commit (services/gc.py).

    Garbage collection takes it exclusive to delete, so it never removes bytes or rows
    that a write in flight has checked for, or skipped storing because they existed.
    """

    @functools.wraps(method)
    def guarded(self: Repository, *args: Any, **kwargs: Any) -> Any:
        with self.db.gc_lock(shared=True):
            return method(self, *args, **kwargs)

    return cast(_Method, guarded)


def _signature(name: str | None, email: str | None, when: datetime | int | None) -> Signature:
    name = name if name is not None else DEFAULT_AUTHOR[0]
    email = email if email is not None else DEFAULT_AUTHOR[1]
    if when is None:
        return Signature.now(name, email)
    if isinstance(when, datetime):
        return Signature.from_datetime(name, email, when)
    return Signature(name, email, int(when), 0)


class Repository:
    """One repository of an installation: its objects, history and refs.

    ``Repository(db, storage)`` opens the repository called ``default``, creating it on
    first use (the seed's two-argument form); ``Repository(db, storage, "name")`` opens
    an existing one.
    """

    def __init__(
        self,
        db: Database,
        storage: ObjectStorage,
        name: str = DEFAULT_REPOSITORY,
        *,
        actor: str | None = None,
    ) -> None:
        self.db = db
        self.storage = storage
        self.name = name
        self.actor = actor or local_actor()
        """Who the ref log names for this object's ref moves."""
        try:
            with db.reading() as session:  # the common case takes no write lock
                row = get_repository_row(session, name)
                self.id, self.default_branch = row.id, row.default_branch
        except RepositoryNotFound:
            if name != DEFAULT_REPOSITORY:
                raise
            with db.transaction() as session:
                try:
                    row = get_repository_row(session, name)
                except RepositoryNotFound:
                    row = insert_repository(session, name, "", DEFAULT_BRANCH, False)
                    session.flush()
                self.id, self.default_branch = row.id, row.default_branch

    @classmethod
    def opened(
        cls,
        db: Database,
        storage: ObjectStorage,
        *,
        name: str,
        repository_id: int,
        default_branch: str,
        actor: str,
    ) -> Repository:
        """A repository whose row the caller has just read: no second query for it."""
        repo = cls.__new__(cls)
        repo.db, repo.storage, repo.name, repo.actor = db, storage, name, actor
        repo.id, repo.default_branch = repository_id, default_branch
        return repo

    # --- low-level objects (the seed's API) -------------------------------------------

    @_gc_guarded
    def create_blob(self, content: bytes | BinaryIO) -> ObjectId:
        """Store a file's content and return its id (the SHA-256 of the bytes).

        Raises:
            InvalidInput: if ``content`` is neither bytes nor a binary stream.
        """
        check_source(content)
        if isinstance(content, (bytes, bytearray, memoryview)):
            stored = self.storage.put_bytes(bytes(content))
        elif isinstance(content, os.PathLike):
            stored = self.storage.put_file(os.fspath(content))
        else:
            stored = self.storage.put_stream(content)
        with self.db.transaction() as session:
            object_queries.insert_blobs(session, self.id, [(stored.id, stored.size)])
        return stored.id

    @_gc_guarded
    def create_tree(self, entries: Iterable[Mapping[str, Any] | TreeEntry]) -> ObjectId:
        """Create a tree from entries given as ``{'name', 'type', 'hash', 'mode'}`` dicts.

        ``mode`` defaults from ``type``; every entry must point at a blob or tree the
        repository already has.

        Raises:
            InvalidName: for bad or duplicate names.
            InvalidInput: for a malformed entry.
            ObjectNotFound: if an entry points at a missing object.
        """
        tree = Tree(_tree_entry(item) for item in entries)
        with self.db.transaction() as session:
            missing = object_queries.object_ids_exist(session, self.id, tree.entries)
            if missing:
                first = missing[0]
                raise ObjectNotFound(first.id, kind=first.kind)
            object_queries.insert_trees(session, self.id, [tree])
        return tree.id

    @_gc_guarded
    def create_commit(
        self,
        tree_hash: str,
        message: str,
        author: str | None = None,
        author_email: str | None = None,
        parent_hash: str | None = None,
        *,
        parent_hashes: Sequence[str] | None = None,
        committer: str | None = None,
        committer_email: str | None = None,
        authored_at: datetime | int | None = None,
        committed_at: datetime | int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectId:
        """Create a commit of a tree (no ref moves; see ``create_or_update_ref``).

        Raises:
            InvalidInput: for malformed ids, names or metadata.
            ObjectNotFound: if the tree or a parent is not in the repository.
        """
        if parent_hash is not None and parent_hashes is not None:
            raise InvalidInput("give parent_hash or parent_hashes, not both")
        parents = [parent_hash] if parent_hash is not None else list(parent_hashes or [])
        author_sig = _signature(author, author_email, authored_at)
        committer_sig = _signature(
            committer if committer is not None else author_sig.name,
            committer_email if committer_email is not None else author_sig.email,
            committed_at if committed_at is not None else authored_at,
        )
        commit = Commit(
            tree=parse_object_id(tree_hash),
            parents=tuple(parse_object_id(p) for p in parents),
            author=author_sig,
            committer=committer_sig,
            message=message,
            metadata=tuple((metadata or {}).items()),
        )
        with self.db.transaction() as session:
            self._insert_commit(session, commit)
        return commit.id

    @_gc_guarded
    def create_or_update_ref(
        self,
        name: str,
        commit_hash: str,
        *,
        expected: str | None = UNSET,
        force: bool = False,
    ) -> None:
        """Point a branch (or a full ref name) at a commit, atomically.

        ``expected`` is the commit the ref must point at now (None: it must not exist);
        when omitted, the current value is read and used, so a concurrent move still
        fails instead of being overwritten. Tags do not move unless ``force``.

        Raises:
            InvalidName: for a bad ref name.
            ObjectNotFound: if the commit is not in the repository.
            RefConflict: if the ref moved since ``expected`` (or was read).
            AlreadyExists: if a tag exists and ``force`` is false.
        """
        ref = _full_ref_name(name)
        target = parse_object_id(commit_hash)
        with self.db.transaction() as session:
            if commit_queries.get_commit(session, self.id, target) is None:
                raise ObjectNotFound(target, kind="commit")
            current = ref_queries.get_ref(session, self.id, ref)
            if ref.startswith(TAG_PREFIX) and current is not None and not force:
                if current == target:
                    return
                raise AlreadyExists(f"tag {ref.removeprefix(TAG_PREFIX)!r} already exists")
            old = current if expected is UNSET else expected
            if old is not None:
                old = parse_object_id(old)
            if old is not None and old == target and current == target:
                return
            reason = "create" if old is None else "update"
            if old is not None and not is_ancestor(session, self.id, old, target):
                reason = "force"
            if reason == "force" and ref.startswith(BRANCH_PREFIX):
                self._check_unprotected(session, ref, "a force move")
            ref_queries.compare_and_swap_ref(
                session, self.id, ref, old, target, actor=self.actor, reason=reason
            )

    # --- high-level writes ------------------------------------------------------------

    @_gc_guarded
    def commit(
        self,
        branch: str,
        changes: Sequence[Change],
        message: str,
        *,
        author: str | None = None,
        author_email: str | None = None,
        authored_at: datetime | int | None = None,
        metadata: Mapping[str, str] | None = None,
        expected_head: str | None = UNSET,
        allow_empty: bool = False,
    ) -> CommitResult:
        """Apply puts and deletes to a branch as one commit.

        The branch is created if it does not exist. With ``expected_head`` the commit
        lands only if the branch still points there (None: the branch must not exist);
        without it, a concurrent commit is retried on top of the new head.

        Raises:
            InvalidInput, InvalidName: for bad paths or sources.
            PathNotFound: a delete names a missing path.
            NotAFile: a path crosses a file as if it were a folder.
            ObjectNotFound: a PutBlob names a blob the repository lacks.
            RefConflict: the branch moved away from ``expected_head``.
        """
        ref = branch_ref(branch)
        parsed = parse_change_paths(list(changes))
        for _, change in parsed:
            if isinstance(change, Put):
                check_source(change.source)
        stored = self._store_sources([c for _, c in parsed if isinstance(c, Put)])
        edits: dict[tuple[str, ...], TreeEntry | None] = {}
        new_blobs: list[tuple[str, int]] = []
        blob_refs: list[str] = []
        for parts, change in parsed:
            if isinstance(change, Delete):
                edits[parts] = None
            elif isinstance(change, PutBlob):
                blob_refs.append(change.blob_id)
                edits[parts] = TreeEntry(
                    parts[-1], file_mode(change.executable), "blob", ObjectId(change.blob_id)
                )
            else:
                object_id, size = stored[id(change)]
                new_blobs.append((object_id, size))
                edits[parts] = TreeEntry(parts[-1], file_mode(change.executable), "blob", object_id)

        def build(session: Session, head_tree: Tree) -> tuple[Tree, list[Tree]]:
            if blob_refs:
                known = object_queries.existing_blob_ids(session, self.id, blob_refs)
                for blob_id in blob_refs:
                    if blob_id not in known:
                        raise ObjectNotFound(blob_id, kind="blob")
            object_queries.insert_blobs(session, self.id, new_blobs)
            return apply_edits(lambda tid: self._load_tree(session, tid), head_tree, edits)

        return self._commit_tree(
            ref,
            build,
            message,
            author=author,
            author_email=author_email,
            authored_at=authored_at,
            metadata=metadata,
            expected_head=expected_head,
            allow_empty=allow_empty,
            stats=(len(new_blobs), sum(size for _, size in new_blobs)),
        )

    @_gc_guarded
    def commit_folder(
        self,
        folder: str | os.PathLike[str],
        branch: str,
        message: str,
        *,
        path: str = "",
        author: str | None = None,
        author_email: str | None = None,
        authored_at: datetime | int | None = None,
        metadata: Mapping[str, str] | None = None,
        expected_head: str | None = UNSET,
        ignore: IgnoreRule | None = None,
        stat_cache: StatCache | None = None,
        progress: ProgressCallback | None = None,
        start_branch: str | None = None,
    ) -> CommitResult:
        """Make ``path`` on ``branch`` (the root by default) mirror a local folder.

        New and changed files are stored, files gone from the folder are deleted, and
        nothing is committed when the result equals the branch's current tree. A branch
        that does not exist yet starts at ``start_branch``'s head when it has one (as
        ``git checkout -b`` does), else with no history.

        Raises:
            InvalidInput: if the folder cannot be read.
            InvalidName: if a name in it cannot be stored, or ``path`` is bad.
            NotAFile: if ``path`` crosses a file.
            RefConflict: the branch moved away from ``expected_head``.
        """
        ref = branch_ref(branch)
        target = split_path(path)
        scan = scan_folder(Path(folder), ignore)
        counters = {"files": 0, "bytes": 0, "reported": 0}
        if progress:
            progress("scan", scan.file_count, scan.total_bytes)

        def hashed(local: LocalFile) -> None:
            counters["files"] += 1
            counters["bytes"] += local.size
            if progress and (
                counters["files"] % PROGRESS_FILES == 0
                or counters["bytes"] - counters["reported"] >= PROGRESS_BYTES
            ):
                counters["reported"] = counters["bytes"]
                progress("hash", counters["files"], counters["bytes"])

        unchanged, previous = self._cached_folders(scan, stat_cache)
        if unchanged:
            for parts in unchanged:
                folder_files = scan.folders[parts].files
                counters["files"] += len(folder_files)
                counters["bytes"] += sum(file[1] for file in folder_files)
            if progress:
                progress("hash", counters["files"], counters["bytes"])
        files = scan.local_files(skip=unchanged)
        bulk = self.storage if isinstance(self.storage, SupportsLocalFiles) else None
        later = isinstance(bulk, SupportsDeferredSync)
        hash_files(files, stat_cache, hashed, store=bulk, durable=not later)
        if progress:
            progress("hash", counters["files"], counters["bytes"])
        # The stored bytes become durable (one syncfs, which releases the GIL) while the
        # trees are built and their rows inserted; build() waits for it before the
        # transaction commits, so no committed row refers to bytes not yet durable.
        # Measured: the sync was 250-330 ms of a 20,000-file first import.
        synced: Future[None] | None = None
        if later:
            syncer = ThreadPoolExecutor(max_workers=1)
            synced = syncer.submit(self.storage.sync)  # type: ignore[attr-defined]
            syncer.shutdown(wait=False)  # its thread ends with the sync
        folders, tree_ids = build_trees(scan, files, unchanged)
        if stat_cache is not None:
            record_folders(stat_cache, scan, files, tree_ids, skip=unchanged)
        subtree = folders[()]
        with self.db.reading() as session:
            known_trees = object_queries.existing_tree_ids(
                session, self.id, (tree.id for tree in folders.values())
            )
            # Blobs to look up: none below a folder the repository has, none the cache
            # vouches for (see _cached_folders), and none that storage had to write.
            unchecked = [
                f
                for f in outside_known_trees(files, folders, known_trees)
                if not (f.cached and f.parts[:-1] in previous)
            ]
            known = object_queries.existing_blob_ids(
                session, self.id, (f.id for f in unchecked if f.id is not None and not f.written)
            )
        trees = [tree for tree in folders.values() if tree.id not in known_trees]
        unknown = [f for f in iter_unique(unchecked) if f.written or f.id not in known]
        to_store = [f for f in unknown if not f.stored]
        if progress:
            progress("plan", len(to_store), sum(f.size for f in to_store))
        self._store_local_files(to_store, progress)
        new_blobs = [(f.id, f.size) for f in unknown if f.id is not None]

        def build(session: Session, head_tree: Tree) -> tuple[Tree, list[Tree]]:
            object_queries.insert_blobs(session, self.id, new_blobs)
            object_queries.insert_trees(session, self.id, trees)
            if synced is not None:
                synced.result()  # the bytes are durable before the rows commit
            if not target:
                return subtree, []
            entry = TreeEntry(target[-1], FileMode.TREE, "tree", subtree.id)
            return apply_edits(
                lambda tid: self._load_tree(session, tid), head_tree, {target: entry}
            )

        result = self._commit_tree(
            ref,
            build,
            message,
            author=author,
            author_email=author_email,
            authored_at=authored_at,
            metadata=metadata,
            expected_head=expected_head,
            allow_empty=False,
            stats=(len(new_blobs), sum(size for _, size in new_blobs)),
            start_branch=start_branch,
        )
        return replace(result, skipped=tuple(scan.skipped))

    # --- refs -------------------------------------------------------------------------

    @_gc_guarded
    def create_branch(self, name: str, from_rev: str | None = None) -> ObjectId:
        """Create a branch at ``from_rev`` (default: the default branch's head).

        Raises:
            InvalidName: for a bad name.
            AlreadyExists: if the branch exists.
            RevisionNotFound: if ``from_rev`` names nothing.
        """
        ref = branch_ref(name)
        with self.db.transaction() as session:
            target = self._resolve(session, from_rev or self.default_branch)
            try:
                ref_queries.compare_and_swap_ref(
                    session, self.id, ref, None, target, actor=self.actor, reason="create"
                )
            except RefConflict:
                raise AlreadyExists(f"branch {name!r} already exists") from None
        return target

    def delete_branch(self, name: str, expected: str | None = None) -> ObjectId:
        """Delete a branch (only if it still points at ``expected``, when given).

        Raises:
            RefNotFound: if there is no such branch.
            InvalidInput: to delete the default branch.
            RefConflict: if it moved away from ``expected``.
        """
        ref = branch_ref(name)
        if ref == BRANCH_PREFIX + self.default_branch:
            raise InvalidInput(f"cannot delete the default branch {name!r}")
        return self._delete_ref(ref, expected)

    def list_branches(self) -> list[tuple[str, ObjectId]]:
        """``(short name, commit id)`` of every branch, by name."""
        with self.db.reading() as session:
            return [
                (name.removeprefix(BRANCH_PREFIX), target)
                for name, target in ref_queries.list_refs(session, self.id, BRANCH_PREFIX)
            ]

    @_gc_guarded
    def create_tag(self, name: str, rev: str | None = None, *, force: bool = False) -> ObjectId:
        """Tag a commit (default: the default branch's head). Tags move only with ``force``.

        Raises:
            InvalidName: for a bad name.
            AlreadyExists: if the tag exists and ``force`` is false.
            RevisionNotFound: if ``rev`` names nothing.
        """
        ref = tag_ref(name)
        with self.db.transaction() as session:
            target = self._resolve(session, rev or self.default_branch)
            current = ref_queries.get_ref(session, self.id, ref)
            if current is not None and not force:
                raise AlreadyExists(f"tag {name!r} already exists")
            if current != target:
                reason = "create" if current is None else "force"
                ref_queries.compare_and_swap_ref(
                    session, self.id, ref, current, target, actor=self.actor, reason=reason
                )
        return target

    def delete_tag(self, name: str) -> ObjectId:
        """Delete a tag.

        Raises:
            RefNotFound: if there is no such tag.
        """
        return self._delete_ref(tag_ref(name), None)

    def list_tags(self) -> list[tuple[str, ObjectId]]:
        """``(short name, commit id)`` of every tag, by name."""
        with self.db.reading() as session:
            return [
                (name.removeprefix(TAG_PREFIX), target)
                for name, target in ref_queries.list_refs(session, self.id, TAG_PREFIX)
            ]

    def ref_log(
        self, ref: str | None = None, *, before: int | None = None, limit: int = 100
    ) -> list[ref_queries.RefLogEntry]:
        """Movements of refs, newest first: every ref, or one branch or tag.

        ``ref`` is a branch's short name or a full ref name; page with ``before``, the
        ``id`` of the last entry seen.

        Raises:
            InvalidName: for a bad ref name.
            InvalidInput: for a limit outside 1..1000.
        """
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000")
        full = _full_ref_name(ref) if ref is not None else None
        with self.db.reading() as session:
            return ref_queries.list_ref_log(session, self.id, ref=full, before=before, limit=limit)

    def protected_branches(self) -> list[str]:
        """The branch patterns only merges may move, by name."""
        with self.db.reading() as session:
            return access_queries.protected_patterns(session, self.id)

    def protect_branches(self, pattern: str) -> bool:
        """Protect branches matching ``pattern``; False if it already was.

        Raises:
            InvalidName: for a bad pattern.
        """
        validate_branch_pattern(pattern)
        with self.db.transaction() as session:
            return access_queries.add_protected_pattern(session, self.id, pattern)

    def unprotect_branches(self, pattern: str) -> bool:
        """Remove a protection pattern; False if there was none."""
        with self.db.transaction() as session:
            return access_queries.remove_protected_pattern(session, self.id, pattern)

    def head(self, branch: str | None = None) -> ObjectId | None:
        """The commit a branch points at, or None if it does not exist yet."""
        ref = branch_ref(branch or self.default_branch)
        with self.db.reading() as session:
            return ref_queries.get_ref(session, self.id, ref)

    # --- reads ------------------------------------------------------------------------

    def resolve(self, rev: str | None = None) -> ObjectId:
        """The commit id a revision names (default: the default branch).

        Raises:
            InvalidRevision: if it is malformed or an ambiguous short id.
            RevisionNotFound: if it names nothing.
        """
        with self.db.reading() as session:
            return self._resolve(session, rev or self.default_branch)

    def get_commit(self, rev: str | None = None) -> LogEntry:
        """A commit by revision.

        Raises:
            InvalidRevision, RevisionNotFound: see ``resolve``.
        """
        with self.db.reading() as session:
            commit_id = self._resolve(session, rev or self.default_branch)
            stored = commit_queries.get_commit(session, self.id, commit_id)
            assert stored is not None
            return LogEntry(stored.id, stored.commit)

    def stat(self, rev: str | None, path: str) -> ListedEntry:
        """The entry at ``path`` in a revision (the root is a tree entry named ``""``).

        Raises:
            RevisionNotFound, PathNotFound: if either is missing.
        """
        with self.db.reading() as session:
            return self._stat(session, rev, path)

    def locate(self, rev: str | None, path: str) -> tuple[ObjectId, ListedEntry]:
        """The commit a revision names and the entry at ``path`` in it, in one read.

        Raises:
            InvalidRevision, RevisionNotFound, PathNotFound: see ``resolve`` and ``stat``.
        """
        with self.db.reading() as session:
            return self._locate(session, rev, path)

    def open_file(self, rev: str | None, path: str) -> BinaryIO:
        """Stream the file at ``path`` in a revision; close it when done.

        Raises:
            RevisionNotFound, PathNotFound: if either is missing.
            NotAFile: if the path is a folder.
        """
        listed = self.stat(rev, path)
        if listed.entry.kind != "blob":
            raise NotAFile(f"{listed.path!r} is a folder, not a file")
        return self.storage.open(listed.entry.id)

    def read_file(self, rev: str | None, path: str) -> bytes:
        """The whole content of a file (use ``open_file`` for large files).

        Raises:
            RevisionNotFound, PathNotFound, NotAFile: see ``open_file``.
        """
        with self.open_file(rev, path) as stream:
            return stream.read()

    def read_blob(self, blob_id: str) -> BinaryIO:
        """Stream a blob this repository has, by id.

        Raises:
            ObjectNotFound: if the repository does not have it.
        """
        object_id = parse_object_id(blob_id)
        with self.db.reading() as session:
            if object_queries.blob_size(session, self.id, object_id) is None:
                raise ObjectNotFound(object_id, kind="blob")
        return self.storage.open(object_id)

    def list_tree(
        self,
        rev: str | None = None,
        path: str = "",
        *,
        recursive: bool = False,
        after: str | None = None,
        limit: int | None = None,
        folders_first: bool = False,
    ) -> list[ListedEntry]:
        """Entries of the folder at ``path`` in a revision, by name.

        Non-recursive listings are keyset-paginated: pass the last name seen as
        ``after``; with ``folders_first``, pass ``page_key(last entry)`` instead.
        Recursive listings give every file and folder below ``path``.

        Raises:
            InvalidInput: for a malformed ``after`` key.
            RevisionNotFound, PathNotFound: if either is missing.
            NotAFile: if the path is a file.
        """
        with self.db.reading() as session:
            folder = self._stat(session, rev, path)
            if folder.entry.kind != "tree":
                raise NotAFile(f"{folder.path!r} is a file, not a folder")
            prefix = f"{folder.path}/" if folder.path else ""
            if recursive:
                if after is None and limit is None:
                    return self._walk_all(session, folder.entry.id, prefix, sizes=True)
                return self._walk_page(session, folder.entry.id, prefix, after, limit)
            after_kind = None
            if folders_first and after is not None:
                after_kind, _, after = after.partition(":")
                if after_kind not in ("tree", "blob") or not after:
                    raise InvalidInput("invalid listing position: expected tree:NAME or blob:NAME")
            entries = object_queries.list_entries_with_sizes(
                session,
                self.id,
                folder.entry.id,
                after,
                limit,
                folders_first=folders_first,
                after_kind=after_kind,
            )
            return [ListedEntry(prefix + e.name, e, size) for e, size in entries]

    def walk(self, rev: str | None = None, path: str = "") -> Iterator[ListedEntry]:
        """Every file and folder below ``path``, depth first, folders before their content.

        Raises:
            RevisionNotFound, PathNotFound, NotAFile: see ``list_tree``.
        """
        yield from self.list_tree(rev, path, recursive=True)

    def log(
        self,
        rev: str | None = None,
        *,
        path: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> LogPage:
        """History from a revision, newest first, optionally only commits changing ``path``.

        Commits come in topological order (by generation, then commit time). The cursor
        is the frontier of the walk, so each page costs the same however deep it is.

        Raises:
            InvalidInput: for a bad limit or cursor.
            RevisionNotFound: if ``rev`` names nothing.
        """
        from dataworkflow.services.history import walk_history

        if limit < 1 or limit > 10_000:
            raise InvalidInput("limit must be between 1 and 10000")
        parts = split_path(path) if path else None
        with self.db.reading() as session:
            if cursor is not None:
                start = _parse_cursor(cursor)
            else:
                start = [self._resolve(session, rev or self.default_branch)]
            entries, frontier = walk_history(
                session,
                self.id,
                start,
                limit,
                parts,
                lambda tid, name: object_queries.get_entry(session, self.id, tid, name),
            )
        return LogPage(
            [LogEntry(s.id, s.commit) for s in entries],
            ".".join(frontier) if frontier else None,
        )

    def diff(
        self,
        old_rev: str | None,
        new_rev: str | None,
        path: str = "",
        *,
        find_renames: bool = True,
    ) -> list[DiffChange]:
        """Files added, deleted, modified, renamed, copied or changed in mode.

        Renames and copies are exact (the same blob under a new path), found among the
        files of the change only.

        Raises:
            RevisionNotFound, PathNotFound: if a revision or the path is missing.
        """
        with self.db.reading() as session:
            old = self._subtree_id(session, old_rev, path)
            new = self._subtree_id(session, new_rev, path)
            prefix = normalize_path(path)
            changes = list(
                diff_trees(
                    lambda tid: self._load_tree(session, tid),
                    old,
                    new,
                    prefix + "/" if prefix else "",
                )
            )
            return detect_renames(changes) if find_renames else changes

    def export(
        self,
        rev: str | None,
        destination: str | os.PathLike[str],
        path: str = "",
        *,
        progress: ExportProgress | None = None,
    ) -> ExportStats:
        """Write the folder (or file) at ``path`` out to ``destination``, verifying hashes.

        Raises:
            RevisionNotFound, PathNotFound: if the revision or path is missing.
            InvalidInput: if ``destination`` is a file or a non-empty folder.
            InvalidName: if a stored name would land outside ``destination``.
            ChecksumMismatch: if stored bytes do not match their id.
        """
        root = Path(destination)
        with self.db.reading() as session:
            top = self._stat(session, rev, path)
            if top.entry.kind == "blob":
                items = [ListedEntry(top.entry.name, top.entry, top.size)]
            else:
                items = self._walk_all(session, top.entry.id)
        for item in items:
            check_export_path(item.path)
        prepare_destination(root)
        base = os.fspath(root)
        blobs: list[tuple[ObjectId, str, bool]] = []
        folders = 0
        for item in items:
            target = os.path.join(base, item.path)
            if item.entry.kind == "tree":
                # Never exist_ok: the destination started empty, so an existing folder
                # (or a symlink planted meanwhile) is refused rather than followed.
                os.mkdir(target)
                folders += 1
            else:
                blobs.append((item.entry.id, target, item.entry.mode is FileMode.EXECUTABLE))
        files = written = 0
        try:
            for size in self._get_files(blobs):
                files += 1
                written += size
                if progress:
                    progress(files, written)
        except ChecksumMismatch as exc:  # name the file: the id alone tells a user little
            damaged = [t for object_id, t, _ in blobs if object_id == exc.expected]
            if not damaged or exc.path is not None:
                raise
            where = os.path.relpath(damaged[0], base)
            raise ChecksumMismatch(exc.expected, exc.got, where) from None
        return ExportStats(files, written, folders)

    def _get_files(self, blobs: list[tuple[ObjectId, str, bool]]) -> Iterator[int]:
        """Write blobs to new local files, verified; the storage's bulk way when it has one."""
        if isinstance(self.storage, SupportsLocalFiles):
            yield from self.storage.get_files(blobs)
            return
        for object_id, target, executable in blobs:
            with self.storage.open(object_id) as source:
                yield write_verified(source, target, object_id, executable)

    def split_rev_and_path(self, rev_and_path: str) -> tuple[str, str]:
        """Split ``feature/x/data/a.csv`` at the longest branch or tag name it starts with."""
        with self.db.reading() as session:
            return split_rev_and_path(session, self.id, rev_and_path)

    def ahead_behind(self, rev: str, base: str | None = None) -> tuple[int, int]:
        """How many commits ``rev`` has that ``base`` lacks, and the reverse.

        Raises:
            RevisionNotFound: if either revision names nothing.
        """
        with self.db.reading() as session:
            left = self._resolve(session, rev)
            right = self._resolve(session, base or self.default_branch)
            return ahead_behind(session, self.id, left, right)

    def blob_sizes(self, blob_ids: Iterable[str]) -> dict[str, int]:
        """Sizes of those blobs the repository has, keyed by id (one query per 500)."""
        with self.db.reading() as session:
            return object_queries.blob_sizes(session, self.id, blob_ids)

    def count_commits(self) -> int:
        """How many commits the repository stores."""
        with self.db.reading() as session:
            return commit_queries.count_commits(session, self.id)

    # --- internals --------------------------------------------------------------------

    def _resolve(self, session: Session, rev: str) -> ObjectId:
        return resolve_revision(session, self.id, rev, self.default_branch)

    def _subtree_id(self, session: Session, rev: str | None, path: str) -> ObjectId | None:
        """The tree at ``path`` in ``rev``; None when ``rev`` is None or the path is absent."""
        if rev is None:
            return None
        try:
            entry = self._stat(session, rev, path).entry
        except PathNotFound:
            if not path:
                raise
            self._resolve(session, rev)
            return None
        if entry.kind != "tree":
            raise NotAFile(f"{path!r} is a file; diff takes a folder")
        return entry.id

    def _load_tree(self, session: Session, tree_id: ObjectId) -> Tree:
        tree = object_queries.get_tree(session, self.id, tree_id)
        if tree is None:
            raise ObjectNotFound(tree_id, kind="tree")
        return tree

    def _stat(self, session: Session, rev: str | None, path: str) -> ListedEntry:
        return self._locate(session, rev, path)[1]

    def _locate(self, session: Session, rev: str | None, path: str) -> tuple[ObjectId, ListedEntry]:
        commit_id, tree_id = resolve_tree(
            session, self.id, rev or self.default_branch, self.default_branch
        )
        parts = split_path(path)
        entry = TreeEntry("", FileMode.TREE, "tree", tree_id)
        size = None
        for depth, name in enumerate(parts):
            if entry.kind != "tree":
                raise PathNotFound("/".join(parts), rev)
            found = object_queries.get_entry_with_size(session, self.id, entry.id, name)
            if found is None:
                raise PathNotFound("/".join(parts[: depth + 1]), rev)
            entry, size = found
        return commit_id, ListedEntry("/".join(parts), entry, size)

    def _walk_page(
        self,
        session: Session,
        tree_id: ObjectId,
        prefix: str,
        after: str | None,
        limit: int | None,
    ) -> list[ListedEntry]:
        """Up to ``limit`` entries of the depth-first walk below a tree, after ``after``.

        Depth-first order is path order compared name by name ("a/x" comes before "a-b"
        although "-" sorts before "/" as bytes), so the walk skips every folder that lies
        wholly before ``after``, and stops once the page is full: a page loads only the
        folders it lists and those on the way to it. (Walking everything for each page
        made listing 200,000 files by pages of 1,000 take minutes.)
        """
        cut = _path_key(after) if after is not None else None
        listed: list[ListedEntry] = []

        def visit(tree_id: ObjectId, parts: tuple[bytes, ...], path: str) -> bool:
            """Add the tree's entries after the cut; False once the page is full."""
            found, sizes = object_queries.get_trees_with_sizes(session, self.id, [tree_id])
            if tree_id not in found:
                raise ObjectNotFound(tree_id, kind="tree")
            for entry in found[tree_id].entries:
                key = (*parts, entry.name.encode("utf-8"))
                listed_here = cut is None or key > cut
                if cut is not None and not listed_here and key != cut[: len(key)]:
                    continue  # before the cut, and so is everything below it
                if listed_here:
                    if limit is not None and len(listed) >= limit:
                        return False
                    listed.append(ListedEntry(path + entry.name, entry, sizes.get(entry.id)))
                if entry.kind == "tree" and not visit(entry.id, key, f"{path}{entry.name}/"):
                    return False
            return True

        visit(tree_id, (), prefix)
        return listed

    def _walk_all(
        self, session: Session, tree_id: ObjectId, prefix: str = "", *, sizes: bool = False
    ) -> list[ListedEntry]:
        """Every entry below a tree, folders before their content, with blob sizes if asked.

        The folders are loaded a level at a time (a query per level, not per folder).
        """
        trees: dict[str, Tree] = {}
        known: dict[str, int] = {}
        level = {tree_id}
        while level:
            found, found_sizes = object_queries.get_trees_with_sizes(
                session, self.id, level, sizes=sizes
            )
            if missing := level - found.keys():
                raise ObjectNotFound(min(missing), kind="tree")
            trees.update(found)
            known.update(found_sizes)
            level = {
                entry.id
                for tree in found.values()
                for entry in tree.entries
                if entry.kind == "tree"
            } - trees.keys()
        listed: list[ListedEntry] = []

        def visit(tree: Tree, prefix: str) -> None:
            for entry in tree.entries:
                path = prefix + entry.name
                listed.append(ListedEntry(path, entry, known.get(entry.id)))
                if entry.kind == "tree":
                    visit(trees[entry.id], path + "/")

        visit(trees[tree_id], prefix)
        return listed

    def _delete_ref(self, ref: str, expected: str | None) -> ObjectId:
        with self.db.transaction() as session:
            current = ref_queries.get_ref(session, self.id, ref)
            if current is None:
                raise RefNotFound(ref.removeprefix(BRANCH_PREFIX).removeprefix(TAG_PREFIX))
            old = parse_object_id(expected) if expected is not None else current
            if ref.startswith(BRANCH_PREFIX):
                self._check_unprotected(session, ref, "deletion")
            ref_queries.delete_ref(session, self.id, ref, old, actor=self.actor)
            return current

    def _check_unprotected(self, session: Session, ref: str, action: str) -> None:
        """Refuse ``action`` on a branch a protection pattern covers (merges skip this)."""
        branch = ref.removeprefix(BRANCH_PREFIX)
        for pattern in access_queries.protected_patterns(session, self.id):
            if branch_pattern_matches(pattern, branch):
                raise ProtectedBranch(branch, action)

    def _insert_commit(self, session: Session, commit: Commit) -> None:
        if object_queries.get_tree(session, self.id, commit.tree) is None:
            raise ObjectNotFound(commit.tree, kind="tree")
        generations = commit_queries.commit_generations(session, self.id, commit.parents)
        for parent in commit.parents:
            if parent not in generations:
                raise ObjectNotFound(parent, kind="commit")
        generation = 1 + max(generations.values(), default=0)
        commit_queries.insert_commit(session, self.id, commit, generation)

    def _cached_folders(
        self, scan: FolderScan, stat_cache: StatCache | None
    ) -> tuple[dict[tuple[str, ...], str], set[tuple[str, ...]]]:
        """What the stat cache spares a folder import: ``(unchanged, previous)``.

        ``unchanged`` maps the folders whose listing the cache saw before, and whose
        tree this repository has, to that tree's id: the repository has everything
        below them. ``previous`` holds the changed folders whose previously recorded
        tree the repository has: a file of one that the cache knew (``cached``) is a
        blob of that tree, so it needs no lookup.
        """
        if stat_cache is None:
            return {}, set()
        unchanged = unchanged_folders(scan, stat_cache)
        tops = topmost(unchanged)
        previous: dict[tuple[str, ...], str] = {}
        for parts in scan.folders:
            if parts not in unchanged:
                tree = stat_cache.recorded_tree("/".join(parts))
                if tree:
                    previous[parts] = tree
        with self.db.reading() as session:
            known = object_queries.existing_tree_ids(
                session, self.id, [*tops.values(), *previous.values()]
            )
        without_below(unchanged, {parts for parts, tree in tops.items() if tree not in known})
        return unchanged, {parts for parts, tree in previous.items() if tree in known}

    def _commit_tree(
        self,
        ref: str,
        build: Callable[[Session, Tree], tuple[Tree, list[Tree]]],
        message: str,
        *,
        author: str | None,
        author_email: str | None,
        authored_at: datetime | int | None,
        metadata: Mapping[str, str] | None,
        expected_head: str | None,
        allow_empty: bool,
        stats: tuple[int, int],
        attempts: int = 5,
        start_branch: str | None = None,
    ) -> CommitResult:
        """Build a tree on the branch head and commit it with a CAS of the ref.

        Retries on a concurrent move only when the caller did not pin ``expected_head``.
        A branch that does not exist yet starts at ``start_branch``'s head, if any: when
        the tree is that head's, the branch is made to point there, with no new commit.
        """
        if expected_head is not UNSET and expected_head is not None:
            parse_object_id(expected_head)
        author_sig = _signature(author, author_email, authored_at)
        for attempt in range(attempts):
            try:
                with self.db.transaction() as session:
                    self._check_unprotected(session, ref, "a direct commit")
                    head = ref_queries.get_ref(session, self.id, ref)
                    if expected_head is not UNSET and head != expected_head:
                        raise RefConflict(ref, expected=expected_head, actual=head)
                    base = head
                    if head is None and start_branch is not None:
                        base = ref_queries.get_ref(session, self.id, branch_ref(start_branch))
                    head_tree = Tree(())
                    if base is not None:
                        stored = commit_queries.get_commit(session, self.id, base)
                        assert stored is not None
                        head_tree = self._load_tree(session, stored.commit.tree)
                    new_root, trees = build(session, head_tree)
                    if base is not None and new_root.id == head_tree.id and not allow_empty:
                        if head is None:  # a new branch at its start, nothing to commit
                            ref_queries.compare_and_swap_ref(
                                session,
                                self.id,
                                ref,
                                None,
                                base,
                                actor=self.actor,
                                reason="create",
                            )
                        return CommitResult(base, new_root.id, False, base)
                    object_queries.insert_trees(session, self.id, [*trees, new_root])
                    commit = Commit(
                        tree=new_root.id,
                        parents=(base,) if base is not None else (),
                        author=author_sig,
                        committer=author_sig,
                        message=message,
                        metadata=tuple((metadata or {}).items()),
                    )
                    self._insert_commit(session, commit)
                    ref_queries.compare_and_swap_ref(
                        session,
                        self.id,
                        ref,
                        head,
                        commit.id,
                        actor=self.actor,
                        reason="commit",
                        message=_first_line(message),
                    )
                    return CommitResult(commit.id, new_root.id, True, base, *stats)
            except RefConflict:
                if expected_head is not UNSET or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _store_sources(self, puts: list[Put]) -> dict[int, tuple[ObjectId, int]]:
        """Store every put's bytes before any metadata is written."""
        stored: dict[int, tuple[ObjectId, int]] = {}
        for put in puts:
            source = put.source
            if isinstance(source, (bytes, bytearray, memoryview)):
                result = self.storage.put_bytes(bytes(source))
            elif isinstance(source, os.PathLike):
                try:
                    result = self.storage.put_file(os.fspath(source))
                except FileNotFoundError:
                    raise InvalidInput(f"no such file {os.fspath(source)!r}") from None
                except IsADirectoryError:
                    raise InvalidInput(f"{os.fspath(source)!r} is a folder") from None
                except PermissionError:
                    raise InvalidInput(f"permission denied reading {os.fspath(source)!r}") from None
            else:
                result = self.storage.put_stream(source)
            stored[id(put)] = (result.id, result.size)
        return stored

    def _store_local_files(self, files: list[LocalFile], progress: ProgressCallback | None) -> None:
        """Copy new files into storage concurrently, made durable by one sync at the end.

        Threads overlap the file-system waits of small files and the hashing and copying
        of large ones (both release the GIL). Storage that supports it defers its fsyncs
        to one ``sync()`` that happens before this returns, hence before any metadata.
        """
        done = {"files": 0, "bytes": 0}
        deferred = self.storage if isinstance(self.storage, SupportsDeferredSync) else None

        def put(local: LocalFile) -> LocalFile:
            try:
                with deferred.deferred_sync() if deferred else nullcontext():
                    if local.data is not None:
                        stored = self.storage.put_bytes(local.data)
                        local.data = None
                        if stored.id != local.id:  # pragma: no cover - hashed the same bytes
                            raise ChecksumMismatch(str(local.id), stored.id)
                    else:
                        self.storage.put_file(local.path, local.id)
            except ChecksumMismatch:
                raise changed_behind_the_cache(local.path) from None
            except FileNotFoundError:
                raise InvalidInput(f"{local.path!r} disappeared during the import") from None
            except PermissionError:
                raise InvalidInput(f"permission denied reading {local.path!r}") from None
            return local

        if not files:
            return

        def report(local: LocalFile) -> None:
            done["files"] += 1
            done["bytes"] += local.size
            if progress:
                progress("store", done["files"], done["bytes"])

        # Known ids whose bytes storage lacks (a new installation, a warm stat cache):
        # read in bulk, where storage packs them, rather than one object file each
        # (measured, 20,000 files of 1-8 KiB, 3 rounds while tests ran: 4.9-7.1 s one by
        # one, 2.2-3.1 s in bulk).
        bulk = self.storage if isinstance(self.storage, SupportsLocalFiles) else None
        if bulk is not None:
            unstored = [
                f
                for f in files
                if f.data is None and f.id is not None and not self.storage.exists(f.id)
            ]
            if len(unstored) >= BULK_STORE_MIN:
                store_known_files(unstored, bulk, report, durable=deferred is None)
                done_now = {id(f) for f in unstored}
                files = [f for f in files if id(f) not in done_now]

        # Small files on this thread: measured, four threads spent their time contending
        # for the GIL (a million futex calls for 20,000 files) and were slower than one.
        # Large files go to threads, where hashing and copying release the GIL.
        large = [f for f in files if f.data is None and f.size >= 1024 * 1024]
        with ThreadPoolExecutor(max_workers=STORE_WORKERS) as pool:
            pending = pool.map(put, large)
            for local in files:
                if local.data is not None or local.size < 1024 * 1024:
                    report(put(local))
            for local in pending:
                report(local)
        if deferred:
            deferred.sync()


def page_key(entry: ListedEntry) -> str:
    """The ``after`` key that continues a folders-first listing after ``entry``."""
    return f"{entry.entry.kind}:{entry.name}"


def _tree_entry(item: Mapping[str, Any] | TreeEntry) -> TreeEntry:
    if isinstance(item, TreeEntry):
        return TreeEntry.make(item.name, item.mode, item.id, item.kind)
    if not isinstance(item, Mapping):
        raise InvalidInput("tree entries must be dicts with name, type, hash and mode")
    unknown = set(item) - {"name", "type", "hash", "mode"}
    if unknown:
        raise InvalidInput(f"unknown tree entry field(s): {', '.join(sorted(unknown))}")
    for key in ("name", "hash"):
        if key not in item:
            raise InvalidInput(f"tree entry is missing {key!r}")
    kind = item.get("type")
    mode = item.get("mode")
    if mode is None:
        if kind not in ("blob", "tree"):
            raise InvalidInput("tree entry needs a 'type' of blob or tree, or a 'mode'")
        mode = FileMode.TREE if kind == "tree" else FileMode.FILE
    return TreeEntry.make(item["name"], mode, item["hash"], kind)


def _full_ref_name(name: str) -> str:
    if name.startswith("refs/"):
        check_ref_format(name)
        if not (name.startswith((BRANCH_PREFIX, TAG_PREFIX))):
            raise InvalidInput("only refs/heads/ and refs/tags/ refs are supported")
        return name
    return branch_ref(name)


def _path_key(path: str) -> tuple[bytes, ...]:
    """Sort key of a path in a depth-first walk: its names' UTF-8 bytes, one by one."""
    return tuple(name.encode("utf-8") for name in path.split("/"))


def _parse_cursor(cursor: str) -> list[ObjectId]:
    try:
        return [parse_object_id(part) for part in cursor.split(".")]
    except InvalidInput:
        raise InvalidInput("invalid history cursor") from None


def open_bytes(data: bytes) -> BinaryIO:
    """A binary stream over ``data`` (handy for ``Put`` sources in examples)."""
    return io.BytesIO(data)


__all__ = [
    "DEFAULT_REPOSITORY",
    "EMPTY_TREE_ID",
    "CommitResult",
    "Delete",
    "ListedEntry",
    "LogEntry",
    "LogPage",
    "Put",
    "PutBlob",
    "Repository",
]
