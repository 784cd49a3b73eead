"""Packs: bulk puts of small files into a few files, read, listed and deleted like loose objects."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dataworkflow.core.ids import ObjectId
from dataworkflow.errors import ObjectNotFound
from dataworkflow.storage import filesystem as filesystem_module
from dataworkflow.storage import packs as packs_module
from dataworkflow.storage.filesystem import BULK_MIN_FILES, FileSystemStorage
from dataworkflow.storage.packs import PackSet, PackWriter
from tests.storage.test_filesystem_storage import _local_files

MiB = 1024 * 1024


def _small(count: int, salt: str = "") -> list[bytes]:
    return [f"{salt}object {n}\n".encode() * (n % 7 + 1) for n in range(count)]


def _id(data: bytes) -> ObjectId:
    return ObjectId(hashlib.sha256(data).hexdigest())


def _loose(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "objects").glob("??/*") if p.is_file())


def _pack_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "packs").glob("pack-*"))


@pytest.fixture
def storage(tmp_path: Path) -> FileSystemStorage:
    return FileSystemStorage(tmp_path / "store")


@pytest.fixture
def stored(storage: FileSystemStorage, tmp_path: Path) -> list[bytes]:
    """A bulk put of small files (enough to go to the worker processes) and one large one."""
    contents = [*_small(BULK_MIN_FILES + 100), os.urandom(2 * MiB), b""]
    results = list(storage.put_files(_local_files(tmp_path / "src", contents)))
    assert [r.id for r in results] == [_id(c) for c in contents]
    assert all(r.written for r in results)
    return contents


def test_a_bulk_put_packs_small_files_and_leaves_large_ones_loose(
    storage: FileSystemStorage, stored: list[bytes]
) -> None:
    assert _loose(storage.root) == [_id(stored[-2])]
    names = _pack_files(storage.root)
    packs = [n for n in names if n.endswith(".pack")]
    assert packs and len(names) == 2 * len(packs)  # each pack has its index
    assert storage.writes == len(stored)


def test_packed_objects_read_like_loose_ones(
    storage: FileSystemStorage, stored: list[bytes], tmp_path: Path
) -> None:
    for data in stored:
        object_id = _id(data)
        assert storage.exists(object_id)
        assert storage.size(object_id) == len(data)
        with storage.open(object_id) as f:
            assert f.read() == data
        assert storage.read_range(object_id, 3, 11) == data[3:11]
        assert storage.read_range(object_id, len(data) + 5, len(data) + 9) == b""

    out = tmp_path / "out"
    out.mkdir()
    wanted = [(_id(data), str(out / f"{n}"), False) for n, data in enumerate(stored)]
    assert list(storage.get_files(wanted)) == [len(d) for d in stored]
    assert [(out / f"{n}").read_bytes() for n in range(len(stored))] == stored


def test_listings_show_each_object_once_in_id_order(
    storage: FileSystemStorage, stored: list[bytes]
) -> None:
    storage.put_bytes(stored[0])  # already packed: stays so
    loose_too = stored[1]
    path = storage.root / "objects" / _id(loose_too)[:2] / _id(loose_too)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(loose_too)  # an object both loose and packed (an older copy)

    expected = sorted({_id(d) for d in stored})
    infos = list(storage.iter_objects())
    assert [i.id for i in infos] == expected
    assert {i.id: i.size for i in infos} == {_id(d): len(d) for d in stored}
    assert sorted(storage.iter_ids()) == expected


def test_storing_packed_objects_again_writes_nothing(
    storage: FileSystemStorage, stored: list[bytes], tmp_path: Path
) -> None:
    before = _pack_files(storage.root)
    writes = storage.writes

    again = list(storage.put_files(_local_files(tmp_path / "again", stored)))
    assert not any(r.written for r in again)
    assert storage.put_bytes(stored[0]).written is False
    assert storage.put_file(tmp_path / "again" / "f0003", _id(stored[3])).written is False

    assert _pack_files(storage.root) == before
    assert storage.writes == writes


def test_a_batch_packs_each_distinct_object_once(
    storage: FileSystemStorage, tmp_path: Path
) -> None:
    contents = [data for data in _small(BULK_MIN_FILES) for _ in "ab"]  # twins in a batch
    results = list(storage.put_files(_local_files(tmp_path / "src", contents)))

    assert sum(r.written for r in results) == BULK_MIN_FILES
    assert len(list(storage.iter_objects())) == BULK_MIN_FILES


def test_deleting_rewrites_a_pack_without_the_deleted_objects(
    storage: FileSystemStorage, stored: list[bytes]
) -> None:
    small = stored[:-2]
    doomed, kept = small[::2], small[1::2]

    storage.delete_many(_id(d) for d in doomed)

    for data in doomed:
        assert not storage.exists(_id(data))
        with pytest.raises(ObjectNotFound):
            storage.open(_id(data))
    for data in kept:
        with storage.open(_id(data)) as f:
            assert f.read() == data
    assert sorted(i.id for i in storage.iter_objects()) == sorted(
        {_id(d) for d in [*kept, *stored[-2:]]}
    )

    storage.delete_many(_id(d) for d in kept)
    storage.delete(_id(stored[-1]))  # the empty object, packed too
    assert _pack_files(storage.root) == []
    assert [i.id for i in storage.iter_objects()] == [_id(stored[-2])]


def test_a_reader_finds_objects_again_after_another_process_rewrites_their_pack(
    storage: FileSystemStorage, stored: list[bytes]
) -> None:
    small = stored[:-2]
    assert storage.exists(_id(small[0]))  # this process's map is loaded now

    PackSet(str(storage.root / "packs")).remove([_id(small[0])])  # "another process"

    assert not storage.exists(_id(small[0]))
    assert storage.put_bytes(small[0]).written  # not skipped on the strength of a stale map
    for data in small[1:]:
        assert storage.read_range(_id(data), 0, len(data)) == data


def test_a_pack_published_by_another_process_is_found(storage: FileSystemStorage) -> None:
    storage.put_bytes(b"loose")
    assert not storage.exists(_id(b"elsewhere"))  # loads this process's (empty) map

    writer = PackWriter(str(storage.root / "packs"))
    writer.add(_id(b"elsewhere"), b"elsewhere")
    writer.finish(durable=True)

    with storage.open(_id(b"elsewhere")) as f:
        assert f.read() == b"elsewhere"
    assert storage.put_bytes(b"elsewhere").written is False


def test_a_pack_whose_index_was_never_written_is_invisible(
    storage: FileSystemStorage,
) -> None:
    writer = PackWriter(str(storage.root / "packs"))
    writer.add(_id(b"cut short"), b"cut short")
    writer._flush()  # the bytes are in the pack file, as when a crash comes before finish()

    assert not storage.exists(_id(b"cut short"))
    assert list(storage.iter_objects()) == []
    assert storage.put_bytes(b"cut short").written


@pytest.mark.parametrize(
    "damage",
    ["truncate index", "flip index byte", "truncate pack", "remove pack"],
)
def test_a_damaged_pack_is_left_out_not_trusted(
    storage: FileSystemStorage, stored: list[bytes], tmp_path: Path, damage: str
) -> None:
    packs = storage.root / "packs"
    index = sorted(packs.glob("*.idx"))[0]
    pack = index.with_suffix(".pack")
    loaded = packs_module._read_index(str(index))
    assert loaded is not None
    lost = {raw.hex() for raw, _, _ in loaded.entries()}
    for path in (index, pack):
        path.chmod(0o644)
    if damage == "truncate index":
        index.write_bytes(index.read_bytes()[:-1])
    elif damage == "flip index byte":
        data = bytearray(index.read_bytes())
        data[20] ^= 1
        index.write_bytes(bytes(data))
    elif damage == "truncate pack":
        pack.write_bytes(pack.read_bytes()[:-1])
    else:
        pack.unlink()
    fresh = PackSet(str(packs))
    monkeypatch_sets = {str(packs): fresh}

    try:
        packs_module._pack_sets.update(monkeypatch_sets)  # as a new process would see it
        for object_id in lost:
            assert not storage.exists(ObjectId(object_id))
        assert fresh.damaged == [str(index)]
        listed = {i.id for i in storage.iter_objects()}
        assert listed == {_id(d) for d in stored} - lost
        again = list(storage.put_files(_local_files(tmp_path / "again", stored)))
        assert {r.id for r in again if r.written} == lost  # stored anew, in a new pack
    finally:
        packs_module._pack_sets.pop(str(packs), None)


def _imports(storage: FileSystemStorage, tmp_path: Path, count: int) -> list[bytes]:
    """``count`` small bulk puts (one pack each), as many re-imports would leave."""
    contents: list[bytes] = []
    for n in range(count):
        batch = _small(20, salt=f"import {n} ")
        contents += batch
        list(storage.put_files(_local_files(tmp_path / f"import{n}", batch)))
    return contents


def test_many_small_packs_are_merged_into_one(storage: FileSystemStorage, tmp_path) -> None:
    contents = _imports(storage, tmp_path, 5)
    packs = storage.root / "packs"
    assert len(list(packs.glob("*.idx"))) == 5
    assert storage.exists(_id(contents[0]))  # this process's map names the old packs

    merged = PackSet(str(packs)).consolidate(most=3)  # as another process would

    assert merged == 5
    assert len(list(packs.glob("*.idx"))) == len(list(packs.glob("*.pack"))) == 1
    for data in contents:
        with storage.open(_id(data)) as f:
            assert f.read() == data
    assert [i.id for i in storage.iter_objects()] == sorted({_id(d) for d in contents})


def test_bulk_puts_merge_the_small_packs_once_there_are_too_many(
    storage: FileSystemStorage, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(filesystem_module, "REPACK_MOST", 3)
    packs = storage.root / "packs"
    counts = []
    contents: list[bytes] = []
    for n in range(6):
        batch = _small(20, salt=f"import {n} ")
        contents += batch
        list(storage.put_files(_local_files(tmp_path / str(n), batch)))
        counts.append(len(list(packs.glob("*.idx"))))
    assert counts == [1, 2, 3, 1, 2, 3]  # the fourth pack set the four merging
    assert len(list(packs.glob("*.pack"))) == 3
    for data in contents:
        with storage.open(_id(data)) as f:
            assert f.read() == data


def test_bulk_puts_leave_packs_above_the_small_size_to_gc(
    storage: FileSystemStorage, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(filesystem_module, "REPACK_MOST", 2)
    monkeypatch.setattr(filesystem_module, "AUTO_REPACK_SMALL", 10)  # bytes: none is small
    _imports(storage, tmp_path, 4)
    assert len(list((storage.root / "packs").glob("*.idx"))) == 4
    assert storage.repack() == 0  # gc's limit (32 packs) is not reached either


def test_few_or_large_packs_are_left_as_they_are(storage: FileSystemStorage, tmp_path) -> None:
    _imports(storage, tmp_path, 3)
    packs = PackSet(str(storage.root / "packs"))
    before = sorted((storage.root / "packs").iterdir())

    assert packs.consolidate(most=3) == 0  # not more than `most`
    assert packs.consolidate(most=1, small=10) == 0  # none small enough
    assert storage.repack() == 0  # the default: up to 32 packs
    assert sorted((storage.root / "packs").iterdir()) == before


def test_a_miss_lists_the_folder_only_when_it_changed(
    storage: FileSystemStorage, stored: list[bytes], monkeypatch
) -> None:
    packs = storage.root / "packs"
    os.utime(packs, ns=(10**18, 10**18))  # changed long ago
    packs_set = PackSet(str(packs))
    listings = []
    real = packs_module.index_names
    monkeypatch.setattr(packs_module, "index_names", lambda f: listings.append(f) or real(f))

    assert packs_set.find(_id(b"not stored")) is None
    assert packs_set.find(_id(b"still not")) is None  # the folder did not change: one stat
    assert len(listings) == 1

    writer = PackWriter(str(packs))
    writer.add(_id(b"new"), b"new")
    writer.finish(durable=True)  # the folder changes now, within its clock tick
    assert packs_set.find(_id(b"new")) is not None
    assert packs_set.find(_id(b"not stored")) is None  # changed just now: listed again
    assert len(listings) == 3


def test_few_lookups_search_the_indexes_and_many_build_a_map(
    storage: FileSystemStorage, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(packs_module, "_SEARCH_COST", 1)  # 80 objects: room for 13 lookups
    contents = _imports(storage, tmp_path, 3)
    again = [contents[0], *_small(20, salt="import 3 ")]  # one object in two packs
    list(storage.put_files(_local_files(tmp_path / "again", again)))
    packs = PackSet(str(storage.root / "packs"))
    packs.reload()
    missing = [_id(b"never stored %d" % n) for n in range(5)]
    wanted = [_id(data) for data in [*contents, *again]]

    searched = {object_id: packs.find(object_id) for object_id in [*wanted[:3], *missing]}
    assert packs._state[0] is None  # a few lookups: no map
    for object_id in wanted:  # enough to build one
        packs.find(object_id)
    assert packs._state[0] is not None
    mapped = {object_id: packs.find(object_id) for object_id in [*wanted[:3], *missing]}

    assert searched == mapped
    assert all(searched[object_id] is None for object_id in missing)
    first = searched[_id(contents[0])]
    assert first is not None and packs.read(first) == contents[0]
    for data in [*contents, *again]:
        place = packs.find(_id(data))
        assert place is not None and packs.read(place) == data
