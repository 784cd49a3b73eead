"""Small SQL helpers shared by the query modules (dialect-specific upserts, chunking)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Executable, Table
from sqlalchemy.orm import Session

T = TypeVar("T")

# SQLite allows 32,766 bound parameters per statement; stay well below for IN lists.
CHUNK = 500


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_ignoring_duplicates(
    session: Session, table: Table, rows: Iterable[dict[str, Any]], batch: int = 2000
) -> None:
    """Insert rows in batches, skipping any whose primary key exists already.

    Concurrent writers may store the same content-addressed object at the same time;
    the second insert must be a no-op, not an error.
    """
    all_rows = list(rows)
    if not all_rows:
        return
    dialect = session.get_bind().dialect.name
    # Imported here: a SQLite installation never needs the PostgreSQL dialect's modules.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Executable = pg_insert(table).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).on_conflict_do_nothing()
    for part in chunked(all_rows, batch):
        session.execute(statement, list(part))
