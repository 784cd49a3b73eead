"""Streaming SHA-256: hash bytes while they pass through, so nothing is read twice."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from dataworkflow.core.ids import ObjectId

CHUNK_SIZE = 1024 * 1024


def hash_bytes(data: bytes) -> ObjectId:
    """The object id of ``data``: what ``sha256sum`` prints for it."""
    return ObjectId(hashlib.sha256(data).hexdigest())


class HashingReader:
    """Wrap a binary stream, hashing and counting what is read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes and add them to the hash."""
        data = self._stream.read(n)
        if data:
            self._hash.update(data)
            self.size += len(data)
        return data

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the rest of the stream in chunks of at most ``chunk_size`` bytes."""
        while chunk := self.read(chunk_size):
            yield chunk

    @property
    def object_id(self) -> ObjectId:
        """The SHA-256 of everything read so far."""
        return ObjectId(self._hash.hexdigest())


def hash_stream(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> tuple[ObjectId, int]:
    """Hash a stream to its end in bounded memory; return its id and size."""
    reader = HashingReader(stream)
    for _ in reader.chunks(chunk_size):
        pass
    return reader.object_id, reader.size
