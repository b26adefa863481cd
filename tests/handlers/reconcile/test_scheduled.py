"""The reconciliation on a digest schedule (`reconcile = true`): posted with the digest,
once across two replicas on PostgreSQL, through real Services."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.engine.schedules import parse_schedules
from bot.kit.config import ConfigError
from bot.sandbox import SandboxServer
from bot.store.slots import get_slot
from bot.surface.app import build_web_client
from bot.surface.wiring import Services, create_services
from handlers.jobs import cron_interval
from tests.conftest import BOT_TOKEN, BotFactory, settings_for, text_of
from tests.harness.fakeslack import FakeSlack, Message
from tests.pg_cluster import PrivateCluster, pg_cluster
from tests.store_fixtures import postgres_url

__all__ = ["pg_cluster", "postgres_url"]

POLICY = """
[roles]
operator = ["U_ALICE"]

[[digests]]
id = "ops-recon"
channel = "C_OPS"
cron = "0 12 1 1 *"
timezone = "UTC"
window = "{window}"
grace = "1h"
reconcile = true

[stores]
shopify_remote = "DEMO_SHOP_REMOTE"
order_sync_job = "queue_ShopifyOrderSync_10000"
"""


def _policy(tmp_path: Path, window: str = "24h") -> Path:
    path = tmp_path / f"policy-{time.monotonic_ns()}.toml"
    path.write_text(POLICY.format(window=window))
    return path


def _services(fake: FakeSlack, sandbox: SandboxServer, db: Path | str, policy: Path) -> Services:
    services = create_services(settings_for(fake, sandbox, db, omsbot_policy=policy))
    services.prepare()
    services.attach_slack(build_web_client(BOT_TOKEN, fake.api_url))
    return services


def _top(fake: FakeSlack) -> list[Message]:
    return [m for m in fake.messages("C_OPS") if m.thread_ts is None]


def _shown(message: Message) -> str:
    return text_of({"text": message.text, "blocks": message.blocks})


async def test_two_replicas_on_postgres_post_the_digest_and_reconciliation_once(
    postgres_url: str, fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path
) -> None:
    policy = _policy(tmp_path)
    replicas = [_services(fake_slack, sandbox, postgres_url, policy) for _ in range(2)]
    try:
        schedulers = [s.slot_scheduler(lease=5) for s in replicas]
        schedule = schedulers[0].schedule("ops-recon")
        slot = float(int(time.time()))
        outcomes = await asyncio.gather(*(s.fire_slot(schedule, slot) for s in schedulers))
        assert sorted(outcomes) == ["done-elsewhere", "posted"]
        posts = _top(fake_slack)
        assert len(posts) == 2
        digest, recon = posts
        assert "failed imports" in digest.text
        text = _shown(recon)
        assert recon.text.startswith("Shopify vs HotWax · last 24 hours")
        assert "#1007" in text and "#1006" in text and "#1016" in text
        assert "No failure recorded" in text and "Too recent" in text
        row = get_slot(replicas[0].store, "ops-recon", slot)
        assert row is not None and row.state == "posted" and row.message_ts == digest.ts
        assert row.outcome is not None and "missing" in row.outcome
        # Firing the finished slot again (a late cron, a restart) posts nothing.
        assert await schedulers[1].fire_slot(schedule, slot) == "done-elsewhere"
        assert len(_top(fake_slack)) == 2
    finally:
        for services in replicas:
            await services.aclose()


async def test_a_schedule_window_over_the_limit_posts_a_note(
    fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path
) -> None:
    services = _services(fake_slack, sandbox, tmp_path / "bot.db", _policy(tmp_path, "10d"))
    try:
        scheduler = services.slot_scheduler()
        slot = float(int(time.time()))
        assert await scheduler.fire_slot(scheduler.schedule("ops-recon"), slot) == "posted"
        digest, note = _top(fake_slack)
        assert "failed imports" in digest.text
        assert "Reconciliation for" in note.text and "longer than" in note.text
        assert "reconcile_max_days" in _shown(note)
    finally:
        await services.aclose()


def test_digest_list_says_the_schedule_reconciles(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=_policy(tmp_path))
    text = text_of(bot.reply_post(bot.slash("digest")).body)
    assert "ops-recon" in text and "with the reconciliation" in text


def test_a_schedule_reconcile_key_must_be_a_boolean() -> None:
    entry = {"id": "x", "channel": "C_OPS", "cron": "0 8 * * *", "reconcile": "yes"}
    with pytest.raises(ConfigError, match="reconcile 'yes' must be true or false"):
        parse_schedules([entry], "policy.toml")
    assert parse_schedules([{**entry, "reconcile": True}], "p")[0].reconcile


def test_the_sync_interval_of_quartz_crons() -> None:
    moment = datetime(2026, 11, 30, 10, 7, tzinfo=UTC)
    assert cron_interval("0 */15 * ? * *", now=moment) == timedelta(minutes=15).total_seconds()
    assert cron_interval("0 0 * * * ?", now=moment) == timedelta(hours=1).total_seconds()
    assert cron_interval("0 0 3 ? * MON", now=moment) == timedelta(days=7).total_seconds()
    # Quartz numbers the week from Sunday: 2 is Monday, read as such, not as every day.
    assert cron_interval("0 0 3 ? * 2", now=moment) == timedelta(days=7).total_seconds()
    assert cron_interval("not a cron", now=moment) is None
    assert cron_interval(None, now=moment) is None


async def test_a_replica_stopped_between_digest_and_reconciliation_is_finished_once(
    fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Replica A posts the digest, then its reconciliation hangs on Shopify's count; A is
    # drained right there (its slot task cancelled, as `stop` does past the shutdown
    # timeout). Replica B takes the slot over after A's lease: it finds the digest by its
    # mark, and posts the reconciliation once, not the digest again.
    policy = _policy(tmp_path)
    db = tmp_path / "bot.db"
    first, second = (_services(fake_slack, sandbox, db, policy) for _ in range(2))
    try:
        lease = 2.0
        holder, taker = first.slot_scheduler(lease=lease), second.slot_scheduler(lease=lease)
        schedule = holder.schedule("ops-recon")
        slot = float(int(time.time()))
        hang = sandbox.state.inject_fault("/rest/s1/shopify/order/count", "hang", 1)
        firing = asyncio.get_running_loop().create_task(holder.fire_slot(schedule, slot))
        assert await asyncio.to_thread(hang.reached.wait, 30)
        [digest] = _top(fake_slack)
        assert "failed imports" in digest.text
        firing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await firing
        hang.released.set()
        row = get_slot(first.store, "ops-recon", slot)
        assert row is not None and row.state == "posting"

        assert await taker.fire_slot(schedule, slot) == "resumed"
        posts = _top(fake_slack)
        assert [p.ts for p in posts][:1] == [digest.ts] and len(posts) == 2
        recon = posts[1]
        assert recon.text.startswith("Shopify vs HotWax · last 24 hours")
        assert "#1007" in _shown(recon)
        row = get_slot(second.store, "ops-recon", slot)
        assert row is not None and row.state == "posted" and row.message_ts == digest.ts
        assert row.outcome is not None and "missing" in row.outcome
        # Once finished, the slot posts nothing more.
        assert await holder.fire_slot(schedule, slot) == "done-elsewhere"
        assert len(_top(fake_slack)) == 2
    finally:
        for services in (first, second):
            await services.aclose()


async def test_a_reconciliation_failing_after_the_digest_says_so(
    fake_slack: FakeSlack, sandbox: SandboxServer, pg_cluster: PrivateCluster, tmp_path: Path
) -> None:
    # The bot's database goes down while the reconciliation runs (after the digest went
    # out): its buttons cannot be stored. The channel gets a note and the slot's outcome says
    # the reconciliation failed; it is not lost silently, and the digest is not posted again.
    services = _services(fake_slack, sandbox, pg_cluster.url, _policy(tmp_path))
    try:
        scheduler = services.slot_scheduler(lease=3)
        schedule = scheduler.schedule("ops-recon")
        slot = float(int(time.time()))
        hang = sandbox.state.inject_fault("/rest/s1/shopify/order/count", "hang", 1)
        firing = asyncio.get_running_loop().create_task(scheduler.fire_slot(schedule, slot))
        assert await asyncio.to_thread(hang.reached.wait, 30)
        await asyncio.to_thread(pg_cluster.stop)
        hang.released.set()
        deadline = time.monotonic() + 60
        while len(_top(fake_slack)) < 2:
            assert time.monotonic() < deadline, _top(fake_slack)
            await asyncio.sleep(0.1)
        await asyncio.to_thread(pg_cluster.start)
        assert await firing == "posted"
        digest, note = _top(fake_slack)
        assert "failed imports" in digest.text
        shown = _shown(note)
        assert "Reconciliation for" in shown and "not run: it failed (StoreUnavailable)" in shown
        assert "/oms reconcile" in shown
        row = get_slot(services.store, "ops-recon", slot)
        assert row is not None and row.state == "posted" and row.message_ts == digest.ts
        assert row.outcome is not None and "reconciliation failed (StoreUnavailable)" in row.outcome
    finally:
        await services.aclose()
