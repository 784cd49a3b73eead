"""A Python client of the REST API: ``Client(base_url, token=None)``.

It speaks only HTTP (``httpx``) and returns the same value types the ``Repository`` API
works with (``core.objects.Commit``, ``TreeEntry``), wrapped in small result classes
shaped like the service ones (``LogEntry``, ``ListedEntry``, ``Change``,
``CommitResult``), so code written against a local repository reads the same against a
server. Failures raise the ``DataWorkflowError`` families, rebuilt from the server's
problem details: a moved branch is a ``RefConflict`` whose ``actual`` is the new head.

Bytes stream both ways in bounded memory: uploads send a file, a binary stream or an
iterable of chunks as the request body (hashing as they go, to check the id the server
computes); downloads write chunks to a file and check them against the ETag, which is
the blob id.

Example::

    with Client("http://localhost:5001") as client:
        head = client.head("data", "main")
        client.commit("data", "main", [Put("a.csv", Path("a.csv"))], "Add a.csv",
                      expected_head=head)
        client.download("data", "main", "a.csv", "copy.csv")
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, cast
from urllib.parse import quote

import httpx

from dataworkflow import errors
from dataworkflow.core.hashing import BackgroundHash
from dataworkflow.core.ids import ObjectId
from dataworkflow.core.objects import Commit, FileMode, Signature, TreeEntry
from dataworkflow.errors import (
    AuthenticationRequired,
    ChecksumMismatch,
    Conflict,
    DataWorkflowError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    RefNotFound,
)

API_PREFIX = "/api/v1"
CHUNK_SIZE = 1024 * 1024
INLINE_LIMIT = 64 * 1024
"""Put contents up to this size inline in the commit request; larger ones are uploaded."""
MISSING_BATCH = 10_000
DEFAULT_TIMEOUT = 60.0
TOKEN_VARIABLE = "DW_TOKEN"
"""The environment variable a client without an explicit token takes its token from."""

Source = bytes | bytearray | memoryview | BinaryIO | os.PathLike[str] | Iterable[bytes]
"""File content: bytes, a binary stream, a local file's path, or an iterable of chunks."""

Progress = Callable[[int], None]
"""Called with the number of bytes just sent or received (for progress bars)."""


class ServerUnreachable(DataWorkflowError):
    """The server did not answer (connection refused, timed out, broken connection)."""


# --- changes and results ----------------------------------------------------------------


@dataclass(frozen=True)
class Put:
    """Add or replace the file at ``path``: small bytes go inline, the rest is uploaded."""

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


ClientChange = Put | PutBlob | Delete


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    """A repository's settings."""

    name: str
    description: str
    default_branch: str
    private: bool
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One commit: its id and the commit itself (whose ``id`` recomputes to it)."""

    id: ObjectId
    commit: Commit


@dataclass(frozen=True, slots=True)
class LogPage:
    """A page of history; pass ``next_cursor`` back to get the next page."""

    commits: list[LogEntry]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ListedEntry:
    """An entry of a listing, with its path from the root and its size (files)."""

    path: str
    entry: TreeEntry
    size: int | None

    @property
    def name(self) -> str:
        """The last component of the path."""
        return self.entry.name


@dataclass(frozen=True, slots=True)
class TreePage:
    """A page of a listing at ``commit``; pass ``next`` back as ``after``."""

    commit: ObjectId
    path: str
    entries: list[ListedEntry]
    next: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One changed file between two revisions."""

    kind: str
    """``added``, ``deleted``, ``modified``, ``mode``, ``renamed`` or ``copied``."""
    path: str
    old: TreeEntry | None
    new: TreeEntry | None
    old_path: str | None = None
    """Where a renamed or copied file came from."""

    @property
    def status(self) -> str:
        """Git's one-letter status: A, D, M, T (mode only), R (renamed) or C (copied)."""
        return _STATUS_LETTER[self.kind]


_STATUS_LETTER = {
    "added": "A",
    "deleted": "D",
    "modified": "M",
    "mode": "T",
    "renamed": "R",
    "copied": "C",
}
_STATUS_KIND = {letter: kind for kind, letter in _STATUS_LETTER.items()}


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """An uploaded blob: its id (SHA-256) and size."""

    id: ObjectId
    size: int


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What a commit request did."""

    commit_id: ObjectId
    """The new commit, or the unchanged head when nothing changed."""
    tree_id: ObjectId
    created: bool
    parent_id: ObjectId | None
    files_stored: int = 0
    """Files uploaded for this commit (inline contents not counted)."""
    bytes_stored: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    """``(path, why)`` of what a folder import left out: symbolic links, special files."""


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What a merge, revert or cherry-pick did (conflicts raise ``MergeConflict``)."""

    status: str
    """``up-to-date``, ``fast-forward`` or ``merged``."""
    commit_id: ObjectId
    """The branch's new head (its unchanged head when up to date)."""
    target: ObjectId
    """The head the operation started from."""
    bases: tuple[ObjectId, ...] = ()


