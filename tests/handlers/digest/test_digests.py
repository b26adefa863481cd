"""Failed-import digests against the fake Slack and the OMS sandbox: commands over signed HTTP,
scheduled slots through real Services (SQLite and PostgreSQL), outages, downtime and 429s."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.sandbox import SandboxServer
from bot.store import open_store, upgrade
from bot.store.audit import search
from bot.store.slots import claim_slot, finish_slot, get_slot
from bot.surface.app import build_web_client
from bot.surface.wiring import Services, create_services
from tests.conftest import BOT_TOKEN, BotFactory, gated, settings_for, text_of
from tests.fault_fixtures import captured_logs
from tests.harness.fakeslack import FakeSlack, Message
from tests.store_fixtures import postgres_url

__all__ = ["postgres_url"]

ZONE = "Europe/Paris"  # the schedule's time zone: its cron fields are Paris wall-clock times
DAY = 86400.0


def yearly_noon_cron(moment: float) -> str:
    """A cron due once a year at noon in the schedule's zone, on the date `moment` has there.

    Its slot is within half a day (and a clock change's hour) of `moment`; its next one is a
    year later (four years for 29 February). Noon, because no clock change happens then: for
    a cron matching the hour the autumn change repeats, the scheduler's slot search
    (bot/engine/schedules.py `slots_between`) never ends.
    """
    local = datetime.fromtimestamp(moment, ZoneInfo(ZONE))
    return f"0 12 {local.day} {local.month} *"


def dormant_cron() -> str:
    """A schedule that neither fires nor is caught up during the test, whatever the date.

    Its newest slot is about 180 days before the test's start and its next about 185 days
    after the start: during the test the slot is far beyond the grace (10m; with no earlier slot
    recorded the catch-up at start posts nothing for it) and nothing fires. A fixed date
    would not do: "0 3 29 2 *" fires on 29 February, and "0 0 1 1 *" with 1h of grace is
    still within it early on 1 January.
    """
    return yearly_noon_cron(time.time() - 180 * DAY)


DIGEST_POLICY = """
[roles]
operator = ["U_ALICE"]

[[digests]]
id = "ops-daily"
channel = "C_OPS"
cron = "{cron}"
timezone = "{zone}"
window = "7d"
grace = "{grace}"

[stores]
shopify_remote = "DEMO_SHOP_REMOTE"
order_sync_job = "queue_ShopifyOrderSync_10000"

[limits]
digest_page_size = 7
"""


def digest_policy(
    tmp_path: Path, *, cron: str | None = None, grace: str = "10m", zone: str = ZONE
) -> Path:
    """The policy with the ops-daily schedule; by default it stays dormant (dormant_cron)."""
    path = tmp_path / f"policy-{time.monotonic_ns()}.toml"
    path.write_text(DIGEST_POLICY.format(cron=cron or dormant_cron(), zone=zone, grace=grace))
    return path


def _digest_services(
    fake_slack: FakeSlack, sandbox: SandboxServer, db: Path | str, policy: Path
) -> Services:
    """A replica's services wired to the fakes, ready to fire digest slots (close them)."""
    services = create_services(settings_for(fake_slack, sandbox, db, omsbot_policy=policy))
    services.prepare()
    services.attach_slack(build_web_client(BOT_TOKEN, fake_slack.api_url))
    return services


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll `condition` without blocking the event loop the services run on."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def shown(message: Message) -> str:
    return text_of({"text": message.text, "blocks": message.blocks})


def logins_pages(sandbox: SandboxServer) -> list[dict[str, Any]]:
    """The logInsights pages the OMS was asked for, as their `json` bodies (the tenant
    profile's row-less probe of the core, bot/oms/probes.py, is not a page)."""
    bodies = [
        r.body["json"]
        for r in sandbox.state.requests("/api/solr-query", "POST")
        if isinstance(r.body, dict) and r.body.get("coreName") == "logInsights"
    ]
    return [b for b in bodies if b.get("params", {}).get("rows") != 0]


# -- commands over HTTP ------------------------------------------------------------------------


def test_failed_groups_by_cause_with_fixes_and_paging(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    body = gated(bot.reply_post(bot.slash("failed --since 7d")).body)
    text = text_of(body)
    # #1006 failed in both the MDM and logInsights: one failed order.
    total = len(bot.sandbox.state.data.failures)
    assert f"{total} failed imports" in text
    assert "from Shopify order MDM (SYNC_ and UPDATE_SHOPIFY_ORDER) and logInsights" in text
    assert "Customer address or phone missing" in text and "re-import" in text.lower()
    assert "Badly formed customer e-mail" in text and "Emoji in the order note" in text
    assert "createShopifyOrder failed without a message" in text
    # An unknown cause is shown with its ids taken out; the known ones come with their fix.
    assert "Shopify variant <n> (SKU MLS-BLU-M)" in text
    assert "|#1006> · failed <!date^" in text and "(MDM)" in text and "(logInsights)" in text
    # logInsights' `site` is the customer's order status page, with its token: never shown.
    assert "authenticate?key=" not in json.dumps(body)
    assert "/oms digest now" in text  # 31 failures do not fit: where to get them all
    pages = logins_pages(bot.sandbox)
    # This window's pages (the window before is read at the same time): the later range.
    current = max(p["filter"][0] for p in pages)
    window = [p for p in pages if p["filter"][0] == current]
    assert all(p["params"]["rows"] == 7 for p in pages)
    assert [p["params"]["start"] for p in window] == list(range(0, total, 7))
    assert all(p["params"]["q"] == "docType:SHOPIFY_ORDER" for p in pages)
    # No filter on `site`: how the core indexes it is not public.
    assert all(len(p["filter"]) == 1 and p["filter"][0].startswith("timestamp:[") for p in pages)


def test_failed_empty_window_says_so(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    text = text_of(gated(bot.reply_post(bot.slash("failed --since 1m")).body))
    assert "No failed imports" in text
    text = text_of(gated(bot.reply_post(bot.slash("failed --store OUTLET")).body))
    assert "No failed imports" in text and "OUTLET" in text
    assert "Product store OUTLET has no Shopify shops" in text
    bad = text_of(bot.ack("failed --store 'a b'"))
    assert "not a product store id" in bad


def test_digest_now_posts_summary_with_every_row_in_a_csv(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    reply = text_of(bot.reply_post(bot.slash("digest now --since 7d")).body)
    assert "Posted" in reply
    digest = bot.wait_message(lambda m: m.thread_ts is None and "failed imports" in m.text)
    total = len(bot.sandbox.state.data.failures)
    assert f"All {total} failed orders are in the CSV" in shown(digest)
    upload = bot.fake.wait_for(lambda: bot.fake.files() or None)[0]
    assert upload.channel == "C_OPS" and upload.thread_ts == digest.ts
    rows = list(csv.DictReader(io.StringIO(upload.content.decode("utf-8"))))
    names = sorted(r["shopify_order_name"] for r in rows)
    assert names == sorted(f.shopify_order_name for f in bot.sandbox.state.data.failures)
    # The Re-import button runs the order runbooks' `/oms import` as the presser: its
    # confirm card for the newest failure.
    newest = max(bot.sandbox.state.data.failures, key=lambda f: f.timestamp)
    click = bot.driver.click(digest, "oms:digest_followup#0", user="U_ALICE")
    assert click.http.status_code == 200
    answer = text_of(gated(bot.reply_post(click).body))
    assert f"Import {newest.shopify_order_name} from Shopify?" in answer
    assert "Import 1 order" in answer
    kept = bot.fake.message("C_OPS", digest.ts)  # the digest stays, its buttons replaced
    assert "requested by <@U_ALICE>" in shown(kept) and "failed imports" in kept.text
    events = search(bot.services.store, limit=20)
    assert any(e.kind == "scheduled_post" and e.outcome == "ok" for e in events)


def test_digest_lists_schedules(make_bot: BotFactory, tmp_path: Path) -> None:
    cron = dormant_cron()
    bot = make_bot(omsbot_policy=digest_policy(tmp_path, cron=cron))
    text = text_of(gated(bot.reply_post(bot.slash("digest")).body))
    assert "ops-daily" in text and cron in text and "Europe/Paris" in text
    assert "Next run:" in text


# -- scheduled slots through real Services ----------------------------------------------------


async def test_two_replicas_on_postgres_post_a_slot_once(
    postgres_url: str, fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path
) -> None:
    policy = digest_policy(tmp_path)
    replicas = []
    for _ in range(2):
        services = _digest_services(fake_slack, sandbox, postgres_url, policy)
        replicas.append(services)
    try:
        schedulers = [s.slot_scheduler(lease=5) for s in replicas]
        schedule = schedulers[0].schedule("ops-daily")
        slot = float(int(time.time()))
        outcomes = await asyncio.gather(*(s.fire_slot(schedule, slot) for s in schedulers))
        assert sorted(outcomes) == ["done-elsewhere", "posted"]
        posts = [m for m in fake_slack.messages("C_OPS") if m.thread_ts is None]
        assert len(posts) == 1 and "failed imports" in posts[0].text
        assert len(fake_slack.files()) == 1
        row = get_slot(replicas[0].store, "ops-daily", slot)
        assert row is not None and row.state == "posted" and row.message_ts == posts[0].ts
        # Firing the finished slot again (a late cron, a restart) posts nothing.
        assert await schedulers[1].fire_slot(schedule, slot) == "done-elsewhere"
        assert len([m for m in fake_slack.messages("C_OPS") if m.thread_ts is None]) == 1
    finally:
        for services in replicas:
            await services.aclose()


async def test_replica_takes_over_a_dead_claim(
    postgres_url: str, fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path
) -> None:
    services = _digest_services(fake_slack, sandbox, postgres_url, digest_policy(tmp_path))
    try:
        slot = float(int(time.time()))
        # A replica claimed the slot with a short lease and died.
        assert claim_slot(services.store, "ops-daily", slot, owner="dead", now=time.time(), lease=1)
        scheduler = services.slot_scheduler(lease=5)
        outcome = await scheduler.fire_slot(scheduler.schedule("ops-daily"), slot)
        assert outcome == "posted"
        assert len([m for m in fake_slack.messages("C_OPS") if m.thread_ts is None]) == 1
    finally:
        await services.aclose()


async def test_oms_outage_then_recovery_within_grace_posts_once(
    fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path
) -> None:
    services = _digest_services(fake_slack, sandbox, tmp_path / "bot.db", digest_policy(tmp_path))
    try:
        scheduler = services.slot_scheduler(retry_delay=0.3)
        slot = float(int(time.time()))
        sandbox.state.down = True
        with captured_logs() as logs:
            task = asyncio.get_running_loop().create_task(
                scheduler.fire_slot(scheduler.schedule("ops-daily"), slot)
            )
            # The event, not a time: the digest found the OMS away twice (it retried once).
            await until(lambda: sum("retrying in" in m for m in logs.messages()) >= 2)
        assert not fake_slack.messages("C_OPS")  # nothing posted while the OMS is away
        sandbox.state.down = False
        assert await task == "posted"
        posts = [m for m in fake_slack.messages("C_OPS") if m.thread_ts is None]
        assert len(posts) == 1 and "failed imports" in posts[0].text
        assert "unavailable" not in shown(posts[0])
    finally:
        await services.aclose()


async def test_oms_outage_beyond_grace_posts_source_unavailable_once(
    fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path
) -> None:
    services = _digest_services(fake_slack, sandbox, tmp_path / "bot.db", digest_policy(tmp_path))
    try:
        slot = float(int(time.time()))
        # The clock says the grace time ends in 2 s; the next retry would be after it.
        scheduler = services.slot_scheduler(clock=lambda: slot + 598, retry_delay=5)
        schedule = scheduler.schedule("ops-daily")
        sandbox.state.down = True
        assert await scheduler.fire_slot(schedule, slot) == "unavailable"
        sandbox.state.down = False
        assert await scheduler.fire_slot(schedule, slot) == "done-elsewhere"
        posts = fake_slack.messages("C_OPS")
        assert len(posts) == 1 and "the source is unavailable" in shown(posts[0])
        events = search(services.store, limit=10)
        assert [e.outcome for e in events if e.kind == "scheduled_post"] == ["unavailable"]
    finally:
        await services.aclose()


async def test_rate_limited_post_is_retried_after_retry_after(
    fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path
) -> None:
    services = _digest_services(fake_slack, sandbox, tmp_path / "bot.db", digest_policy(tmp_path))
    try:
        scheduler = services.slot_scheduler()
        # More 429s than the Web API client retries by itself: the digest waits them out.
        fake_slack.rate_limit_next("chat.postMessage", retry_after=1, times=3)
        slot = float(int(time.time()))
        assert await scheduler.fire_slot(scheduler.schedule("ops-daily"), slot) == "posted"
        calls = fake_slack.calls("chat.postMessage")
        assert [c.status for c in calls] == [429, 429, 429, 200]
        assert len([m for m in fake_slack.messages("C_OPS") if m.thread_ts is None]) == 1
    finally:
        await services.aclose()


# -- downtime: the catch-up at start, through the app's lifespan ------------------------------


def test_slot_missed_during_downtime_is_posted_late_at_start(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    # Hourly, with two hours of grace: the last slot passed while no bot ran. In UTC: in Paris,
    # during the hour the October clock change repeats, the scheduler's slot search never ends
    # (see yearly_noon_cron) and the bot would hang at start.
    policy = digest_policy(tmp_path, cron="0 * * * *", grace="2h", zone="UTC")
    bot = make_bot(omsbot_policy=policy)
    late = bot.wait_message(lambda m: "Posted late" in shown(m))
    assert "failed imports" in late.text
    assert len([m for m in bot.fake.messages("C_OPS") if "Posted late" in shown(m)]) == 1


def test_slot_missed_beyond_grace_gets_a_short_note(make_bot: BotFactory, tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    # Yearly, due at noon two days before the test started: whatever the date (1 January,
    # 29 February...) the slot is then 1.5 to 2.5 days in the past, far beyond the 1h grace,
    # and still the newest one when the bot starts (the next is a year later).
    policy = digest_policy(tmp_path, cron=yearly_noon_cron(time.time() - 2 * DAY), grace="1h")
    store = open_store(f"sqlite:///{db}")
    upgrade(store)
    # The schedule ran before: last year's slot was posted.
    year_ago = time.time() - 400 * 86400
    assert claim_slot(store, "ops-daily", year_ago, owner="old", now=year_ago, lease=60)
    assert finish_slot(
        store, "ops-daily", year_ago, owner="old", state="posted", outcome="5", now=year_ago
    )
    store.dispose()
    bot = make_bot(db_path=db, omsbot_policy=policy)
    note = bot.wait_message(lambda m: "Digest missed" in m.text)
    assert "grace" in note.text
    assert not [m for m in bot.fake.messages("C_OPS") if "failed imports" in m.text.lower()]
