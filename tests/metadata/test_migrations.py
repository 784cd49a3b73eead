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
