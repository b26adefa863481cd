"""Where the failed-import digest reads from: the Shopify order MDM and, where the tenant has
it, logInsights; each order once; `--store` as a product store; logInsights' 60 days; and no
customer data in Slack or the logs. Through signed HTTP against the sandbox."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bot.sandbox import DEMO_API_TOKEN, SandboxServer
from bot.sandbox.data import shopify_payload
from bot.sandbox.records import ImportFailure, MdmFailedRecord, MdmLog, ShopifyOrder
from bot.sandbox.tenant import DEFAULT, tenant_named, variant
from tests.conftest import BotFactory, RunningBot, gated, text_of
from tests.fault_fixtures import captured_logs
from tests.handlers.digest.test_digests import digest_policy, logins_pages

UPDATE = "UPDATE_SHOPIFY_ORDER"
EMAIL_ERROR = "E-mail address not formatted correctly, must be like: name@domain"
# A customer only the added MDM record carries: none of it may reach Slack or a log line.
CUSTOMER = {
    "email": "marguerite.okafor-9137@example.net",
    "phone": "+44 20 7946 0321",
    "address1": "77 Quarry Lane",
    "city": "Tarrowby",
    "zip": "TB4 9QX",
}


def _failed(bot: RunningBot, text: str) -> str:
    return text_of(gated(bot.reply_post(bot.slash(text), timeout=15).body))


def _shopify_order(number: int, minutes_ago: int, now: datetime) -> ShopifyOrder:
    created = now - timedelta(minutes=minutes_ago)
    return ShopifyOrder(
        shopify_id=f"63{number:011d}",
        name=f"#{number}",
        created_at=created,
        updated_at=created,
        source_name="web",
        fulfillment_status=None,
        financial_status="paid",
        email=CUSTOMER["email"],
        phone=CUSTOMER["phone"],
        shipping_address={k: CUSTOMER[k] for k in ("address1", "city", "zip")},
        total_price=Decimal("40.00"),
        line_items=[{"sku": "HCT-1", "title": "Harbor Canvas Tote", "quantity": 1}],
    )


def _add_update_log(sandbox: SandboxServer) -> None:
    """An UPDATE_SHOPIFY_ORDER log two hours ago that failed three orders: #3999 (only here),
    #2003 (also in logInsights) and #1006 (also in the seeded SYNC log and logInsights)."""
    state = sandbox.state
    with state.lock:
        now = state.now()
        noise = next(f for f in state.data.failures if f.shopify_order_name == "#2003")
        missing = state.data.shopify["6100000000006"]
        mine = _shopify_order(3999, 130, now)
        logged = _shopify_order(2003, 130, now)
        logged.shopify_id = noise.shopify_order_id
        records = [
            MdmFailedRecord(o.shopify_id, o.name, EMAIL_ERROR, shopify_payload(o))
            for o in (mine, logged, missing)
        ]
        start = now - timedelta(hours=2)
        state.data.mdm_logs.append(
            MdmLog(
                log_id="DML_UPDATE_1",
                config_id=UPDATE,
                status_id="DmlsFailed",
                created_date=start,
                start_date_time=start,
                finish_date_time=start + timedelta(seconds=30),
                failed_records=records,
                processed_orders=[r.payload for r in records],
            )
        )


