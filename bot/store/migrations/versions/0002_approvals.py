"""Approvals: one pending request per action and parameters (the pending_key column).

Revision ID: 0002_approvals
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_approvals"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and unset for the requests already stored: they stay pending without a key
    # until decided or expired, so they block nothing (the sweep closes them as before).
    op.add_column("approvals", sa.Column("pending_key", sa.String(), nullable=True))
    op.create_index("uq_approvals_pending_key", "approvals", ["pending_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_approvals_pending_key", table_name="approvals")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("pending_key")
