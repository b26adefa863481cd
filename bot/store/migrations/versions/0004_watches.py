"""Job watches: their alerts, polls and last-seen states.

Revision ID: 0004_watches
Revises: 0002_approvals
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_watches"
down_revision: str | None = "0002_approvals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watch_alerts",
        sa.Column("watch_id", sa.String(), nullable=False),
        sa.Column("alert_key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("lease_until", sa.Double(), nullable=False),
        sa.Column("occurred_at", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.Column("parent_key", sa.String(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("closed_at", sa.Double(), nullable=True),
        sa.Column("closed_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("watch_id", "alert_key", name="pk_watch_alerts"),
    )
    op.create_index(
        "ix_watch_alerts_subject", "watch_alerts", ["watch_id", "kind", "subject"], unique=False
    )
    op.create_index("ix_watch_alerts_state", "watch_alerts", ["state"], unique=False)
    op.create_table(
        "watch_polls",
        sa.Column("watch_id", sa.String(), nullable=False),
        sa.Column("first_poll_at", sa.Double(), nullable=False),
        sa.Column("last_poll_at", sa.Double(), nullable=False),
        sa.Column("last_owner", sa.String(), nullable=False),
        sa.Column("last_outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("watch_id", name="pk_watch_polls"),
    )
    op.create_table(
        "watch_states",
        sa.Column("watch_id", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("aspect", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("watch_id", "subject", "aspect", name="pk_watch_states"),
    )


def downgrade() -> None:
    op.drop_table("watch_states")
    op.drop_table("watch_polls")
    op.drop_index("ix_watch_alerts_state", table_name="watch_alerts")
    op.drop_index("ix_watch_alerts_subject", table_name="watch_alerts")
    op.drop_table("watch_alerts")
