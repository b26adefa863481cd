"""Issue 13, two-person approvals, through the real endpoint: the request message ends saying
what became of the request, one identical request waits at a time, the requester is told in
a DM, refusals show real mentions, the card labels its parameters, and an expired approval
names who can ask again."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from bot.store.approvals import Approval, get_approval, latest_approval, list_pending
from bot.store.locks import acquire
from bot.store.runs import list_runs
from tests.conftest import BotFactory, RunningBot, text_of, write_policy
from tests.harness.fakeslack import Message

APPROVE = "oms:approval.approve#0"
DENY = "oms:approval.deny#1"

ROLLBACK_POLICY = """
[roles]
operator = ["U_ALICE", "S_OPERATORS", "U_DAVE"]
approver = ["S_APPROVERS", "U_DAVE"]

[approvals]
channel = "C_APPROVALS"
expiry_minutes = 15

[approvals.actions]
rollback = ["approver"]

[stores]
default = "STORE"
"""


@pytest.fixture
def bot(make_bot: BotFactory, tmp_path: Path) -> RunningBot:
    """`/oms approve` needs a second person (an approver: Carol, or Dave)."""
    return make_bot(omsbot_policy=write_policy(tmp_path))


def _shown(message: Message | Any) -> str:
    return text_of({"text": message.text, "blocks": message.blocks})


def _block_texts(body: dict[str, Any]) -> str:
    """The raw mrkdwn of the blocks, as sent: `text_of` shows escapes as the characters they
    stand for, which would hide an escaped mention (`&lt;@U…&gt;`, shown by Slack as text)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text"):
                parts.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(body.get("blocks") or [])
    return "\n".join(parts)


def _writes(bot: RunningBot) -> list[str]:
    return [
        str(r.body["orderId"])
        for r in bot.sandbox.state.requests("/api/service/changeOrderStatus", "POST")
        if isinstance(r.body, dict)
    ]


def _requests(bot: RunningBot) -> list[Message]:
    return [m for m in bot.fake.messages("C_APPROVALS") if "Approval needed" in m.text]


def _request(bot: RunningBot, text: str = "approve 10014", user: str = "U_ALICE") -> Message:
    before = {m.ts for m in _requests(bot)}
    note = bot.reply_post(bot.slash(text, user=user), timeout=15)
    assert "needs a second person" in text_of(note.body)
    found: Message = bot.fake.wait_for(
        lambda: next((m for m in _requests(bot) if m.ts not in before), None)
    )
    return found


def _approval_of(bot: RunningBot, request: Message) -> Approval:
    def stored() -> Approval | None:
        found = latest_approval(
            bot.services.store, "approve", lambda p: True, states=None
        )  # the newest one: each test asks for one at a time
        return found if found is not None and found.request_message_ts == request.ts else None

    approval: Approval = bot.fake.wait_for(stored)
    return approval


def _closed(bot: RunningBot, request: Message, title: str, timeout: float = 15.0) -> Message:
    """The request message once it says what became of it (`title`: its header's start)."""
    closed: Message = bot.wait_message(
        lambda m: m.ts == request.ts and m.text.startswith(title),
        channel="C_APPROVALS",
        timeout=timeout,
    )
    return closed


def _dm(bot: RunningBot, user: str, words: str, timeout: float = 10.0) -> str:
    """The direct message the bot sent `user` that contains `words`."""

    def find() -> str | None:
        texts = [_shown(m) for m in bot.fake.messages(f"D_{user}")]
        return next((t for t in texts if words in t), None)

    found: str = bot.fake.wait_for(find, timeout)
    return found


def _refusal(bot: RunningBot, user: str, words: str, timeout: float = 10.0) -> dict[str, Any]:
    """The ephemeral answer `user` got that contains `words` (its whole body)."""

    def find() -> dict[str, Any] | None:
        bodies = [p.body for p in bot.fake.response_posts() if p.user == user]
        bodies += [{"text": e.text, "blocks": e.blocks} for e in bot.fake.ephemerals(user=user)]
        return next((b for b in bodies if words in text_of(b)), None)

    found: dict[str, Any] = bot.fake.wait_for(find, timeout)
    return found


def _has_buttons(message: Message) -> bool:
    return any(b.get("type") == "actions" for b in message.blocks)


# ---- 1. the request message says what actually happened ------------------------------------


def test_a_request_stopped_by_a_changed_oms_says_nothing_ran(bot: RunningBot) -> None:
    request = _request(bot)
    bot.sandbox.state.change_order_status("10014", "ORDER_APPROVED", "someone.else")
    bot.driver.click(request, APPROVE, user="U_CAROL")
    closed = _closed(bot, request, "Not run")
    shown = _shown(closed)
    assert "Approved by <@U_CAROL> at" in shown
    assert "nothing ran: the OMS changed since the preview" in shown
    assert "order 10014 status: was `ORDER_CREATED` at the preview, now `ORDER_APPROVED`" in shown
    # The preview no longer reads as the change about to happen.
    assert "What will change" not in shown and "What it would have changed" in shown
    assert not _has_buttons(closed)
    assert "the OMS changed since the preview" in _dm(bot, "U_ALICE", "nothing ran")
    assert _writes(bot) == []


