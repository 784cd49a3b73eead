"""Search: commit documents kept by triggers, the content index, full-text indexes.

SQLite gets FTS5 external-content tables kept in step by triggers; PostgreSQL gets
generated tsvector columns with GIN indexes and a pg_trgm index for substring matches.
Both get triggers that write a commit's document when the commit (or its metadata) is
written, and the documents of existing commits are filled in here.

Tokenization must agree across the two: FTS5's unicode61 tokenizer (diacritics kept)
and PostgreSQL's ``simple`` configuration over the text with every character that is
not a letter or digit replaced by a space both yield lowercased letter/digit runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Long texts are cut before indexing: a tsvector holds at most 1 MB, and a commit must
# never fail to be written because its message is huge.
MESSAGE_CHARS = 60000
AUTHOR_CHARS = 1000
METADATA_CHARS = 30000

SQLITE_UP = [
    # -- commit documents: two FTS5 views of the same rows (words, and trigrams for substrings)
    """CREATE VIRTUAL TABLE search_commit_fts USING fts5(
        message, author, metadata_values,
        content='search_commit_docs', content_rowid='id',
        tokenize='unicode61 remove_diacritics 0')""",
    """CREATE VIRTUAL TABLE search_commit_trgm USING fts5(
        message, author, metadata_values,
        content='search_commit_docs', content_rowid='id',
        tokenize='trigram')""",
    """CREATE TRIGGER search_commit_docs_ai AFTER INSERT ON search_commit_docs BEGIN
        INSERT INTO search_commit_fts (rowid, message, author, metadata_values)
            VALUES (new.id, new.message, new.author, new.metadata_values);
        INSERT INTO search_commit_trgm (rowid, message, author, metadata_values)
            VALUES (new.id, new.message, new.author, new.metadata_values);
    END""",
    """CREATE TRIGGER search_commit_docs_ad AFTER DELETE ON search_commit_docs BEGIN
        INSERT INTO search_commit_fts (search_commit_fts, rowid, message, author, metadata_values)
            VALUES ('delete', old.id, old.message, old.author, old.metadata_values);
        INSERT INTO search_commit_trgm (search_commit_trgm, rowid, message, author, metadata_values)
            VALUES ('delete', old.id, old.message, old.author, old.metadata_values);
    END""",
    """CREATE TRIGGER search_commit_docs_au AFTER UPDATE ON search_commit_docs BEGIN
        INSERT INTO search_commit_fts (search_commit_fts, rowid, message, author, metadata_values)
            VALUES ('delete', old.id, old.message, old.author, old.metadata_values);
        INSERT INTO search_commit_trgm (search_commit_trgm, rowid, message, author, metadata_values)
            VALUES ('delete', old.id, old.message, old.author, old.metadata_values);
        INSERT INTO search_commit_fts (rowid, message, author, metadata_values)
            VALUES (new.id, new.message, new.author, new.metadata_values);
        INSERT INTO search_commit_trgm (rowid, message, author, metadata_values)
            VALUES (new.id, new.message, new.author, new.metadata_values);
    END""",
    # -- blob texts: the full-text index reads the stored terms
    """CREATE VIRTUAL TABLE search_blob_fts USING fts5(
        terms, content='search_blobs', content_rowid='id',
        tokenize='unicode61 remove_diacritics 0')""",
    """CREATE TRIGGER search_blobs_ai AFTER INSERT ON search_blobs BEGIN
        INSERT INTO search_blob_fts (rowid, terms) VALUES (new.id, new.terms);
    END""",
    """CREATE TRIGGER search_blobs_ad AFTER DELETE ON search_blobs BEGIN
        INSERT INTO search_blob_fts (search_blob_fts, rowid, terms)
            VALUES ('delete', old.id, old.terms);
    END""",
    """CREATE TRIGGER search_blobs_au AFTER UPDATE ON search_blobs BEGIN
        INSERT INTO search_blob_fts (search_blob_fts, rowid, terms)
            VALUES ('delete', old.id, old.terms);
        INSERT INTO search_blob_fts (rowid, terms) VALUES (new.id, new.terms);
    END""",
    # -- existing commits
    f"""INSERT INTO search_commit_docs (repository_id, commit_id, message, author, metadata_values)
        SELECT c.repository_id, c.id, substr(c.message, 1, {MESSAGE_CHARS}),
               substr(c.author_name || ' ' || c.author_email, 1, {AUTHOR_CHARS}),
               coalesce((SELECT substr(group_concat(m.value, char(10)), 1, {METADATA_CHARS})
                         FROM commit_metadata m
                         WHERE m.repository_id = c.repository_id AND m.commit_id = c.id), '')
        FROM commits c""",
    # -- commits written from now on (their deletion cascades through the foreign key)
    f"""CREATE TRIGGER search_commits_ai AFTER INSERT ON commits BEGIN
        INSERT INTO search_commit_docs (repository_id, commit_id, message, author, metadata_values)
            VALUES (new.repository_id, new.id, substr(new.message, 1, {MESSAGE_CHARS}),
                    substr(new.author_name || ' ' || new.author_email, 1, {AUTHOR_CHARS}), '');
    END""",
    f"""CREATE TRIGGER search_commits_au AFTER UPDATE OF message, author_name, author_email
        ON commits BEGIN
        UPDATE search_commit_docs
            SET message = substr(new.message, 1, {MESSAGE_CHARS}),
                author = substr(new.author_name || ' ' || new.author_email, 1, {AUTHOR_CHARS})
            WHERE repository_id = new.repository_id AND commit_id = new.id;
    END""",
    *(
        f"""CREATE TRIGGER search_commit_metadata_{name} AFTER {event} ON commit_metadata BEGIN
        UPDATE search_commit_docs
            SET metadata_values = coalesce(
                (SELECT substr(group_concat(m.value, char(10)), 1, {METADATA_CHARS})
                 FROM commit_metadata m
                 WHERE m.repository_id = {row}.repository_id AND m.commit_id = {row}.commit_id),
                '')
            WHERE repository_id = {row}.repository_id AND commit_id = {row}.commit_id;
    END"""
        for name, event, row in (
            ("ai", "INSERT", "new"),
            ("ad", "DELETE", "old"),
            ("au", "UPDATE", "new"),
        )
    ),
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS search_commit_metadata_au",
    "DROP TRIGGER IF EXISTS search_commit_metadata_ad",
    "DROP TRIGGER IF EXISTS search_commit_metadata_ai",
    "DROP TRIGGER IF EXISTS search_commits_au",
    "DROP TRIGGER IF EXISTS search_commits_ai",
    "DROP TABLE IF EXISTS search_blob_fts",
    "DROP TABLE IF EXISTS search_commit_trgm",
    "DROP TABLE IF EXISTS search_commit_fts",
]

POSTGRESQL_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """ALTER TABLE search_commit_docs ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, regexp_replace(
            message || ' ' || author || ' ' || metadata_values, '[^[:alnum:]]+', ' ', 'g'))
    ) STORED""",
    "CREATE INDEX ix_search_commit_docs_tsv ON search_commit_docs USING gin (tsv)",
    """CREATE INDEX ix_search_commit_docs_trgm ON search_commit_docs USING gin (
        message gin_trgm_ops, author gin_trgm_ops, metadata_values gin_trgm_ops)""",
    # The terms are stored tokenized: make the lexemes from them verbatim, no parser.
    """ALTER TABLE search_blobs ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        array_to_tsvector(string_to_array(terms, ' '))
    ) STORED""",
    "CREATE INDEX ix_search_blobs_tsv ON search_blobs USING gin (tsv)",
    f"""INSERT INTO search_commit_docs (repository_id, commit_id, message, author, metadata_values)
        SELECT c.repository_id, c.id, left(c.message, {MESSAGE_CHARS}),
               left(c.author_name || ' ' || c.author_email, {AUTHOR_CHARS}),
               coalesce((SELECT left(string_agg(m.value, chr(10)), {METADATA_CHARS})
                         FROM commit_metadata m
                         WHERE m.repository_id = c.repository_id AND m.commit_id = c.id), '')
        FROM commits c""",
    f"""CREATE FUNCTION search_index_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO search_commit_docs
                (repository_id, commit_id, message, author, metadata_values)
            VALUES (NEW.repository_id, NEW.id, left(NEW.message, {MESSAGE_CHARS}),
                    left(NEW.author_name || ' ' || NEW.author_email, {AUTHOR_CHARS}), '');
        ELSE
            UPDATE search_commit_docs
                SET message = left(NEW.message, {MESSAGE_CHARS}),
                    author = left(NEW.author_name || ' ' || NEW.author_email, {AUTHOR_CHARS})
                WHERE repository_id = NEW.repository_id AND commit_id = NEW.id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER search_commits_index
        AFTER INSERT OR UPDATE OF message, author_name, author_email ON commits
        FOR EACH ROW EXECUTE FUNCTION search_index_commit()""",
    f"""CREATE FUNCTION search_index_commit_metadata() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        target_repository integer;
        target_commit varchar(64);
    BEGIN
        IF TG_OP = 'DELETE' THEN
            target_repository := OLD.repository_id;
            target_commit := OLD.commit_id;
        ELSE
            target_repository := NEW.repository_id;
            target_commit := NEW.commit_id;
        END IF;
        UPDATE search_commit_docs
            SET metadata_values = coalesce(
                (SELECT left(string_agg(m.value, chr(10)), {METADATA_CHARS})
                 FROM commit_metadata m
                 WHERE m.repository_id = target_repository AND m.commit_id = target_commit),
                '')
            WHERE repository_id = target_repository AND commit_id = target_commit;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER search_commit_metadata_index
        AFTER INSERT OR UPDATE OR DELETE ON commit_metadata
        FOR EACH ROW EXECUTE FUNCTION search_index_commit_metadata()""",
]

POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS search_commit_metadata_index ON commit_metadata",
    "DROP FUNCTION IF EXISTS search_index_commit_metadata()",
    "DROP TRIGGER IF EXISTS search_commits_index ON commits",
    "DROP FUNCTION IF EXISTS search_index_commit()",
]


def upgrade() -> None:
    op.create_table(
        "search_blobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_search_blobs_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_blobs")),
        sa.UniqueConstraint("repository_id", "blob_id", name="uq_search_blobs_blob"),
    )
    op.create_table(
        "search_branches",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column(
            "branch", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("commit_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_search_branches_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "branch", name=op.f("pk_search_branches")),
    )
    op.create_table(
        "search_state",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("ref_log_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_search_state_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_search_state")),
    )
    op.create_table(
        "search_paths",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column(
            "branch", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "path", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "branch"],
            ["search_branches.repository_id", "search_branches.branch"],
            name="fk_search_paths_branch_search_branches",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "branch", "path", name=op.f("pk_search_paths")),
    )
    with op.batch_alter_table("search_paths", schema=None) as batch_op:
        batch_op.create_index("ix_search_paths_blob", ["repository_id", "blob_id"], unique=False)

    op.create_table(
        "search_commit_docs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("commit_id", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("metadata_values", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "commit_id"],
            ["commits.repository_id", "commits.id"],
            name="fk_search_commit_docs_commit_id_commits",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_commit_docs")),
        sa.UniqueConstraint("repository_id", "commit_id", name="uq_search_commit_docs_commit"),
    )
    statements = POSTGRESQL_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_DOWN if postgresql else SQLITE_DOWN:
        op.execute(statement)
    op.drop_table("search_commit_docs")
    with op.batch_alter_table("search_paths", schema=None) as batch_op:
        batch_op.drop_index("ix_search_paths_blob")

    op.drop_table("search_paths")
    op.drop_table("search_state")
    op.drop_table("search_branches")
    op.drop_table("search_blobs")
