"""Search index tables and the SQL that reads and maintains them.

Two indexes, kept up to date by different means:

- Commits: ``search_commit_docs`` holds one row per commit (message, author, metadata
  values). Database triggers on ``commits`` and ``commit_metadata`` write it (migration
  0004), so a commit is searchable as soon as the transaction that made it commits,
  whichever code path wrote it.
- Content: ``search_branches``, ``search_paths`` and ``search_blobs`` describe the text
  files at the head of every branch, as far as ``catch_up`` (services/search.py) has read
  the ref log; ``search_state`` keeps, per repository, the last ref-log id read. A blob
  shared by many paths and branches has one ``search_blobs`` row.

The full-text machinery is dialect-specific and lives only in the migration: on SQLite,
FTS5 external-content tables (``search_commit_fts`` with the unicode61 tokenizer and
``search_commit_trgm`` with the trigram tokenizer over the commit documents,
``search_blob_fts`` over the blob terms) kept in step by triggers; on PostgreSQL,
generated ``tsv`` tsvector columns with GIN indexes, and a pg_trgm GIN index for
substring matches. None of it is in the models, so :func:`include_name` hides it from
Alembic's autogenerate comparison.

Tokenization is the same everywhere: runs of Unicode letters and digits, lowercased (the
unicode61 tokenizer, and PostgreSQL's ``simple`` configuration after every other
character is replaced by a space). Blob terms are tokenized once, in Python, and stored,
so content matching cannot differ between the databases.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import BindParameter

from dataworkflow.core.objects import TreeEntry
from dataworkflow.metadata._sql import chunked, insert_ignoring_duplicates
from dataworkflow.metadata.convert import entry_from_row
from dataworkflow.metadata.objects import KINDS
from dataworkflow.metadata.tables import (
    Base,
    NameText,
    ObjectIdColumn,
    RefLogRow,
    RefRow,
    RepositoryRow,
    TreeEntryRow,
)

BRANCH_PREFIX = "refs/heads/"

# Objects the migration creates outside the models (see the module docstring).
DIALECT_TABLES = frozenset({"search_commit_fts", "search_commit_trgm", "search_blob_fts"})
DIALECT_COLUMNS = frozenset({("search_commit_docs", "tsv"), ("search_blobs", "tsv")})
DIALECT_INDEXES = frozenset(
    {"ix_search_commit_docs_tsv", "ix_search_commit_docs_trgm", "ix_search_blobs_tsv"}
)
_FTS5_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")

# Serializes index writes per repository on PostgreSQL (SQLite has one writer anyway).
_LOCK_CLASS = 0x53524348  # "SRCH"


def include_name(
    name: str | None, type_: str, parent_names: MutableMapping[Any, str | None]
) -> bool:
    """Alembic ``include_name`` hook: skip the search objects that exist only in SQL.

    FTS5 virtual tables (and their shadow tables), the generated ``tsv`` columns and the
    GIN indexes are created by migration 0004 with ``op.execute``; comparing them with
    the models would report them as unknown objects to drop.
    """
    if name is None:
        return True
    if type_ == "table":
        return not any(
            name == table or name in {table + shadow for shadow in _FTS5_SHADOWS}
            for table in DIALECT_TABLES
        )
    if type_ == "column":
        return (parent_names.get("table_name"), name) not in DIALECT_COLUMNS
    if type_ == "index":
        return name not in DIALECT_INDEXES
    return True


def _repository_fk() -> ForeignKey:
    return ForeignKey("repositories.id", ondelete="CASCADE")


class SearchCommitDocRow(Base):
    """The searchable text of one commit; written by triggers, never by Python code."""

    __tablename__ = "search_commit_docs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["repository_id", "commit_id"],
            ["commits.repository_id", "commits.id"],
            ondelete="CASCADE",
            name="fk_search_commit_docs_commit_id_commits",
        ),
        UniqueConstraint("repository_id", "commit_id", name="uq_search_commit_docs_commit"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    """The FTS5 rowid on SQLite, so it must be an INTEGER PRIMARY KEY (stable across VACUUM)."""
    repository_id: Mapped[int] = mapped_column(Integer)
    commit_id: Mapped[str] = mapped_column(ObjectIdColumn)
    message: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(Text)
    """Author name and email."""
    metadata_values: Mapped[str] = mapped_column(Text)
    """The values of the commit's metadata, one per line."""


