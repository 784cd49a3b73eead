"""Remote mode (``dw --server URL``): a repository read and written through the REST API.

:class:`RemoteRepository` offers the part of the ``Repository`` API the read commands and
``dw import``/``dw export`` use, on top of :class:`dataworkflow.client.Client`, and returns
the client's service-shaped values, so the commands format them with the same code and
print exactly what they print in local mode.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dataworkflow.client import (
    Change,
    Client,
    CommitResult,
    Delete,
    ListedEntry,
    LogEntry,
    LogPage,
    PutBlob,
)
from dataworkflow.core.hashing import CHUNK_SIZE
from dataworkflow.core.ids import ObjectId
from dataworkflow.core.objects import FileMode
from dataworkflow.errors import ChecksumMismatch, DataWorkflowError, PathNotFound
from dataworkflow.services.export import (
    ExportProgress,
    ExportStats,
    check_export_path,
    prepare_destination,
    write_verified,
)
from dataworkflow.services.folder import (
    IgnoreRule,
    LocalFile,
    StatCache,
    hash_files,
    record_folders,
    scan_folder,
)

if TYPE_CHECKING:
    from dataworkflow.services.repository import ProgressCallback


class RemoteRepository:
    """One repository of a server, shaped like the local ``Repository`` for the CLI."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name
        self.default_branch = client.get_repository(name).default_branch

    # --- reading ------------------------------------------------------------------------

    def resolve(self, rev: str | None) -> ObjectId:
        """The commit ``rev`` names (default: the default branch's head)."""
        return self.get_commit(rev).id

    def get_commit(self, rev: str | None = None) -> LogEntry:
        """A commit by revision (default: the default branch's head)."""
        return self.client.get_commit(self.name, rev or self.default_branch)

    def log(self, rev: str | None, *, path: str | None, limit: int, cursor: str | None) -> LogPage:
        """A page of history, newest first."""
        return self.client.log(self.name, rev, path=path, limit=limit, cursor=cursor)

    def stat(self, rev: str | None, path: str) -> ListedEntry:
        """The entry at ``path`` of ``rev``."""
        return self.client.stat(self.name, rev, path)

    def list_tree(self, rev: str | None, path: str = "", *, recursive: bool) -> list[ListedEntry]:
        """Every entry of the folder ``path`` (raises ``NotAFile`` for a file)."""
        return list(self.client.list_tree(self.name, rev, path, recursive=recursive))

    def walk(self, rev: str | None, path: str = "") -> Iterator[ListedEntry]:
        """Every entry below ``path``, depth first."""
        return self.client.list_tree(self.name, rev, path, recursive=True)

    def diff(self, old_rev: str | None, new_rev: str, path: str = "") -> list[Change]:
        """The changed files, in the byte order of their paths (as locally)."""
        if old_rev is not None:
            return self.client.diff(self.name, old_rev, new_rev, path)
        # A root commit: every file is added (no deletions, so no renames or copies).
        added = [
            Change("added", item.path, None, item.entry)
            for item in self.client.list_tree(self.name, new_rev, path, recursive=True)
            if item.entry.kind == "blob"
        ]
        return sorted(added, key=lambda change: change.path.encode("utf-8"))

    def write_file(self, rev: str, path: str, write: Callable[[bytes], object]) -> None:
        """Stream the file ``path`` of ``rev`` to ``write`` (checked against its id)."""
        for chunk in self.client.iter_file(self.name, rev, path):
            write(chunk)

    # --- export -------------------------------------------------------------------------

    def export(
        self,
        rev: str | None,
        destination: str | os.PathLike[str],
        path: str = "",
        *,
        progress: ExportProgress | None = None,
    ) -> ExportStats:
        """Write the folder (or file) at ``path`` to ``destination``, verifying every file."""
        root = Path(destination)
        commit = self.resolve(rev)  # one snapshot, even if the branch moves meanwhile
        top = self.stat(commit, path)
        prefix = top.path.strip("/")
        if top.entry.kind == "blob":
            items = [(top.entry.name, top)]
        else:
            items = [
                (item.path[len(prefix) + 1 :] if prefix else item.path, item)
                for item in self.walk(commit, prefix)
            ]
        for relpath, _item in items:
            check_export_path(relpath)
        prepare_destination(root)
        files = written = folders = 0
        for relpath, item in items:
            target = root / relpath
            if item.entry.kind == "tree":
                target.mkdir()
                folders += 1
                continue
            with self.client.open_file(self.name, commit, item.path) as answer:
                reader = io.BufferedReader(_ChunkReader(answer.iter_bytes(CHUNK_SIZE)), CHUNK_SIZE)
                written += write_verified(
                    reader, target, item.entry.id, item.entry.mode is FileMode.EXECUTABLE
                )
            files += 1
            if progress:
                progress(files, written)
        return ExportStats(files, written, folders)

    # --- import -------------------------------------------------------------------------

    def commit_folder(
        self,
        folder: str | os.PathLike[str],
        branch: str,
        message: str,
        *,
        path: str = "",
        author: str | None = None,
        author_email: str | None = None,
        ignore: IgnoreRule | None = None,
        stat_cache: StatCache | None = None,
        progress: ProgressCallback | None = None,
        start_branch: str | None = None,
    ) -> CommitResult:
        """Make ``path`` on ``branch`` mirror a local folder: hash locally, send new bytes.

        The files are hashed here (with the stat cache), only blobs the server lacks are
        uploaded (streamed), then one commit request carries the puts and deletes that
        differ from the branch's tree, with ``expected_head`` set to the head read first.
        Nothing is committed when nothing differs. A branch that does not exist yet
        starts at ``start_branch``'s head when it has one: the branch is created there
        first, and deleted again if the commit then fails.
        """
        prefix = path.strip("/")
        head = self.client.head(self.name, branch)
        start = None
        if head is None and start_branch is not None:
            start = self.client.head(self.name, start_branch)
        scan = scan_folder(Path(folder), ignore)
        if progress:
            progress("scan", scan.file_count, scan.total_bytes)
        counters = [0, 0]

        def hashed(local: LocalFile) -> None:
            counters[0] += 1
            counters[1] += local.size
            if progress:
                progress("hash", counters[0], counters[1])

        hash_files(scan.files, stat_cache, hashed)
        if stat_cache is not None:
            record_folders(stat_cache, scan, scan.files)
        remote = self._remote_files(head or start, prefix)

        def full(relpath: str) -> str:
            return f"{prefix}/{relpath}" if prefix else relpath

        local_paths = {local.relpath for local in scan.files}
        deletes: list[Delete | PutBlob] = [
            Delete(full(relpath)) for relpath in sorted(remote) if relpath not in local_paths
        ]
        puts: list[PutBlob] = []
        sources: dict[str, LocalFile] = {}
        for local in scan.files:
            assert local.id is not None
            if remote.get(local.relpath) != (local.id, local.mode):
                puts.append(
                    PutBlob(full(local.relpath), local.id, local.mode is FileMode.EXECUTABLE)
                )
                sources.setdefault(local.id, local)
        skipped = tuple(scan.skipped)
        if start is not None:  # AlreadyExists if someone created it meanwhile
            head = self.client.create_branch(self.name, branch, start)
        if not puts and not deletes and head is not None:
            tree = self.client.get_commit(self.name, head).commit.tree
            return CommitResult(head, tree, False, head, skipped=skipped)
        try:
            missing = self.client.missing_blobs(self.name, sources)
            if progress:
                progress("plan", len(missing), sum(sources[m].size for m in missing))
            stored_files = stored_bytes = 0
            for blob_id in missing:
                local = sources[blob_id]
                blob = self.client.upload_blob(
                    self.name, local.data if local.data is not None else Path(local.path)
                )
                if blob.id != blob_id:
                    raise ChecksumMismatch(blob_id, blob.id)
                stored_files, stored_bytes = stored_files + 1, stored_bytes + blob.size
                if progress:
                    progress("store", stored_files, stored_bytes)
            result = self.client.commit(
                self.name,
                branch,
                [*deletes, *puts],
                message,
                expected_head=head,
                author=author,
                author_email=author_email,
            )
        except BaseException:
            if start is not None:  # the branch this import created goes again
                with contextlib.suppress(DataWorkflowError, OSError):
                    self.client.delete_branch(self.name, branch, expected=start)
            raise
        return CommitResult(
            result.commit_id,
            result.tree_id,
            result.created,
            result.parent_id,
            stored_files,
            stored_bytes,
            skipped,
        )

    def _remote_files(self, head: str | None, prefix: str) -> dict[str, tuple[str, FileMode]]:
        """``relpath -> (blob id, mode)`` of the files below ``prefix`` on the server."""
        if head is None:
            return {}
        try:
            items: Iterable[ListedEntry] = self.list_tree(head, prefix, recursive=True)
        except PathNotFound:
            return {}
        cut = len(prefix) + 1 if prefix else 0
        return {
            item.path[cut:]: (item.entry.id, item.entry.mode)
            for item in items
            if item.entry.kind == "blob"
        }


class _ChunkReader(io.RawIOBase):
    """A readable raw stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
