"""`dw db upgrade`, `dw init`, and reaching the database and storage."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.cli.conftest import (
    Dw,
    base_env,
    deny_mkdir_below,
    filesystem_env,
    generated_files,
    s3_env,
    snapshot,
    write_tree,
)
from tests.conftest import POSTGRES_URL, unavailable

UNREACHABLE_PG = "postgresql+psycopg://nobody:s3cret@127.0.0.1:1/x"


def _versions():
    from dataworkflow.metadata.engine import MIGRATIONS_DIR

    return MIGRATIONS_DIR / "versions"


def _head() -> str:
    from dataworkflow.cli.context import _parse_migrations

    (head,) = _parse_migrations(str(_versions()))[1]
    return head


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A new PostgreSQL database without any schema; dropped afterwards."""
    if not POSTGRES_URL:
        unavailable("DATAWORKFLOW_TEST_DATABASE_URL is not set: PostgreSQL tests cannot run")
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    name = f"dw_cli_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_db_upgrade_then_up_to_date(dw_sqlite, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = dw_sqlite.ok("db", "upgrade").stdout
    assert first == f"database: {url} upgraded from an empty schema to revision {_head()}\n"
    assert dw_sqlite.ok("db", "upgrade").stdout == (
        f"database: {url} is at schema revision {_head()} (up to date)\n"
    )


def test_sqlite_is_migrated_on_first_use(dw_sqlite, tmp_path):
    assert not (tmp_path / "fresh.db").exists()
    dw_sqlite.ok("repo", "create", "first")
    assert [r["name"] for r in dw_sqlite.json("repo", "list")] == ["first"]


def test_init_on_filesystem_storage(dw_sqlite, tmp_path):
    result = dw_sqlite.ok("init")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("database: sqlite:///") and f"revision {_head()}" in lines[0]
    assert lines[1] == (
        f"storage: local folder {str(tmp_path / 'objects-root')!r} is reachable and writable"
    )
    assert dw_sqlite.object_count() == 0  # the probe object was removed again
    assert "up to date" in dw_sqlite.ok("init").stdout


@pytest.mark.s3
def test_init_on_s3(tmp_path, s3_bucket, moto_server):
    dw = Dw(
        {
            **base_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path),
            **s3_env(s3_bucket, moto_server),
        }
    )
    result = dw.ok("init")
    assert (
        f"storage: s3://{s3_bucket}/dw/ at {moto_server} is reachable and writable" in result.stdout
    )
    assert dw.object_count() == 0


def test_init_when_storage_is_a_file(dw_sqlite, tmp_path):
    (tmp_path / "objects-root").write_text("in the way")
    dw_sqlite.fails("init", message="is not writable: not a directory")


def test_init_when_storage_folder_is_not_writable(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    dw = Dw(
        {
            **base_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path),
            "STORAGE_PATH": str(locked / "store"),
            "S3_BUCKET": "",
        }
    )
    deny_mkdir_below(monkeypatch, locked)
    try:
        dw.fails("init", message=f"is not writable: permission denied: {str(locked / 'store')!r}")
    finally:
        locked.chmod(0o755)


@pytest.mark.s3
def test_init_when_the_bucket_is_missing(tmp_path, moto_server):
    env = {
        **base_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path),
        **s3_env("no-such-bucket", moto_server),
    }
    Dw(env).fails("init", message="storage s3://no-such-bucket/dw/")
    Dw(env).fails("init", message="NoSuchBucket")


def test_init_when_s3_is_unreachable(tmp_path):
    env = {
        **base_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path),
        **s3_env("bucket", "http://127.0.0.1:1"),
    }
    Dw(env).fails("init", message="is not usable: S3 could not")


@pytest.mark.s3
def test_import_when_s3_is_unreachable(tmp_path, dw_sqlite):
    from tests.cli.conftest import write_tree

    dw_sqlite.ok("repo", "create", "r")
    folder = write_tree(tmp_path / "src", {"a": b"1"})
    dw_sqlite.fails(
        "import",
        str(folder),
        "r",
        "-m",
        "x",
        message="S3 could not",
        **s3_env("b", "http://127.0.0.1:1"),
    )
    assert dw_sqlite.json("branch", "list", "r") == []


@pytest.mark.parametrize(
    "args",
    [
        ("repo", "list"),
        ("repo", "create", "x"),
        ("db", "upgrade"),
        ("init",),
        ("log", "x"),
        ("import", ".", "x", "-m", "m"),
    ],
)
def test_unreachable_database(tmp_path, args):
    dw = Dw({**base_env(UNREACHABLE_PG, tmp_path), **filesystem_env(tmp_path)})
    result = dw.fails(
        *args, message="cannot reach the database postgresql+psycopg://nobody:***@127.0.0.1:1/x: "
    )
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("::not a url::", "DATABASE_URL is not a valid database URL"),
    ],
)
def test_bad_database_url(tmp_path, url, message):
    Dw({**base_env(url, tmp_path), **filesystem_env(tmp_path)}).fails(
        "repo", "list", message=message
    )


def test_malformed_setting(dw_sqlite):
    dw_sqlite.fails("repo", "list", PORT="eighty", message="PORT must be an integer")


