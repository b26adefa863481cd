"""Issue 13, the order runbooks: every reference of an order in the audit, a failed re-import
audited as failed, the refresh's recovery leading where Resume cannot help, `/oms check`'s
buttons matching its verdict and checking the order again after a job, and `/oms order`
saying how a version was removed. Through the real endpoint, against the sandbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.sandbox import tenant_named
from bot.store.audit import search
from tests.conftest import RunningBot
from tests.handlers.orders.conftest import user_text
from tests.harness.fakeslack import Message


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def _primary(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["text"]["text"] for e in _buttons(blocks) if e.get("style") == "primary"]


def _settle(bot: RunningBot) -> None:
    """Wait until the audit writes that follow the acks and runs have landed."""
    time.sleep(0.3)
    bot.fake.wait_for(lambda: bot.services.tasks.pending == 0 or None, timeout=15)


def _reply(bot: RunningBot, text: str) -> str:
    return user_text(bot.reply_post(bot.slash(text), timeout=15))


def _refresh(bot: RunningBot, ref: str) -> Message:
    card = bot.reply_post(bot.slash(f"refresh {ref}"), timeout=15)
    bot.driver.click_ephemeral(card, "oms:refresh.confirm#0")
    done: Message = bot.wait_message(lambda m: m.text.endswith(("finished", "failed")), timeout=30)
    return done


def _import(bot: RunningBot, refs: str) -> Message:
    card = bot.reply_post(bot.slash(f"import {refs}"), timeout=15)
    bot.driver.click_ephemeral(card, "oms:import.confirm#0")
    done: Message = bot.wait_message(
        lambda m: m.text.startswith("Import") and m.text.endswith(("finished", "failed")),
        timeout=30,
    )
    return done


def _new_version(bot: RunningBot, shopify_id: str, old: str) -> str:
    with bot.sandbox.state.lock:
        return next(
            o.order_id
            for o in bot.sandbox.state.data.orders.values()
            if o.external_id == shopify_id and o.order_id != old
        )


# ---- item 1: every reference of the order in the audit ---------------------------------------


def test_history_finds_a_refresh_by_every_reference_of_the_order(ops: RunningBot) -> None:
    ops.sandbox.state.tenant = tenant_named("sync-new-version")
    assert _refresh(ops, "10002").text.endswith("finished")
    new = _new_version(ops, "6100000000002", "10002")
    _settle(ops)
    for ref in (new, "#1002", "6100000000002", "10002"):
        shown = _reply(ops, f"history {ref}")
        assert f"cancel order 10002 as the old version of {new}" in shown, ref
        assert "Refreshed: the new version is" in shown, ref
        searched = shown.splitlines()[-1]  # the context line names every reference searched
        assert all(r in searched for r in (new, "#1002", "6100000000002", "10002")), searched
    # The rows themselves carry every reference, so the history needs no OMS to find them.
    (cancel,) = [
        e
        for e in search(ops.services.store, order_key="#1002", limit=100)
        if e.summary.startswith("cancel order 10002")
    ]
    assert {"10002", new, "6100000000002", "#1002"} <= set(cancel.order_keys)


def test_history_finds_a_failed_refresh_and_its_recovery_once_hotwax_removed_the_order(
    ops: RunningBot,
) -> None:
    failed = _refresh(ops, "10004")
    ops.driver.click(failed, "oms:refresh.recover#0")
    ops.wait_message(lambda m: m.thread_ts == failed.ts and "Recovery of order" in m.text)
    with ops.sandbox.state.lock:  # HotWax support removed the order, as the recovery asks
        del ops.sandbox.state.data.orders["10004"]
    _settle(ops)
    for ref in ("#1004", "6100000000004", "10004"):
        shown = _reply(ops, f"history {ref}")
        assert "Recovery planned by" in shown, ref
        assert "started Refresh order 10004 from Shopify" in shown, ref
    # `/oms order` of the removed order says what the audit knows of it.
    shown = _reply(ops, "order 10004")
    assert "No order found in HotWax" in shown
    assert "HotWax does not have it now, but oms-bot's audit trail has" in shown
    assert "`/oms history 10004` lists them" in shown


def test_history_finds_a_failed_import_by_the_shopify_name(ops: RunningBot) -> None:
    assert _import(ops, "6100000000006").text.endswith("failed")
    _settle(ops)
    shown = _reply(ops, "history #1006")
    assert "Import #1006 from Shopify" in shown  # the run, though typed by its Shopify id


# ---- item 2: a failed re-import is audited as failed, with why ---------------------------------


def test_a_failed_reimport_is_audited_as_failed_with_the_reason(ops: RunningBot) -> None:
    assert _import(ops, "#1006").text.endswith("failed")
    _settle(ops)
    shown = _reply(ops, "history #1006")
    assert "re-import a Shopify order (order-sync replay) · _ok_" not in shown
    assert "replay the order sync to re-import #1006 · _ok_" in shown  # the replay did run
    failed = _reply(ops, "history #1006 --failed")
    assert "re-import #1006 from Shopify: failed: HotWax's import of #1006 failed" in failed
    assert "the customer address is missing" in failed


def test_a_reimport_that_worked_is_audited_with_the_new_order(ops: RunningBot) -> None:
    assert _import(ops, "#1007").text.endswith("finished")
    _settle(ops)
    new = _new_version(ops, "6100000000007", "")
    shown = _reply(ops, f"history {new}")
    assert f"re-import #1007 from Shopify: imported as {new}" in shown


# ---- item 3: the refresh's failure offers what can help ---------------------------------------


def test_a_pos_refresh_failing_for_the_address_leads_with_the_recovery_and_no_resume(
    ops: RunningBot,
) -> None:
    failed = _refresh(ops, "10004")
    shown = user_text(failed)
    buttons = _buttons(failed.blocks)
    assert [b["action_id"] for b in buttons] == ["oms:refresh.recover#0"]  # no Resume
    assert buttons[0]["text"]["text"] == "Plan the recovery: HotWax support removes the order"
    assert buttons[0]["style"] == "primary"
    assert "Resume retries" not in shown
    assert "Trying again fails the same way, and nothing needs changing in Shopify" in shown
    assert "`/oms import 6100000000004` brings it back" in shown
    assert "The recovery needs a second person, HotWax support" in shown
    assert "Fix the address or phone in Shopify" not in shown  # the web order's fix
    assert "/oms refresh" not in shown and "failed refresh" not in shown
    # The import's cause and fix show once, under the failed step, not again in "stopped".
    assert shown.count("The customer's address or phone number is missing") == 1, shown
    assert "The run stopped at “Import the fresh version from Shopify”" in shown


def test_a_web_refresh_failing_for_the_address_says_to_add_it_and_resume(
    ops: RunningBot,
) -> None:
    with ops.sandbox.state.lock:  # the web order #1005 lost its address in Shopify
        shop = ops.sandbox.state.data.shopify["6100000000005"]
        shop.shipping_address = None
        shop.updated_at = datetime.now(UTC) - timedelta(minutes=5)
    card = ops.reply_post(ops.slash("refresh 10005"), timeout=15)
    assert "add the address to the order in Shopify before refreshing" in user_text(card)
    ops.driver.click_ephemeral(card, "oms:refresh.confirm#0")
    failed = ops.wait_message(lambda m: m.text.endswith(("finished", "failed")), timeout=30)
    shown = user_text(failed)
    assert failed.text.endswith("failed"), shown
    assert "Add the shipping address to the order in Shopify, then press Resume" in shown
    assert "Fix the address or phone in Shopify, then re-import the order." in shown
    assert "HotWax support" not in shown  # the POS recovery is not this order's fix
    assert [b["action_id"] for b in _buttons(failed.blocks)] == ["oms:run.resume#0"]
    assert _primary(failed.blocks) == ["Resume"]


# ---- item 4: /oms check's buttons follow the verdict; a job run is followed by a check --------


def test_check_of_an_unpaid_web_order_has_no_primary_button(ops: RunningBot) -> None:
    reply = ops.reply_post(ops.slash("check 10005"), timeout=15)
    shown = user_text(reply)
    assert "First fix the payment" in shown
    assert _primary(reply.blocks) == []  # the first fix is in Shopify, not a button here
    labels = [b["text"]["text"] for b in _buttons(reply.blocks)]
    assert labels == ["Run the Approve orders job and check again"]


def test_check_runs_the_job_then_checks_the_order_again(ops: RunningBot) -> None:
    reply = ops.reply_post(ops.slash("check 10005"), timeout=15)
    assert "PAYMENT_NOT_AUTH" in user_text(reply)
    with ops.sandbox.state.lock:  # the payment was fixed meanwhile
        ops.sandbox.state.data.orders["10005"].payments[0].status_id = "PAYMENT_AUTHORIZED"
    ops.driver.click_ephemeral(reply, "oms:check.run_job#0")
    ops.wait_message(
        lambda m: "Approve orders" in m.text and m.text.endswith("finished"), timeout=30
    )
    again = ops.fake.wait_for(
        lambda: (
            [p for p in ops.fake.response_posts() if "Checked again after" in user_text(p)] or None
        ),
        timeout=15,
    )[-1]
    shown = user_text(again)
    assert "Checked again after “Run the Approve orders job now” finished." in shown
    assert "The payment is PAYMENT_AUTHORIZED" in shown and "You can approve it now" in shown
    assert again.body.get("replace_original") is True  # the check's own message, updated
    assert _primary(again.body["blocks"]) == ["Approve now"]


def test_check_offers_one_primary_button_and_it_is_the_verdicts_first_fix(
    ops: RunningBot,
) -> None:
    paid = ops.reply_post(ops.slash("check 10014"), timeout=15)
    assert _primary(paid.blocks) == ["Approve now"]
    missing = ops.reply_post(ops.slash("check #1007"), timeout=15)
    assert "Run the New orders job, or re-import" in user_text(missing)
    assert _primary(missing.blocks) == ["Run the order sync now and check again"]
    failed = ops.reply_post(ops.slash("check #1006"), timeout=15)
    assert "First fix the cause in Shopify, then re-import" in user_text(failed)
    assert _primary(failed.blocks) == []


# ---- /oms order of a removed version --------------------------------------------------------


def test_order_of_a_version_the_bot_cancelled_says_when_and_by_whom(ops: RunningBot) -> None:
    ops.sandbox.state.tenant = tenant_named("sync-new-version")
    done = _refresh(ops, "10002")
    new = _new_version(ops, "6100000000002", "10002")
    _settle(ops)
    shown = _reply(ops, "order 10002")
    assert f"2 versions share this Shopify order: `{new}` (Completed)" in shown
    line = next(x for x in shown.splitlines() if x.startswith(":wastebasket: `10002`"))
    assert "was cancelled" in line and "in HotWax (reason: Old Version)" in line
    assert "through oms-bot by <@U_ALICE>" in line
    assert "Refresh order 10002 from Shopify" in line
    assert f"/archives/C_OPS/p{done.ts.replace('.', '')}" in line
    assert f"The live version is `{new}`" in line


def test_order_of_a_version_cancelled_outside_the_bot_names_hotwax_s_record(
    ops: RunningBot,
) -> None:
    shown = _reply(ops, "order 10003")  # the demo's refreshed pair: 10013 replaced 10003
    line = next(x for x in shown.splitlines() if x.startswith(":wastebasket: `10003`"))
    assert "(reason: Old Version)" in line and "The live version is `10013`" in line
    assert "oms-bot by" not in line


def test_a_refresh_of_a_cancelled_order_with_no_live_version_offers_the_import_not_resume(
    ops: RunningBot,
) -> None:
    ops.sandbox.state.tenant = tenant_named("sync-new-version")  # a sync imports it anew
    with ops.sandbox.state.lock:  # #1002's only version was cancelled in HotWax
        ops.sandbox.state.data.orders["10002"].status_id = "ORDER_CANCELLED"
    failed = _refresh(ops, "10002")
    shown = user_text(failed)
    assert failed.text.endswith("failed"), shown
    assert "10002 is cancelled and no live version of it is in HotWax" in shown
    assert "Resume retries" not in shown
    buttons = _buttons(failed.blocks)
    assert [b["action_id"] for b in buttons] == ["oms:import.confirm#0"]
    assert buttons[0]["text"]["text"] == "Import #1002 from Shopify"
    ops.driver.click(failed, "oms:import.confirm#0")
    done = ops.wait_message(lambda m: m.text == "Import #1002 from Shopify: finished", timeout=30)
    assert "imported as" in user_text(done)
