"""Issue 13 through the real endpoint: digest times in the reader's zone (Slack's <!date> with
a UTC fallback, logInsights' zone-less first attempt read in the OMS user's zone), durations
echoed as typed, counts pluralised, admin links for every placed failure, unknown stores."""

from __future__ import annotations

import re
from pathlib import Path

from bot.kit.durations import fmt_time, slack_time
from tests.conftest import BotFactory, gated, text_of
from tests.handlers.digest.test_digests import digest_policy

DATE = re.compile(r"<!date\^(\d+)\^\{date_short_pretty\} \{time\}\|([^>]+ UTC)>")


def test_failed_shows_times_in_the_readers_zone_and_echoes_days(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    body = gated(bot.reply_post(bot.slash("failed --since 7d")).body)
    text = text_of(body)
    assert "last 7 days" in text and "1w" not in text
    # The hint to get every failure posts the same window, not the default day.
    assert "`/oms digest now --since 7d` posts this digest" in text
    # The window: two Slack dates, each with its UTC fallback.
    period = next(
        e["text"]
        for b in body["blocks"]
        if b["type"] == "context"
        for e in b["elements"]
        if "→" in e["text"]
    )
    since, until = DATE.findall(period)
    assert int(until[0]) - int(since[0]) == 7 * 86400
    assert fmt_time(float(until[0])) == until[1]
    # logInsights' firstAttemptedImport names no zone: it is the OMS user's (the sandbox's
    # profile says America/New_York), so the moment shown is the failure's own first attempt,
    # not its wall-clock text read as UTC.
    failures = bot.sandbox.state.data.failures
    newest = max(failures, key=lambda f: f.first_attempted)
    assert f"first attempted {slack_time(newest.first_attempted)}" in text
    assert f"{newest.first_attempted:%B}" not in text  # never HotWax's raw "November 29, …"
    assert re.search(r"\b[AP]M\b", text) is None


def test_digest_links_logInsights_failures_to_the_order_in_the_shopify_admin(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    text = text_of(gated(bot.reply_post(bot.slash("failed --since 7d")).body))
    failures = bot.sandbox.state.data.failures
    newest = max(failures, key=lambda f: f.timestamp)
    # logInsights names the shop (its `site`) but no order id: the bot asks that shop's
    # Shopify for the order by name and links the admin page, never the status page.
    assert (
        f"<https://demo-shop.myshopify.com/admin/orders/{newest.shopify_order_id}|"
        f"{newest.shopify_order_name}>"
    ) in text
    assert "authenticate?key=" not in text
    lookups = [
        r.body
        for r in bot.sandbox.state.requests("/rest/s1/shopify/graphql", "POST")
        if isinstance(r.body, dict)
    ]
    assert lookups and all(b["systemMessageRemoteId"] == "DEMO_SHOP_REMOTE" for b in lookups)


def test_failed_with_an_unknown_store_lists_the_stores(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    text = text_of(gated(bot.reply_post(bot.slash("failed --store nope")).body))
    assert "No failed imports" not in text
    assert "There is no product store nope in the OMS" in text
    assert "OUTLET (Outlet Store), STORE (Demo Store)" in text


def test_the_schedules_list_counts_and_times(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    body = gated(bot.reply_post(bot.slash("digest")).body)
    assert body["text"] == "1 digest schedule"
    text = text_of(body)
    assert "window 7 days" in text and "grace 10 minutes" in text
    assert DATE.search(text.split("Next run:")[1])
