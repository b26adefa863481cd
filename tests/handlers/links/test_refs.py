"""Finding the orders a Slack message names (the "Check this order" shortcut) and reading
order-page links (unfurls): what is taken for an order, and what never is."""

from __future__ import annotations

import pytest

from bot.oms import OrderRef, find_order_refs, hotwax_order_url, parse_order_link

OMS = "https://demo-oms.hotwax.io/api/"


def _refs(text: str) -> list[tuple[str, str]]:
    return [(r.kind, r.value) for r in find_order_refs(text, OMS).refs]


def test_every_kind_of_reference_in_the_order_written() -> None:
    text = (
        "See <https://demo-oms.hotwax.io/commerce/control/ViewOrder?orderId=M100234&amp;x=1|it>, "
        "#1004, 6178678210724, order 10002, shopify:6100000000006 and "
        "<https://demo-shop.myshopify.com/admin/orders/6100000000002> again #1004"
    )
    assert _refs(text) == [
        ("order_id", "M100234"),
        ("shopify_id", "6100000000002"),
        ("shopify_name", "#1004"),
        ("shopify_id", "6178678210724"),
        ("order_id", "10002"),
        ("shopify_id", "6100000000006"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "ping <@U0123456789> in <#C0123456789|oms-ops> about <!subteam^S0123456789>",
        "meet at 10:30 on 2026-11-30, room 1234, #general",
        "a link <https://example.com/orders/10002|10 items> and https://x.io/12345678",
        "quoted `'a b'` and 1e10",
    ],
)
def test_mentions_channels_times_and_other_links_are_no_orders(text: str) -> None:
    assert _refs(text) == []


def test_order_page_links() -> None:
    page = hotwax_order_url(OMS, "10002")
    assert page == "https://demo-oms.hotwax.io/commerce/control/ViewOrder?orderId=10002"
    found = parse_order_link(page, OMS)
    assert found is not None and found.ref == OrderRef("order_id", "10002", explicit=True)
    admin = parse_order_link("https://admin.shopify.com/store/Demo-Shop/orders/61", OMS)
    assert admin is not None and (admin.shop, admin.shop_is_handle) == ("demo-shop", True)
    manager = parse_order_link("https://order-manager.hotwax.io/orders/10002", OMS)
    assert manager is not None and manager.ref.value == "10002"
    for other in (
        "https://other-oms.hotwax.io/commerce/control/ViewOrder?orderId=10002",
        "https://demo-oms.hotwax.io/commerce/control/ViewOrder?orderId=a%20b",
        "https://demo-oms.hotwax.io/commerce/control/main",
        "https://demo-shop.myshopify.com/admin/orders/abc",
        "ftp://demo-shop.myshopify.com/admin/orders/61",
        "https://demo-shop.myshopify.com.evil.io/admin/orders/61",
    ):
        assert parse_order_link(other, OMS) is None, other


@pytest.mark.parametrize(
    "bad",
    [
        "https://demo-oms.hotwax.io:99999/commerce/control/ViewOrder?orderId=10002",
        "https://demo-oms.hotwax.io:abc/commerce/control/ViewOrder?orderId=10002",
        "https://demo-shop.myshopify.com:-1/admin/orders/61",
    ],
)
def test_a_link_with_an_invalid_port_is_no_order_and_spoils_no_other(bad: str) -> None:
    assert parse_order_link(bad, OMS) is None
    text = f"see <{bad}> and <https://demo-shop.myshopify.com/admin/orders/6100000000002> #1004"
    assert _refs(text) == [("shopify_id", "6100000000002"), ("shopify_name", "#1004")]
