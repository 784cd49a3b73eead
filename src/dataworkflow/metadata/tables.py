"""Typed SQLAlchemy models of repositories, blobs, trees, commits and refs.

Every object table is keyed by ``(repository_id, id)``: storage deduplicates bytes
across repositories, but a repository only "has" an object once one of its own rows
says so. That is what keeps one repository from reading another's content by id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Entry names sort by their UTF-8 bytes everywhere; PostgreSQL needs the "C" collation
# for that, SQLite's default BINARY collation already does it.
NameText = Text().with_variant(Text(collation="C"), "postgresql")
ObjectIdColumn = String(64)


class Base(DeclarativeBase):
    """Declarative base; named constraints keep migrations identical on both databases."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class RepositoryRow(Base):
    """A versioned dataset: its own refs, commits, trees and blobs."""

    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    default_branch: Mapped[str] = mapped_column(String(255), default="main")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def _repository_fk() -> ForeignKey:
    return ForeignKey("repositories.id", ondelete="CASCADE")


class BlobRow(Base):
    """A file's content known to a repository; the bytes live in object storage."""

    __tablename__ = "blobs"
    __table_args__ = ({"sqlite_with_rowid": False},)  # the key is the row (migration 0005)

    repository_id: Mapped[int] = mapped_column(_repository_fk(), primary_key=True)
    id: Mapped[str] = mapped_column(ObjectIdColumn, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)


class TreeRow(Base):
    """A folder snapshot; its entries are rows of ``tree_entries``."""

    __tablename__ = "trees"

    repository_id: Mapped[int] = mapped_column(_repository_fk(), primary_key=True)
    id: Mapped[str] = mapped_column(ObjectIdColumn, primary_key=True)
    entry_count: Mapped[int] = mapped_column(Integer)


class TreeEntryRow(Base):
    """One named child of a tree: a blob or a subtree."""

    __tablename__ = "tree_entries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["repository_id", "tree_id"],
            ["trees.repository_id", "trees.id"],
            ondelete="CASCADE",
            name="fk_tree_entries_tree_id_trees",
        ),
        # One B-tree for loading a tree, folders-first pages (one range per kind) and
        # lookups by name (``kind IN`` both kinds); see migration 0005.
        PrimaryKeyConstraint("repository_id", "tree_id", "kind", "name", name="pk_tree_entries"),
        {"sqlite_with_rowid": False},
    )

    repository_id: Mapped[int] = mapped_column(Integer)
    tree_id: Mapped[str] = mapped_column(ObjectIdColumn)
    name: Mapped[str] = mapped_column(NameText)
    mode: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(4))
    object_id: Mapped[str] = mapped_column(ObjectIdColumn)


class CommitRow(Base):
    """A commit: a tree, its parents (``commit_parents``), who and when, and why."""

    __tablename__ = "commits"
    __table_args__ = (
        ForeignKeyConstraint(
            ["repository_id", "tree_id"],
            ["trees.repository_id", "trees.id"],
            name="fk_commits_tree_id_trees",
        ),
    )

    repository_id: Mapped[int] = mapped_column(_repository_fk(), primary_key=True)
    id: Mapped[str] = mapped_column(ObjectIdColumn, primary_key=True)
    tree_id: Mapped[str] = mapped_column(ObjectIdColumn)
    author_name: Mapped[str] = mapped_column(Text)
    author_email: Mapped[str] = mapped_column(Text)
    author_time: Mapped[int] = mapped_column(BigInteger)
    author_offset: Mapped[int] = mapped_column(Integer)
    committer_name: Mapped[str] = mapped_column(Text)
    committer_email: Mapped[str] = mapped_column(Text)
    committer_time: Mapped[int] = mapped_column(BigInteger)
    committer_offset: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(Integer)
    """1 for a root commit, else 1 + the largest parent generation: a topological order."""


