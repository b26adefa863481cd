"""The sandbox's Shopify proxy, order-sync ServiceJob, MDM logs and order-record writes, over
real HTTP: what the POS-refresh and order-sync runbooks call on Maarg."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.sandbox import (
    CONTACT_MECH_ERROR,
    DEMO_ORDER_SYNC_JOB,
    DEMO_PASSWORD,
    DEMO_SHOPIFY_REMOTE,
    DEMO_USERNAME,
    MISSING_ADDRESS_ERROR,
    SYNC_SHOPIFY_ORDER,
    TIMESTAMP_ERROR,
    SandboxServer,
    SandboxState,
)
from bot.sandbox.shapes import epoch_ms

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
JOB = f"/rest/s1/admin/serviceJobs/{DEMO_ORDER_SYNC_JOB}"
MDM = "/rest/s1/admin/dataManager/details"
SEARCH_QUERY = (
    "query ($query: String) { orders(first: 5, query: $query) { edges { node { id } } } }"
)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxState(now=NOW)) as srv:
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.state.reset()
    server.state.job_run_seconds = 0  # runs finish before runNow answers
    return server


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=5.0) as client:
        token = client.post(
            "/api/login", json={"USERNAME": DEMO_USERNAME, "PASSWORD": DEMO_PASSWORD}
        ).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def details(http: httpx.Client, shopify_id: str, remote: str = DEMO_SHOPIFY_REMOTE) -> Any:
    return http.get(
        "/rest/s1/shopify/order/details",
        params={"systemMessageRemoteId": remote, "shopifyOrderId": shopify_id},
    )


def search(http: httpx.Client, query: Any, remote: str = DEMO_SHOPIFY_REMOTE) -> httpx.Response:
    body = {"systemMessageRemoteId": remote, "queryText": SEARCH_QUERY, "variables": query}
    return http.post("/rest/s1/shopify/graphql", json=body)


def job_parameters(http: httpx.Client) -> list[dict[str, str]]:
    detail = http.get(JOB).json()["jobDetail"]
    return [
        {"parameterName": p["parameterName"], "parameterValue": p["parameterValue"]}
        for p in detail["serviceJobParameters"]
    ]


def with_values(params: list[dict[str, str]], **values: str) -> list[dict[str, str]]:
    return [
        {**p, "parameterValue": values.get(p["parameterName"], p["parameterValue"])} for p in params
    ]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def set_window(http: httpx.Client, shopify_id: str) -> list[dict[str, str]]:
    """Aim the sync job at one order's Shopify updatedAt (+-1 min); returns the old params."""
    updated = details(http, shopify_id).json()["orderDetail"]["updatedAt"]
    moment = datetime.fromisoformat(updated.replace("Z", "+00:00"))
    original = job_parameters(http)
    window = with_values(
        original,
        fromDate=stamp(moment - timedelta(minutes=1)),
        thruDate=stamp(moment + timedelta(minutes=1)),
    )
    answer = http.put(JOB, json={"jobName": DEMO_ORDER_SYNC_JOB, "serviceJobParameters": window})
    assert (answer.status_code, answer.json()) == (200, {})
    return original


def replay(http: httpx.Client, shopify_id: str) -> dict[str, Any]:
    """The documented re-import: window, runNow, restore; returns the finished run."""
    original = set_window(http, shopify_id)
    run_id = http.post(f"{JOB}/runNow").json()["jobRunId"]
    http.put(JOB, json={"jobName": DEMO_ORDER_SYNC_JOB, "serviceJobParameters": original})
    return run_by_id(http, run_id)


def run_by_id(http: httpx.Client, run_id: str) -> dict[str, Any]:
    runs = http.get(f"{JOB}/runs", params={"pageSize": "50", "orderByField": "-jobRunId"}).json()
    return next(run for run in runs if run["jobRunId"] == run_id)


def versions(http: httpx.Client, shopify_id: str) -> list[dict[str, Any]]:
    answer = http.get("/rest/s1/oms/orders", params={"externalId": shopify_id})
    assert answer.status_code == 200
    rows: list[dict[str, Any]] = answer.json()
    return rows


def latest_log(http: httpx.Client) -> dict[str, Any]:
    body = http.get(MDM, params={"configId": SYNC_SHOPIFY_ORDER, "pageSize": "1"}).json()
    log: dict[str, Any] = body["dataManagerLogs"][0]
    return log


