"""The Job Manager on each kind of tenant, through the real endpoint: the Moqui Job Manager
(`moqui-only`: admin/serviceJobs, runNow and its runs, pause by PUT, the connector's webhook
subscriptions) and the legacy OFBiz JobSandbox (`ofbiz-jobs`: findJobs, whose empty answer is
a 404, and the OFBiz webhook services)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import DEMO_API_TOKEN, DEMO_ORDER_SYNC_JOB, DEMO_SHOPIFY_REMOTE
from bot.sandbox.jobs_data import SHOPIFY_CONFIG
from bot.sandbox.records import JobParameter
from bot.sandbox.service_jobs import rewrite_parameters_on_put
from bot.sandbox.tenant import tenant_named, variant
from bot.store.audit import search
from tests.conftest import BotFactory, RunningBot, text_of
from tests.handlers.jobs.replies import reply as _reply
from tests.handlers.jobs.replies import shown as _shown
from tests.handlers.jobs.replies import told as _told
from tests.harness.fakeslack import ResponsePost

RUN = "oms:jobs.run#0"
PAUSE = "oms:jobs.pause_service_job#1"
JOBS = "/rest/s1/admin/serviceJobs"
HOOKS = "/rest/s1/shopify/webhook-subscription"
POLL = "poll_BulkOperationResult_ShopifyBulkQuery"
ACK = "sendShopifyFulfillmentAckFeed_STORE"

POLICY = f"""
[roles]
operator = ["U_ALICE", "S_OPERATORS", "U_DAVE"]

[stores]
shopify_remote = "{DEMO_SHOPIFY_REMOTE}"

