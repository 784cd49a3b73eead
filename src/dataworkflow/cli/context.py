"""What commands run against: settings, database and storage, each opened on first use.

Where the CLI reads its configuration: ``DATABASE_URL`` and friends via
:class:`~dataworkflow.settings.Settings` (with the ``.env`` of the current folder), plus
the CLI's own ``DW_CACHE_DIR``, ``DW_AUTHOR_NAME`` and ``DW_AUTHOR_EMAIL``, which are
passed on to the services explicitly.

Schema policy: the embedded SQLite default is migrated automatically on first use, so
``dw repo create`` just works on a new machine. A PostgreSQL database is shared and
upgraded by an operator, so a missing or old schema there is an error that says to run
``dw db upgrade``.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import re
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

import click

from dataworkflow.cli.errors import CliError, short_message
from dataworkflow.settings import Settings

if TYPE_CHECKING:
    from dataworkflow.cli.remote import RemoteRepository
    from dataworkflow.client import Client
    from dataworkflow.metadata.engine import Database
    from dataworkflow.services.repository import Repository
    from dataworkflow.storage.base import ObjectStorage

P = ParamSpec("P")
R = TypeVar("R")

REMOTE_COMMANDS = frozenset({"repo", "import", "export", "cat", "ls", "log", "show", "diff"})
"""Top-level commands that work with ``--server`` (``repo``: only ``list`` and ``show``)."""

_REVISION_LINE = re.compile(r"^revision\b[^=]*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_LINE = re.compile(r"^down_revision\b[^=]*=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def load_settings() -> Settings:
    """Settings from the environment and the ``.env`` of the current folder.

    python-dotenv's default search starts from the calling module's folder, which for an
    installed package is ``site-packages``; a command line wants the user's folder.

    Raises:
        InvalidSetting: if a value is malformed.
    """
    from dotenv import find_dotenv, load_dotenv

    dotenv_path = find_dotenv(usecwd=True)
    if dotenv_path:
        load_dotenv(dotenv_path, override=False)
    return Settings.from_env(dotenv=False)


CHECKPOINT_PAGES = 10_000
"""The SQLite write-ahead log a command may fill (~40 MB) before a commit of its own
copies the log into the database file; below that, closing the last connection does it.
A re-import writes ~1,100 pages: with SQLite's default of 1,000, its commit waited on
the copy and its two fsyncs (~55 ms here), which the agent now does after replying."""
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal", ".gc-lock")
"""Files beside a SQLite database: its log, shared memory, rollback journal and gc lock."""


class Housekeeping:
    """Work a command leaves until its exit status is reported.

    In the agent's children (see :mod:`dataworkflow.cli.agent`) closing the database,
    which on SQLite copies the write-ahead log into the database file and syncs both,
    runs after the client has the exit status and the command's output is closed: the
    command's work is committed by then, and the next command may start. Everywhere
    else it runs at once.
    """

    def __init__(self) -> None:
        self._pending: list[Callable[[], None]] | None = None

    def defer(self) -> None:
        """From now on, keep work for :meth:`run_pending` instead of running it."""
        self._pending = []

    def later(self, work: Callable[[], None]) -> None:
        """Run ``work`` now, or keep it when deferring."""
        if self._pending is None:
            work()
        else:
            self._pending.append(work)

    def run_pending(self) -> None:
        """Run the kept work, in order; a failure is ignored (nobody is listening)."""
        pending, self._pending = self._pending or [], None
        for work in pending:
            with contextlib.suppress(Exception):
                work()


HOUSEKEEPING = Housekeeping()


class Backend:
    """Settings, database and storage of one ``dw`` run, opened lazily and closed at exit.

    Args:
        settings_factory: Builds the settings on first use (tests pass their own).
        environ: Where the CLI's own variables (``DW_CACHE_DIR``, ``DW_AUTHOR_*``) come from.
    """

    def __init__(
        self,
        settings_factory: Callable[[], Settings] = load_settings,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._settings_factory = settings_factory
        self._environ = environ
        self._settings: Settings | None = None
        self._db: Database | None = None
        self._checked = False
        self._storage: ObjectStorage | None = None
        self.server: str | None = None
        """The server of remote mode (``--server``/``DW_SERVER_URL``); None for local."""
        self.token: str | None = None
        self._client: Client | None = None

    @property
    def remote(self) -> bool:
        """Whether commands go through a server's API instead of the local database."""
        return bool(self.server)

    def client(self) -> Client:
        """The API client of remote mode, opened on first use."""
        if self._client is None:
            from dataworkflow.client import Client

            assert self.server
            self._client = Client(self.server, self.token)
        return self._client

    def not_remote(self) -> None:
        """Refuse a command that has no remote mode yet.

        Raises:
            CliError: in remote mode.
        """
        if self.remote:
            words = click.get_current_context().command_path.split(" ")[1:]
            raise CliError(f"`{' '.join(['dw', *words])}` is not available with --server yet")

    @property
    def settings(self) -> Settings:
        """The settings, read on first use."""
        if self._settings is None:
            self._settings = self._settings_factory()
        return self._settings

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment (read after the settings, so ``.env`` values are in it)."""
        self.settings  # noqa: B018 (loads .env into os.environ first)
        return self._environ if self._environ is not None else os.environ

    def database(self, *, check_schema: bool = True) -> Database:
        """The metadata database, reachable and (unless told not to check) migrated.

        Raises:
            CliError: if it cannot be reached, or a PostgreSQL schema is missing or old.
        """
        self.not_remote()
        if self._db is None:
            from dataworkflow.metadata.engine import Database

            self._db = Database(self.settings.database_url, checkpoint_pages=CHECKPOINT_PAGES)
        if check_schema and not self._checked:
            _ensure_schema(self._db)
            self._checked = True
        return self._db

    def describe_database(self) -> str:
        """The database URL with any password hidden."""
        from dataworkflow.metadata.engine import normalize_url

        return normalize_url(self.settings.database_url).render_as_string(hide_password=True)

    @property
    def storage(self) -> ObjectStorage:
        """The object storage the settings choose."""
        self.not_remote()
        if self._storage is None:
            from dataworkflow.storage import open_storage

            self._storage = open_storage(self.settings)
        return self._storage

    def describe_storage(self) -> str:
        """Where objects are stored, for messages (no credentials)."""
        settings = self.settings
        if settings.s3_bucket:
            where = f"s3://{settings.s3_bucket}/{settings.s3_prefix}"
            return f"{where} at {settings.s3_endpoint_url}" if settings.s3_endpoint_url else where
        return f"local folder {str(Path(settings.storage_path).resolve())!r}"

    def repository(self, name: str) -> Repository:
        """The repository called ``name`` (local mode).

        Raises:
            RepositoryNotFound: if there is none (the CLI never creates one implicitly).
        """
        from dataworkflow.services.installation import get_repository_info
        from dataworkflow.services.repository import Repository

        db = self.database()
        get_repository_info(db, name)  # Repository() would create one called "default"
        return Repository(db, self.storage, name)

    def any_repository(self, name: str) -> Repository | RemoteRepository:
        """The repository called ``name``: on the server in remote mode, else local.

        Raises:
            RepositoryNotFound: if there is none.
        """
        if self.remote:
            from dataworkflow.cli.remote import RemoteRepository

            return RemoteRepository(self.client(), name)
        return self.repository(name)

    def own_paths(self) -> list[Path]:
        """What this installation writes on this machine: an import leaves it out.

        The cache folder, and in local mode a local storage folder and a SQLite database
        with its companion files.
        """
        paths = [self.cache_dir()]
        if self.remote:
            return paths
        settings = self.settings
        if not settings.s3_bucket:
            paths.append(Path(settings.storage_path))
        from dataworkflow.metadata.engine import normalize_url

        url = normalize_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            database = Path(url.database)
            paths.append(database)
            paths += [database.with_name(database.name + s) for s in SQLITE_COMPANIONS]
        return paths

    def cache_dir(self) -> Path:
        """``DW_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/dataworkflow``."""
        environ = self.environ
        if environ.get("DW_CACHE_DIR"):
            return Path(environ["DW_CACHE_DIR"]).expanduser()
        base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "dataworkflow"

    def default_author(self) -> tuple[str, str]:
        """``DW_AUTHOR_NAME``/``DW_AUTHOR_EMAIL``, else the login name and ``user@host``."""
        environ = self.environ
        user = _login_name()
        name = environ.get("DW_AUTHOR_NAME") or user
        email = environ.get("DW_AUTHOR_EMAIL") or f"{user}@{socket.gethostname() or 'localhost'}"
        return name, email

    def close(self) -> None:
        """Release pooled database connections (and the client's)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._db is not None:
            HOUSEKEEPING.later(self._db.dispose)
            self._db = None


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER variable and no passwd entry (some containers)
        return "unknown"


def pass_backend(f: Callable[Concatenate[Backend, P], R]) -> Callable[P, R]:
    """Hand the command the run's :class:`Backend` as its first argument."""

    @functools.wraps(f)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        backend = click.get_current_context().find_object(Backend)
        if backend is None:  # a command invoked outside the ``dw`` group (tests)
            backend = Backend()
            click.get_current_context().call_on_close(backend.close)
        return f(backend, *args, **kwargs)

    return wrapper


# --- schema check -----------------------------------------------------------------------


def check_reachable(db: Database) -> str | None:
    """Connect once; return the schema revision (None when the schema is missing).

    Raises:
        CliError: if the database cannot be reached.
    """
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with db.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            current: str | None = connection.execute(
                text("SELECT version_num FROM alembic_version")
            ).scalar()
            return current
    except SQLAlchemyError as exc:
        url = db.url.render_as_string(hide_password=True)
        raise CliError(f"cannot reach the database {url}: {short_message(exc)}") from exc


def _ensure_schema(db: Database) -> None:
    """Check that the database answers and has the current schema (migrating SQLite).

    Raises:
        CliError: if it cannot be reached, or a PostgreSQL schema is missing or old.
    """
    url = db.url.render_as_string(hide_password=True)
    current = check_reachable(db)
    known, heads = migration_graph(db)
    if current is not None and current in heads:
        return
    if db.dialect == "sqlite" and (current is None or current in known):
        db.upgrade()  # the embedded default: migrate on first use
        return
    if current is None:
        raise CliError(f"the database {url} has no DataWorkflow schema yet: run `dw db upgrade`")
    if current in known:
        raise CliError(
            f"the database schema is at revision {current} but this dw needs"
            f" {', '.join(sorted(heads))}: run `dw db upgrade`"
        )
    raise CliError(
        f"the database schema (revision {current}) is newer than this dw: upgrade DataWorkflow"
    )


@functools.cache
def _parse_migrations(folder: str) -> tuple[frozenset[str], frozenset[str]]:
    """Revisions and heads read from the migration scripts' ``revision`` lines.

    Importing Alembic costs about 0.2 s, more than the rest of a small command, so the
    scripts' two assignment lines are read directly; Alembic itself is the fallback.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in Path(folder).glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = _REVISION_LINE.search(source)
        down = _DOWN_LINE.search(source)
        if revision is None or down is None:
            return frozenset(), frozenset()
        revisions.add(revision.group(1))
        parents.update(_QUOTED.findall(down.group(1)))
    return frozenset(revisions), frozenset(revisions - parents)


def known_migrations() -> tuple[frozenset[str], frozenset[str]]:
    """Revisions and heads of the migration scripts, read once per process.

    Both empty when a script could not be read that way (see :func:`migration_graph`).
    """
    from dataworkflow.metadata.engine import MIGRATIONS_DIR

    return _parse_migrations(str(MIGRATIONS_DIR / "versions"))


def migration_graph(db: Database) -> tuple[frozenset[str], frozenset[str]]:
    """Every known schema revision, and the head revision(s) this version of dw needs."""
    known, heads = known_migrations()
    if heads:
        return known, heads
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db.alembic_config())
    return (
        frozenset(r.revision for r in script.walk_revisions()),
        frozenset(script.get_heads()),
    )
