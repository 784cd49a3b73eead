"""FileSystemStorage only: atomic writes, path safety, key layout, bounded memory."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import stat
import tracemalloc
from pathlib import Path

import pytest

from dataworkflow.core.ids import ObjectId
from dataworkflow.errors import ChecksumMismatch, InvalidObjectId, ObjectNotFound
from dataworkflow.storage import filesystem as fs_module
from dataworkflow.storage.filesystem import LAYOUT_FILE, FileSystemStorage

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
    """Objects and temp files: every file but the store's layout file."""
    layout = root / "objects" / LAYOUT_FILE
    return [p for p in root.rglob("*") if p.is_file() and p != layout]


@pytest.fixture
def storage(tmp_path: Path) -> FileSystemStorage:
    return FileSystemStorage(tmp_path / "store")


def test_key_layout(storage: FileSystemStorage) -> None:
    stored = storage.put_bytes(b"hello")
    path = storage.root / "objects" / stored.id[0:2] / stored.id

    assert path.read_bytes() == b"hello"
    assert files_under(storage.root) == [path]
    assert stat.S_IMODE(path.stat().st_mode) == 0o444  # objects never change
    # A new store says which layout it has, so it is never searched in the old one.
    assert (storage.root / "objects" / LAYOUT_FILE).read_bytes().startswith(b"objects/ab/<id>")
    assert not FileSystemStorage(storage.root)._has_legacy()


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
    shard = storage.root / "objects" / stored.id[0:2]
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


# --- put_files: many local files, each read once, in forked processes ------------------


def _local_files(folder: Path, contents: list[bytes]) -> list[tuple[str, int]]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n, data in enumerate(contents):
        path = folder / f"f{n:04d}"
        path.write_bytes(data)
        files.append((str(path), len(data)))
    return files


def test_a_large_file_is_handed_to_the_disk_as_it_is_written(storage, tmp_path, monkeypatch):
    handed: list[tuple[int, int]] = []
    monkeypatch.setattr(
        FileSystemStorage,
        "_start_writeback",
        staticmethod(lambda _fd, offset, length: handed.append((offset, length))),
    )
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(b"s" * 1000)
    large.write_bytes(os.urandom(3 * fs_module.CHUNK_SIZE + 5))
    with storage.deferred_sync():
        storage.put_local(str(small))
        assert handed == []  # one chunk: left to the sync, no system call per small file
        stored = storage.put_local(str(large))
    assert handed[0][0] == 0 and sum(length for _, length in handed) == stored.size
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(handed))
    with storage.open(stored.id) as f:
        assert f.read() == large.read_bytes()


@pytest.mark.parametrize("count", [3, 600])  # below and above BULK_MIN_FILES
def test_put_files_stores_each_file_and_yields_in_order(
    storage: FileSystemStorage, tmp_path: Path, count: int
) -> None:
    contents = [f"file {n % 250}".encode() * (n % 7 + 1) for n in range(count)]
    contents.append(os.urandom(3 * MiB + 7))  # a large file: streamed, not read whole
    files = _local_files(tmp_path / "src", contents)

    stored = list(storage.put_files(files))

    assert [s.id for s in stored] == [hashlib.sha256(c).hexdigest() for c in contents]
    assert [s.size for s in stored] == [len(c) for c in contents]
    distinct = len(set(contents))
    assert storage.writes == sum(s.written for s in stored) == distinct
    assert sorted(storage.iter_ids()) == sorted({s.id for s in stored})
    assert all(
        storage.read_range(s.id, 0, s.size) == c for s, c in zip(stored, contents, strict=True)
    )
    assert list((storage.root / "tmp").iterdir()) == []


def test_put_files_writes_nothing_that_is_stored(
    storage: FileSystemStorage, tmp_path: Path
) -> None:
    files = _local_files(tmp_path / "src", [f"{n}".encode() for n in range(100)])
    list(storage.put_files(files))

    again = FileSystemStorage(storage.root)
    assert [s.written for s in again.put_files(files)] == [False] * 100
    assert again.writes == 0