[limits]
job_poll_seconds = 0.1
job_follow_minutes = {{follow}}
"""


def _bot(make_bot: BotFactory, tmp_path: Path, tenant: str, follow: float = 1) -> RunningBot:
    bot_tenant = tenant_named(tenant)
    path = tmp_path / f"policy-{time.monotonic_ns()}.toml"
    path.write_text(POLICY.format(follow=follow))
    # Moqui-only bots here use an integration token (whether Maarg takes one is not public;
    # tests/surface/test_tenants.py logs in to such a tenant with a password instead).
    token = {"oms_api_token": DEMO_API_TOKEN} if not bot_tenant.ofbiz else {}
    bot = make_bot(omsbot_policy=path, **token)
    bot.sandbox.state.tenant = bot_tenant
    bot.sandbox.state.job_manager.run_seconds = 0.5
    jobs = bot.sandbox.state.jobs
    jobs.queued_seconds, jobs.running_seconds = 0.3, 0.6
    return bot


def _labels(reply: ResponsePost) -> list[str]:
    return [
        e["text"]["text"] for b in reply.blocks if b["type"] == "actions" for e in b["elements"]
    ]


def _writes(bot: RunningBot, actor: str = "U_ALICE") -> list[tuple[str, str]]:
    events = search(bot.services.store, actor=actor)
    return sorted((e.summary, e.outcome) for e in events if e.kind == "oms_write")


def _job_runs(bot: RunningBot, job_name: str) -> list[Any]:
    with bot.sandbox.state.lock:
        return [r for r in bot.sandbox.state.data.job_runs if r.job_name == job_name]


# ---- the Moqui Job Manager (moqui-only) ------------------------------------------------------


def test_jobs_on_moqui_list_the_tenants_categories(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "moqui-only")
    shown = _shown(_reply(bot, "jobs"))
    assert "*Moqui Job Manager* (Maarg `admin/serviceJobs`)" in shown
    assert "*Orders* (`ORDER_SYS_JOB`): 1 scheduled, 1 paused, 0 templates" in shown
    assert "*Upload* (`UPLOAD_SYS_JOB`): 1 scheduled, 0 paused, 2 templates" in shown
    assert "OFBiz `findJobs`" not in shown and "Apparel" not in shown  # not a job category
    assert "*OFBiz JobSandbox (legacy)*: no OFBiz on this tenant." in shown
    # The listing, then one more page at the size the server answered (a short first page may
    # be a capped one); not the tenant profile's one-row probe (bot/oms/probes.py).
    listed, more = [
        r for r in bot.sandbox.state.requests(JOBS, "GET") if r.params["pageSize"] != ["1"]
    ]
    assert more.params["pageIndex"] == ["1"] and int(more.params["pageSize"][0]) < 250
    assert listed.params["instanceOfProductId_op"] == ["empty"]
    assert listed.params["instanceOfProductId_not"] == ["Y"]
    assert listed.params["pageSize"] == ["250"]
    assert bot.sandbox.state.requests("/api/findJobs") == []

    orders = _shown(_reply(bot, "jobs orders", user="U_BOB"))  # Europe/London
    assert "*Moqui Job Manager*: Orders (`ORDER_SYS_JOB`)" in orders
    assert "*bulkApprove_WarehouseTransferOrders*" in orders
    assert ":large_green_circle: daily at 00:00 OMS time · next run" in orders
    assert "*bulkApprove_StoreFulfillTransferOrders*" in orders and "paused" in orders
    assert "New orders" not in orders  # the OFBiz catalogue is not this tenant's
    upload = _shown(_reply(bot, "jobs upload"))
    assert "*queue_UpdatedProductIdsFeed*" in upload and "template, not set up" in upload
    unknown = _shown(_reply(bot, "jobs brokering"))
    assert "unknown category `brokering`; the categories are: ORDER_SYS_JOB" in unknown


def test_job_on_moqui_shows_runs_and_no_skip(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "moqui-only")
    card = _reply(bot, f"job {POLL}", user="U_DAVE")
    shown = _shown(card)
    assert "Moqui Job Manager" in shown and "Miscellaneous, Import" in shown
    assert "every 15 minutes · next run" in shown
    assert "*Last 3 runs*" in shown and ":x: failed" in shown and "Throttled" in shown
    assert "Skip once does not exist on the Moqui Job Manager" in shown
    assert _labels(card) == ["Run now", "Pause"]
    run_button = next(e for b in card.blocks if b["type"] == "actions" for e in b["elements"])
    assert run_button["confirm"]["title"]["text"] == f"Run {POLL} now?"

    other = _reply(bot, f"job {POLL.lower()}", user="U_CAROL")  # not an operator
    assert _labels(other) == ["Run now"]
    assert "need the *operator* role" in _shown(other)

    template = _reply(bot, "job sendShopifyFulfillmentAckFeed")
    assert _labels(template) == []
    assert "is a template: its systemMessageRemoteId is empty" in _shown(template)

    legacy = _shown(_reply(bot, "job new-orders"))
    assert "is a legacy OFBiz JobSandbox job, and this OMS has no OFBiz Job Manager" in legacy
    unknown = _shown(_reply(bot, "job frobnicate"))
    assert "unknown job `frobnicate`; a Moqui job's name" in unknown


def test_a_moqui_jobs_secret_parameters_are_hidden(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "moqui-only")
    secrets = {
        "sftpPassword": "hunter2-sandbox",
        "clientSecret": "cs_sandbox_51f0",
        "accessToken": "shpat_sandbox_9a7d",
        "apiKey": "ak_sandbox_77e1",
        "authHeaderValue": "Basic c2FuZGJveA==",
    }
    with bot.sandbox.state.lock:
        job = bot.sandbox.state.data.service_jobs[ACK]
        job.parameters += [JobParameter(name, value) for name, value in secrets.items()]
    shown = _shown(_reply(bot, f"job {ACK}"))
    for name, value in secrets.items():
        assert f"`{name}=(hidden)`" in shown
        assert value not in shown
    assert f"`systemMessageRemoteId={DEMO_SHOPIFY_REMOTE}`" in shown  # not a secret: shown


def test_run_now_on_moqui_follows_the_run_to_its_end(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "moqui-only")
    before = len(_job_runs(bot, ACK))
    card = _reply(bot, f"job {ACK}")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    done = bot.wait_message(lambda m: m.text.endswith(": finished"), timeout=20)
    runs = _job_runs(bot, ACK)
    assert len(runs) == before + 1
    new = runs[-1]
    assert new.end_time is not None and not new.errors
    shown = _shown(done)
    assert f"finished in 0.5s (run {new.job_run_id}); no MDM log names this run" in shown
    (run_now,) = bot.sandbox.state.requests(f"{JOBS}/{ACK}/runNow", "POST")
    assert run_now.body is None  # HotWax sends runNow without a body
    follows = bot.sandbox.state.requests(f"{JOBS}/{ACK}/runs", "GET")
    assert all(r.params["orderByField"] == ["-jobRunId"] for r in follows)
    assert _writes(bot) == [("start a job run now", "ok")]


def test_run_now_of_the_order_sync_job_replays_through_the_sync(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    # HotWax's notes say the sync's MDM log does not name the run yet: the bot says so.
    bot = _bot(make_bot, tmp_path, "moqui-only")
    card = _reply(bot, f"job {DEMO_ORDER_SYNC_JOB}")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    done = bot.wait_message(lambda m: m.text.endswith(": finished"), timeout=20)
    run = _job_runs(bot, DEMO_ORDER_SYNC_JOB)[-1]
    assert f"(run {run.job_run_id}); no MDM log names this run" in _shown(done)
    assert "Queued a ShopifyOrderSync system message" in _shown(done)


@pytest.mark.parametrize("filters_by_run", [True, False])
def test_run_now_of_the_order_sync_names_its_mdm_log_where_the_tenant_records_it(
    make_bot: BotFactory, tmp_path: Path, filters_by_run: bool
) -> None:
    # Whether the MDM list filters by createdByJobRunId is not public: the bot keeps only the
    # rows that name the run either way.
    bot = _bot(make_bot, tmp_path, "moqui-only")
    bot.sandbox.state.tenant = variant(
        bot.sandbox.state.tenant, mdm_log_names_run=True, mdm_filters_by_run=filters_by_run
    )
    bot.sandbox.state.sync_delay_seconds = 0
    with bot.sandbox.state.lock:  # the shop last synced ten minutes ago; an order changed since
        now = bot.sandbox.state.now()
        bot.sandbox.state.data.service_jobs[DEMO_ORDER_SYNC_JOB].synced_until = now - timedelta(
            minutes=10
        )
        bot.sandbox.state.data.shopify["6100000000007"].updated_at = now - timedelta(minutes=5)
    card = _reply(bot, f"job {DEMO_ORDER_SYNC_JOB}")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    done = bot.wait_message(lambda m: m.text.endswith(": finished"), timeout=20)
    run = _job_runs(bot, DEMO_ORDER_SYNC_JOB)[-1]
    with bot.sandbox.state.lock:
        (log,) = [
            m for m in bot.sandbox.state.data.mdm_logs if m.created_by_job_run_id == run.job_run_id
        ]
    assert f"(run {run.job_run_id}); MDM log {log.log_id} (SYNC_SHOPIFY_ORDER" in _shown(done)


def test_a_failed_or_running_moqui_job(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "moqui-only", follow=0.02)
    manager = bot.sandbox.state.job_manager
    manager.run_outcome, manager.run_error = "failed", "Shopify shop refused the token"
    card = _reply(bot, f"job {POLL}")
    bot.driver.click_ephemeral(card, RUN, user="U_BOB")
    failed = bot.wait_message(lambda m: m.text.endswith(": failed"), timeout=20)
    assert "Shopify shop refused the token" in _shown(failed)
    assert f"{POLL} failed (run " in _shown(failed)

    manager.run_outcome, manager.run_seconds = "finished", 60
    card = _reply(bot, f"job {ACK}")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    bot.wait_message(lambda m: "running · run 1" in _shown(m), timeout=15)
    again = _reply(bot, f"job {ACK}", user="U_DAVE")
    assert ":hourglass_flowing_sand: Now running: run 1" in _shown(again)
    bot.driver.click_ephemeral(again, RUN, user="U_DAVE")
    refusal = _told(bot, "U_DAVE", "so it was not started again")
    assert f"{ACK} is already running in the OMS (run 1" in refusal
    left = bot.wait_message(lambda m: "stopped following" in _shown(m), timeout=15)
    assert f"Check it later with `/oms job {ACK}`" in _shown(left)
    assert len(bot.sandbox.state.requests(f"{JOBS}/{ACK}/runNow", "POST")) == 1


def test_resume_after_a_lost_run_now_answer_does_not_run_the_job_twice(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    """runNow starts a run but its answer is lost (a gateway timeout); the run is short and
    has ended when someone presses Resume: that run is this run's, and none is started."""
    bot = _bot(make_bot, tmp_path, "moqui-only")
    bot.sandbox.state.job_manager.run_seconds = 0.1
    before = len(_job_runs(bot, ACK))
    bot.sandbox.state.inject_fault(f"{JOBS}/{ACK}/runNow", "lost", method="POST")
    card = _reply(bot, f"job {ACK}")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    failed = bot.wait_message(lambda m: m.text.endswith(": failed"), timeout=20)
    assert "504 Gateway Timeout" in _shown(failed)
    time.sleep(0.4)  # the run the lost runNow started ends before the Resume
    (started,) = _job_runs(bot, ACK)[before:]
    bot.driver.click(failed, "oms:run.resume#0", user="U_ALICE")
    done = bot.wait_message(lambda m: m.text.endswith(": finished"), timeout=20)
    shown = _shown(done)
    assert f"run {started.job_run_id} was started already" in shown
    assert f"(run {started.job_run_id}); no MDM log names this run" in shown
    assert len(_job_runs(bot, ACK)) == before + 1
    assert len(bot.sandbox.state.requests(f"{JOBS}/{ACK}/runNow", "POST")) == 1

    # Run now again at once: the run that just ended is not taken for the new one.
    again = _reply(bot, f"job {ACK}")
    bot.driver.click_ephemeral(again, RUN, user="U_ALICE")
    bot.fake.wait_for(
        lambda: (
            len([m for m in bot.fake.messages("C_OPS") if m.text.endswith(": finished")]) > 1
            or None
        ),
        20,
    )
    assert len(_job_runs(bot, ACK)) == before + 2
    assert len(bot.sandbox.state.requests(f"{JOBS}/{ACK}/runNow", "POST")) == 2