class SearchStateRow(Base):
    """How far the content index has read a repository's ref log."""

    __tablename__ = "search_state"

    repository_id: Mapped[int] = mapped_column(_repository_fk(), primary_key=True)
    ref_log_id: Mapped[int] = mapped_column(BigInteger)


class SearchBranchRow(Base):
    """A branch as the content index knows it: the commit its paths were taken from."""

    __tablename__ = "search_branches"

    repository_id: Mapped[int] = mapped_column(_repository_fk(), primary_key=True)
    branch: Mapped[str] = mapped_column(NameText, primary_key=True)
    """The short name (``main``, not ``refs/heads/main``)."""
    commit_id: Mapped[str] = mapped_column(ObjectIdColumn)


class SearchPathRow(Base):
    """A text file at the indexed head of a branch."""

    __tablename__ = "search_paths"
    __table_args__ = (
        ForeignKeyConstraint(
            ["repository_id", "branch"],
            ["search_branches.repository_id", "search_branches.branch"],
            ondelete="CASCADE",
            name="fk_search_paths_branch_search_branches",
        ),
        # From a matching blob to every path and branch that holds it.
        Index("ix_search_paths_blob", "repository_id", "blob_id"),
    )

    repository_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch: Mapped[str] = mapped_column(NameText, primary_key=True)
    path: Mapped[str] = mapped_column(NameText, primary_key=True)
    blob_id: Mapped[str] = mapped_column(ObjectIdColumn)