def cancel(http: httpx.Client, order_id: str, reason: str | None = None) -> Any:
    body = {"orderId": order_id, "statusId": "ORDER_CANCELLED", "setItemStatus": "Y"}
    if reason:
        body["changeReason"] = reason
    return http.post("/api/service/changeOrderStatus", json=body).json()


# -- Shopify proxy ------------------------------------------------------------------------


def test_order_details_shape_and_errors(sandbox: SandboxServer, http: httpx.Client) -> None:
    pos = details(http, "6100000000002").json()["orderDetail"]
    assert pos["name"] == "#1002"
    assert pos["id"] == "gid://shopify/Order/6100000000002"
    assert pos["legacyResourceId"] == "6100000000002"
    assert (pos["sourceName"], pos["displayFulfillmentStatus"]) == ("pos", "FULFILLED")
    assert pos["displayFinancialStatus"] == "PAID"
    assert pos["shippingAddress"]["city"] == "Brooklyn"
    assert pos["updatedAt"].endswith("Z") and pos["createdAt"] < pos["updatedAt"]
    assert pos["totalPrice"] == "62.00" and pos["lineItems"][0]["sku"] == "AWB-1"
    web = details(http, "6100000000006").json()["orderDetail"]
    assert (web["sourceName"], web["displayFulfillmentStatus"]) == ("web", "UNFULFILLED")
    assert web["shippingAddress"] is None and web["email"] and web["phone"]

    missing = details(http, "6100000000008")
    assert missing.status_code == 404
    assert missing.json()["errors"] == "Shopify order 6100000000008 not found"
    wrong_remote = details(http, "6100000000002", remote="OTHER_SHOP")
    assert wrong_remote.status_code == 400 and "OTHER_SHOP" in wrong_remote.json()["errors"]
    no_remote = http.get(
        "/rest/s1/shopify/order/details", params={"shopifyOrderId": "6100000000002"}
    )
    assert no_remote.status_code == 400 and "systemMessageRemoteId" in no_remote.json()["errors"]
    anonymous = httpx.get(f"{sandbox.url}/rest/s1/shopify/order/details")
    assert anonymous.status_code == 401
    logged = sandbox.state.requests("/rest/s1/shopify/order/details", "GET")[0]
    assert logged.params["systemMessageRemoteId"] == [DEMO_SHOPIFY_REMOTE]


def test_graphql_order_search(http: httpx.Client) -> None:
    by_name = search(http, {"query": "name:#1006"})
    assert by_name.status_code == 200
    [edge] = by_name.json()["response"]["orders"]["edges"]
    assert edge["node"] == details(http, "6100000000006").json()["orderDetail"]
    [by_id] = search(http, {"query": "id:6100000000007"}).json()["response"]["orders"]["edges"]
    assert by_id["node"]["name"] == "#1007"
    assert search(http, {"query": "name:#1008"}).json() == {"response": {"orders": {"edges": []}}}

    unsupported = search(http, {"query": "financial_status:paid"})
    assert unsupported.status_code == 400 and "name:#" in unsupported.json()["errors"]
    assert search(http, {}).status_code == 400
    assert search(http, {"query": "name:#1006"}, remote="NOPE").status_code == 400
    no_query_text = http.post(
        "/rest/s1/shopify/graphql",
        json={"systemMessageRemoteId": DEMO_SHOPIFY_REMOTE, "variables": {"query": "id:1"}},
    )
    assert no_query_text.status_code == 400 and no_query_text.json()["errors"]


# -- the order-sync ServiceJob ------------------------------------------------------------


