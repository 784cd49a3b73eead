"""A stat cache in a small SQLite file, so an unchanged file is not read twice.

Like Git's index, it remembers each file's id by ``(path, size, mtime)``. The cache is a
pure speed-up: it only ever says what a file's bytes hashed to, never whether they are
stored, so a stale or lost cache costs a re-read, never a wrong commit.

Racy entries: a file written within the timestamp granularity of the moment it was hashed
could change again without its mtime moving. As Git does, an entry whose mtime is within
``racy_window_ns`` (2 s, enough for filesystems with coarse timestamps) of the scan start
is neither trusted nor recorded; such a file is simply hashed again next time.

The file is best effort: a corrupt one is thrown away and recreated, and a cache that
cannot be opened or written at all is replaced by an empty in-memory one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import time
from pathlib import Path
from types import TracebackType

from dataworkflow.core.ids import ObjectId, is_object_id

SCHEMA_VERSION = 1
RACY_WINDOW_NS = 2_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    relpath TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    object_id TEXT NOT NULL
) WITHOUT ROWID
"""


def stat_cache_path(cache_dir: Path, folder: Path) -> Path:
    """Where the cache of ``folder`` lives: ``cache_dir/statcache/<sha256 of its path>.sqlite``.

    ``cache_dir`` is the user's DataWorkflow cache folder (the CLI passes
    ``${XDG_CACHE_HOME:-~/.cache}/dataworkflow`` or ``DW_CACHE_DIR``).
    """
    absolute = os.fsencode(os.path.abspath(folder))
    digest = hashlib.sha256(absolute).hexdigest()
    return cache_dir / "statcache" / f"{digest}.sqlite"


class SqliteStatCache:
    """A :class:`~dataworkflow.services.folder.StatCache` kept in a SQLite file.

    Entries are loaded into memory when the cache opens and written back by :meth:`save`
    in one transaction; entries of files not recorded since opening (deleted or now
    ignored files) are dropped then. Use it as a context manager, and call :meth:`save`
    only after a successful import.

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
        self._entries: dict[str, tuple[int, int, str]] = {}
        self._recorded: dict[str, tuple[int, int, str]] = {}
        self._connection: sqlite3.Connection | None = None
        if path is not None:
            self._open(path)

    @classmethod
    def for_folder(cls, cache_dir: Path, folder: Path, **options: int) -> SqliteStatCache:
        """Open the cache of ``folder`` under ``cache_dir`` (see :func:`stat_cache_path`)."""
        return cls(stat_cache_path(cache_dir, folder), **options)

    # --- the StatCache protocol -------------------------------------------------------

    def lookup(self, relpath: str, size: int, mtime_ns: int) -> ObjectId | None:
        """The id recorded for ``relpath`` if its size and mtime match and are not racy."""
        if mtime_ns >= self._cutoff:
            return None
        entry = self._entries.get(relpath)
        if entry is None or entry[0] != size or entry[1] != mtime_ns:
            return None
        return ObjectId(entry[2])

    def record(self, relpath: str, size: int, mtime_ns: int, object_id: ObjectId) -> None:
        """Remember a file's id (in memory until :meth:`save`), unless its mtime is racy."""
        if mtime_ns >= self._cutoff:
            return
        self._recorded[relpath] = (size, mtime_ns, object_id)

    # --- the file ---------------------------------------------------------------------

    @property
    def entry_count(self) -> int:
        """How many entries the cache holds (loaded or saved)."""
        return len(self._entries)

    def save(self) -> None:
        """Write the recorded entries in one transaction and drop the others.

        Failures are not errors: the cache is only a speed-up.
        """
        connection = self._connection
        if connection is None:
            self._entries = dict(self._recorded)
            return
        changed = [
            (relpath, *value)
            for relpath, value in self._recorded.items()
            if self._entries.get(relpath) != value
        ]
        gone = [(relpath,) for relpath in self._entries.keys() - self._recorded.keys()]
        try:
            with connection:  # one transaction: committed at the end, rolled back on error
                if gone:
                    connection.executemany("DELETE FROM entries WHERE relpath = ?", gone)
                if changed:
                    connection.executemany(
                        "INSERT OR REPLACE INTO entries (relpath, size, mtime_ns, object_id)"
                        " VALUES (?, ?, ?, ?)",
                        changed,
                    )
        except sqlite3.Error as exc:
            self.warning = f"could not save the stat cache: {exc}"
            return
        self._entries = dict(self._recorded)

    def close(self) -> None:
        """Close the file (without saving)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> SqliteStatCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self, path: Path) -> None:
        """Open (or create) the file and load it; recreate it once if it is unreadable."""
        for attempt in range(2):
            try:
                self._connection, self._entries = _connect_and_load(path)
                return
            except (sqlite3.Error, OSError) as exc:
                self.close()
                if attempt == 0 and isinstance(exc, sqlite3.DatabaseError):
                    _remove_cache_files(path)  # corrupt or foreign: start again
                    continue
                self.warning = f"stat cache {str(path)!r} is not usable: {exc}"
                self._entries = {}
                return


def _connect_and_load(path: Path) -> tuple[sqlite3.Connection, dict[str, tuple[int, int, str]]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=5.0)
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"unknown stat cache version {version}")
        if version == 0:  # a new file (or one of another program): create the table
            with connection:
                connection.execute(_SCHEMA)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        rows = connection.execute(
            "SELECT relpath, size, mtime_ns, object_id FROM entries"
        ).fetchall()
        entries = {row[0]: (row[1], row[2], row[3]) for row in rows}
        if not _all_object_ids([value[2] for value in entries.values()]):
            # A malformed row (a foreign writer) is dropped: it can only miss then.
            entries = {k: v for k, v in entries.items() if is_object_id(v[2])}
    except BaseException:
        connection.close()
        raise
    return connection, entries


_IDS = re.compile(r"(?:[0-9a-f]{64})*")


def _all_object_ids(values: list[object]) -> bool:
    """Whether every value is an object id: one regex pass over all of them.

    Checking 20,000 ids one by one took 30-45 ms of a 1% re-import; this takes ~3 ms.
    """
    if not all(isinstance(value, str) and len(value) == 64 for value in values):
        return False
    joined = "".join(values)  # type: ignore[arg-type]
    return _IDS.fullmatch(joined) is not None


def _remove_cache_files(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.unlink(f"{path}{suffix}")
