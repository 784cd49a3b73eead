"""Engines and sessions for SQLite and PostgreSQL, and running the Alembic migrations."""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dataworkflow.errors import Conflict, DatabaseError, InvalidSetting

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL, choosing psycopg 3 for plain ``postgresql://`` URLs.

    Raises:
        InvalidSetting: if the URL cannot be parsed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidSetting(f"DATABASE_URL is not a valid database URL: {url!r}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidSetting(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
        )
    return parsed


def _configure_sqlite(engine: Engine, checkpoint_pages: int | None) -> None:
    """WAL, foreign keys, a busy timeout, and transactions that SQLAlchemy controls.

    pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy documents the fix:
    turn it off and emit BEGIN ourselves. BEGIN IMMEDIATE takes the write lock up front,
    so concurrent writers queue on the busy timeout instead of failing on lock upgrade.
    ``checkpoint_pages`` sets ``wal_autocheckpoint`` (SQLite's default: 1,000 pages).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if checkpoint_pages is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers take no write lock, so WAL lets them run beside a writer.
        read_only = connection.get_execution_options().get("dw_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """An engine plus a session factory: what ``Repository(db, storage)`` takes as ``db``."""

    def __init__(
        self, url: str | URL, *, checkpoint_pages: int | None = None, **engine_options: Any
    ) -> None:
        """Open (lazily) the database at ``url``.

        ``checkpoint_pages``: on SQLite, how many pages the write-ahead log may hold before
        a commit copies it into the database file (``PRAGMA wal_autocheckpoint``).
        """
        self.url = normalize_url(url)
        if self.url.get_backend_name() == "sqlite":
            database = self.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine_options.setdefault("connect_args", {"check_same_thread": False})
        else:
            engine_options.setdefault("pool_pre_ping", True)
        self.engine: Engine = create_engine(self.url, **engine_options)
        if self.url.get_backend_name() == "sqlite":
            _configure_sqlite(self.engine, checkpoint_pages)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(dw_read_only=True), expire_on_commit=False
        )
        self._gc_guard = _GcGuard(self.url)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_backend_name()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        Raises:
            DatabaseError: if the database cannot be reached.
        """
        session = self.sessions()
        try:
            with session.begin():
                yield session
        except OperationalError as exc:
            raise DatabaseError(f"database error: {_short(exc)}") from exc
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads; no changes are committed.

        On SQLite it takes no write lock, so reads run beside a writer (WAL).

        Raises:
            DatabaseError: if the database cannot be reached.
        """
        session = self._read_sessions()
        try:
            yield session
            session.rollback()
        except OperationalError as exc:
            raise DatabaseError(f"database error: {_short(exc)}") from exc
        finally:
            session.close()

    @contextmanager
    def gc_lock(self, *, shared: bool, timeout: float | None = None) -> Iterator[None]:
        """Hold the garbage-collection guard: shared by writers, exclusive by ``dw gc``.

        Writers hold it shared from before their first storage put until their
        transaction commits; gc holds it exclusive while it re-marks and deletes (see
        :mod:`dataworkflow.services.gc`). Re-entrant within a thread. Shared waits while
        gc holds it; exclusive polls, so a waiting gc never holds writers up.

        Raises:
            Conflict: if ``timeout`` seconds pass without getting it exclusive.
            DatabaseError: if the lock cannot be taken.
        """
        with self._gc_guard.hold(shared=shared, timeout=timeout):
            yield

    def alembic_config(self) -> Any:
        """An Alembic Config pointing at the migrations shipped in the package."""
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["engine"] = self.engine
        return config

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to ``revision``.

        Raises:
            DatabaseError: if the database cannot be reached.
        """
        from alembic import command

        try:
            command.upgrade(self.alembic_config(), revision)
        except OperationalError as exc:
            raise DatabaseError(f"cannot migrate the database: {_short(exc)}") from exc

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at, or None when it is empty."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def is_migrated(self) -> bool:
        """Whether the schema exists (the ``repositories`` table is there)."""
        return inspect(self.engine).has_table("repositories")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        self._gc_guard.dispose()