def test_pause_on_moqui_puts_paused_and_reads_it_back(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "moqui-only")
    with bot.sandbox.state.lock:
        job = bot.sandbox.state.data.service_jobs[ACK]
        parameters = [(p.name, p.value) for p in job.parameters]
    card = _reply(bot, f"job {ACK}")
    bot.driver.click_ephemeral(card, PAUSE, user="U_ALICE")
    told = _told(bot, "U_ALICE", f"Paused {ACK}")
    assert "read back from the OMS with paused = Y" in told
    assert "and parameters read back unchanged" in told
    (put,) = bot.sandbox.state.requests(f"{JOBS}/{ACK}", "PUT")
    assert put.body == {"jobName": ACK, "paused": "Y"}
    with bot.sandbox.state.lock:
        assert job.paused == "Y" and job.cron_expression == "0 0 * * * ?"
        assert [(p.name, p.value) for p in job.parameters] == parameters
    assert _writes(bot) == [(f"pause {ACK}", "ok")]
    reads = [e for e in search(bot.services.store, actor="U_ALICE") if e.kind == "oms_read"]
    assert [(e.summary, e.outcome) for e in reads] == [(f"read back {ACK} after pausing it", "ok")]
    after = _reply(bot, f"job {ACK}")
    assert _labels(after) == ["Run now", "Resume schedule"] and "paused (hourly)" in _shown(after)


