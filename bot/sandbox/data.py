"""Seeded, deterministic scenarios: one per runbook branch, plus background noise.

Every date is relative to the `now` given to seed(), so a test that fixes `now` sees the same
data on every run. Randomness (for the background import failures) uses a fixed seed.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.sandbox.reconcile_data import too_recent_order
from bot.sandbox.records import (
    IdentificationRecord,
    ImportFailure,
    ItemRecord,
    JobParameter,
    JobRunRecord,
    MdmFailedRecord,
    MdmLog,
    OrderRecord,
    PaymentRecord,
    Scenario,
    SeedData,
    ServiceJobRecord,
    ShopifyOrder,
    StatusRecord,
)

DEMO_USERNAME = "demo.ops"
DEMO_PASSWORD = "hotwax-demo"
# Looks like the JWT an OMS admin creates under Settings > "Create JWT Token"; it is only
# ever compared as an opaque string.
DEMO_API_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJkZW1vLmludGVncmF0aW9uIiwiaXNzIjoib21zLWJvdC1zYW5kYm94In0."
    "c2FuZGJveC1zaWduYXR1cmUtbm90LWEtc2VjcmV0"
)
DEMO_API_USER = "demo.integration"
SHOP_DOMAIN = "demo-shop.myshopify.com"
DEMO_SHOPIFY_SHOP_ID = "60123456789"  # the shop's own id in Shopify (ShopifyShop.shopifyShopId)
# The shop's SystemMessageRemote (the Shopify connection Maarg's Shopify proxy calls through)
# and its order-sync ServiceJob, cloned from template queue_ShopifyOrderSync for shop 10000.
DEMO_SHOPIFY_REMOTE = "DEMO_SHOP_REMOTE"
DEMO_ORDER_SYNC_JOB = "queue_ShopifyOrderSync_10000"
SYNC_SHOPIFY_ORDER = "SYNC_SHOPIFY_ORDER"  # the MDM config of new Shopify orders
UPDATE_SHOPIFY_ORDER = "UPDATE_SHOPIFY_ORDER"  # ... and of orders already in HotWax

CONTACT_MECH_ERROR = (
    "Could not complete the createOrderContactMech process: The following required parameter "
    "is missing: [createOrderContactMech.contactMechId]"
)
MISSING_ADDRESS_ERROR = (
    "Order import failed: the customer address is missing (no shipping address on the "
    "Shopify order), so createOrderContactMech has no contactMechId"
)

SCENARIOS: list[Scenario] = [
    Scenario(
        "pos-refresh-ok",
        "POS order 10002 (#1002) imported while Shopify had not fulfilled it yet; it is stuck in "
        "ORDER_CREATED while Shopify now says fulfilled. A refresh works.",
        "10002",
    ),
    Scenario(
        "pos-refreshed",
        "POS order #1003 already refreshed: old version 10003 ORDER_CANCELLED and new version "
        "10013 ORDER_COMPLETED share Shopify id 6100000000003.",
        "#1003",
    ),
    Scenario(
        "pos-refresh-contactmech",
        "POS order 10004 (#1004), fulfilled in Shopify but with no shipping address there: a "
        "refresh, or a re-import while only its cancelled version exists, fails with the "
        "createOrderContactMech error; once the old version is deleted a fresh import works "
        "(a POS order needs no address).",
        "10004",
    ),
    Scenario(
        "web-stuck-created",
        "Web order 10005 (#1005) in ORDER_CREATED for six hours; its payment is not authorised, "
        "so the Approve Orders job skips it.",
        "10005",
    ),
    Scenario(
        "missing-logged-failure",
        "Shopify web order #1006 (6100000000006) is not in HotWax; logInsights and the Shopify "
        "Order MDM both recorded a failure about the customer address, and a re-import fails "
        "the same way until the address is added in Shopify.",
        "#1006",
    ),
    Scenario(
        "missing-no-failure",
        "Shopify web order #1007 (6100000000007) is not in HotWax and no failure was "
        "recorded; it has an address, so a re-import (window replay) succeeds.",
        "#1007",
    ),
    Scenario("nowhere", "#1008 exists neither in Shopify nor in HotWax.", "#1008"),
    Scenario(
        "stale-index",
        "Order 10009 (#1009) is ORDER_APPROVED, but its Solr documents still say ORDER_CREATED "
        "(the index missed the update).",
        "10009",
    ),
    Scenario("web-approved", "An ordinary approved web order.", "10001"),
    Scenario(
        "web-created-paid",
        "Web orders 10014 and 10015 are created with an authorised payment: ready to approve.",
        "10014",
    ),
]

_PRODUCTS = [
    ("10010", "Aurora Wool Beanie", Decimal("24.00")),
    ("10011", "Harbor Canvas Tote", Decimal("38.00")),
    ("10012", "Summit Trail Socks", Decimal("12.50")),
    ("10013", "Coastline Rain Jacket", Decimal("129.00")),
    ("10014", "Meadow Linen Shirt", Decimal("64.00")),
]

_FAILURE_TEXTS = [
    "Service [createShopifyOrder] target threw an unexpected exception (null)",
    "E-mail address not formatted correctly, must be like: name@domain",
    "Rollback called in Entity Engine SQLProcessor java.lang.Exception",
    CONTACT_MECH_ERROR,
    "Order import failed: the customer phone number is missing on the shipping address",
    "Order import failed: the customer address is missing (no shipping address on the "
    "Shopify order)",
    "No product found in HotWax for Shopify variant 44012345678901 (SKU MLS-BLU-M)",
    "Could not complete the createSalesOrder process: Facility [BROOKLYN_POS] not found",
]


def _shopify_id(n: int) -> str:
    return f"61{n:011d}"


def _address(city: str) -> dict[str, str]:
    return {"address1": "12 Harbor St", "city": city, "province_code": "NY", "zip": "11201"}


def _order(
    order_id: str,
    number: int,
    *,
    channel: str,
    status: str,
    entered: datetime,
    products: list[int],
    shopify_id: str | None,
    facility: str,
    customer: str = "Riley Chen",
) -> OrderRecord:
    name = f"#{number}"
    item_status = {
        "ORDER_CREATED": "ITEM_CREATED",
        "ORDER_APPROVED": "ITEM_APPROVED",
        "ORDER_COMPLETED": "ITEM_COMPLETED",
        "ORDER_CANCELLED": "ITEM_CANCELLED",
    }[status]
    items = [
        ItemRecord(
            seq_id=f"{i + 1:05d}",
            product_id=_PRODUCTS[p][0],
            product_name=_PRODUCTS[p][1],
            quantity=Decimal(1),
            unit_price=_PRODUCTS[p][2],
            status_id=item_status,
        )
        for i, p in enumerate(products)
    ]
    record = OrderRecord(
        order_id=order_id,
        order_name=name,
        external_id=shopify_id,
        status_id=status,
        sales_channel_enum_id=channel,
        order_date=entered - timedelta(minutes=2),
        entry_date=entered,
        grand_total=sum((item.unit_price for item in items), Decimal(0)),
        customer_party_id=f"CUST_{order_id}",
        customer_name=customer,
        customer_email=f"{customer.split()[0].lower()}@example.com",
        facility_id=facility,
        items=items,
    )
    if shopify_id is not None:
        record.identifications = [
            IdentificationRecord("SHOPIFY_ORD_ID", shopify_id, entered),
            IdentificationRecord("SHOPIFY_ORD_NAME", name, entered),
            IdentificationRecord("SHOPIFY_ORD_NO", str(number), entered),
        ]
    record.statuses = [StatusRecord(f"{order_id}01", "ORDER_CREATED", entered, "system")]
    if status != "ORDER_CREATED":
        record.statuses.append(
            StatusRecord(f"{order_id}02", status, entered + timedelta(minutes=5), "system")
        )
    pay_status = "PAYMENT_SETTLED" if status != "ORDER_CREATED" else "PAYMENT_AUTHORIZED"
    record.payments = [
        PaymentRecord(f"{order_id}P1", "EXT_SHOPIFY", pay_status, record.grand_total)
    ]
    return record


def _shopify_order(
    number: int,
    shopify_id: str,
    *,
    created: datetime,
    source: str,
    fulfilled: bool,
    address: bool = True,
    email: str = "riley@example.com",
    updated: datetime | None = None,
) -> ShopifyOrder:
    # Scenario orders are last updated 5 + 3 * (number % 100) minutes after creation, so even
    # two orders created together (#1014, #1015) are minutes apart: a one-order replay window
    # [updatedAt - 1 min, updatedAt + 1 min] holds exactly that order.
    if updated is None:
        updated = created + timedelta(minutes=5 + 3 * (number % 100))
    return ShopifyOrder(
        shopify_id=shopify_id,
        name=f"#{number}",
        created_at=created,
        updated_at=updated,
        source_name=source,
        fulfillment_status="fulfilled" if fulfilled else None,
        financial_status="paid",
        email=email,
        phone="+1 718 555 0100",
        shipping_address=_address("Brooklyn") if address else None,
        total_price=Decimal("62.00"),
        line_items=[{"sku": "AWB-1", "title": "Aurora Wool Beanie", "quantity": 1}],
    )


def _scenario_orders(now: datetime) -> tuple[list[OrderRecord], list[ShopifyOrder]]:
    def hours(n: int) -> datetime:
        return now - timedelta(hours=n)

    pos, web = "POS_SALES_CHANNEL", "WEB_SALES_CHANNEL"
    orders = [
        _order("10001", 1001, channel=web, status="ORDER_APPROVED", entered=hours(30),
               products=[0, 1], shopify_id=_shopify_id(1), facility="WAREHOUSE_NJ"),
        _order("10002", 1002, channel=pos, status="ORDER_CREATED", entered=hours(3),
               products=[2], shopify_id=_shopify_id(2), facility="BROOKLYN_POS"),
        _order("10003", 1003, channel=pos, status="ORDER_CANCELLED", entered=hours(50),
               products=[0, 2], shopify_id=_shopify_id(3), facility="BROOKLYN_POS"),
        _order("10013", 1003, channel=pos, status="ORDER_COMPLETED", entered=hours(26),
               products=[0, 2], shopify_id=_shopify_id(3), facility="BROOKLYN_POS"),
        _order("10004", 1004, channel=pos, status="ORDER_CREATED", entered=hours(5),
               products=[3], shopify_id=_shopify_id(4), facility="BROOKLYN_POS"),
        _order("10005", 1005, channel=web, status="ORDER_CREATED", entered=hours(6),
               products=[4, 1], shopify_id=_shopify_id(5), facility="WAREHOUSE_NJ"),
        _order("10009", 1009, channel=web, status="ORDER_APPROVED", entered=hours(8),
               products=[1], shopify_id=_shopify_id(9), facility="WAREHOUSE_NJ"),
        _order("10010", 1010, channel=web, status="ORDER_COMPLETED", entered=hours(72),
               products=[3, 4], shopify_id=_shopify_id(10), facility="WAREHOUSE_NJ",
               customer="Sam Ortiz"),
        _order("10011", 1011, channel=pos, status="ORDER_COMPLETED", entered=hours(20),
               products=[2], shopify_id=_shopify_id(11), facility="BROOKLYN_POS",
               customer="Ana Silva"),
        _order("10012", 1012, channel="MOBILE_SALES_CHANNEL", status="ORDER_APPROVED",
               entered=hours(2), products=[0], shopify_id=_shopify_id(12),
               facility="WAREHOUSE_NJ", customer="Lee Park"),
        # Paid web orders the Approve orders job has not reached yet.
        _order("10014", 1014, channel=web, status="ORDER_CREATED", entered=hours(1),
               products=[1], shopify_id=_shopify_id(14), facility="WAREHOUSE_NJ",
               customer="Mia Chen"),
        _order("10015", 1015, channel=web, status="ORDER_CREATED", entered=hours(1),
               products=[0, 3], shopify_id=_shopify_id(15), facility="WAREHOUSE_NJ",
               customer="Omar Haddad"),
    ]  # fmt: skip
    by_id = {order.order_id: order for order in orders}
    # The refreshed pair: the old version was cancelled when the new one was created.
    old = by_id["10003"]
    old.statuses[-1].status_datetime = by_id["10013"].entry_date
    old.statuses[-1].change_reason = "Old Version"
    old.notes.append("Old Version: replaced by 10013 after a refresh from Shopify")
    by_id["10005"].payments[0].status_id = "PAYMENT_NOT_AUTH"
    by_id["10009"].indexed_status_id = "ORDER_CREATED"

    shop = [
        _shopify_order(1001, _shopify_id(1), created=hours(30), source="web", fulfilled=False),
        _shopify_order(1002, _shopify_id(2), created=hours(3), source="pos", fulfilled=True),
        _shopify_order(1003, _shopify_id(3), created=hours(50), source="pos", fulfilled=True),
        _shopify_order(1004, _shopify_id(4), created=hours(5), source="pos", fulfilled=True,
                       address=False),
        _shopify_order(1005, _shopify_id(5), created=hours(6), source="web", fulfilled=False),
        _shopify_order(1006, _shopify_id(6), created=hours(10), source="web", fulfilled=False,
                       address=False),
        _shopify_order(1007, _shopify_id(7), created=hours(4), source="web", fulfilled=False),
        _shopify_order(1009, _shopify_id(9), created=hours(8), source="web", fulfilled=False),
        _shopify_order(1010, _shopify_id(10), created=hours(72), source="web", fulfilled=True),
        _shopify_order(1011, _shopify_id(11), created=hours(20), source="pos", fulfilled=True),
        _shopify_order(1012, _shopify_id(12), created=hours(2), source="web", fulfilled=False),
        _shopify_order(1014, _shopify_id(14), created=hours(1), source="web", fulfilled=False),
        _shopify_order(1015, _shopify_id(15), created=hours(1), source="web", fulfilled=False),
    ]  # fmt: skip
    return orders, shop


def _failure(
    rng: random.Random, name: str, shopify_id: str, created: datetime, text: str
) -> ImportFailure:
    return ImportFailure(
        document_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        shopify_order_id=shopify_id,
        shopify_order_name=name,
        order_created=created,
        first_attempted=created + timedelta(minutes=3),
        timestamp=created + timedelta(minutes=3),
        error_message=text,
        version=rng.randrange(1, 10**12),
    )


def background_failures(
    now: datetime, count: int, *, seed: int = 4242, first_number: int = 2001
) -> tuple[list[ImportFailure], list[ShopifyOrder]]:
    """`count` failed Shopify imports spread over the last seven days, with Shopify orders."""
    rng = random.Random(seed)
    failures: list[ImportFailure] = []
    shop: list[ShopifyOrder] = []
    for i in range(count):
        number = first_number + i
        shopify_id = f"62{number:011d}"
        created = now - timedelta(seconds=rng.randrange(600, 7 * 24 * 3600))
        text = _FAILURE_TEXTS[rng.randrange(len(_FAILURE_TEXTS))]
        failures.append(_failure(rng, f"#{number}", shopify_id, created, text))
        bad_email = text.startswith("E-mail")
        shop.append(
            _shopify_order(
                number,
                shopify_id,
                created=created,
                source=rng.choice(["web", "web", "pos"]),
                fulfilled=False,
                address="address" not in text and "contactMech" not in text,
                email="riley(at)example" if bad_email else "riley@example.com",
                updated=created + timedelta(minutes=5),
            )
        )
    return failures, shop


def _keep_apart(noise: list[ShopifyOrder], scenario: list[ShopifyOrder]) -> None:
    """Move background orders' updatedAt at least 3 minutes away from every scenario order's,
    so replaying one scenario order's window never drags a background order along."""
    taken = [order.updated_at for order in scenario]
    for order in noise:
        while any(abs(order.updated_at - moment) < timedelta(minutes=3) for moment in taken):
            order.updated_at -= timedelta(minutes=4)