def test_job_detail_and_full_parameter_update(http: httpx.Client) -> None:
    detail = http.get(JOB).json()["jobDetail"]
    assert detail["jobName"] == DEMO_ORDER_SYNC_JOB and detail["paused"] == "N"
    assert detail["serviceName"] and detail["cronExpression"] == "0 */15 * ? * *"
    params = {p["parameterName"]: p["parameterValue"] for p in detail["serviceJobParameters"]}
    assert params == {
        "systemMessageRemoteId": DEMO_SHOPIFY_REMOTE,
        "systemMessageTypeId": "ShopifyOrderSync",
        "runAsBatch": "true",
        "fromDate": "",
        "thruDate": "",
    }
    assert {p["jobName"] for p in detail["serviceJobParameters"]} == {DEMO_ORDER_SYNC_JOB}

    original = job_parameters(http)
    iso = with_values(original, fromDate="2025-03-10T08:00:00Z")
    rejected = http.put(JOB, json={"jobName": DEMO_ORDER_SYNC_JOB, "serviceJobParameters": iso})
    assert (rejected.status_code, rejected.json()["errors"]) == (400, TIMESTAMP_ERROR)
    assert job_parameters(http) == original  # a refused update changes nothing

    window = with_values(original, fromDate="2025-03-10 08:25:00", thruDate="2025-03-10 08:27:00")
    update = {"jobName": DEMO_ORDER_SYNC_JOB, "serviceJobParameters": window, "paused": "Y"}
    assert http.put(JOB, json=update).json() == {}
    assert job_parameters(http) == window
    assert http.get(JOB).json()["jobDetail"]["paused"] == "Y"
    assert http.put(JOB, json={"jobName": DEMO_ORDER_SYNC_JOB, "paused": "N"}).json() == {}
    assert job_parameters(http) == window  # no serviceJobParameters: parameters untouched

    for bad in ({"jobName": "other_job"}, {"paused": "maybe"}, {"cronExpression": "hourly"}):
        assert http.put(JOB, json=bad).status_code == 400
    unknown = "/rest/s1/admin/serviceJobs/queue_ShopifyOrderSync_NOPE"
    assert http.get(unknown).status_code == 404
    assert http.put(unknown, json={"paused": "Y"}).status_code == 404
    assert http.post(f"{unknown}/runNow").status_code == 404
    assert http.get(f"{unknown}/runs").status_code == 404


