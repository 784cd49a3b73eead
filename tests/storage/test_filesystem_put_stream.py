"""FileSystemStorage.put_stream: reused buffers, the hash thread, and early write-back."""

from __future__ import annotations

import hashlib
import io
import os
import random
import sys
from pathlib import Path

import pytest

from dataworkflow.storage.filesystem import STREAM_BUFFER, FileSystemStorage


class ReadOnly:
    """A stream with ``read`` only (no ``readinto``), giving short reads."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 700_001))


@pytest.fixture
def storage(tmp_path: Path) -> FileSystemStorage:
    return FileSystemStorage(tmp_path / "store")


@pytest.fixture
def write_backs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The ``(offset, length)`` ranges put_stream hands to the disk early."""
    calls: list[tuple[int, int]] = []
    real = FileSystemStorage._start_writeback

    def record(fd: int, offset: int, length: int) -> None:
        calls.append((offset, length))
        real(fd, offset, length)

    monkeypatch.setattr(FileSystemStorage, "_start_writeback", staticmethod(record))
    return calls


@pytest.mark.parametrize("reader", [io.BytesIO, ReadOnly], ids=["readinto", "read-only"])
def test_a_stream_of_several_buffers(storage, write_backs, reader) -> None:
    data = random.Random(7).randbytes(2 * STREAM_BUFFER + 4321)

    stored = storage.put_stream(reader(data))

    assert (stored.id, stored.size, stored.written) == (
        hashlib.sha256(data).hexdigest(),
        len(data),
        True,
    )
    with storage.open(stored.id) as f:
        assert f.read() == data
    assert len(write_backs) > 2
    ends = [offset + length for offset, length in write_backs]
    assert [offset for offset, _ in write_backs] == [0, *ends[:-1]], "each range once, in order"
    assert ends[-1] == len(data)


def test_deferred_sync_writes_nothing_back_early(storage, write_backs) -> None:
    data = os.urandom(STREAM_BUFFER + 1)
    with storage.deferred_sync():
        stored = storage.put_stream(io.BytesIO(data))
    storage.sync()
    assert stored.id == hashlib.sha256(data).hexdigest()
    assert write_backs == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_write_back_is_available_on_linux() -> None:
    assert FileSystemStorage._sync_file_range() is not None