class SearchBlobRow(Base):
    """The text of one blob of a repository, and its distinct search terms."""

    __tablename__ = "search_blobs"
    __table_args__ = (UniqueConstraint("repository_id", "blob_id", name="uq_search_blobs_blob"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    """The FTS5 rowid on SQLite."""
    repository_id: Mapped[int] = mapped_column(_repository_fk())
    blob_id: Mapped[str] = mapped_column(ObjectIdColumn)
    text: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text)
    """Distinct lowercased tokens separated by single spaces (what the full-text index reads)."""


# --- search queries ---------------------------------------------------------------------
# Every value a user typed reaches SQL as a bound parameter. The terms are runs of letters
# and digits (services/search.py tokenizes them), and are quoted again here regardless.


@dataclass(frozen=True, slots=True)
class CommitMatch:
    """A commit that matched, with its rank."""

    repository_id: int
    repository: str
    commit_id: str
    score: int


@dataclass(frozen=True, slots=True)
class BlobMatch:
    """A text file at a branch head that matched, with its rank."""

    repository_id: int
    repository: str
    branch: str
    commit_id: str
    path: str
    blob_id: str
    score: int


def _fts5_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _tsquery_lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _like_substring(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _repository_filter(column: str, repository_ids: Collection[int] | None) -> str:
    return "" if repository_ids is None else f" AND {column} IN :repository_ids"


def _bind_repositories(
    params: dict[str, object], repository_ids: Collection[int] | None
) -> list[BindParameter[Any]]:
    if repository_ids is None:
        return []
    params["repository_ids"] = sorted(set(repository_ids))
    return [bindparam("repository_ids", expanding=True)]


SUBSTRING_MIN = 3
"""Shorter terms match only as words or word prefixes (trigram indexes need three)."""


def search_commit_docs(
    session: Session,
    terms: Sequence[str],
    repository_ids: Collection[int] | None,
    limit: int,
    offset: int,
) -> list[CommitMatch]:
    """Commits whose message, author or metadata values contain every term, best first.

    Per term, a whole word scores 3, a word prefix 2, and (for terms of three or more
    characters) a substring inside a word 1; ties go to the newer commit. The ranking is
    computed the same way on both databases, so they return the same order.
    """
    dialect = session.get_bind().dialect.name
    params: dict[str, object] = {"limit": limit, "offset": offset}
    filters: list[str] = []
    scores: list[str] = []
    for i, term in enumerate(terms):
        if dialect == "postgresql":
            params[f"w{i}"] = _tsquery_lexeme(term)
            params[f"p{i}"] = _tsquery_lexeme(term) + ":*"
            word = f"d.tsv @@ to_tsquery('simple', :w{i})"
            prefix = f"d.tsv @@ to_tsquery('simple', :p{i})"
            if len(term) >= SUBSTRING_MIN:
                params[f"s{i}"] = _like_substring(term)
                filters.append(
                    f"(d.message ILIKE :s{i} OR d.author ILIKE :s{i}"
                    f" OR d.metadata_values ILIKE :s{i})"
                )
            else:
                filters.append(prefix)
        else:
            params[f"w{i}"] = _fts5_phrase(term)
            params[f"p{i}"] = _fts5_phrase(term) + "*"
            word = (
                f"d.id IN (SELECT rowid FROM search_commit_fts WHERE search_commit_fts MATCH :w{i})"
            )
            prefix = (
                f"d.id IN (SELECT rowid FROM search_commit_fts WHERE search_commit_fts MATCH :p{i})"
            )
            if len(term) >= SUBSTRING_MIN:
                params[f"s{i}"] = _fts5_phrase(term)
                filters.append(
                    "d.id IN (SELECT rowid FROM search_commit_trgm"
                    f" WHERE search_commit_trgm MATCH :s{i})"
                )
            else:
                filters.append(prefix)
        scores.append(f"(CASE WHEN {word} THEN 3 WHEN {prefix} THEN 2 ELSE 1 END)")
    name_order = 'r.name COLLATE "C"' if dialect == "postgresql" else "r.name"
    sql = (
        f"SELECT d.repository_id, r.name, d.commit_id, {' + '.join(scores)} AS score"
        " FROM search_commit_docs d"
        " JOIN commits c ON c.repository_id = d.repository_id AND c.id = d.commit_id"
        " JOIN repositories r ON r.id = d.repository_id"
        f" WHERE {' AND '.join(filters)}"
        f"{_repository_filter('d.repository_id', repository_ids)}"
        f" ORDER BY score DESC, c.committer_time DESC, {name_order}, d.commit_id"
        " LIMIT :limit OFFSET :offset"
    )
    statement = text(sql).bindparams(*_bind_repositories(params, repository_ids))
    return [
        CommitMatch(int(repo_id), name, commit_id, int(score))
        for repo_id, name, commit_id, score in session.execute(statement, params)
    ]


def search_blob_texts(
    session: Session,
    terms: Sequence[str],
    repository_ids: Collection[int] | None,
    branch: str | None,
    limit: int,
    offset: int,
) -> list[BlobMatch]:
    """Text files at indexed branch heads holding every term (as a word or word prefix).

    A file where a term is a whole word scores 2 for it, a prefix 1; ties are ordered by
    repository name, branch and path (byte order on both databases).
    """
    dialect = session.get_bind().dialect.name
    params: dict[str, object] = {"limit": limit, "offset": offset}
    scores: list[str] = []
    if dialect == "postgresql":
        # The tsvector holds the stored terms verbatim (array_to_tsvector), so the query
        # is cast, not parsed by a text-search configuration: the same words match.
        params["all"] = " & ".join(_tsquery_lexeme(t) + ":*" for t in terms)
        match = "b.tsv @@ CAST(:all AS tsquery)"
        for i, term in enumerate(terms):
            params[f"w{i}"] = _tsquery_lexeme(term)
            scores.append(f"(CASE WHEN b.tsv @@ CAST(:w{i} AS tsquery) THEN 2 ELSE 1 END)")
        name_order = 'r.name COLLATE "C"'
    else:
        params["all"] = " AND ".join(_fts5_phrase(t) + "*" for t in terms)
        match = "b.id IN (SELECT rowid FROM search_blob_fts WHERE search_blob_fts MATCH :all)"
        for i, term in enumerate(terms):
            params[f"w{i}"] = _fts5_phrase(term)
            scores.append(
                f"(CASE WHEN b.id IN (SELECT rowid FROM search_blob_fts"
                f" WHERE search_blob_fts MATCH :w{i}) THEN 2 ELSE 1 END)"
            )
        name_order = "r.name"
    branch_filter = ""
    if branch is not None:
        params["branch"] = branch
        branch_filter = " AND p.branch = :branch"
    sql = (
        f"SELECT b.repository_id, r.name, p.branch, sb.commit_id, p.path, b.blob_id,"
        f" {' + '.join(scores)} AS score"
        " FROM search_blobs b"
        " JOIN search_paths p ON p.repository_id = b.repository_id AND p.blob_id = b.blob_id"
        " JOIN search_branches sb ON sb.repository_id = p.repository_id AND sb.branch = p.branch"
        " JOIN repositories r ON r.id = b.repository_id"
        f" WHERE {match}{branch_filter}"
        f"{_repository_filter('b.repository_id', repository_ids)}"
        f" ORDER BY score DESC, {name_order}, p.branch, p.path"
        " LIMIT :limit OFFSET :offset"
    )
    statement = text(sql).bindparams(*_bind_repositories(params, repository_ids))
    return [
        BlobMatch(int(repo_id), name, branch_name, commit_id, path, blob_id, int(score))
        for repo_id, name, branch_name, commit_id, path, blob_id, score in session.execute(
            statement, params
        )
    ]


def blob_texts(session: Session, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """The stored text of ``(repository id, blob id)`` pairs."""
    by_repository: dict[int, list[str]] = {}
    for repository_id, blob_id in set(keys):
        by_repository.setdefault(repository_id, []).append(blob_id)
    found: dict[tuple[int, str], str] = {}
    for repository_id, blob_ids in by_repository.items():
        for part in chunked(sorted(blob_ids)):
            rows = session.execute(
                select(SearchBlobRow.blob_id, SearchBlobRow.text).where(
                    SearchBlobRow.repository_id == repository_id,
                    SearchBlobRow.blob_id.in_(part),
                )
            )
            found.update(((repository_id, blob_id), value) for blob_id, value in rows)
    return found


def tree_entries(
    session: Session,
    repository_id: int,
    tree_ids: Collection[str],
    *,
    names: Collection[str] | None = None,
    subtrees: bool = False,
) -> list[tuple[str, TreeEntry]]:
    """``(tree id, entry)`` of several trees at once (one query per 500 trees).

    With ``names``, only entries so named, plus every subtree when ``subtrees``: a glob
    whose next component is a literal name need not read a folder's other files.
    """
    found: list[tuple[str, TreeEntry]] = []
    for part in chunked(sorted(set(tree_ids))):
        query = select(TreeEntryRow).where(
            TreeEntryRow.repository_id == repository_id, TreeEntryRow.tree_id.in_(part)
        )
        if names is not None:
            # Naming the kinds lets the key (tree, kind, name) seek each name.
            wanted = TreeEntryRow.kind.in_(KINDS) & TreeEntryRow.name.in_(sorted(set(names)))
            query = query.where(wanted | (TreeEntryRow.kind == "tree") if subtrees else wanted)
        found.extend((row.tree_id, entry_from_row(row)) for row in session.scalars(query))
    return found


# --- catching up with the ref log ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefMove:
    """A ref-log entry as the indexer needs it."""

    id: int
    repository_id: int
    ref: str


def repositories_to_reconcile(
    session: Session, repository_id: int | None, *, every: bool
) -> list[tuple[int, int]]:
    """``(repository id, its newest ref-log id)`` of repositories to index branch by branch.

    Those the index has never seen (no ``search_state`` row), or all of them with ``every``.
    """
    newest = (
        select(func.coalesce(func.max(RefLogRow.id), 0))
        .where(RefLogRow.repository_id == RepositoryRow.id)
        .scalar_subquery()
    )
    query = select(RepositoryRow.id, newest).order_by(RepositoryRow.id)
    if not every:
        query = query.outerjoin(
            SearchStateRow, SearchStateRow.repository_id == RepositoryRow.id
        ).where(SearchStateRow.repository_id.is_(None))
    if repository_id is not None:
        query = query.where(RepositoryRow.id == repository_id)
    return [(int(rid), int(mark)) for rid, mark in session.execute(query)]


def ref_moves_after_watermark(
    session: Session, repository_id: int | None, batch: int
) -> list[RefMove]:
    """The oldest ``batch`` ref-log entries not yet read, of repositories already indexed."""
    query = (
        select(RefLogRow.id, RefLogRow.repository_id, RefLogRow.ref)
        .join(SearchStateRow, SearchStateRow.repository_id == RefLogRow.repository_id)
        .where(RefLogRow.id > SearchStateRow.ref_log_id)
        .order_by(RefLogRow.id)
        .limit(batch)
    )
    if repository_id is not None:
        query = query.where(RefLogRow.repository_id == repository_id)
    return [RefMove(int(i), int(r), ref) for i, r, ref in session.execute(query)]


def recently_moved_branches(
    session: Session, repository_id: int | None, since: int
) -> list[tuple[int, str]]:
    """``(repository id, branch)`` of branches moved at or after ``since`` (epoch seconds)."""
    query = (
        select(RefLogRow.repository_id, RefLogRow.ref)
        .join(SearchStateRow, SearchStateRow.repository_id == RefLogRow.repository_id)
        .where(RefLogRow.created_at >= since, RefLogRow.ref.startswith(BRANCH_PREFIX))
        .distinct()
    )
    if repository_id is not None:
        query = query.where(RefLogRow.repository_id == repository_id)
    return sorted(
        (int(rid), ref.removeprefix(BRANCH_PREFIX)) for rid, ref in session.execute(query)
    )


def set_watermark(session: Session, repository_id: int, ref_log_id: int) -> None:
    """Record that the ref log of a repository has been read up to ``ref_log_id``."""
    moved = session.execute(
        update(SearchStateRow)
        .where(
            SearchStateRow.repository_id == repository_id,
            SearchStateRow.ref_log_id < ref_log_id,
        )
        .values(ref_log_id=ref_log_id)
    )
    if getattr(moved, "rowcount", 0) == 0:
        insert_ignoring_duplicates(
            session,
            SearchStateRow.__table__,  # type: ignore[arg-type]
            [{"repository_id": repository_id, "ref_log_id": ref_log_id}],
        )


def branch_names(session: Session, repository_id: int) -> list[str]:
    """Every branch a repository has now, or that the index still holds, by name."""
    live = session.scalars(
        select(RefRow.name).where(
            RefRow.repository_id == repository_id, RefRow.name.startswith(BRANCH_PREFIX)
        )
    )
    indexed = session.scalars(
        select(SearchBranchRow.branch).where(SearchBranchRow.repository_id == repository_id)
    )
    return sorted({name.removeprefix(BRANCH_PREFIX) for name in live} | set(indexed))


def indexed_commit(session: Session, repository_id: int, branch: str) -> str | None:
    """The commit whose files the index holds for a branch, or None."""
    return session.scalar(
        select(SearchBranchRow.commit_id).where(
            SearchBranchRow.repository_id == repository_id, SearchBranchRow.branch == branch
        )
    )


def default_branch(session: Session, repository_id: int) -> str | None:
    """The default branch of a repository (None if the repository is gone)."""
    return session.scalar(
        select(RepositoryRow.default_branch).where(RepositoryRow.id == repository_id)
    )


def text_blob_ids(session: Session, repository_id: int, blob_ids: Iterable[str]) -> set[str]:
    """Those of ``blob_ids`` whose text the index holds."""
    found: set[str] = set()
    for part in chunked(sorted(set(blob_ids))):
        found.update(
            session.scalars(
                select(SearchBlobRow.blob_id).where(
                    SearchBlobRow.repository_id == repository_id,
                    SearchBlobRow.blob_id.in_(part),
                )
            )
        )
    return found


def lock_repository_index(session: Session, repository_id: int) -> None:
    """Serialize writers of one repository's index until the transaction ends.

    Two indexers (web workers) must not interleave: one could drop a blob's text as
    unreferenced while the other adds a path that refers to it. SQLite needs nothing:
    its writers already queue on ``BEGIN IMMEDIATE``.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:cls, :obj)"),
            {"cls": _LOCK_CLASS, "obj": repository_id},
        )


def move_indexed_branch(
    session: Session, repository_id: int, branch: str, expected: str | None, new: str
) -> bool:
    """Point the index's record of a branch at ``new`` if it still says ``expected``."""
    if expected is None:
        if indexed_commit(session, repository_id, branch) is not None:
            return False
        session.add(SearchBranchRow(repository_id=repository_id, branch=branch, commit_id=new))
        session.flush()
        return True
    moved = session.execute(
        update(SearchBranchRow)
        .where(
            SearchBranchRow.repository_id == repository_id,
            SearchBranchRow.branch == branch,
            SearchBranchRow.commit_id == expected,
        )
        .values(commit_id=new)
    )
    return bool(getattr(moved, "rowcount", 0))


def copy_branch_paths(session: Session, repository_id: int, source: str, target: str) -> None:
    """Give ``target`` every indexed path of ``source`` (a new branch starts as a copy)."""
    rows = select(
        SearchPathRow.repository_id,
        bindparam("target", target, type_=NameText),
        SearchPathRow.path,
        SearchPathRow.blob_id,
    ).where(SearchPathRow.repository_id == repository_id, SearchPathRow.branch == source)
    session.execute(
        SearchPathRow.__table__.insert().from_select(  # type: ignore[attr-defined]
            ["repository_id", "branch", "path", "blob_id"], rows
        )
    )


def remove_paths(
    session: Session, repository_id: int, branch: str, paths: Sequence[str]
) -> set[str]:
    """Delete indexed paths of a branch; return the blob ids they held."""
    released: set[str] = set()
    for part in chunked(sorted(set(paths))):
        where = (
            SearchPathRow.repository_id == repository_id,
            SearchPathRow.branch == branch,
            SearchPathRow.path.in_(part),
        )
        released.update(session.scalars(select(SearchPathRow.blob_id).where(*where)))
        session.execute(delete(SearchPathRow).where(*where))
    return released


def add_paths(
    session: Session, repository_id: int, branch: str, paths: Iterable[tuple[str, str]]
) -> None:
    """Insert ``(path, blob id)`` rows for a branch (the paths must not be indexed yet)."""
    rows = [
        {"repository_id": repository_id, "branch": branch, "path": path, "blob_id": blob_id}
        for path, blob_id in paths
    ]
    for part in chunked(rows, 2000):
        session.execute(SearchPathRow.__table__.insert(), list(part))  # type: ignore[attr-defined]


def add_blob_texts(
    session: Session, repository_id: int, texts: Iterable[tuple[str, str, str]]
) -> None:
    """Store ``(blob id, text, terms)``; a blob another indexer stored already is skipped."""
    insert_ignoring_duplicates(
        session,
        SearchBlobRow.__table__,  # type: ignore[arg-type]
        (
            {"repository_id": repository_id, "blob_id": blob_id, "text": value, "terms": terms}
            for blob_id, value, terms in texts
        ),
        batch=200,
    )


def drop_branch(session: Session, repository_id: int, branch: str) -> set[str]:
    """Forget a branch and its paths; return the blob ids they held."""
    released = set(
        session.scalars(
            select(SearchPathRow.blob_id)
            .where(SearchPathRow.repository_id == repository_id, SearchPathRow.branch == branch)
            .distinct()
        )
    )
    session.execute(
        delete(SearchPathRow).where(
            SearchPathRow.repository_id == repository_id, SearchPathRow.branch == branch
        )
    )
    session.execute(
        delete(SearchBranchRow).where(
            SearchBranchRow.repository_id == repository_id, SearchBranchRow.branch == branch
        )
    )
    return released


def drop_unreferenced_texts(
    session: Session, repository_id: int, blob_ids: Iterable[str] | None
) -> None:
    """Delete the texts of those ``blob_ids`` (None: any) that no indexed path holds."""
    referenced = (
        select(SearchPathRow.blob_id)
        .where(
            SearchPathRow.repository_id == SearchBlobRow.repository_id,
            SearchPathRow.blob_id == SearchBlobRow.blob_id,
        )
        .exists()
    )
    if blob_ids is None:
        session.execute(
            delete(SearchBlobRow).where(SearchBlobRow.repository_id == repository_id, ~referenced)
        )
        return
    for part in chunked(sorted(set(blob_ids))):
        session.execute(
            delete(SearchBlobRow).where(
                SearchBlobRow.repository_id == repository_id,
                SearchBlobRow.blob_id.in_(part),
                ~referenced,
            )
        )


def drop_content_index(session: Session, repository_id: int | None) -> None:
    """Forget everything the content index holds (for one repository, or all)."""
    for table in (SearchPathRow, SearchBranchRow, SearchBlobRow, SearchStateRow):
        statement = delete(table)
        if repository_id is not None:
            statement = statement.where(table.repository_id == repository_id)
        session.execute(statement)


__all__ = [
    "DIALECT_INDEXES",
    "DIALECT_TABLES",
    "BlobMatch",
    "CommitMatch",
    "RefMove",
    "SearchBlobRow",
    "SearchBranchRow",
    "SearchCommitDocRow",
    "SearchPathRow",
    "SearchStateRow",
    "include_name",
]
