"""The two-person rule through the real endpoint: preview, refusals, expiry, changed state,
denial with a reason, and exactly one execution under concurrent approvals."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from bot.store.approvals import Approval, get_approval, latest_approval
from bot.store.audit import search
from bot.store.runs import list_runs
from tests.conftest import BotFactory, RunningBot, text_of, write_policy
from tests.harness.fakeslack import Message
from tests.store_fixtures import postgres_url

__all__ = ["postgres_url"]

APPROVE = "oms:approval.approve#0"
DENY = "oms:approval.deny#1"


def _writes(bot: RunningBot) -> list[str]:
    return [
        str(r.body["orderId"])
        for r in bot.sandbox.state.requests("/api/service/changeOrderStatus", "POST")
        if isinstance(r.body, dict)
    ]


def _shown(message: Message | Any) -> str:
    return text_of({"text": message.text, "blocks": message.blocks})


def _request(bot: RunningBot, text: str = "approve 10014", user: str = "U_ALICE") -> Message:
    sent = bot.slash(text, user=user)
    note = bot.reply_post(sent, timeout=15)
    assert "needs a second person" in text_of(note.body)
    assert "in <#C_APPROVALS>" in text_of(note.body)
    request: Message = bot.wait_message(
        lambda m: "Approval needed" in m.text, channel="C_APPROVALS"
    )
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


def test_request_shows_a_live_preview_and_the_approver_runs_it(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    request = _request(bot, "approve 10014 #1015")
    shown = _shown(request)
    assert "Approval needed: Approve orders 10014, 10015" in shown
    assert "order 10014 status: `ORDER_CREATED` → `ORDER_APPROVED`" in shown
    assert "order 10015 status: `ORDER_CREATED` → `ORDER_APPROVED`" in shown
    assert "<@U_ALICE>" in shown and "Expires" in shown and "Orders: 10014, 10015" in shown
    assert _writes(bot) == []
    bot.driver.click(request, APPROVE, user="U_CAROL")  # an approver through S_APPROVERS
    done = bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    assert "Approved 2 orders" in _shown(done)
    assert "started by <@U_CAROL>" in _shown(done)
    thread = bot.wait_message(lambda m: m.thread_ts == request.ts, channel="C_APPROVALS")
    assert "finished" in thread.text
    assert "Approved by <@U_CAROL>" in _shown(bot.fake.message("C_APPROVALS", request.ts))
    assert _writes(bot) == ["10014", "10015"]
    (run,) = list_runs(bot.services.store)
    decisions = bot.fake.wait_for(
        lambda: (
            [
                e
                for e in search(bot.services.store, order_key="10014")
                if e.kind == "approval_decision" and e.outcome == "ok"
            ]
            or None
        )
    )
    assert decisions[0].actor == "U_CAROL" and decisions[0].run_id == run.id
    record = get_approval(bot.services.store, str((decisions[0].detail or {})["approval_id"]))
    assert record is not None and (record.state, record.run_id) == ("executed", run.id)


def test_self_approval_is_refused(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    request = _request(bot, user="U_DAVE")  # Dave is an operator and an approver
    bot.driver.click(request, APPROVE, user="U_DAVE")
    assert _told(bot, "U_DAVE", "You asked for this, so someone else must approve it.")
    assert "actions" in str(bot.fake.message("C_APPROVALS", request.ts).blocks)  # still open
    assert _writes(bot) == []


def test_approval_without_the_role_is_refused(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    request = _request(bot)
    bot.driver.click(request, APPROVE, user="U_BOB")
    assert _told(bot, "U_BOB", "needs the *approver* role, which you do not hold")
    assert _writes(bot) == []  # the refusal is the last thing a refused press does
    # The request is still open for a real approver.
    bot.driver.click(request, APPROVE, user="U_CAROL")
    bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    assert _writes(bot) == ["10014"]


def test_an_expired_request_cannot_be_approved(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, expiry=0.01))  # 0.6 s
    request = _request(bot)

    def stored() -> Approval | None:
        found = latest_approval(bot.services.store, "approve", lambda params: True)
        return found if found is not None and found.request_message_ts == request.ts else None

    approval = bot.fake.wait_for(stored)
    # Wait for the moment the request expires (the clock passing it), not for a fixed time.
    bot.fake.wait_for(lambda: time.time() > approval.expires_at)
    bot.driver.click(request, APPROVE, user="U_CAROL")
    assert _told(bot, "U_CAROL", "expired at")
    # Every replica sweeps on a timer (15 s here); this runs the same sweep now.
    asyncio.run(bot.services.sweep())
    expired = bot.wait_message(lambda m: m.text.startswith("Expired"), channel="C_APPROVALS")
    assert expired.ts == request.ts  # the request message itself now says so
    assert "Expired at" in _shown(expired) and "Nothing ran" in _shown(expired)
    assert "actions" not in str(expired.blocks)  # no button left to press
    record = get_approval(bot.services.store, approval.id)
    assert record is not None and record.state == "expired"
    assert _writes(bot) == []
    assert not list_runs(bot.services.store)


def test_a_changed_oms_state_stops_the_execution(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    request = _request(bot)
    # Someone approves the order in HotWax directly between the preview and the approval.
    bot.sandbox.state.change_order_status("10014", "ORDER_APPROVED", "someone.else")
    bot.driver.click(request, APPROVE, user="U_CAROL")
    note = bot.wait_message(lambda m: m.thread_ts == request.ts, channel="C_APPROVALS")
    shown = _shown(note)
    assert "nothing ran" in shown
    assert "order 10014 status: was `ORDER_CREATED` at the preview, now `ORDER_APPROVED`" in shown
    assert _writes(bot) == []
    assert not list_runs(bot.services.store)


def test_deny_asks_for_a_reason(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    request = _request(bot)
    bot.driver.click(request, DENY, user="U_CAROL")
    assert _told(bot, "U_ALICE", "<@U_CAROL> denied")
    view = bot.fake.wait_for(lambda: bot.fake.views() or None)[-1]
    assert view.view["callback_id"] == "oms:deny-reason"
    approval_id = view.view["private_metadata"]
    bot.driver.submit_view(
        "oms:deny-reason",
        {"reason": {"reason": "Payment is disputed"}},
        approval_id,
        user="U_CAROL",
    )
    reason = bot.wait_message(lambda m: "Payment is disputed" in m.text, channel="C_APPROVALS")
    assert reason.thread_ts == request.ts
    record = get_approval(bot.services.store, approval_id)
    assert record is not None and (record.state, record.reason) == ("denied", "Payment is disputed")
    # Someone else cannot rewrite the reason.
    bot.driver.submit_view(
        "oms:deny-reason", {"reason": {"reason": "forged"}}, approval_id, user="U_BOB"
    )
    # The submission is acked after its work is handed to the bot's task tracker: wait
    # until that work is over.
    bot.fake.wait_for(lambda: bot.services.tasks.pending == 0)
    record = get_approval(bot.services.store, approval_id)
    assert record is not None and record.reason == "Payment is disputed"
    assert _writes(bot) == []


def test_pending_requests_are_listed(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    _request(bot)
    reply = bot.reply_post(bot.slash("approvals", user="U_CAROL"))
    shown = text_of(reply.body)
    assert "Pending approvals (1)" in shown
    assert "Approve order 10014" in shown and "asked by <@U_ALICE>" in shown


def test_fifty_concurrent_approvals_on_two_instances_execute_once(
    make_bot: BotFactory, tmp_path: Path, postgres_url: str
) -> None:
    policy = write_policy(tmp_path)
    first = make_bot(db_path=postgres_url, omsbot_policy=policy)
    second = make_bot(db_path=postgres_url, omsbot_policy=policy)
    approvers = [f"U_APPR{i:02d}" for i in range(50)]
    for user in approvers:
        first.fake.add_user(user, user.lower())
    first.fake.add_usergroup("S_APPROVERS", approvers)
    request = _request(first)
    barrier = threading.Barrier(len(approvers))

    def approve(index: int) -> None:
        bot = (first, second)[index % 2]
        barrier.wait()
        bot.driver.click(request, APPROVE, user=approvers[index])

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(len(approvers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Every press but one is refused: once all of them have been, no second one can win.
    refused = first.fake.wait_for(
        lambda: (lambda n: n if n >= len(approvers) - 1 else None)(
            sum(
                1
                for u in approvers
                for p in first.fake.response_posts()
                if p.user == u and "Already handled by" in text_of(p.body)
            )
            + sum(
                1
                for u in approvers
                for e in first.fake.ephemerals(user=u)
                if "Already handled by" in e.text
            )
        ),
        timeout=20,
    )
    assert refused == len(approvers) - 1
    first.wait_message(lambda m: "finished" in m.text, timeout=30)
    assert _writes(first) == ["10014"]
    assert len(list_runs(first.services.store)) == 1
