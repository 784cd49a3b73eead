"""A stat cache in one small file, so unchanged files are not read nor folders rebuilt.

Like Git's index, it remembers each file's id by ``(path, size, mtime)``; like Git's
cache-tree, it also remembers each folder's tree id together with the listing it was
built from (every file's name, size, mtime and executable bit, and the subfolders). A
folder whose listing and subfolders are all unchanged keeps its tree id: a re-import
touches only the folders that changed. The cache is a pure speed-up: it only ever says
what bytes hashed to, never whether they are stored, so a stale or lost cache costs a
re-read, never a wrong commit.

Racy entries: a file written within the timestamp granularity of the moment it was hashed
could change again without its mtime moving. As Git does, an entry whose mtime is within
``racy_window_ns`` (2 s, enough for filesystems with coarse timestamps) of the scan start
is neither trusted nor recorded, and neither is the tree id of its folder; such a file is
simply hashed again next time.

The file is ``marshal`` data behind a magic line and its SHA-256, written to a temporary
file and renamed into place: one record per folder, whose listing and file ids are
themselves marshalled bytes. So an unchanged folder is recognised by comparing bytes
(marshal version 2 writes no back-references: equal listings give equal bytes), and only
changed folders are ever decoded or encoded. Measured on 200,000 files in 10,000
folders: loading the file took 54 ms and saving it 42 ms, against 129 and 53 ms when
every file was a tuple of its own in it (version 2, which is still read), and a re-import
of the unchanged folder 0.79 s against 0.86 s (medians of 6). marshal is not meant for
untrusted data, which is why the checksum must match before it is read; the file lives in
the user's own cache folder. A file that is missing, foreign or damaged is ignored (and
replaced on the next save); a location that cannot be written at all leaves the cache in
memory, with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeGuard

from dataworkflow.core.ids import ObjectId, is_object_id

RACY_WINDOW_NS = 2_000_000_000
MAGIC = b"dataworkflow stat cache 3\n"
_MAGIC_2 = b"dataworkflow stat cache 2\n"
_DIGEST_SIZE = 32
_MARSHAL_VERSION = 4
_RECORD_MARSHAL_VERSION = 2  # no back-references: the same value always gives the same bytes

FileStat = tuple[str, int, int, bool]
"""``(name, size, mtime_ns, executable)`` of one file, as a folder scan lists it."""
FolderRecord = tuple[bytes, bytes, str | None]
"""``(listing, ids, tree id)``: the marshalled ``(files, subfolder names)`` and ids of the
files (None where one was racy); the tree id is ``""`` for a folder with no files below
it, None when unknown."""


def stat_cache_path(cache_dir: Path, folder: Path) -> Path:
    """Where the cache of ``folder`` lives: ``cache_dir/statcache/<sha256 of its path>``.

    ``cache_dir`` is the user's DataWorkflow cache folder (the CLI passes
    ``${XDG_CACHE_HOME:-~/.cache}/dataworkflow`` or ``DW_CACHE_DIR``).
    """
    absolute = os.fsencode(os.path.abspath(folder))
    digest = hashlib.sha256(absolute).hexdigest()
    return cache_dir / "statcache" / f"{digest}.cache"


class FileStatCache:
    """A :class:`~dataworkflow.services.folder.StatCache` kept in a file.

    Records are loaded when the cache opens and written back by :meth:`save`; the folders
    neither looked up successfully nor recorded since opening (deleted, or now ignored)
    are dropped then. Use it as a context manager, and call :meth:`save` only after a
    successful import.

    Attributes:
        path: The cache file, or None when the cache lives in memory only.
        scan_start_ns: The moment the cache was opened; see the racy-entry rule above.
        warning: Why the file could not be used, when it could not.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        racy_window_ns: int = RACY_WINDOW_NS,
        now_ns: int | None = None,
    ) -> None:
        self.path = path
        self.scan_start_ns = time.time_ns() if now_ns is None else now_ns
        self.warning: str | None = None
        self._cutoff = self.scan_start_ns - racy_window_ns
        self._loaded: dict[str, object] = {}
        self._kept: dict[str, FolderRecord] = {}
        self._indexes: dict[str, dict[str, tuple[int, int, object]]] = {}
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if not os.access(path.parent, os.W_OK):
                    raise PermissionError(f"cannot write in {str(path.parent)!r}")
            except OSError as exc:
                self.warning = f"stat cache {str(path)!r} is not usable: {exc}"
                self.path = None
            else:
                self._loaded = _load(path)

    @classmethod
    def for_folder(cls, cache_dir: Path, folder: Path, **options: int) -> FileStatCache:
        """Open the cache of ``folder`` under ``cache_dir`` (see :func:`stat_cache_path`).

        The SQLite file an older ``dw`` kept for the folder is removed.
        """
        path = stat_cache_path(cache_dir, folder)
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(path.with_suffix(f".sqlite{suffix}"))
        return cls(path, **options)

    # --- the StatCache protocol -------------------------------------------------------

    def lookup(self, relpath: str, size: int, mtime_ns: int) -> ObjectId | None:
        """The id recorded for ``relpath`` if its size and mtime match and are not racy."""
        if mtime_ns >= self._cutoff:
            return None
        folder, _, name = relpath.rpartition("/")
        index = self._indexes.get(folder)
        if index is None:
            index = self._indexes[folder] = _index(self._loaded.get(folder))
        entry = index.get(name)
        if entry is None or entry[0] != size or entry[1] != mtime_ns:
            return None
        object_id = entry[2]
        return (
            ObjectId(object_id) if isinstance(object_id, str) and is_object_id(object_id) else None
        )

    def lookup_tree(
        self, folder: str, files: tuple[FileStat, ...], subfolders: tuple[str, ...]
    ) -> str | None:
        """The tree id recorded for ``folder`` if its files and subfolders are unchanged.

        The caller must also know every subfolder to be unchanged. ``""`` means the
        folder has no files below it. A hit keeps the record for the next save.
        """
        record = self._loaded.get(folder)
        if not _is_record(record):
            return None
        tree = record[2]
        if not isinstance(tree, str) or (tree and not is_object_id(tree)):
            return None
        if _listing(files, subfolders) != record[0]:
            return None
        self._kept[folder] = record
        return tree

    def recorded_tree(self, folder: str) -> str | None:
        """The tree id recorded for ``folder``, whatever its listing was (None if none).

        A file id :meth:`lookup` gives for a file of the folder is an entry of that tree:
        ids and tree are recorded together.
        """
        record = self._loaded.get(folder)
        if not _is_record(record):
            return None
        tree = record[2]
        return tree if isinstance(tree, str) and is_object_id(tree) else None

    def record_folder(
        self,
        folder: str,
        files: tuple[FileStat, ...],
        ids: Sequence[str | None],
        subfolders: tuple[str, ...],
        tree: str | None,
    ) -> None:
        """Remember a folder's listing, file ids and tree id (in memory until :meth:`save`).

        Racy files are remembered without their id, and their folder without its tree.
        """
        cutoff = self._cutoff
        if any(file[2] >= cutoff for file in files):
            ids = tuple(
                None if file[2] >= cutoff else i for file, i in zip(files, ids, strict=True)
            )
            tree = None
        self._kept[folder] = (
            _listing(files, subfolders),
            marshal.dumps(tuple(ids), _RECORD_MARSHAL_VERSION),
            tree,
        )

    # --- the file ---------------------------------------------------------------------

    @property
    def entry_count(self) -> int:
        """How many files the loaded (or last saved) records hold."""
        return sum(len(_index(record)) for record in self._loaded.values())

    def save(self) -> None:
        """Write the records kept or recorded since opening, and drop the others.

        Failures are not errors (the cache is only a speed-up): they set ``warning``.
        """
        records: dict[str, object] = dict(self._kept)
        unchanged = records == self._loaded
        self._loaded, self._kept, self._indexes = records, {}, {}
        if self.path is None or unchanged:
            return
        try:
            _write(self.path, records)
        except OSError as exc:
            self.warning = f"could not save the stat cache: {exc}"

    def close(self) -> None:
        """Forget what was recorded and not saved."""
        self._kept = {}

    def __enter__(self) -> FileStatCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _listing(files: tuple[FileStat, ...], subfolders: tuple[str, ...]) -> bytes:
    """A folder's listing as the bytes its record keeps."""
    return marshal.dumps((files, subfolders), _RECORD_MARSHAL_VERSION)


