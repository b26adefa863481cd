"""Jobs and webhooks through the real endpoint: /oms jobs, /oms job, running a job (to success,
to failure, refused while running, followed past the limit), skip once, pause, /oms webhooks
with subscribe and unsubscribe, and the bad-input replies."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.kit.durations import slack_time
from bot.sandbox.jobs_data import SHOP, SHOPIFY_CONFIG, STORE
from bot.store.audit import search
from handlers.jobs import run_job_button
from tests.conftest import BotFactory, RunningBot, text_of
from tests.handlers.jobs.replies import reply as _reply
from tests.handlers.jobs.replies import shown as _shown
from tests.handlers.jobs.replies import told as _told

RUN = "oms:jobs.run#0"
SKIP = "oms:jobs.skip#1"
PAUSE = "oms:jobs.pause#2"

POLICY = """
[roles]
operator = ["U_ALICE", "S_OPERATORS", "U_DAVE"]

[limits]
job_poll_seconds = 0.1
job_follow_minutes = {follow}
"""


def _bot(make_bot: BotFactory, tmp_path: Path, follow: float = 1, **settings: Any) -> RunningBot:
    path = tmp_path / f"policy-{time.monotonic_ns()}.toml"
    path.write_text(POLICY.format(follow=follow))
    bot = make_bot(omsbot_policy=path, **settings)
    jobs = bot.sandbox.state.jobs
    jobs.queued_seconds = 0.3
    jobs.running_seconds = 0.6
    return bot


def _bodies(bot: RunningBot, path: str) -> list[dict[str, Any]]:
    return [r.body for r in bot.sandbox.state.requests(path, "POST") if isinstance(r.body, dict)]


def _job_reads(bot: RunningBot) -> list[dict[str, Any]]:
    """The bot's findJobs queries, less the tenant profile's one-row probe (bot/oms/probes.py)."""
    return [b for b in _bodies(bot, "/api/findJobs") if b.get("fieldList") != ["jobId"]]


def _row(bot: RunningBot, enum_id: str, status: str) -> dict[str, Any]:
    with bot.sandbox.state.lock:
        return next(
            dict(r)
            for r in bot.sandbox.state.jobs.jobs.values()
            if r["systemJobEnumId"] == enum_id and r["statusId"] == status
        )


def _local(epoch_ms: int, tz: str) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC).astimezone(ZoneInfo(tz))
    return moment.strftime("%Y-%m-%d %H:%M %Z")


# ---- reading ---------------------------------------------------------------------------------


def test_jobs_lists_categories_with_scheduled_counts(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    shown = _shown(_reply(bot, "jobs"))
    for label in ("Initial load", "Pre-order", "Orders", "Brokering", "Fulfillment"):
        assert f"*{label}*" in shown
    # 7 catalogue jobs and JOB_UL_CNCLD_ORD, which the OMS has and the catalogue does not name
    assert "*Orders* (`orders`): 6 scheduled of 8 jobs" in shown
    assert "*Initial load* (`initial-load`): 0 scheduled of 2 jobs" in shown
    (query,) = _job_reads(bot)
    assert query["inputFields"] == {"statusId": "SERVICE_PENDING", "tempExprId_op": "not-empty"}


def test_jobs_of_a_category_show_next_run_in_the_users_time_zone(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    shown = _shown(_reply(bot, "jobs orders", user="U_BOB"))  # Bob is in Europe/London
    pending = _row(bot, "JOB_IMP_ORD", "SERVICE_PENDING")
    assert "*New orders* `new-orders` (JOB_IMP_ORD)" in shown
    assert "Import new orders from eCommerce." in shown
    # A Slack date: Bob's client shows it in his zone (Europe/London).
    assert f"Every 15 minutes · next run {slack_time(pending['runTime'] / 1000)}" in shown
    assert "Last run: :x: failed" in shown and "Shopify API call limit exceeded" in shown
    assert "*Cancelled items* `cancelled-items` (JOB_IMP_ITM_CNCL)" in shown
    assert ":white_circle: not scheduled" in shown
    assert "Times in Europe/London" in shown
    queries = [b["inputFields"] for b in _job_reads(bot)]
    assert {
        "statusId": ["SERVICE_DRAFT", "SERVICE_PENDING"],
        "statusId_op": "in",
        "enumTypeId": "ORDER_SYS_JOB",
    } in queries


def test_job_shows_runs_and_operator_buttons(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    card = _reply(bot, "job JOB_IMP_ORD_CNCL", user="U_DAVE")  # Los Angeles, operator
    shown = _shown(card)
    assert "Cancelled orders (JOB_IMP_ORD_CNCL)" in shown
    assert "`updateShopifyOrderStatus`" in shown and "Hourly" in shown
    assert "*Last 3 runs*" in shown
    assert ":x: failed" in shown and "Shopify API call limit exceeded" in shown
    assert "PST" in shown or "PDT" in shown
    labels = [
        e["text"]["text"] for b in card.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["Run now", "Skip once", "Pause"]
    run_button = next(e for b in card.blocks if b["type"] == "actions" for e in b["elements"])
    assert run_button["confirm"]["title"]["text"] == "Run Cancelled orders now?"

    other = _reply(bot, "job cancelled-orders", user="U_CAROL")  # not an operator
    labels = [
        e["text"]["text"] for b in other.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["Run now"]
    assert "need the *operator* role" in _shown(other)


# ---- running ---------------------------------------------------------------------------------


def test_run_now_is_followed_to_success_and_names_the_mdm_log(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    # The job spends under a second queued and running: with a second between two updates
    # of the progress message (the default) only its end would show, so every update goes.
    bot = _bot(make_bot, tmp_path, omsbot_update_interval_seconds=0)
    card = _reply(bot, "job new-orders")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    done = bot.wait_message(lambda m: m.text.endswith(": finished"), timeout=20)
    shown = _shown(done)
    (copy_row,) = [r for r in bot.sandbox.state.jobs.jobs.values() if r["jobId"].startswith("5")]
    job_id = copy_row["jobId"]
    assert copy_row["statusId"] == "SERVICE_FINISHED"
    assert f"New orders finished in 0.6s (job {job_id}); MDM log DML{job_id}" in shown
    assert "CRT_SHOPIFY_ORDER: finished" in shown
    history = " ".join(_shown(v) for v in done.history)
    assert f"queued · job {job_id}" in history or f"running · job {job_id}" in history
    (scheduled,) = _bodies(bot, "/api/scheduleService")
    assert "SERVICE_TIME" not in scheduled  # run now = no SERVICE_TIME
    assert scheduled["SERVICE_NAME"] == "createOrdersFromShopify"
    assert (
        scheduled["jobFields"]["parentJobId"] == _row(bot, "JOB_IMP_ORD", "SERVICE_DRAFT")["jobId"]
    )
    writes = [e for e in search(bot.services.store, actor="U_ALICE") if e.kind == "oms_write"]
    assert [(w.summary, w.outcome) for w in writes] == [("schedule a job to run now", "ok")]


def test_run_now_sends_what_hotwaxs_app_sends(make_bot: BotFactory, tmp_path: Path) -> None:
    """order-routing's runServiceNow: the runtime data at the root but the store and shop, the
    schedule's frequency as SERVICE_TEMP_EXPR, the store and shop of the schedule, and no key
    sent empty (HotWax's templates carry empty store and shop values)."""
    bot = _bot(make_bot, tmp_path)
    draft = _row(bot, "JOB_IMP_ORD", "SERVICE_DRAFT")
    with bot.sandbox.state.lock:
        bot.sandbox.state.jobs.jobs[draft["jobId"]]["runtimeData"] = {
            "productStoreId": "",
            "shopifyConfigId": "",
            "shopId": "",
            "sinceId": "",
            "includeDrafts": "N",
        }
    card = _reply(bot, "job new-orders")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    bot.wait_message(lambda m: m.text.endswith(": finished"), timeout=20)
    (scheduled,) = _bodies(bot, "/api/scheduleService")
    assert scheduled == {
        "JOB_NAME": draft["jobName"],
        "SERVICE_NAME": "createOrdersFromShopify",
        "SERVICE_COUNT": "0",
        "SERVICE_TEMP_EXPR": "EVERY_15_MIN",
        "jobFields": {
            "productStoreId": STORE,
            "systemJobEnumId": "JOB_IMP_ORD",
            "instanceOfProductId": "JOB_IMP_ORD",
            "tempExprId": "EVERY_15_MIN",
            "parentJobId": draft["jobId"],
            "recurrenceTimeZone": "America/New_York",
            "createdByUserLogin": "U_ALICE",
            "lastModifiedByUserLogin": "U_ALICE",
            "shopId": SHOP,
        },
        "statusId": "SERVICE_PENDING",
        "systemJobEnumId": "JOB_IMP_ORD",
        "includeDrafts": "N",
        "productStoreId": STORE,
        "shopifyConfigId": SHOPIFY_CONFIG,
        "shopId": SHOP,
    }


def test_run_now_of_a_shop_job_with_no_known_shop_is_refused(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    """A template for a shop, never scheduled for one: HotWax's app refuses ("Shopify
    configuration not found"), and so does the bot, before anything is written."""
    bot = _bot(make_bot, tmp_path)
    draft = _row(bot, "JOB_IMP_ORD_BLK", "SERVICE_DRAFT")
    with bot.sandbox.state.lock:
        row = bot.sandbox.state.jobs.jobs[draft["jobId"]]
        row.update(productStoreId=None, shopId=None)
        row["runtimeData"] = {"productStoreId": "", "shopifyConfigId": "", "shopId": ""}
    card = _reply(bot, "job import-orders-bulk")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    failed = bot.wait_message(lambda m: m.text.endswith(": failed"), timeout=20)
    shown = _shown(failed)
    assert "Import orders in bulk was not run" in shown
    assert "its runtime data has shopifyConfigId and shopId" in shown
    assert "shopifyConfigId and shopId are not known for it" in shown
    assert "schedule the job for the shop in the Job Manager first" in shown
    assert _bodies(bot, "/api/scheduleService") == []


def test_a_failed_run_shows_the_status_and_the_oms_message(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    bot.sandbox.state.jobs.run_outcome = "failed"
    bot.sandbox.state.jobs.run_failure_message = "Shopify shop DEMO_SHOP refused the token"
    card = _reply(bot, "job approve-orders")
    bot.driver.click_ephemeral(card, RUN, user="U_BOB")  # an operator through S_OPERATORS
    failed = bot.wait_message(lambda m: m.text.endswith(": failed"), timeout=20)
    shown = _shown(failed)
    assert "Approve orders failed (job 5" in shown
    assert "Shopify shop DEMO_SHOP refused the token" in shown
    assert ":x: Follow the job until it ends" in shown
    assert len(_bodies(bot, "/api/scheduleService")) == 1


def test_a_running_job_is_not_started_twice_and_a_long_run_is_left_running(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path, follow=0.02)  # follow for 1.2 s
    bot.sandbox.state.jobs.running_seconds = 60
    card = _reply(bot, "job new-orders")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    bot.wait_message(lambda m: "running · job 5" in _shown(m), timeout=15)

    second = _reply(bot, "job new-orders", user="U_DAVE")
    assert ":hourglass_flowing_sand: Now running: job 5" in _shown(second)
    bot.driver.click_ephemeral(second, RUN, user="U_DAVE")
    refusal = _told(bot, "U_DAVE", "so it was not started again")
    assert "New orders is already running in the OMS (job 5" in refusal
    assert "`/oms job new-orders`" in refusal

    left = bot.wait_message(lambda m: "stopped following" in _shown(m), timeout=15)
    shown = _shown(left)
    assert "New orders is still running after" in shown
    assert "Check it later with `/oms job new-orders`" in shown
    assert len(_bodies(bot, "/api/scheduleService")) == 1


def test_running_needs_the_operator_role(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    card = _reply(bot, "job new-orders", user="U_CAROL")
    bot.driver.click_ephemeral(card, RUN, user="U_CAROL")
    assert _told(bot, "U_CAROL", "needs the *operator* role, which you do not hold")
    time.sleep(0.3)
    assert _bodies(bot, "/api/scheduleService") == []


def test_run_job_button_is_the_public_entry_for_other_runbooks() -> None:
    spec = run_job_button("approve-orders")
    assert (spec.label, spec.action, spec.params["job"]) == (
        "Run the Approve orders job",
        "jobs.run",
        "JOB_APR_ORD",
    )
    assert spec.allowed_role == "operator" and spec.confirm is not None
    assert run_job_button("JOB_IMP_ORD").params["job"] == "JOB_IMP_ORD"
    with pytest.raises(ValueError, match=r"the jobs are: .*new-orders"):
        run_job_button("no-such-job")


# ---- skip and pause --------------------------------------------------------------------------


def test_skip_once_moves_the_next_run_one_interval(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    before = _row(bot, "JOB_IMP_ORD", "SERVICE_PENDING")
    card = _reply(bot, "job new-orders")
    bot.driver.click_ephemeral(card, SKIP, user="U_ALICE")
    told = _told(bot, "U_ALICE", "Skipped the New orders run")
    new_time = before["runTime"] + 15 * 60_000
    assert (
        f"Read back from the OMS: the next run is {slack_time(new_time / 1000)} "
        f"(job {before['jobId']}, pending)" in told
    )
    (update,) = _bodies(bot, "/api/service/updateJobSandbox")
    assert update["jobId"] == before["jobId"] and update["runTime"] == new_time
    assert update["statusId"] == "SERVICE_PENDING" and update["tempExprId"] == "EVERY_15_MIN"
    assert _row(bot, "JOB_IMP_ORD", "SERVICE_PENDING")["runTime"] == new_time
    writes = [
        e for e in search(bot.services.store, order_key="job:JOB_IMP_ORD") if e.kind == "oms_write"
    ]
    assert writes and writes[0].outcome == "ok"


def test_pause_cancels_the_schedule(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    before = _row(bot, "JOB_APR_ORD", "SERVICE_PENDING")
    card = _reply(bot, "job approve-orders")
    bot.driver.click_ephemeral(card, PAUSE, user="U_ALICE")
    told = _told(bot, "U_ALICE", "Paused Approve orders")
    assert f"read back from the OMS, its schedule (job {before['jobId']}" in told
    assert "is cancelled" in told
    assert _bodies(bot, "/api/service/cancelScheduledJob") == [{"jobId": before["jobId"]}]
    with bot.sandbox.state.lock:
        assert bot.sandbox.state.jobs.jobs[before["jobId"]]["statusId"] == "SERVICE_CANCELLED"
    after = _reply(bot, "job approve-orders")
    assert "not scheduled" in _shown(after)


def test_a_skip_or_pause_the_oms_did_not_apply_fails_clearly(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    """OFBiz answers success but the job reads back unchanged: the user is told what the OMS
    now says and what to do, never that it was done."""
    bot = _bot(make_bot, tmp_path)
    state = bot.sandbox.state
    before = _row(bot, "JOB_IMP_ORD", "SERVICE_PENDING")
    ok = {"successMessage": "Job updated successfully"}
    state.inject_fault("/api/service/updateJobSandbox", "json", body=ok)
    card = _reply(bot, "job new-orders")
    bot.driver.click_ephemeral(card, SKIP, user="U_ALICE")
    told = _told(bot, "U_ALICE", "The next New orders run is not skipped as asked")
    due = _local(before["runTime"], "America/New_York")
    assert f"job {before['jobId']} pending, next run {due}" in told
    assert f"if the run due {due} is still planned, skip it there" in told
    assert _row(bot, "JOB_IMP_ORD", "SERVICE_PENDING")["runTime"] == before["runTime"]

    state.inject_fault("/api/service/cancelScheduledJob", "json", body={"successMessage": "ok"})
    card = _reply(bot, "job new-orders")
    bot.driver.click_ephemeral(card, PAUSE, user="U_ALICE")
    told = _told(bot, "U_ALICE", "New orders is not paused")
    assert f"job {before['jobId']} pending, next run {due}: it is still scheduled" in told
    texts = [text_of(p.body) for p in bot.fake.response_posts() if p.user == "U_ALICE"]
    assert not any("Skipped the" in t or "Paused New orders" in t for t in texts)
    reads = [e for e in search(bot.services.store, actor="U_ALICE") if e.kind == "oms_read"]
    assert sorted((e.summary, e.outcome) for e in reads) == [
        ("read back JOB_IMP_ORD after pausing it", "failed"),
        ("read back JOB_IMP_ORD after skipping its next run", "failed"),
    ]


# ---- webhooks --------------------------------------------------------------------------------


def _hooks(bot: RunningBot) -> list[str]:
    with bot.sandbox.state.lock:
        return [h["topic"] for h in bot.sandbox.state.jobs.webhooks[SHOPIFY_CONFIG]]


def test_webhooks_show_their_subscription_state(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    shown = _shown(_reply(bot, "webhooks"))
    assert "*New orders* `new-orders` (orders/create): subscribed (webhook 1053746)" in shown
    assert "*Cancelled orders* `cancelled-orders` (orders/cancelled): not subscribed" in shown
    assert "*New products* `new-products` (products/create): no endpoint configured" in shown
    assert "2 of 7 topics subscribed" in shown
    assert _bodies(bot, "/api/service/getShopifyWebhooks") == [{"shopifyConfigId": SHOPIFY_CONFIG}]


def test_subscribe_and_unsubscribe_after_a_confirm(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    card = _reply(bot, "webhooks subscribe cancelled-orders")
    assert "Subscribe the Cancelled orders webhook?" in _shown(card)
    assert "orders/cancelled" not in _hooks(bot)
    bot.driver.click_ephemeral(card, "oms:webhooks.subscribe#0", user="U_ALICE")
    told = _told(bot, "U_ALICE", "Subscribed Cancelled orders (orders/cancelled): webhook")
    assert "orders/cancelled" in _hooks(bot)
    (sub,) = _bodies(bot, "/api/service/subscribeShopifyWebhook")
    assert sub == {
        "shopifyConfigId": SHOPIFY_CONFIG,
        "topic": "orders/cancelled",
        "endpoint": "cancelOrderShopifyWebhook",
    }
    assert told

    card = _reply(bot, "webhooks unsubscribe new-orders")
    bot.driver.click_ephemeral(card, "oms:webhooks.unsubscribe#0", user="U_ALICE")
    _told(bot, "U_ALICE", "Unsubscribed New orders (orders/create): webhook 1053746 removed.")
    assert "orders/create" not in _hooks(bot)
    assert _bodies(bot, "/api/service/removeShopifyWebhook") == [
        {"webhookId": "1053746", "shopifyConfigId": SHOPIFY_CONFIG}
    ]
    writes = [e for e in search(bot.services.store, actor="U_ALICE") if e.kind == "oms_write"]
    assert {w.summary for w in writes} == {
        "subscribe the orders/cancelled webhook",
        "remove the orders/create webhook",
    }


def test_webhook_refusals(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    no_endpoint = _shown(_reply(bot, "webhooks subscribe new-products"))
    assert (
        "has no webhook endpoint configured in the OMS, so it cannot be subscribed" in no_endpoint
    )
    already = _shown(_reply(bot, "webhooks subscribe orders/create"))
    assert "New orders (orders/create) is already subscribed (webhook 1053746)." in already
    absent = _shown(_reply(bot, "webhooks unsubscribe returns"))
    assert "Returns (refunds/create) is not subscribed; nothing to remove." in absent
    refused = text_of(bot.ack("webhooks subscribe returns", user="U_CAROL"))
    assert "operator" in refused
    assert _bodies(bot, "/api/service/subscribeShopifyWebhook") == []
    assert _bodies(bot, "/api/service/removeShopifyWebhook") == []


# ---- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("webhooks subscribe orders/edited", "unknown webhook topic `orders/edited`; the topics"),
        ("job", "Missing <job>"),
        ("jobs two words", "Too many"),
    ],
)
def test_bad_input_lists_the_valid_values(
    make_bot: BotFactory, tmp_path: Path, text: str, words: str
) -> None:
    bot = _bot(make_bot, tmp_path)
    shown = text_of(bot.ack(text))
    assert words in shown
    assert bot.sandbox.state.requests("/api/findJobs") == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "jobs nonsense",
            "unknown category `nonsense`; the categories are: initial-load, pre-order",
        ),
        ("job frobnicate", "unknown job `frobnicate`; the jobs are: import-products-bulk"),
    ],
)
def test_unknown_names_list_the_valid_ones_of_both_backends(
    make_bot: BotFactory, tmp_path: Path, text: str, words: str
) -> None:
    # Moqui categories and jobs are the tenant's own data, so the names are checked in the OMS,
    # and so is an OFBiz job enum the catalogue does not name (one findJobs by enum id).
    bot = _bot(make_bot, tmp_path)
    shown = _shown(_reply(bot, text))
    assert words in shown
    assert "ORDER_SYS_JOB" in shown or "a Moqui job's name" in shown
    name = text.split()[1].upper()
    by_type = {"statusId": ["SERVICE_DRAFT", "SERVICE_PENDING"], "statusId_op": "in"}
    assert [q["inputFields"] for q in _job_reads(bot)] in (
        [{"systemJobEnumId": name}],
        [{**by_type, "enumTypeId": name}],
    )
