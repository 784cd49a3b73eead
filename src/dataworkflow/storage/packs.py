"""Packs: many small objects in one file, for the local folder storage.

Why: one file per object costs the kernel ~40 us to create and rename (measured here,
20,000 files of 1-8 KiB: 0.9-1.0 s of system time written loose, 0.15-0.4 s appended to
one file, each followed by a sync), and a 4 KiB block and an inode each. So bulk imports
(:meth:`FileSystemStorage.put_files` of 16 files or more) append small objects to packs,
as git's packfiles do; single writes (uploads) stay loose files.

In ``root/packs``, one pair per pack:

- ``pack-<name>.pack``: ``PACK_MAGIC``, then the objects' bytes one after another.
- ``pack-<name>.idx``: ``INDEX_MAGIC`` and the entry count (``>8sQ``), the entries sorted
  by id (``>32sQQ``: binary id, offset in the pack, size), then the SHA-256 of all that.

A pack is visible once its index exists. Its bytes are fsynced before the index is
renamed into place, so no index (after a crash or not) names bytes that are not on disk;
an index that fails its checks (cut short, garbled, naming bytes past the pack's end) is
left out, as if absent, and listed in :attr:`PackSet.damaged`. Objects leave a pack by
rewriting it: survivors go to a new pack, made durable, before the old index and then
the old pack are removed, so every surviving object is in some visible pack throughout.
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import heapq
import operator
import os
import struct
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

PACK_MAGIC = b"DWPACK\x00\x01"
INDEX_MAGIC = b"DWPIDX\x00\x01"
PACK_SUFFIX = ".pack"
INDEX_SUFFIX = ".idx"
_HEADER = struct.Struct(">8sQ")
_ENTRY = struct.Struct(">32sQQ")
_TRAILER = 32  # SHA-256 of the header and entries
_FLUSH = 1024 * 1024  # bytes buffered before a write to the pack
_TEMP_PREFIX = ".tmp-"
_RACY_NS = 2 * 10**9  # a folder changed this recently may change again within its mtime tick
REPACK_MOST = 32
"""Packs a store may have before :meth:`PackSet.consolidate` merges the small ones."""
REPACK_SMALL = 64 * 1024 * 1024
_SEARCH_COST = 4
"""An index search costs about this many packed objects' share of building the map."""


@dataclass(frozen=True, slots=True)
class PackedObject:
    """Where an object lies: its pack file, offset and size; ``index`` names the pack."""

    pack: str
    index: str
    offset: int
    size: int


class PackWriter:
    """Appends objects to a new pack in ``folder``; :meth:`finish` publishes it.

    Nothing is visible, and nothing needs cleaning up but a stray pack file, until
    :meth:`finish` writes the index.
    """

    def __init__(self, folder: str) -> None:
        self._folder = folder
        self._name = f"pack-{os.urandom(10).hex()}"
        self._fd = -1
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._offset = len(PACK_MAGIC)
        self._entries: list[tuple[bytes, int, int]] = []
        self._ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def holds(self, object_id: str) -> bool:
        """Whether ``object_id`` was added."""
        return object_id in self._ids

    @property
    def pack_path(self) -> str:
        """The pack file being written."""
        return f"{self._folder}/{self._name}{PACK_SUFFIX}"

    def add(self, object_id: str, data: bytes) -> None:
        """Append an object (the caller has hashed ``data`` to ``object_id``)."""
        if self._fd < 0:
            self._open()
        self._ids.add(object_id)
        self._entries.append((bytes.fromhex(object_id), self._offset, len(data)))
        self._offset += len(data)
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= _FLUSH:
            self._flush()

    def finish(self, *, durable: bool) -> str | None:
        """Make the pack durable, then publish its index; the index's path, None if empty.

        The index itself is fsynced only when ``durable``; otherwise the caller's later
        ``syncfs`` covers it (until then a crash loses the index, never the bytes it names).
        """
        if not self._entries:
            self.abort()
            return None
        try:
            self._flush()
            os.fsync(self._fd)
        except BaseException:
            self.abort()
            raise
        os.close(self._fd)
        self._fd = -1
        self._entries.sort()
        body = b"".join(
            [_HEADER.pack(INDEX_MAGIC, len(self._entries))]
            + [_ENTRY.pack(*entry) for entry in self._entries]
        )
        index = f"{self._folder}/{self._name}{INDEX_SUFFIX}"
        _write_file(self._folder, index, body + hashlib.sha256(body).digest(), durable=durable)
        return index

    def abort(self) -> None:
        """Remove the unpublished pack."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            with contextlib.suppress(OSError):
                os.unlink(self.pack_path)
        self._entries.clear()
        self._ids.clear()

    def _open(self) -> None:
        try:
            self._fd = _create(self.pack_path)
        except FileNotFoundError:
            try:
                os.makedirs(self._folder)
            except FileExistsError:
                pass
            else:  # the folder's own entry must survive a crash as the packs in it do
                _fsync_dir(os.path.dirname(self._folder))
            self._fd = _create(self.pack_path)
        self._buffer.append(PACK_MAGIC)

    def _flush(self) -> None:
        data = memoryview(b"".join(self._buffer))
        self._buffer.clear()
        self._buffered = 0
        while data:
            data = data[os.write(self._fd, data) :]


@dataclass(frozen=True, slots=True)
class _Index:
    """One loaded index: its entries stay as the file's bytes, unpacked when asked for."""

    path: str
    pack: str
    body: bytes
    count: int

    def entry(self, number: int) -> tuple[bytes, int, int]:
        return _ENTRY.unpack_from(self.body, _HEADER.size + number * _ENTRY.size)

    def place(self, number: int) -> PackedObject:
        _, offset, size = self.entry(number)
        return PackedObject(self.pack, self.path, offset, size)

    def entries(self) -> Iterator[tuple[bytes, int, int]]:
        return _ENTRY.iter_unpack(memoryview(self.body)[_HEADER.size :])

    def find(self, raw: bytes) -> int | None:
        """The number of the entry for binary id ``raw`` (a binary search of the body)."""
        body, low, high = self.body, 0, self.count
        while low < high:
            middle = (low + high) // 2
            start = _HEADER.size + middle * _ENTRY.size
            key = body[start : start + 32]
            if key < raw:
                low = middle + 1
            elif key > raw:
                high = middle
            else:
                return middle
        return None


