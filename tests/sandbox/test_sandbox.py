"""The sandbox OMS speaks HotWax's shapes, paging, errors and auth, over real HTTP."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.oms import parse_order_ref
from bot.sandbox import (
    DEMO_API_TOKEN,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    SCENARIOS,
    SandboxServer,
    SandboxState,
    tenant_named,
)
from bot.sandbox.records import OrderRecord
from bot.sandbox.server import banner

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def seeded(keep: Callable[[OrderRecord], bool] = lambda order: True) -> int:
    """How many orders of the pristine seed satisfy `keep`."""
    return sum(1 for order in SandboxState(now=NOW).data.orders.values() if keep(order))


def has_status(*statuses: str) -> Callable[[OrderRecord], bool]:
    return lambda order: order.status_id in statuses


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxState(now=NOW)) as srv:
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.state.reset()
    return server


def find(http: httpx.Client, **params: Any) -> Any:
    return http.post("/api/performFind", json=params).json()


def solr(http: httpx.Client, body: dict[str, Any], core: str | None = None) -> Any:
    payload: dict[str, Any] = {"json": body}
    if core:
        payload["coreName"] = core
    return http.post("/api/solr-query", json=payload).json()


# -- auth ---------------------------------------------------------------------------------


def test_login_bad_credentials_is_http_200_with_error(sandbox: SandboxServer) -> None:
    answer = httpx.post(
        f"{sandbox.url}/api/login", json={"USERNAME": DEMO_USERNAME, "PASSWORD": "nope"}
    )
    assert answer.status_code == 200
    assert "_ERROR_MESSAGE_" in answer.json()


def test_missing_token_is_401_on_both_backends(sandbox: SandboxServer) -> None:
    ofbiz = httpx.get(f"{sandbox.url}/api/user-profile")
    maarg = httpx.get(f"{sandbox.url}/rest/s1/oms/orders", headers={"Authorization": "Bearer x"})
    assert (ofbiz.status_code, maarg.status_code) == (401, 401)
    assert "_ERROR_MESSAGE_" in ofbiz.json()
    assert isinstance(maarg.json()["errors"], str)


def test_token_expires_after_ttl(sandbox: SandboxServer, http: httpx.Client) -> None:
    assert http.get("/api/user-profile").status_code == 200
    sandbox.state.expire_tokens()
    assert http.get("/api/user-profile").status_code == 401
    sandbox.state.token_ttl = 0.0
    fresh = http.post("/api/login", json={"USERNAME": DEMO_USERNAME, "PASSWORD": DEMO_PASSWORD})
    headers = {"Authorization": f"Bearer {fresh.json()['token']}"}
    assert http.get("/rest/s1/oms/orders", headers=headers).status_code == 401


def test_api_token_and_logout(sandbox: SandboxServer, http: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {DEMO_API_TOKEN}"}
    profile = httpx.get(f"{sandbox.url}/api/user-profile", headers=headers).json()
    assert profile["userLoginId"] == "demo.integration"
    answer = http.get("/api/logout")
    assert answer.text.startswith("//")
    assert json.loads(answer.text[2:])["logoutAuthType"] == "BASIC"
    assert http.get("/api/user-profile").status_code == 401


def test_check_login_options_points_at_itself(sandbox: SandboxServer) -> None:
    for path in ("/api/checkLoginOptions", "/rest/s1/admin/checkLoginOptions"):
        body = httpx.get(f"{sandbox.url}{path}").json()
        assert body["maargInstanceUrl"] == sandbox.url
        assert body["loginAuthType"] == "BASIC"


# -- performFind --------------------------------------------------------------------------


def test_perform_find_get_with_json_string_and_repeated_fields(http: httpx.Client) -> None:
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("entityName", "OrderHeader"),
        ("inputFields", json.dumps({"salesChannelEnumId": "POS_SALES_CHANNEL"})),
        ("fieldList", "orderId"),
        ("fieldList", "statusId"),
        ("orderBy", "orderId DESC"),
    ]
    body = http.get("/api/performFind", params=params).json()
    assert body["count"] == 5
    assert body["docs"][0] == {"orderId": "10013", "statusId": "ORDER_COMPLETED"}


@pytest.mark.parametrize(
    ("inputs", "keep"),
    [
        (
            {"statusId": ["ORDER_CREATED", "ORDER_HOLD"], "statusId_op": "in"},
            has_status("ORDER_CREATED", "ORDER_HOLD"),
        ),
        (
            {"orderName_value": "#100%", "orderName_op": "like"},
            lambda order: order.order_name.startswith("#100"),
        ),
        (
            {"orderName_value": "#101", "orderName_op": "contains"},
            lambda order: "#101" in order.order_name,
        ),
        ({"externalId_op": "empty"}, lambda order: not order.external_id),
        ({"externalId_op": "not-empty"}, lambda order: bool(order.external_id)),
        ({"statusId": "order_created", "statusId_ic": "Y"}, has_status("ORDER_CREATED")),
        (
            {
                "statusId_fld0_value": "ORDER_CREATED",
                "statusId_fld0_op": "equals",
                "statusId_fld0_grp": "1",
                "statusId_fld1_value": "ORDER_CANCELLED",
                "statusId_fld1_op": "equals",
                "statusId_fld1_grp": "2",
            },
            has_status("ORDER_CREATED", "ORDER_CANCELLED"),
        ),
    ],
)
def test_perform_find_operators(
    http: httpx.Client, inputs: dict[str, Any], keep: Callable[[OrderRecord], bool]
) -> None:
    expected = seeded(keep)
    body = find(http, entityName="OrderHeader", inputFields=inputs, viewSize=100)
    assert body.get("count", 0) == expected
    if expected == 0:
        assert body == {"error": "No record found"}


def test_perform_find_paging_and_entities(http: httpx.Client) -> None:
    items = sum(len(o.items) for o in SandboxState(now=NOW).data.orders.values())
    pages = [
        find(http, entityName="OrderItem", noConditionFind="Y", viewSize=5, viewIndex=i)
        for i in range(math.ceil(items / 5))
    ]
    total = pages[0]["count"]
    assert total == sum(len(p["docs"]) for p in pages) == items
    idents = find(
        http,
        entityName="OrderIdentification",
        inputFields={"orderIdentificationTypeId": "SHOPIFY_ORD_ID", "idValue": "6100000000003"},
    )
    assert sorted(d["orderId"] for d in idents["docs"]) == ["10003", "10013"]
    statuses = find(http, entityName="OrderStatus", inputFields={"orderId": "10003"})
    assert [d["statusId"] for d in statuses["docs"]] == ["ORDER_CREATED", "ORDER_CANCELLED"]
    assert find(http, entityName="Nope", inputFields={"a": 1})["_ERROR_MESSAGE_"]
    assert "entityName" in find(http, inputFields={"a": 1})["_ERROR_MESSAGE_"]


# -- solr-query ---------------------------------------------------------------------------


def test_solr_get_with_stringified_json_and_grouping(http: httpx.Client) -> None:
    request = {
        "query": "*:*",
        "filter": "docType: ORDER AND orderTypeId: SALES_ORDER AND orderId: 10001",
        "params": {"group": True, "group.field": "orderId", "group.limit": 10000, "q.op": "AND"},
    }
    body = http.get("/api/solr-query", params={"json": json.dumps(request)}).json()
    group = body["grouped"]["orderId"]
    assert group["matches"] == 2  # one document per order item
    [only] = group["groups"]
    assert only["groupValue"] == "10001"
    docs = only["doclist"]["docs"]
    assert [d["orderItemSeqId"] for d in docs] == ["00001", "00002"]
    assert "SHOPIFY_ORD_ID/6100000000001" in docs[0]["orderIdentifications"]
    assert "grandTotal" not in docs[0]


def test_solr_by_shopify_identification_and_ngroups(http: httpx.Client) -> None:
    body = solr(
        http,
        {
            "query": 'docType:ORDER AND orderIdentifications:"SHOPIFY_ORD_ID/6100000000003"',
            "params": {"group": "true", "group.field": "orderId", "group.ngroups": "true"},
        },
    )
    assert body["grouped"]["orderId"]["ngroups"] == 2


def test_solr_stale_index(http: httpx.Client) -> None:
    body = solr(http, {"query": "docType:ORDER AND orderId:10009"})
    assert {d["orderStatusId"] for d in body["response"]["docs"]} == {"ORDER_CREATED"}
    [record] = http.get("/rest/s1/oms/orders", params={"orderId": "10009"}).json()
    assert record["statusId"] == "ORDER_APPROVED"


def test_log_insights_paging_and_window(http: httpx.Client) -> None:
    first = solr(http, {"params": {"q": "docType:SHOPIFY_ORDER"}}, "logInsights")
    total = first["response"]["numFound"]
    assert total == 31 and len(first["response"]["docs"]) == 10
    seen = {
        doc["document-id"]
        for start in range(0, total, 12)
        for doc in solr(
            http,
            {"params": {"q": "docType:SHOPIFY_ORDER", "start": start, "rows": 12}},
            "logInsights",
        )["response"]["docs"]
    }
    assert len(seen) == total
    day = solr(
        http,
        {"query": "docType:SHOPIFY_ORDER", "filter": ["timestamp:[NOW-1DAY TO NOW]"], "limit": 100},
        "logInsights",
    )
    assert 0 < day["response"]["numFound"] < total
    doc = day["response"]["docs"][0]
    for key in ("site", "shopifyOrderName", "orderCreatedDate", "errorMessage", "document-id"):
        assert doc[key]
    assert doc["orderCreatedDate"].isdigit()


def test_log_insights_answers_follow_new_failures(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    # The sandbox keeps each query's hits while the failures stay the same records: a failure
    # recorded (or replaced) after a page was read shows on the next page asked for.
    query = {"params": {"q": "docType:SHOPIFY_ORDER", "rows": 5}}
    before = solr(http, query, "logInsights")["response"]["numFound"]
    with sandbox.state.lock:
        newest = sandbox.state.data.failures[0]
        sandbox.state.data.failures.append(replace(newest, document_id="NEW-1"))
    assert solr(http, query, "logInsights")["response"]["numFound"] == before + 1
    with sandbox.state.lock:
        sandbox.state.data.failures[-1] = replace(newest, document_id="NEW-2")
    ids = {
        d["document-id"]
        for d in solr(http, {"params": {"q": "docType:SHOPIFY_ORDER", "rows": 100}}, "logInsights")[
            "response"
        ]["docs"]
    }
    assert "NEW-2" in ids and "NEW-1" not in ids


def test_solr_errors(http: httpx.Client) -> None:
    bad = solr(http, {"query": "orderId:(10001"})
    assert bad["responseHeader"]["status"] == 400 and bad["error"]["msg"]
    assert solr(http, {"query": "*:*"}, core="nope")["error"]["code"] == 404


# -- Maarg orders -------------------------------------------------------------------------


def test_maarg_orders_are_the_default_master(http: httpx.Client) -> None:
    by_name = http.get("/rest/s1/oms/orders", params={"orderName": "#1003"})
    assert by_name.headers["X-Total-Count"] == "2"
    rows = by_name.json()
    assert {r["orderId"] for r in rows} == {"10003", "10013"}
    # The master, whatever dependentLevels says: items only under their ship group.
    assert {"identifications", "statuses", "shipGroups", "roles", "contactMechs"} <= rows[0].keys()
    assert "items" not in rows[0] and rows[0]["shipGroups"][0]["items"]
    statuses = http.get(
        "/rest/s1/oms/orders", params={"statusId": "ORDER_CREATED,ORDER_HOLD", "statusId_op": "in"}
    )
    created_or_held = seeded(has_status("ORDER_CREATED", "ORDER_HOLD"))
    assert statuses.headers["X-Total-Count"] == str(created_or_held)


def test_maarg_ignores_what_it_does_not_know(http: httpx.Client) -> None:
    everything = http.get("/rest/s1/oms/orders").headers["X-Total-Count"]
    typo = http.get("/rest/s1/oms/orders", params={"externalID": "6100000000002"})
    assert typo.headers["X-Total-Count"] == everything  # an unknown field filters nothing
    unknown_op = http.get(
        "/rest/s1/oms/orders", params={"entryDate": "1", "entryDate_op": "greater"}
    )
    assert unknown_op.headers["X-Total-Count"] == everything  # nor does an unknown operator
    begins = http.get("/rest/s1/oms/orders", params={"orderName": "#100", "orderName_op": "begins"})
    assert begins.headers["X-Total-Count"] == "7"  # #1001-#1005 (two #1003) and #1009


def test_maarg_paging_defaults(sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.state.add_bulk_orders(110)
    total = seeded() + 110
    unpaged = http.get("/rest/s1/oms/orders")
    assert unpaged.headers["X-Total-Count"] == str(total) and len(unpaged.json()) == 100
    assert len(http.get("/rest/s1/oms/orders", params={"pageIndex": "0"}).json()) == 20
    big = http.get("/rest/s1/oms/orders", params={"pageSize": "500"})
    assert len(big.json()) == total  # no maximum
    assert len(http.get("/rest/s1/oms/orders", params={"pageNoLimit": "true"}).json()) == total


def test_maarg_page_cap_variant(sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.state.tenant = tenant_named("capped-pages")
    sandbox.state.add_bulk_orders(70)
    total = seeded() + 70
    page = http.get("/rest/s1/oms/orders", params={"pageSize": "500", "pageIndex": "1"})
    assert page.headers["X-Total-Count"] == str(total)
    assert len(page.json()) == total - 50  # rows 50..total-1: the page was capped at 50


def test_maarg_order_detail_status_and_errors(http: httpx.Client) -> None:
    detail = http.get("/rest/s1/oms/orders/10004").json()["orderDetail"]
    assert detail["orderExternalId"] == "6100000000004"
    assert detail["salesChannel"] == "POS_SALES_CHANNEL"
    history = http.get("/rest/s1/oms/orders/10004/status").json()
    assert history[0]["statusId"] == "ORDER_CREATED"
    missing = http.get("/rest/s1/oms/orders/NOPE")
    assert missing.status_code == 404 and "NOPE" in missing.json()["errors"]
    assert http.get("/rest/s1/oms/nothing-here").status_code == 404


# -- knobs --------------------------------------------------------------------------------


def test_down_latency_faults_and_request_log(sandbox: SandboxServer, http: httpx.Client) -> None:
    state = sandbox.state
    state.inject_fault("/rest/s1/*", "truncated", 2)
    for _ in range(2):
        with pytest.raises(json.JSONDecodeError):
            http.get("/rest/s1/oms/orders").json()
    assert http.get("/rest/s1/oms/orders").status_code == 200
    state.inject_fault("/api/user-profile", "html")
    assert http.get("/api/user-profile").headers["content-type"].startswith("text/html")
    # "lost": the write is applied, and its answer replaced by a gateway timeout.
    store = "/rest/s1/admin/productStores/STORE"
    record = http.get(store).json()
    state.inject_fault(store, "lost", method="PUT")
    lost = http.put(store, json={**record, "enableBrokering": "N"})
    assert lost.status_code == 504 and http.get(store).json()["enableBrokering"] == "N"
    state.down = True
    assert http.get("/api/user-profile").status_code == 503
    state.down = False
    # Latency delays answers and changes nothing else (how long it takes is bench/'s
    # business): the call completes with the same answer, and is logged like any other.
    plain = http.get("/api/user-profile")
    state.clear_requests()
    state.latency = 0.05
    slowed = http.get("/api/user-profile")
    assert (slowed.status_code, slowed.json()) == (200, plain.json())
    assert [r.path for r in state.requests()] == ["/api/user-profile"]
    state.latency = 0.0
    http.post("/api/performFind", json={"entityName": "OrderHeader", "inputFields": {"a": "b"}})
    logged = state.requests("/api/performFind", "POST")[-1]
    assert logged.body == {"entityName": "OrderHeader", "inputFields": {"a": "b"}}
    assert logged.bearer is not None


def test_state_is_safe_from_other_threads(sandbox: SandboxServer, http: httpx.Client) -> None:
    def churn() -> None:
        for _ in range(20):
            sandbox.state.add_bulk_orders(1)
            sandbox.state.requests()

    workers = [threading.Thread(target=churn) for _ in range(3)]
    for worker in workers:
        worker.start()
    for _ in range(10):
        assert http.get("/rest/s1/oms/orders", params={"pageSize": "50"}).status_code == 200
    for worker in workers:
        worker.join()
    assert http.get("/rest/s1/oms/orders").headers["X-Total-Count"] == str(seeded() + 60)


# -- scenarios ----------------------------------------------------------------------------


def test_scenarios_are_listed_and_parse() -> None:
    ids = [s.id for s in SCENARIOS]
    assert len(ids) == len(set(ids))
    required = {
        "pos-refresh-ok",
        "pos-refreshed",
        "pos-refresh-contactmech",
        "web-stuck-created",
        "missing-logged-failure",
        "missing-no-failure",
        "nowhere",
        "stale-index",
    }
    assert required <= set(ids)
    for scenario in SCENARIOS:
        parse_order_ref(scenario.reference)
        assert scenario.description


def test_scenario_data(sandbox: SandboxServer) -> None:
    data = sandbox.state.data
    assert data.orders["10002"].status_id == "ORDER_CREATED"
    assert data.shopify["6100000000002"].fulfillment_status == "fulfilled"
    assert data.shopify["6100000000004"].shipping_address is None
    stuck = data.orders["10005"]
    assert stuck.sales_channel_enum_id == "WEB_SALES_CHANNEL"
    assert NOW - stuck.entry_date >= timedelta(hours=5)
    assert stuck.payments[0].status_id == "PAYMENT_NOT_AUTH"
    in_hotwax = {o.external_id for o in data.orders.values()}
    for missing in ("6100000000006", "6100000000007"):
        assert missing in data.shopify and missing not in in_hotwax
    assert all(s.name != "#1008" for s in data.shopify.values())
    logged = {f.shopify_order_name: f.error_message for f in data.failures}
    assert "customer address" in logged["#1006"] and "#1007" not in logged
    assert data.mdm_logs[0].failed_records[0].shopify_order_id == "6100000000006"
    week = [f for f in data.failures if NOW - timedelta(days=7) <= f.timestamp <= NOW]
    assert len(week) == len(data.failures) >= 31
    texts = " ".join(f.error_message for f in data.failures)
    for needle in ("E-mail address not formatted", "Rollback called", "target threw"):
        assert needle in texts


def test_deterministic_seed() -> None:
    first, second = SandboxState(now=NOW), SandboxState(now=NOW)
    assert [f.document_id for f in first.data.failures] == [
        f.document_id for f in second.data.failures
    ]
    assert len(SandboxState(now=NOW, extra_failures=500).data.failures) == 531


def test_server_lifecycle_and_banner() -> None:
    server = SandboxServer(SandboxState(now=NOW))
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{server.url}/api/checkLoginOptions").status_code == 200
        text = banner(server.url)
    assert DEMO_USERNAME in text and DEMO_PASSWORD in text and "pos-refresh-ok" in text
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/api/checkLoginOptions", timeout=0.5)
