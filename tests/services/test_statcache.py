"""The SQLite stat cache: hits, misses, racy entries, persistence and corruption."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest

from dataworkflow.services.folder import hash_files, scan_folder
from dataworkflow.services.statcache import SqliteStatCache, stat_cache_path

NOW = 2_000_000_000 * 10**9
OLD = NOW - 3600 * 10**9
ID_A = hashlib.sha256(b"a").hexdigest()
ID_B = hashlib.sha256(b"b").hexdigest()


def open_cache(path, **kwargs):
    return SqliteStatCache(path, now_ns=NOW, **kwargs)


def test_hit_only_when_size_and_mtime_match(tmp_path):
    with open_cache(tmp_path / "c.sqlite") as cache:
        cache.record("a.txt", 1, OLD, ID_A)
        cache.save()
    with open_cache(tmp_path / "c.sqlite") as cache:
        assert cache.lookup("a.txt", 1, OLD) == ID_A
        assert cache.lookup("a.txt", 2, OLD) is None
        assert cache.lookup("a.txt", 1, OLD + 1) is None
        assert cache.lookup("b.txt", 1, OLD) is None


def test_nothing_is_written_before_save(tmp_path):
    with open_cache(tmp_path / "c.sqlite") as cache:
        cache.record("a.txt", 1, OLD, ID_A)
    with open_cache(tmp_path / "c.sqlite") as cache:
        assert cache.lookup("a.txt", 1, OLD) is None


@pytest.mark.parametrize("age_ns", [0, 10**9, 2 * 10**9 - 1, -(10**9)])
def test_racy_entries_are_neither_recorded_nor_trusted(tmp_path, age_ns):
    mtime = NOW - age_ns
    with open_cache(tmp_path / "c.sqlite") as cache:
        cache.record("a.txt", 1, mtime, ID_A)
        cache.save()
        assert cache.entry_count == 0
    connection = sqlite3.connect(tmp_path / "c.sqlite")
    connection.execute(
        "INSERT INTO entries VALUES (?, ?, ?, ?)", ("a.txt", 1, mtime, ID_A)
    )  # as if an older dw had recorded it
    connection.commit()
    connection.close()
    with open_cache(tmp_path / "c.sqlite") as cache:
        assert cache.lookup("a.txt", 1, mtime) is None


def test_an_entry_just_outside_the_window_is_trusted(tmp_path):
    mtime = NOW - 2 * 10**9 - 1
    with open_cache(tmp_path / "c.sqlite") as cache:
        cache.record("a.txt", 1, mtime, ID_A)
        cache.save()
    with open_cache(tmp_path / "c.sqlite") as cache:
        assert cache.lookup("a.txt", 1, mtime) == ID_A


def test_entries_not_recorded_again_are_dropped_on_save(tmp_path):
    with open_cache(tmp_path / "c.sqlite") as cache:
        cache.record("a.txt", 1, OLD, ID_A)
        cache.record("b.txt", 1, OLD, ID_B)
        cache.save()
    with open_cache(tmp_path / "c.sqlite") as cache:
        assert cache.entry_count == 2
        cache.record("b.txt", 1, OLD, ID_B)  # a.txt is gone from the folder
        cache.save()
    with open_cache(tmp_path / "c.sqlite") as cache:
        assert cache.entry_count == 1
        assert cache.lookup("a.txt", 1, OLD) is None
        assert cache.lookup("b.txt", 1, OLD) == ID_B


def test_corrupt_file_is_recreated(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"garbage " * 1000)
    with open_cache(path) as cache:
        assert cache.warning is None
        cache.record("a.txt", 1, OLD, ID_A)
        cache.save()
    with open_cache(path) as cache:
        assert cache.lookup("a.txt", 1, OLD) == ID_A


def test_unknown_schema_version_is_recreated(tmp_path):
    path = tmp_path / "c.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with open_cache(path) as cache:
        cache.record("a.txt", 1, OLD, ID_A)
        cache.save()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 1
    connection.close()


def test_malformed_rows_are_ignored(tmp_path):
    path = tmp_path / "c.sqlite"
    with open_cache(path) as cache:
        cache.record("a.txt", 1, OLD, ID_A)
        cache.save()
    connection = sqlite3.connect(path)
    connection.execute("INSERT INTO entries VALUES ('b.txt', 1, ?, 'not-an-id')", (OLD,))
    connection.commit()
    connection.close()
    with open_cache(path) as cache:
        assert cache.lookup("b.txt", 1, OLD) is None
        assert cache.lookup("a.txt", 1, OLD) == ID_A


def test_unusable_location_falls_back_to_memory(tmp_path):
    (tmp_path / "file").write_text("in the way")
    with open_cache(tmp_path / "file" / "c.sqlite") as cache:
        assert cache.warning is not None and "not usable" in cache.warning
        cache.record("a.txt", 1, OLD, ID_A)
        cache.save()
        assert cache.lookup("a.txt", 1, OLD) == ID_A


def test_in_memory_cache(tmp_path):
    cache = SqliteStatCache(None, now_ns=NOW)
    cache.record("a.txt", 1, OLD, ID_A)
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
    assert absolute == tmp_path / "cache" / "statcache" / f"{digest}.sqlite"
    assert stat_cache_path(tmp_path / "cache", tmp_path / "other") != absolute


def test_hash_files_uses_the_cache(tmp_path, monkeypatch):
    from dataworkflow.services import folder as folder_module

    root = tmp_path / "src"
    root.mkdir()
    for name in ("a", "b"):
        (root / name).write_bytes(name.encode())
        os.utime(root / name, ns=(OLD, OLD))
    with SqliteStatCache.for_folder(tmp_path / "cache", root, now_ns=NOW) as cache:
        hash_files(scan_folder(root).files, cache)
        cache.save()
    reads = []
    original = folder_module._read_small
    monkeypatch.setattr(folder_module, "_read_small", lambda p: reads.append(p) or original(p))
    with SqliteStatCache.for_folder(tmp_path / "cache", root, now_ns=NOW) as cache:
        files = scan_folder(root).files
        hash_files(files, cache)
    assert reads == []
    assert {f.relpath: f.id for f in files} == {"a": ID_A, "b": ID_B}
