"""Shared fixtures: databases (SQLite and PostgreSQL), storage backends, a moto S3 server."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_URL = os.environ.get("DATAWORKFLOW_TEST_DATABASE_URL")


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI: a suite that cannot run there is not done."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run every suite)")
    pytest.skip(reason)


# --- dw agents --------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _dw_agents_of_this_run() -> Iterator[None]:
    """`dw` subprocesses of this run share agents in a folder removed at the end.

    An agent leaves within a second of its socket file going away, so no agent outlives
    the run (by default one would wait 10 minutes for more commands). The folder has a
    short name: a socket's path must fit in 108 bytes.
    """
    from dataworkflow.cli.launcher import IDLE_ENV, RUNTIME_DIR_ENV

    folder = tempfile.mkdtemp(prefix="dw-agents-")
    saved = {name: os.environ.get(name) for name in (RUNTIME_DIR_ENV, IDLE_ENV)}
    os.environ[RUNTIME_DIR_ENV] = folder
    os.environ[IDLE_ENV] = "120"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)


# --- S3 -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port, spoken to over real HTTP; yields its URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        unavailable(f"moto server mode is not installed: {exc}")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server: str) -> str:
    """A fresh, empty bucket on the moto server."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)
    return name


# --- databases ------------------------------------------------------------------------


def _postgres_admin_url() -> str:
    if not POSTGRES_URL:
        unavailable("DATAWORKFLOW_TEST_DATABASE_URL is not set: PostgreSQL tests cannot run")
    return POSTGRES_URL  # type: ignore[return-value]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once with Alembic; each test gets a copy."""
    from dataworkflow.metadata.engine import Database

    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database migrated once with Alembic for the whole run; dropped after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from dataworkflow.metadata.engine import Database

    admin_url = make_url(_postgres_admin_url()).set(drivername="postgresql+psycopg")
    name = f"dw_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is down or refuses us
        admin.dispose()
        unavailable(f"cannot create a PostgreSQL test database: {exc}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    database.upgrade()
    database.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database, once per dialect."""
    if request.param == "sqlite":
        import shutil

        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "dw.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    yield url
    _truncate_postgres(url)


def _truncate_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    from dataworkflow.metadata.tables import Base

    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[object]:
    """A Database on an empty, migrated schema (SQLite and PostgreSQL)."""
    from dataworkflow.metadata.engine import Database

    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def storage(tmp_path: Path) -> object:
    """Filesystem storage in a temporary folder (the default backend)."""
    from dataworkflow.storage.filesystem import FileSystemStorage

    return FileSystemStorage(tmp_path / "objects")


@pytest.fixture
def repo(db: object, storage: object) -> object:
    """A Repository called 'test' on an empty installation."""
    from dataworkflow.services.installation import create_repository
    from dataworkflow.services.repository import Repository

    create_repository(db, "test")  # type: ignore[arg-type]
    return Repository(db, storage, "test")  # type: ignore[arg-type]
