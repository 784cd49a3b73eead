"""The stat cache file: hits, misses, racy entries, folder trees, persistence, damage."""

from __future__ import annotations

import hashlib
import marshal
import os

import pytest

from dataworkflow.services.folder import hash_files, record_folders, scan_folder
from dataworkflow.services.statcache import MAGIC, FileStatCache, stat_cache_path

NOW = 2_000_000_000 * 10**9
OLD = NOW - 3600 * 10**9
ID_A = hashlib.sha256(b"a").hexdigest()
ID_B = hashlib.sha256(b"b").hexdigest()
TREE = hashlib.sha256(b"tree").hexdigest()


def open_cache(path, **kwargs):
    return FileStatCache(path, now_ns=NOW, **kwargs)


def file(name, size=1, mtime=OLD, executable=False):
    return (name, size, mtime, executable)


def test_hit_only_when_size_and_mtime_match(tmp_path):
    with open_cache(tmp_path / "c") as cache:
        cache.record_folder("d", (file("a.txt"),), [ID_A], (), TREE)
        cache.save()
    with open_cache(tmp_path / "c") as cache:
        assert cache.lookup("d/a.txt", 1, OLD) == ID_A
        assert cache.lookup("d/a.txt", 2, OLD) is None
        assert cache.lookup("d/a.txt", 1, OLD + 1) is None
        assert cache.lookup("d/b.txt", 1, OLD) is None
        assert cache.lookup("a.txt", 1, OLD) is None  # another folder


def test_a_folder_tree_is_kept_only_for_the_very_same_listing(tmp_path):
    listing = (file("a.txt"), file("b.txt", executable=True))
    with open_cache(tmp_path / "c") as cache:
        cache.record_folder("d", listing, [ID_A, ID_B], ("sub",), TREE)
        cache.save()
    with open_cache(tmp_path / "c") as cache:
        assert cache.lookup_tree("d", listing, ("sub",)) == TREE
        assert cache.lookup_tree("d", listing, ()) is None
        assert cache.lookup_tree("d", listing[:1], ("sub",)) is None
        assert cache.lookup_tree("d", (listing[0], file("b.txt")), ("sub",)) is None
        assert cache.lookup_tree("d", (file("a.txt", 2), listing[1]), ("sub",)) is None
        assert cache.lookup_tree("e", listing, ("sub",)) is None
        cache.save()  # the hit kept the folder
    with open_cache(tmp_path / "c") as cache:
        assert cache.lookup_tree("d", listing, ("sub",)) == TREE
        assert cache.lookup("d/b.txt", 1, OLD) == ID_B


def test_nothing_is_written_before_save(tmp_path):
    with open_cache(tmp_path / "c") as cache:
        cache.record_folder("", (file("a.txt"),), [ID_A], (), TREE)
    with open_cache(tmp_path / "c") as cache:
        assert cache.lookup("a.txt", 1, OLD) is None
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("age_ns", [0, 10**9, 2 * 10**9 - 1, -(10**9)])
def test_racy_entries_are_neither_recorded_nor_trusted(tmp_path, age_ns):
    mtime = NOW - age_ns
    with open_cache(tmp_path / "c") as cache:
        cache.record_folder("", (file("a.txt", mtime=mtime), file("b.txt")), [ID_A, ID_B], (), TREE)
        cache.save()
    with open_cache(tmp_path / "c") as cache:
        assert cache.lookup("a.txt", 1, mtime) is None
        assert cache.lookup("b.txt", 1, OLD) == ID_B
        assert cache.lookup_tree("", (file("a.txt", mtime=mtime), file("b.txt")), ()) is None


def test_an_entry_just_outside_the_window_is_trusted(tmp_path):
    mtime = NOW - 2 * 10**9 - 1
    with open_cache(tmp_path / "c") as cache:
        cache.record_folder("", (file("a.txt", mtime=mtime),), [ID_A], (), TREE)
        cache.save()
    with open_cache(tmp_path / "c") as cache:
        assert cache.lookup("a.txt", 1, mtime) == ID_A
        assert cache.lookup_tree("", (file("a.txt", mtime=mtime),), ()) == TREE


