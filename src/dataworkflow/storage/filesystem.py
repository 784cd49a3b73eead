"""FileSystemStorage: objects as read-only files under ``root/objects/ab/<id>``.

Every write goes to a temporary file on the same filesystem, is fsynced, then renamed into
place and the folder fsynced, so a reader never sees a partial object and an object is
durable before its id is returned. Bulk writers may instead defer durability: inside
``deferred_sync()`` the fsyncs are skipped, and one ``sync()`` before any metadata
refers to the objects gives the same guarantee for thousands of small files at the cost
of one ``syncfs`` (measured: three fsyncs per object were 55% of a 20,000-file import),
or of an fsync per file when there were only a few. Ids are validated before they touch
a path, which is what keeps a crafted id from escaping the objects folder.

One level of fan-out, as git's loose objects: 256 folders, made once per store. Stores
made before 2026-11 have two (``objects/ab/cd/<id>``, still the S3 key layout): there, a
first import of 20,000 objects made ~17,500 folders, whose mkdirs (~43 us of kernel
time each) and 4 KiB directory blocks cost more than the objects' own renames. Such a
store has no ``objects/LAYOUT`` file; it is read in both layouts until
:meth:`FileSystemStorage.upgrade_layout` (``dw db upgrade``) moves its objects up.

Bulk puts (:meth:`FileSystemStorage.put_files`, what imports use) append small files to
packs in ``root/packs`` instead (:mod:`~dataworkflow.storage.packs`); every read looks
for a loose file first, then in the packs.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import heapq
import io
import itertools
import mmap
import multiprocessing
import operator
import os
import signal
import stat
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

from dataworkflow.core.hashing import CHUNK_SIZE, BackgroundHash, hash_bytes
from dataworkflow.core.ids import ObjectId, is_object_id, parse_object_id
from dataworkflow.errors import ChecksumMismatch, InvalidInput, ObjectNotFound
from dataworkflow.storage.base import ObjectInfo, StoredObject
from dataworkflow.storage.localfiles import write_verified_from
from dataworkflow.storage.packs import (
    INDEX_SUFFIX,
    PACK_SUFFIX,
    REPACK_MOST,
    PackedObject,
    PackSet,
    PackWriter,
    index_names,
    pack_set,
    pread_all,
)

_FILE_MODE = 0o444  # objects never change; read-only guards against accidental edits
_TEMP_PREFIX = ".tmp-"  # never a valid id, so iter_ids skips strays
_HEX_DIGITS = frozenset("0123456789abcdef")
_EMPTY_ID = hashlib.sha256(b"").hexdigest()
LAYOUT_FILE = "LAYOUT"
"""In ``root/objects``: present when no object is in the old two-level layout."""
_LAYOUT_TEXT = b"objects/ab/<id>: one folder per first two hex digits of the SHA-256 id\n"
_WHOLE_READ = CHUNK_SIZE  # files below this are read in one piece, then written
BULK_MIN_FILES = 512
"""Fewer files than this are stored on the calling thread: forking costs more (measured,
files of 1-8 KiB, best of 3: 200 files 57 ms here vs 92 ms in the pool; 500: 177 vs 207;
1,000: 779 vs 462)."""
BULK_BATCH_FILES = 256
PACK_MIN_FILES = 16
"""A bulk put of fewer files writes them loose: a pack costs two files and an fsync."""
PACK_BATCH_FILES = 8192
BULK_BATCH_BYTES = 16 * CHUNK_SIZE
BULK_WORKERS = max(1, min(8, os.cpu_count() or 1))
SYNC_FILES_MOST = 8
"""More deferred files than this are made durable by one ``syncfs``: each fsync commits
the journal on its own."""
STREAM_BUFFER = 4 * CHUNK_SIZE
"""The most ``put_stream`` reads at a time (into one of two reused buffers)."""
AUTO_REPACK_SMALL = 4 * CHUNK_SIZE
"""Packs under this size are merged after a bulk put once there are more than
``REPACK_MOST`` (``dw gc`` merges those under ``REPACK_SMALL``)."""
_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writeback of dirty pages, do not wait


class FileSystemStorage:
    """Content-addressed objects in a local folder.

    Attributes:
        root: The storage folder; objects live in ``root/objects``, in-flight writes of
            unknown id in ``root/tmp``.
        writes: How many objects this instance actually wrote (dedupe hits not counted).
    """

    def __init__(self, root: Path | str) -> None:
        # No IO here: building a storage (e.g. from default settings) must not create folders.
        self.root = Path(root)
        self._root = os.fspath(self.root)  # object paths are strings: no Path per object
        self._objects = f"{self._root}/objects"
        self._packs_folder = f"{self._root}/packs"
        self._legacy: bool | None = None  # whether objects may be in ab/cd/ (found on use)
        self.writes = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._new_folders = False  # whether the last write had to make its folder
        # Deferred writes sync() must make durable: files and folders to fsync, or, when
        # it cannot tell (forked workers, new folders, too many files), everything.
        self._unsynced: list[str] = []
        self._unsynced_folders: set[str] = set()
        self._sync_everything = False

    # --- durability -------------------------------------------------------------------

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Skip fsyncs of this thread's writes inside; ``sync()`` before relying on them."""
        depth = getattr(self._local, "deferred", 0)
        self._local.deferred = depth + 1
        try:
            yield
        finally:
            self._local.deferred = depth

    def sync(self) -> None:
        """Make every write so far durable.

        A few files written in this process (a re-import's pack index) are fsynced with
        their folders; otherwise one ``syncfs`` of the storage's filesystem, which also
        waits for whatever else is being written to that disk. Measured, a re-import of
        200 files while another process wrote: 14-15 ms against 19-29 ms for ``syncfs``
        (5 runs each); ``syncfs`` alone after a 1 MiB write: median 1.2 ms, up to 223 ms.
        """
        with self._lock:
            files, folders = self._unsynced, self._unsynced_folders
            everything = self._sync_everything or len(files) > SYNC_FILES_MOST
            self._unsynced, self._unsynced_folders, self._sync_everything = [], set(), False
        if everything:
            if self.root.exists():
                _sync_filesystem(self.root)
            return
        for path in files:
            with contextlib.suppress(FileNotFoundError):  # deleted since: nothing to keep
                _fsync_file(path)
        for folder in sorted(folders):
            _fsync_dir(folder)

    def _defer(self, path: str | None, folder: str | None = None) -> None:
        """Leave a written file (and the folder of its name) to the next ``sync()``.

        ``path`` None: something sync() cannot name was written; it syncs everything.
        """
        with self._lock:
            if path is None:
                self._sync_everything = True
                return
            self._unsynced.append(path)
            if folder is not None:
                self._unsynced_folders.add(folder)

    def _durable(self) -> bool:
        return not getattr(self._local, "deferred", 0)

    # --- writes -----------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> StoredObject:
        """Store ``data``; one existence check skips the write when it is stored already.

        The hot path of importing small files: each path is made once, and the id (made
        here) is not validated again (measured: path helpers were a third of a pool
        worker's Python time).
        """
        object_id = hash_bytes(data)
        folder = f"{self._objects}/{object_id[:2]}"
        final = f"{folder}/{object_id}"
        if self._stored_size(final) == len(data) or self._packed(object_id):
            return StoredObject(object_id, len(data), written=False)
        temp = self._write_temp(folder, (data,))
        return self._commit(temp, object_id, len(data), checked=True, final=final)

    def put_stream(self, stream: BinaryIO, size_hint: int | None = None) -> StoredObject:
        """Store a stream, hashing while writing to ``root/tmp``; the id is known only at the end.

        ``size_hint`` is not needed here: every size takes the same path. See
        :meth:`_copy_stream` for how the bytes flow.
        """
        with self._temp_file(os.path.join(self._root, "tmp")) as (fd, name):
            object_id, size = self._copy_stream(stream, fd, write_back=self._durable())
        return self._commit(name, object_id, size, checked=False)

    @staticmethod
    def _copy_stream(stream: BinaryIO, fd: int, *, write_back: bool) -> tuple[ObjectId, int]:
        """Copy ``stream`` to the descriptor ``fd``; return its id and size.

        - Two buffers of ``STREAM_BUFFER`` are used in turn, filled with the stream's
          ``readinto`` when it has one: no bytes object per chunk.
        - With ``write_back``, each written range is handed to the disk at once
          (``sync_file_range``): the disk writes while the next bytes arrive, and the
          final fsync has little left (of a 32 MiB upload: 17 ms became 1 ms).
        - A helper thread hashes each buffer while the next is read and written
          (:class:`BackgroundHash`; SHA-256 is the slowest step, ~1.2 GB/s).

        Measured with ``bench/api.py`` (gunicorn on loopback, 2 CPUs, 32 MiB uploads,
        median of 16, MiB/s): 680 with all three, 460 without write-back, 550 without
        the hash thread. 4 MiB buffers beat 1 MiB ones (256 MiB uploads: 717 vs 604).
        """
        # Fresh pages, touched only as far as the stream fills them and unmapped when the
        # last view goes; a malloc'd buffer would stay in the thread's arena afterwards.
        memory = memoryview(mmap.mmap(-1, 2 * STREAM_BUFFER))
        buffers = (memory[:STREAM_BUFFER], memory[STREAM_BUFFER:])
        readinto = getattr(stream, "readinto", None)
        size = 0
        with BackgroundHash() as digest:
            for turn in itertools.count():
                buffer = buffers[turn % 2]
                if readinto is not None:
                    n = int(readinto(buffer) or 0)
                else:
                    data = stream.read(len(buffer))
                    n = len(data)
                    buffer[:n] = data
                if not n:
                    break
                view = buffer[:n]
                while view:
                    view = view[os.write(fd, view) :]
                if write_back:
                    FileSystemStorage._start_writeback(fd, size, n)
                size += n
                digest.update(buffer[:n])
            return ObjectId(digest.hexdigest()), size

    @staticmethod
    def _start_writeback(fd: int, offset: int, length: int) -> None:
        """Start writing a range of ``fd`` to disk without waiting (Linux; else nothing).

        Errors are left to the fsync that follows, which reports them.
        """
        sync_file_range = FileSystemStorage._sync_file_range()
        if sync_file_range is not None:
            sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)

    @staticmethod
    @functools.cache
    def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
        try:
            function = ctypes.CDLL(None, use_errno=True).sync_file_range
        except (OSError, AttributeError, TypeError):
            return None
        function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
        function.restype = ctypes.c_int
        return cast(Callable[[int, int, int, int], int], function)

    def put_file(
        self, path: str | os.PathLike[str], object_id: ObjectId | None = None
    ) -> StoredObject:
        """Copy a local file in, verifying ``object_id`` when given.

        A known id that is stored already costs one ``stat`` and the file is not read
        (unless the object is empty and should not be: see :func:`_stored_size`).

        Raises:
            ChecksumMismatch: if ``object_id`` is given and the file's bytes do not match it;
                nothing is stored then.
        """
        if object_id is None:
            with open(path, "rb") as f:
                return self.put_stream(f)
        expected = parse_object_id(object_id)
        final = self._path(expected)
        stored = self._stored_size(final)
        if stored is not None and (stored > 0 or expected == _EMPTY_ID):
            return StoredObject(expected, stored, written=False)
        if (packed := self._packs.find(expected, live=True)) is not None:
            return StoredObject(expected, packed.size, written=False)
        got, size, temp = self._copy_file(os.fspath(path), os.path.dirname(final))
        if got != expected:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise ChecksumMismatch(expected, got)
        return self._commit(temp, expected, size, checked=True)

    def put_local(self, path: str, pack: PackWriter | None = None) -> StoredObject:
        """Store a local file of unknown id, reading it once (hashed as it is copied).

        With ``pack``, a small file (read in one piece) is appended to it instead of
        becoming a file of its own, unless it is stored already.
        """
        src = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            chunks: list[bytes] = []
            size = 0
            while size < _WHOLE_READ and (chunk := os.read(src, _WHOLE_READ)):
                chunks.append(chunk)
                size += len(chunk)
            if size < _WHOLE_READ:
                data = b"".join(chunks)
                return self.put_bytes(data) if pack is None else self._put_packed(data, pack)
            object_id, size, name = self._copy_fd(src, os.path.join(self._root, "tmp"), chunks)
        finally:
            os.close(src)
        return self._commit(name, object_id, size, checked=False)

    def _put_packed(self, data: bytes, pack: PackWriter) -> StoredObject:
        """Append ``data`` to ``pack`` unless it is stored (loose, packed, or in ``pack``).

        The pack map is not reloaded per object: a pack another process publishes
        meanwhile costs at most a second copy of an object, never a missing one.
        """
        object_id = hash_bytes(data)
        final = f"{self._objects}/{object_id[:2]}/{object_id}"
        if (
            pack.holds(object_id)
            or self._packs.known(object_id)
            or (self._stored_size(final) == len(data))
        ):
            return StoredObject(object_id, len(data), written=False)
        pack.add(object_id, data)
        with self._lock:
            self.writes += 1
        return StoredObject(object_id, len(data), written=True)

    def put_files(
        self, files: Sequence[tuple[str, int]], *, durable: bool = True
    ) -> Generator[StoredObject, None, None]:
        """Store ``(path, size)`` local files, yielding what each became, in order.

        Measured on 20,000 files of 1-8 KiB: storing is system-call bound, and Python
        threads take turns on the GIL between the calls (two threads were no faster than
        one), while two forked processes took half the time. So batches of files go to
        a pool of processes, each reading, hashing and writing its files without
        fsyncs; one ``sync()`` makes them durable after the last is yielded (unless
        ``durable`` is False: then the caller must call ``sync()`` before anything
        refers to them). Stopping the iteration early cancels the batches not started.

        Raises:
            OSError: if a file cannot be read.
        """
        total = sum(size for _, size in files)
        if not _worth_forking(len(files), total):
            yield from self._put_here(files)
        else:
            self._defer(None)  # the workers' writes
            for object_id, size, written in _in_processes(
                _put_batch, self._root, list(_batches(files, _pack_batch_files(len(files))))
            ):
                if written:
                    with self._lock:
                        self.writes += 1
                yield StoredObject(ObjectId(object_id), size, written)
        self._tidy_packs()
        if durable:
            self.sync()

    def _tidy_packs(self) -> None:
        """Merge the small packs once bulk puts have left too many (as ``git gc --auto``).

        Every re-import adds a pack, and every later process reads every index: left
        alone, a store re-imported hourly would read 700 a month. Merging copies only
        packs under ``AUTO_REPACK_SMALL`` (measured: 27 packs of a 200-file re-import
        each, ~1 MiB, merged in 0.2 s), so its cost stays small and rare. It is only a
        speed-up: a failure (a full disk) leaves every pack as it was, for ``dw gc``.
        """
        if len(index_names(self._packs_folder)) <= REPACK_MOST:
            return
        with contextlib.suppress(OSError):
            self._packs.consolidate(most=REPACK_MOST, small=AUTO_REPACK_SMALL)

    def _put_here(self, files: Sequence[tuple[str, int]]) -> Iterator[StoredObject]:
        """:meth:`put_files` on this thread: small files into a pack if there are a few.

        Measured under cProfile, a re-import of 200 changed files of 1-8 KiB into a
        packed store: 73 ms writing them loose (half of it making the fan-out folders a
        packed store lacks), 16 ms into one pack and its index.
        """
        pack = PackWriter(self._packs_folder) if len(files) >= PACK_MIN_FILES else None
        if pack is not None:
            self._packs.reload()
        try:
            for path, _ in files:
                with self.deferred_sync():
                    stored = self.put_local(path, pack)
                yield stored
            if pack is not None and (index := pack.finish(durable=False)) is not None:
                self._defer(index, self._packs_folder)
        except BaseException:
            if pack is not None:
                pack.abort()
            raise

    def get_files(self, files: Sequence[tuple[ObjectId, str, bool]]) -> Generator[int, None, None]:
        """Write objects to new local files ``(id, path, executable)``, yielding sizes.

        Each file is created exclusively, never through a symbolic link, and hashed as it
        is written; like :meth:`put_files`, many files are written by forked processes.

        Raises:
            ObjectNotFound: if an object is not stored.
            ChecksumMismatch: if an object's bytes do not match its id (that file is
                removed).
            OSError: if a file cannot be created (it exists, permission denied...).
        """
        if not _worth_forking(len(files), 0):
            yield from _get_batch(self._root, list(files))
            return
        per_batch = max(1, min(BULK_BATCH_FILES, len(files) // (BULK_WORKERS * 4)))
        batches = [list(files[i : i + per_batch]) for i in range(0, len(files), per_batch)]
        yield from _in_processes(_get_batch, self._root, batches)

    # --- reads ------------------------------------------------------------------------

    def open(self, object_id: ObjectId) -> BinaryIO:
        """Open an object for reading (a context manager). Raises ObjectNotFound.

        A packed object is small (see :mod:`~dataworkflow.storage.packs`): it is read
        whole, into memory.
        """
        path = self._path(object_id)
        for candidate in self._places(path):
            try:
                return open(candidate, "rb")
            except FileNotFoundError:
                continue
        return io.BytesIO(self._read_packed(object_id))

    def read_range(self, object_id: ObjectId, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive), clipped to the object.

        Raises:
            InvalidInput: if ``start`` is negative or ``end`` is before ``start``.
            ObjectNotFound: if the object is not stored.
        """
        _check_range(start, end)
        try:
            fd = self.open_fd(object_id)
        except ObjectNotFound:
            return self._read_packed(object_id)[start:end]
        try:
            end = min(end, os.fstat(fd).st_size)  # never allocate past the object
            return pread_all(fd, end - start, start) if start < end else b""
        finally:
            os.close(fd)

    def exists(self, object_id: ObjectId) -> bool:
        """Whether the object is stored."""
        return any(map(os.path.isfile, self._places(self._path(object_id)))) or self._packed(
            object_id
        )

    def size(self, object_id: ObjectId) -> int:
        """The object's size in bytes. Raises ObjectNotFound."""
        for candidate in self._places(self._path(object_id)):
            try:
                return os.stat(candidate).st_size
            except FileNotFoundError:
                continue
        packed = self._packs.find(object_id, live=True)
        if packed is None:
            raise ObjectNotFound(object_id)
        return packed.size

    def delete(self, object_id: ObjectId) -> None:
        """Remove the object (in either layout, or packed); a missing one is not an error."""
        self.delete_many([object_id])

    def delete_many(self, object_ids: Iterable[ObjectId]) -> None:
        """Remove objects; packed ones cost a rewrite of their pack, once per call.

        Garbage collection deletes through here, so a pack losing a thousand objects
        is rewritten once, not a thousand times.
        """
        ids = [parse_object_id(object_id) for object_id in object_ids]
        legacy = self._has_legacy()
        for object_id in ids:
            path = self._path(object_id)
            for candidate in (path, _legacy_place(path)) if legacy else (path,):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    os.unlink(candidate)
        packs = self._packs
        packs.reload()
        if any(packs.known(object_id) for object_id in ids):
            packs.remove(ids)

    def remove_leftovers(self, older_than: float, *, dry_run: bool = False) -> int:
        """Remove the files interrupted writes left, untouched since ``older_than``.

        Temp files (``.tmp-*``) in ``tmp/``, the fan-out folders and ``packs/``, and
        packs whose index was never written (their objects count as missing, and the
        next import stores them again). A write in progress touches its file at every
        write, and a pack gets its index right after its last one, so only files of
        writes that died are this old; ``dw gc`` asks for an hour at least.
        Returns how many were removed (with ``dry_run``: found).
        """
        folders = [f"{self._root}/tmp", self._packs_folder]
        folders += [f"{self._objects}/{name}" for name in _subdirs(self._objects)]
        found = 0
        for folder in folders:
            entries = _listing(folder)
            names = {entry.name for entry in entries}
            for entry in entries:
                name = entry.name
                orphan = (
                    folder == self._packs_folder
                    and name.endswith(PACK_SUFFIX)
                    and name.removesuffix(PACK_SUFFIX) + INDEX_SUFFIX not in names
                )
                if not (name.startswith(_TEMP_PREFIX) or orphan):
                    continue
                try:
                    if entry.stat(follow_symlinks=False).st_mtime >= older_than:
                        continue
                    if not dry_run:
                        os.unlink(entry.path)
                except FileNotFoundError:  # finished (renamed) or removed meanwhile
                    continue
                found += 1
        return found

    def damaged_files(self) -> list[str]:
        """Pack indexes that fail their checks (see :mod:`~dataworkflow.storage.packs`)."""
        packs = self._packs
        packs.reload()
        return sorted(
            os.path.relpath(path, self._root)
            for path in packs.damaged
            if os.path.exists(path)  # not one retired (by a merge) while it was read
        )

    def repack(self) -> int:
        """Merge small packs once there are many (see :meth:`PackSet.consolidate`).

        Returns how many packs were merged into one (0: none).
        """
        return self._packs.consolidate()

    def open_fd(self, object_id: ObjectId) -> int:
        """A raw read-only descriptor of a loose object, for bulk readers.

        Raises:
            ObjectNotFound: if the object is not stored as a file of its own (it may be
                packed: :meth:`open` reads either).
        """
        for candidate in self._places(self._path(object_id)):
            try:
                return os.open(candidate, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
        raise ObjectNotFound(object_id)

    def iter_ids(self) -> Iterator[ObjectId]:
        """Every stored id once: well-placed, well-formed loose files, then packed ones."""
        loose: set[str] = set()
        for entry in self._object_entries(ordered=False):
            loose.add(entry.name)
            yield ObjectId(entry.name)
        for object_id, _, _ in self._packs.entries():
            if object_id not in loose:
                yield ObjectId(object_id)

    def iter_objects(self) -> Iterator[ObjectInfo]:
        """Every object once, with its size and when it was stored, in id order.

        A packed object's age is its pack's (a rewritten pack's objects are young
        again: garbage collection keeps them longer, never shorter). An object deleted
        while the walk runs is left out.
        """
        by_id = operator.attrgetter("id")
        merged = heapq.merge(self._loose_objects(), self._packed_objects(), key=by_id)
        for _, group in itertools.groupby(merged, key=by_id):
            yield next(group)  # a loose copy first: merge keeps ties in argument order

    def _loose_objects(self) -> Iterator[ObjectInfo]:
        for entry in self._object_entries(ordered=True):
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield ObjectInfo(ObjectId(entry.name), stat.st_size, stat.st_mtime)

    def _packed_objects(self) -> Iterator[ObjectInfo]:
        for object_id, place, stored_at in self._packs.entries():
            yield ObjectInfo(ObjectId(object_id), place.size, stored_at)

    def _object_entries(self, *, ordered: bool) -> Iterator[os.DirEntry[str]]:
        """The files of the fan-out whose names are ids placed where they belong.

        Objects of the old layout (``ab/cd/<id>``, see the module) are found too while the
        store may hold them, so the listing shows what reads find: in a store with its
        LAYOUT file, one an older ``dw`` put there is not listed until
        :meth:`upgrade_layout` moves it. ``ordered`` sorts each folder's objects, which
        yields ids in ascending order (the fan-out folders are id prefixes).
        """
        legacy = self._has_legacy()
        for first in _subdirs(self._objects, ordered):
            outer = f"{self._objects}/{first}"
            entries = _listing(outer)
            found = [entry for entry in entries if _placed(entry, first)]
            for entry in entries if legacy else ():
                second = entry.name
                if (
                    len(second) == 2
                    and _HEX_DIGITS.issuperset(second)
                    and entry.is_dir(follow_symlinks=False)
                ):
                    place = first + second
                    found += (e for e in _listing(entry.path) if _placed(e, place))
            if ordered:
                found.sort(key=lambda entry: entry.name)
            yield from found

    # --- layout -----------------------------------------------------------------------

    def upgrade_layout(self, progress: Callable[[int], None] | None = None) -> int:
        """Move objects of the old two-level layout up to ``objects/ab/<id>``.

        Safe to interrupt and to run again, and while the storage is in use: each move
        is one rename, readers look in both places until ``objects/LAYOUT`` is written,
        which happens last, after the moves are durable. Emptied folders are removed;
        a folder holding anything else (a stray temp file) is left. ``progress`` gets
        the count moved so far after each old folder. Returns how many objects moved.
        """
        if not os.path.isdir(self._objects):
            return 0
        moved = 0
        for first in _subdirs(self._objects):
            outer = f"{self._objects}/{first}"
            for second in _subdirs(outer):
                inner = f"{outer}/{second}"
                for entry in _listing(inner):
                    if _placed(entry, first + second):
                        _move_up(entry, f"{outer}/{entry.name}")
                        moved += 1
                with contextlib.suppress(OSError):  # not empty: strays stay
                    os.rmdir(inner)
                if progress is not None:
                    progress(moved)
        if moved:
            _sync_filesystem(self.root)  # the renames: one syncfs, not one fsync per folder
        self._write_layout_file(durable=True)
        self._legacy = False
        return moved

    def _has_legacy(self) -> bool:
        """Whether objects may still be in the old layout (no ``LAYOUT`` file, a store)."""
        if self._legacy is None:
            self._legacy = not os.path.exists(f"{self._objects}/{LAYOUT_FILE}") and os.path.isdir(
                self._objects
            )
        return self._legacy

    def _places(self, path: str) -> tuple[str, ...]:
        """Where to look for the object at ``path``, in order.

        In a store not upgraded yet: its old place, then the new one again, in case an
        upgrade moved it between the two looks.
        """
        return (path, _legacy_place(path), path) if self._has_legacy() else (path,)

    def _stored_size(self, final: str) -> int | None:
        """:func:`_stored_size` of the object at ``final``, in its old place if need be."""
        size = _stored_size(final)
        if size is None and self._has_legacy():
            size = _stored_size(_legacy_place(final))
        return size

    def _make_folder(self, folder: str) -> bool:
        """``_make_dirs`` for a fan-out or temp folder; a new store gets its LAYOUT file.

        Returns whether ``folder`` was created.
        """
        durable = self._durable()
        if folder.startswith(self._objects) and not os.path.isdir(self._objects):
            if not durable:
                self._defer(None)  # new folders and the LAYOUT file: sync() syncs all
            _make_dirs(self._root, durable)
            with contextlib.suppress(FileExistsError):  # made meanwhile: by whom is unknown
                os.mkdir(self._objects)
                if durable:
                    _fsync_dir(self._root)
                self._write_layout_file(durable)
                self._legacy = False
        created = _make_dirs(folder, durable)
        if created and not durable:
            self._defer(None)
        return created

    def _write_layout_file(self, durable: bool) -> None:
        """Record that every object is in the one-level layout (kept if it exists)."""
        path = f"{self._objects}/{LAYOUT_FILE}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
        except FileExistsError:
            return
        try:
            os.write(fd, _LAYOUT_TEXT)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if durable:
            _fsync_dir(self._objects)

    # --- packs ------------------------------------------------------------------------

    @property
    def _packs(self) -> PackSet:
        return pack_set(self._packs_folder)

    def _packed(self, object_id: str) -> bool:
        """Whether the object is in a pack that still exists."""
        return self._packs.find(object_id, live=True) is not None

    def _read_packed(
        self, object_id: ObjectId, open_pack: Callable[[str], int] | None = None
    ) -> bytes:
        """A packed object's bytes. Raises ObjectNotFound.

        ``open_pack`` gives a descriptor of a pack file (the caller keeps it open for
        many reads); by default each read opens the pack.
        """
        packs = self._packs
        for _ in range(3):  # a pack rewritten between the look and the read: look again
            place: PackedObject | None = packs.find(object_id)
            if place is None:
                break
            try:
                return packs.read(place, open_pack)
            except FileNotFoundError:
                packs.reload()
        raise ObjectNotFound(object_id)

    # --- helpers ----------------------------------------------------------------------

    def _path(self, object_id: ObjectId) -> str:
        object_id = parse_object_id(object_id)
        return f"{self._objects}/{object_id[:2]}/{object_id}"

    def _write_temp(self, folder: str, chunks: Iterable[bytes]) -> str:
        """Write ``chunks`` to a new temp file in ``folder``, as :meth:`_temp_file` would.

        Not written with it: a generator-based context manager per small object cost
        more than its write. A file larger than a chunk is handed to the disk as it is
        written (``sync_file_range``), not all at the final sync: importing 8 files of
        64 MiB (two workers, in-process, 17 alternating pairs) took a median 1.45-1.49 s
        against 1.59-1.62 s, faster in 14 of the 17 pairs.
        """
        fd, name = self._create_temp(folder)
        try:
            written = handed = 0
            for chunk in chunks:  # raw writes: no buffered-file fstat/ioctl/lseek per object
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
                written += len(chunk)
                if written > _WHOLE_READ:  # a large file: the disk writes while we read on
                    self._start_writeback(fd, handed, written - handed)
                    handed = written
            if self._durable():
                os.fsync(fd)
        except BaseException:
            _discard(fd, name)
            raise
        os.close(fd)
        return name

    @contextmanager
    def _temp_file(self, folder: str) -> Iterator[tuple[int, str]]:
        """A new temp file in ``folder``: fsynced after the block, removed if it raises.

        Yields its descriptor and name; the fsync is skipped inside ``deferred_sync()``.
        The file is created read-only with ``O_EXCL`` (one syscall, no chmod): the open
        descriptor can still write it.
        """
        fd, name = self._create_temp(folder)
        try:
            yield fd, name
            if self._durable():
                os.fsync(fd)
        except BaseException:
            _discard(fd, name)
            raise
        os.close(fd)

    def _copy_file(self, source: str, folder: str) -> tuple[ObjectId, int, str]:
        """Copy ``source`` into a temp file in ``folder`` with unbuffered IO, hashing it.

        Raw descriptors: imports are dominated by small files, where buffered file
        objects cost several extra syscalls (fstat, ioctl, lseek) per file.
        """
        src = os.open(source, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            return self._copy_fd(src, folder)
        finally:
            os.close(src)

    def _copy_fd(
        self, src: int, folder: str, head: Sequence[bytes] = ()
    ) -> tuple[ObjectId, int, str]:
        """Copy ``head`` and then the rest of descriptor ``src`` to a temp file, hashing."""
        digest = hashlib.sha256()
        size = 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            for chunk in itertools.chain(head, iter(lambda: os.read(src, CHUNK_SIZE), b"")):
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        name = self._write_temp(folder, chunks())
        return ObjectId(digest.hexdigest()), size, name

    def _create_temp(self, folder: str) -> tuple[int, str]:
        """Create a temp file in ``folder``, making the folder when it is missing.

        Which to try first follows the last write: while folders keep being new (a store
        filling up) mkdir comes first, once one exists the open does. Either way the
        wrong guess costs a failed system call: measured, a failed mkdir per file was 200
        of a 1% re-import's 203 mkdirs, and a failed open per file would be 17,500 in a
        first import of 20,000 files.
        """
        name = f"{folder}/{_TEMP_PREFIX}{os.urandom(8).hex()}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        if self._new_folders:
            self._new_folders = self._make_folder(folder)
        try:
            return os.open(name, flags, _FILE_MODE), name
        except FileNotFoundError:  # a new fan-out folder (or one removed by hand)
            self._new_folders = True
            self._make_folder(folder)
            return os.open(name, flags, _FILE_MODE), name

    def _commit(
        self,
        temp: str,
        object_id: ObjectId,
        size: int,
        *,
        checked: bool,
        final: str | None = None,
    ) -> StoredObject:
        """Rename a finished temp file to its final name (``final`` if the caller has it).

        ``checked`` says the caller saw the object missing a moment ago; otherwise look
        first, so an existing object is not counted as written. Replacing an object that a
        concurrent writer just stored is harmless: the bytes are the same.
        """
        if final is None:
            final = self._path(object_id)
        folder = final.rpartition("/")[0]
        try:
            if not checked and self._stored_size(final) == size:
                os.unlink(temp)
                return StoredObject(object_id, size, written=False)
            try:
                os.replace(temp, final)
            except FileNotFoundError:  # the fan-out folder is new (the temp file exists)
                self._make_folder(folder)
                os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        if self._durable():
            _fsync_dir(folder)
        else:
            self._defer(final, folder)
        with self._lock:
            self.writes += 1
        return StoredObject(object_id, size, written=True)


def _pack_batch_files(files: int) -> int:
    """Files per batch of a bulk put: each batch is a pack, so few, but several per worker.

    Three per worker keep both busy to the end (a worker that finishes first takes the
    next), and ``PACK_BATCH_FILES`` bounds a pack for the largest imports.
    """
    return max(BULK_BATCH_FILES, min(PACK_BATCH_FILES, -(-files // (BULK_WORKERS * 3))))


def _batches(files: Sequence[tuple[str, int]], most_files: int) -> Iterator[list[str]]:
    """Paths in batches of at most ``most_files`` files or BULK_BATCH_BYTES bytes.

    The bytes limit counts files too large to be packed in full, and small ones at a
    tenth, so that large files still spread over the workers while packs of small ones
    stay few.
    """
    batch: list[str] = []
    size = 0
    for path, file_size in files:
        if file_size < _WHOLE_READ:
            file_size //= 10
        if batch and (len(batch) >= most_files or size + file_size > BULK_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += file_size
    if batch:
        yield batch


T = TypeVar("T")
R = TypeVar("R")


def _worth_forking(files: int, size: int) -> bool:
    if BULK_WORKERS < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    return files >= BULK_MIN_FILES or size >= BULK_BATCH_BYTES * BULK_WORKERS


def _in_processes(
    work: Callable[[str, list[T]], list[R]], root: str, batches: list[list[T]]
) -> Generator[R, None, None]:
    """``work(root, batch)`` for each batch in a pool of forked processes, results in order.

    Stopping the iteration early cancels the batches not started yet. Where no process
    can be started (no ``/dev/shm`` for the pool's locks, a daemonic process, a limit on
    processes), the batches run here, one after the other.
    """
    pool: ProcessPoolExecutor | None = None
    try:
        pool = ProcessPoolExecutor(
            min(BULK_WORKERS, len(batches)) or 1,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_ignore_sigint,
        )
        futures = [pool.submit(work, root, batch) for batch in batches]
    except (OSError, ImportError, AssertionError, BrokenProcessPool):
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for batch in batches:
            yield from work(root, batch)
        return
    try:
        for future in futures:
            yield from future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_worker_storages: dict[str, FileSystemStorage] = {}


def _put_batch(root: str, paths: list[str]) -> list[tuple[str, int, bool]]:
    """In a pool process: store each file, small ones into one new pack.

    The pack's bytes are fsynced before its index is published (see
    :mod:`~dataworkflow.storage.packs`); the rest of the durability is left to the
    parent's sync(). Results go back as plain tuples: pickling a frozen dataclass per
    file cost 70 ms of 20,000 files' import (both ends), tuples 4 ms.
    """
    storage = _worker_storages.get(root)
    if storage is None:
        storage = _worker_storages[root] = FileSystemStorage(root)
    storage._packs.reload()  # the fork may have inherited a stale map
    pack = PackWriter(storage._packs_folder)
    try:
        with storage.deferred_sync():
            results: list[tuple[str, int, bool]] = []
            for path in paths:
                stored = storage.put_local(path, pack)
                results.append((stored.id, stored.size, stored.written))
            pack.finish(durable=False)
    except BaseException:
        pack.abort()
        raise
    finally:
        storage._unsynced.clear()  # the parent syncs the whole filesystem for its workers
        storage._unsynced_folders.clear()
    return results


def _get_batch(root: str, files: list[tuple[ObjectId, str, bool]]) -> list[int]:
    """Write each object to its new local file, verified."""
    storage = FileSystemStorage(root)
    packs = storage._packs
    sizes = []
    with contextlib.ExitStack() as pack_files:
        opened: dict[str, int] = {}  # pack path -> descriptor, for the whole batch

        def open_pack(path: str) -> int:
            fd = opened.get(path)
            if fd is None:
                fd = opened[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                pack_files.callback(os.close, fd)
            return fd

        for object_id, path, executable in files:
            fd = -1
            if not packs.known(object_id):  # known: no failed open of a loose path first
                with contextlib.suppress(ObjectNotFound):
                    fd = storage.open_fd(object_id)
            if fd < 0:
                read = io.BytesIO(storage._read_packed(object_id, open_pack)).read
                sizes.append(write_verified_from(read, path, object_id, executable))
                continue
            try:
                read = functools.partial(os.read, fd)
                sizes.append(write_verified_from(read, path, object_id, executable))
            finally:
                os.close(fd)
    return sizes


def _ignore_sigint() -> None:
    """Pool processes leave Ctrl-C to the parent, which stops at its next safe point."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _check_range(start: int, end: int) -> None:
    if start < 0 or end < start:
        raise InvalidInput(f"invalid byte range {start}-{end}: need 0 <= start <= end")


def _subdirs(folder: str | Path, ordered: bool = False) -> list[str]:
    """Names of the fan-out folders in ``folder`` (two lowercase hex digits each)."""
    try:
        with os.scandir(folder) as entries:
            names = [
                e.name
                for e in entries
                if len(e.name) == 2
                and _HEX_DIGITS.issuperset(e.name)
                and e.is_dir(follow_symlinks=False)
            ]
    except FileNotFoundError:
        return []
    return sorted(names) if ordered else names


def _listing(folder: str) -> list[os.DirEntry[str]]:
    """The entries of ``folder``; none if it was removed meanwhile."""
    try:
        with os.scandir(folder) as scan:
            return list(scan)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _placed(entry: os.DirEntry[str], prefix: str) -> bool:
    """Whether ``entry`` is an object file in the folder of its id's ``prefix``."""
    name = entry.name
    return is_object_id(name) and name.startswith(prefix) and entry.is_file(follow_symlinks=False)


def _legacy_place(path: str) -> str:
    """The old two-level place of the object at ``.../objects/ab/<id>``."""
    folder, _, name = path.rpartition("/")
    return f"{folder}/{name[2:4]}/{name}"


def _move_up(entry: os.DirEntry[str], target: str) -> None:
    """Move an old-layout object to ``target``, keeping a whole copy already there.

    Copies of one id hold the same bytes, except one a crash cut short before its sync
    (see :func:`_stored_size`): the larger is kept.
    """
    there = _stored_size(target)
    if there is None or there < entry.stat(follow_symlinks=False).st_size:
        os.replace(entry.path, target)
    else:
        os.unlink(entry.path)


def _stored_size(path: str) -> int | None:
    """The size of the object file at ``path``, None if there is none.

    Callers compare it with the size they expect: a write whose sync a crash cut short
    can leave a file of the right name and no bytes (deferred durability), which must be
    written again rather than trusted.
    """
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _discard(fd: int, name: str) -> None:
    """Close and remove a temp file that will not be committed."""
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def _make_dirs(folder: str, durable: bool = True) -> bool:
    """Create ``folder`` and its parents, fsyncing each parent that gained an entry.

    Returns whether ``folder`` was created (False: it existed).
    """
    parent = os.path.dirname(folder) or os.curdir  # a relative root: stop at "."
    try:
        os.mkdir(folder)
    except FileExistsError:
        return False
    except FileNotFoundError:
        _make_dirs(parent, durable)
        try:
            os.mkdir(folder)
        except FileExistsError:
            return False
    if durable:
        _fsync_dir(parent)
    return True


def _sync_filesystem(folder: Path) -> None:
    """``syncfs(2)`` on the filesystem holding ``folder``; ``sync(2)`` where it is missing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: str) -> None:
    """Make a rename or mkdir in ``folder`` durable (a no-op where folders cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
