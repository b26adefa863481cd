"""Issue 13, the jobs part, through the real endpoint: Resume schedule after a pause (OFBiz and
Moqui, button and command, confirmed and read back), a second Run now that finds its own
copy, jobs the OMS has that the catalogue does not name, "did you mean" for mistyped job,
category and topic names, and full-width text normalised before it is parsed."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.sandbox import DEMO_API_TOKEN, DEMO_SHOPIFY_REMOTE
from bot.sandbox.jobs_data import SHOPIFY_CONFIG
from bot.sandbox.tenant import tenant_named
from bot.store.audit import search
from tests.conftest import BotFactory, RunningBot, text_of
from tests.handlers.jobs.replies import reply as _reply
from tests.handlers.jobs.replies import shown as _shown
from tests.handlers.jobs.replies import told as _told

RUN = "oms:jobs.run#0"
PAUSE_OFBIZ = "oms:jobs.pause#2"
ACK = "sendShopifyFulfillmentAckFeed_STORE"
JOBS = "/rest/s1/admin/serviceJobs"

ROLES_AND_LIMITS = """
[roles]
operator = ["U_ALICE", "S_OPERATORS", "U_DAVE"]

[limits]
job_poll_seconds = 0.1
job_follow_minutes = 1
"""
# With the shop connection the webhooks are the Moqui connector's; without, the OFBiz ones.
STORES = f"""
[stores]
shopify_remote = "{DEMO_SHOPIFY_REMOTE}"
"""


def _bot(
    make_bot: BotFactory, tmp_path: Path, tenant: str | None = None, *, remote: bool = True
) -> RunningBot:
    path = tmp_path / f"policy-{time.monotonic_ns()}.toml"
    path.write_text(ROLES_AND_LIMITS + (STORES if remote else ""))
    extra: dict[str, Any] = {}
    if tenant is not None and not tenant_named(tenant).ofbiz:
        extra["oms_api_token"] = DEMO_API_TOKEN
    bot = make_bot(omsbot_policy=path, **extra)
    if tenant is not None:
        bot.sandbox.state.tenant = tenant_named(tenant)
    bot.sandbox.state.job_manager.run_seconds = 0.5
    jobs = bot.sandbox.state.jobs
    jobs.queued_seconds, jobs.running_seconds = 0.3, 0.6
    return bot


def _bodies(bot: RunningBot, path: str) -> list[dict[str, Any]]:
    return [r.body for r in bot.sandbox.state.requests(path, "POST") if isinstance(r.body, dict)]


def _rows(bot: RunningBot, enum_id: str, status: str) -> list[dict[str, Any]]:
    with bot.sandbox.state.lock:
        return [
            dict(r)
            for r in bot.sandbox.state.jobs.jobs.values()
            if r["systemJobEnumId"] == enum_id and r["statusId"] == status
        ]


def _labels(message: Any) -> list[str]:
    return [
        e["text"]["text"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]


def _action_id(message: Any, label: str) -> str:
    return str(
        next(
            e["action_id"]
            for b in message.blocks
            if b["type"] == "actions"
            for e in b["elements"]
            if e["text"]["text"] == label
        )
    )


# ---- Resume schedule -------------------------------------------------------------------------


def test_a_paused_ofbiz_job_is_resumed_with_its_old_frequency(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    """Pause had no way back: the paused job's card offers Resume schedule, which schedules
    the template again with the cancelled schedule's frequency (scheduleService with
    SERVICE_TIME, as the legacy Job Manager re-enables a job) and reads it back."""
    bot = _bot(make_bot, tmp_path)
    (schedule,) = _rows(bot, "JOB_APR_ORD", "SERVICE_PENDING")
    (draft,) = _rows(bot, "JOB_APR_ORD", "SERVICE_DRAFT")
    card = _reply(bot, "job approve-orders")
    bot.driver.click_ephemeral(card, PAUSE_OFBIZ, user="U_ALICE")
    assert "/oms job resume approve-orders" in _told(bot, "U_ALICE", "Paused Approve orders")

    paused = _reply(bot, "job approve-orders")
    assert "paused (was every 15 minutes)" in _shown(paused)
    assert "schedule cancelled (paused) · " in _shown(paused)
    assert f"job {schedule['jobId']}" in _shown(paused)
    assert _labels(paused) == ["Run now", "Resume schedule"]
    button = next(
        e
        for b in paused.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == "Resume schedule"
    )
    assert button["confirm"]["title"]["text"] == "Resume Approve orders?"
    assert _labels(_reply(bot, "job approve-orders", user="U_CAROL")) == ["Run now"]

    bot.driver.click_ephemeral(paused, _action_id(paused, "Resume schedule"), user="U_ALICE")
    told = _told(bot, "U_ALICE", "Resumed Approve orders")
    assert "the next run is <!date^" in told  # in the reader's zone, as every time is shown
    (sent,) = [b for b in _bodies(bot, "/api/scheduleService") if "SERVICE_TIME" in b]
    first = int(sent["SERVICE_TIME"])
    # The next time on the old cadence, at least a minute ahead.
    assert (first - schedule["runTime"]) % (15 * 60_000) == 0
    assert first >= time.time() * 1000 + 50_000
    assert sent["SERVICE_TEMP_EXPR"] == "EVERY_15_MIN"
    assert sent["SERVICE_NAME"] == "approvePendingShopifyOrders"
    assert sent["jobFields"]["parentJobId"] == draft["jobId"]
    assert sent["jobFields"]["tempExprId"] == "EVERY_15_MIN"
    assert sent["jobFields"]["maxRecurrenceCount"] == "-1"
    (now_scheduled,) = [r for r in _rows(bot, "JOB_APR_ORD", "SERVICE_PENDING") if r["tempExprId"]]
    assert now_scheduled["runTime"] == first and now_scheduled["tempExprId"] == "EVERY_15_MIN"
    assert f"it runs every 15 minutes again (job {now_scheduled['jobId']})" in told
    assert "read back from the OMS" in told
    writes = [e for e in search(bot.services.store, actor="U_ALICE") if e.kind == "oms_write"]
    assert sorted(w.summary for w in writes) == ["pause JOB_APR_ORD", "resume JOB_APR_ORD"]
    reads = [e for e in search(bot.services.store, actor="U_ALICE") if e.kind == "oms_read"]
    assert ("read back JOB_APR_ORD after resuming it", "ok") in [
        (e.summary, e.outcome) for e in reads
    ]
    again = _reply(bot, "job approve-orders")
    assert _labels(again) == ["Run now", "Skip once", "Pause"]


def test_job_resume_command_confirms_first_and_refuses_a_job_not_paused(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    not_paused = _shown(_reply(bot, "job resume new-orders"))
    assert "New orders is not paused: it runs every 15 minutes" in not_paused
    assert "Nothing to resume." in not_paused and ", next <!date^" in not_paused
    refused = text_of(bot.ack("job resume new-orders", user="U_CAROL"))
    assert "operator" in refused

    card = _reply(bot, "job new-orders")
    bot.driver.click_ephemeral(card, PAUSE_OFBIZ, user="U_ALICE")
    _told(bot, "U_ALICE", "Paused New orders")
    confirm = _reply(bot, "job resume new-orders")
    assert "Resume New orders?" in _shown(confirm)
    assert "its every 15 minutes schedule" in _shown(confirm)
    assert _labels(confirm) == ["Resume schedule"]
    assert [b for b in _bodies(bot, "/api/scheduleService") if "SERVICE_TIME" in b] == []
    bot.driver.click_ephemeral(confirm, "oms:jobs.resume#0", user="U_ALICE")
    _told(bot, "U_ALICE", "Resumed New orders")
    assert len([r for r in _rows(bot, "JOB_IMP_ORD", "SERVICE_PENDING") if r["tempExprId"]]) == 1


def test_an_ofbiz_resume_the_oms_did_not_apply_fails_clearly(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    card = _reply(bot, "job approve-orders")
    bot.driver.click_ephemeral(card, PAUSE_OFBIZ, user="U_ALICE")
    _told(bot, "U_ALICE", "Paused Approve orders")
    paused = _reply(bot, "job approve-orders")
    bot.sandbox.state.inject_fault(
        "/api/scheduleService", "json", body={"successMessage": "Service scheduled"}
    )
    bot.driver.click_ephemeral(paused, _action_id(paused, "Resume schedule"), user="U_ALICE")
    told = _told(bot, "U_ALICE", "Approve orders is not scheduled as asked")
    assert "reading the job back shows no schedule at all" in told
    texts = [text_of(p.body) for p in bot.fake.response_posts() if p.user == "U_ALICE"]
    assert not any("Resumed Approve orders" in t for t in texts)


def test_a_paused_moqui_job_is_resumed_and_read_back(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "moqui-only")
    with bot.sandbox.state.lock:
        job = bot.sandbox.state.data.service_jobs[ACK]
        parameters = [(p.name, p.value) for p in job.parameters]
        cron = job.cron_expression
    card = _reply(bot, f"job {ACK}")
    bot.driver.click_ephemeral(card, _action_id(card, "Pause"), user="U_ALICE")
    assert f"/oms job resume {ACK}" in _told(bot, "U_ALICE", f"Paused {ACK}")

    confirm = _reply(bot, f"job resume {ACK}")
    assert f"Resume {ACK}?" in _shown(confirm)
    bot.driver.click_ephemeral(confirm, "oms:jobs.resume_service_job#0", user="U_ALICE")
    told = _told(bot, "U_ALICE", f"Resumed {ACK}")
    assert "read back from the OMS with paused = N" in told
    assert "The next run is <!date^" in told
    puts = bot.sandbox.state.requests(f"{JOBS}/{ACK}", "PUT")
    assert [p.body for p in puts] == [
        {"jobName": ACK, "paused": "Y"},
        {"jobName": ACK, "paused": "N"},
    ]
    with bot.sandbox.state.lock:
        assert job.paused == "N" and job.cron_expression == cron
        assert [(p.name, p.value) for p in job.parameters] == parameters
    writes = [e for e in search(bot.services.store, actor="U_ALICE") if e.kind == "oms_write"]
    assert sorted(w.summary for w in writes) == [f"pause {ACK}", f"resume {ACK}"]
    after = _reply(bot, f"job {ACK}")
    assert _labels(after) == ["Run now", "Pause"]
    again = _shown(_reply(bot, f"job resume {ACK}"))
    assert f"{ACK} is not paused" in again and "nothing to resume" in again


# ---- Run now twice ---------------------------------------------------------------------------


def test_a_second_run_now_within_a_minute_follows_its_own_copy(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    """The first run's copy finished a moment ago: the second run schedules its own copy and
    reports that one, never the first run's job as its own."""
    bot = _bot(make_bot, tmp_path)
    card = _reply(bot, "job new-orders")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")
    bot.wait_message(lambda m: m.text.endswith(": finished"), timeout=20)
    (first,) = [r["jobId"] for r in bot.sandbox.state.jobs.jobs.values() if r["jobId"][0] == "5"]

    card = _reply(bot, "job new-orders")
    bot.driver.click_ephemeral(card, RUN, user="U_ALICE")

    def both_done() -> list[Any] | None:
        done = [m for m in bot.fake.messages("C_OPS") if m.text.endswith(": finished")]
        return done if len(done) >= 2 else None

    second_done = bot.fake.wait_for(both_done, 20)[-1]
    copies = sorted(
        r["jobId"] for r in bot.sandbox.state.jobs.jobs.values() if r["jobId"][0] == "5"
    )
    assert len(copies) == 2 and len(_bodies(bot, "/api/scheduleService")) == 2
    (second,) = [c for c in copies if c != first]
    shown = _shown(second_done)
    assert f"(job {second})" in shown and f"job {first}" not in shown
    assert "already scheduled" not in shown


