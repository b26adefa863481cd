"""Issue 15 over HTTP: the "Check this order" message shortcut, order-link unfurls with their
Check button, and the HotWax / Shopify admin links on every order card. Slack's real payloads
are sent signed to /slack/events; what the user sees is read from the fake Slack."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.sandbox import SandboxServer, tenant_named
from tests.conftest import SIGNING_SECRET, BotFactory, RunningBot, gated, text_of, write_policy
from tests.harness.fakeslack import Message, ResponsePost
from tests.harness.signing import signed_headers
from tests.surface.links_payloads import (
    link_shared,
    message_action,
    post_event,
    post_interactive,
    unfurl_click,
)

SHOP = "https://demo-shop.myshopify.com/admin/orders"
CHECK_BUTTON = "oms-command:check"


@pytest.fixture
def ops(make_bot: BotFactory, tmp_path: Path) -> RunningBot:
    return make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))


def _events(bot: RunningBot) -> str:
    return f"{bot.url}/slack/events"


def _hotwax(bot: RunningBot, order_id: str) -> str:
    return f"{bot.sandbox.url}/commerce/control/ViewOrder?orderId={order_id}"


def _shown(message: Message) -> str:
    return text_of(gated({"text": message.text, "blocks": message.blocks}))


def _thread(bot: RunningBot, ts: str, count: int, channel: str = "C_OPS") -> list[Message]:
    def ready() -> list[Message] | None:
        found = [m for m in bot.fake.messages(channel) if m.thread_ts == ts]
        return found if len(found) >= count else None

    return bot.fake.wait_for(ready, timeout=30)


def _idle(bot: RunningBot) -> None:
    """Wait until the bot has finished every task the requests started."""
    bot.fake.wait_for(lambda: bot.services.tasks.pending == 0 or None, timeout=30)


def _ephemeral(bot: RunningBot, payload: dict[str, Any]) -> dict[str, Any]:
    url = payload["response_url"]
    posts = bot.fake.wait_for(lambda: bot.fake.response_posts(url) or None, timeout=30)
    return gated(posts[-1].body)


# ---- the message shortcut ----------------------------------------------------------------------


def test_shortcut_checks_each_order_the_message_names_in_its_thread(ops: RunningBot) -> None:
    text = (
        f"Customer says <{_hotwax(ops, '10002')}|this order> and #1003 look wrong, "
        "cc <@U_CAROL> in <#C_OPS|oms-ops> at 10:30"
    )
    payload = message_action(ops.fake, text, ts="1764500000.000100")
    response = post_interactive(_events(ops), SIGNING_SECRET, payload)
    assert response.status_code == 200

    intro, first, second = _thread(ops, "1764500000.000100", 3)
    assert "<@U_ALICE> asked me to check 2 orders: `10002`, `#1003`" in _shown(intro)
    stuck, fine = _shown(first), _shown(second)
    assert "Check 10002" in stuck or "Check #1002" in stuck
    assert "Shopify shows it fulfilled" in stuck
    assert f"<{_hotwax(ops, '10002')}|HotWax order 10002>" in stuck
    assert "Looks fine: the order is Completed" in fine
    # The live version's HotWax page, and the Shopify admin page of the shop it came from.
    assert f"<{_hotwax(ops, '10013')}|HotWax order 10013>" in fine
    assert f"<{SHOP}/6100000000003|Shopify admin>" in fine
    # Only the user who used the shortcut got nothing ephemeral: the answer is in the thread.
    assert not ops.fake.response_posts(payload["response_url"])


def test_shortcut_on_a_message_without_references_says_so(ops: RunningBot) -> None:
    payload = message_action(ops.fake, "Lunch at 12:30 in room 4? <@U_BOB>")
    assert post_interactive(_events(ops), SIGNING_SECRET, payload).status_code == 200
    shown = text_of(_ephemeral(ops, payload))
    assert "found no order reference in that message, so nothing was checked" in shown
    assert "HotWax order ids (10002)" in shown
    _idle(ops)
    assert not ops.fake.messages("C_OPS")


def test_shortcut_payload_without_a_message_is_refused_plainly(ops: RunningBot) -> None:
    payload = message_action(ops.fake, "#1003")
    del payload["message"], payload["message_ts"]
    assert post_interactive(_events(ops), SIGNING_SECRET, payload).status_code == 200
    assert "from a message's menu" in text_of(_ephemeral(ops, payload))
    _idle(ops)
    assert not ops.fake.messages("C_OPS")


def test_shortcut_checks_at_most_five_and_names_the_rest(ops: RunningBot) -> None:
    text = "Stuck: 10002 10005 10009 #1003 #1008 #1007 and shopify:6100000000006"
    payload = message_action(ops.fake, text, ts="1764500000.000300")
    post_interactive(_events(ops), SIGNING_SECRET, payload)
    messages = _thread(ops, "1764500000.000300", 6)
    intro = _shown(messages[0])
    assert "check 5 orders: `10002`, `10005`, `10009`, `#1003`, `#1008`" in intro
    assert "names 7 orders; I check at most 5" in intro
    assert "Not checked: `#1007`, `6100000000006`" in intro
    assert "never placed" in _shown(messages[5])
    _idle(ops)
    assert len([m for m in ops.fake.messages("C_OPS") if m.thread_ts]) == 6


def test_shortcut_follows_the_policy_roles_of_check(make_bot: BotFactory, tmp_path: Path) -> None:
    policy = write_policy(tmp_path, two_person=False)
    policy.write_text(policy.read_text() + '\n[commands]\ncheck = ["operator"]\n')
    bot = make_bot(omsbot_policy=policy)
    payload = message_action(bot.fake, "Please look at #1003", user="U_CAROL")
    post_interactive(_events(bot), SIGNING_SECRET, payload)
    assert "operator" in text_of(_ephemeral(bot, payload))
    _idle(bot)
    assert not bot.fake.messages("C_OPS")
    assert not [r for r in bot.sandbox.state.requests("/rest/s1/oms/orders", "GET")]


def test_shortcut_where_the_bot_may_not_post_answers_the_user_alone(ops: RunningBot) -> None:
    payload = message_action(ops.fake, "what about #1003?", channel="C_RANDOM")
    post_interactive(_events(ops), SIGNING_SECRET, payload)
    url = payload["response_url"]

    def two() -> list[ResponsePost] | None:
        found = ops.fake.response_posts(url)
        return found if len(found) >= 2 else None

    posts = ops.fake.wait_for(two, timeout=30)
    shown = text_of(gated(posts[0].body)) + text_of(gated(posts[1].body))
    assert "I cannot post in this conversation" in shown
    assert "Looks fine: the order is Completed" in shown


# ---- order-link unfurls ------------------------------------------------------------------------


def test_order_links_unfurl_into_order_cards(ops: RunningBot) -> None:
    urls = [
        _hotwax(ops, "10013"),
        f"{SHOP}/6100000000002",
        "https://admin.shopify.com/store/demo-shop/orders/6100000000006",
        _hotwax(ops, "99999"),
        "https://other-shop.myshopify.com/admin/orders/6100000000003",
        f"{ops.sandbox.url}/commerce/control/main",
        "https://example.com/orders/10002",
    ]
    assert post_event(_events(ops), SIGNING_SECRET, link_shared(urls)).status_code == 200
    unfurl = ops.fake.wait_for(lambda: ops.fake.unfurls() or None, timeout=30)[0]
    assert (unfurl.channel, unfurl.ts) == ("C_OPS", "1764500000.000200")
    # Order pages of this OMS get a card; other pages and hosts are left to Slack.
    assert list(unfurl.unfurls) == urls[:5]
    cards = {url: text_of(gated({"text": "x", **card})) for url, card in unfurl.unfurls.items()}
    live = cards[urls[0]]
    assert "*Order #1003* · Completed · POS · store STORE · 2 versions" in live
    assert "`10003` Cancelled" in live
    assert f"<{SHOP}/6100000000003|Shopify admin>" in live
    assert "*Order #1002* · Created" in cards[urls[1]]
    assert "Shopify order `6100000000006`: not found in HotWax." in cards[urls[2]]
    assert "HotWax order `99999`: not found in HotWax." in cards[urls[3]]
    assert "`other-shop.myshopify.com` is not one of this HotWax OMS's shops" in cards[urls[4]]
    # Nothing of the customer: only what every order card shows.
    assert "@" not in "".join(cards.values()).replace("<@", "")


def test_links_the_bot_does_not_speak_for_are_not_unfurled(ops: RunningBot) -> None:
    urls = ["https://example.com/orders/10002", f"{ops.sandbox.url}/commerce/control/main"]
    assert post_event(_events(ops), SIGNING_SECRET, link_shared(urls)).status_code == 200
    # An order link in a channel the bot is not in is not unfurled either.
    elsewhere = link_shared([_hotwax(ops, "10013")], channel="C_RANDOM", bot_is_member=False)
    assert post_event(_events(ops), SIGNING_SECRET, elsewhere).status_code == 200
    # A malformed event changes nothing and answers 200 (Slack would retry anything else).
    broken = link_shared([_hotwax(ops, "10013")])
    broken["event"]["links"] = "not a list"
    assert post_event(_events(ops), SIGNING_SECRET, broken).status_code == 200
    _idle(ops)
    assert not ops.fake.unfurls()
    assert not ops.fake.calls("chat.unfurl")


def test_the_unfurl_check_button_checks_the_order_for_whoever_presses_it(
    ops: RunningBot,
) -> None:
    url = f"{SHOP}/6100000000003"
    post_event(_events(ops), SIGNING_SECRET, link_shared([url]))
    card = ops.fake.wait_for(lambda: ops.fake.unfurls() or None, timeout=30)[0].unfurls[url]
    for user in ("U_ALICE", "U_BOB"):  # the card is the channel's: anyone may press it
        click = unfurl_click(ops.fake, card["blocks"], url, CHECK_BUTTON, user=user)
        assert post_interactive(_events(ops), SIGNING_SECRET, click).status_code == 200
        shown = text_of(_ephemeral(ops, click))
        assert "Looks fine: the order is Completed" in shown and "acting on `10013`" in shown


def test_a_forged_check_button_gets_a_clear_answer(ops: RunningBot) -> None:
    url = f"{SHOP}/6100000000003"
    post_event(_events(ops), SIGNING_SECRET, link_shared([url]))
    card = ops.fake.wait_for(lambda: ops.fake.unfurls() or None, timeout=30)[0].unfurls[url]
    click = unfurl_click(ops.fake, card["blocks"], url, CHECK_BUTTON)
    click["actions"][0]["value"] = "shopify:61x"
    post_interactive(_events(ops), SIGNING_SECRET, click)
    assert "Not an order reference: 'shopify:61x'" in text_of(_ephemeral(ops, click))
    click = unfurl_click(ops.fake, card["blocks"], url, CHECK_BUTTON)
    click["actions"][0]["value"] = "'; drop"
    post_interactive(_events(ops), SIGNING_SECRET, click)
    assert "This button is not valid" in text_of(_ephemeral(ops, click))
    click = unfurl_click(ops.fake, card["blocks"], url, CHECK_BUTTON)
    click["actions"][0]["action_id"] = "oms-command:nosuch"
    post_interactive(_events(ops), SIGNING_SECRET, click)
    assert "This button is not valid" in text_of(_ephemeral(ops, click))
    # A command button never runs a command that changes the OMS.
    click = unfurl_click(ops.fake, card["blocks"], url, CHECK_BUTTON)
    click["actions"][0]["action_id"] = "oms-command:approve"
    click["actions"][0]["value"] = "10014"
    post_interactive(_events(ops), SIGNING_SECRET, click)
    assert "This button is not valid" in text_of(_ephemeral(ops, click))
    _idle(ops)
    assert not ops.sandbox.state.requests("/api/service/changeOrderStatus", "POST")


def test_the_unfurl_check_button_follows_the_policy_roles(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path, two_person=False)
    policy.write_text(policy.read_text() + '\n[commands]\ncheck = ["operator"]\n')
    bot = make_bot(omsbot_policy=policy)
    url = f"{SHOP}/6100000000003"
    post_event(_events(bot), SIGNING_SECRET, link_shared([url]))
    card = bot.fake.wait_for(lambda: bot.fake.unfurls() or None, timeout=30)[0].unfurls[url]
    click = unfurl_click(bot.fake, card["blocks"], url, CHECK_BUTTON, user="U_CAROL")
    post_interactive(_events(bot), SIGNING_SECRET, click)
    shown = text_of(_ephemeral(bot, click))
    assert "operator" in shown and "Looks fine" not in shown


# ---- links on the order cards ------------------------------------------------------------------


def test_order_cards_link_the_hotwax_page_and_the_shopify_admin(ops: RunningBot) -> None:
    shown = text_of(gated(ops.reply_post(ops.slash("order #1003"), timeout=15).body))
    assert f"<{_hotwax(ops, '10013')}|HotWax order 10013>" in shown
    assert f"<{_hotwax(ops, '10003')}|HotWax order 10003>" in shown
    assert f"<{SHOP}/6100000000003|Shopify admin>" in shown

    shown = text_of(gated(ops.reply_post(ops.slash("check #1006"), timeout=15).body))
    assert f"<{SHOP}/6100000000006|Shopify admin>" in shown and "HotWax order" not in shown

    shown = text_of(gated(ops.reply_post(ops.slash("refresh 10002"), timeout=15).body))
    assert "Refresh order 10002" in shown
    assert f"<{_hotwax(ops, '10002')}|HotWax order 10002>" in shown
    assert f"<{SHOP}/6100000000002|Shopify admin>" in shown

    # The import card's orders are not in HotWax yet: each links its Shopify admin page.
    shown = text_of(gated(ops.reply_post(ops.slash("import #1007"), timeout=15).body))
    assert f"<{SHOP}/6100000000007|6100000000007>" in shown


# ---- the manifest ------------------------------------------------------------------------------


def test_the_manifest_declares_the_shortcut_and_the_event_the_bot_listens_to(
    ops: RunningBot,
) -> None:
    manifest = (Path(__file__).parents[2] / "manifest.yml").read_text()
    declared = re.findall(r"^\s+callback_id: (\S+)$", manifest, flags=re.MULTILINE)
    assert declared == sorted(ops.services.shortcuts) == ["oms_check_message"]
    events = manifest.split("bot_events:", 1)[1].split("interactivity:", 1)[0]
    assert "- link_shared" in events
    assert "unfurl_domains:" in manifest and "- admin.shopify.com" in manifest


def test_a_moqui_only_tenant_links_the_order_manager_page(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Its OMS URL is its Maarg, which serves no OFBiz order page: the Order Manager app does.
    sandbox.state.tenant = tenant_named("moqui-only")
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    shown = text_of(gated(bot.reply_post(bot.slash("order #1003"), timeout=15).body))
    assert "<https://order-manager.hotwax.io/orders/10013|HotWax order 10013>" in shown
    assert "/commerce/control/ViewOrder" not in shown
    url = "https://order-manager.hotwax.io/orders/10013"
    post_event(f"{bot.url}/slack/events", SIGNING_SECRET, link_shared([url]))
    unfurl = bot.fake.wait_for(lambda: bot.fake.unfurls() or None, timeout=30)[0]
    assert "*Order #1003* · Completed" in text_of(gated({"text": "x", **unfurl.unfurls[url]}))


def test_a_link_with_an_invalid_port_does_not_spoil_the_other_cards(ops: RunningBot) -> None:
    host = ops.sandbox.url.rsplit(":", 1)[0]  # the OMS's own host, where the port is read
    bad = [
        f"{host}:99999/commerce/control/ViewOrder?orderId=10013",
        f"{host}:abc/commerce/control/ViewOrder?orderId=10013",
    ]
    good = [_hotwax(ops, "10013"), f"{SHOP}/6100000000002"]
    event = link_shared(good)
    event["event"]["links"] = [
        {"domain": "127.0.0.1", "url": url} for url in [bad[0], good[0], bad[1], good[1]]
    ]
    assert post_event(_events(ops), SIGNING_SECRET, event).status_code == 200
    unfurl = ops.fake.wait_for(lambda: ops.fake.unfurls() or None, timeout=30)[0]
    # The good links still get their cards; the broken ones are left to Slack.
    assert list(unfurl.unfurls) == good
    cards = [text_of(gated({"text": "x", **card})) for card in unfurl.unfurls.values()]
    assert "*Order #1003* · Completed" in cards[0]
    assert "*Order #1002* · Created" in cards[1]


def test_a_shortcut_redelivered_to_another_replica_posts_once(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path, two_person=False)
    one, other = make_bot(omsbot_policy=policy), make_bot(omsbot_policy=policy)
    payload = message_action(one.fake, "Is #1003 stuck?", ts="1764500000.000700")
    body = urlencode({"payload": json.dumps(payload)})
    first = httpx.post(_events(one), content=body, headers=signed_headers(SIGNING_SECRET, body))
    assert first.status_code == 200
    posted = _thread(one, "1764500000.000700", 2)
    _idle(one)
    # Slack saw no ack in time and sends the same envelope again, to the other replica.
    headers = signed_headers(SIGNING_SECRET, body)
    headers |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert httpx.post(_events(other), content=body, headers=headers).status_code == 200
    _idle(other)
    thread = [m for m in one.fake.messages("C_OPS") if m.thread_ts == "1764500000.000700"]
    assert len(thread) == len(posted) == 2
    assert not one.fake.response_posts(payload["response_url"])
