"""Issue 13 through the real endpoint: `/oms mdm`, `/oms order` and `/oms history` show times
as Slack dates (each reader's zone, a UTC fallback with the year), `--since` as typed, and
counts in the singular where there is one."""

from __future__ import annotations

import re

from bot.kit.durations import slack_time
from tests.conftest import RunningBot, gated, text_of

DATE = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|\d{4}-\d\d-\d\d \d\d:\d\d UTC>")


def _report(bot: RunningBot, command: str) -> str:
    bot.reply_post(bot.slash(command), timeout=15)
    report = bot.wait_message(lambda m: m.text.startswith("Shopify Order MDM"))
    return text_of(gated({"text": report.text, "blocks": report.blocks}))


def test_mdm_runs_show_slack_dates_and_the_window_in_days(bot: RunningBot) -> None:
    shown = _report(bot, "mdm --since 7d")
    logs = bot.sandbox.state.data.mdm_logs
    assert f"started {slack_time(logs[0].start_date_time)}" in shown
    assert re.search(r"started \d\d-\d\d \d\d:\d\d", shown) is None  # no "11-30 08:55"
    assert "(last 7 days)" in shown and "1w" not in shown


def test_one_mdm_run_is_one_run(bot: RunningBot) -> None:
    with bot.sandbox.state.lock:
        del bot.sandbox.state.data.mdm_logs[1:]
    shown = _report(bot, "mdm --since 7d")
    assert "Shopify Order MDM: 1 run," in shown and "1 runs" not in shown


def test_order_and_history_times_are_slack_dates(bot: RunningBot) -> None:
    order = text_of(gated(bot.reply_post(bot.slash("order 10002"), timeout=15).body))
    assert DATE.search(order.split("Order date")[1])
    assert " UTC\n" not in order.replace("UTC>", "")
    history = text_of(gated(bot.reply_post(bot.slash("history --since 7d")).body))
    assert "last 7 days" in history and "1w" not in history