def _short(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- the garbage-collection guard ------------------------------------------------------

_GC_LOCK_KEY = int.from_bytes(hashlib.sha256(b"dataworkflow gc").digest()[:8], "big", signed=True)
"""The PostgreSQL advisory lock key of the guard (one per database)."""


class _GcGuard:
    """A reader/writer lock shared by every process using one database.

    PostgreSQL: a session advisory lock on a connection of its own (from a small pool
    apart from the engine's, so lock holders never starve transactions of connections);
    the server drops it if the process dies. SQLite: ``flock`` on a file beside the
    database; the kernel drops it if the process dies. An in-memory SQLite database has
    a single process, and no guard.
    """

    def __init__(self, url: URL) -> None:
        self._url = url
        self._local = threading.local()
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self._path: str | None = None
        if url.get_backend_name() == "sqlite":
            database = url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                self._path = os.path.abspath(f"{database}.gc-lock")

    @contextmanager
    def hold(self, *, shared: bool, timeout: float | None) -> Iterator[None]:
        held: str | None = getattr(self._local, "mode", None)
        if held is not None:  # this thread holds it already: the outer hold releases it
            if held == "shared" and not shared:
                raise RuntimeError("cannot take the gc guard exclusive while holding it shared")
            yield
            return
        release = self._acquire(shared, timeout)
        self._local.mode = "shared" if shared else "exclusive"
        try:
            yield
        finally:
            self._local.mode = None
            release()

    def _acquire(self, shared: bool, timeout: float | None) -> Callable[[], None]:
        if self._url.get_backend_name() == "postgresql":
            return self._acquire_postgres(shared, timeout)
        if self._path is not None:
            return self._acquire_file(self._path, shared, timeout)
        return lambda: None

    def _acquire_file(self, path: str, shared: bool, timeout: float | None) -> Callable[[], None]:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise DatabaseError(f"cannot open the gc lock file {path!r}: {exc.strerror}") from exc
        try:
            if shared:
                fcntl.flock(fd, fcntl.LOCK_SH)
            else:
                _poll(lambda: _try_flock(fd), timeout)
        except BaseException:
            os.close(fd)
            raise

        def release() -> None:
            os.close(fd)  # closing the last descriptor drops the lock

        return release

    def _acquire_postgres(self, shared: bool, timeout: float | None) -> Callable[[], None]:
        try:
            connection = self._lock_engine().connect()
        except OperationalError as exc:
            raise DatabaseError(f"cannot take the gc lock: {_short(exc)}") from exc
        try:
            if shared:
                connection.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": _GC_LOCK_KEY})
            else:
                _poll(lambda: _try_advisory_lock(connection), timeout)
        except OperationalError as exc:
            connection.invalidate()
            connection.close()
            raise DatabaseError(f"cannot take the gc lock: {_short(exc)}") from exc
        except BaseException:
            connection.invalidate()  # a new session holds nothing: the lock cannot leak
            connection.close()
            raise
        unlock = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"

        def release() -> None:
            try:
                connection.execute(text(f"SELECT {unlock}(:k)"), {"k": _GC_LOCK_KEY})
            except OperationalError:
                connection.invalidate()  # the session is gone, and its lock with it
            finally:
                connection.close()

        return release

    def _lock_engine(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                self._engine = create_engine(
                    self._url,
                    isolation_level="AUTOCOMMIT",  # no transaction stays open while held
                    pool_size=2,
                    max_overflow=64,
                    pool_pre_ping=True,
                )
            return self._engine

    def dispose(self) -> None:
        with self._engine_lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _try_advisory_lock(connection: Connection) -> bool:
    return bool(
        connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _GC_LOCK_KEY}).scalar()
    )


def _poll(attempt: Callable[[], bool], timeout: float | None) -> None:
    """Retry ``attempt`` with growing pauses (at most a second) until it succeeds.

    Polling instead of queueing keeps a waiting gc from blocking new writers behind it.

    Raises:
        Conflict: if ``timeout`` seconds pass first.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.01
    while not attempt():
        if deadline is not None and time.monotonic() >= deadline:
            raise Conflict("writers kept the installation busy: garbage collection gave up")
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