class PackSet:
    """The packs of one folder, their indexes reloaded when the folder changes.

    Shared by every storage of the folder in a process (see :func:`pack_set`), so a
    long-lived process loads the indexes once. A few lookups search each index (binary
    search of its sorted entries, ~3 us); once lookups add up to more than building a
    map would cost (~0.9 us per packed object: 33 ms for 38,000 of them, what a
    re-import of 200 files paid before its first lookup), an id -> (index, entry
    number) map answers instead, as for an export. Lookups trust an index only as far
    as it still exists (:meth:`find` ``live``): a pack rewritten by another process is
    found after a reload.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        # One attribute, replaced whole: a reader on another thread never pairs a map
        # with the wrong list of indexes.
        self._state: tuple[dict[bytes, int] | None, list[_Index]] = (None, [])
        self._entries = 0  # in the loaded indexes
        self._searches = 0  # index searches since the indexes were loaded
        self._names: frozenset[str] = frozenset()
        self._stamp: tuple[int, int] | None = None  # the folder's (inode, mtime) as listed
        self.damaged: list[str] = []
        """Index files left out because they failed their checks (paths)."""

    def find(self, object_id: str, *, live: bool = False) -> PackedObject | None:
        """Where ``object_id`` is packed, reloading the indexes once if it is not known.

        With ``live``, a place whose index is gone (the pack was rewritten) counts only
        after a reload finds it again: what dedupe checks need, since a stale answer
        there would skip storing bytes that are no longer stored.
        """
        raw = bytes.fromhex(object_id)
        place = self._place(raw)
        if place is not None and (not live or os.path.exists(place.index)):
            return place
        self.reload()
        place = self._place(raw)
        if place is not None and live and not os.path.exists(place.index):
            return None
        return place

    def known(self, object_id: str) -> bool:
        """Whether the indexes, as loaded, name ``object_id`` (no reload, no IO)."""
        return self._locate(bytes.fromhex(object_id)) is not None

    def reload(self) -> None:
        """Load the indexes added since the last look; start over if any went away.

        The folder is listed again only if its modification time moved since a listing
        that came well after its last change (as git's index treats "racy" files):
        a miss then costs one ``stat``, not a listing, without missing a pack published
        within the clock tick of the last listing.
        """
        with self._lock:
            try:
                info = os.stat(self.folder)
                stamp: tuple[int, int] | None = (info.st_ino, info.st_mtime_ns)
            except (FileNotFoundError, NotADirectoryError):
                stamp = None
            if stamp is not None and stamp == self._stamp:
                return
            names = index_names(self.folder)
            settled = stamp is not None and time.time_ns() - stamp[1] > _RACY_NS
            self._stamp = stamp if settled else None
            if names == self._names:
                return
            mapping: dict[bytes, int] | None
            if self._names - names:
                mapping, indexes = None, []
                damaged: list[str] = []
                old: frozenset[str] = frozenset()
            else:
                mapping, indexes = self._state[0], list(self._state[1])
                damaged = self.damaged
                old = self._names
            added = len(indexes)
            for name in sorted(names - old):
                index = _read_index(f"{self.folder}/{name}")
                if index is None:
                    damaged.append(f"{self.folder}/{name}")
                    continue
                indexes.append(index)
            if mapping is not None:  # a map in use grows with the new indexes
                mapping = _add_to_map(dict(mapping), indexes, added)
            self._state = (mapping, indexes)
            self._entries = sum(index.count for index in indexes)
            self._names = names
            self.damaged = damaged

    def entries(self) -> Iterator[tuple[str, PackedObject, float]]:
        """Every packed object (each id once) with its pack's age, in id order."""
        self.reload()
        indexes = self._state[1]
        ages: dict[str, float] = {}
        for index in indexes:
            try:
                ages[index.path] = os.stat(index.path).st_mtime
            except FileNotFoundError:  # rewritten meanwhile: its objects are elsewhere
                continue
        streams = [_numbered(index) for index in indexes if index.path in ages]
        last = b""
        for raw, index, number in heapq.merge(*streams, key=lambda item: item[0]):
            if raw != last:
                last = raw
                yield raw.hex(), index.place(number), ages[index.path]

    def read(self, place: PackedObject, open_pack: Callable[[str], int] | None = None) -> bytes:
        """The object's bytes (shorter than its size if the pack was cut short).

        ``open_pack`` gives an open descriptor of a pack (the caller's to close).

        Raises:
            FileNotFoundError: if the pack is gone (rewritten: reload and look again).
        """
        if open_pack is not None:
            return pread_all(open_pack(place.pack), place.size, place.offset)
        fd = os.open(place.pack, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return pread_all(fd, place.size, place.offset)
        finally:
            os.close(fd)

    def remove(self, object_ids: Collection[str]) -> int:
        """Rewrite every pack holding one of ``object_ids`` without it; how many went.

        Survivors are copied as they are (a damaged one stays damaged, for fsck to
        report) into a new pack, durable before the old index and pack are removed.
        """
        self.reload()
        doomed = {bytes.fromhex(object_id) for object_id in object_ids}
        removed = 0
        for index in self._state[1]:
            entries = list(index.entries())
            if not any(raw in doomed for raw, _, _ in entries):
                continue
            writer = PackWriter(self.folder)
            try:
                fd = os.open(index.pack, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:  # rewritten by someone else meanwhile
                continue
            try:
                for raw, offset, size in entries:
                    if raw in doomed:
                        removed += 1
                    else:
                        writer.add(raw.hex(), pread_all(fd, size, offset))
                writer.finish(durable=True)
            except BaseException:
                writer.abort()
                raise
            finally:
                os.close(fd)
            self._retire([index])
        self.reload()
        return removed

    def consolidate(self, *, most: int | None = None, small: int | None = None) -> int:
        """Merge the packs under ``small`` bytes into one once there are more than ``most``.

        Every import adds packs; many small ones cost each new process a file read per
        index and every miss a longer listing. Objects only move (each id once), in the
        same order of durability as :meth:`remove`, so this is safe beside readers and
        writers. Returns how many packs were merged (0: none).
        """
        most = REPACK_MOST if most is None else most
        small = REPACK_SMALL if small is None else small
        self.reload()
        indexes = self._state[1]
        if len(indexes) <= most:
            return 0
        chosen = []
        for index in indexes:
            with contextlib.suppress(FileNotFoundError):
                if os.stat(index.pack).st_size < small:
                    chosen.append(index)
        if len(chosen) < 2:
            return 0
        writer = PackWriter(self.folder)
        try:
            for index in chosen:
                try:
                    fd = os.open(index.pack, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:  # rewritten by someone else meanwhile
                    continue
                try:
                    for raw, offset, size in index.entries():
                        if not writer.holds(raw.hex()):
                            writer.add(raw.hex(), pread_all(fd, size, offset))
                finally:
                    os.close(fd)
            writer.finish(durable=True)
        except BaseException:
            writer.abort()
            raise
        self._retire(chosen)
        self.reload()
        return len(chosen)

    def _retire(self, indexes: list[_Index]) -> None:
        """Remove packs whose objects are elsewhere now: index first, so none is half-seen."""
        for index in indexes:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(index.path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(index.pack)
        _fsync_dir(self.folder)

    def _place(self, raw: bytes) -> PackedObject | None:
        found = self._locate(raw)
        return None if found is None else found[0].place(found[1])

    def _locate(self, raw: bytes) -> tuple[_Index, int] | None:
        """The first loaded index naming ``raw``, and its entry number there."""
        mapping, indexes = self._state
        if mapping is None:
            self._searches += len(indexes)
            if self._searches * _SEARCH_COST < self._entries:
                for index in indexes:
                    number = index.find(raw)
                    if number is not None:
                        return index, number
                return None
            mapping = self._map(indexes)
        found = mapping.get(raw)
        if found is None:
            return None
        return indexes[found >> 32], found & 0xFFFFFFFF

    def _map(self, indexes: list[_Index]) -> dict[bytes, int]:
        """Build the map of ``indexes`` and keep it, unless they were reloaded meanwhile."""
        mapping = _add_to_map({}, indexes, 0)
        with self._lock:
            if self._state[1] is indexes:  # not reloaded meanwhile
                self._state = (mapping, indexes)
        return mapping


def _add_to_map(mapping: dict[bytes, int], indexes: list[_Index], start: int) -> dict[bytes, int]:
    """Map each id of ``indexes[start:]`` to ``index number << 32 | entry number``.

    An id already mapped (from an earlier index) keeps its place.
    """
    for position in range(start, len(indexes)):
        base = position << 32
        for number, (raw, _, _) in enumerate(indexes[position].entries()):
            mapping.setdefault(raw, base | number)
    return mapping


def _numbered(index: _Index) -> Iterator[tuple[bytes, _Index, int]]:
    for number, (raw, _, _) in enumerate(index.entries()):
        yield raw, index, number


def _read_index(path: str) -> _Index | None:
    """A loaded index, None if it is missing or fails a check."""
    pack = path[: -len(INDEX_SUFFIX)] + PACK_SUFFIX
    try:
        with open(path, "rb") as f:
            data = f.read()
        pack_size = os.stat(pack).st_size
    except FileNotFoundError:
        return None
    if len(data) < _HEADER.size + _TRAILER:
        return None
    body, trailer = data[:-_TRAILER], data[-_TRAILER:]
    magic, count = _HEADER.unpack_from(body)
    if (
        magic != INDEX_MAGIC
        or len(body) != _HEADER.size + count * _ENTRY.size
        or hashlib.sha256(body).digest() != trailer
    ):
        return None
    # Every entry within the pack, checked without a Python step per entry (that was
    # 12 ms of loading 38,000): the entries as big-endian 64-bit words, six per entry.
    words = array.array("Q", body[_HEADER.size :])
    if sys.byteorder == "little":
        words.byteswap()
    offsets, sizes = words[4::6], words[5::6]
    if count and (
        min(offsets) < len(PACK_MAGIC) or max(map(operator.add, offsets, sizes)) > pack_size
    ):
        return None
    return _Index(path, pack, body, count)


_pack_sets: dict[str, PackSet] = {}
_pack_sets_lock = threading.Lock()


def pack_set(folder: str) -> PackSet:
    """The process's :class:`PackSet` of ``folder``."""
    with _pack_sets_lock:
        packs = _pack_sets.get(folder)
        if packs is None:
            packs = _pack_sets[folder] = PackSet(folder)
        return packs


def index_names(folder: str) -> frozenset[str]:
    """The names of the index files in ``folder`` (none if it is missing)."""
    try:
        with os.scandir(folder) as entries:
            return frozenset(
                e.name
                for e in entries
                if e.name.startswith("pack-") and e.name.endswith(INDEX_SUFFIX)
            )
    except (FileNotFoundError, NotADirectoryError):
        return frozenset()


def pread_all(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset``, fewer only at the end of the file."""
    data = os.pread(fd, size, offset)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size and (more := os.pread(fd, size - got, offset + got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _create(path: str) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    return os.open(path, flags, 0o444)


def _write_file(folder: str, path: str, data: bytes, *, durable: bool) -> None:
    """Write ``data`` to ``path`` by way of a temp file and a rename."""
    temp = f"{folder}/{_TEMP_PREFIX}{os.urandom(8).hex()}"
    fd = _create(temp)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    os.close(fd)
    os.replace(temp, path)
    if durable:
        _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
