"""Buttons carry opaque tokens: first press wins, later and forged presses change nothing."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from psycopg.rows import TupleRow
from sqlalchemy.engine import make_url

from bot.store.audit import search
from bot.store.runs import list_runs
from tests.conftest import SIGNING_SECRET, BotFactory, RunningBot, text_of, write_policy
from tests.harness.driver import find_element
from tests.harness.signing import signed_headers
from tests.store_fixtures import postgres_url

__all__ = ["postgres_url"]

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
    # The reader sees the time in their own zone; the audit keeps its plain UTC fallback.
    assert re.search(r"at <!date\^\d+\^[^|]+\|\d{4}-\d\d-\d\d \d\d:\d\d UTC>", shown[0])
    rejected = [e.summary for e in search(bot.services.store) if e.outcome == "rejected"]
    assert rejected and all("<!date" not in s and " UTC" in s for s in rejected), rejected


def _waiting_for_the_tokens_table(watch: psycopg.Connection[TupleRow]) -> int:
    """How many sessions wait for a lock on this schema's action_tokens table."""
    row = watch.execute(
        "SELECT count(*) FROM pg_locks WHERE relation = 'action_tokens'::regclass AND NOT granted"
    ).fetchone()
    return int(row[0]) if row else 0


def test_a_double_click_on_two_replicas_is_decided_by_the_database(
    make_bot: BotFactory, tmp_path: Path, postgres_url: str
) -> None:
    policy = write_policy(tmp_path, two_person=False)
    first = make_bot(db_path=postgres_url, omsbot_policy=policy)
    second = make_bot(db_path=postgres_url, omsbot_policy=policy)
    card = first.reply_post(first.slash("approve 10014"))
    libpq = (
        make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with psycopg.connect(libpq, autocommit=True) as watch, psycopg.connect(libpq) as hold:
        # Reads of the tokens go on; every write to them waits until `hold` commits.
        hold.execute("LOCK TABLE action_tokens IN EXCLUSIVE MODE")
        # The same button pressed twice, each press reaching another replica (Slack acks at
        # once; the presses' work goes on in the bots).
        first.driver.click_ephemeral(card, CONFIRM)
        second.driver.click_ephemeral(card, CONFIRM)
        # Both presses read the token unused and passed every check; both now wait in the
        # one conditional UPDATE that consumes the group. Only the database can tell them apart.
        first.fake.wait_for(lambda: _waiting_for_the_tokens_table(watch) == 2, timeout=15)
        hold.commit()
    refusal = first.fake.wait_for(
        lambda: [t for t in _refusals(first, "U_ALICE") if "Already handled by" in t] or None,
        timeout=15,
    )
    assert "Already handled by <@U_ALICE>" in refusal[0]
    first.wait_message(lambda m: "finished" in m.text, timeout=15)
    confirmed = [p for p in first.fake.response_posts() if "Confirmed by" in text_of(p.body)]
    assert len(confirmed) == 1  # one press replaced the buttons and ran
    assert len(list_runs(first.services.store)) == 1
    assert _writes(first) == ["10014"]


def test_buttons_are_replaced_before_the_oms_is_called(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    # A long OMS timeout: while the sandbox is frozen below, an OMS call waits for it.
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False), oms_timeout=60)
    card = bot.reply_post(bot.slash("approve 10014"), timeout=15)
    # Freeze the OMS: the sandbox takes its state lock for every request it receives, so while
    # the test holds it no OMS call (read or write) gets an answer. A bot that called the OMS
    # before replacing the buttons would still be waiting, and no replacement would appear.
    with bot.sandbox.state.lock:
        bot.driver.click_ephemeral(card, CONFIRM)
        replaced = bot.fake.wait_for(
            lambda: (
                [
                    p
                    for p in bot.fake.response_posts()
                    if p.replace_original and "Confirmed by <@U_ALICE>" in text_of(p.body)
                ]
                or None
            )
        )
        assert not [b for b in replaced[0].blocks if b["type"] == "actions"]
    # The OMS answers again: the work the press started runs, and writes once.
    bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    assert _writes(bot) == ["10014"]


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
    # The refusal is sent after the press was audited: by now it is all the press did.
    clicks = [e for e in search(bot.services.store) if e.kind == "click"]
    assert [(e.actor, e.outcome) for e in clicks] == [("U_ALICE", "rejected")]
    assert list_runs(bot.services.store) == []  # no run started
    assert _writes(bot) == []


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
