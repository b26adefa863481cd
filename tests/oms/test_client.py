"""OmsClient against the sandbox OMS over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.oms import (
    OmsAuthError,
    OmsBadResponse,
    OmsClient,
    OmsError,
    OmsRequestError,
    OmsUnavailable,
    Order,
    loginsights,
    parse_order_ref,
)
from bot.sandbox import (
    DEMO_API_TOKEN,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    SandboxServer,
    tenant_named,
)
from tests.oms.conftest import NOW

ORDERS = "/rest/s1/oms/orders"


def make_client(sandbox: SandboxServer, **overrides: object) -> OmsClient:
    options: dict[str, object] = {
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "timeout": 2.0,
        "retry_backoff": 0.01,
    }
    options.update(overrides)
    return OmsClient(sandbox.url, **options)  # type: ignore[arg-type]


@pytest.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[OmsClient]:
    oms = make_client(sandbox)
    yield oms
    await oms.aclose()


def logins(sandbox: SandboxServer) -> int:
    return len(sandbox.state.requests("/api/login", "POST"))


# -- auth ---------------------------------------------------------------------------------


async def test_login_and_check_login(client: OmsClient, sandbox: SandboxServer) -> None:
    await client.login()
    assert await client.check_login() == DEMO_USERNAME
    login = sandbox.state.requests("/api/login")[0]
    assert login.body == {"USERNAME": DEMO_USERNAME, "PASSWORD": DEMO_PASSWORD}


async def test_token_is_reused_across_calls_and_backends(
    client: OmsClient, sandbox: SandboxServer
) -> None:
    await client.check_login()
    await client.find_orders_by_order_id("10002")
    await client.order_status_history("10002")
    assert logins(sandbox) == 1
    bearers = {r.bearer for r in sandbox.state.requests() if r.path != "/api/login"}
    bearers.discard(None)  # checkLoginOptions is anonymous
    assert len(bearers) == 1


async def test_relogin_once_after_token_expired(client: OmsClient, sandbox: SandboxServer) -> None:
    await client.find_orders_by_order_id("10002")
    sandbox.state.expire_tokens()
    orders = await client.find_orders_by_order_id("10002")
    assert [o.order_id for o in orders] == ["10002"]
    assert logins(sandbox) == 2


async def test_relogin_after_token_ttl(sandbox: SandboxServer) -> None:
    sandbox.state.token_ttl = 0.05
    async with make_client(sandbox) as oms:
        await oms.check_login()
        sandbox.state.token_ttl = 3600
        await asyncio.sleep(0.1)
        assert await oms.check_login() == DEMO_USERNAME
    assert logins(sandbox) == 2


async def test_second_401_is_an_auth_error(client: OmsClient, sandbox: SandboxServer) -> None:
    sandbox.state.inject_fault(ORDERS, "json", 2, status=401, body={"errors": "expired"})
    with pytest.raises(OmsAuthError) as caught:
        await client.find_orders_by_shopify_name("#1002")
    assert caught.value.operation == "find order by Shopify order name"
    assert "after logging in again" in caught.value.message
    assert logins(sandbox) == 2


async def test_api_token_client_never_logs_in(sandbox: SandboxServer) -> None:
    async with make_client(sandbox, username=None, password=None, api_token=DEMO_API_TOKEN) as oms:
        await oms.login()
        assert await oms.check_login() == "demo.integration"
        assert [o.order_id for o in await oms.find_orders_by_order_id("10005")] == ["10005"]
    assert logins(sandbox) == 0
    assert {r.bearer for r in sandbox.state.requests(ORDERS)} == {DEMO_API_TOKEN}


async def test_refused_api_token_is_final(sandbox: SandboxServer) -> None:
    bad = "not-the-demo-token-1234"
    async with make_client(sandbox, username=None, password=None, api_token=bad) as oms:
        with pytest.raises(OmsAuthError) as caught:
            await oms.find_orders_by_order_id("10002")
    assert "refused the configured API token" in str(caught.value)
    assert bad not in str(caught.value)
    assert len(sandbox.state.requests(ORDERS)) == 1


async def test_bad_credentials_carry_the_oms_message(sandbox: SandboxServer) -> None:
    async with make_client(sandbox, password="wrong-password-9") as oms:
        with pytest.raises(OmsAuthError) as caught:
            await oms.login()
        with pytest.raises(OmsAuthError) as during_call:
            await oms.find_orders_by_order_id("10002")
    assert str(caught.value) == "log in failed: Login failed: user name or password incorrect."
    assert during_call.value.operation == "find order by order id"
    assert "could not log in" in during_call.value.message
    assert "wrong-password-9" not in str(caught.value) + str(during_call.value)


async def test_no_credentials_configured(sandbox: SandboxServer) -> None:
    async with make_client(sandbox, username=None, password=None) as oms:
        with pytest.raises(OmsAuthError, match="no OMS credentials configured"):
            await oms.check_login()


# -- error conventions --------------------------------------------------------------------


async def test_ofbiz_error_message(client: OmsClient) -> None:
    with pytest.raises(OmsRequestError) as caught:
        await client.perform_find("NoSuchEntity", {"a": "b"}, operation="list things")
    assert caught.value.status_code == 200
    assert str(caught.value) == (
        "list things failed: Entity [NoSuchEntity] is not defined in the entity model"
    )


async def test_ofbiz_error_message_list_is_joined(client: OmsClient) -> None:
    with pytest.raises(OmsRequestError) as caught:
        await client.call_service(
            "changeOrderStatus",
            {"orderId": "10002", "statusId": "ORDER_BOGUS"},
            operation="approve order",
        )
    assert caught.value.message == (
        "Error calling service changeOrderStatus Status [ORDER_BOGUS] is not a valid order status"
    )


async def test_ofbiz_plain_error_key(client: OmsClient, sandbox: SandboxServer) -> None:
    sandbox.state.inject_fault("/api/performFind", "json", body={"error": "Something broke"})
    with pytest.raises(OmsRequestError, match="Something broke"):
        await client.perform_find("OrderHeader", {"x": "y"}, operation="find")


async def test_no_record_found_is_an_empty_result(client: OmsClient) -> None:
    total, rows = await client.perform_find(
        "OrderHeader", {"statusId": "ORDER_REJECTED"}, operation="find rejected orders"
    )
    assert (total, rows) == (0, [])


async def test_counts_may_be_strings(client: OmsClient, sandbox: SandboxServer) -> None:
    body = {"count": "2", "docs": [{"orderId": "1"}, {"orderId": "2"}]}
    sandbox.state.inject_fault("/api/performFind", "json", body=body)
    assert await client.perform_find("OrderHeader", {"x": "y"}, operation="find") == (
        2,
        body["docs"],
    )
    sandbox.state.inject_fault("/api/performFind", "json", body={"count": "many", "docs": []})
    with pytest.raises(OmsBadResponse, match="performFind count is not a number"):
        await client.perform_find("OrderHeader", {"x": "y"}, operation="find")


async def test_maarg_error_body(client: OmsClient) -> None:
    with pytest.raises(OmsRequestError) as caught:
        await client.maarg_call("GET", "oms/orders/NOPE", operation="read the order")
    assert caught.value.status_code == 404
    assert str(caught.value) == "read the order failed: Order not found with ID NOPE"


# -- finding orders -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["10002", "order:10002", "6100000000002", "shopify:6100000000002", "#1002"]
)
async def test_find_order_by_each_reference(client: OmsClient, text: str) -> None:
    orders = await client.find_orders(parse_order_ref(text))
    assert [o.order_id for o in orders] == ["10002"]
    order = orders[0]
    assert order.shopify_order_id == "6100000000002"
    assert order.shopify_order_name == "#1002"
    assert order.sales_channel_label == "POS"
    assert order.status_id == "ORDER_CREATED"
    assert order.order_date is not None and order.order_date < NOW
    assert order.items and order.statuses and order.identifications


async def test_find_by_name_sends_the_hash(client: OmsClient, sandbox: SandboxServer) -> None:
    await client.find_orders_by_shopify_name("1002")
    params = sandbox.state.requests(ORDERS)[0].params
    assert params["orderName"] == ["#1002"]
    assert "dependentLevels" not in params  # the route answers the order master anyway


async def test_refreshed_order_versions_newest_first(client: OmsClient) -> None:
    for text in ("#1003", "6100000000003"):
        orders = await client.find_orders(parse_order_ref(text))
        assert [(o.order_id, o.is_cancelled) for o in orders] == [
            ("10013", False),
            ("10003", True),
        ]


async def test_unknown_orders_are_empty(client: OmsClient, sandbox: SandboxServer) -> None:
    assert await client.find_orders(parse_order_ref("#1008")) == []
    sandbox.state.clear_requests()
    # Digits that are no order id are tried once more as a Shopify id.
    assert await client.find_orders(parse_order_ref("1003")) == []
    sent = [r.params for r in sandbox.state.requests(ORDERS)]
    assert [p.get("orderId") or p.get("externalId") for p in sent] == [["1003"], ["1003"]]
    assert "externalId" in sent[1]


async def test_status_history_oldest_first(client: OmsClient) -> None:
    history = await client.order_status_history("10003")
    assert [h.status_id for h in history] == ["ORDER_CREATED", "ORDER_CANCELLED"]
    assert history[1].change_reason == "Old Version"
    assert history[0].status_datetime is not None


# -- availability, retries, garbage -------------------------------------------------------


async def test_oms_down_names_the_operation(client: OmsClient, sandbox: SandboxServer) -> None:
    await client.find_orders_by_order_id("10002")  # logged in, Maarg discovered
    sandbox.state.clear_requests()
    sandbox.state.down = True
    with pytest.raises(OmsUnavailable) as caught:
        await client.find_orders_by_shopify_id("6100000000002")
    assert str(caught.value).startswith("find order by Shopify order id failed: ")
    assert "HTTP 503" in caught.value.message
    assert len(sandbox.state.requests(ORDERS)) == 3  # two retries for a read


async def test_a_read_cancelled_while_out_keeps_its_slot_until_the_oms_has_answered_it(
    sandbox: SandboxServer,
) -> None:
    # A read made ahead and then not needed is cancelled while the OMS works on it: the OMS
    # is still answering it, so with one request allowed at a time the next one waits.
    async with make_client(sandbox, max_concurrent_reads=1) as oms:
        await oms.find_orders_by_order_id("10002")  # logged in, Maarg discovered
        sandbox.state.clear_requests()
        held = sandbox.state.inject_fault(ORDERS, "hang")
        ahead = asyncio.create_task(oms.find_orders_by_order_id("10002"))
        assert await asyncio.to_thread(held.reached.wait, 5)
        ahead.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ahead
        needed = asyncio.create_task(oms.find_orders_by_order_id("10002"))
        await asyncio.sleep(0.3)
        assert len(sandbox.state.requests(ORDERS)) == 1 and not needed.done()
        held.released.set()
        orders = await asyncio.wait_for(needed, 5)
    assert [order.order_id for order in orders] == ["10002"]
    assert len(sandbox.state.requests(ORDERS)) == 2


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with OmsClient(
        f"http://127.0.0.1:{port}", username="u", password="p", read_retries=0
    ) as oms:
        with pytest.raises(OmsUnavailable) as caught:
            await oms.login()
    assert str(caught.value) == "log in failed: connection refused"


async def test_timeout(sandbox: SandboxServer) -> None:
    sandbox.state.latency = 0.3
    async with make_client(sandbox, timeout=0.1, read_retries=0) as oms:
        with pytest.raises(OmsUnavailable) as caught:
            await oms.check_login()
    assert caught.value.message == "timed out after 0.1s"
    assert caught.value.operation == "read the OMS user profile"


@pytest.mark.parametrize("kind", ["html", "truncated"])
async def test_garbage_is_a_bad_response(
    client: OmsClient, sandbox: SandboxServer, kind: str
) -> None:
    sandbox.state.inject_fault(ORDERS, kind)  # type: ignore[arg-type]
    with pytest.raises(OmsBadResponse, match="non-JSON"):
        await client.find_orders_by_order_id("10002")


async def test_wrong_shape_is_a_bad_response(client: OmsClient, sandbox: SandboxServer) -> None:
    sandbox.state.inject_fault(ORDERS, "json", body={"orders": []})
    with pytest.raises(OmsBadResponse, match="list of objects"):
        await client.find_orders_by_order_id("10002")
    sandbox.state.inject_fault(ORDERS, "json", body=[{"orderId": "10002", "orderDate": "soon"}])
    with pytest.raises(OmsBadResponse, match="Order shape at orderDate"):
        await client.find_orders_by_order_id("10002")
    # A row the filter does not match is not this order (Moqui ignores unknown filters).
    sandbox.state.inject_fault(ORDERS, "json", body=[{"orderId": "10003"}])
    assert await client.find_orders_by_order_id("10002") == []


async def test_read_is_retried_after_503(client: OmsClient, sandbox: SandboxServer) -> None:
    sandbox.state.inject_fault(ORDERS, "unavailable")
    orders = await client.find_orders_by_order_id("10002")
    assert [o.order_id for o in orders] == ["10002"]
    assert len(sandbox.state.requests(ORDERS)) == 2


async def test_read_post_is_retried(client: OmsClient, sandbox: SandboxServer) -> None:
    sandbox.state.inject_fault("/api/solr-query", "unavailable")
    answer = await client.solr_query({"query": "docType:ORDER"}, core=None, operation="search")
    assert answer["response"]["numFound"] > 0
    assert len(sandbox.state.requests("/api/solr-query")) == 2


async def test_write_is_never_retried(client: OmsClient, sandbox: SandboxServer) -> None:
    path = "/api/service/changeOrderStatus"
    sandbox.state.inject_fault(path, "unavailable")
    with pytest.raises(OmsUnavailable, match="approve order failed: the OMS answered HTTP 503"):
        await client.call_service(
            "changeOrderStatus",
            {"orderId": "10005", "statusId": "ORDER_APPROVED"},
            operation="approve order",
        )
    assert len(sandbox.state.requests(path)) == 1


async def test_server_error_is_not_retried(client: OmsClient, sandbox: SandboxServer) -> None:
    sandbox.state.inject_fault(ORDERS, "error500")
    with pytest.raises(OmsUnavailable, match="HTTP 500"):
        await client.find_orders_by_order_id("10002")
    assert len(sandbox.state.requests(ORDERS)) == 1


async def test_write_succeeds(client: OmsClient) -> None:
    answer = await client.call_service(
        "changeOrderStatus",
        {"orderId": "10005", "statusId": "ORDER_APPROVED"},
        operation="approve order",
    )
    assert answer["successMessage"] == "Order status changed"
    [order] = await client.find_orders_by_order_id("10005")
    assert order.status_id == "ORDER_APPROVED"


# -- Maarg discovery ----------------------------------------------------------------------


async def test_maarg_discovered_once(client: OmsClient, sandbox: SandboxServer) -> None:
    assert await client.maarg_base() == sandbox.url
    await client.find_orders_by_order_id("10002")
    await client.order_status_history("10002")
    assert len(sandbox.state.requests("/api/checkLoginOptions")) == 1


async def test_configured_maarg_url_skips_discovery(sandbox: SandboxServer) -> None:
    async with make_client(sandbox, maarg_url=f"{sandbox.url}/rest/s1/") as oms:
        assert await oms.maarg_base() == sandbox.url
        assert await oms.find_orders_by_order_id("10002")
    assert sandbox.state.requests("/api/checkLoginOptions") == []


async def test_moqui_only_fallback(sandbox: SandboxServer) -> None:
    sandbox.state.inject_fault("/api/checkLoginOptions", "json", status=404, body={"x": 1})
    async with make_client(sandbox) as oms:
        assert await oms.maarg_base() == sandbox.url
    assert len(sandbox.state.requests("/rest/s1/admin/checkLoginOptions")) == 1


async def test_no_maarg_instance(sandbox: SandboxServer) -> None:
    body = {"loginAuthType": "BASIC", "maargInstanceUrl": ""}
    sandbox.state.inject_fault("/api/checkLoginOptions", "json", body=body)
    async with make_client(sandbox) as oms:
        with pytest.raises(OmsRequestError, match="set OMS_MAARG_URL"):
            await oms.find_orders_by_order_id("10002")


# -- paging -------------------------------------------------------------------------------


async def test_maarg_paging_through_the_silent_cap(
    client: OmsClient, sandbox: SandboxServer
) -> None:
    sandbox.state.tenant = tenant_named("capped-pages")
    seeded = len(sandbox.state.data.orders)
    sandbox.state.add_bulk_orders(110)
    page = await client.maarg_page(
        "oms/orders", {}, page_index=0, page_size=100, operation="list orders"
    )
    assert (page.total, len(page.rows)) == (seeded + 110, 50)
    listed = await client.maarg_list("oms/orders", {}, page_size=100, operation="list orders")
    assert listed.total == seeded + 110
    assert len({row["orderId"] for row in listed.rows}) == seeded + 110
    limited = await client.maarg_list("oms/orders", {}, limit=7, operation="list orders")
    assert len(limited.rows) == 7


async def test_solr_start_rows(client: OmsClient) -> None:
    query = {"params": {"q": "docType:SHOPIFY_ORDER", "sort": "timestamp desc"}}
    first = await client.solr_query(query, core="logInsights", operation="failed imports")
    assert len(first["response"]["docs"]) == 10  # Solr's default rows
    total = first["response"]["numFound"]
    assert total >= 31
    paged = {"params": {**query["params"], "start": 10, "rows": 25}}
    second = await client.solr_query(paged, core="logInsights", operation="failed imports")
    assert second["response"]["start"] == 10
    assert len(second["response"]["docs"]) == min(25, total - 10)


async def test_perform_find_view_index(client: OmsClient, sandbox: SandboxServer) -> None:
    seeded = len(sandbox.state.data.orders)  # 12: three pages of four
    pages = [
        await client.perform_find(
            "OrderHeader",
            {},
            field_list=["orderId"],
            view_size=4,
            view_index=index,
            order_by="orderId ASC",
            operation="list orders",
        )
        for index in range(3)
    ]
    assert [total for total, _ in pages] == [seeded] * 3
    ids = [row["orderId"] for _, rows in pages for row in rows]
    assert ids == sorted(ids) and len(ids) == seeded == 12


# -- secrets ------------------------------------------------------------------------------


async def test_no_credential_in_any_error(sandbox: SandboxServer) -> None:
    async with make_client(sandbox) as oms:
        await oms.check_login()
        token = sandbox.state.requests("/rest/s1/admin/user/profile")[0].bearer
        assert token
        echo = f"bad input: PASSWORD={DEMO_PASSWORD} Authorization: Bearer {token}"
        sandbox.state.inject_fault("/api/performFind", "json", body={"_ERROR_MESSAGE_": echo})
        sandbox.state.inject_fault(ORDERS, "json", status=400, body={"errors": echo})
        errors: list[OmsError] = []
        for call in (
            oms.perform_find("OrderHeader", {"a": 1}, operation="find"),
            oms.find_orders_by_order_id("10002"),
        ):
            with pytest.raises(OmsError) as caught:
                await call
            errors.append(caught.value)
    for error in errors:
        assert DEMO_PASSWORD not in str(error)
        assert token not in str(error)
        assert "[redacted]" in str(error)


# -- models -------------------------------------------------------------------------------


def test_order_parses_sales_order_detail_and_iso_dates() -> None:
    order = Order.model_validate(
        {
            "orderId": "10002",
            "orderExternalId": "6100000000002",
            "orderStatusId": "ORDER_CANCELLED",
            "salesChannel": "WEB_SALES_CHANNEL",
            "orderDate": "2025-03-10T10:00:00Z",
            "entryDate": "1741600800000",
            "grandTotal": "12.50",
            "identifications": [
                {"orderIdentificationTypeId": "SHOPIFY_ORD_ID", "idValue": "1", "thruDate": 1},
            ],
        }
    )
    assert order.shopify_order_id == "6100000000002"  # the expired identification is ignored
    assert order.is_cancelled and order.sales_channel_label == "Web"
    assert order.order_date == datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
    assert order.entry_date == datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
    assert str(order.grand_total) == "12.50"


# -- references ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("#1004", "shopify_name", "#1004"),
        ("  #HC1004 ", "shopify_name", "#HC1004"),
        ("shopify:6178678210724", "shopify_id", "6178678210724"),
        ("SHOPIFY:123", "shopify_id", "123"),
        ("order:10002", "order_id", "10002"),
        ("6178678210724", "shopify_id", "6178678210724"),
        ("10002", "order_id", "10002"),
        ("M100-23_a", "order_id", "M100-23_a"),
    ],
)
def test_parse_order_ref(text: str, kind: str, value: str) -> None:
    ref = parse_order_ref(text)
    assert (ref.kind, ref.value) == (kind, value)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "it is empty"),
        ("10 02", "contains a space"),
        ("100\x0702", "control character"),
        ("'10002'", "quote"),
        ("x" * 41, "longer than 40"),
        ("10002;drop", "character(s) ;"),
        ("shopify:abc", "digits only"),
        ("#", "Shopify order name"),
        ("10#02", "# may only start"),
    ],
)
def test_parse_order_ref_rejects(text: str, why: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_order_ref(text)
    assert why in str(caught.value)
    assert "#1004" in str(caught.value)  # the accepted forms are named


async def test_solr_error_carries_solr_message(client: OmsClient) -> None:
    with pytest.raises(OmsRequestError, match="search orders failed: Expected"):
        await client.solr_query({"query": "orderId:(10001"}, core=None, operation="search orders")


async def test_log_insights_pages_keep_only_the_window(
    client: OmsClient, sandbox: SandboxServer
) -> None:
    """The logInsights schema is not public: a core that ignored the time range must not bring
    older failures into a window (each document's timestamp is checked again)."""
    until = datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp()
    since = until - 3600

    def doc(name: str, at: str) -> dict[str, str]:
        return {"shopifyOrderName": name, "timestamp": at, "errorMessage": "boom"}

    docs = [
        doc("#in", "2026-11-30T11:30:00Z"),
        doc("#at-the-end", "2026-11-30T12:00:00Z"),  # the window is half-open
        doc("#old", "2026-11-29T08:00:00Z"),
    ]
    body = {"response": {"numFound": 3, "start": 0, "docs": docs}}
    sandbox.state.inject_fault("/api/solr-query", "json", body=body)
    pages = [
        page
        async for _, page in loginsights.iter_failed_import_pages(
            client, since=since, until=until, page_size=10
        )
    ]
    assert [f.shopify_order_name for page in pages for f in page] == ["#in"]