def test_an_mdm_only_tenant_reads_the_mdm_and_never_logInsights(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # A Moqui-only tenant: Maarg alone, no OFBiz solr-query, failed imports only in the MDM.
    sandbox.state.tenant = tenant_named("moqui-only")
    bot = make_bot(omsbot_policy=digest_policy(tmp_path), oms_api_token=DEMO_API_TOKEN)
    text = _failed(bot, "failed --since 7d")
    assert "1 failed import" in text and "|#1006> · failed" in text
    # The MDM names no shop and the OMS has two: the shop is the one whose Shopify has it.
    assert "<https://demo-shop.myshopify.com/admin/orders/6100000000006|#1006>" in text
    assert "Customer address or phone missing" in text
    assert "from Shopify order MDM (SYNC_ and UPDATE_SHOPIFY_ORDER)" in text
    assert "logInsights" not in text
    assert sandbox.state.requests("/api/solr-query") == []
    details = [  # the digest's reads, not the tenant profile's one-row probe
        r
        for r in sandbox.state.requests("/rest/s1/admin/dataManager/details", "GET")
        if r.params.get("pageSize") != ["1"]
    ]
    assert {r.params["configId"][0] for r in details} == {"SYNC_SHOPIFY_ORDER", UPDATE}
    assert all(r.params["orderByField"] == ["-createdDate"] for r in details)


def test_a_tenant_whose_solr_has_no_logInsights_core_still_gets_the_mdm(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # OFBiz is there, but its Solr has no logInsights core: the bot is told so by Solr.
    sandbox.state.tenant = variant(DEFAULT, loginsights=False)
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    text = _failed(bot, "failed --since 7d")
    assert "1 failed import" in text and "#1006" in text
    assert "logInsights could not be read (No such core: logInsights)" in text
    assert "from Shopify order MDM (SYNC_ and UPDATE_SHOPIFY_ORDER)" in text
    assert "and logInsights" not in text


def test_both_sources_count_each_failed_order_once(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    _add_update_log(sandbox)
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    logged = {f.shopify_order_name for f in sandbox.state.data.failures}
    assert len(logged) == 31 and "#2003" in logged and "#1006" in logged
    reply = text_of(bot.reply_post(bot.slash("digest now --since 7d")).body)
    assert "Posted" in reply
    digest = bot.wait_message(lambda m: m.thread_ts is None and "failed imports" in m.text)
    # 31 logged orders, #3999 only in the MDM; #1006 and #2003 are in both, #1006 twice in
    # the MDM: 32 failed orders.
    assert "32 failed imports" in digest.text
    upload = bot.fake.wait_for(lambda: bot.fake.files() or None)[0]
    rows = list(csv.DictReader(io.StringIO(upload.content.decode("utf-8"))))
    names = [r["shopify_order_name"] for r in rows]
    assert len(rows) == 32 and len(set(names)) == 32 and "#3999" in names
    by_name = {r["shopify_order_name"]: r for r in rows}
    assert by_name["#1006"]["source"] == "mdm"
    assert by_name["#1006"]["shopify_order_id"] == "6100000000006"
    assert by_name["#2003"]["source"] == "mdm" and by_name["#2003"]["error_message"] == EMAIL_ERROR
    assert by_name["#2004"]["source"] == "logInsights"
    assert by_name["#2004"]["shop"] == "demo-shop.myshopify.com"
    assert by_name["#3999"]["reference"] == "MDM log DML_UPDATE_1 record 1"


def _add_eu_store(sandbox: SandboxServer) -> None:
    """Product store EU with shop 10002 (demo-shop-eu.myshopify.com) and two failures there."""
    state = sandbox.state
    with state.lock:
        now = state.now()
        state.stores.product_stores["EU"] = {
            **state.stores.product_stores["STORE"],
            "productStoreId": "EU",
            "storeName": "Europe Store",
        }
        state.stores.shops["10002"] = {
            "shopId": "10002",
            "shopifyShopId": "60123456791",
            "myshopifyDomain": "demo-shop-eu.myshopify.com",
            "name": "Demo Shop EU",
            "productStoreId": "EU",
            "isEnabled": "Y",
        }
        for n, minutes in ((4001, 30), (4002, 90)):
            moment = now - timedelta(minutes=minutes)
            state.data.failures.append(
                ImportFailure(
                    document_id=f"7e57e0a1-0000-4000-8000-00000000{n}",
                    shopify_order_id=f"64{n:011d}",
                    shopify_order_name=f"#EU{n}",
                    order_created=moment,
                    first_attempted=moment,
                    timestamp=moment,
                    error_message=EMAIL_ERROR,
                    version=n,
                    shop_domain="demo-shop-eu.myshopify.com",
                    shopify_shop_id="60123456791",
                )
            )


def test_store_is_a_product_store_mapped_to_its_shops_domains(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    _add_eu_store(sandbox)
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    eu = _failed(bot, "failed --since 7d --store EU")
    assert "2 failed imports" in eu and "#EU4001" in eu and "#EU4002" in eu
    assert "· EU" in eu
    # The MDM names no shop, and the OMS has shops of other stores: it is left out, and said.
    assert "its failed records are left out here" in eu
    store = _failed(bot, "failed --since 7d --store STORE")
    assert "31 failed imports" in store and "#EU4001" not in store
    every = _failed(bot, "failed --since 7d")
    assert "33 failed imports" in every
    assert "left out" not in every
    # logInsights was asked for the window only; the shops were told apart by `site`.
    assert all(len(p["filter"]) == 1 for p in logins_pages(sandbox))


def test_an_unknown_store_lists_the_product_stores(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    _add_eu_store(sandbox)
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    text = _failed(bot, "failed --store demo-shop")
    assert "There is no product store demo-shop in the OMS" in text
    assert (
        "The product stores are: EU (Europe Store), OUTLET (Outlet Store), STORE (Demo Store)"
        in (text)
    )
    text = _failed(bot, "digest now --store NOPE")
    assert "There is no product store NOPE in the OMS" in text
    assert not bot.fake.messages("C_OPS")


def test_a_window_older_than_60_days_says_logInsights_has_no_data_that_old(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    old = _failed(bot, "failed --since 90d")
    assert "logInsights keeps failed imports for 60 days: it has no data older than" in old
    previous = _failed(bot, "failed --since 40d")
    assert "the previous window reaches back before" in previous
    assert "logInsights keeps" not in _failed(bot, "failed --since 7d")
    # An MDM-only tenant has no such limit to state.
    sandbox.state.tenant = tenant_named("moqui-only")
    moqui = make_bot(
        omsbot_policy=digest_policy(tmp_path),
        oms_api_token=DEMO_API_TOKEN,
        db_path=tmp_path / "m.db",
    )
    assert "logInsights keeps" not in _failed(moqui, "failed --since 90d")


def _slack_text(bot: RunningBot) -> str:
    """Everything the fake Slack received: Web API calls, response_url posts, files."""
    parts = [json.dumps(call.body, default=str) for call in bot.fake.calls()]
    parts += [json.dumps(post.body) for post in bot.fake.response_posts()]
    parts += [f.content.decode("utf-8", "replace") for f in bot.fake.files()]
    return "\n".join(parts)


def test_no_customer_data_reaches_slack_or_a_log_line(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    _add_update_log(sandbox)
    customers: set[str] = set(CUSTOMER.values())
    with sandbox.state.lock:
        for order in sandbox.state.data.shopify.values():
            customers |= {v for v in (order.email, order.phone) if v}
            customers |= {str(v) for v in (order.shipping_address or {}).values()}
    # Short codes and bare numbers (a province, a zip) also occur by chance in timestamps
    # and ids: the distinctive values stand for them.
    customers = {c for c in customers if len(c) >= 6 and not c.isdigit()}
    with captured_logs() as logs:
        bot = make_bot(omsbot_policy=digest_policy(tmp_path))
        _failed(bot, "failed --since 7d")
        bot.reply_post(bot.slash("digest now --since 7d"))
        bot.fake.wait_for(lambda: bot.fake.files() or None)
        logged = "\n".join(logs.messages())
    shown = _slack_text(bot)
    # The orders are named, with their ids and errors...
    assert "#3999" in shown and "6300000003999" in shown and EMAIL_ERROR in shown
    # ... and nothing of their customers is, anywhere.
    leaked = {c for c in customers if c in shown}
    assert not leaked, f"customer data in Slack: {leaked}"
    leaked = {c for c in customers if c in logged}
    assert not leaked, f"customer data in the logs: {leaked}"
    # Nor logInsights' order status page URLs, which carry the order's token.
    assert "authenticate?key=" not in shown


def test_a_logInsights_that_is_down_is_an_error_not_a_smaller_digest(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # The profile's probe of logInsights could not reach it: the digest still asks it, and
    # says it failed, instead of quietly leaving its failures out.
    sandbox.state.inject_fault("/api/solr-query", "unavailable", 1000)
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    text = _failed(bot, "failed --since 7d")
    assert "“list failed Shopify order imports (logInsights)” failed" in text
    assert "HTTP 503 Service Unavailable" in text and "Nothing was changed" in text
    assert "could not be read" not in text


def _logged(number: int, moment: datetime) -> ImportFailure:
    return ImportFailure(
        document_id=f"7e57e0a1-0000-4000-8000-{number:06d}{moment:%H%M%S}",
        shopify_order_id=f"65{number:011d}",
        shopify_order_name=f"#{number}",
        order_created=moment,
        first_attempted=moment,
        timestamp=moment,
        error_message=EMAIL_ERROR,
        version=number,
    )


def test_the_window_before_is_counted_while_the_window_is_read(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Three orders failed in the last day (#5001 twice), five the day before; no MDM logs.
    state = sandbox.state
    with state.lock:
        now = state.now()
        hours = {5001: (2, 3), 5002: (5,), 5003: (20,)}
        hours |= {5101 + i: (26 + 5 * i,) for i in range(5)}
        failures = [_logged(n, now - timedelta(hours=h)) for n, hs in hours.items() for h in hs]
        state.data.failures[:] = sorted(failures, key=lambda f: f.timestamp, reverse=True)
        state.data.mdm_logs.clear()
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    _failed(bot, "failed --since 24h")  # the tenant profile and the login, learned once
    state.clear_requests()
    state.latency = 0.1  # every read takes a while, so which went out first is plain
    text = _failed(bot, "failed --since 24h")
    assert "3 failed imports" in text
    assert ":arrow_down: 2 (40%) vs 5 in the previous window" in text
    # The window before's first read went out before this window's logInsights page, which
    # comes after its MDM reads: the two windows were read at once.
    sent = [
        r.params.get("createdDate_from", ["solr"])[0]
        for r in state.requests()
        if r.path in ("/rest/s1/admin/dataManager/details", "/api/solr-query")
    ]
    windows = sorted(s for s in set(sent) if s != "solr")
    assert len(windows) == 2, sent  # each window's MDM reads name its start
    assert sent.index(windows[0]) < sent.index("solr"), sent
