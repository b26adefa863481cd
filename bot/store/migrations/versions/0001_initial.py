"""The initial schema: audit, runs and steps, order locks, action tokens, approvals, slots.

Written by hand to match bot/store/schema.py; tests/store/test_store.py checks that they agree.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as they were at this revision (never import schema.py
# here: a later change there must come with a new migration, not rewrite this one).
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME: sa.Double[float] = sa.Double()


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", EVENT_ID, autoincrement=True, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("message_channel", sa.String(), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])

    op.create_table(
        "audit_event_orders",
        sa.Column("event_id", EVENT_ID, nullable=False),
        sa.Column("order_key", sa.String(), nullable=False),
        sa.Column("pos", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["audit_events.id"],
            name="fk_audit_event_orders_event_id_audit_events",
        ),
        sa.PrimaryKeyConstraint("event_id", "order_key", name="pk_audit_event_orders"),
    )
    op.create_index("ix_audit_event_orders_order_key", "audit_event_orders", ["order_key"])

    op.create_table(
        "runs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("runbook", sa.String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("order_keys", sa.Text(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.Column("response_url", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("heartbeat_at", TIME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_state", "runs", ["state"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])

    op.create_table(
        "run_steps",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_steps_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", "idx", name="pk_run_steps"),
    )

    op.create_table(
        "order_locks",
        sa.Column("order_key", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("acquired_at", TIME, nullable=False),
        sa.Column("lease_until", TIME, nullable=False),
        sa.PrimaryKeyConstraint("order_key", name="pk_order_locks"),
    )
    op.create_index("ix_order_locks_run_id", "order_locks", ["run_id"])

    op.create_table(
        "action_tokens",
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("group_key", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("allowed_users", sa.Text(), nullable=True),
        sa.Column("allowed_role", sa.String(), nullable=True),
        sa.Column("denied_users", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("consumed_by", sa.String(), nullable=True),
        sa.Column("consumed_at", TIME, nullable=True),
        sa.Column("consumed_token", sa.String(), nullable=True),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("token", name="pk_action_tokens"),
    )
    op.create_index("ix_action_tokens_group_key", "action_tokens", ["group_key"])

    op.create_table(
        "approvals",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("params_hash", sa.String(), nullable=False),
        sa.Column("preview", sa.Text(), nullable=False),
        sa.Column("preview_hash", sa.String(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("requested_channel", sa.String(), nullable=False),
        sa.Column("origin_message_ts", sa.String(), nullable=True),
        sa.Column("approvals_channel", sa.String(), nullable=False),
        sa.Column("request_message_ts", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("executed_at", TIME, nullable=True),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("approver_role", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
    )
    op.create_index("ix_approvals_state", "approvals", ["state"])

    op.create_table(
        "digest_slots",
        sa.Column("schedule_id", sa.String(), nullable=False),
        sa.Column("slot_time", TIME, nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("lease_until", TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("posted_at", TIME, nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("schedule_id", "slot_time", name="pk_digest_slots"),
    )


def downgrade() -> None:
    for table in (
        "digest_slots",
        "approvals",
        "action_tokens",
        "order_locks",
        "run_steps",
        "runs",
        "audit_event_orders",
        "audit_events",
    ):
        op.drop_table(table)
