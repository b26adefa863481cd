"""Runs own their writes: lease generations (fencing tokens) and restore obligations.

Revision ID: 0005_runs
Revises: 0004_watches
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_runs"
down_revision: str | None = "0004_watches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME: sa.Double[float] = sa.Double()


def upgrade() -> None:
    # Runs recorded before this revision are in their first generation.
    op.add_column("runs", sa.Column("generation", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("audit_events", sa.Column("fence", sa.Integer(), nullable=True))
    op.create_table(
        "run_obligations",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("settled_at", TIME, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_obligations_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_obligations")),
    )
    op.create_index("ix_run_obligations_state", "run_obligations", ["state"])


def downgrade() -> None:
    op.drop_index("ix_run_obligations_state", table_name="run_obligations")
    op.drop_table("run_obligations")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("fence")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("generation")