def test_a_pause_that_reads_back_with_other_parameters_fails_and_says_what_is_set(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    """The OMS pauses the job, but the job reads back with parameters the pause never sent:
    the user is told it failed, what is set now (secrets hidden) and what to do."""
    bot = _bot(make_bot, tmp_path, "moqui-only")
    rewrite_parameters_on_put(
        bot.sandbox.state,
        ACK,
        {"systemMessageRemoteId": "SHOP_CONFIG_10001", "sftpPassword": "hunter2-sandbox"},
    )
    card = _reply(bot, f"job {ACK}")
    bot.driver.click_ephemeral(card, PAUSE, user="U_ALICE")
    told = _told(bot, "U_ALICE", "does not read back as paused with nothing else changed")
    assert (
        f"parameter `systemMessageRemoteId` is now SHOP_CONFIG_10001 (was {DEMO_SHOPIFY_REMOTE})"
        in told
    )
    assert "parameter `sftpPassword` is now (hidden) (was (none))" in told
    assert "hunter2-sandbox" not in told
    assert f"Open {ACK} in the Job Manager and set back what changed" in told
    texts = [text_of(p.body) for p in bot.fake.response_posts() if p.user == "U_ALICE"]
    assert not any("read back unchanged" in t or "are kept" in t for t in texts)
    reads = [e for e in search(bot.services.store, actor="U_ALICE") if e.kind == "oms_read"]
    assert [(e.summary, e.outcome) for e in reads] == [
        (f"read back {ACK} after pausing it", "failed")
    ]
    assert "hunter2-sandbox" not in str(reads[0].detail)


def test_webhooks_on_moqui_go_through_the_connector(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "moqui-only")
    shown = _shown(_reply(bot, "webhooks"))
    assert "*Orders updated* `orders-updated` (orders/updated): not subscribed" in shown
    assert (
        "(bulk_operations/finish): subscribed (webhook gid://shopify/WebhookSubscription/1301)"
        in shown
    )
    assert "1 of 2 topics subscribed" in shown
    asked = [r.params for r in bot.sandbox.state.requests(HOOKS, "GET")]
    assert {
        "systemMessageRemoteId": [DEMO_SHOPIFY_REMOTE],
        "queryParams": ['{"topics": "ORDERS_UPDATED"}'],
    } in asked

    card = _reply(bot, "webhooks subscribe orders-updated")
    assert "topic ORDERS_UPDATED, shop connection DEMO_SHOP_REMOTE" in _shown(card)
    bot.driver.click_ephemeral(card, "oms:webhooks.subscribe#0", user="U_ALICE")
    _told(bot, "U_ALICE", "Subscribed Orders updated (orders/updated): webhook gid://shopify/")
    (post,) = bot.sandbox.state.requests(HOOKS, "POST")
    assert post.body == {"systemMessageRemoteId": DEMO_SHOPIFY_REMOTE, "topic": "ORDERS_UPDATED"}

    card = _reply(bot, "webhooks unsubscribe bulk-operations-finish")
    bot.driver.click_ephemeral(card, "oms:webhooks.unsubscribe#0", user="U_ALICE")
    _told(bot, "U_ALICE", "Unsubscribed Bulk operations finish (bulk_operations/finish)")
    (delete,) = bot.sandbox.state.requests(HOOKS, "DELETE")
    assert delete.body == {
        "systemMessageRemoteId": DEMO_SHOPIFY_REMOTE,
        "webhookSubscriptionId": "gid://shopify/WebhookSubscription/1301",
    }
    with bot.sandbox.state.lock:
        hooks = bot.sandbox.state.job_manager.webhooks[DEMO_SHOPIFY_REMOTE]
        assert [h["topic"] for h in hooks] == ["ORDERS_UPDATED"]
    assert _writes(bot) == [
        ("remove the bulk_operations/finish webhook", "ok"),
        ("subscribe the orders/updated webhook", "ok"),
    ]
    legacy = _shown(_reply(bot, "webhooks subscribe cancelled-orders"))
    assert "is a legacy OFBiz webhook" in legacy
    assert bot.sandbox.state.requests("/api/service/subscribeShopifyWebhook") == []


# ---- the OFBiz JobSandbox (ofbiz-jobs) -------------------------------------------------------


def test_jobs_on_ofbiz_say_which_backend_has_jobs(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "ofbiz-jobs")
    shown = _shown(_reply(bot, "jobs"))
    assert "*Moqui Job Manager*: no jobs in this OMS." in shown
    assert "*OFBiz JobSandbox (legacy)* (OFBiz `findJobs`)" in shown
    assert "*Orders* (`orders`): 6 scheduled of 8 jobs" in shown
    card = _reply(bot, "job new-orders")
    assert "OFBiz JobSandbox (legacy)" in _shown(card)
    assert _labels(card) == ["Run now", "Skip once", "Pause"]


def test_run_now_and_pause_on_ofbiz(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "ofbiz-jobs")
    card = _reply(bot, "job approve-orders")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    done = bot.wait_message(lambda m: m.text.endswith(": finished"), timeout=20)
    assert "Approve orders finished in 0.6s (job 5" in _shown(done)
    assert len(bot.sandbox.state.requests("/api/scheduleService", "POST")) == 1

    card = _reply(bot, "job approve-orders")
    bot.driver.click_ephemeral(card, "oms:jobs.pause#2", user="U_ALICE")
    _told(bot, "U_ALICE", "Paused Approve orders")
    assert len(bot.sandbox.state.requests("/api/service/cancelScheduledJob", "POST")) == 1
    assert "not scheduled" in _shown(_reply(bot, "job approve-orders"))
    assert bot.sandbox.state.requests(f"{JOBS}/approve-orders") == []


def test_an_empty_find_jobs_answered_404_is_no_jobs(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "ofbiz-jobs")
    bot.sandbox.state.tenant = variant(tenant_named("ofbiz-jobs"), ofbiz_jobs=False)
    shown = _shown(_reply(bot, "jobs"))
    assert "*OFBiz JobSandbox (legacy)*: no jobs in this OMS." in shown
    assert "failed" not in shown
    orders = _shown(_reply(bot, "jobs orders"))
    assert "*New orders* `new-orders` (JOB_IMP_ORD)" in orders
    assert ":grey_question: not set up in this OMS" in orders and "failed" not in orders
    card = _shown(_reply(bot, "job new-orders"))
    assert "no template in this OMS" in card and "No runs recorded." in card


def test_webhooks_where_the_topic_filter_is_ignored_say_they_cannot_tell(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    # Whether the connector passes the topic filter on is not public: if not, Shopify's one
    # answer may be another topic's, and "not subscribed" would be a guess.
    bot = _bot(make_bot, tmp_path, "moqui-only")
    bot.sandbox.state.tenant = variant(bot.sandbox.state.tenant, webhook_topic_filter=False)
    shown = _shown(_reply(bot, "webhooks"))
    assert "not subscribed" not in shown
    assert "whether ORDERS_UPDATED is subscribed cannot be told from here" in shown
    assert bot.sandbox.state.requests(HOOKS, "POST") == []


def test_webhooks_on_ofbiz_fall_back_to_the_legacy_services(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path, "ofbiz-jobs")
    shown = _shown(_reply(bot, "webhooks"))
    assert "*New orders* `new-orders` (orders/create): subscribed (webhook 1053746)" in shown
    assert "2 of 7 topics subscribed" in shown and "Legacy OFBiz webhook services" in shown
    assert len(bot.sandbox.state.requests(HOOKS, "GET")) == 1  # Maarg answered 404

    card = _reply(bot, "webhooks subscribe returns")
    bot.driver.click_ephemeral(card, "oms:webhooks.subscribe#0", user="U_ALICE")
    _told(bot, "U_ALICE", "Subscribed Returns (refunds/create): webhook")
    (sub,) = [r.body for r in bot.sandbox.state.requests("/api/service/subscribeShopifyWebhook")]
    assert sub == {
        "shopifyConfigId": SHOPIFY_CONFIG,
        "topic": "refunds/create",
        "endpoint": "returnOrderShopifyWebhook",
    }
    card = _reply(bot, "webhooks unsubscribe inventory-level-update")
    bot.driver.click_ephemeral(card, "oms:webhooks.unsubscribe#0", user="U_ALICE")
    _told(bot, "U_ALICE", "webhook 1053747 removed.")
    assert [r.body for r in bot.sandbox.state.requests("/api/service/removeShopifyWebhook")] == [
        {"webhookId": "1053747", "shopifyConfigId": SHOPIFY_CONFIG}
    ]
    assert bot.sandbox.state.requests(HOOKS, "POST") == []
    moqui_only = _shown(_reply(bot, "webhooks subscribe orders-updated"))
    assert "handled by HotWax's Moqui Shopify connector, which this OMS does not have" in moqui_only


def test_jobs_are_all_counted_where_the_oms_caps_a_page(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    # Some deployments answer at most 50 rows a page whatever pageSize asks: a short first
    # page is not the end of the list.
    bot = _bot(make_bot, tmp_path, "capped-pages")
    with bot.sandbox.state.lock:
        jobs = bot.sandbox.state.data.service_jobs
        model = jobs["bulkApprove_WarehouseTransferOrders"]
        for n in range(60):
            clone = replace(model, job_name=f"bulkApprove_WarehouseTransferOrders_{n:02d}")
            jobs[clone.job_name] = clone
    shown = _shown(_reply(bot, "jobs"))
    assert "*Orders* (`ORDER_SYS_JOB`): 61 scheduled, 1 paused, 0 templates" in shown
    listed = [r for r in bot.sandbox.state.requests(JOBS, "GET") if r.params["pageSize"] != ["1"]]
    assert [r.params["pageSize"] for r in listed][:2] == [["250"], ["50"]]
