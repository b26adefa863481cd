"""The App Home tab: who opened it and in which DM, shared by every replica.

Revision ID: 0007_home_viewers
Revises: 0006_ledger
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_home_viewers"
down_revision: str | None = "0006_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_viewers",
        sa.Column("user_id", sa.String(), primary_key=True),
        sa.Column("dm_channel", sa.String(), nullable=True),
        sa.Column("opened_at", sa.Double(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("home_viewers")
