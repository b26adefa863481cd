"""Ledger: audit events get their own id (spool replay, a write's started/closed row); an
approved request names its run and who is starting it (recovery of an approval with no run).

Revision ID: 0006_ledger
Revises: 0005_runs
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_ledger"
down_revision: str | None = "0005_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: events and requests stored before have none (NULLs never collide in a
    # unique index, on SQLite or PostgreSQL).
    op.add_column("audit_events", sa.Column("event_uid", sa.String(), nullable=True))
    op.create_index("uq_audit_events_event_uid", "audit_events", ["event_uid"], unique=True)
    op.add_column("approvals", sa.Column("start_run_id", sa.String(), nullable=True))
    op.add_column("approvals", sa.Column("start_until", sa.Double(), nullable=True))


def downgrade() -> None:
    op.drop_index("uq_audit_events_event_uid", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("event_uid")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("start_until")
        batch.drop_column("start_run_id")