def test_folders_neither_kept_nor_recorded_are_dropped_on_save(tmp_path):
    with open_cache(tmp_path / "c") as cache:
        cache.record_folder("x", (file("a.txt"),), [ID_A], (), TREE)
        cache.record_folder("y", (file("b.txt"),), [ID_B], (), TREE)
        cache.save()
    with open_cache(tmp_path / "c") as cache:
        assert cache.entry_count == 2
        cache.record_folder("y", (file("b.txt"),), [ID_B], (), TREE)  # x is gone
        cache.save()
    with open_cache(tmp_path / "c") as cache:
        assert cache.entry_count == 1
        assert cache.lookup("x/a.txt", 1, OLD) is None
        assert cache.lookup("y/b.txt", 1, OLD) == ID_B


def test_an_unchanged_cache_is_not_rewritten(tmp_path):
    listing = (file("a.txt"),)
    with open_cache(tmp_path / "c") as cache:
        cache.record_folder("", listing, [ID_A], (), TREE)
        cache.save()
    before = os.stat(tmp_path / "c")
    with open_cache(tmp_path / "c") as cache:
        cache.record_folder("", listing, [ID_A], (), TREE)
        cache.save()
    after = os.stat(tmp_path / "c")
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"garbage " * 1000,
        lambda data: b"",
        lambda data: data[:-1],  # torn
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # a flipped bit
        lambda data: b"dataworkflow stat cache 1\n" + data[len(MAGIC) :],  # another version
    ],
)
def test_a_damaged_file_is_ignored_and_replaced(tmp_path, damage):
    path = tmp_path / "c"
    with open_cache(path) as cache:
        cache.record_folder("", (file("a.txt"),), [ID_A], (), TREE)
        cache.save()
    path.write_bytes(damage(path.read_bytes()))
    with open_cache(path) as cache:
        assert cache.warning is None
        assert cache.lookup("a.txt", 1, OLD) is None
        cache.record_folder("", (file("b.txt"),), [ID_B], (), TREE)
        cache.save()
    with open_cache(path) as cache:
        assert cache.lookup("b.txt", 1, OLD) == ID_B


def test_malformed_records_are_ignored(tmp_path):
    def listing(files, subfolders=()):
        return marshal.dumps((files, subfolders), 2)

    path = tmp_path / "c"
    records = {
        "": (listing((file("a.txt"), file("b.txt"))), marshal.dumps((ID_A, "bad")), "not-a-tree"),
        "x": "not a record",
        "y": (listing((file("c.txt"),)), marshal.dumps(()), TREE),  # ids do not match the files
        "z": (b"not marshal data", b"\xff", TREE),
    }
    payload = marshal.dumps(records)
    path.write_bytes(MAGIC + hashlib.sha256(payload).digest() + payload)
    with open_cache(path) as cache:
        assert cache.lookup("a.txt", 1, OLD) == ID_A
        assert cache.lookup("b.txt", 1, OLD) is None
        assert cache.lookup_tree("", (file("a.txt"), file("b.txt")), ()) is None
        assert cache.lookup("x/a.txt", 1, OLD) is None
        assert cache.lookup_tree("x", (), ()) is None
        assert cache.lookup("y/c.txt", 1, OLD) is None
        assert cache.lookup("z/c.txt", 1, OLD) is None
        assert cache.lookup_tree("z", (), ()) is None


def test_a_file_of_the_previous_format_is_read(tmp_path):
    """Version 2 kept each folder as tuples: an upgrade must not re-read every file."""
    path = tmp_path / "c"
    records = {
        "": ((file("a.txt"), file("b.txt")), (ID_A, "not-an-id"), ("v",), None),
        "v": ((file("d.txt", size=3),), (ID_A,), (), TREE),
        "x": "not a record",
    }
    payload = marshal.dumps(records)
    path.write_bytes(b"dataworkflow stat cache 2\n" + hashlib.sha256(payload).digest() + payload)
    with open_cache(path) as cache:
        assert cache.lookup("a.txt", 1, OLD) == ID_A
        assert cache.lookup("b.txt", 1, OLD) is None
        assert cache.lookup_tree("v", (file("d.txt", size=3),), ()) == TREE
        assert cache.lookup_tree("v", (file("d.txt", size=4),), ()) is None
        assert cache.entry_count == 3
        cache.save()
    assert path.read_bytes().startswith(MAGIC)
    with open_cache(path) as cache:
        assert cache.lookup_tree("v", (file("d.txt", size=3),), ()) == TREE


