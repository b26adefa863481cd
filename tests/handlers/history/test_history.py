"""`/oms history`: the newest audit entries with who, what, outcome and a link, filtered."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bot.store.audit import AuditEvent, append
from tests.conftest import BotFactory, RunningBot, text_of, write_policy


def _history(bot: RunningBot, text: str, user: str = "U_ALICE") -> str:
    return text_of(bot.reply_post(bot.slash(text, user=user)).body)


def _settle(bot: RunningBot) -> None:
    """Wait until the audit writes that follow the acks have landed."""
    time.sleep(0.3)
    bot.fake.wait_for(lambda: bot.services.tasks.pending == 0 or None)


def test_history_filters(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    store = bot.services.store
    # An old entry, from before the --since window.
    append(
        store,
        AuditEvent(
            kind="command",
            actor="U_BOB",
            outcome="ok",
            summary="/oms order 10002 (last month)",
            order_keys=("10002",),
            command="/oms order 10002",
        ),
        time.time() - 30 * 86400,
    )
    bot.replies(bot.slash("order 10002", user="U_ALICE"))
    bot.replies(bot.slash("order 10013", user="U_BOB"))
    bot.ack("approve 10005", user="U_CAROL")  # refused: Carol is no operator
    bot.replies(bot.slash("approve 10005", user="U_BOB"))  # fails: payment not authorised
    _settle(bot)

    everything = _history(bot, "history")
    assert "<@U_CAROL>" in everything and "refused" in everything
    assert everything.index("approve 10005") < everything.index("/oms order 10002")  # newest first

    about = _history(bot, "history 10002")
    assert "/oms order 10002" in about and "10013" not in about
    assert "last month" in about

    recent = _history(bot, "history 10002 --since 7d")
    assert "/oms order 10002" in recent and "last month" not in recent

    mine = _history(bot, "history --mine", user="U_BOB")
    assert "<@U_BOB>" in mine and "<@U_ALICE>" not in mine and "<@U_CAROL>" not in mine

    failed = _history(bot, "history --failed")
    assert "<@U_CAROL>" in failed and "needs the *operator* role" in failed
    assert "/oms order 10002" not in failed


def test_history_by_shopify_name_finds_every_version(bot: RunningBot) -> None:
    bot.replies(bot.slash("order 10003"))
    bot.replies(bot.slash("order 10013"))
    _settle(bot)
    shown = _history(bot, "history #1003")
    assert "order 10003" in shown and "order 10013" in shown


def test_history_links_to_the_slack_message(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    card = bot.reply_post(bot.slash("approve 10014"))
    bot.driver.click_ephemeral(card, "oms:approve.confirm#0")
    done = bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    _settle(bot)
    shown = _history(bot, "history 10014")
    assert f"/archives/C_OPS/p{done.ts.replace('.', '')}" in shown
    assert "Approve order 10014" in shown
    # The click's row names the person with a real mention, not the escaped `&lt;@U_ALICE&gt;`.
    raw = json.dumps(bot.reply_post(bot.slash("history 10014")).body)
    assert "Confirmed by <@U_ALICE>" in raw and "&lt;@" not in raw, raw


def test_history_with_nothing_to_show(bot: RunningBot) -> None:
    assert "No audit entries match (order 99999, failed)" in _history(bot, "history 99999 --failed")


def test_history_bad_since(bot: RunningBot) -> None:
    shown = text_of(bot.ack("history --since forever"))
    assert "`forever` is not a duration" in shown and "Usage:" in shown
