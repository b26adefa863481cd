"""Every table of the bot's database, in one MetaData (the migrations must match it).

Times are float epoch seconds (Double) so lease arithmetic in SQL is the same on SQLite and
PostgreSQL; JSON payloads are Text holding json.dumps output, for the same reason.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# Named constraints let Alembic's SQLite batch mode rebuild tables in later migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets the wider type.
EventId = BigInteger().with_variant(Integer(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("actor", String, nullable=False),
    Column("channel_id", String),
    Column("kind", String, nullable=False),
    Column("command", Text),
    Column("run_id", String),
    Column("outcome", String, nullable=False),
    Column("summary", Text, nullable=False),
    Column("detail", Text),
    Column("message_channel", String),
    Column("message_ts", String),
    Column("correlation_id", String),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_actor", "actor"),
)

audit_event_orders = Table(
    "audit_event_orders",
    metadata,
    Column("event_id", EventId, ForeignKey("audit_events.id"), primary_key=True),
    Column("order_key", String, primary_key=True),
    # Keeps the order keys in the order they were given.
    Column("pos", Integer, nullable=False),
    Index("ix_audit_event_orders_order_key", "order_key"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String, primary_key=True),
    Column("runbook", String, nullable=False),
    Column("title", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("order_keys", Text, nullable=False),
    Column("state", String, nullable=False),
    Column("requested_by", String, nullable=False),
    Column("channel_id", String, nullable=False),
    Column("message_ts", String),
    Column("response_url", Text),
    Column("owner", String, nullable=False),
    Column("heartbeat_at", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("finished_at", Double),
    Column("result", Text),
    Column("error", Text),
    Index("ix_runs_state", "state"),
    Index("ix_runs_created_at", "created_at"),
)

run_steps = Table(
    "run_steps",
    metadata,
    Column("run_id", String, ForeignKey("runs.id"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("name", String, nullable=False),
    Column("state", String, nullable=False),
    Column("detail", Text, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
)

order_locks = Table(
    "order_locks",
    metadata,
    Column("order_key", String, primary_key=True),
    Column("run_id", String, nullable=False),
    Column("holder", String, nullable=False),
    Column("what", Text, nullable=False),
    Column("acquired_at", Double, nullable=False),
    Column("lease_until", Double, nullable=False),
    Index("ix_order_locks_run_id", "run_id"),
)

action_tokens = Table(
    "action_tokens",
    metadata,
    Column("token", String, primary_key=True),
    Column("group_key", String, nullable=False),
    Column("action", String, nullable=False),
    Column("params", Text, nullable=False),
    Column("allowed_users", Text),
    Column("allowed_role", String),
    Column("denied_users", Text, nullable=False),
    Column("created_by", String, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("consumed_by", String),
    Column("consumed_at", Double),
    Column("consumed_token", String),
    Column("channel_id", String),
    Column("message_ts", String),
    Index("ix_action_tokens_group_key", "group_key"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", String, primary_key=True),
    Column("action", String, nullable=False),
    Column("params", Text, nullable=False),
    Column("params_hash", String, nullable=False),
    Column("preview", Text, nullable=False),
    Column("preview_hash", String, nullable=False),
    Column("requested_by", String, nullable=False),
    Column("requested_channel", String, nullable=False),
    Column("origin_message_ts", String),
    Column("approvals_channel", String, nullable=False),
    Column("request_message_ts", String),
    Column("state", String, nullable=False),
    Column("decided_by", String),
    Column("decided_at", Double),
    Column("reason", Text),
    Column("expires_at", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("executed_at", Double),
    Column("run_id", String),
    Column("approver_role", String, nullable=False),
    # "action:params_hash" while the request is pending, NULL once it leaves pending: the
    # unique index lets only one identical request wait at a time (bot/store/approvals.py).
    Column("pending_key", String),
    Index("ix_approvals_state", "state"),
    Index("uq_approvals_pending_key", "pending_key", unique=True),
)

digest_slots = Table(
    "digest_slots",
    metadata,
    Column("schedule_id", String, primary_key=True),
    Column("slot_time", Double, primary_key=True),
    Column("state", String, nullable=False),
    Column("owner", String, nullable=False),
    Column("lease_until", Double, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("posted_at", Double),
    Column("outcome", Text),
    Column("message_ts", String),
)

# ---- job watches (bot/store/watch_events.py) -------------------------------------------------

# One row per event a watch found (a failed run, a late job, a pause, a spike), keyed so that
# every replica finding the same event finds the same row: the first to claim it posts it.
watch_alerts = Table(
    "watch_alerts",
    metadata,
    Column("watch_id", String, primary_key=True),
    Column("alert_key", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("subject", String, nullable=False),
    # claimed -> posting (its message may be in Slack) -> open | held (quiet hours) |
    # folded (in a thread) | failed; open | held -> closed.
    Column("state", String, nullable=False),
    Column("owner", String, nullable=False),
    Column("lease_until", Double, nullable=False),
    Column("occurred_at", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("channel", String, nullable=False),
    Column("message_ts", String),
    Column("parent_key", String),  # a failure folded into an earlier alert's thread
    Column("body", Text, nullable=False),  # JSON: title, text, buttons (re-rendered on close)
    Column("closed_at", Double),
    Column("closed_note", Text),
    Index("ix_watch_alerts_subject", "watch_id", "kind", "subject"),
    Index("ix_watch_alerts_state", "state"),
)

# When each watch was first and last polled (the first poll is its baseline: older runs are
# history, not news).
watch_polls = Table(
    "watch_polls",
    metadata,
    Column("watch_id", String, primary_key=True),
    Column("first_poll_at", Double, nullable=False),
    Column("last_poll_at", Double, nullable=False),
    Column("last_owner", String, nullable=False),
    Column("last_outcome", Text),
)

# What a watch last saw of a job (scheduled, paused, unscheduled) or of the failed imports
# (normal, spike): a change is claimed by the one replica whose compare-and-set wins.
watch_states = Table(
    "watch_states",
    metadata,
    Column("watch_id", String, primary_key=True),
    Column("subject", String, primary_key=True),
    Column("aspect", String, primary_key=True),
    Column("value", String, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("changed_at", Double, nullable=False),
)


# ---- issue 17, runs: lease generations (fencing tokens) and restore obligations -------------

# The run's lease generation: 1 when recorded, one more at each claim (a Resume). A write the
# run records carries it (`audit_events.fence`), and every renewal or end of the run checks it,
# so an execution that lost its lease can neither write nor close the run a newer one holds.
runs.append_column(Column("generation", Integer, nullable=False, server_default="1"))
audit_events.append_column(Column("fence", Integer))

# What a run must put back before it may end (the order-sync job's parameters before its
# window): recorded before the write that changes it, settled once the original is back.
run_obligations = Table(
    "run_obligations",
    metadata,
    Column("run_id", String, ForeignKey("runs.id"), primary_key=True),
    Column("key", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("what", Text, nullable=False),
    Column("state", String, nullable=False),  # "open" until settled
    Column("payload", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("settled_at", Double),
    Column("note", Text),
    Index("ix_run_obligations_state", "state"),
)


# ---- issue 17, ledger (migration 0006_ledger) ------------------------------------------------
# Appended here rather than in the tables above so the branches of issue 17 merge cleanly.
#
# audit_events.event_uid: every event's own id, given when it is made (before it reaches the
# database or the spool), so a spooled event replayed twice, or a write's close that meets its
# "started" row, is still one row. NULL for events recorded before it existed.
audit_events.append_column(Column("event_uid", String))
Index("uq_audit_events_event_uid", audit_events.c.event_uid, unique=True)
# approvals.start_run_id: the run an approved request starts, named at the decision, so a
# replica that finds the request approved without a run can tell "never started" from
# "started, then the process died". start_until: until when the one starting it holds it.
approvals.append_column(Column("start_run_id", String))
approvals.append_column(Column("start_until", Double))


# ---- the App Home tab (bot/store/home_viewers.py, migration 0007_home_viewers) ---------------
# Who opened their Home tab, and in which DM: any replica that sees a change concerning them
# republishes it, whichever replica served the opening.
home_viewers = Table(
    "home_viewers",
    metadata,
    Column("user_id", String, primary_key=True),
    Column("dm_channel", String),
    Column("opened_at", Double, nullable=False),
)
