"""FileSystemStorage only: atomic writes, path safety, key layout, bounded memory."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tracemalloc
from pathlib import Path

import pytest

from dataworkflow.core.ids import ObjectId
from dataworkflow.errors import ChecksumMismatch, InvalidObjectId
from dataworkflow.storage.filesystem import FileSystemStorage

MiB = 1024 * 1024


class GeneratedStream(io.RawIOBase):
    """``chunks`` distinct 1 MiB chunks made on demand: a large stream that is never in memory."""

    def __init__(self, chunks: int) -> None:
        self._block = bytes(range(256)) * (MiB // 256)
        self._chunks = chunks
        self._index = 0
        self._current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._current:
            if self._index == self._chunks:
                return 0
            self._current = memoryview(self._index.to_bytes(8, "big") + self._block[8:])
            self._index += 1
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n


class FailingStream(io.RawIOBase):
    """Gives ``good`` bytes, then fails the way a dropped upload does."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left == 0:
            raise ConnectionResetError("client went away")
        n = min(len(buffer), self._left)
        buffer[:n] = b"x" * n
        self._left -= n
        return n


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def storage(tmp_path: Path) -> FileSystemStorage:
    return FileSystemStorage(tmp_path / "store")


def test_key_layout(storage: FileSystemStorage) -> None:
    stored = storage.put_bytes(b"hello")
    path = storage.root / "objects" / stored.id[0:2] / stored.id[2:4] / stored.id

    assert path.read_bytes() == b"hello"
    assert files_under(storage.root) == [path]
    assert stat.S_IMODE(path.stat().st_mode) == 0o444  # objects never change


def test_constructing_does_no_io(tmp_path: Path) -> None:
    storage = FileSystemStorage(str(tmp_path / "not" / "yet"))

    assert not storage.root.exists()
    assert list(storage.iter_ids()) == []
    assert not storage.exists(ObjectId("0" * 64))


def test_a_failing_stream_leaves_no_object_and_no_temp_file(storage: FileSystemStorage) -> None:
    with pytest.raises(ConnectionResetError):
        storage.put_stream(io.BufferedReader(FailingStream(3 * MiB + 5)))

    assert list(storage.iter_ids()) == []
    assert files_under(storage.root) == []
    assert storage.writes == 0


def test_a_failed_rename_leaves_no_temp_file(
    storage: FileSystemStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)

    with pytest.raises(OSError, match="disk full"):
        storage.put_bytes(b"never lands")
    with pytest.raises(OSError, match="disk full"):
        storage.put_stream(io.BytesIO(b"never lands either"))

    assert files_under(storage.root) == []


def test_a_checksum_mismatch_leaves_no_temp_file(
    storage: FileSystemStorage, tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"real")

    with pytest.raises(ChecksumMismatch):
        storage.put_file(source, ObjectId(hashlib.sha256(b"fake").hexdigest()))

    assert files_under(storage.root) == []


def test_iter_ids_skips_temp_files_and_strays(storage: FileSystemStorage) -> None:
    stored = storage.put_bytes(b"real object")
    shard = storage.root / "objects" / stored.id[0:2] / stored.id[2:4]
    (shard / ".tmp-abc123").write_bytes(b"half written")
    (shard / "notes.txt").write_bytes(b"not an object")
    misplaced = "ff" * 32  # a valid id in the wrong folder
    (shard / misplaced).write_bytes(b"lost")
    (storage.root / "objects" / "zz").mkdir()
    (storage.root / "objects" / "README").write_bytes(b"hi")
    (storage.root / "tmp").mkdir()
    (storage.root / "tmp" / ("ab" * 32)).write_bytes(b"in flight")

    assert list(storage.iter_ids()) == [stored.id]


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "../../../../../../../../../../../../../../../../../../../../../../etc/passwd",
        "/etc/passwd",
        "../victim",
        "..",
        "aa/../../victim",
    ],
)
def test_ids_that_would_escape_the_folder_are_refused(tmp_path: Path, bad: str) -> None:
    storage = FileSystemStorage(tmp_path / "store")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    source = tmp_path / "source"
    source.write_bytes(b"payload")

    for call in (
        lambda: storage.delete(ObjectId(bad)),
        lambda: storage.open(ObjectId(bad)),
        lambda: storage.read_range(ObjectId(bad), 0, 10),
        lambda: storage.size(ObjectId(bad)),
        lambda: storage.exists(ObjectId(bad)),
        lambda: storage.put_file(source, ObjectId(bad)),
    ):
        with pytest.raises(InvalidObjectId):
            call()

    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "store").exists()


def test_put_file_accepts_a_path(storage: FileSystemStorage, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"from a Path")

    stored = storage.put_file(source)

    assert stored.id == hashlib.sha256(b"from a Path").hexdigest()
    assert storage.writes == 1


def test_put_stream_of_200_mib_stays_in_bounded_memory(storage: FileSystemStorage) -> None:
    chunks = 200
    expected = hashlib.sha256()
    reference = GeneratedStream(chunks)
    while chunk := reference.read(MiB):
        expected.update(chunk)

    tracemalloc.start()
    try:
        stored = storage.put_stream(GeneratedStream(chunks), size_hint=chunks * MiB)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stored.id == expected.hexdigest()
    assert stored.size == chunks * MiB
    assert storage.size(stored.id) == chunks * MiB
    assert peak < 20 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_deferred_sync_skips_fsyncs_until_sync(tmp_path, monkeypatch):
    storage = FileSystemStorage(tmp_path / "store")
    calls = {"fsync": 0, "syncfs": 0}
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: (calls.__setitem__("fsync", calls["fsync"] + 1), real_fsync(fd))[1]
    )
    import dataworkflow.storage.filesystem as fs_module

    real_sync = fs_module._sync_filesystem
    monkeypatch.setattr(
        fs_module,
        "_sync_filesystem",
        lambda folder: (calls.__setitem__("syncfs", 1), real_sync(folder))[1],
    )
    source = tmp_path / "src.bin"
    source.write_bytes(b"deferred")
    with storage.deferred_sync():
        stored = [storage.put_bytes(b"one"), storage.put_file(source)]
    assert calls == {"fsync": 0, "syncfs": 0}
    storage.sync()
    assert calls["syncfs"] == 1
    assert [storage.read_range(s.id, 0, 100) for s in stored] == [b"one", b"deferred"]
    storage.put_bytes(b"durable again")  # outside the block: fsynced as usual
    assert calls["fsync"] >= 2