MergeResolution = str | TreeEntry | Mapping[str, str] | None
"""Per path: ``"ours"``, ``"theirs"``, an entry (or ``{"blob": id, "mode": m}``), None."""


@dataclass
class _Upload:
    """Hashes and counts the chunks of an upload as they are sent."""

    chunks: Iterable[bytes]
    progress: Progress | None = None
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if chunk:
                self.digest.update(chunk)
                self.size += len(chunk)
                yield bytes(chunk)
                if self.progress:
                    self.progress(len(chunk))


# --- the client -------------------------------------------------------------------------


class Client:
    """A connection to a DataWorkflow server's API (thread-safe; reuses connections).

    Args:
        base_url: The server (``http://host:5001``) or its API root (``.../api/v1``).
        token: An API token, sent as ``Authorization: Bearer <token>``; None reads
            ``DW_TOKEN``, so scripts and the CLI share one way to pass it (never a
            command-line argument, which other users of the machine can see).
        timeout: Seconds to wait for a connection or for each read/write.
        transport: An ``httpx`` transport, e.g. ``httpx.WSGITransport(app=app)`` to talk
            to an app in-process (which cannot take chunked uploads: there, upload bytes,
            files or seekable streams, whose length is known).
        inline_limit: Put contents up to this many bytes inline in commit requests.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        inline_limit: int = INLINE_LIMIT,
    ) -> None:
        root = base_url.rstrip("/")
        if not root.endswith(API_PREFIX):
            root += API_PREFIX
        self.base_url = root
        self.inline_limit = inline_limit
        headers = {"User-Agent": "dataworkflow-client", "Accept": "application/json"}
        if token is None:
            token = os.environ.get(TOKEN_VARIABLE)
        token = (token or "").strip()  # a token read from a file keeps its newline
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=root + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- repositories -------------------------------------------------------------------

    def list_repositories(self) -> list[RepositoryInfo]:
        """Every repository, by name."""
        body = self._json("GET", "repos")
        return [_repository(item) for item in body["repositories"]]

    def get_repository(self, name: str) -> RepositoryInfo:
        """One repository's settings.

        Raises:
            RepositoryNotFound: if there is none.
        """
        return _repository(self._json("GET", _repo(name)))

    def create_repository(
        self,
        name: str,
        *,
        description: str = "",
        default_branch: str | None = None,
        private: bool = False,
    ) -> RepositoryInfo:
        """Create an empty repository.

        Raises:
            InvalidName: for a bad name.
            AlreadyExists: if the name is taken.
        """
        body: dict[str, Any] = {"name": name, "description": description, "private": private}
        if default_branch is not None:
            body["default_branch"] = default_branch
        return _repository(self._json("POST", "repos", json=body))

    def update_repository(
        self, name: str, *, description: str | None = None, default_branch: str | None = None
    ) -> RepositoryInfo:
        """Change the description and/or default branch (None leaves it as is).

        Raises:
            RepositoryNotFound: if there is none.
            InvalidInput: for a bad value or a branch that does not exist.
        """
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if default_branch is not None:
            body["default_branch"] = default_branch
        return _repository(self._json("PATCH", _repo(name), json=body))

    def delete_repository(self, name: str) -> None:
        """Delete a repository.

        Raises:
            RepositoryNotFound: if there is none.
        """
        self._request("DELETE", _repo(name))

    # --- branches and tags --------------------------------------------------------------

    def list_branches(self, repo: str) -> list[tuple[str, ObjectId]]:
        """``(name, commit id)`` of every branch, by name."""
        body = self._json("GET", f"{_repo(repo)}/branches")
        return [(item["name"], ObjectId(item["commit"])) for item in body["branches"]]

    def get_branch(self, repo: str, name: str) -> ObjectId:
        """The commit a branch points at.

        Raises:
            RefNotFound: if there is no such branch.
        """
        return ObjectId(self._json("GET", f"{_repo(repo)}/branches/{_ref(name)}")["commit"])

    def head(self, repo: str, branch: str) -> ObjectId | None:
        """The commit a branch points at, or None if it does not exist (yet)."""
        try:
            return self.get_branch(repo, branch)
        except RefNotFound:
            return None

    def create_branch(self, repo: str, name: str, from_rev: str | None = None) -> ObjectId:
        """Create a branch at a revision (default: the default branch's head).

        Raises:
            AlreadyExists: if the branch exists.
            InvalidInput: for a bad name or a revision that names nothing.
        """
        body = {"name": name} | ({"from": from_rev} if from_rev else {})
        return ObjectId(self._json("POST", f"{_repo(repo)}/branches", json=body)["commit"])

    def move_branch(self, repo: str, name: str, commit: str, *, expected: str) -> ObjectId:
        """Point a branch at ``commit`` if it still points at ``expected``.

        Raises:
            RefConflict: if it moved; ``actual`` is where it points now.
            RefNotFound: if there is no such branch.
        """
        body = {"commit": commit, "expected": expected}
        path = f"{_repo(repo)}/branches/{_ref(name)}"
        return ObjectId(self._json("PATCH", path, json=body)["commit"])

    def delete_branch(self, repo: str, name: str, expected: str | None = None) -> None:
        """Delete a branch (if it still points at ``expected``, when given).

        Raises:
            RefNotFound: if there is no such branch.
            RefConflict: if it moved away from ``expected``.
            InvalidInput: for the default branch.
        """
        params = {"expected": expected} if expected else None
        self._request("DELETE", f"{_repo(repo)}/branches/{_ref(name)}", params=params)

    def list_tags(self, repo: str) -> list[tuple[str, ObjectId]]:
        """``(name, commit id)`` of every tag, by name."""
        body = self._json("GET", f"{_repo(repo)}/tags")
        return [(item["name"], ObjectId(item["commit"])) for item in body["tags"]]

    def get_tag(self, repo: str, name: str) -> ObjectId:
        """The commit a tag names.

        Raises:
            RefNotFound: if there is no such tag.
        """
        return ObjectId(self._json("GET", f"{_repo(repo)}/tags/{_ref(name)}")["commit"])

    def create_tag(self, repo: str, name: str, rev: str | None = None) -> ObjectId:
        """Tag a revision (default: the default branch's head).

        Raises:
            AlreadyExists: if the tag exists.
        """
        body = {"name": name} | ({"from": rev} if rev else {})
        return ObjectId(self._json("POST", f"{_repo(repo)}/tags", json=body)["commit"])

    def move_tag(self, repo: str, name: str, commit: str, *, expected: str) -> ObjectId:
        """Move a tag (forcing it) if it still names ``expected``.

        Raises:
            RefConflict: if it moved.
        """
        body = {"commit": commit, "expected": expected, "force": True}
        path = f"{_repo(repo)}/tags/{_ref(name)}"
        return ObjectId(self._json("PATCH", path, json=body)["commit"])

    def delete_tag(self, repo: str, name: str) -> None:
        """Delete a tag.

        Raises:
            RefNotFound: if there is no such tag.
        """
        self._request("DELETE", f"{_repo(repo)}/tags/{_ref(name)}")

    # --- history ------------------------------------------------------------------------

    def log(
        self,
        repo: str,
        rev: str | None = None,
        *,
        path: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> LogPage:
        """A page of history, newest first (only commits touching ``path``, if given).

        Raises:
            RevisionNotFound: if ``rev`` names nothing.
        """
        params = _params(ref=rev, path=path, limit=limit, cursor=cursor)
        body = self._json("GET", f"{_repo(repo)}/commits", params=params)
        return LogPage([_log_entry(item) for item in body["commits"]], body["next"])

    def iter_log(
        self, repo: str, rev: str | None = None, *, path: str | None = None, page_size: int = 200
    ) -> Iterator[LogEntry]:
        """The whole history from ``rev``, fetched a page at a time."""
        cursor: str | None = None
        while True:
            page = self.log(repo, rev, path=path, limit=page_size, cursor=cursor)
            yield from page.commits
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get_commit(self, repo: str, rev: str | None = None) -> LogEntry:
        """A commit by revision (default: the default branch's head).

        Raises:
            RevisionNotFound: if it names nothing.
            ChecksumMismatch: if the commit the server sent does not hash to its id.
        """
        if rev is None:
            return self.log(repo, limit=1).commits[0]
        return _log_entry(self._json("GET", f"{_repo(repo)}/commits/{_ref(rev)}"))

    # --- writing ------------------------------------------------------------------------

    def commit(
        self,
        repo: str,
        branch: str,
        changes: Sequence[ClientChange],
        message: str,
        *,
        expected_head: str | None,
        author: str | None = None,
        author_email: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> CommitResult:
        """Apply puts and deletes to ``branch`` as one commit, if its head is ``expected_head``.

        Small contents travel inline; larger ones (and streams, files, iterables) are
        uploaded first, each streamed. ``expected_head=None`` creates the branch.

        Raises:
            RefConflict: the branch is not at ``expected_head``; ``actual`` says where it
                is. Nothing was committed: re-read, rebase the changes, retry.
            InvalidInput: for bad paths, or blobs/paths that do not exist.
            Conflict: if a path crosses a file as if it were a folder.
        """
        operations: list[dict[str, Any]] = []
        files = stored = 0
        for change in changes:
            if isinstance(change, Delete):
                operations.append({"op": "delete", "path": change.path})
                continue
            put: dict[str, Any] = {"op": "put", "path": change.path}
            if change.executable:
                put["executable"] = True
            if isinstance(change, PutBlob):
                put["blob"] = change.blob_id
            elif _is_small(change.source, self.inline_limit):
                put["content"] = base64.b64encode(bytes(change.source)).decode("ascii")  # type: ignore[arg-type]
                put["encoding"] = "base64"
            else:
                blob = self.upload_blob(repo, change.source)
                put["blob"] = blob.id
                files, stored = files + 1, stored + blob.size
            operations.append(put)
        body: dict[str, Any] = {
            "branch": branch,
            "message": message,
            "expected_head": expected_head,
            "changes": operations,
        }
        if author is not None:
            body["author"] = author
        if author_email is not None:
            body["author_email"] = author_email
        if metadata:
            body["metadata"] = dict(metadata)
        answer = self._json("POST", f"{_repo(repo)}/commits", json=body)
        return CommitResult(
            ObjectId(answer["commit"]),
            ObjectId(answer["tree"]),
            bool(answer["created"]),
            ObjectId(answer["parent"]) if answer["parent"] else None,
            files,
            stored,
        )

    def upload_blob(
        self, repo: str, source: Source, *, progress: Progress | None = None
    ) -> StoredBlob:
        """Stream ``source`` to the server as a blob of ``repo``; return its id and size.

        Raises:
            ChecksumMismatch: if the server's id differs from the hash of what was sent.
            InvalidInput: (413) if it is larger than the server accepts.
        """
        with _open_source(source) as (chunks, length):
            upload = _Upload(chunks, progress)
            headers = {"Content-Type": "application/octet-stream"}
            if length is not None:
                headers["Content-Length"] = str(length)
            answer = self._json(
                "POST", f"{_repo(repo)}/objects", content=iter(upload), headers=headers
            )
        sent = ObjectId(upload.digest.hexdigest())
        if answer["id"] != sent or answer["size"] != upload.size:
            raise ChecksumMismatch(sent, str(answer["id"]))
        return StoredBlob(sent, upload.size)

    def upload_missing(
        self, repo: str, sources: Mapping[str, Source], *, progress: Progress | None = None
    ) -> list[StoredBlob]:
        """Upload the sources (keyed by their blob id, hashed locally) the repository lacks.

        This is how a folder is imported remotely: hash locally, send only new bytes,
        then commit every file with ``PutBlob``.

        Raises:
            ChecksumMismatch: if a source's bytes do not hash to its key.
        """
        uploaded: list[StoredBlob] = []
        for blob_id in self.missing_blobs(repo, sources):
            stored = self.upload_blob(repo, sources[blob_id], progress=progress)
            if stored.id != blob_id:
                raise ChecksumMismatch(blob_id, stored.id)
            uploaded.append(stored)
        return uploaded

    def missing_blobs(self, repo: str, blob_ids: Iterable[str]) -> list[ObjectId]:
        """Which of ``blob_ids`` the repository lacks, in the order given (batched)."""
        missing: list[ObjectId] = []
        batch: list[str] = []
        for blob_id in blob_ids:
            batch.append(blob_id)
            if len(batch) == MISSING_BATCH:
                missing += self._missing(repo, batch)
                batch = []
        if batch:
            missing += self._missing(repo, batch)
        return missing

    def _missing(self, repo: str, batch: list[str]) -> list[ObjectId]:
        body = self._json("POST", f"{_repo(repo)}/objects/missing", json={"ids": batch})
        return [ObjectId(item) for item in body["missing"]]

    # --- reading folders and files ------------------------------------------------------

    def list_tree_page(
        self,
        repo: str,
        rev: str | None = None,
        path: str = "",
        *,
        recursive: bool = False,
        after: str | None = None,
        limit: int = 1000,
    ) -> TreePage:
        """One page of the folder at ``path`` in ``rev``.

        Raises:
            RevisionNotFound, PathNotFound: if either is missing.
            NotAFile: if the path is a file.
        """
        params = _params(
            ref=rev, path=path or None, recursive="true" if recursive else None, after=after
        )
        params["limit"] = str(limit)
        body = self._json("GET", f"{_repo(repo)}/tree", params=params)
        entries = [_listed(item) for item in body["entries"]]
        return TreePage(ObjectId(body["commit"]), body["path"], entries, body["next"])

    def list_tree(
        self,
        repo: str,
        rev: str | None = None,
        path: str = "",
        *,
        recursive: bool = False,
        page_size: int = 1000,
    ) -> Iterator[ListedEntry]:
        """Every entry of the folder (recursively: depth first), fetched page by page.

        Later pages read the commit the first page resolved, so a branch that moves
        meanwhile cannot mix two snapshots.
        """
        page = self.list_tree_page(repo, rev, path, recursive=recursive, limit=page_size)
        yield from page.entries
        while page.next is not None:
            page = self.list_tree_page(
                repo, page.commit, path, recursive=recursive, after=page.next, limit=page_size
            )
            yield from page.entries

    def stat(self, repo: str, rev: str | None, path: str) -> ListedEntry:
        """The entry at ``path`` (the root, a tree named "", when ``path`` is empty).

        Raises:
            RevisionNotFound, PathNotFound: if either is missing.
        """
        body = self._json("GET", f"{_repo(repo)}/stat", params=_params(ref=rev, path=path or None))
        return _listed(body)

    @contextmanager
    def open_file(
        self, repo: str, rev: str | None, path: str, *, start: int | None = None
    ) -> Iterator[httpx.Response]:
        """The streaming download response of a file (``iter_bytes()`` reads it).

        Raises:
            RevisionNotFound, PathNotFound: if either is missing.
            NotAFile: if the path is a folder.
        """
        headers = {"Range": f"bytes={start}-"} if start else None
        params = _params(ref=rev, path=path)
        with self._stream("GET", f"{_repo(repo)}/files", params=params, headers=headers) as answer:
            yield answer

    def iter_file(
        self, repo: str, rev: str | None, path: str, *, chunk_size: int = CHUNK_SIZE
    ) -> Iterator[bytes]:
        """The file's bytes, chunk by chunk, checked against its id at the end.

        Raises:
            ChecksumMismatch: if the bytes do not hash to the blob id.
        """
        with self.open_file(repo, rev, path) as answer:
            yield from _verified(answer, chunk_size)

    def read_file(self, repo: str, rev: str | None, path: str) -> bytes:
        """The whole content of a file (use ``download`` or ``iter_file`` for large ones)."""
        return b"".join(self.iter_file(repo, rev, path))

    def read_range(self, repo: str, rev: str | None, path: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of a file, clipped to its size."""
        if end <= start:
            return b""
        params = _params(ref=rev, path=path)
        headers = {"Range": f"bytes={start}-{end - 1}"}
        try:
            answer = self._request("GET", f"{_repo(repo)}/files", params=params, headers=headers)
        except InvalidInput as error:
            if getattr(error, "status", None) == 416:
                return b""
            raise
        return answer.content

    def download(
        self,
        repo: str,
        rev: str | None,
        path: str,
        destination: str | os.PathLike[str] | IO[bytes],
        *,
        chunk_size: int = CHUNK_SIZE,
        progress: Progress | None = None,
    ) -> int:
        """Write a file to ``destination`` (a path or a binary file); return the size.

        A path is written through a temporary file beside it and renamed into place only
        once every byte has arrived and matches the blob id.

        Raises:
            ChecksumMismatch: if the bytes do not hash to the blob id.
        """
        chunks = self.iter_file(repo, rev, path, chunk_size=chunk_size)
        return self._download(destination, chunks, progress)

    def download_blob(
        self,
        repo: str,
        blob_id: str,
        destination: str | os.PathLike[str] | IO[bytes],
        *,
        chunk_size: int = CHUNK_SIZE,
        progress: Progress | None = None,
    ) -> int:
        """Write a blob of the repository to ``destination``; return the size.

        Raises:
            ObjectNotFound: if the repository does not have it.
            ChecksumMismatch: if the bytes do not hash to ``blob_id``.
        """

        def chunks() -> Iterator[bytes]:
            with self._stream("GET", f"{_repo(repo)}/objects/{quote(blob_id, safe='')}") as answer:
                yield from _verified(answer, chunk_size)

        return self._download(destination, chunks(), progress)

    @staticmethod
    def _download(
        destination: str | os.PathLike[str] | IO[bytes],
        chunks: Iterator[bytes],
        progress: Progress | None,
    ) -> int:
        size = 0

        def write_all(out: IO[bytes]) -> None:
            nonlocal size
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
                if progress:
                    progress(len(chunk))

        if not isinstance(destination, (str, os.PathLike)):
            write_all(destination)
            return size
        target = Path(destination)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                write_all(out)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return size

    # --- comparing ----------------------------------------------------------------------

    def diff(
        self, repo: str, old_rev: str, new_rev: str, path: str = "", *, page_size: int = 1000
    ) -> list[Change]:
        """Files added, deleted, modified or changed in mode between two revisions.

        Raises:
            RevisionNotFound, PathNotFound: if a revision or the path is missing.
        """
        changes: list[Change] = []
        after: str | None = None
        base, head = old_rev, new_rev
        while True:
            params = _params(base=base, head=head, path=path or None, after=after)
            params["limit"] = str(page_size)
            body = self._json("GET", f"{_repo(repo)}/compare", params=params)
            changes += [_change(item) for item in body["changes"]]
            if body["next"] is None:
                return changes
            after, base, head = body["next"], body["base"], body["head"]

    # --- merging ------------------------------------------------------------------------

    def merge(
        self,
        repo: str,
        source: str,
        into: str,
        *,
        message: str | None = None,
        strategy: str | None = None,
        resolutions: Mapping[str, MergeResolution] | None = None,
        fast_forward: bool = True,
        author: str | None = None,
        author_email: str | None = None,
    ) -> MergeResult:
        """Merge revision ``source`` into branch ``into`` (fast-forward or a merge commit).

        Raises:
            MergeConflict: paths changed differently on both sides; ``conflicts`` lists
                them and nothing was written. Retry with ``strategy`` or ``resolutions``.
            RefConflict: ``into`` moved meanwhile; ``actual`` is its head now.
            InvalidInput: for a bad body, or a revision or branch that does not exist.
        """
        body: dict[str, Any] = {"source": source, "into": into}
        if not fast_forward:
            body["fast_forward"] = False
        options = _merge_options(message, strategy, resolutions, author, author_email)
        return _merge_result(self._json("POST", f"{_repo(repo)}/merges", json=body | options))

    def revert(
        self,
        repo: str,
        rev: str,
        branch: str,
        *,
        mainline: int = 1,
        message: str | None = None,
        strategy: str | None = None,
        resolutions: Mapping[str, MergeResolution] | None = None,
        author: str | None = None,
        author_email: str | None = None,
    ) -> MergeResult:
        """Add a commit to ``branch`` undoing ``rev`` (against its parent ``mainline``).

        Raises:
            MergeConflict, RefConflict, InvalidInput: as for ``merge``.
        """
        body: dict[str, Any] = {"commit": rev, "branch": branch, "mainline": mainline}
        options = _merge_options(message, strategy, resolutions, author, author_email)
        return _merge_result(self._json("POST", f"{_repo(repo)}/reverts", json=body | options))

    def cherry_pick(
        self,
        repo: str,
        rev: str,
        onto: str,
        *,
        mainline: int = 1,
        message: str | None = None,
        strategy: str | None = None,
        resolutions: Mapping[str, MergeResolution] | None = None,
        author: str | None = None,
        author_email: str | None = None,
    ) -> MergeResult:
        """Apply the change ``rev`` made (against its parent ``mainline``) onto ``onto``.

        Raises:
            MergeConflict, RefConflict, InvalidInput: as for ``merge``.
        """
        body: dict[str, Any] = {"commit": rev, "onto": onto, "mainline": mainline}
        options = _merge_options(message, strategy, resolutions, author, author_email)
        path = f"{_repo(repo)}/cherry-picks"
        return _merge_result(self._json("POST", path, json=body | options))

    # --- HTTP ---------------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            answer = self._http.request(method, url, **kwargs)
        except httpx.TransportError as error:
            raise ServerUnreachable(f"cannot reach {self.base_url}: {error}") from error
        if answer.is_error:
            raise problem_error(answer)
        return answer

    def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        return self._request(method, url, **kwargs).json()

    @contextmanager
    def _stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self._http.stream(method, url, **kwargs) as answer:
                if answer.is_error:
                    answer.read()
                    raise problem_error(answer)
                yield answer
        except httpx.TransportError as error:
            raise ServerUnreachable(f"cannot reach {self.base_url}: {error}") from error


# --- problems to errors -------------------------------------------------------------------


def _slug(cls: type[DataWorkflowError]) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__).lower()


PROBLEM_TYPES: dict[str, type[DataWorkflowError]] = {
    _slug(value): value
    for value in vars(errors).values()
    if isinstance(value, type) and issubclass(value, DataWorkflowError)
}
PROBLEM_TYPES["invalid-parameters"] = InvalidInput
PROBLEM_TYPES["invalid-content"] = InvalidInput

_BY_STATUS: dict[int, type[DataWorkflowError]] = {
    401: AuthenticationRequired,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}

# Structured members of a problem and the error attributes they fill.
_FIELDS: dict[str, dict[str, str]] = {
    "RefConflict": {"name": "ref", "expected": "expected", "actual": "current"},
    "RepositoryNotFound": {"name": "repository"},
    "RefNotFound": {"name": "ref"},
    "ObjectNotFound": {"object_id": "object_id", "kind": "kind"},
    "PathNotFound": {"path": "path", "revision": "revision"},
    "InvalidObjectId": {"text": "text"},
    "MergeConflict": {"conflicts": "conflicts"},
    "ProtectedBranch": {"branch": "branch", "action": "action"},
}


def problem_error(answer: httpx.Response) -> DataWorkflowError:
    """The ``DataWorkflowError`` an error response stands for.

    The problem's ``type`` names the error class (``.../docs#problem-ref-conflict``);
    plain HTTP errors map by status (401 ``AuthenticationRequired``, 403
    ``PermissionDenied``, 404 ``NotFound``, 409 ``Conflict``, 429 ``RateLimited``, other
    4xx ``InvalidInput``, 5xx ``DataWorkflowError``). The message is the server's
    ``detail``, and ``status`` and ``problem`` are set on the error; a ``RateLimited``
    carries the ``Retry-After`` seconds as ``retry_after``.
    """
    try:
        problem = answer.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    status = answer.status_code
    detail = problem.get("detail") or f"the server answered {status} {answer.reason_phrase}"
    kind = str(problem.get("type", ""))
    cls = PROBLEM_TYPES.get(kind.rpartition("#problem-")[2]) if "#problem-" in kind else None
    if cls is None:
        cls = _BY_STATUS.get(status, InvalidInput if status < 500 else DataWorkflowError)
    error = cls.__new__(cls)
    DataWorkflowError.__init__(error, str(detail))
    for attribute, member in _FIELDS.get(cls.__name__, {}).items():
        setattr(error, attribute, problem.get(member))
    if isinstance(error, errors.MergeConflict) and not isinstance(error.conflicts, list):
        error.conflicts = []
    if isinstance(error, RateLimited):
        retry = answer.headers.get("Retry-After", "")
        error.retry_after = int(retry) if retry.isdigit() else 0
    vars(error).update(status=status, problem=problem)
    return error


# --- JSON to values -----------------------------------------------------------------------


def _repo(name: str) -> str:
    return f"repos/{quote(name, safe='')}"


def _ref(name: str) -> str:
    """A ref name or revision as the last URL segments: ``/`` kept, the rest quoted."""
    return quote(name, safe="/~^")


def _params(**values: Any) -> dict[str, str]:
    return {key: str(value) for key, value in values.items() if value is not None}


def _repository(item: Mapping[str, Any]) -> RepositoryInfo:
    created = item.get("created_at")
    return RepositoryInfo(
        item["name"],
        item["description"],
        item["default_branch"],
        bool(item["private"]),
        datetime.fromisoformat(created) if created else None,
    )


def _signature(item: Mapping[str, Any]) -> Signature:
    return Signature.from_datetime(
        item["name"], item["email"], datetime.fromisoformat(item["time"])
    )


def _log_entry(item: Mapping[str, Any]) -> LogEntry:
    """A commit rebuilt from JSON; its recomputed id must be the id the server sent."""
    commit = Commit(
        tree=ObjectId(item["tree"]),
        parents=tuple(ObjectId(p) for p in item["parents"]),
        author=_signature(item["author"]),
        committer=_signature(item["committer"]),
        message=item["message"],
        metadata=tuple(item["metadata"].items()),
    )
    if commit.id != item["id"]:
        raise ChecksumMismatch(item["id"], commit.id)
    return LogEntry(ObjectId(item["id"]), commit)


def _entry(name: str, mode: str, object_id: str) -> TreeEntry:
    file_mode = FileMode(mode)
    return TreeEntry(name, file_mode, file_mode.kind, ObjectId(object_id))


def _listed(item: Mapping[str, Any]) -> ListedEntry:
    return ListedEntry(item["path"], _entry(item["name"], item["mode"], item["id"]), item["size"])


def _change(item: Mapping[str, Any]) -> Change:
    old_path = item.get("old_path")
    old_name = (old_path or item["path"]).rsplit("/", 1)[-1]
    new_name = item["path"].rsplit("/", 1)[-1]
    old = _entry(old_name, item["old_mode"], item["old_id"]) if item["old_id"] else None
    new = _entry(new_name, item["new_mode"], item["new_id"]) if item["new_id"] else None
    return Change(_STATUS_KIND[item["status"]], item["path"], old, new, old_path)


def _merge_options(
    message: str | None,
    strategy: str | None,
    resolutions: Mapping[str, MergeResolution] | None,
    author: str | None,
    author_email: str | None,
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if message is not None:
        options["message"] = message
    if strategy is not None:
        options["strategy"] = strategy
    if resolutions:
        options["resolutions"] = {
            path: {"blob": choice.id, "mode": choice.mode.value}
            if isinstance(choice, TreeEntry)
            else (dict(choice) if isinstance(choice, Mapping) else choice)
            for path, choice in resolutions.items()
        }
    signer = {"name": author, "email": author_email}
    if any(value is not None for value in signer.values()):
        options["author"] = {k: v for k, v in signer.items() if v is not None}
    return options


def _merge_result(item: Mapping[str, Any]) -> MergeResult:
    return MergeResult(
        item["status"],
        ObjectId(item["commit"]),
        ObjectId(item["target"]),
        tuple(ObjectId(b) for b in item["bases"]),
    )


# --- bytes ----------------------------------------------------------------------------------


def _is_small(source: Source, limit: int) -> bool:
    return isinstance(source, (bytes, bytearray, memoryview)) and len(source) <= limit


@contextmanager
def _open_source(source: Source) -> Iterator[tuple[Iterable[bytes], int | None]]:
    """The chunks of a source and its length when known (then no chunked encoding)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        yield (data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)), len(data)
    elif isinstance(source, os.PathLike):
        with open(source, "rb") as stream:
            yield _read_chunks(stream), os.fstat(stream.fileno()).st_size
    elif hasattr(source, "read"):
        reader = cast(BinaryIO, source)
        length = None
        try:
            if reader.seekable():
                start = reader.tell()
                length = reader.seek(0, os.SEEK_END) - start
                reader.seek(start)
        except (OSError, AttributeError, ValueError):
            length = None  # a pipe or socket: send it chunked
        yield _read_chunks(reader), length
    elif isinstance(source, str):
        raise InvalidInput("file content must be bytes, a binary stream or a pathlib.Path")
    else:
        yield source, None


def _read_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_SIZE):
        yield chunk


def _verified(answer: httpx.Response, chunk_size: int) -> Iterator[bytes]:
    """The chunks of a download; a whole body must hash to the blob id (its ETag)."""
    etag = answer.headers.get("ETag", "").strip('"')
    # Hashed on a helper thread while the caller writes this chunk and the next arrives
    # (hashlib lets go of the GIL), instead of in turn with them.
    with BackgroundHash() as digest:
        for chunk in answer.iter_bytes(chunk_size):
            digest.update(memoryview(chunk))  # bytes: unchanged while it is hashed
            yield chunk
        actual = digest.hexdigest()
    if answer.status_code == 200 and etag and actual != etag:
        raise ChecksumMismatch(etag, actual)


__all__ = [
    "Change",
    "Client",
    "CommitResult",
    "Delete",
    "ListedEntry",
    "LogEntry",
    "LogPage",
    "MergeResolution",
    "MergeResult",
    "Progress",
    "Put",
    "PutBlob",
    "RepositoryInfo",
    "ServerUnreachable",
    "Source",
    "StoredBlob",
    "TreePage",
]