# ---- every job the OMS has in a category -----------------------------------------------------


def test_a_job_the_catalogue_does_not_name_is_listed_and_addressable(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    listed = _shown(_reply(bot, "jobs orders"))
    assert "*Upload cancelled orders to Shopify* `JOB_UL_CNCLD_ORD`" in listed
    assert ":large_green_circle: Every 30 minutes" in listed.split("JOB_UL_CNCLD_ORD")[1]

    card = _reply(bot, "job JOB_UL_CNCLD_ORD", user="U_DAVE")
    shown = _shown(card)
    assert "Upload cancelled orders to Shopify (JOB_UL_CNCLD_ORD)" in shown
    assert "`bulkCancelOrdersOnShopify`" in shown and "Every 30 minutes" in shown
    assert "Not in oms-bot's job catalogue" in shown
    assert _labels(card) == ["Run now", "Skip once", "Pause"]
    assert "JOB_UL_CNCLD_ORD" in _shown(_reply(bot, "job jOb_Ul_CnClD_oRd"))

    bot.driver.click_ephemeral(card, RUN, user="U_DAVE")
    done = bot.wait_message(lambda m: m.text.endswith(": finished"), timeout=20)
    assert "Upload cancelled orders to Shopify finished in" in _shown(done)
    (sent,) = _bodies(bot, "/api/scheduleService")
    assert sent["SERVICE_NAME"] == "bulkCancelOrdersOnShopify"

    card = _reply(bot, "job JOB_UL_CNCLD_ORD", user="U_DAVE")  # a press consumes all buttons
    bot.driver.click_ephemeral(card, "oms:jobs.pause#2", user="U_DAVE")
    _told(bot, "U_DAVE", "Paused Upload cancelled orders to Shopify")
    resumed = _reply(bot, "job resume JOB_UL_CNCLD_ORD", user="U_DAVE")
    assert "Resume Upload cancelled orders to Shopify?" in _shown(resumed)


# ---- did you mean ----------------------------------------------------------------------------


def test_mistyped_names_get_a_suggestion(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    job = _shown(_reply(bot, "job new-order"))
    assert "unknown job `new-order`. Did you mean `/oms job new-orders`?" in job
    category = _shown(_reply(bot, "jobs order"))
    assert "unknown category `order`. Did you mean `/oms jobs orders`?" in category
    topic = text_of(bot.ack("webhooks subscribe refunds"))
    assert "unknown webhook topic `refunds`" in topic
    assert "Did you mean `returns`?" in topic
    option = text_of(bot.ack("history --sinse 7d"))
    assert "Unknown option `--sinse`" in option and "Did you mean `--since`?" in option
    sub = text_of(bot.ack("webhooks subscrib returns"))
    assert "`/oms webhooks` has no `subscrib`." in sub
    assert "Did you mean `webhooks subscribe`?" in sub
    # No close name: the list of valid ones, and no guess.
    nothing = _shown(_reply(bot, "job frobnicate"))
    assert "Did you mean" not in nothing and "the jobs are: import-products-bulk" in nothing


# ---- full-width text -------------------------------------------------------------------------


def test_full_width_digits_and_signs_are_read_as_plain_ones(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    plain = _shown(_reply(bot, "order #1002"))
    wide = _shown(_reply(bot, "order ＃１００２"))  # full-width on purpose
    assert "10002" in wide and wide == plain
    job = _shown(_reply(bot, "job ｎｅｗ－ｏｒｄｅｒｓ"))
    assert "New orders (JOB_IMP_ORD)" in job
    hidden = text_of(bot.ack("order #1002\u200b"))
    assert "control character (U+200B)" in hidden


def test_jobs_of_an_enum_type_the_catalogue_has_no_category_for_are_shown(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    (draft,) = _rows(bot, "JOB_APR_ORD", "SERVICE_DRAFT")
    (pending,) = _rows(bot, "JOB_APR_ORD", "SERVICE_PENDING")
    with bot.sandbox.state.lock:
        jobs = bot.sandbox.state.jobs.jobs
        for row, job_id in ((draft, "D90001"), (pending, "90002")):
            jobs[job_id] = {
                **row,
                "jobId": job_id,
                "systemJobEnumId": "JOB_RTN_SYNC",
                "enumTypeId": "RETURN_SYS_JOB",
                "description": "Sync returns to the ERP",
                "jobName": "Sync returns to the ERP",
            }
    overview = _shown(_reply(bot, "jobs"))
    assert "*`RETURN_SYS_JOB`*: 1 scheduled (JOB_RTN_SYNC)" in overview
    assert "`/oms jobs RETURN_SYS_JOB` lists them" in overview
    listed = _shown(_reply(bot, "jobs return_sys_job"))
    assert "*Sync returns to the ERP* `JOB_RTN_SYNC`" in listed
    assert "Every 15 minutes · next run" in listed
    assert "Sync returns to the ERP (JOB_RTN_SYNC)" in _shown(_reply(bot, "job JOB_RTN_SYNC"))


def test_a_quoted_category_name_with_a_space_is_read(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    shown = _shown(_reply(bot, 'jobs "Initial load"'))
    assert "*Import products in bulk* `import-products-bulk`" in shown


def test_every_moqui_job_of_a_long_category_is_named(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, "moqui-only")
    with bot.sandbox.state.lock:
        jobs = bot.sandbox.state.data.service_jobs
        model = jobs["bulkApprove_WarehouseTransferOrders"]
        for n in range(30):
            clone = replace(model, job_name=f"bulkApprove_WarehouseTransferOrders_{n:02d}")
            jobs[clone.job_name] = clone
    shown = _shown(_reply(bot, "jobs ORDER_SYS_JOB"))
    names = [f"bulkApprove_WarehouseTransferOrders_{n:02d}" for n in range(30)]
    assert all(name in shown for name in names)
    assert "more (`/oms job <name>` shows one)" in shown


def test_a_webhook_subscription_the_catalogue_does_not_name_is_shown_and_removable(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path, remote=False)
    with bot.sandbox.state.lock:
        bot.sandbox.state.jobs.webhooks[SHOPIFY_CONFIG].append(
            {"id": "1053799", "topic": "orders/paid", "address": "https://x.test/h"}
        )
    listed = _shown(_reply(bot, "webhooks"))
    assert "*orders/paid*: subscribed (webhook 1053799)" in listed
    assert "`/oms webhooks unsubscribe orders/paid` removes it" in listed
    assert len(_bodies(bot, "/api/service/getShopifyWebhooks")) == 1

    card = _reply(bot, "webhooks unsubscribe orders/paid")
    bot.driver.click_ephemeral(card, "oms:webhooks.unsubscribe#0", user="U_ALICE")
    _told(bot, "U_ALICE", "Unsubscribed orders/paid: webhook 1053799 removed.")
    assert _bodies(bot, "/api/service/removeShopifyWebhook") == [
        {"webhookId": "1053799", "shopifyConfigId": SHOPIFY_CONFIG}
    ]
    absent = _shown(_reply(bot, "webhooks unsubscribe orders/edited"))
    assert "The OMS has no subscription to orders/edited" in absent
    assert "Did you mean `/oms webhooks unsubscribe orders-updated`?" in absent
    # Subscribing stays limited to the topics the OMS has a handler for.
    refused = text_of(bot.ack("webhooks subscribe orders/paid"))
    assert "unknown webhook topic `orders/paid`" in refused
