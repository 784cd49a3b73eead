"""MemoryStorage: a real, thread-safe backend in a dict, for tests and examples."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

from dataworkflow.core.hashing import HashingReader, hash_bytes
from dataworkflow.core.ids import ObjectId, parse_object_id
from dataworkflow.errors import ChecksumMismatch, InvalidInput, ObjectNotFound
from dataworkflow.storage.base import ObjectInfo, StoredObject


class MemoryStorage:
    """Content-addressed objects held in process memory; lost when the process ends.

    Attributes:
        writes: How many objects were actually written (dedupe hits not counted), so tests
            can assert that unchanged content is not stored twice.
    """

    def __init__(self) -> None:
        self.writes = 0
        self._objects: dict[ObjectId, bytes] = {}
        self._stored_at: dict[ObjectId, float] = {}
        self._lock = threading.Lock()

    def put_bytes(self, data: bytes) -> StoredObject:
        """Store ``data``; skip the write if an object with its id exists."""
        return self._store(hash_bytes(data), bytes(data))

    def put_stream(self, stream: BinaryIO, size_hint: int | None = None) -> StoredObject:
        """Store a stream, hashing while reading it (the bytes end up in memory anyway)."""
        reader = HashingReader(stream)
        data = b"".join(reader.chunks())
        return self._store(reader.object_id, data)

    def put_file(
        self, path: str | os.PathLike[str], object_id: ObjectId | None = None
    ) -> StoredObject:
        """Store a local file, verifying ``object_id`` when given.

        Raises:
            ChecksumMismatch: if ``object_id`` is given and the bytes do not match it.
        """
        if object_id is not None:
            expected = parse_object_id(object_id)
            with self._lock:
                stored = self._objects.get(expected)
            if stored is not None:
                return StoredObject(expected, len(stored), written=False)
        with open(path, "rb") as f:
            reader = HashingReader(f)
            data = b"".join(reader.chunks())
        if object_id is not None and reader.object_id != object_id:
            raise ChecksumMismatch(object_id, reader.object_id)
        return self._store(reader.object_id, data)

    def open(self, object_id: ObjectId) -> BinaryIO:
        """Stream an object. Raises ObjectNotFound."""
        return io.BytesIO(self._get(object_id))

    def read_range(self, object_id: ObjectId, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive), clipped to the object.

        Raises:
            InvalidInput: if ``start`` is negative or ``end`` is before ``start``.
            ObjectNotFound: if the object is not stored.
        """
        if start < 0 or end < start:
            raise InvalidInput(f"invalid byte range {start}-{end}: need 0 <= start <= end")
        return self._get(object_id)[start:end]

    def exists(self, object_id: ObjectId) -> bool:
        """Whether the object is stored."""
        key = parse_object_id(object_id)
        with self._lock:
            return key in self._objects

    def size(self, object_id: ObjectId) -> int:
        """The object's size in bytes. Raises ObjectNotFound."""
        return len(self._get(object_id))

    def delete(self, object_id: ObjectId) -> None:
        """Remove the object; a missing object is not an error."""
        key = parse_object_id(object_id)
        with self._lock:
            self._objects.pop(key, None)
            self._stored_at.pop(key, None)

    def iter_ids(self) -> Iterator[ObjectId]:
        """Every stored id (a snapshot, so writes during iteration are safe)."""
        with self._lock:
            ids = list(self._objects)
        return iter(ids)

    def iter_objects(self) -> Iterator[ObjectInfo]:
        """Every stored object with its size and storage time, by id (a snapshot)."""
        with self._lock:
            infos = [
                ObjectInfo(key, len(data), self._stored_at[key])
                for key, data in self._objects.items()
            ]
        return iter(sorted(infos, key=lambda info: info.id))

    def _get(self, object_id: ObjectId) -> bytes:
        key = parse_object_id(object_id)
        with self._lock:
            data = self._objects.get(key)
        if data is None:
            raise ObjectNotFound(key)
        return data

    def _store(self, object_id: ObjectId, data: bytes) -> StoredObject:
        with self._lock:
            if object_id in self._objects:
                return StoredObject(object_id, len(data), written=False)
            self._objects[object_id] = data
            self._stored_at[object_id] = time.time()
            self.writes += 1
        return StoredObject(object_id, len(data), written=True)