def test_an_approved_request_that_could_not_start_says_why(bot: RunningBot) -> None:
    request = _request(bot)
    # Another run (possibly on another replica) holds order 10014.
    held = acquire(
        bot.services.store,
        ["10014"],
        run_id="run-of-bob",
        holder="U_BOB",
        what="Refresh order 10014",
        now=time.time(),
        lease=300,
    )
    assert held is None
    approval = _approval_of(bot, request)
    bot.driver.click(request, APPROVE, user="U_CAROL")
    closed = _closed(bot, request, "Not run")
    shown = _shown(closed)
    reason = "Order 10014 is busy: <@U_BOB> is running “Refresh order 10014”"
    assert "Approved by <@U_CAROL> at" in shown and "nothing ran: it could not start" in shown
    assert reason in _block_texts({"blocks": closed.blocks})  # a real mention, not escaped
    assert not _has_buttons(closed)
    assert reason in _dm(bot, "U_ALICE", "nothing ran")
    record = get_approval(bot.services.store, approval.id)
    assert record is not None and record.state == "failed"
    assert _writes(bot) == [] and not list_runs(bot.services.store)


def test_an_approved_request_whose_oms_check_fails_says_nothing_ran(bot: RunningBot) -> None:
    request = _request(bot)
    approval = _approval_of(bot, request)
    # The OMS fails every read of the orders while the approval checks them again.
    bot.sandbox.state.inject_fault("/rest/s1/oms/orders", "error500", 50)
    bot.driver.click(request, APPROVE, user="U_CAROL")
    closed = _closed(bot, request, "Not run")
    shown = _shown(closed)
    assert "Approved by <@U_CAROL> at" in shown and "nothing ran: it could not start" in shown
    assert "The OMS call" in shown and "failed" in shown
    assert not _has_buttons(closed)
    assert "The OMS call" in _dm(bot, "U_ALICE", "nothing ran")
    record = get_approval(bot.services.store, approval.id)
    assert record is not None and record.state == "failed"
    assert _writes(bot) == []


def test_an_approved_request_that_started_says_so(bot: RunningBot) -> None:
    request = _request(bot)
    bot.driver.click(request, APPROVE, user="U_CAROL")
    bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    closed = _closed(bot, request, "Approved")
    shown = _shown(closed)
    assert "Approved by <@U_CAROL> at" in shown and "and it started (run `" in shown
    assert "What it changes" in shown and not _has_buttons(closed)
    assert "it started" in _dm(bot, "U_ALICE", "<@U_CAROL> approved your request")
    assert _writes(bot) == ["10014"]


# ---- 2. one identical request at a time ----------------------------------------------------


def test_a_second_identical_request_points_to_the_pending_one(bot: RunningBot) -> None:
    first = _request(bot)
    link = f"/archives/C_APPROVALS/p{first.ts.replace('.', '')}"
    # Bob (an operator) asks for the same thing: he is pointed to Alice's request.
    again = text_of(bot.reply_post(bot.slash("approve 10014", user="U_BOB"), timeout=15).body)
    assert "is already waiting for approval: <@U_ALICE> asked for it" in again
    assert link in again and "Nothing new was asked" in again
    # Alice asking twice is told it is hers.
    mine = text_of(bot.reply_post(bot.slash("approve 10014", user="U_ALICE"), timeout=15).body)
    assert "already waiting for approval: You asked for it" in mine and link in mine
    assert len(_requests(bot)) == 1
    assert len(list_pending(bot.services.store, now=time.time())) == 1
    # Other parameters are another request.
    _request(bot, "approve 10015")
    assert len(_requests(bot)) == 2
    # Once the first is decided, the same request can be asked again.
    bot.driver.click(first, DENY, user="U_CAROL")
    _closed(bot, first, "Denied")
    renewed = _request(bot, "approve 10014", user="U_BOB")
    assert renewed.ts != first.ts
    assert len(list_pending(bot.services.store, now=time.time())) == 2


# ---- 3. the requester is told; expired requests lose their buttons -------------------------


def test_the_requester_is_told_of_a_denial_and_its_reason(bot: RunningBot) -> None:
    request = _request(bot)
    bot.driver.click(request, DENY, user="U_CAROL")
    closed = _closed(bot, request, "Denied")
    assert "Denied by <@U_CAROL> at" in _shown(closed) and not _has_buttons(closed)
    assert "Nothing ran" in _dm(bot, "U_ALICE", "<@U_CAROL> denied")
    view = bot.fake.wait_for(lambda: bot.fake.views() or None)[-1]
    bot.driver.submit_view(
        "oms:deny-reason",
        {"reason": {"reason": "Payment <!channel> disputed"}},
        view.view["private_metadata"],
        user="U_CAROL",
    )
    _dm(bot, "U_ALICE", "gave a reason")
    told = next(
        m for m in bot.fake.messages("D_U_ALICE") if "gave a reason" in m.text + str(m.blocks)
    )
    # The denier's words are shown as written, never as a channel-wide ping.
    assert "Payment &lt;!channel&gt; disputed" in _block_texts({"blocks": told.blocks})
    assert "<!channel>" not in told.text + _block_texts({"blocks": told.blocks})
    closed = bot.wait_message(
        lambda m: m.ts == request.ts and "Reason:" in _shown(m), channel="C_APPROVALS"
    )
    assert "Payment &lt;!channel&gt; disputed" in _block_texts({"blocks": closed.blocks})
    thread = bot.wait_message(
        lambda m: m.thread_ts == request.ts and "disputed" in m.text, channel="C_APPROVALS"
    )
    assert "<!channel>" not in thread.text