def _is_record(record: object) -> TypeGuard[FolderRecord]:
    return (
        isinstance(record, tuple)
        and len(record) == 3
        and isinstance(record[0], bytes)
        and isinstance(record[1], bytes)
    )


def _index(record: object) -> dict[str, tuple[int, int, object]]:
    """``name -> (size, mtime_ns, id)`` of a loaded folder record (empty if malformed)."""
    if not _is_record(record):
        return {}
    try:
        listing, ids = marshal.loads(record[0]), marshal.loads(record[1])
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(listing, tuple) or len(listing) != 2:
        return {}
    files = listing[0]
    if not isinstance(files, tuple) or not isinstance(ids, tuple) or len(files) != len(ids):
        return {}
    index: dict[str, tuple[int, int, object]] = {}
    for file, object_id in zip(files, ids, strict=True):
        if isinstance(file, tuple) and len(file) == 4:
            index[file[0]] = (file[1], file[2], object_id)
    return index


def _from_version_2(records: dict[object, object]) -> dict[str, object]:
    """Version 2's records (one tuple of tuples per folder) as version 3's."""
    converted: dict[str, object] = {}
    for folder, record in records.items():
        if not isinstance(folder, str) or not isinstance(record, tuple) or len(record) != 4:
            continue
        files, ids, subfolders, tree = record
        if isinstance(files, tuple) and isinstance(ids, tuple) and isinstance(subfolders, tuple):
            with contextlib.suppress(ValueError):  # unmarshallable: left out
                converted[folder] = (
                    _listing(files, subfolders),
                    marshal.dumps(ids, _RECORD_MARSHAL_VERSION),
                    tree,
                )
    return converted


def _load(path: Path) -> dict[str, object]:
    """The records in ``path``; empty when it is missing, foreign or damaged."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    head, digest = len(MAGIC), len(MAGIC) + _DIGEST_SIZE
    if data[:head] not in (MAGIC, _MAGIC_2):
        return {}
    if hashlib.sha256(data[digest:]).digest() != data[head:digest]:
        return {}
    try:
        records = marshal.loads(data[digest:])
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(records, dict):
        return {}
    return records if data[:head] == MAGIC else _from_version_2(records)


def _write(path: Path, records: dict[str, object]) -> None:
    """Replace ``path`` with ``records`` atomically (no fsync: losing it costs a re-read)."""
    payload = marshal.dumps(records, _MARSHAL_VERSION)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    try:
        with open(temp, "wb") as f:
            f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
