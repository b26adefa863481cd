"""The sandbox's Shopify proxy, order sync, MDM logs and order-record writes, over real HTTP:
what the POS-refresh and order-sync runbooks call on Maarg, behaving as HotWax does
(docs/oms-api.md, "Order runbooks" and "The sandbox")."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.sandbox import (
    CONTACT_MECH_ERROR,
    DEMO_ORDER_SYNC_JOB,
    DEMO_SHOPIFY_REMOTE,
    DEMO_USERNAME,
    MISSING_ADDRESS_ERROR,
    SYNC_SHOPIFY_ORDER,
    TIMESTAMP_ERROR,
    SandboxServer,
    SandboxState,
    tenant_named,
    variant,
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


UPDATE = "UPDATE_SHOPIFY_ORDER"
DOWNLOAD = "/rest/s1/admin/dataManager/downloadDataManagerFile"


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.state.reset()
    server.state.job_run_seconds = 0  # runs end before runNow answers...
    server.state.sync_delay_seconds = 0  # ... and the MDM imports their sync at once
    return server


def details(http: httpx.Client, shopify_id: str, remote: str = DEMO_SHOPIFY_REMOTE) -> Any:
    return http.get(
        "/rest/s1/shopify/order/details",
        params={
            "systemMessageRemoteId": remote,
            "shopifyOrderId": f"gid://shopify/Order/{shopify_id}",
        },
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
    known = {p["parameterName"] for p in params}
    return [
        {**p, "parameterValue": values.get(p["parameterName"], p["parameterValue"])} for p in params
    ] + [{"parameterName": k, "parameterValue": v} for k, v in values.items() if k not in known]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def updated_at(http: httpx.Client, shopify_id: str) -> datetime:
    updated = details(http, shopify_id).json()["orderDetail"]["updatedAt"]
    return datetime.fromisoformat(updated.replace("Z", "+00:00"))


def replay(http: httpx.Client, shopify_id: str, **extra: str) -> dict[str, Any]:
    """HotWax's re-import: fromDate a minute before the order's updatedAt, runNow, the
    parameters back with fromDate null; returns the run (ended: the sync is then staged)."""
    original = job_parameters(http)
    start = stamp(updated_at(http, shopify_id) - timedelta(minutes=1))
    window = with_values(original, fromDate=start, **extra)
    answer = http.put(JOB, json={"jobName": DEMO_ORDER_SYNC_JOB, "serviceJobParameters": window})
    assert (answer.status_code, answer.json()) == (200, {})
    run_id = http.post(f"{JOB}/runNow").json()["jobRunId"]
    back = [*original, {"parameterName": "fromDate", "parameterValue": None}]
    http.put(JOB, json={"jobName": DEMO_ORDER_SYNC_JOB, "serviceJobParameters": back})
    return run_by_id(http, run_id)


def run_by_id(http: httpx.Client, run_id: str) -> dict[str, Any]:
    runs = http.get(f"{JOB}/runs", params={"pageSize": "50", "orderByField": "-jobRunId"}).json()
    return next(run for run in runs if run["jobRunId"] == run_id)


def versions(http: httpx.Client, shopify_id: str) -> list[dict[str, Any]]:
    answer = http.get("/rest/s1/oms/orders", params={"externalId": shopify_id})
    assert answer.status_code == 200
    rows: list[dict[str, Any]] = answer.json()
    return rows


def latest_log(http: httpx.Client, config: str = SYNC_SHOPIFY_ORDER) -> dict[str, Any]:
    body = http.get(
        MDM, params={"configId": config, "pageSize": "1", "orderByField": "-createdDate"}
    ).json()
    log: dict[str, Any] = body["dataManagerLogs"][0]
    return log


def processed(http: httpx.Client, config: str) -> list[str]:
    """The names of every order the MDM took in under `config` (every log's content)."""
    logs = http.get(MDM, params={"configId": config, "pageSize": "100"}).json()
    names: list[str] = []
    for log in logs["dataManagerLogs"]:
        content = http.get(
            DOWNLOAD, params={"configId": config, "logContentId": log["logContentId"]}
        ).json()
        names += [o["name"] for o in json.loads(content["csvData"])]
    return names


def failed_records(http: httpx.Client, log: dict[str, Any]) -> list[dict[str, Any]]:
    answer = http.get(
        DOWNLOAD, params={"configId": log["configId"], "logContentId": log["errorLogContentId"]}
    )
    assert answer.status_code == 200
    records: list[dict[str, Any]] = json.loads(answer.json()["csvData"])
    return records


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

    # A missing order is a warning: HTTP 200 without orderDetail.
    missing = details(http, "6100000000008")
    assert missing.status_code == 200 and "orderDetail" not in missing.json()
    # A numeric id is not a GraphQL id: Shopify refuses it and the service fails.
    numeric = http.get(
        "/rest/s1/shopify/order/details",
        params={"systemMessageRemoteId": DEMO_SHOPIFY_REMOTE, "shopifyOrderId": "6100000000002"},
    )
    assert numeric.status_code == 500 and "Invalid global id" in numeric.json()["errors"]
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


def test_job_detail_and_parameter_update(http: httpx.Client) -> None:
    detail = http.get(JOB).json()["jobDetail"]
    assert detail["jobName"] == DEMO_ORDER_SYNC_JOB and detail["paused"] == "N"
    assert detail["serviceName"] and detail["cronExpression"] == "0 */15 * ? * *"
    params = {p["parameterName"]: p["parameterValue"] for p in detail["serviceJobParameters"]}
    # A shop's clone has no fromDate: the sync resumes from its last message.
    assert params == {
        "systemMessageRemoteId": DEMO_SHOPIFY_REMOTE,
        "systemMessageTypeId": "ShopifyOrderSync",
        "runAsBatch": "true",
        "additionalParameters": '{"thruDateBuffer":1,"filter":null}',
    }
    original = job_parameters(http)
    iso = with_values(original, fromDate="2025-03-10T08:00:00Z")
    rejected = http.put(JOB, json={"jobName": DEMO_ORDER_SYNC_JOB, "serviceJobParameters": iso})
    assert (rejected.status_code, rejected.json()["errors"]) == (400, TIMESTAMP_ERROR)
    assert job_parameters(http) == original  # a refused update changes nothing
    for bad in ({"jobName": "other_job"}, {"paused": "maybe"}, {"cronExpression": "hourly"}):
        assert http.put(JOB, json=bad).status_code == 400
    unknown = "/rest/s1/admin/serviceJobs/queue_ShopifyOrderSync_NOPE"
    assert http.get(unknown).status_code == 404
    assert http.post(f"{unknown}/runNow").status_code == 404


def test_a_run_only_queues_the_sync_and_the_mdm_imports_it(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    assert versions(http, "6100000000007") == []
    run = replay(http, "6100000000007")
    # The run ends once the sync is queued; it knows nothing of the import.
    assert run["hasError"] == "N" and run["errors"] is None and run["endTime"] is not None
    assert run["messages"] == f"Queued a ShopifyOrderSync system message for {DEMO_SHOPIFY_REMOTE}"
    assert run["parameters"]["fromDate"] and run["userId"] == DEMO_USERNAME
    [order] = versions(http, "6100000000007")
    assert order["statusId"] == "ORDER_CREATED"
    assert order["salesChannelEnumId"] == "WEB_SALES_CHANNEL"
    log = latest_log(http)
    assert log["createdByJobRunId"] is None  # the connector does not carry the run id yet
    content = http.get(
        DOWNLOAD, params={"configId": SYNC_SHOPIFY_ORDER, "logContentId": log["logContentId"]}
    ).json()
    assert "#1007" in [o["name"] for o in json.loads(content["csvData"])]
    # The replay takes every order changed since its fromDate: #1002, changed in Shopify
    # after its import, is updated too; orders unchanged since their last sync are skipped.
    assert processed(http, UPDATE) == ["#1002"]
    assert "#1014" not in processed(http, UPDATE) + processed(http, SYNC_SHOPIFY_ORDER)


def test_a_tenant_whose_mdm_log_names_the_run(sandbox: SandboxServer, http: httpx.Client) -> None:
    # The other plausible answer: the connector propagates the run id to the MDM log.
    sandbox.state.tenant = variant(sandbox.state.tenant, mdm_log_names_run=True)
    run = replay(http, "6100000000007")
    assert latest_log(http)["createdByJobRunId"] == run["jobRunId"]


def test_the_import_comes_after_the_run_ends(sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.state.sync_delay_seconds = 1.0
    run = replay(http, "6100000000007")
    assert run["endTime"] is not None and versions(http, "6100000000007") == []
    deadline = time.monotonic() + 10
    while not versions(http, "6100000000007") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(versions(http, "6100000000007")) == 1


def test_thru_date_is_ignored_and_the_window_ends_a_minute_ago(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    before = stamp(updated_at(http, "6100000000007") - timedelta(minutes=2))
    replay(http, "6100000000007", thruDate=before)  # a thruDate before the order: ignored
    assert len(versions(http, "6100000000007")) == 1
    with sandbox.state.lock:  # the order changes in Shopify right now
        shop = sandbox.state.data.shopify["6100000000006"]
        shop.updated_at = sandbox.state.now()
        shop.shipping_address = {"city": "Brooklyn"}
    replay(http, "6100000000006")
    assert versions(http, "6100000000006") == []  # inside the one-minute buffer: not yet


def test_without_from_date_the_sync_resumes_where_it_stopped(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    with sandbox.state.lock:  # #1007 was created and changed after the last sync
        sandbox.state.data.shopify["6100000000007"].updated_at = sandbox.state.now() - timedelta(
            seconds=90
        )
    http.post(f"{JOB}/runNow")
    assert len(versions(http, "6100000000007")) == 1
    with sandbox.state.lock:
        job = sandbox.state.data.service_jobs[DEMO_ORDER_SYNC_JOB]
        assert job.synced_until is not None and job.synced_until > sandbox.state.now() - timedelta(
            minutes=2
        )


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
    # Import failures are the MDM's: no seeded run has an error.
    assert http.get(f"{JOB}/runs", params={"hasError": "Y"}).json() == []


def test_run_with_unknown_remote_fails(http: httpx.Client) -> None:
    params = with_values(job_parameters(http), systemMessageRemoteId="NOPE")
    http.put(JOB, json={"jobName": DEMO_ORDER_SYNC_JOB, "serviceJobParameters": params})
    run = run_by_id(http, http.post(f"{JOB}/runNow").json()["jobRunId"])
    assert run["hasError"] == "Y" and run["errors"] == "SystemMessageRemote not found with ID NOPE"


# -- what the sync does with an order already in HotWax ----------------------------------


def test_an_unchanged_order_is_skipped_without_a_record(http: httpx.Client) -> None:
    replay(http, "6100000000001")
    assert [v["orderId"] for v in versions(http, "6100000000001")] == ["10001"]
    assert "#1001" not in processed(http, UPDATE) + processed(http, SYNC_SHOPIFY_ORDER)


def test_a_changed_order_is_updated_in_place(http: httpx.Client) -> None:
    replay(http, "6100000000002")  # fulfilled in Shopify after its import
    assert [(v["orderId"], v["statusId"]) for v in versions(http, "6100000000002")] == [
        ("10002", "ORDER_COMPLETED")
    ]
    log = latest_log(http, UPDATE)
    assert (log["statusId"], log["totalRecordCount"], log["failedRecordCount"]) == (
        "DmlsFinished",
        1,
        0,
    )


def test_a_changed_order_as_a_new_version(sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.state.tenant = tenant_named("sync-new-version")
    replay(http, "6100000000002")
    found = {(v["orderId"], v["statusId"]) for v in versions(http, "6100000000002")}
    assert found == {("10002", "ORDER_CREATED"), ("20001", "ORDER_COMPLETED")}


def test_a_changed_order_skipped(sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.state.tenant = tenant_named("sync-skips")
    replay(http, "6100000000002")
    assert [(v["orderId"], v["statusId"]) for v in versions(http, "6100000000002")] == [
        ("10002", "ORDER_CREATED")
    ]
    assert http.get(MDM, params={"configId": UPDATE}).json()["dataManagerLogsCount"] == 0


def test_an_update_without_address_fails_in_the_mdm(http: httpx.Client) -> None:
    run = replay(http, "6100000000004")
    assert run["hasError"] == "N"  # the run only queued it
    log = latest_log(http, UPDATE)
    assert (log["statusId"], log["failedRecordCount"]) == ("DmlsFailed", 1)
    [record] = failed_records(http, log)
    assert record["_ERROR_MESSAGE_"] == CONTACT_MECH_ERROR and record["_recordNumber"] == 1
    assert (record["id"], record["name"]) == ("gid://shopify/Order/6100000000004", "#1004")
    assert [v["statusId"] for v in versions(http, "6100000000004")] == ["ORDER_CREATED"]


def test_a_new_web_order_without_address_fails_like_the_logged_failure(
    http: httpx.Client,
) -> None:
    replay(http, "6100000000006")
    assert versions(http, "6100000000006") == []
    logged = http.post(
        "/api/solr-query",
        json={"coreName": "logInsights", "json": {"query": 'shopifyOrderName:"#1006"'}},
    ).json()["response"]["docs"]
    assert [doc["errorMessage"] for doc in logged] == [MISSING_ADDRESS_ERROR]
    records = failed_records(http, latest_log(http))
    assert [(r["name"], r["_ERROR_MESSAGE_"]) for r in records if r["name"] == "#1006"] == [
        ("#1006", MISSING_ADDRESS_ERROR)
    ]


# -- order record writes ------------------------------------------------------------------


def test_the_header_delete_does_not_cascade(sandbox: SandboxServer, http: httpx.Client) -> None:
    refused = http.delete("/rest/s1/oms/orders/10005")
    assert refused.status_code == 400
    assert (
        "Cannot delete OrderHeader [10005]: records still reference it" in refused.json()["errors"]
    )
    assert "2 OrderItem" in refused.json()["errors"]
    assert http.delete("/rest/s1/oms/orders/10005/items/00009").status_code == 404
    assert http.delete("/rest/s1/oms/orders/NOPE/items/00001").status_code == 404
    assert http.delete("/rest/s1/oms/orders/10005/items/00001").json() == {}
    assert http.delete("/rest/s1/oms/orders/10005/items/00002").json() == {}
    still = http.delete("/rest/s1/oms/orders/10005").json()["errors"]
    assert "OrderItem," not in still and "OrderStatus" in still and "OrderRole" in still
    assert http.get("/rest/s1/oms/orders/10005").status_code == 200


def test_an_expired_identification_still_finds_the_order(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    [row] = http.get("/rest/s1/oms/orders", params={"orderId": "10009"}).json()
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
    # externalId is the header's own field: the order is still found by its Shopify id.
    assert [v["orderId"] for v in versions(http, "6100000000009")] == ["10009"]
    solr = http.post(
        "/api/solr-query",
        json={
            "json": {
                "query": 'docType:ORDER AND orderIdentifications:"SHOPIFY_ORD_ID/6100000000009"'
            }
        },
    ).json()
    assert solr["response"]["numFound"] == 0
    [row] = http.get("/rest/s1/oms/orders", params={"orderId": "10009"}).json()
    expired = next(
        i for i in row["identifications"] if i["orderIdentificationTypeId"] == "SHOPIFY_ORD_ID"
    )
    assert expired["thruDate"] == now_ms
    revive = {**body, "thruDate": None}
    assert http.put("/rest/s1/oms/orders/10009/identifications", json=revive).json() == {}
    path = "/rest/s1/oms/orders/10009/identifications"
    assert http.put(path, json={"thruDate": now_ms}).status_code == 400
    assert http.put(path, json={**body, "thruDate": "yesterday"}).status_code == 400
    assert http.put(path, json={**body, "orderId": "10001"}).status_code == 400
    assert http.put(path, json={**body, "fromDate": 1}).status_code == 404
    assert http.put(path, json={**body, "orderIdentificationTypeId": "NOPE"}).status_code == 404


# -- MDM logs -----------------------------------------------------------------------------


def test_seeded_mdm_logs_order_filters_and_download(http: httpx.Client) -> None:
    body = http.get(
        MDM,
        params={"configId": SYNC_SHOPIFY_ORDER, "pageSize": "50", "orderByField": "-createdDate"},
    ).json()
    logs = body["dataManagerLogs"]
    assert body["dataManagerLogsCount"] == len(logs) == 9
    created = [log["createdDate"] for log in logs]
    assert created == sorted(created, reverse=True)
    assert created[0] - created[-1] <= 24 * 3600 * 1000
    assert {log["statusId"] for log in logs} == {"DmlsFinished", "DmlsFailed"}
    # Without orderByField they come as stored, the oldest first.
    stored = http.get(MDM, params={"configId": SYNC_SHOPIFY_ORDER, "pageSize": "50"}).json()
    assert [log["createdDate"] for log in stored["dataManagerLogs"]] != created
    since = datetime.fromtimestamp(created[2] / 1000, UTC).isoformat()
    recent = http.get(
        MDM, params={"configId": SYNC_SHOPIFY_ORDER, "createdDate_from": since, "pageSize": "50"}
    ).json()
    assert recent["dataManagerLogsCount"] == 3  # inclusive
    ignored = http.get(MDM, params={"configId": SYNC_SHOPIFY_ORDER, "noSuchFilter": "x"}).json()
    assert ignored["dataManagerLogsCount"] == 9  # an unknown filter is ignored

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
    [record] = failed_records(http, log)
    assert (record["name"], record["_ERROR_MESSAGE_"]) == ("#1006", MISSING_ADDRESS_ERROR)
    assert record["id"] == "gid://shopify/Order/6100000000006"

    assert http.get(MDM, params={"configId": UPDATE}).json() == {
        "dataManagerLogs": [],
        "dataManagerLogsCount": 0,
    }
    nothing = http.get(DOWNLOAD, params={"configId": SYNC_SHOPIFY_ORDER, "logContentId": "NOPE"})
    assert (nothing.status_code, nothing.json()) == (200, {})  # nothing stored under that id
    assert http.get(DOWNLOAD, params={"configId": SYNC_SHOPIFY_ORDER}).status_code == 400


# -- status changes -----------------------------------------------------------------------


def _header_rows(http: httpx.Client, order_id: str) -> list[dict[str, Any]]:
    rows = http.get(f"/rest/s1/oms/orders/{order_id}/status").json()
    return [r for r in rows if r["orderItemSeqId"] is None]


def test_change_order_status_records_change_reason(http: httpx.Client) -> None:
    assert cancel(http, "10002", "Old Version")["orderId"] == "10002"
    assert _header_rows(http, "10002")[-1]["changeReason"] == "Old Version"
    # setItemStatus: each item gets its own status row, which counts in the history's pages.
    rows = http.get("/rest/s1/oms/orders/10002/status").json()
    assert any(r["statusId"] == "ITEM_CANCELLED" and r["orderItemSeqId"] for r in rows)
    cancel(http, "10014")
    latest = _header_rows(http, "10014")[-1]
    assert (latest["statusId"], latest["changeReason"]) == ("ORDER_CANCELLED", None)


def test_moqui_status_route_changes_the_status(http: httpx.Client) -> None:
    answer = http.post(
        "/rest/s1/oms/orders/10014/status",
        json={"orderId": "10014", "statusId": "ORDER_APPROVED", "setItemStatus": True},
    )
    assert answer.status_code == 200
    assert _header_rows(http, "10014")[-1]["statusId"] == "ORDER_APPROVED"
    refused = http.post("/rest/s1/oms/orders/10014/status", json={"statusId": "NOPE"})
    assert refused.status_code == 400
