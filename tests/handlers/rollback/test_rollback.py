"""`/oms rollback`, `rollback undo` and `rollback status` through the real endpoint, against the
sandbox's shops, SystemMessageRemotes and product stores."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.sandbox import stores as sandbox_stores
from bot.sandbox.stores_data import seed_stores
from bot.store.audit import search
from bot.store.locks import acquire
from tests.conftest import BotFactory, RunningBot, text_of
from tests.harness.fakeslack import Message

APPROVE = "oms:approval.approve#0"
RESUME = "oms:run.resume#0"
REMOTES = ("DEMO_SHOP_REMOTE", "SHOP_CONFIG_10001")
STORE_PATH = "/rest/s1/admin/productStores/STORE"

POLICY = """
[roles]
operator = ["U_ALICE", "S_OPERATORS", "U_DAVE"]
approver = ["S_APPROVERS", "U_DAVE"]

[approvals]
channel = "C_APPROVALS"
expiry_minutes = {expiry}

[approvals.actions]
rollback = ["approver"]

[stores]
{stores}
"""


def _policy(tmp_path: Path, *, expiry: float = 15, default: str | None = "STORE") -> Path:
    path = tmp_path / f"policy-{time.monotonic_ns()}.toml"
    stores = f'default = "{default}"' if default else ""
    path.write_text(POLICY.format(expiry=expiry, stores=stores))
    return path


def _bot(make_bot: BotFactory, tmp_path: Path, **kwargs: Any) -> RunningBot:
    return make_bot(omsbot_policy=_policy(tmp_path, **kwargs))


def _shown(message: Any) -> str:
    return text_of({"text": message.text, "blocks": message.blocks})


def _remote_puts(bot: RunningBot, remote: str) -> list[Any]:
    return [
        r.body
        for r in bot.sandbox.state.requests(f"/rest/s1/oms/systemMessageRemotes/{remote}", "PUT")
    ]


def _store_puts(bot: RunningBot) -> list[Any]:
    return [r.body for r in bot.sandbox.state.requests(STORE_PATH, "PUT")]


def _all_puts(bot: RunningBot) -> list[Any]:
    return [r for r in bot.sandbox.state.requests(method="PUT")]


def _scopes(bot: RunningBot) -> dict[str, str]:
    with bot.sandbox.state.lock:
        return {k: r["accessScopeEnumId"] for k, r in bot.sandbox.state.stores.remotes.items()}


def _brokering(bot: RunningBot) -> str:
    with bot.sandbox.state.lock:
        return str(bot.sandbox.state.stores.product_stores["STORE"]["enableBrokering"])


def _request(bot: RunningBot, text: str = "rollback", user: str = "U_ALICE") -> Message:
    before = len(bot.fake.messages("C_APPROVALS"))
    note = bot.reply_post(bot.slash(text, user=user), timeout=15)
    assert "needs a second person" in text_of(note.body), text_of(note.body)

    def newest() -> Message | None:
        found = [m for m in bot.fake.messages("C_APPROVALS") if "Approval needed" in m.text]
        return found[-1] if len(bot.fake.messages("C_APPROVALS")) > before and found else None

    request: Message = bot.fake.wait_for(newest, 10)
    return request


def _told(bot: RunningBot, user: str, words: str, timeout: float = 10.0) -> str:
    def find() -> str | None:
        texts = [text_of(p.body) for p in bot.fake.response_posts() if p.user == user]
        texts += [
            text_of({"text": e.text, "blocks": e.blocks}) for e in bot.fake.ephemerals(user=user)
        ]
        # What the bot tells the requester about their request arrives as a direct message.
        texts += [
            text_of({"text": m.text, "blocks": m.blocks}) for m in bot.fake.messages(f"D_{user}")
        ]
        return next((t for t in texts if words in t), None)

    return bot.fake.wait_for(find, timeout)


def _rolled_back(bot: RunningBot, title: str = "Roll back store STORE: finished") -> Message:
    done: Message = bot.wait_message(lambda m: m.text == title, timeout=20)
    return done


def _run_rollback(bot: RunningBot) -> Message:
    request = _request(bot)
    bot.driver.click(request, APPROVE, user="U_DAVE")
    return _rolled_back(bot)


def test_the_request_previews_live_values_and_consequences(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    sandbox_stores.set_access_scope(bot.sandbox.state, "SHOP_CONFIG_10001", "SHOP_READ_ACCESS")
    shown = _shown(_request(bot))
    assert "Approval needed: Roll back store STORE" in shown
    assert "shop 10000 (Demo Shop US) access scope: `SHOP_RW_ACCESS` → `SHOP_NO_ACCESS`" in shown
    assert "shop 10001 (Demo Shop CA) access scope: `SHOP_READ_ACCESS` → `SHOP_NO_ACCESS`" in shown
    assert "store STORE order brokering: `Y` → `N`" in shown
    assert "no orders are imported from Shopify" in shown and "Order brokering stops" in shown
    assert "Requested by" in shown and "<@U_ALICE>" in shown
    assert _all_puts(bot) == []


def test_a_second_operator_approves_and_every_value_is_changed_and_verified(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    request = _request(bot)
    bot.driver.click(request, APPROVE, user="U_DAVE")
    done = _shown(_rolled_back(bot))
    assert "Store STORE rolled back" in done and "/oms rollback undo" in done
    assert "SHOP_RW_ACCESS → SHOP_NO_ACCESS" in done and "Y → N" in done
    assert "all 3 values read back at their targets" in done
    # Then Shopify itself is asked through each shop's connection, and refuses.
    for remote in REMOTES:
        assert (
            f"via {remote}: Shopify refused (“No Access is enabled for Shopify with "
            f"systemMessageRemoteId, {remote}.”)" in done
        )
    assert "started by <@U_DAVE>" in done
    # What the OMS received: one PUT per remote, and the whole store record with the change.
    for remote in REMOTES:
        assert _remote_puts(bot, remote) == [
            {"systemMessageRemoteId": remote, "accessScopeEnumId": "SHOP_NO_ACCESS"}
        ]
    expected_store = {**seed_stores().product_stores["STORE"], "enableBrokering": "N"}
    assert _store_puts(bot) == [expected_store]
    assert _scopes(bot) == dict.fromkeys(REMOTES, "SHOP_NO_ACCESS")
    assert _brokering(bot) == "N"
    # The approvers see the result in the request's thread.
    thread = bot.wait_message(lambda m: m.thread_ts == request.ts, channel="C_APPROVALS")
    assert "finished" in thread.text and "rolled back" in _shown(thread)
    # The values before the change and the read-back are in the audit.
    events = search(bot.services.store, order_key="store:STORE", limit=100)
    (snapshot,) = [e for e in events if e.kind == "oms_read_snapshot"]
    assert (snapshot.detail or {})["values"] == {
        "scope:10000": "SHOP_RW_ACCESS",
        "scope:10001": "SHOP_RW_ACCESS",
        "brokering": "Y",
    }
    writes = [e for e in events if e.kind == "oms_write"]
    assert sorted(e.summary for e in writes) == [
        "set Shopify access scope",
        "set Shopify access scope",
        "set order brokering",
    ]
    assert all(e.outcome == "ok" and e.actor == "U_DAVE" for e in writes)
    reads = {e.summary: e.outcome for e in events if e.kind == "oms_read"}
    assert reads == {
        "read back after the rollback of store STORE": "ok",
        "Shopify access check after the rollback of store STORE": "ok",
    }
    kinds = {(e.kind, e.outcome) for e in events}
    assert ("approval_request", "pending") in kinds and ("approval_decision", "ok") in kinds


def test_the_requester_cannot_approve(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    request = _request(bot, user="U_DAVE")  # Dave holds both roles
    bot.driver.click(request, APPROVE, user="U_DAVE")
    assert _told(bot, "U_DAVE", "someone else must approve it")
    time.sleep(0.3)
    assert _all_puts(bot) == []
    assert _scopes(bot) == dict.fromkeys(REMOTES, "SHOP_RW_ACCESS")


def test_approval_needs_the_approver_role(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    request = _request(bot)
    bot.driver.click(request, APPROVE, user="U_BOB")  # an operator, not an approver
    assert _told(bot, "U_BOB", "needs the *approver* role")
    time.sleep(0.3)
    assert _all_puts(bot) == [] and _brokering(bot) == "Y"


def test_asking_needs_the_operator_role(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    shown = text_of(bot.ack("rollback", user="U_CAROL"))  # an approver, not an operator
    assert "needs the *operator* role, which you do not hold" in shown
    assert not bot.fake.messages("C_APPROVALS")


def test_an_expired_request_changes_nothing(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, expiry=0.02)  # 1.2 s
    request = _request(bot)
    time.sleep(1.5)
    bot.driver.click(request, APPROVE, user="U_DAVE")
    assert _told(bot, "U_DAVE", "expired at")
    time.sleep(0.3)
    assert _all_puts(bot) == [] and _brokering(bot) == "Y"


def test_a_changed_state_stops_the_rollback(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    request = _request(bot)
    # Someone changes a shop in HotWax between the preview and the approval.
    sandbox_stores.set_access_scope(bot.sandbox.state, "SHOP_CONFIG_10001", "SHOP_READ_ACCESS")
    bot.driver.click(request, APPROVE, user="U_DAVE")
    note = bot.wait_message(lambda m: m.thread_ts == request.ts, channel="C_APPROVALS")
    shown = _shown(note)
    assert "nothing ran" in shown
    assert (
        "shop 10001 (Demo Shop CA) access scope: was `SHOP_RW_ACCESS` at the preview, "
        "now `SHOP_READ_ACCESS`" in shown
    )
    assert _all_puts(bot) == []
    # The status names the approval and why nothing ran (it once read "denied by" here).
    status = text_of(bot.reply_post(bot.slash("rollback status", user="U_BOB")).body)
    line = next(ln for ln in status.splitlines() if "Last rollback" in ln)
    assert "approved by <@U_DAVE>" in line and "denied" not in line, line
    assert "but nothing ran: the OMS had changed since the preview" in line
    assert "outcome: nothing ran" in line


def test_a_partial_failure_stops_shows_every_value_and_resumes(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    state = bot.sandbox.state
    sandbox_stores.fail_remote_write(state, "SHOP_CONFIG_10001", "Shopify config is being updated")
    request = _request(bot)
    bot.driver.click(request, APPROVE, user="U_DAVE")
    failed = bot.wait_message(lambda m: m.text == "Roll back store STORE: failed", timeout=20)
    shown = _shown(failed)
    assert "The OMS refused to set shop 10001 to SHOP_NO_ACCESS" in shown
    assert "Shopify config is being updated" in shown
    assert (
        "shop 10000 (Demo Shop US) access scope: changed (SHOP_RW_ACCESS → SHOP_NO_ACCESS)" in shown
    )
    assert "shop 10001 (Demo Shop CA) access scope: unchanged (SHOP_RW_ACCESS)" in shown
    assert "store STORE order brokering: unchanged (Y)" in shown
    assert _store_puts(bot) == []  # later steps did not run
    assert _brokering(bot) == "Y"
    failed_writes = [
        e
        for e in search(bot.services.store, order_key="store:STORE", limit=100)
        if e.kind == "oms_write" and e.outcome == "failed"
    ]
    assert len(failed_writes) == 1

    sandbox_stores.clear_failures(state)
    bot.driver.click(failed, RESUME, user="U_ALICE")
    done = _shown(_rolled_back(bot))
    assert "The run stopped" not in done and "read back at their targets" in done
    # Resume continued from the failed step: shop 10000 was not written again.
    assert len(_remote_puts(bot, "DEMO_SHOP_REMOTE")) == 1
    assert len(_remote_puts(bot, "SHOP_CONFIG_10001")) == 2  # the failed one and the retry
    assert len(_store_puts(bot)) == 1
    assert _scopes(bot) == dict.fromkeys(REMOTES, "SHOP_NO_ACCESS") and _brokering(bot) == "N"
    # The resumed run still reports in the approval request's thread.
    bot.wait_message(
        lambda m: m.thread_ts == request.ts and m.text.endswith("finished"),
        channel="C_APPROVALS",
    )


def test_undo_restores_the_saved_values_through_approval(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    sandbox_stores.set_access_scope(bot.sandbox.state, "SHOP_CONFIG_10001", "SHOP_READ_ACCESS")
    _run_rollback(bot)
    bot.sandbox.state.clear_requests()
    request = _request(bot, "rollback undo")
    shown = _shown(request)
    assert "Approval needed: Undo the rollback of store STORE" in shown
    assert "shop 10000 (Demo Shop US) access scope: `SHOP_NO_ACCESS` → `SHOP_RW_ACCESS`" in shown
    assert "shop 10001 (Demo Shop CA) access scope: `SHOP_NO_ACCESS` → `SHOP_READ_ACCESS`" in shown
    assert "store STORE order brokering: `N` → `Y`" in shown
    assert _all_puts(bot) == []
    bot.driver.click(request, APPROVE, user="U_CAROL")
    done = _shown(_rolled_back(bot, "Undo the rollback of store STORE: finished"))
    assert "Store STORE restored" in done and "read back at their targets" in done
    assert _scopes(bot) == {
        "DEMO_SHOP_REMOTE": "SHOP_RW_ACCESS",
        "SHOP_CONFIG_10001": "SHOP_READ_ACCESS",
    }
    assert _store_puts(bot) == [seed_stores().product_stores["STORE"]]
    # Asking again: everything already holds the saved values.
    reply = bot.reply_post(bot.slash("rollback undo", user="U_ALICE"))
    assert "already holds the values saved before the rollback; nothing to approve" in text_of(
        reply.body
    )


def test_undo_after_a_partial_failure_restores_only_what_changed(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    state = bot.sandbox.state
    sandbox_stores.fail_remote_write(state, "SHOP_CONFIG_10001", "locked")
    bot.driver.click(_request(bot), APPROVE, user="U_DAVE")
    bot.wait_message(lambda m: m.text == "Roll back store STORE: failed", timeout=20)
    sandbox_stores.clear_failures(state)
    # Meanwhile someone sets shop 10001 by hand; undo must not touch what it did not change.
    sandbox_stores.set_access_scope(state, "SHOP_CONFIG_10001", "SHOP_READ_ACCESS")
    state.clear_requests()
    request = _request(bot, "rollback undo STORE")
    shown = _shown(request)
    assert "shop 10000 (Demo Shop US) access scope: `SHOP_NO_ACCESS` → `SHOP_RW_ACCESS`" in shown
    assert "10001" not in shown.split("What it means")[0].split("What will change")[1]
    assert "order brokering" not in shown.split("What it means")[0]
    bot.driver.click(request, APPROVE, user="U_DAVE")
    _rolled_back(bot, "Undo the rollback of store STORE: finished")
    assert _scopes(bot) == {
        "DEMO_SHOP_REMOTE": "SHOP_RW_ACCESS",
        "SHOP_CONFIG_10001": "SHOP_READ_ACCESS",
    }
    assert _remote_puts(bot, "SHOP_CONFIG_10001") == [] and _store_puts(bot) == []


def test_undo_without_a_rollback_says_so(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    reply = bot.reply_post(bot.slash("rollback undo", user="U_ALICE"))
    assert "No rollback of store STORE has run; nothing to undo." in text_of(reply.body)
    assert not bot.fake.messages("C_APPROVALS")


def test_already_rolled_back_needs_no_approval(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    state = bot.sandbox.state
    for remote in REMOTES:
        sandbox_stores.set_access_scope(state, remote, "SHOP_NO_ACCESS")
    sandbox_stores.set_store_field(state, "STORE", "enableBrokering", "N")
    reply = text_of(bot.reply_post(bot.slash("rollback", user="U_ALICE")).body)
    assert "Store STORE is already rolled back; nothing to approve." in reply
    assert "shop 10000 (Demo Shop US) access scope: `SHOP_NO_ACCESS`" in reply
    assert "store STORE order brokering: `N`" in reply
    time.sleep(0.3)
    assert not bot.fake.messages("C_APPROVALS") and _all_puts(bot) == []


def test_status_of_an_approved_rollback_that_could_not_start(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    request = _request(bot)
    # Another run (possibly on another replica) holds the store when the approval comes.
    held = acquire(
        bot.services.store,
        ["store:STORE"],
        run_id="run-of-bob",
        holder="U_BOB",
        what="Roll back store STORE",
        now=time.time(),
        lease=300,
    )
    assert held is None
    bot.driver.click(request, APPROVE, user="U_DAVE")
    _told(bot, "U_ALICE", "nothing ran")
    status = text_of(bot.reply_post(bot.slash("rollback status", user="U_BOB")).body)
    line = next(ln for ln in status.splitlines() if "Last rollback" in ln)
    # It once read "denied by <@U_DAVE>": the approver approved, and the start failed.
    assert "approved by <@U_DAVE>" in line and "denied" not in line, line
    assert "but nothing ran: it could not start" in line and "outcome: nothing ran" in line
    assert _all_puts(bot) == []


def test_status_shows_values_and_the_last_rollback_and_undo(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    before = text_of(bot.reply_post(bot.slash("rollback status", user="U_BOB")).body)
    assert "Now:* not rolled back" in before
    assert "shop 10000 (Demo Shop US) access scope: `SHOP_RW_ACCESS`" in before
    assert "Last rollback:* none recorded" in before and "Last undo:* none recorded" in before
    _run_rollback(bot)
    after = text_of(bot.reply_post(bot.slash("rollback status STORE", user="U_BOB")).body)
    assert "Now:* rolled back" in after
    assert "shop 10001 (Demo Shop CA) access scope: `SHOP_NO_ACCESS`" in after
    assert "order brokering (`enableBrokering`): `N`" in after
    rollback_line = next(ln for ln in after.splitlines() if "Last rollback" in ln)
    assert "asked by <@U_ALICE>" in rollback_line and "approved by <@U_DAVE>" in rollback_line
    assert "outcome: finished at" in rollback_line
    assert "Last undo:* none recorded" in after
    # A denied undo shows as such.
    bot.driver.click(_request(bot, "rollback undo"), "oms:approval.deny#1", user="U_CAROL")
    _told(bot, "U_ALICE", "<@U_CAROL> denied")
    latest = text_of(bot.reply_post(bot.slash("rollback status", user="U_BOB")).body)
    undo_line = next(ln for ln in latest.splitlines() if "Last undo" in ln)
    assert "denied by <@U_CAROL>" in undo_line and "outcome: denied; nothing ran" in undo_line


def test_store_problems_are_named(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path, default=None)
    bot.fake.fail_next("views.open", "expired_trigger_id")  # no store form: the hint instead
    reply = text_of(bot.reply_post(bot.slash("rollback", user="U_ALICE")).body)
    assert "Which product store?" in reply and '[stores] default = "STORE"' in reply
    reply = text_of(bot.reply_post(bot.slash("rollback NOPE", user="U_ALICE")).body)
    assert "There is no product store `NOPE` in the OMS" in reply
    assert "is not a product store id" in text_of(bot.ack("rollback status b@d", user="U_ALICE"))
    assert not bot.fake.messages("C_APPROVALS") and _all_puts(bot) == []


def test_an_unset_brokering_flag_is_saved_and_restored_as_null(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    """A store whose enableBrokering is null: the snapshot keeps null, and the undo writes the
    whole record back with an explicit null (never a made-up word), then reads null back."""
    bot = _bot(make_bot, tmp_path)
    state = bot.sandbox.state
    sandbox_stores.set_store_field(state, "STORE", "enableBrokering", None)
    request = _request(bot)
    assert "store STORE order brokering: `unset (null)` → `N`" in _shown(request)
    bot.driver.click(request, APPROVE, user="U_DAVE")
    _rolled_back(bot)
    assert _brokering(bot) == "N"
    events = search(bot.services.store, order_key="store:STORE", limit=100)
    (snapshot,) = [e for e in events if e.kind == "oms_read_snapshot"]
    assert (snapshot.detail or {})["values"]["brokering"] is None

    state.clear_requests()
    undo = _request(bot, "rollback undo")
    assert "store STORE order brokering: `N` → `unset (null)`" in _shown(undo)
    bot.driver.click(undo, APPROVE, user="U_CAROL")
    done = _shown(_rolled_back(bot, "Undo the rollback of store STORE: finished"))
    assert "Set order brokering back to unset (null)" in done
    assert "N → unset (null)" in done and "all 3 values read back at their targets" in done
    assert _store_puts(bot) == [{**seed_stores().product_stores["STORE"], "enableBrokering": None}]
    with state.lock:
        assert state.stores.product_stores["STORE"]["enableBrokering"] is None
    reply = bot.reply_post(bot.slash("rollback undo", user="U_ALICE"))
    assert "already holds the values saved before the rollback" in text_of(reply.body)


def test_undo_restores_a_write_that_got_no_answer_but_was_applied(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    """The OMS applies shop 10001's new scope but its answer is lost (a gateway timeout): the
    audit says the write's outcome is unknown (issue 17; this write has no read-back), the OMS
    holds the rollback's value, so undo restores it and says why in the preview."""
    bot = _bot(make_bot, tmp_path)
    state = bot.sandbox.state
    state.inject_fault("/rest/s1/oms/systemMessageRemotes/SHOP_CONFIG_10001", "lost", method="PUT")
    bot.driver.click(_request(bot), APPROVE, user="U_DAVE")
    failed = bot.wait_message(lambda m: m.text == "Roll back store STORE: failed", timeout=20)
    shown = _shown(failed)
    assert "The OMS did not answer (the change may have been applied)" in shown
    assert (
        "shop 10001 (Demo Shop CA) access scope: changed (SHOP_RW_ACCESS → SHOP_NO_ACCESS)" in shown
    )
    assert _scopes(bot) == dict.fromkeys(REMOTES, "SHOP_NO_ACCESS") and _brokering(bot) == "Y"
    writes = [
        e
        for e in search(bot.services.store, order_key="store:STORE", limit=100)
        if e.kind == "oms_write"
    ]
    assert sorted(e.outcome for e in writes) == ["ok", "unknown"]

    state.clear_requests()
    request = _request(bot, "rollback undo")
    preview = _shown(request)
    assert "shop 10000 (Demo Shop US) access scope: `SHOP_NO_ACCESS` → `SHOP_RW_ACCESS`" in preview
    assert "shop 10001 (Demo Shop CA) access scope: `SHOP_NO_ACCESS` → `SHOP_RW_ACCESS`" in preview
    assert "Restored too, although the rollback's write of it got no answer or failed" in preview
    assert "order brokering" not in preview.split("What it means")[0]
    bot.driver.click(request, APPROVE, user="U_CAROL")
    _rolled_back(bot, "Undo the rollback of store STORE: finished")
    assert _scopes(bot) == dict.fromkeys(REMOTES, "SHOP_RW_ACCESS")
    assert _store_puts(bot) == []
