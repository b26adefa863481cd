"""A digest of many failures: the keys of the orders counted leave memory for a temporary file,
each order is still counted once, and the faster parsing reads every value as before."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.kit.diskset import IN_MEMORY, SpillingKeySet
from bot.kit.durations import parse_oms_text_time
from bot.oms import mdm
from bot.oms.loginsights import FailedImport, parse_doc
from bot.oms.stores import shop_host
from handlers.digest.grouping import Aggregator, Counter

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
ERRORS = (
    "E-mail address not formatted correctly, must be like: name@domain",
    "Service [createShopifyOrder] target threw an unexpected exception (null)",
)


def _failure(n: int, *, source: str, shop: str | None, order_id: str | None) -> FailedImport:
    moment = NOW - timedelta(seconds=n)
    return FailedImport(
        source=source,
        reference=f"ref-{n}",
        shopify_order_name=f"#{n}",
        shopify_order_id=order_id,
        shop=shop,
        error_message=ERRORS[n % 2],
        first_attempted="",
        order_created=None,
        timestamp=moment,
    )


def test_past_the_in_memory_keys_each_order_is_still_counted_once(tmp_path: Path) -> None:
    orders = IN_MEMORY + 5_000
    agg, previous = Aggregator(csv_dir=tmp_path), Counter(tmp_path)
    # The MDM: every order once, then every third order again from a later log.
    mdm_rows = [_failure(n, source="mdm", shop=None, order_id=f"62{n}") for n in range(orders)]
    mdm_rows += mdm_rows[::3]
    # logInsights: the MDM's last 1,000 orders again (one order, both sources), then 2,000
    # orders of its own, each logged twice, once on a second shop too (another order).
    shop, other = "demo.myshopify.com", "other.myshopify.com"
    logged = [_failure(n, source="logInsights", shop=shop, order_id=None)
              for n in range(orders - 1_000, orders + 2_000)]  # fmt: skip
    logged += logged[1_000:]
    logged += [_failure(n, source="logInsights", shop=other, order_id=None)
               for n in range(orders, orders + 2_000)]  # fmt: skip
    rows = mdm_rows + logged
    for first in range(0, len(rows), 500):
        agg.add(rows[first : first + 500])
        previous.add(rows[first : first + 500])
    # The keys went to a file in the CSV's folder: the memory holds none of them.
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".csv", ".keys", ".keys"]
    expected = orders + 2_000 + 2_000
    assert agg.total == previous.total == expected
    assert sum(g.count for g in agg.ranked()) == expected
    previous.close()
    path = agg.close()
    assert [p.suffix for p in tmp_path.iterdir()] == [".csv"]  # the key files are gone
    counted = list(csv.DictReader(path.open(encoding="utf-8")))
    assert len(counted) == expected
    # An order in both sources is the MDM's row.
    assert {r["source"] for r in counted if r["shopify_order_name"] == f"#{orders - 1}"} == {"mdm"}
    assert sorted((r["shop"], r["shopify_order_name"]) for r in counted if r["shop"]) == sorted(
        (s, f"#{n}") for s in (shop, other) for n in range(orders, orders + 2_000)
    )


def test_the_key_set_is_exact_and_deletes_its_file(tmp_path: Path) -> None:
    keys = SpillingKeySet(tmp_path, in_memory=3)
    keys.add(["a", "b"])
    assert list(tmp_path.iterdir()) == []
    keys.add(["c", "d", "a"])
    assert len(list(tmp_path.iterdir())) == 1
    asked = [f"k{n}" for n in range(1_200)] + ["a", "d", "e"]
    assert keys.members(asked) == {"a", "d"}
    keys.add(asked[:1_100])
    assert keys.members(asked) == {"a", "d", *asked[:1_100]}
    keys.close()
    assert list(tmp_path.iterdir()) == []
    assert keys.members(["a"]) == set()


def test_the_fast_paths_read_every_value_as_the_general_parsers() -> None:
    zone = ZoneInfo("America/New_York")
    texts = [
        "January 3, 2024 10:15:12 PM",
        "January 3, 2024 12:15:12 AM",
        "December 31, 2024 12:00:00 PM",
        "January 03, 2024 01:05:09 AM",
        " January  3,  2024 1:15:12 PM ",
        "February 30, 2024 1:00:00 PM",  # no such day
        "January 3, 2024 13:15:12 PM",  # no such hour
        "january 3, 2024 10:15:12 PM",
        "Jan 3, 2024 1:15:12 PM",
        "2024-01-03 22:15:12",
    ]
    sites = [
        "https://Demo-Shop.myshopify.com/1/orders/abc/authenticate?key=",
        "https://x.myshopify.com?key=1",
        "https://x.myshopify.com#f/g",
        "http://x.myshopify.com:443/a",
        "https://bad host/x",
        "x.myshopify.com",
        "https:///x",
    ]
    for n, (text, site) in enumerate(zip(texts, sites * 2, strict=False)):
        doc = {"timestamp": "2024-01-04T03:15:12Z", "firstAttemptedImport": text, "site": site}
        parsed = parse_doc({**doc, "document-id": str(n)}, zone)
        assert parsed is not None
        assert parsed.first_attempted_at == parse_oms_text_time(text, zone), text
        assert parsed.shop == shop_host(site), site


def test_an_mdm_record_nested_or_not_is_read_by_its_gid() -> None:
    flat = {"id": "gid://shopify/Order/61", "name": "#1", "_ERROR_MESSAGE_": "x  y"}
    nested = {"order": {"id": 62, "admin_graphql_api_id": "gid://shopify/Order/62",
                        "name": "#2", "order_number": 2}, "_ERROR_MESSAGE_": "z"}  # fmt: skip
    assert [(r.shopify_order_id, r.order_name, r.error)
            for r in mdm.parse_failed_records(str([flat, nested]).replace("'", '"'))] == [
        ("61", "#1", "x y"),
        ("62", "#2", "z"),
    ]  # fmt: skip
