"""The order runbooks through the real endpoint: check, refresh, recovery, import, mdm.
Each test asserts what the user sees and what the OMS sandbox received."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import SandboxServer, tenant_named, variant
from tests.conftest import BotFactory, RunningBot, text_of, write_policy
from tests.handlers.orders.conftest import FAST_IMPORTS, user_text
from tests.harness.driver import find_element
from tests.harness.fakeslack import Message, ResponsePost


def _check(bot: RunningBot, ref: str) -> ResponsePost:
    return bot.reply_post(bot.slash(f"check {ref}"), timeout=15)


def _posts(sandbox: SandboxServer, path: str, method: str = "POST") -> list[Any]:
    return [r.body for r in sandbox.state.requests(path, method)]


def _status_writes(sandbox: SandboxServer) -> list[tuple[str, str, str | None]]:
    return [
        (b["orderId"], b["statusId"], b.get("changeReason"))
        for b in _posts(sandbox, "/api/service/changeOrderStatus")
    ]


def _versions(sandbox: SandboxServer, shopify_id: str) -> dict[str, str]:
    return {
        o.order_id: o.status_id
        for o in sandbox.state.data.orders.values()
        if o.external_id == shopify_id
    }


# ---- check ---------------------------------------------------------------------------------


def test_check_pos_order_fulfilled_in_shopify_offers_refresh(ops: RunningBot) -> None:
    reply = _check(ops, "10002")
    shown = user_text(reply)
    assert "Stuck in Created" in shown and "Shopify shows it fulfilled" in shown
    assert "In Shopify" in shown and "FULFILLED" in shown
    find_element(reply.blocks, "oms:check.order#0")  # the Refresh button
    ops.driver.click_ephemeral(reply, "oms:check.order#0")
    posts = ops.fake.response_posts
    card = ops.fake.wait_for(
        lambda: [p for p in posts() if "What the refresh does" in user_text(p)] or None
    )
    assert "Refresh from Shopify" in user_text(card[-1])


def test_check_pos_order_not_fulfilled_in_shopify_either(ops: RunningBot) -> None:
    with ops.sandbox.state.lock:  # Shopify has not fulfilled #1002 yet
        ops.sandbox.state.data.shopify["6100000000002"].fulfillment_status = None
    reply = _check(ops, "10002")
    assert "Shopify does not show it fulfilled either, so HotWax is right" in user_text(reply)
    assert not [b for b in reply.blocks if b["type"] == "actions"]


def test_check_order_created_within_the_threshold(make_bot: BotFactory, tmp_path: Path) -> None:
    policy = write_policy(tmp_path, two_person=False)
    policy.write_text(policy.read_text() + "\n[limits]\nstuck_minutes = 100000\n")
    bot = make_bot(omsbot_policy=policy)
    shown = user_text(_check(bot, "10005"))
    assert "within the normal 100000 minutes" in shown
    assert "Approve orders job should pick it up" in shown


def test_check_web_order_with_unauthorised_payment(ops: RunningBot) -> None:
    reply = _check(ops, "#1005")
    shown = user_text(reply)
    assert "payment is PAYMENT_NOT_AUTH" in shown
    assert "Approve orders job only approves orders whose payment is authorised" in shown
    _, job = find_element(reply.blocks, "oms:check.run_job#0")
    assert job["text"]["text"] == "Run the Approve orders job and check again"
    ops.driver.click_ephemeral(reply, "oms:check.run_job#0")  # the jobs runbook runs it
    scheduled = ops.fake.wait_for(
        lambda: (
            [
                b
                for b in _posts(ops.sandbox, "/api/scheduleService")
                if isinstance(b, dict) and b.get("systemJobEnumId") == "JOB_APR_ORD"
            ]
            or None
        ),
        timeout=20,
    )
    assert "SERVICE_TIME" not in scheduled[0]  # run now, not a new schedule
    ops.wait_message(
        lambda m: "Approve orders" in m.text and m.text.endswith("finished"), timeout=30
    )


def test_check_paid_web_order_offers_approve_now(ops: RunningBot) -> None:
    reply = _check(ops, "10014")
    assert "You can approve it now" in user_text(reply)
    ops.driver.click_ephemeral(reply, "oms:approve.from_check#0")
    card = ops.fake.wait_for(
        lambda: (
            [p for p in ops.fake.response_posts() if "Created → *Approved*" in user_text(p)] or None
        )
    )
    assert card


def test_check_missing_order_with_logged_failure(ops: RunningBot) -> None:
    reply = _check(ops, "#1006")
    shown = user_text(reply)
    assert "HotWax failed to import it" in shown
    assert "Import failed:" in shown and "address" in shown.lower()
    assert "Fix the address or phone in Shopify, then re-import the order." in shown
    _, button = find_element(reply.blocks, "oms:import.confirm#0")
    assert button["text"]["text"] == "Re-import"


@pytest.mark.parametrize(
    ("tenant", "label"),
    [
        # HotWax's current import is the shop's Moqui order sync...
        ("ofbiz-maarg", "Run the order sync now"),
        # ...a legacy tenant imports with the OFBiz New orders job...
        ("ofbiz-jobs", "Run the New orders job"),
    ],
)
def test_check_missing_order_without_failure(ops: RunningBot, tenant: str, label: str) -> None:
    ops.sandbox.state.tenant = tenant_named(tenant)
    reply = _check(ops, "#1007")
    shown = user_text(reply)
    assert "no import failure is recorded" in shown
    assert "Re-import this order" in shown
    _, job = find_element(reply.blocks, "oms:check.run_job#0")
    assert job["text"]["text"] == f"{label} and check again"


def test_check_offers_no_ofbiz_job_on_a_moqui_only_tenant(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # ...and a Moqui-only tenant has no OFBiz job a button could run.
    sandbox.state.tenant = tenant_named("moqui-only")
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    reply = _check(bot, "10005")  # a web order stuck in Created: the Approve orders case
    shown = user_text(reply)
    assert "Approve orders job" in shown and "Run the Approve orders job" not in shown
    assert "The OMS call" not in shown


def test_check_order_in_neither(ops: RunningBot) -> None:
    shown = user_text(_check(ops, "#1008"))
    assert "neither in HotWax nor in Shopify: the order was never placed" in shown


def test_check_stale_index(ops: RunningBot) -> None:
    shown = user_text(_check(ops, "10009"))
    assert "The order search index is stale: it shows Created while the order is Approved" in shown


def test_check_healthy_order_and_versions(ops: RunningBot) -> None:
    shown = user_text(_check(ops, "#1003"))
    assert "Looks fine: the order is Completed" in shown
    assert "2 versions in HotWax" in shown and "acting on `10013`" in shown


def test_check_malformed_reference(ops: RunningBot) -> None:
    shown = text_of(ops.ack("check 'a b'"))
    assert "<order>" in shown and "Usage:" in shown


# ---- refresh -------------------------------------------------------------------------------


ORDER_SYNC = "/rest/s1/admin/serviceJobs/queue_ShopifyOrderSync_10000"


def _refresh(bot: RunningBot, ref: str) -> Message:
    card = bot.reply_post(bot.slash(f"refresh {ref}"), timeout=15)
    assert "What the refresh does" in user_text(card)
    bot.driver.click_ephemeral(card, "oms:refresh.confirm#0")
    done: Message = bot.wait_message(lambda m: m.text.endswith(("finished", "failed")), timeout=30)
    return done


def _job_parameters(sandbox: SandboxServer) -> dict[str, str]:
    with sandbox.state.lock:
        job = sandbox.state.data.service_jobs["queue_ShopifyOrderSync_10000"]
        return {p.name: p.value for p in job.parameters if p.value}


def test_refresh_updated_in_place_cancels_nothing(ops: RunningBot) -> None:
    """HotWax's sync updates the order in place (the default tenant): the refresh says so and
    cancels nothing."""
    before = _job_parameters(ops.sandbox)
    card = ops.reply_post(ops.slash("refresh 10002"), timeout=15)
    shown = user_text(card)
    assert "Created · POS" in shown and "Fulfilled" in shown
    assert ":warning:" not in shown
    ops.driver.click_ephemeral(card, "oms:refresh.confirm#0")
    done = ops.wait_message(lambda m: m.text.endswith(("finished", "failed")), timeout=30)
    assert done.text.endswith("finished"), user_text(done)
    assert "HotWax updated 10002 in place from Shopify: it is now Completed" in user_text(done)
    assert "nothing was cancelled" in user_text(done)
    assert _versions(ops.sandbox, "6100000000002") == {"10002": "ORDER_COMPLETED"}
    assert _status_writes(ops.sandbox) == []
    puts = _posts(ops.sandbox, ORDER_SYNC, "PUT")
    assert len(puts) == 2  # the replay's fromDate, then the parameters back with it null
    assert len(_posts(ops.sandbox, f"{ORDER_SYNC}/runNow")) == 1
    assert _job_parameters(ops.sandbox) == before  # no fromDate left behind


def test_refresh_with_a_new_version_cancels_the_old_one_after_it(
    ops: RunningBot,
) -> None:
    ops.sandbox.state.tenant = tenant_named("sync-new-version")
    done = _refresh(ops, "10002")
    assert done.text.endswith("finished"), user_text(done)
    versions = _versions(ops.sandbox, "6100000000002")
    new = [oid for oid, status in versions.items() if oid != "10002"]
    assert versions["10002"] == "ORDER_CANCELLED" and len(new) == 1
    assert versions[new[0]] == "ORDER_COMPLETED"
    assert f"the new version is {new[0]}" in user_text(done)
    assert _status_writes(ops.sandbox) == [("10002", "ORDER_CANCELLED", "Old Version")]
    # The cancel came after the new version was there, never before.
    requests = ops.sandbox.state.requests()
    cancel = next(i for i, r in enumerate(requests) if r.path.endswith("changeOrderStatus"))
    run_now = next(i for i, r in enumerate(requests) if r.path == f"{ORDER_SYNC}/runNow")
    assert run_now < cancel


@pytest.mark.parametrize("keeps_reason", [True, False])
def test_refresh_on_a_moqui_only_tenant_cancels_through_maarg_and_reads_the_reason_back(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path, keeps_reason: bool
) -> None:
    """A Moqui-only tenant has no OFBiz service: the cancel goes through Maarg's status route,
    which may or may not keep the Old Version reason (not public); the bot reads it back and
    says which."""
    sandbox.state.tenant = variant(
        tenant_named("moqui-only"),
        order_update="new-version",
        moqui_keeps_change_reason=keeps_reason,
    )
    policy = write_policy(tmp_path, two_person=False)
    policy.write_text(policy.read_text() + FAST_IMPORTS)
    bot = make_bot(omsbot_policy=policy)
    sandbox.state.job_run_seconds = sandbox.state.sync_delay_seconds = 0.0
    done = _refresh(bot, "10002")
    shown = user_text(done)
    assert done.text.endswith("finished"), shown
    assert _status_writes(sandbox) == []  # no OFBiz on this tenant
    (cancel,) = _posts(sandbox, "/rest/s1/oms/orders/10002/status")
    assert (cancel["statusId"], cancel["changeReason"]) == ("ORDER_CANCELLED", "Old Version")
    if keeps_reason:
        assert "10002 cancelled and marked Old Version" in shown
    else:
        assert "this OMS did not keep the Old Version reason on it" in shown
    assert _versions(sandbox, "6100000000002")["10002"] == "ORDER_CANCELLED"


def test_refresh_skipped_by_the_sync_leaves_the_order_as_it_was(ops: RunningBot) -> None:
    ops.sandbox.state.tenant = tenant_named("sync-skips")
    done = _refresh(ops, "10002")
    shown = user_text(done)
    assert done.text.endswith("failed")
    assert ("no MDM import was recorded since the replay" in shown) or (
        "since the replay (" in shown and "none with this order failing" in shown
    )
    assert "nothing was cancelled: the order is as it was" in shown
    assert _versions(ops.sandbox, "6100000000002") == {"10002": "ORDER_CREATED"}
    assert _status_writes(ops.sandbox) == []


def test_refresh_slower_than_the_wait_leaves_the_order_as_it_was(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path, two_person=False)
    # It waits 6 s in all, and would wait a minute of MDM silence before concluding.
    slow = FAST_IMPORTS.replace("import_quiet_seconds = 1", "import_quiet_seconds = 60")
    policy.write_text(policy.read_text() + slow)
    bot = make_bot(omsbot_policy=policy)
    bot.sandbox.state.job_run_seconds = 0.0
    bot.sandbox.state.tenant = tenant_named("sync-new-version")
    bot.sandbox.state.sync_delay_seconds = 60.0  # HotWax stages the sync long after
    done = _refresh(bot, "10002")
    shown = user_text(done)
    assert done.text.endswith("failed")
    assert "HotWax has not imported #1002 after 0.1 min" in shown
    assert _versions(bot.sandbox, "6100000000002") == {"10002": "ORDER_CREATED"}
    assert _status_writes(bot.sandbox) == []


def test_refresh_warns_for_a_web_order(ops: RunningBot) -> None:
    card = ops.reply_post(ops.slash("refresh 10014"), timeout=15)
    assert "This is not a POS order (Web)" in user_text(card)


@pytest.mark.parametrize("tenant", ["ofbiz-maarg", "sync-new-version"])
def test_refresh_contact_mech_failure_changes_nothing_and_offers_recovery(
    ops: RunningBot, tenant: str
) -> None:
    ops.sandbox.state.tenant = tenant_named(tenant)
    failed = _refresh(ops, "10004")
    shown = user_text(failed)
    assert failed.text.endswith("failed")
    assert "createOrderContactMech" in shown
    assert "the Shopify order has no shipping address" in shown
    assert "Nothing was cancelled: 10004 is as it was" in shown
    assert ":white_circle: Cancel the old version and mark it Old Version" in shown
    find_element(failed.blocks, "oms:refresh.recover#0")
    assert _versions(ops.sandbox, "6100000000004") == {"10004": "ORDER_CREATED"}
    assert _status_writes(ops.sandbox) == []


def test_recovery_lists_every_row_and_hands_over_to_hotwax_support(ops: RunningBot) -> None:
    failed = _refresh(ops, "10004")
    before = len(ops.sandbox.state.requests())
    ops.driver.click(failed, "oms:refresh.recover#0")
    plan = ops.wait_message(lambda m: m.thread_ts == failed.ts and "Recovery of order" in m.text)
    shown = user_text(plan)
    rows = ["OrderItem × 1", "OrderStatus", "OrderIdentification × 3", "OrderRole × 3"]
    rows += ["OrderContactMech × 2", "OrderItemShipGroup × 1", "OrderHeader × 1"]
    for entity in rows:
        assert entity in shown, entity
    assert "no route in HotWax's API" in shown and "Nothing was written" in shown
    assert "run `/oms import 6100000000004`" in shown
    files = ops.fake.wait_for(lambda: ops.fake.files() or None)
    content = files[0].content.decode()
    assert files[0].thread_ts == failed.ts
    assert "Failing service: createOrderContactMech" in content
    assert "| OrderHeader | 10004 |" in content
    assert "What oms-bot changed: no order row." in content
    assert "riley@example.com" not in content and "Brooklyn" not in content  # no customer data
    writes = [r for r in ops.sandbox.state.requests()[before:] if r.method != "GET"]
    assert [r.path for r in writes if not r.path.endswith(("login", "solr-query"))] == []
    assert _versions(ops.sandbox, "6100000000004") == {"10004": "ORDER_CREATED"}


def test_refresh_step_failing_on_an_oms_error_can_be_resumed(ops: RunningBot) -> None:
    ops.sandbox.state.tenant = tenant_named("sync-new-version")
    ops.sandbox.state.inject_fault(f"{ORDER_SYNC}/runNow", "error500", 1)
    failed = _refresh(ops, "10002")
    shown = user_text(failed)
    assert "run the order-sync job now" in shown and "500" in shown
    assert ":white_circle: Verify the live version against Shopify" in shown
    assert _status_writes(ops.sandbox) == []  # nothing cancelled before the import
    ops.driver.click(failed, "oms:run.resume#0")
    done = ops.wait_message(lambda m: m.text.endswith("finished"), timeout=30)
    assert "the new version is" in user_text(done)
    assert _status_writes(ops.sandbox) == [("10002", "ORDER_CANCELLED", "Old Version")]


# ---- import --------------------------------------------------------------------------------


def _import(bot: RunningBot, refs: str) -> Message:
    card = bot.reply_post(bot.slash(f"import {refs}"), timeout=15)
    bot.driver.click_ephemeral(card, "oms:import.confirm#0")
    done: Message = bot.wait_message(
        lambda m: m.text.startswith("Import") and m.text.endswith(("finished", "failed")),
        timeout=30,
    )
    return done


def test_import_one(ops: RunningBot) -> None:
    done = _import(ops, "#1007")
    assert done.text.endswith("finished")
    assert list(_versions(ops.sandbox, "6100000000007").values()) == ["ORDER_CREATED"]
    assert "imported as" in user_text(done)


def test_import_several_skips_what_is_already_there(ops: RunningBot) -> None:
    done = _import(ops, "#1007 6100000000002")
    shown = user_text(done)
    assert ":fast_forward: Import #1002" in shown and "already in HotWax as 10002" in shown
    assert ":white_check_mark: Import #1007" in shown
    assert (
        len(_posts(ops.sandbox, "/rest/s1/admin/serviceJobs/queue_ShopifyOrderSync_10000/runNow"))
        == 1
    )


def test_import_partly_failing(ops: RunningBot) -> None:
    done = _import(ops, "#1006 #1007")
    shown = user_text(done)
    assert done.text.endswith("failed")
    assert ":x: Import #1006" in shown and "Fix the address or phone in Shopify" in shown
    # The other order still ran: #1006's replay had brought it in already (a replay imports
    # every order changed since, as HotWax's does).
    assert ":fast_forward: Import #1007" in shown and "already in HotWax as" in shown
    assert list(_versions(ops.sandbox, "6100000000007").values()) == ["ORDER_CREATED"]
    assert _versions(ops.sandbox, "6100000000006") == {}


def test_import_over_the_limit(ops: RunningBot) -> None:
    refs = " ".join(f"#{2000 + i}" for i in range(21))
    shown = text_of(ops.ack(f"import {refs}"))
    assert "At most 20 <order> values in one command; you gave 21." in shown


def test_import_refuses_an_ambiguous_or_unknown_reference(ops: RunningBot) -> None:
    assert "could be a HotWax order id" in text_of(ops.ack("import 10002"))
    reply = ops.reply_post(ops.slash("import #1008"), timeout=15)
    assert "#1008: not found in Shopify" in user_text(reply)


# ---- mdm -----------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["graphql", "rest"])
def test_mdm_failed_runs_with_buttons_and_the_file(ops: RunningBot, layout: str) -> None:
    # How a failed record holds the Shopify order is not public: the GraphQL order with its
    # GID, or a REST order with a numeric id; the same order is found in both.
    ops.sandbox.state.tenant = variant(ops.sandbox.state.tenant, mdm_record_layout=layout)
    ops.reply_post(ops.slash("mdm --failed --since 7d"), timeout=15)
    report = ops.wait_message(lambda m: m.text.startswith("Shopify Order MDM"))
    shown = user_text(report)
    assert ":x:" in shown and "failed" in shown
    assert "*#1006* (Shopify 6100000000006)" in shown
    assert "Fix the address or phone in Shopify" in shown
    find_element(report.blocks, "oms:import.confirm#0")
    find_element(report.blocks, "oms:check.order#1")
    files = ops.fake.wait_for(lambda: ops.fake.files() or None)
    assert files[0].thread_ts == report.ts
    content = files[0].content.decode()
    assert content.startswith("order_name,shopify_order_id,error,record_number")
    assert "6100000000006" in content and "#1006" in content
    assert "riley@example.com" not in content  # the order payload stays out of Slack


def test_an_import_error_quoting_the_customer_reaches_slack_without_them(ops: RunningBot) -> None:
    with ops.sandbox.state.lock:
        for log in ops.sandbox.state.data.mdm_logs:
            for record in log.failed_records:
                record.event_message += " (customer riley@example.com, phone +1 555 010 2233)"
    ops.reply_post(ops.slash("mdm --failed --since 7d"), timeout=15)
    report = ops.wait_message(lambda m: m.text.startswith("Shopify Order MDM"))
    shown = user_text(report)
    assert "(customer <email>, phone <phone>)" in shown
    files = ops.fake.wait_for(lambda: ops.fake.files() or None)
    for text in (shown, files[0].content.decode()):
        assert "riley@example.com" not in text and "010 2233" not in text


def test_a_button_that_needs_a_missing_setting_names_it(bot: RunningBot) -> None:
    """No policy, so no `[stores] shopify_remote`: the MDM report (which needs none) offers
    Check, whose handler needs the shop connection. Pressing it names the missing setting, as
    the slash command would, instead of an internal error."""
    bot.reply_post(bot.slash("mdm --failed --since 7d"), timeout=15)
    report = bot.wait_message(lambda m: m.text.startswith("Shopify Order MDM"))
    bot.driver.click(report, "oms:check.order#1", user="U_ALICE")

    def told() -> str | None:
        texts = [text_of(p.body) for p in bot.fake.response_posts() if p.user == "U_ALICE"]
        texts += [
            text_of({"text": e.text, "blocks": e.blocks})
            for e in bot.fake.ephemerals(user="U_ALICE")
        ]
        return next((t for t in texts if "not set up for this yet" in t), None)

    shown = bot.fake.wait_for(told, 10)
    assert "`shopify_remote`" in shown and "under `[stores]`" in shown
    assert "internal error" not in shown
    direct = bot.reply_post(bot.slash("check #1006"), timeout=15)
    assert "`shopify_remote`" in user_text(direct)  # the same words as the slash command


# ---- the shop's live order sync is left as it was -------------------------------------------


@pytest.mark.parametrize("tenant", ["ofbiz-maarg", "merge-params"])
def test_the_reimport_leaves_the_order_sync_job_as_it_was(ops: RunningBot, tenant: str) -> None:
    """Replace or merge (HotWax's PUT semantics are not public): the job reads back exactly as
    before, with no fromDate left behind to pin the shop's live sync."""
    ops.sandbox.state.tenant = tenant_named(tenant)
    before = _job_parameters(ops.sandbox)
    assert "fromDate" not in before
    done = _import(ops, "#1007")
    assert done.text.endswith("finished"), user_text(done)
    assert _job_parameters(ops.sandbox) == before
    puts = _posts(ops.sandbox, ORDER_SYNC, "PUT")
    restore = {p["parameterName"]: p["parameterValue"] for p in puts[-1]["serviceJobParameters"]}
    assert restore["fromDate"] is None  # sent explicitly null, as HotWax's app does
    assert "thruDate" not in restore  # the job ignores it under runAsBatch: never sent


def test_an_order_changed_moments_ago_waits_for_the_jobs_own_buffer(ops: RunningBot) -> None:
    """The sync's window ends `thruDateBuffer` minutes before now (the job's
    additionalParameters): the bot waits that long, not a fixed minute."""
    with ops.sandbox.state.lock:
        job = ops.sandbox.state.data.service_jobs["queue_ShopifyOrderSync_10000"]
        for parameter in job.parameters:
            if parameter.name == "additionalParameters":
                parameter.value = '{"thruDateBuffer":0.05,"filter":null}'  # three seconds
        ops.sandbox.state.data.shopify["6100000000007"].updated_at = ops.sandbox.state.now()
    done = _import(ops, "#1007")
    assert done.text.endswith("finished"), user_text(done)
    assert "#1007 changed in Shopify moments ago; the order sync takes it in" in str(
        [m.history for m in ops.fake.messages("C_OPS")]
    )


def test_a_restore_that_did_not_take_fails_loudly(ops: RunningBot) -> None:
    """The OMS answers the restoring PUT but does not apply it: the read-back catches it and
    the run says which parameter is left changed."""
    ops.sandbox.state.inject_fault(ORDER_SYNC, "json", 1, body={}, method="PUT", skip=1)
    done = _import(ops, "#1007")
    shown = user_text(done)
    assert done.text.endswith("failed")
    assert "The OMS call “restore the order-sync job” failed" in shown
    assert "queue_ShopifyOrderSync_10000 reads back different from before the import: " in shown
    assert "fromDate is 20" in shown and "(was empty)" in shown
    assert "fromDate" in _job_parameters(ops.sandbox)  # what the user is told to fix
    # Resume does not take the pinned fromDate as the job's state: it refuses, and says why.
    card = ops.reply_post(ops.slash("import #1006"), timeout=15)  # #1007 came in
    ops.driver.click_ephemeral(card, "oms:import.confirm#0")
    again = ops.wait_message(
        lambda m: m.ts != done.ts and m.text.startswith("Import") and m.text.endswith("failed"),
        timeout=30,
    )
    assert "it has fromDate 20" in user_text(again) and "empty fromDate" in user_text(again)
    assert len(_posts(ops.sandbox, ORDER_SYNC, "PUT")) == 2  # no write by the second run


def test_a_job_that_syncs_another_shop_is_refused_before_any_write(ops: RunningBot) -> None:
    with ops.sandbox.state.lock:
        job = ops.sandbox.state.data.service_jobs["queue_ShopifyOrderSync_10000"]
        job.parameters[0].value = "SHOP_CONFIG_10001"
    done = _import(ops, "#1007")
    shown = user_text(done)
    assert done.text.endswith("failed")
    assert "it syncs the shop connection SHOP_CONFIG_10001, not DEMO_SHOP_REMOTE" in shown
    assert _posts(ops.sandbox, ORDER_SYNC, "PUT") == []
