"""Small SQL helpers shared by the query modules (dialect-specific upserts, chunking)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
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
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make_insert(table).on_conflict_do_nothing()
    for part in chunked(all_rows, batch):
        session.execute(statement, list(part))