class CommitParentRow(Base):
    """The ordered parents of a commit."""

    __tablename__ = "commit_parents"
    __table_args__ = (
        ForeignKeyConstraint(
            ["repository_id", "commit_id"],
            ["commits.repository_id", "commits.id"],
            ondelete="CASCADE",
            name="fk_commit_parents_commit_id_commits",
        ),
        ForeignKeyConstraint(
            ["repository_id", "parent_id"],
            ["commits.repository_id", "commits.id"],
            name="fk_commit_parents_parent_id_commits",
        ),
        Index("ix_commit_parents_parent", "repository_id", "parent_id"),
    )

    repository_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commit_id: Mapped[str] = mapped_column(ObjectIdColumn, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[str] = mapped_column(ObjectIdColumn)


class CommitMetadataRow(Base):
    """Key/value provenance of a commit (``source``, ``pipeline run``...)."""

    __tablename__ = "commit_metadata"
    __table_args__ = (
        ForeignKeyConstraint(
            ["repository_id", "commit_id"],
            ["commits.repository_id", "commits.id"],
            ondelete="CASCADE",
            name="fk_commit_metadata_commit_id_commits",
        ),
    )

    repository_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commit_id: Mapped[str] = mapped_column(ObjectIdColumn, primary_key=True)
    key: Mapped[str] = mapped_column(NameText, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RefRow(Base):
    """A branch or tag: a full ref name pointing at a commit."""

    __tablename__ = "refs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["repository_id", "commit_id"],
            ["commits.repository_id", "commits.id"],
            name="fk_refs_commit_id_commits",
        ),
    )

    repository_id: Mapped[int] = mapped_column(_repository_fk(), primary_key=True)
    name: Mapped[str] = mapped_column(NameText, primary_key=True)
    commit_id: Mapped[str] = mapped_column(ObjectIdColumn)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


# --- accounts, access and history of refs ------------------------------------------
# Times here are integer seconds since the epoch (UTC), like commit times: the same
# values and comparisons on SQLite and PostgreSQL, no naive/aware datetime mix-ups.


class UserRow(Base):
    """A person (or service account) who signs in or holds API tokens."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    """Stored lowercased: names are case-insensitive, like GitHub's."""
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(Text, default="")
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    """An argon2 hash; None means the account cannot sign in with a password."""
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)


def _user_fk() -> ForeignKey:
    return ForeignKey("users.id", ondelete="CASCADE")


class ApiTokenRow(Base):
    """An API token; only the SHA-256 of its secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    name: Mapped[str] = mapped_column(Text, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the token, shown so users can tell tokens apart."""
    scope: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WebSessionRow(Base):
    """A signed-in (or form-holding) browser session, kept server-side.

    The cookie carries a random secret; the row is keyed by its SHA-256, so a leaked
    database does not hand out live sessions.
    """

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(_user_fk(), nullable=True, index=True)
    data: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class RepositoryRoleRow(Base):
    """A user's role on one repository: ``read``, ``write`` or ``admin``."""

    __tablename__ = "repository_roles"

    repository_id: Mapped[int] = mapped_column(_repository_fk(), primary_key=True)
    user_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(8))


class ProtectedBranchRow(Base):
    """A branch name pattern (``main``, ``release/*``) only merges may move."""

    __tablename__ = "protected_branches"

    repository_id: Mapped[int] = mapped_column(_repository_fk(), primary_key=True)
    pattern: Mapped[str] = mapped_column(NameText, primary_key=True)


class SignInFailureRow(Base):
    """One failed sign-in, counted per account and per address to rate-limit guessing."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_username_at", "username", "at"),
        Index("ix_sign_in_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)


class RefLogRow(Base):
    """One movement of a ref: who, when, from, to and why. Never rewritten."""

    __tablename__ = "ref_log"
    __table_args__ = (
        Index("ix_ref_log_repository_ref", "repository_id", "ref", "id"),
        Index("ix_ref_log_repository_id", "repository_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    repository_id: Mapped[int] = mapped_column(_repository_fk())
    ref: Mapped[str] = mapped_column(NameText)
    old_commit_id: Mapped[str | None] = mapped_column(ObjectIdColumn, nullable=True)
    new_commit_id: Mapped[str | None] = mapped_column(ObjectIdColumn, nullable=True)
    actor: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(16))
    """create, commit, merge, revert, cherry-pick, update, force or delete."""
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)


class GcRunRow(Base):
    """A garbage collection run, shown on the admin page."""

    __tablename__ = "gc_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    grace_seconds: Mapped[int] = mapped_column(BigInteger)
    objects_deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_reclaimed: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="running")
    """running, finished or failed."""
