"""The ObjectStorage protocol: content-addressed bytes, keyed by their SHA-256."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

from dataworkflow.core.ids import ObjectId


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What a put produced: the object's id, its size, and whether bytes were written."""

    id: ObjectId
    size: int
    written: bool
    """False when the object already existed and nothing was uploaded."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A stored object as a listing sees it: its id, its size and when it was stored."""

    id: ObjectId
    size: int
    stored_at: float
    """Seconds since the epoch when these bytes were last written (file mtime, S3
    LastModified): garbage collection keeps unreferenced objects younger than its grace."""


@runtime_checkable
class ObjectStorage(Protocol):
    """Content-addressed bytes: the key is the SHA-256 of the value, values never change.

    Writes are atomic (a reader never sees a partial object) and durable before they
    return, so metadata written afterwards never points at missing bytes.
    """

    def put_bytes(self, data: bytes) -> StoredObject:
        """Store ``data``; skip the write if an object with its id exists."""
        ...

    def put_stream(self, stream: BinaryIO, size_hint: int | None = None) -> StoredObject:
        """Store a stream, hashing while writing, in bounded memory.

        ``size_hint`` lets a backend pick single-part or multipart upload up front.
        """
        ...

    def put_file(self, path: str, object_id: ObjectId | None = None) -> StoredObject:
        """Store a local file; when its id is known already the file is read only to copy.

        Raises:
            ChecksumMismatch: if ``object_id`` is given and the bytes do not match it.
        """
        ...

    def open(self, object_id: ObjectId) -> BinaryIO:
        """Stream an object. Raises ObjectNotFound."""
        ...

    def read_range(self, object_id: ObjectId, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive), clipped to the object. Raises ObjectNotFound."""
        ...

    def exists(self, object_id: ObjectId) -> bool:
        """Whether the object is stored."""
        ...

    def size(self, object_id: ObjectId) -> int:
        """The object's size in bytes. Raises ObjectNotFound."""
        ...

    def delete(self, object_id: ObjectId) -> None:
        """Remove the object; deleting a missing object is not an error."""
        ...

    def iter_ids(self) -> Iterator[ObjectId]:
        """Every stored object id, in no particular order."""
        ...


@runtime_checkable
class SupportsPresignedUrls(Protocol):
    """Optional capability: only S3Storage has it."""

    def presigned_url(
        self,
        object_id: ObjectId,
        expires_in: int = 3600,
        *,
        content_disposition: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """A URL that downloads the object without credentials until it expires."""
        ...


@runtime_checkable
class SupportsDeferredSync(Protocol):
    """Optional capability: batch durability for bulk writes (FileSystemStorage has it).

    Writes made by a thread inside ``deferred_sync()`` may skip their own fsyncs; ``sync()``
    then makes everything durable at once. Callers must ``sync()`` before writing any
    metadata that refers to those objects.
    """

    def deferred_sync(self) -> AbstractContextManager[None]:
        """Defer durability of this thread's writes until ``sync()``."""
        ...

    def sync(self) -> None:
        """Make every write so far durable."""
        ...


@runtime_checkable
class SupportsLocalFiles(Protocol):
    """Optional capability: copy many local files in and out, each verified as it goes.

    Each file is read once, hashed while it is copied, so an import need not read it
    twice; the filesystem storage spreads the work over processes (S3 transfers already
    overlap on threads instead).
    """

    def put_files(
        self, files: Sequence[tuple[str, int]], *, durable: bool = True
    ) -> Generator[StoredObject, None, None]:
        """Store ``(path, size)`` files, yielding what each became, in order.

        Everything yielded is durable once the iteration ends (with ``durable`` False,
        once the caller's next ``sync()`` returns); stopping early leaves unreferenced
        objects that garbage collection removes.

        Raises:
            OSError: a file could not be read (FileNotFoundError, PermissionError...).
        """
        ...

    def get_files(self, files: Sequence[tuple[ObjectId, str, bool]]) -> Generator[int, None, None]:
        """Write objects to new local files ``(id, path, executable)``, yielding sizes.

        Raises:
            ObjectNotFound: if an object is not stored.
            ChecksumMismatch: if an object's bytes do not match its id (that file is
                removed).
            OSError: if a file cannot be created.
        """
        ...


@runtime_checkable
class SupportsObjectListing(Protocol):
    """Optional capability: list objects with their sizes and ages, in id order.

    Garbage collection needs the ages (its grace period); integrity checks walk the
    listing beside the blob rows, both sorted by id, instead of asking for each size.
    """

    def iter_objects(self) -> Iterator[ObjectInfo]:
        """Every stored object, in ascending id order."""
        ...


@runtime_checkable
class SupportsDeleteMany(Protocol):
    """Optional capability: delete many objects at once (FileSystemStorage has it).

    Where objects share a file (packs), deleting them together rewrites it once.
    """

    def delete_many(self, object_ids: Iterable[ObjectId]) -> None:
        """Remove the objects; missing ones are not an error."""
        ...


@runtime_checkable
class SupportsRepack(Protocol):
    """Optional capability: tidy how objects are kept (FileSystemStorage merges packs)."""

    def repack(self) -> int:
        """Merge small files of objects; how many were merged (0: nothing to do)."""
        ...


@runtime_checkable
class SupportsLeftovers(Protocol):
    """Optional capability: files that interrupted writes left (FileSystemStorage has it)."""

    def remove_leftovers(self, older_than: float, *, dry_run: bool = False) -> int:
        """Remove those untouched since ``older_than`` (a Unix time); how many there were."""
        ...

    def damaged_files(self) -> list[str]:
        """Files of the store that fail their own checks (paths below the store)."""
        ...


def object_key(prefix: str, object_id: ObjectId) -> str:
    """``{prefix}objects/ab/cd/abcd…``: a fan-out that keeps folders small."""
    return f"{prefix}objects/{object_id[0:2]}/{object_id[2:4]}/{object_id}"
