"""Initial schema: repositories, blobs, trees, commits and refs.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("default_branch", sa.String(length=255), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repositories")),
        sa.UniqueConstraint("name", name=op.f("uq_repositories_name")),
    )
    op.create_table(
        "blobs",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_blobs_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "id", name=op.f("pk_blobs")),
    )
    op.create_table(
        "trees",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_trees_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "id", name=op.f("pk_trees")),
    )
    op.create_table(
        "commits",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tree_id", sa.String(length=64), nullable=False),
        sa.Column("author_name", sa.Text(), nullable=False),
        sa.Column("author_email", sa.Text(), nullable=False),
        sa.Column("author_time", sa.BigInteger(), nullable=False),
        sa.Column("author_offset", sa.Integer(), nullable=False),
        sa.Column("committer_name", sa.Text(), nullable=False),
        sa.Column("committer_email", sa.Text(), nullable=False),
        sa.Column("committer_time", sa.BigInteger(), nullable=False),
        sa.Column("committer_offset", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "tree_id"],
            ["trees.repository_id", "trees.id"],
            name="fk_commits_tree_id_trees",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_commits_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "id", name=op.f("pk_commits")),
    )
    op.create_table(
        "tree_entries",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("tree_id", sa.String(length=64), nullable=False),
        sa.Column(
            "name", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("mode", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "tree_id"],
            ["trees.repository_id", "trees.id"],
            name="fk_tree_entries_tree_id_trees",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "tree_id", "name", name=op.f("pk_tree_entries")),
    )
    op.create_table(
        "commit_metadata",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("commit_id", sa.String(length=64), nullable=False),
        sa.Column(
            "key", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "commit_id"],
            ["commits.repository_id", "commits.id"],
            name="fk_commit_metadata_commit_id_commits",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "repository_id", "commit_id", "key", name=op.f("pk_commit_metadata")
        ),
    )
    op.create_table(
        "commit_parents",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("commit_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "commit_id"],
            ["commits.repository_id", "commits.id"],
            name="fk_commit_parents_commit_id_commits",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id", "parent_id"],
            ["commits.repository_id", "commits.id"],
            name="fk_commit_parents_parent_id_commits",
        ),
        sa.PrimaryKeyConstraint(
            "repository_id", "commit_id", "position", name=op.f("pk_commit_parents")
        ),
    )
    with op.batch_alter_table("commit_parents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_commit_parents_parent", ["repository_id", "parent_id"], unique=False
        )

    op.create_table(
        "refs",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column(
            "name", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("commit_id", sa.String(length=64), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["repository_id", "commit_id"],
            ["commits.repository_id", "commits.id"],
            name="fk_refs_commit_id_commits",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_refs_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "name", name=op.f("pk_refs")),
    )


def downgrade() -> None:
    op.drop_table("refs")
    with op.batch_alter_table("commit_parents", schema=None) as batch_op:
        batch_op.drop_index("ix_commit_parents_parent")

    op.drop_table("commit_parents")
    op.drop_table("commit_metadata")
    op.drop_table("tree_entries")
    op.drop_table("commits")
    op.drop_table("trees")
    op.drop_table("blobs")
    op.drop_table("repositories")