def test_a_marshalled_non_dict_is_ignored(tmp_path):
    payload = marshal.dumps(["a", "list"])
    (tmp_path / "c").write_bytes(MAGIC + hashlib.sha256(payload).digest() + payload)
    with open_cache(tmp_path / "c") as cache:
        assert cache.entry_count == 0


def test_unusable_location_falls_back_to_memory(tmp_path):
    (tmp_path / "file").write_text("in the way")
    with open_cache(tmp_path / "file" / "c") as cache:
        assert cache.warning is not None and "not usable" in cache.warning
        cache.record_folder("", (file("a.txt"),), [ID_A], (), TREE)
        cache.save()
        assert cache.lookup("a.txt", 1, OLD) == ID_A


def test_a_failed_save_is_a_warning(tmp_path):
    path = tmp_path / "cache" / "c"
    with open_cache(path) as cache:
        cache.record_folder("", (file("a.txt"),), [ID_A], (), TREE)
        path.mkdir(parents=True)  # a folder where the file should go
        cache.save()
        assert cache.warning is not None and "could not save" in cache.warning
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


def test_in_memory_cache():
    cache = FileStatCache(None, now_ns=NOW)
    cache.record_folder("", (file("a.txt"),), [ID_A], (), TREE)
    assert cache.lookup("a.txt", 1, OLD) is None  # not before save, as with a file
    cache.save()
    assert cache.lookup("a.txt", 1, OLD) == ID_A
    cache.close()


def test_path_is_keyed_by_the_absolute_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    relative = stat_cache_path(tmp_path / "cache", type(tmp_path)("data"))
    absolute = stat_cache_path(tmp_path / "cache", tmp_path / "data")
    assert relative == absolute
    digest = hashlib.sha256(os.fsencode(tmp_path / "data")).hexdigest()
    assert absolute == tmp_path / "cache" / "statcache" / f"{digest}.cache"
    assert stat_cache_path(tmp_path / "cache", tmp_path / "other") != absolute


def test_hash_files_uses_the_cache(tmp_path, monkeypatch):
    from dataworkflow.services import folder as folder_module

    root = tmp_path / "src"
    (root / "d").mkdir(parents=True)
    for name in ("a", "d/b"):
        (root / name).write_bytes(name[-1].encode())
        os.utime(root / name, ns=(OLD, OLD))
    with FileStatCache.for_folder(tmp_path / "cache", root, now_ns=NOW) as cache:
        scan = scan_folder(root)
        hash_files(scan.files, cache)
        record_folders(cache, scan, scan.files)
        cache.save()
    reads = []
    original = folder_module._read_small
    monkeypatch.setattr(folder_module, "_read_small", lambda p: reads.append(p) or original(p))
    with FileStatCache.for_folder(tmp_path / "cache", root, now_ns=NOW) as cache:
        files = scan_folder(root).files
        hash_files(files, cache)
    assert reads == []
    assert {f.relpath: f.id for f in files} == {"a": ID_A, "d/b": ID_B}


def test_the_sqlite_file_of_an_older_dw_is_removed(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    path = stat_cache_path(tmp_path / "cache", folder)
    path.parent.mkdir(parents=True)
    old = [path.with_suffix(".sqlite"), path.with_suffix(".sqlite-wal")]
    for leftover in old:
        leftover.write_bytes(b"SQLite format 3\0")
    with FileStatCache.for_folder(tmp_path / "cache", folder, now_ns=NOW) as cache:
        assert cache.warning is None
    assert not any(leftover.exists() for leftover in old)
