"""Normalisation and grouping of failed-import error texts; digest schedule checking."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.engine.policy import load_policy
from bot.engine.schedules import parse_schedules
from bot.kit.config import ConfigError
from bot.oms.loginsights import FailedImport, parse_doc
from handlers.digest.grouping import Aggregator, Counter, classify, csv_line, normalise

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def failure(
    name: str,
    text: str,
    minutes_ago: int,
    *,
    source: str = "logInsights",
    order_id: str | None = None,
    shop: str | None = "shop.myshopify.com",
) -> FailedImport:
    moment = NOW - timedelta(minutes=minutes_ago)
    return FailedImport(
        source=source,
        reference=f"doc-{name}",
        shopify_order_name=name,
        shopify_order_id=order_id,
        shop=shop,
        error_message=text,
        first_attempted=f"{moment:%B} {moment.day}, {moment:%Y %I:%M:%S %p}",
        order_created=moment,
        timestamp=moment,
    )


def test_normalise_takes_out_ids_numbers_and_times() -> None:
    a = normalise(
        "No product found in HotWax for Shopify variant 44012345678901 (SKU MLS-BLU-M) "
        "on order #10101011010 at 2024-01-10T11:29:31.127Z"
    )
    b = normalise(
        "No product found in HotWax for Shopify variant 44099 (SKU MLS-BLU-M) "
        "on order HCDEV#2511 at 2024-02-01T00:00:00Z"
    )
    assert a == b
    assert "<n>" in a and "<order>" in a and "<time>" in a and "MLS-BLU-M" in a
    assert normalise(
        "attempted January 3, 2024 10:15:12 PM, doc 0a420d2e-1d21-12b3-a0b1-ae12d1c0a420"
    ) == ("attempted <time>, doc <id>")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Service [createShopifyOrder] target threw an unexpected exception (null)",
         "create-shopify-order-null"),
        ("E-mail address not formatted correctly, must be like: name@domain", "bad-email"),
        ("Rollback called in Entity Engine SQLProcessor java.lang.Exception", "emoji-in-note"),
        ("Could not complete the createOrderContactMech process: The following required "
         "parameter is missing: [createOrderContactMech.contactMechId]", "missing-address-phone"),
        ("Order import failed: the customer phone number is missing on the shipping address",
         "missing-address-phone"),
    ],
)  # fmt: skip
def test_known_causes_have_fixes(text: str, key: str) -> None:
    found, _title, fix = classify(text)
    assert found == key
    assert fix and "re-import" in fix.lower()


def test_grouping_counts_newest_examples_and_csv(tmp_path: Path) -> None:
    agg = Aggregator(csv_dir=tmp_path)
    null = "Service [createShopifyOrder] target threw an unexpected exception (null)"
    facility = "Could not complete the createSalesOrder process: Facility [BROOKLYN_POS] not found"
    pages = [
        [failure("#1", null, 50), failure("#2", facility, 40), failure("#3", null, 5)],
        [failure("#4", null, 30), failure("#5", null, 1), failure("#6", facility, 2)],
    ]
    for page in pages:
        agg.add(page)
    ranked = agg.ranked()
    assert [(g.count, g.key) for g in ranked] == [
        (4, "create-shopify-order-null"),
        (2, f"text:{normalise(facility)}"),
    ]
    assert [f.shopify_order_name for f in ranked[0].examples] == ["#5", "#3", "#4"]
    assert ranked[1].fix is None
    assert [f.shopify_order_name for f in agg.newest][:3] == ["#5", "#6", "#3"]
    rows = list(csv.DictReader(agg.close().open(encoding="utf-8")))
    assert sorted(r["shopify_order_name"] for r in rows) == [f"#{i}" for i in range(1, 7)]
    assert agg.total == 6


@pytest.mark.parametrize(
    "fields",
    [
        ("#1001", "6200000001001", "shop.myshopify.com", "plain", ""),
        ("#1,002", "", "", 'he said "no"', "two\nlines"),
        ("a\r\nb", '"', ",", "", "January 3, 2024 10:15:12 PM"),
        ("", "", "", "", ""),
        ("only, the last", "x", "y", "z", "tail,"),
    ],
)
def test_a_csv_line_is_what_the_csv_module_writes_and_reads_back(
    tmp_path: Path, fields: tuple[str, ...]
) -> None:
    path = tmp_path / "rows.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerow(fields)
    assert csv_line(fields) == path.read_bytes().decode("utf-8")
    assert next(csv.reader([csv_line(fields)])) == list(fields)


def test_the_csv_keeps_every_column_of_a_row_with_commas_and_quotes(tmp_path: Path) -> None:
    agg = Aggregator(csv_dir=tmp_path)
    text = 'Customer "Riley, Jr." has no e-mail, order refused'
    agg.add([failure("#7", text, 3, source="mdm", order_id="6200000000007", shop=None)])
    rows = list(csv.DictReader(agg.close().open(encoding="utf-8", newline="")))
    assert len(rows) == 1
    assert rows[0]["error_message"] == text
    assert rows[0]["shopify_order_id"] == "6200000000007"
    assert rows[0]["failed_at"] == (NOW - timedelta(minutes=3)).isoformat()
    assert rows[0]["first_attempted_import"].startswith("January")


def test_an_order_is_counted_once_across_logs_and_sources(tmp_path: Path) -> None:
    agg = Aggregator(csv_dir=tmp_path)
    null = "Service [createShopifyOrder] target threw an unexpected exception (null)"
    email = "E-mail address not formatted correctly, must be like: name@domain"
    # The MDM first: #1 failed in two logs (the same Shopify id); #2 has no id, only a name;
    # two shops' orders #3 share a name but not an id.
    agg.add([failure("#1", email, 5, source="mdm", order_id="61", shop=None)])
    agg.add([failure("#1", email, 50, source="mdm", order_id="61", shop=None)])
    agg.add([failure("#2", email, 6, source="mdm", shop=None)])
    agg.add([failure("#3", email, 7, source="mdm", order_id="63", shop=None),
             failure("#3", email, 8, source="mdm", order_id="64", shop=None)])  # fmt: skip
    # Then logInsights: #1 and #2 are the MDM's orders; #9 is logged twice on one shop, and
    # once on another shop (another order).
    agg.add([failure("#1", null, 4), failure("#2", null, 4), failure("#9", null, 3)])
    agg.add([failure("#9", null, 2), failure("#9", null, 2, shop="other.myshopify.com")])
    assert agg.total == 6
    rows = list(csv.DictReader(agg.close().open(encoding="utf-8")))
    assert sorted((r["shopify_order_name"], r["source"]) for r in rows) == [
        ("#1", "mdm"), ("#2", "mdm"), ("#3", "mdm"), ("#3", "mdm"),
        ("#9", "logInsights"), ("#9", "logInsights"),
    ]  # fmt: skip
    # The MDM's error is the one counted for an order in both.
    assert {g.key: g.count for g in agg.ranked()} == {
        "bad-email": 4,
        "create-shopify-order-null": 2,
    }
    counter = Counter()
    for page in ([failure("#1", email, 5, source="mdm", order_id="61")], [failure("#1", null, 4)]):
        counter.add(page)
    assert counter.total == 1


def test_parse_doc_reads_the_documented_shape() -> None:
    doc = {
        "site": "https://hc-demo.myshopify.com/83950764316/orders/e218e7/authenticate?key=",
        "shopifyOrderName": "#10101011010",
        "orderCreatedDate": "1704335862000",
        "firstAttemptedImport": "January 3, 2024 10:15:12 PM",
        "docType": "SHOPIFY_ORDER",
        "errorMessage": "Service [createShopifyOrder] target threw an unexpected exception (null)",
        "timestamp": "2024-01-10T11:29:31.127Z",
        "document-id": "0a420d2e-1d21-12b3-a0b1-ae12d1c0a420",
        "version": 17234167832143,
    }
    parsed = parse_doc(doc)
    assert parsed is not None
    assert parsed.order_created == datetime.fromtimestamp(1704335862, UTC)
    assert parsed.timestamp.year == 2024 and parsed.shopify_order_name == "#10101011010"
    # Only the shop's host is kept from `site` (the status page URL carries the order's
    # token), and logInsights gives no Shopify order id.
    assert parsed.shop == "hc-demo.myshopify.com" and parsed.shopify_order_id is None
    assert parsed.source == "logInsights" and parsed.reference.startswith("0a420d2e")
    assert parse_doc({"shopifyOrderName": "#1"}) is None  # no timestamp: cannot be windowed


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('id = "d1"\nchannel = "C_OPS"\ncron = "0 8 * *"', 'entry 1 (id "d1"): cron "0 8 * *"'),
        ('id = "d1"\nchannel = "C_OPS"\ncron = "0 8 * * *"\ntimezone = "Mars/Base"',
         'timezone "Mars/Base"'),
        ('id = "d1"\nchannel = "ops"\ncron = "0 8 * * *"', "not a Slack channel id"),
        ('id = "d1"\nchannel = "C_OPS"\ncron = "0 8 * * *"\nwindow = "forever"', "window:"),
    ],
)  # fmt: skip
def test_bad_schedules_stop_the_start(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(f"[[digests]]\n{entry}\n")
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert problem in str(err.value) and "[[digests]] entry 1" in str(err.value)


def test_schedule_slots_follow_the_time_zone() -> None:
    (schedule,) = parse_schedules(
        [{"id": "d", "channel": "C_OPS", "cron": "0 8 * * *", "timezone": "Europe/Paris"}], "t"
    )
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC).timestamp()
    assert schedule.last_slot(now) == datetime(2026, 1, 10, 7, 0, tzinfo=UTC).timestamp()
    assert schedule.next_slot(now) == datetime(2026, 1, 11, 7, 0, tzinfo=UTC).timestamp()
    assert schedule.grace == 6 * 3600 and schedule.window == 24 * 3600
