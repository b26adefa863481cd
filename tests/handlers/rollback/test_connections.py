"""Which SystemMessageRemote the rollback blocks for each shop, and the check through Shopify
that it is blocked, through the real endpoint against the sandbox's shops and remotes.

The sandbox's shop 10000 names its connection with a ShopifyShopRemote link (purpose
SsctShopifyDefaultApp); shop 10001 has no link and is matched by its remote's metadata, as
HotWax's Company app matches it (docs/oms-api.md, "Rollback").
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.sandbox import stores as sandbox_stores
from tests.conftest import BotFactory, RunningBot, text_of
from tests.handlers.rollback.test_rollback import (
    APPROVE,
    RESUME,
    _all_puts,
    _bot,
    _remote_puts,
    _request,
    _rolled_back,
    _scopes,
    _shown,
)


def _legacy_remote(remote_id: str, shop_id: str, shopify_id: str | None) -> dict[str, Any]:
    """A second Shopify remote claiming a shop, as a stale connection would."""
    remote = {
        "systemMessageRemoteId": remote_id,
        "description": "Shopify (old app)",
        "sendUrl": "https://demo-shop-ca.myshopify.com",
        "internalId": shop_id,
        "internalIdType": "HOTWAX_SHOP_ID",
        "accessScopeEnumId": "SHOP_RW_ACCESS",
        "password": "shpat_sandboxstale4e1d0c",
    }
    if shopify_id:
        remote |= {"remoteId": shopify_id, "remoteIdType": "SHOPIFY_SHOP_ID"}
    return remote


def _everything_shown(bot: RunningBot) -> str:
    """Every text the fake Slack received: channel messages, ephemerals, response_url posts."""
    texts = [text_of({"text": m.text, "blocks": m.blocks}) for c in ("C_OPS", "C_APPROVALS")
             for m in bot.fake.messages(c)]  # fmt: skip
    texts += [text_of(p.body) for p in bot.fake.response_posts()]
    texts += [text_of({"text": e.text, "blocks": e.blocks}) for e in bot.fake.ephemerals()]
    return "\n".join(texts)


def test_a_shop_whose_remote_is_found_only_by_remote_id_is_rolled_back(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    # Shop 10001's remote carries no internalId: only remoteId = the shop's Shopify id says
    # it is the shop's (HotWax's own matcher accepts that).
    sandbox_stores.set_remote_field(bot.sandbox.state, "SHOP_CONFIG_10001", "internalId", None)
    request = _request(bot)
    shown = _shown(request)
    assert "shop 10001 (Demo Shop CA) access scope: `SHOP_RW_ACCESS` → `SHOP_NO_ACCESS`" in shown
    assert "shop 10000 → DEMO_SHOP_REMOTE, shop 10001 → SHOP_CONFIG_10001" in shown
    bot.driver.click(request, APPROVE, user="U_DAVE")
    done = _shown(_rolled_back(bot))
    assert "all 3 values read back at their targets" in done
    assert "via SHOP_CONFIG_10001: Shopify refused" in done
    assert _remote_puts(bot, "SHOP_CONFIG_10001") == [
        {"systemMessageRemoteId": "SHOP_CONFIG_10001", "accessScopeEnumId": "SHOP_NO_ACCESS"}
    ]
    assert _scopes(bot)["SHOP_CONFIG_10001"] == "SHOP_NO_ACCESS"


def test_two_remotes_matching_a_shop_refuse_the_rollback_before_any_write(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    state = bot.sandbox.state
    # Shop 10001 has no link, and two remotes claim it: by internalId and by remoteId.
    sandbox_stores.add_remote(state, _legacy_remote("SHOP_CONFIG_10001_OLD", "10001", None))
    reply = text_of(bot.reply_post(bot.slash("rollback", user="U_ALICE"), timeout=15).body)
    assert "Store STORE cannot be rolled back" in reply
    assert "Nothing was changed and no approval was asked" in reply
    assert (
        "shop 10001 (Demo Shop CA): 2 Shopify connections match it: SHOP_CONFIG_10001 "
        "(internalId = shop id, remoteId = Shopify shop id 60123456790); "
        "SHOP_CONFIG_10001_OLD (internalId = shop id)" in reply
    )
    assert "SsctShopifyDefaultApp" in reply
    time.sleep(0.3)
    assert not bot.fake.messages("C_APPROVALS") and _all_puts(bot) == []
    # The remotes list answers every column, credentials included: none reaches Slack.
    assert "shpat_" not in _everything_shown(bot)


def test_a_link_decides_over_a_stale_remote_claiming_the_same_shop(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    # An old remote claims shop 10000 by internalId and remoteId, and sorts first; the shop's
    # SsctShopifyDefaultApp link names DEMO_SHOP_REMOTE, which is the one publishers use.
    stale = _legacy_remote("A_LEGACY_SHOP_10000", "10000", "60123456789")
    sandbox_stores.add_remote(bot.sandbox.state, stale)
    request = _request(bot)
    assert "shop 10000 → DEMO_SHOP_REMOTE" in _shown(request)
    bot.driver.click(request, APPROVE, user="U_DAVE")
    done = _shown(_rolled_back(bot))
    assert "via DEMO_SHOP_REMOTE: Shopify refused" in done
    assert len(_remote_puts(bot, "DEMO_SHOP_REMOTE")) == 1
    assert _remote_puts(bot, "A_LEGACY_SHOP_10000") == []
    assert _scopes(bot)["A_LEGACY_SHOP_10000"] == "SHOP_RW_ACCESS"


def test_a_link_to_two_default_app_remotes_is_refused(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _bot(make_bot, tmp_path)
    state = bot.sandbox.state
    sandbox_stores.add_remote(state, _legacy_remote("SHOP_CONFIG_10000_B", "10000", None))
    links = [
        {"shopId": "10000", "systemMessageRemoteId": rid, "purposeTypeId": "SsctShopifyDefaultApp"}
        for rid in ("DEMO_SHOP_REMOTE", "SHOP_CONFIG_10000_B")
    ]
    sandbox_stores.set_shop_field(state, "10000", "shopRemotes", links)
    reply = text_of(bot.reply_post(bot.slash("rollback", user="U_ALICE"), timeout=15).body)
    assert "shop 10000 (Demo Shop US): 2 Shopify connections match it: DEMO_SHOP_REMOTE" in reply
    assert "SHOP_CONFIG_10000_B (ShopifyShopRemote link, purpose SsctShopifyDefaultApp)" in reply
    time.sleep(0.3)
    assert not bot.fake.messages("C_APPROVALS") and _all_puts(bot) == []


def test_a_second_remote_appearing_before_approval_stops_the_rollback(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    request = _request(bot)
    sandbox_stores.add_remote(
        bot.sandbox.state, _legacy_remote("SHOP_CONFIG_10001_OLD", "10001", None)
    )
    bot.driver.click(request, APPROVE, user="U_DAVE")
    note = bot.wait_message(lambda m: m.thread_ts == request.ts, channel="C_APPROVALS")
    shown = _shown(note)
    assert "nothing ran" in shown
    assert "ambiguous Shopify connection (SHOP_CONFIG_10001, SHOP_CONFIG_10001_OLD)" in shown
    assert _all_puts(bot) == []


def test_access_still_open_through_shopify_fails_the_run_and_resume_checks_again(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    state = bot.sandbox.state
    # The node serving the Shopify proxy keeps its cached remote at read-write access.
    sandbox_stores.stale_proxy_scope(state, "SHOP_CONFIG_10001", "SHOP_RW_ACCESS")
    request = _request(bot)
    bot.driver.click(request, APPROVE, user="U_DAVE")
    failed = bot.wait_message(lambda m: m.text == "Roll back store STORE: failed", timeout=20)
    shown = _shown(failed)
    assert "Shopify access is not confirmed blocked for every shop" in shown
    assert "shop 10001 (Demo Shop CA) via SHOP_CONFIG_10001: NOT blocked" in shown
    assert "via DEMO_SHOP_REMOTE: Shopify refused" not in shown.split("State of every")[0]
    # The OMS holds the new values; the run says so.
    assert (
        "shop 10001 (Demo Shop CA) access scope: changed (SHOP_RW_ACCESS → SHOP_NO_ACCESS)" in shown
    )
    assert _scopes(bot) == dict.fromkeys(
        ("DEMO_SHOP_REMOTE", "SHOP_CONFIG_10001"), "SHOP_NO_ACCESS"
    )
    # What the OMS received for the check: a proxy call through each shop's connection.
    checked = [
        r.params["systemMessageRemoteId"][0]
        for r in state.requests("/rest/s1/shopify/order/details", "GET")
    ]
    assert sorted(checked) == ["DEMO_SHOP_REMOTE", "SHOP_CONFIG_10001"]
    puts = len(_all_puts(bot))

    sandbox_stores.clear_failures(state)  # the cache catches up
    bot.driver.click(failed, RESUME, user="U_ALICE")
    done = _shown(_rolled_back(bot))
    assert "via SHOP_CONFIG_10001: Shopify refused" in done
    assert len(_all_puts(bot)) == puts  # Resume wrote nothing again