def shopify_payload(order: ShopifyOrder) -> dict[str, Any]:
    """The staged Shopify order an MDM record carries: the GraphQL order the sync fetched,
    nested (customer, address, line items), with its GID."""
    return {
        "id": f"gid://shopify/Order/{order.shopify_id}",
        "name": order.name,
        "sourceName": order.source_name,
        "updatedAt": order.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "customer": {"email": order.email, "phone": order.phone},
        "shippingAddress": order.shipping_address,
        "lineItems": {"edges": [{"node": dict(line)} for line in order.line_items]},
    }


def rest_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The same staged order in the REST layout: under `order`, a numeric id, the GID as
    `admin_graphql_api_id`, snake_case fields."""
    gid = str(payload["id"])
    name = str(payload["name"])
    customer = payload.get("customer") or {}
    return {
        "order": {
            "id": int(gid.rsplit("/", 1)[-1]),
            "admin_graphql_api_id": gid,
            "name": name,
            "order_number": int("".join(c for c in name if c.isdigit()) or 0),
            "source_name": payload.get("sourceName"),
            "email": customer.get("email"),
            "shipping_address": payload.get("shippingAddress"),
        }
    }


def order_sync_job(now: datetime) -> ServiceJobRecord:
    return ServiceJobRecord(
        job_name=DEMO_ORDER_SYNC_JOB,
        description="Import orders from Shopify (Demo Shop)",
        # SOBServiceJobData.xml:130-138, as the company app cites it (docs/oms-api.md).
        service_name="co.hotwax.shopify.system.ShopifySystemMessageServices.queue#FeedSystemMessage",
        cron_expression="0 */15 * ? * *",
        paused="N",
        # A shop's clone carries no fromDate: without one the sync resumes from its last
        # message (company useShopify.ts:1765-1795; connector v4.1.1 adds
        # additionalParameters, from its upgrade data).
        parameters=[
            JobParameter("systemMessageRemoteId", DEMO_SHOPIFY_REMOTE),
            JobParameter("systemMessageTypeId", "ShopifyOrderSync"),
            JobParameter("runAsBatch", "true"),
            JobParameter("additionalParameters", '{"thruDateBuffer":1,"filter":null}'),
        ],
        synced_until=now - timedelta(minutes=2),
    )


def _sync_history(
    now: datetime, missing: ShopifyOrder, rng: random.Random
) -> tuple[list[MdmLog], list[JobRunRecord]]:
    """Scheduled order-sync runs over the last 24 hours, each with its Shopify Order MDM log.

    One of them is the run that could not import #1006 (no shipping address): its log is
    DmlsFailed with that failed record. The job runs themselves end without error: a run only
    queues the sync, and the import's failures are the MDM's (docs/oms-api.md, "Order
    runbooks"); neither carries the other's id.
    """
    failed_at = missing.created_at + timedelta(minutes=3)
    starts = sorted([now - timedelta(hours=3 * k, minutes=7) for k in range(8)] + [failed_at])
    logs: list[MdmLog] = []
    runs: list[JobRunRecord] = []
    number = 3001
    for index, start in enumerate(starts):
        run_id = str(100001 + index)
        log_id = f"DML{10001 + index}"
        count = rng.randrange(3, 25)
        processed: list[dict[str, Any]] = [
            {"id": int(f"64{n:011d}"), "name": f"#{n}"} for n in range(number, number + count)
        ]
        number += count
        failed: list[MdmFailedRecord] = []
        if start == failed_at:
            payload = shopify_payload(missing)
            processed.append(payload)
            failed.append(
                MdmFailedRecord(missing.shopify_id, missing.name, MISSING_ADDRESS_ERROR, payload)
            )
        finish = start + timedelta(seconds=40)
        logs.append(
            MdmLog(
                log_id=log_id,
                config_id=SYNC_SHOPIFY_ORDER,
                status_id="DmlsFailed" if failed else "DmlsFinished",
                created_date=start,
                start_date_time=start,
                finish_date_time=finish,
                failed_records=failed,
                processed_orders=processed,
            )
        )
        runs.append(
            JobRunRecord(
                job_run_id=run_id,
                job_name=DEMO_ORDER_SYNC_JOB,
                user_id="system",
                parameters={"systemMessageRemoteId": DEMO_SHOPIFY_REMOTE, "runAsBatch": "true"},
                start_time=start - timedelta(seconds=20),
                end_time=start - timedelta(seconds=18),
                messages=["Queued a ShopifyOrderSync system message"],
            )
        )
    # The #1006 log stays first: it is the one the scenarios talk about.
    logs.sort(key=lambda log: not log.failed_records)
    return logs, runs


# Changed in Shopify after HotWax imported them (fulfilled later): the refresh scenarios.
_CHANGED_SINCE_IMPORT = ("#1002", "#1004")


def _mark_synced(orders: list[OrderRecord], shop: list[ShopifyOrder]) -> None:
    """The sync's history: an order in HotWax was processed as it is in Shopify now, except
    those fulfilled in Shopify after their import; one not in HotWax never was."""
    entered = {order.external_id: order.entry_date for order in orders}
    for order in shop:
        if order.shopify_id not in entered:
            continue
        changed = order.name in _CHANGED_SINCE_IMPORT
        order.synced_at = entered[order.shopify_id] if changed else order.updated_at


def seed(now: datetime, *, extra_failures: int = 0) -> SeedData:
    orders, shop = _scenario_orders(now)
    rng = random.Random(1006)
    missing = next(o for o in shop if o.name == "#1006")
    failures = [
        _failure(rng, "#1006", missing.shopify_id, missing.created_at, MISSING_ADDRESS_ERROR)
    ]
    noise, noise_shop = background_failures(now, 30 + extra_failures)
    _keep_apart(noise_shop, shop)
    failures.extend(noise)
    shop.extend(noise_shop)
    shop.append(too_recent_order(now))  # reconcile's "too recent" scenario
    failures.sort(key=lambda failure: failure.timestamp, reverse=True)
    mdm_logs, job_runs = _sync_history(now, missing, rng)
    job = order_sync_job(now)
    _mark_synced(orders, shop)
    return SeedData(
        orders={order.order_id: order for order in orders},
        shopify={order.shopify_id: order for order in shop},
        failures=failures,
        mdm_logs=mdm_logs,
        service_jobs={job.job_name: job},
        job_runs=job_runs,
    )