def test_replay_window_imports_exactly_one_order(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    assert versions(http, "6100000000007") == []
    run = replay(http, "6100000000007")
    assert run["hasError"] == "N" and run["errors"] is None and run["endTime"] is not None
    assert run["messages"] == "Imported Shopify order #1007 as HotWax order 20001"
    assert run["results"] == "1 imported, 0 skipped, 0 failed"
    assert run["parameters"]["fromDate"] and run["userId"] == DEMO_USERNAME
    [order] = versions(http, "6100000000007")
    assert (order["orderId"], order["statusId"]) == ("20001", "ORDER_CREATED")
    assert order["salesChannelEnumId"] == "WEB_SALES_CHANNEL"
    assert len(sandbox.state.data.orders) == 13  # the 12 seeded orders and this one

    log = latest_log(http)
    assert log["createdByJobRunId"] == run["jobRunId"]
    assert (log["statusId"], log["totalRecordCount"], log["failedRecordCount"]) == (
        "DmlsFinished",
        1,
        0,
    )
    assert log["errorLogContentId"] is None
    content = http.get(
        "/rest/s1/admin/dataManager/downloadDataManagerFile",
        params={"configId": SYNC_SHOPIFY_ORDER, "logContentId": log["logContentId"]},
    ).json()
    assert [o["name"] for o in content["orders"]] == ["#1007"]
    # The restore after the run put the original (empty) window back.
    assert {p["parameterValue"] for p in job_parameters(http) if "Date" in p["parameterName"]} == {
        ""
    }


def test_run_uses_parameters_at_run_now_and_finishes_later(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    sandbox.state.job_run_seconds = 2.0
    original = set_window(http, "6100000000007")
    run_id = http.post(f"{JOB}/runNow").json()["jobRunId"]
    # Restored before the run finishes: the run still replays the window it started with.
    http.put(JOB, json={"jobName": DEMO_ORDER_SYNC_JOB, "serviceJobParameters": original})
    started = run_by_id(http, run_id)
    assert started["endTime"] is None and started["hasError"] == "N"
    deadline = time.monotonic() + 10
    while run_by_id(http, run_id)["endTime"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    finished = run_by_id(http, run_id)
    assert finished["endTime"] is not None
    assert "Imported Shopify order #1007" in finished["messages"]
    assert len(versions(http, "6100000000007")) == 1


def test_runs_paging_and_order(http: httpx.Client) -> None:
    seeded = http.get(f"{JOB}/runs").headers["X-Total-Count"]
    first = http.post(f"{JOB}/runNow").json()["jobRunId"]
    second = http.post(f"{JOB}/runNow").json()["jobRunId"]
    assert int(second) == int(first) + 1
    page = http.get(
        f"{JOB}/runs", params={"pageSize": "1", "pageIndex": "0", "orderByField": "-jobRunId"}
    )
    assert page.headers["X-Total-Count"] == str(int(seeded) + 2)
    assert [run["jobRunId"] for run in page.json()] == [second]
    oldest = http.get(f"{JOB}/runs", params={"pageSize": "1", "orderByField": "jobRunId"}).json()
    assert int(oldest[0]["jobRunId"]) < int(first)
    failed = http.get(f"{JOB}/runs", params={"hasError": "Y"}).json()
    assert [run["errors"] for run in failed] == [MISSING_ADDRESS_ERROR]  # the seeded #1006 run
    assert http.get(f"{JOB}/runs", params={"orderByField": "-nope"}).status_code == 400


def test_run_with_unknown_remote_fails(http: httpx.Client) -> None:
    params = with_values(job_parameters(http), systemMessageRemoteId="NOPE")
    http.put(JOB, json={"jobName": DEMO_ORDER_SYNC_JOB, "serviceJobParameters": params})
    run = run_by_id(http, http.post(f"{JOB}/runNow").json()["jobRunId"])
    assert run["hasError"] == "Y" and run["errors"] == "SystemMessageRemote not found with ID NOPE"
    assert latest_log(http)["statusId"] == "DmlsFailed"


# -- import semantics ---------------------------------------------------------------------


def test_import_skips_an_order_already_in_hotwax(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    run = replay(http, "6100000000002")
    assert run["messages"] == "Shopify order #1002 already in HotWax as 10002; skipped"
    assert run["hasError"] == "N"
    assert [v["orderId"] for v in versions(http, "6100000000002")] == ["10002"]


def test_reimport_over_a_cancelled_version_is_a_refresh(http: httpx.Client) -> None:
    assert cancel(http, "10002", "Old Version")["successMessage"]
    run = replay(http, "6100000000002")
    assert run["hasError"] == "N" and "as HotWax order 20001" in run["messages"]
    found = {
        (v["orderId"], v["statusId"], v["salesChannelEnumId"])
        for v in versions(http, "6100000000002")
    }
    assert found == {
        ("10002", "ORDER_CANCELLED", "POS_SALES_CHANNEL"),
        ("20001", "ORDER_COMPLETED", "POS_SALES_CHANNEL"),  # fulfilled in Shopify
    }


def test_refresh_without_address_fails_then_fresh_pos_import_works(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    """Runbook 1 end to end: cancel, re-import fails; delete the old version; re-import works."""
    cancel(http, "10004", "Old Version")
    failed = replay(http, "6100000000004")
    assert (failed["hasError"], failed["errors"]) == ("Y", CONTACT_MECH_ERROR)
    log = latest_log(http)
    assert (log["statusId"], log["failedRecordCount"]) == ("DmlsFailed", 1)
    assert log["createdByJobRunId"] == failed["jobRunId"]

    for item in http.get("/rest/s1/oms/orders/10004").json()["orderDetail"]["shipGroups"][0][
        "items"
    ]:
        gone = http.delete(f"/rest/s1/oms/orders/10004/items/{item['orderItemSeqId']}")
        assert (gone.status_code, gone.json()) == (200, {})
    assert http.delete("/rest/s1/oms/orders/10004").json() == {}
    assert versions(http, "6100000000004") == []

    run = replay(http, "6100000000004")
    assert run["hasError"] == "N", run["errors"]
    [order] = versions(http, "6100000000004")
    assert (order["statusId"], order["salesChannelEnumId"]) == (
        "ORDER_COMPLETED",
        "POS_SALES_CHANNEL",
    )
    assert sandbox.state.data.orders[order["orderId"]].facility_id == "BROOKLYN_POS"


def test_fresh_web_import_without_address_fails_like_the_logged_failure(
    http: httpx.Client,
) -> None:
    run = replay(http, "6100000000006")
    assert (run["hasError"], run["errors"]) == ("Y", MISSING_ADDRESS_ERROR)
    assert versions(http, "6100000000006") == []
    logged = http.post(
        "/api/solr-query",
        json={"coreName": "logInsights", "json": {"query": 'shopifyOrderName:"#1006"'}},
    ).json()["response"]["docs"]
    assert [doc["errorMessage"] for doc in logged] == [MISSING_ADDRESS_ERROR]
    log = latest_log(http)
    rows = csv_rows(http, log["errorLogContentId"])
    assert rows == [
        ["shopifyOrderId", "orderName", "eventMessage"],
        ["6100000000006", "#1006", MISSING_ADDRESS_ERROR],
    ]


# -- order record deletes and identification expiry ---------------------------------------


def test_header_delete_refused_while_items_remain(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    refused = http.delete("/rest/s1/oms/orders/10005")
    assert refused.status_code == 400
    assert refused.json()["errors"] == (
        "Cannot delete OrderHeader [10005]: 2 OrderItem records still reference it"
    )
    assert http.get("/rest/s1/oms/orders/10005").status_code == 200
    assert http.delete("/rest/s1/oms/orders/10005/items/00009").status_code == 404
    assert http.delete("/rest/s1/oms/orders/NOPE/items/00001").status_code == 404
    assert http.delete("/rest/s1/oms/orders/10005/items/00001").json() == {}
    still = http.delete("/rest/s1/oms/orders/10005")
    assert "1 OrderItem records still reference it" in still.json()["errors"]
    http.delete("/rest/s1/oms/orders/10005/items/00002")
    assert http.delete("/rest/s1/oms/orders/10005").json() == {}
    assert http.get("/rest/s1/oms/orders/10005").status_code == 404
    assert http.get("/rest/s1/oms/orders/10005/status").status_code == 404
    assert http.delete("/rest/s1/oms/orders/10005").status_code == 404
    assert [r.path for r in sandbox.state.requests(method="DELETE")][
        -1
    ] == "/rest/s1/oms/orders/10005"
    # The identification rows outlive the header until they are expired themselves.
    idents = http.post(
        "/api/performFind",
        json={"entityName": "OrderIdentification", "inputFields": {"orderId": "10005"}},
    ).json()
    assert idents["count"] == 3
    expire = {
        "orderIdentificationTypeId": "SHOPIFY_ORD_ID",
        "orderId": "10005",
        "thruDate": epoch_ms(sandbox.state.now()),
    }
    assert http.put("/rest/s1/oms/orders/10005/identifications", json=expire).json() == {}


def test_expired_identification_hides_the_order(sandbox: SandboxServer, http: httpx.Client) -> None:
    [row] = http.get(
        "/rest/s1/oms/orders", params={"orderId": "10009", "dependentLevels": "1"}
    ).json()
    ident = next(
        i for i in row["identifications"] if i["orderIdentificationTypeId"] == "SHOPIFY_ORD_ID"
    )
    now_ms = epoch_ms(sandbox.state.now())
    body = {
        "orderIdentificationTypeId": "SHOPIFY_ORD_ID",
        "orderId": "10009",
        "fromDate": ident["fromDate"],
        "thruDate": now_ms,
    }
    answer = http.put("/rest/s1/oms/orders/10009/identifications", json=body)
    assert (answer.status_code, answer.json()) == (200, {})
    assert versions(http, "6100000000009") == []
    solr = http.post(
        "/api/solr-query",
        json={
            "json": {
                "query": 'docType:ORDER AND orderIdentifications:"SHOPIFY_ORD_ID/6100000000009"'
            }
        },
    ).json()
    assert solr["response"]["numFound"] == 0
    [row] = http.get(
        "/rest/s1/oms/orders", params={"orderId": "10009", "dependentLevels": "1"}
    ).json()
    expired = next(
        i for i in row["identifications"] if i["orderIdentificationTypeId"] == "SHOPIFY_ORD_ID"
    )
    assert expired["thruDate"] == now_ms

    assert http.get("/rest/s1/oms/orders", params={"orderName": "#1009"}).json() != []
    name = {"orderIdentificationTypeId": "SHOPIFY_ORD_NAME", "thruDate": now_ms}
    http.put("/rest/s1/oms/orders/10009/identifications", json=name)
    assert http.get("/rest/s1/oms/orders", params={"orderName": "#1009"}).json() == []

    revive = {**body, "thruDate": None}
    assert http.put("/rest/s1/oms/orders/10009/identifications", json=revive).json() == {}
    assert [v["orderId"] for v in versions(http, "6100000000009")] == ["10009"]

    path = "/rest/s1/oms/orders/10009/identifications"
    assert http.put(path, json={"thruDate": now_ms}).status_code == 400
    assert http.put(path, json={**body, "thruDate": "yesterday"}).status_code == 400
    assert http.put(path, json={**body, "orderId": "10001"}).status_code == 400
    assert http.put(path, json={**body, "fromDate": 1}).status_code == 404
    assert http.put(path, json={**body, "orderIdentificationTypeId": "NOPE"}).status_code == 404
    missing = http.put("/rest/s1/oms/orders/NOPE/identifications", json={**body, "orderId": "NOPE"})
    assert missing.status_code == 404


# -- MDM logs -----------------------------------------------------------------------------


def csv_rows(http: httpx.Client, content_id: str) -> list[list[str]]:
    answer = http.get(
        "/rest/s1/admin/dataManager/downloadDataManagerFile",
        params={"configId": SYNC_SHOPIFY_ORDER, "logContentId": content_id},
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.text)))


def test_seeded_mdm_logs_paging_filter_and_download(http: httpx.Client) -> None:
    body = http.get(MDM, params={"configId": SYNC_SHOPIFY_ORDER, "pageSize": "50"}).json()
    logs = body["dataManagerLogs"]
    assert body["dataManagerLogsCount"] == len(logs) == 9
    created = [log["createdDate"] for log in logs]
    assert created == sorted(created, reverse=True)
    assert created[0] - created[-1] <= 24 * 3600 * 1000
    assert all(log["totalRecordCount"] > 0 and log["createdByJobRunId"] for log in logs)
    assert {log["statusId"] for log in logs} == {"DmlsFinished", "DmlsFailed"}

    page = http.get(MDM, params={"configId": SYNC_SHOPIFY_ORDER, "pageSize": "4", "pageIndex": "2"})
    assert [log["logId"] for log in page.json()["dataManagerLogs"]] == [logs[8]["logId"]]

    failed = http.get(
        MDM,
        params={
            "configId": SYNC_SHOPIFY_ORDER,
            "statusId": "DmlsFailed,DmlsCrashed",
            "statusId_op": "in",
        },
    ).json()
    [log] = failed["dataManagerLogs"]
    assert failed["dataManagerLogsCount"] == 1 and log["failedRecordCount"] == 1
    assert csv_rows(http, log["errorLogContentId"])[1] == [
        "6100000000006",
        "#1006",
        MISSING_ADDRESS_ERROR,
    ]
    run = run_by_id(http, log["createdByJobRunId"])
    assert run["hasError"] == "Y" and run["errors"] == MISSING_ADDRESS_ERROR

    assert http.get(MDM, params={"configId": "UPDATE_SHOPIFY_ORDER"}).json() == {
        "dataManagerLogs": [],
        "dataManagerLogsCount": 0,
    }
    download = "/rest/s1/admin/dataManager/downloadDataManagerFile"
    unknown = http.get(download, params={"configId": SYNC_SHOPIFY_ORDER, "logContentId": "NOPE"})
    assert unknown.status_code == 404 and "NOPE" in unknown.json()["errors"]
    assert http.get(download, params={"configId": SYNC_SHOPIFY_ORDER}).status_code == 400
    assert (
        http.get(MDM, params={"statusId": "DmlsFailed", "statusId_op": "like"}).status_code == 400
    )

    ofbiz = http.post(
        "/api/performFind",
        json={
            "entityName": "DataManagerLogAndContent",
            "inputFields": {"configId": SYNC_SHOPIFY_ORDER},
        },
    ).json()
    assert ofbiz["count"] == 9
    assert sum(doc["failedRecordCount"] for doc in ofbiz["docs"]) == 1


# -- changeOrderStatus changeReason -------------------------------------------------------


def test_change_order_status_records_change_reason(http: httpx.Client) -> None:
    assert cancel(http, "10002", "Old Version")["orderId"] == "10002"
    assert http.get("/rest/s1/oms/orders/10002/status").json()[-1]["changeReason"] == "Old Version"
    cancel(http, "10014")
    latest = http.get("/rest/s1/oms/orders/10014/status").json()[-1]
    assert (latest["statusId"], latest["changeReason"]) == ("ORDER_CANCELLED", None)
