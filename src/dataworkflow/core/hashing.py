"""Streaming SHA-256: hash bytes while they pass through, so nothing is read twice."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from types import TracebackType
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


class BackgroundHash:
    """SHA-256 of buffers handed over one at a time, hashed on a helper thread.

    hashlib lets go of the GIL while it hashes a large buffer, so the caller can read
    and write the next buffer meanwhile. A buffer given to :meth:`update` must stay
    unchanged until the next ``update`` or :meth:`hexdigest` returns: two buffers used
    in turn are enough. The first buffer is hashed on the calling thread; the helper
    starts with the second, so a small stream never starts one. Use it as a context
    manager, which stops the helper.
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._todo: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._first = True
        self._busy = False

    def update(self, data: memoryview) -> None:
        """Hash ``data`` after the buffers before it; returns once the previous is done."""
        self._wait()
        if self._first:
            self._first = False
            self._hash.update(data)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hash", daemon=True)
            self._thread.start()
        self._busy = True
        self._todo.put(data)

    def hexdigest(self) -> str:
        """The SHA-256 of every buffer given so far."""
        self._wait()
        return self._hash.hexdigest()

    def close(self) -> None:
        """Stop the helper thread (after the buffer it is hashing)."""
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> BackgroundHash:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _wait(self) -> None:
        if self._busy:
            self._busy = False
            error = self._done.get()
            if error is not None:
                raise error

    def _run(self) -> None:
        while (data := self._todo.get()) is not None:
            try:
                self._hash.update(data)
            except BaseException as error:  # handed to the caller's next wait
                self._done.put(error)
            else:
                self._done.put(None)


def hash_stream(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> tuple[ObjectId, int]:
    """Hash a stream to its end in bounded memory; return its id and size."""
    reader = HashingReader(stream)
    for _ in reader.chunks(chunk_size):
        pass
    return reader.object_id, reader.size