@pytest.mark.parametrize("count", [100, 600])  # packed here, and by the worker processes
def test_put_files_syncs_once_at_the_end(storage, tmp_path, monkeypatch, count) -> None:
    syncs = []
    monkeypatch.setattr(fs_module, "_sync_filesystem", lambda folder: syncs.append(folder))
    monkeypatch.setattr(fs_module, "_fsync_file", lambda path: syncs.append(path))
    files = _local_files(tmp_path / "src", [f"{n}".encode() for n in range(count)])
    stored = storage.put_files(files)
    next(stored)
    assert syncs == []
    assert len(list(stored)) == count - 1
    assert len(syncs) == 1


def test_sync_fsyncs_a_few_known_files_and_syncs_the_filesystem_otherwise(
    storage, tmp_path, monkeypatch
) -> None:
    storage.put_bytes(b"makes the store")
    syncfs: list[str] = []
    fsynced: list[str] = []
    monkeypatch.setattr(fs_module, "_sync_filesystem", lambda folder: syncfs.append(folder))
    monkeypatch.setattr(fs_module, "_fsync_file", lambda path: fsynced.append(path))
    monkeypatch.setattr(fs_module, "_fsync_dir", lambda folder: fsynced.append(folder))

    list(storage.put_files(_local_files(tmp_path / "a", [b"a%d" % n for n in range(20)])))
    (index,) = (storage.root / "packs").glob("*.idx")
    assert (syncfs, fsynced) == ([], [str(index), str(storage.root / "packs")])

    with storage.deferred_sync():  # folders made on the way: sync() cannot name them
        storage.put_bytes(b"b")
    storage.sync()
    assert len(syncfs) == 1

    fsynced.clear()
    beside = [data for data in (b"c%d" % n for n in range(20_000)) if _beside(data, b"b")]
    with storage.deferred_sync():  # into the folder made above: sync() can name both
        stored = storage.put_bytes(beside[0])
    storage.sync()
    folder = storage.root / "objects" / stored.id[:2]
    assert (len(syncfs), fsynced) == (1, [str(folder / stored.id), str(folder)])

    with storage.deferred_sync():
        for data in beside[1 : fs_module.SYNC_FILES_MOST + 2]:
            storage.put_bytes(data)
    storage.sync()
    assert len(syncfs) == 2  # too many to fsync one by one
    storage.sync()
    assert len(syncfs) == 2  # nothing left to sync


def _beside(data: bytes, other: bytes) -> bool:
    """Whether two contents' ids share their fan-out folder."""
    return hashlib.sha256(data).hexdigest()[:2] == hashlib.sha256(other).hexdigest()[:2]


