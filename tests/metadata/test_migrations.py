"""The schema comes from Alembic, and the models agree with the migrations."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from dataworkflow.metadata.engine import Database
from dataworkflow.metadata.search import include_name
from dataworkflow.metadata.tables import Base


def test_upgrade_head_creates_every_table_and_models_match(db):
    assert db.current_revision() is not None
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent(db):
    before = db.current_revision()
    db.upgrade()
    assert db.current_revision() == before


def test_upgrade_on_an_empty_sqlite_file(tmp_path):
    database = Database(f"sqlite:///{tmp_path}/nested/new.db")
    assert not database.is_migrated()
    database.upgrade()
    assert database.is_migrated()
    database.dispose()


def test_downgrade_to_base_and_upgrade_again(db):
    from alembic import command

    command.downgrade(db.alembic_config(), "base")
    assert not db.is_migrated()
    db.upgrade()
    assert db.is_migrated()


def _tree_entries_layout(db):
    """(primary key columns, index names, WITHOUT ROWID tables) as the database has them."""
    inspector = inspect(db.engine)
    key = inspector.get_pk_constraint("tree_entries")["constrained_columns"]
    indexes = {index["name"] for index in inspector.get_indexes("tree_entries")}
    without_rowid = set()
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as connection:
            for name, sql in connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
            ):
                if "WITHOUT ROWID" in sql.upper():
                    without_rowid.add(name)
    return key, indexes, without_rowid


def test_0005_rekeys_tree_entries_and_keeps_every_row(db, storage):
    """Down to 0004 and up again with a repository in it: rows, listings and lookups hold."""
    from alembic import command

    from dataworkflow.services.fsck import check_integrity
    from dataworkflow.services.installation import create_repository
    from dataworkflow.services.repository import Put, Repository

    create_repository(db, "test")
    repo = Repository(db, storage, "test")
    names = ["b", "a.txt", "a", "c.txt", "Z", "é.csv", "a-b"]
    puts = [Put(f"{n}/inner.txt" if n in ("b", "a", "Z") else n, n.encode()) for n in names]
    head = repo.commit("main", puts, "files and folders").commit_id

    def observed():
        listing = [e.path for e in repo.list_tree(head)]
        pages, after = [], None
        while page := repo.list_tree(head, after=after, limit=2):
            pages += [e.path for e in page]
            after = page[-1].entry.name
        first = [e.path for e in repo.list_tree(head, folders_first=True)]
        return listing, pages, first, repo.read_file(head, "é.csv"), repo.stat(head, "a").entry

    before = observed()
    assert before[0] == before[1] == sorted(names)
    assert before[2] == ["Z", "a", "b", "a-b", "a.txt", "c.txt", "é.csv"]
    key, indexes, without_rowid = _tree_entries_layout(db)
    assert key == ["repository_id", "tree_id", "kind", "name"]
    assert "ix_tree_entries_kind_name" not in indexes
    if db.engine.dialect.name == "sqlite":
        assert {"tree_entries", "blobs"} <= without_rowid

    command.downgrade(db.alembic_config(), "0004")
    key, indexes, without_rowid = _tree_entries_layout(db)
    assert key == ["repository_id", "tree_id", "name"]
    assert "ix_tree_entries_kind_name" in indexes
    assert not without_rowid & {"tree_entries", "blobs"}
    assert observed() == before

    db.upgrade()
    assert _tree_entries_layout(db)[0] == ["repository_id", "tree_id", "kind", "name"]
    assert observed() == before
    assert list(check_integrity(db, storage, full=True)) == []


def test_checkpoint_pages_sets_the_sqlite_log_limit(tmp_path):
    for pages, expected in ((None, 1000), (4321, 4321)):
        database = Database(f"sqlite:///{tmp_path}/{pages}.db", checkpoint_pages=pages)
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == expected
        database.dispose()
