"""Index tree entries by kind then name, for folders-first listings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tree_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tree_entries_kind_name", ["repository_id", "tree_id", "kind", "name"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tree_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_tree_entries_kind_name")
