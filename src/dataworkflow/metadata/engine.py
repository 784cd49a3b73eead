"""Engines and sessions for SQLite and PostgreSQL, and running the Alembic migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dataworkflow.errors import DatabaseError, InvalidSetting

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


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and transactions that SQLAlchemy controls.

    pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy documents the fix:
    turn it off and emit BEGIN ourselves. BEGIN IMMEDIATE takes the write lock up front,
    so concurrent writers queue on the busy timeout instead of failing on lock upgrade.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers take no write lock, so WAL lets them run beside a writer.
        read_only = connection.get_execution_options().get("dw_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """An engine plus a session factory: what ``Repository(db, storage)`` takes as ``db``."""

    def __init__(self, url: str | URL, **engine_options: Any) -> None:
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
            _configure_sqlite(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(dw_read_only=True), expire_on_commit=False
        )

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


def _short(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()
    return text[0] if text else type(exc).__name__