@pytest.mark.postgres
def test_postgres_without_schema_asks_for_db_upgrade(empty_postgres_url, tmp_path):
    dw = Dw({**base_env(empty_postgres_url, tmp_path), **filesystem_env(tmp_path)})
    dw.fails("repo", "list", message="has no DataWorkflow schema yet: run `dw db upgrade`")
    assert f"upgraded from an empty schema to revision {_head()}" in dw.ok("db", "upgrade").stdout
    dw.ok("repo", "create", "now")
    assert [r["name"] for r in dw.json("repo", "list")] == ["now"]


@pytest.mark.postgres
def test_postgres_schema_newer_than_dw(empty_postgres_url, tmp_path):
    dw = Dw({**base_env(empty_postgres_url, tmp_path), **filesystem_env(tmp_path)})
    dw.ok("db", "upgrade")
    engine = create_engine(empty_postgres_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    dw.fails("repo", "list", message="schema (revision 9999) is newer than this dw")


def test_old_sqlite_schema_is_upgraded_but_old_postgres_is_not(dw_sqlite, monkeypatch):
    from dataworkflow.cli import context

    dw_sqlite.ok("db", "upgrade")
    known, _ = context._parse_migrations(str(_versions()))
    monkeypatch.setattr(
        context, "_parse_migrations", lambda folder: (known | {"9998"}, frozenset({"9998"}))
    )
    upgraded = []
    monkeypatch.setattr(
        "dataworkflow.metadata.engine.Database.upgrade", lambda self: upgraded.append(self.dialect)
    )
    dw_sqlite.ok("repo", "list")
    assert upgraded == ["sqlite"]


def test_schema_check_messages_for_postgres(monkeypatch):
    from dataworkflow.cli import context
    from dataworkflow.cli.errors import CliError

    class FakeDb:
        dialect = "postgresql"
        url = make_url("postgresql+psycopg://u:pw@h/db")

    monkeypatch.setattr(context, "migration_graph", lambda db: ({"0001", "0002"}, {"0002"}))
    monkeypatch.setattr(context, "check_reachable", lambda db: "0001")
    with pytest.raises(
        CliError, match="at revision 0001 but this dw needs 0002: run `dw db upgrade`"
    ):
        context._ensure_schema(FakeDb())


def test_migration_graph_matches_alembic(tmp_path):
    from alembic.script import ScriptDirectory

    from dataworkflow.cli.context import _parse_migrations
    from dataworkflow.metadata.engine import Database

    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    script = ScriptDirectory.from_config(db.alembic_config())
    known, heads = _parse_migrations(str(_versions()))
    assert known == {r.revision for r in script.walk_revisions()}
    assert heads == set(script.get_heads())
    db.dispose()


def test_db_upgrade_moves_a_store_of_the_old_layout_and_keeps_every_file(dw_sqlite, tmp_path):
    files = generated_files()
    dw_sqlite.ok("repo", "create", "data")
    dw_sqlite.ok("import", str(write_tree(tmp_path / "src", files)), "data", "-m", "m")
    # Put the store back as dw left it before the one-level layout: objects/ab/cd/<id>.
    objects = tmp_path / "objects-root" / "objects"
    (objects / "LAYOUT").unlink()
    moved = 0
    for path in list(objects.glob("*/*")):
        (path.parent / path.name[2:4]).mkdir(exist_ok=True)
        path.rename(path.parent / path.name[2:4] / path.name)
        moved += 1
    dw_sqlite.ok("export", "data", "main", str(tmp_path / "before"))  # read where they are
    assert snapshot(tmp_path / "before") == snapshot(tmp_path / "src")

    lines = dw_sqlite.ok("db", "upgrade").stdout.splitlines()

    where = str(tmp_path / "objects-root")
    assert lines[1:] == [
        f"storage: local folder {where!r}: moved {moved} objects to the objects/ab/<id> layout"
    ]
    assert [p for p in objects.glob("*/*") if p.is_dir()] == []
    assert (objects / "LAYOUT").is_file()
    assert len(dw_sqlite.ok("init").stdout.splitlines()) == 2  # nothing left to move
    dw_sqlite.ok("export", "data", "main", str(tmp_path / "after"))
    assert snapshot(tmp_path / "after") == snapshot(tmp_path / "src")
    assert dw_sqlite.json("fsck", "--full")["problems"] == []


def test_db_upgrade_reports_a_storage_folder_it_cannot_upgrade(dw_sqlite, tmp_path):
    objects = tmp_path / "objects-root" / "objects"
    object_id = "abcd" + "0" * 60
    (objects / "ab" / "cd").mkdir(parents=True)
    (objects / "ab" / "cd" / object_id).write_bytes(b"x")
    (objects / "ab" / object_id / "in the way").mkdir(parents=True)  # a folder, not a file

    dw_sqlite.fails(
        "db",
        "upgrade",
        message=f"storage local folder {str(tmp_path / 'objects-root')!r} could not be upgraded: ",
    )
    assert (objects / "ab" / "cd" / object_id).read_bytes() == b"x"
    assert not (objects / "LAYOUT").exists()
