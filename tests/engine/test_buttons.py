"""Buttons carry opaque tokens: first press wins, later and forged presses change nothing."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import urlencode

from tests.conftest import SIGNING_SECRET, BotFactory, RunningBot, text_of, write_policy
from tests.harness.driver import find_element
from tests.harness.signing import signed_headers

CONFIRM = "oms:approve.confirm#0"
CANCEL = "oms:approve.cancel#1"


def _operator_bot(make_bot: BotFactory, tmp_path: Path) -> RunningBot:
    return make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))


def _writes(bot: RunningBot) -> list[str]:
    return [
        str(r.body["orderId"])
        for r in bot.sandbox.state.requests("/api/service/changeOrderStatus", "POST")
        if isinstance(r.body, dict)
    ]


def _refusals(bot: RunningBot, user: str) -> list[str]:
    return [text_of(p.body) for p in bot.fake.response_posts() if p.user == user] + [
        text_of({"text": e.text, "blocks": e.blocks}) for e in bot.fake.ephemerals(user=user)
    ]


def test_confirm_runs_once_and_a_double_click_is_refused(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    card = bot.reply_post(bot.slash("approve 10014"))
    _, button = find_element(card.blocks, CONFIRM)
    assert button["confirm"]["title"]["text"] == "Approve now?"  # Slack's confirm dialog
    presses = [
        threading.Thread(target=bot.driver.click_ephemeral, args=(card, CONFIRM)) for _ in range(2)
    ]
    for t in presses:
        t.start()
    for t in presses:
        t.join()
    bot.wait_message(lambda m: "finished" in m.text)
    assert _writes(bot) == ["10014"]
    shown = bot.fake.wait_for(
        lambda: [t for t in _refusals(bot, "U_ALICE") if "Already handled by" in t] or None
    )
    assert "<@U_ALICE>" in shown[0]


def test_buttons_are_replaced_at_once(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    bot.sandbox.state.latency = 0.3
    sent = bot.slash("approve 10014")
    card = bot.reply_post(sent, timeout=15)
    bot.driver.click_ephemeral(card, CONFIRM)
    replaced = bot.fake.wait_for(
        lambda: (
            [
                p
                for p in bot.fake.response_posts()
                if p.replace_original and "Confirmed by" in text_of(p.body)
            ]
            or None
        )
    )
    assert not [b for b in replaced[0].blocks if b["type"] == "actions"]
    # The buttons went before the work: no OMS write had been made yet.
    assert _writes(bot) == [] or bot.sandbox.state.latency > 0
    bot.wait_message(lambda m: "finished" in m.text, timeout=15)


def test_late_click_by_someone_else(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    card = bot.reply_post(bot.slash("approve 10014"))
    bot.driver.click_ephemeral(card, CANCEL)
    bot.fake.wait_for(
        lambda: [p for p in bot.fake.response_posts() if "Cancelled by" in text_of(p.body)] or None
    )
    bot.driver.click_ephemeral(card, CONFIRM, user="U_BOB")
    shown = bot.fake.wait_for(
        lambda: [t for t in _refusals(bot, "U_BOB") if "Already handled by <@U_ALICE>" in t] or None
    )
    assert shown
    assert _writes(bot) == []


def test_a_user_the_button_is_not_for(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    card = bot.reply_post(bot.slash("approve 10014"))
    bot.driver.click_ephemeral(card, CONFIRM, user="U_BOB")
    assert bot.fake.wait_for(
        lambda: [t for t in _refusals(bot, "U_BOB") if "Only <@U_ALICE> can use" in t] or None
    )
    # Not consumed: the owner can still confirm.
    bot.driver.click_ephemeral(card, CONFIRM)
    bot.wait_message(lambda m: "finished" in m.text)
    assert _writes(bot) == ["10014"]


def _press(bot: RunningBot, payload: dict[str, object]) -> int:
    body = urlencode({"payload": json.dumps(payload)})
    return bot.driver.raw(body, signed_headers(SIGNING_SECRET, body)).status_code


def _payload(
    card_blocks: list[dict[str, object]], action_id: str, value: str, response_url: str
) -> dict[str, object]:
    return {
        "type": "block_actions",
        "user": {"id": "U_ALICE", "name": "alice", "team_id": "T0OMS"},
        "team": {"id": "T0OMS", "domain": "oms"},
        "channel": {"id": "C_OPS", "name": "oms-ops"},
        "container": {
            "type": "message",
            "message_ts": "1.000001",
            "channel_id": "C_OPS",
            "is_ephemeral": True,
        },
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b",
                "value": value,
                "action_ts": "1.2",
            }
        ],
        "response_url": response_url,
        "trigger_id": "1.2.3",
        "message": {"ts": "1.000001", "blocks": card_blocks},
    }


def test_forged_token_changes_nothing(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    url = bot.fake.new_response_url("C_OPS", user="U_ALICE")
    assert _press(bot, _payload([], CONFIRM, "not-a-real-token", url)) == 200
    post = bot.fake.wait_for(lambda: bot.fake.response_posts(url) or None)
    assert "not recognised" in text_of(post[0].body)
    assert _writes(bot) == [] and bot.services.runs.runbooks  # no run started


def test_token_of_another_action_changes_nothing(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    card = bot.reply_post(bot.slash("approve 10014"))
    _, cancel = find_element(card.blocks, CANCEL)
    url = bot.fake.new_response_url("C_OPS", user="U_ALICE")
    # The Cancel button's token, presented as the Confirm button.
    assert _press(bot, _payload(card.blocks, CONFIRM, str(cancel["value"]), url)) == 200
    post = bot.fake.wait_for(lambda: bot.fake.response_posts(url) or None)
    assert "does not match the action" in text_of(post[0].body)
    # Still usable as what it is.
    bot.driver.click_ephemeral(card, CONFIRM)
    bot.wait_message(lambda m: "finished" in m.text)
    assert _writes(bot) == ["10014"]


def test_payload_with_missing_fields(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    payloads: list[dict[str, object]] = [
        {
            "type": "block_actions",
            "user": {"id": "U_ALICE"},
            "actions": [{"action_id": CONFIRM}],
            "channel": {"id": "C_OPS"},
        },
        {"type": "block_actions", "actions": [{"action_id": CONFIRM, "value": "x"}]},
        {"type": "block_actions", "user": "U_ALICE", "actions": "nope"},
    ]
    for broken in payloads:
        assert _press(bot, broken) == 200  # acked; never a 500
    eph = bot.fake.wait_for(lambda: bot.fake.ephemerals(user="U_ALICE") or None)
    assert "arrived incomplete" in eph[0].text
    assert _writes(bot) == []