@pytest.mark.parametrize("count", [3, 600])  # below and above BULK_MIN_FILES
def test_put_files_raises_for_a_missing_file(storage, tmp_path, count) -> None:
    files = _local_files(tmp_path / "src", [f"{n}".encode() for n in range(count)])
    missing = str(tmp_path / "src" / "gone")
    files.insert(count // 2, (missing, 10))

    with pytest.raises(FileNotFoundError) as caught:
        list(storage.put_files(files))
    assert caught.value.filename == missing


def test_put_files_stopped_early_cancels_the_rest(storage, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(fs_module, "PACK_BATCH_FILES", 256)  # 12 batches, not 6
    files = _local_files(tmp_path / "src", [f"{n}".encode() for n in range(3000)])
    stored = storage.put_files(files)
    next(stored)
    stored.close()

    assert storage.writes == 1
    assert len(list(storage.iter_ids())) < 3000  # batches not yet started never ran


# --- get_files: objects out to new local files, verified ---------------------------------


@pytest.mark.parametrize("count", [3, 600])  # below and above BULK_MIN_FILES
def test_get_files_writes_verified_files_with_modes(storage, tmp_path, count) -> None:
    contents = [f"object {n}".encode() * (n % 5 + 1) for n in range(count)]
    contents[1] = os.urandom(3 * 1024 * 1024 + 5)  # read in several chunks
    ids = [storage.put_bytes(c).id for c in contents]
    out = tmp_path / "out"
    out.mkdir()
    wanted = [(i, str(out / f"f{n}"), n % 2 == 1) for n, i in enumerate(ids)]

    sizes = list(storage.get_files(wanted))

    assert sizes == [len(c) for c in contents]
    for n, data in enumerate(contents):
        assert (out / f"f{n}").read_bytes() == data
        assert bool((out / f"f{n}").stat().st_mode & stat.S_IXUSR) == (n % 2 == 1)


@pytest.mark.parametrize("count", [3, 600])  # below and above BULK_MIN_FILES
def test_get_files_refuses_corrupt_objects_and_removes_the_file(storage, tmp_path, count) -> None:
    ids = [storage.put_bytes(f"object {n}".encode()).id for n in range(count)]
    bad = ids[count // 2]
    path = Path(storage._path(bad))
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(ChecksumMismatch) as caught:
        list(storage.get_files([(i, str(out / i), False) for i in ids]))
    assert caught.value.expected == bad
    assert not (out / bad).exists()


def test_get_files_reports_a_missing_object(storage, tmp_path) -> None:
    from dataworkflow.errors import ObjectNotFound

    ids = [storage.put_bytes(f"object {n}".encode()).id for n in range(100)]
    storage.delete(ids[40])
    with pytest.raises(ObjectNotFound) as caught:
        list(storage.get_files([(i, str(tmp_path / i), False) for i in ids]))
    assert caught.value.object_id == ids[40]


def test_get_files_never_replaces_or_follows_an_existing_file(storage, tmp_path) -> None:
    ids = [storage.put_bytes(f"object {n}".encode()).id for n in range(100)]
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    planted = tmp_path / ids[70]
    planted.symlink_to(victim)

    with pytest.raises(FileExistsError):
        list(storage.get_files([(i, str(tmp_path / i), False) for i in ids]))
    assert victim.read_bytes() == b"keep me"


def test_a_relative_root_works_from_the_current_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = FileSystemStorage(".dataworkflow")  # as the default settings give
    files = _local_files(tmp_path / "src", [b"one", b"two"])

    stored = [storage.put_bytes(b"hello"), *storage.put_files(files)]

    assert [storage.read_range(s.id, 0, 10) for s in stored] == [b"hello", b"one", b"two"]
    assert (tmp_path / ".dataworkflow" / "objects").is_dir()


def test_without_processes_the_batches_run_here(storage, tmp_path, monkeypatch) -> None:
    """No /dev/shm, a daemonic process, a process limit: the work is done in-process."""

    def no_pool(*args, **kwargs):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(fs_module, "ProcessPoolExecutor", no_pool)
    contents = [f"object {n}".encode() for n in range(300)]
    files = _local_files(tmp_path / "src", contents)

    stored = list(storage.put_files(files))
    out = tmp_path / "out"
    out.mkdir()
    sizes = list(storage.get_files([(s.id, str(out / s.id), False) for s in stored]))

    assert [s.id for s in stored] == [hashlib.sha256(c).hexdigest() for c in contents]
    assert storage.writes == 300
    assert sizes == [len(c) for c in contents]


def test_writes_make_missing_fan_out_folders_whichever_they_try_first(tmp_path, monkeypatch):
    storage = FileSystemStorage(tmp_path)
    made: list[str] = []
    mkdir = os.mkdir
    monkeypatch.setattr(os, "mkdir", lambda path, *a: made.append(str(path)) or mkdir(path, *a))
    datas = [f"object {n}".encode() for n in range(6)]
    for data in datas[:3]:  # a new store: each folder is new, so mkdir comes first
        storage.put_bytes(data)
    first = len(made)
    assert first >= 4  # the objects folder, then one folder per object
    made.clear()
    storage.put_bytes(datas[0] + b"!")  # ...until a folder exists
    storage.put_bytes(datas[0] + b"?")
    for data in datas[:3]:
        storage.delete(hashlib.sha256(data).hexdigest())
    # Folders removed behind the storage's back are made again.
    for folder in list((tmp_path / "objects").iterdir()):
        if folder.is_dir():
            for leftover in folder.iterdir():
                leftover.unlink()
            folder.rmdir()
    for data in datas:
        stored = storage.put_bytes(data)
        with storage.open(stored.id) as f:
            assert f.read() == data
    assert list(storage.iter_ids()) and all(storage.exists(i) for i in storage.iter_ids())


def _cut_short(storage: FileSystemStorage, object_id: str) -> Path:
    """Leave the object as a crash before its deferred sync can: the name, no bytes."""
    path = Path(storage._path(ObjectId(object_id)))
    path.chmod(0o644)
    path.write_bytes(b"")
    path.chmod(0o444)
    return path


@pytest.mark.parametrize("how", ["bytes", "file", "file with id", "files", "large file"])
def test_an_object_cut_short_by_a_crash_is_written_again(storage, tmp_path, how) -> None:
    data = os.urandom(2 * MiB + 1) if how == "large file" else b"the bytes of an object"
    object_id = storage.put_bytes(data).id
    path = _cut_short(storage, object_id)
    source = tmp_path / "source"
    source.write_bytes(data)

    if how == "bytes":
        stored = storage.put_bytes(data)
    elif how in ("file", "large file"):
        stored = storage.put_file(source)
    elif how == "file with id":
        stored = storage.put_file(source, object_id)
    else:
        (stored,) = storage.put_files([(str(source), len(data))])

    assert stored.id == object_id and stored.written
    assert path.read_bytes() == data
    assert storage.put_bytes(data).written is False  # and now it is trusted again


# --- the old two-level layout: read in place, then upgraded ---------------------------


def _old_store(root: Path, contents: list[bytes]) -> list[str]:
    """A store as code before the one-level layout left it: ``objects/ab/cd/<id>``."""
    ids = []
    for data in contents:
        object_id = hashlib.sha256(data).hexdigest()
        folder = root / "objects" / object_id[:2] / object_id[2:4]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / object_id).write_bytes(data)
        (folder / object_id).chmod(0o444)
        ids.append(object_id)
    return ids


def test_a_store_in_the_old_layout_is_read_where_it_is(tmp_path: Path) -> None:
    old = [f"old object {n}".encode() * (n + 1) for n in range(40)]
    ids = _old_store(tmp_path, old)
    storage = FileSystemStorage(tmp_path)
    new = storage.put_bytes(b"written after the upgrade of the code")

    assert (tmp_path / "objects" / new.id[:2] / new.id).is_file()
    assert not (tmp_path / "objects" / LAYOUT_FILE).exists()  # not every object is moved
    for object_id, data in zip(ids, old, strict=True):
        assert storage.exists(ObjectId(object_id))
        assert storage.size(ObjectId(object_id)) == len(data)
        assert storage.read_range(ObjectId(object_id), 1, 5) == data[1:5]
        with storage.open(ObjectId(object_id)) as f:
            assert f.read() == data
    everything = sorted([*ids, new.id])
    assert [info.id for info in storage.iter_objects()] == everything  # in id order
    assert sorted(storage.iter_ids()) == everything
    # Writing what is stored in the old place writes nothing.
    source = tmp_path / "source"
    source.write_bytes(old[0])
    assert not storage.put_bytes(old[1]).written
    assert not storage.put_file(source, ObjectId(ids[0])).written
    assert not storage.put_file(source).written
    assert [s.written for s in storage.put_files([(str(source), len(old[0]))] * 600)] == [
        False
    ] * 600
    assert storage.writes == 1
    # Bulk reads find old objects, in the pool and on this thread.
    for count in (2, 600):
        out = tmp_path / f"out{count}"
        out.mkdir()
        wanted = [(ObjectId(ids[n % 40]), str(out / f"f{n}"), False) for n in range(count)]
        assert list(storage.get_files(wanted)) == [len(old[n % 40]) for n in range(count)]
    storage.delete(ObjectId(ids[0]))
    assert not storage.exists(ObjectId(ids[0]))
    with pytest.raises(ObjectNotFound):
        storage.open(ObjectId(ids[0]))


def test_upgrade_layout_moves_every_object_once(tmp_path: Path) -> None:
    contents = [f"object {n}".encode() for n in range(300)]
    ids = _old_store(tmp_path, contents)
    stray_folder = tmp_path / "objects" / ids[0][:2] / ids[0][2:4]
    (stray_folder / ".tmp-0123abcd").write_bytes(b"a write a crash cut short")
    storage = FileSystemStorage(tmp_path)
    progress: list[int] = []

    assert storage.upgrade_layout(progress.append) == 300

    assert progress and progress[-1] == 300 and progress == sorted(progress)
    objects = tmp_path / "objects"
    assert sorted(p.name for p in files_under(tmp_path) if p.name != ".tmp-0123abcd") == sorted(ids)
    for object_id, data in zip(ids, contents, strict=True):
        assert (objects / object_id[:2] / object_id).read_bytes() == data
    # Emptied old folders are gone; one holding something else stays, stray and all.
    assert [p for p in objects.glob("*/*") if p.is_dir()] == [stray_folder]
    assert (objects / LAYOUT_FILE).is_file()
    fresh = FileSystemStorage(tmp_path)
    assert not fresh._has_legacy()  # reads look in one place only from now on
    assert sorted(fresh.iter_ids()) == sorted(ids)
    assert fresh.upgrade_layout() == 0
    assert FileSystemStorage(tmp_path / "no store yet").upgrade_layout() == 0
    assert not (tmp_path / "no store yet").exists()


@pytest.mark.parametrize("whole", ["old", "new"])
def test_upgrade_layout_keeps_the_whole_copy_of_an_object_in_both_places(tmp_path, whole) -> None:
    data = b"the same object, twice"
    (object_id,) = _old_store(tmp_path, [data])
    storage = FileSystemStorage(tmp_path)
    new_place = tmp_path / "objects" / object_id[:2] / object_id
    old_place = tmp_path / "objects" / object_id[:2] / object_id[2:4] / object_id
    new_place.write_bytes(b"" if whole == "old" else data)  # the other was cut short
    if whole == "new":
        old_place.chmod(0o644)
        old_place.write_bytes(b"")

    assert storage.upgrade_layout() == 1

    assert new_place.read_bytes() == data and not old_place.exists()


def test_an_interrupted_upgrade_loses_nothing_and_can_run_again(tmp_path, monkeypatch) -> None:
    contents = [f"object {n}".encode() for n in range(50)]
    ids = _old_store(tmp_path, contents)
    replace = os.replace
    moves = {"left": 20}

    def crash_after_some(src, dst):
        if moves["left"] == 0:
            raise OSError("power cut")
        moves["left"] -= 1
        replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_after_some)
    with pytest.raises(OSError, match="power cut"):
        FileSystemStorage(tmp_path).upgrade_layout()
    monkeypatch.setattr(os, "replace", replace)

    assert not (tmp_path / "objects" / LAYOUT_FILE).exists()
    storage = FileSystemStorage(tmp_path)
    for object_id, data in zip(ids, contents, strict=True):
        with storage.open(ObjectId(object_id)) as f:
            assert f.read() == data
    assert storage.upgrade_layout() == 30
    assert sorted(FileSystemStorage(tmp_path).iter_ids()) == sorted(ids)


def test_a_reader_finds_an_object_an_upgrade_moves_between_its_looks(tmp_path, monkeypatch) -> None:
    (object_id,) = _old_store(tmp_path, [b"moving"])
    storage = FileSystemStorage(tmp_path)
    assert storage._has_legacy()
    new_place = storage._path(ObjectId(object_id))
    real_stat = os.stat
    upgrades = []

    def upgrade_after_a_miss(path, *args, **kwargs):
        try:
            return real_stat(path, *args, **kwargs)
        except FileNotFoundError:
            if path == new_place and not upgrades:  # the reader missed the new place
                upgrades.append("moving")
                upgrades.append(FileSystemStorage(tmp_path).upgrade_layout())
            raise

    monkeypatch.setattr(os, "stat", upgrade_after_a_miss)
    assert storage.size(ObjectId(object_id)) == len(b"moving")
    assert upgrades == ["moving", 1]


def test_an_object_an_older_dw_adds_to_an_upgraded_store_shows_once_moved(tmp_path) -> None:
    storage = FileSystemStorage(tmp_path)
    kept = storage.put_bytes(b"stored by this dw")
    (late,) = _old_store(tmp_path, [b"stored by an older dw, after the upgrade"])

    # Listing and reading agree: what reads cannot find is not listed (fsck calls it missing).
    assert list(storage.iter_ids()) == [kept.id]
    assert [info.id for info in storage.iter_objects()] == [kept.id]
    assert not storage.exists(ObjectId(late))
    with pytest.raises(ObjectNotFound):
        storage.open(ObjectId(late))

    assert storage.upgrade_layout() == 1  # dw db upgrade repairs it

    assert sorted(storage.iter_ids()) == sorted([kept.id, late])
    with storage.open(ObjectId(late)) as f:
        assert f.read() == b"stored by an older dw, after the upgrade"