def test_an_expired_request_is_closed_by_the_sweep_and_the_requester_told(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, expiry=0.01))  # 0.6 s
    request = _request(bot)
    approval = _approval_of(bot, request)
    bot.fake.wait_for(lambda: time.time() > approval.expires_at)
    # Every replica sweeps on a timer; this runs the same sweep now.
    asyncio.run(bot.services.sweep())
    closed = _closed(bot, request, "Expired")
    assert "Nothing ran" in _shown(closed) and not _has_buttons(closed)
    assert "Ask again if it is still needed" in _dm(bot, "U_ALICE", "expired")


def test_an_expired_request_is_closed_when_it_expires_without_a_click_or_a_sweep(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, expiry=0.01))  # 0.6 s
    request = _request(bot)
    # The periodic sweep runs every 15 s here: well after this wait.
    closed = _closed(bot, request, "Expired", timeout=6)
    assert not _has_buttons(closed)
    _dm(bot, "U_ALICE", "expired")


# ---- 4. "Already handled by" shows the person ----------------------------------------------


def test_already_handled_names_the_person_with_a_real_mention(bot: RunningBot) -> None:
    request = _request(bot)
    bot.driver.click(request, APPROVE, user="U_CAROL")
    # Dave, also an approver, presses Deny on the message as he still had it.
    bot.driver.click(request, DENY, user="U_DAVE")
    refused = _refusal(bot, "U_DAVE", "Already handled by")
    assert "Already handled by <@U_CAROL> at" in _block_texts(refused)
    assert "&lt;@" not in _block_texts(refused)
    bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    assert _writes(bot) == ["10014"]


# ---- 5. the card's parameters are labelled -------------------------------------------------


def test_the_card_shows_labelled_parameters_not_json(bot: RunningBot) -> None:
    shown = _shown(_request(bot, "approve 10014 #1015"))
    assert "*Parameters*\n• Orders: 10014, 10015" in shown
    assert '{"orders"' not in shown and "order_keys" not in shown


def test_the_rollback_card_shows_the_store_and_its_shops(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    policy = tmp_path / "rollback-policy.toml"
    policy.write_text(ROLLBACK_POLICY)
    bot = make_bot(omsbot_policy=policy)
    bot.reply_post(bot.slash("rollback", user="U_ALICE"), timeout=15)
    request = bot.wait_message(lambda m: "Approval needed" in m.text, channel="C_APPROVALS")
    shown = _shown(request)
    assert "• Product store: STORE" in shown
    assert "• Shopify shops: 10000 (Demo Shop US), 10001 (Demo Shop CA)" in shown
    assert '"targets"' not in shown and "scope:" not in shown.split("*What will change*")[0]


def test_the_recovery_file_labels_the_product_of_an_order_item(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path, two_person=False)
    policy.write_text(
        policy.read_text()
        + "\n[limits]\nsync_poll_seconds = 0.05\nimport_quiet_seconds = 1\n"
        + "import_wait_minutes = 0.1\n"
    )
    bot = make_bot(omsbot_policy=policy)
    bot.sandbox.state.job_run_seconds = 0.0
    bot.sandbox.state.sync_delay_seconds = 0.0
    card = bot.reply_post(bot.slash("refresh 10004"), timeout=15)
    bot.driver.click_ephemeral(card, "oms:refresh.confirm#0")
    failed = bot.wait_message(lambda m: m.text.endswith(("finished", "failed")), timeout=30)
    bot.driver.click(failed, "oms:refresh.recover#0")
    files = bot.fake.wait_for(lambda: bot.fake.files() or None, timeout=15)
    content = files[0].content.decode()
    assert re.search(r"\| OrderItem \| 10004/\S+ \(product \S+\) \|", content), content


# ---- 6. an expired Approve names who can ask again -----------------------------------------


def test_pressing_an_expired_approve_names_the_requester_and_closes_the_request(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, expiry=0.01))  # 0.6 s
    request = _request(bot)
    approval = _approval_of(bot, request)
    bot.fake.wait_for(lambda: time.time() > approval.expires_at + 1)  # past the button too
    bot.driver.click(request, APPROVE, user="U_CAROL")
    refused = _refusal(bot, "U_CAROL", "expired at")
    shown = _block_texts(refused)
    assert "Only <@U_ALICE>, who asked for it, can ask again" in shown
    assert "Run the command again" not in text_of(refused)
    # The press closed the request at once, without waiting for the next sweep.
    closed = _closed(bot, request, "Expired")
    assert not _has_buttons(closed)
    assert _writes(bot) == []
