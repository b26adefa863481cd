"""The sandbox's Moqui Job Manager and OFBiz JobSandbox over real HTTP, per tenant preset:
the serviceJobs list, detail, PUT (both readings of `serviceJobParameters`), runNow and runs,
the job categories, the connector's webhook subscriptions, and findJobs finding nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bot.sandbox import (
    DEMO_ORDER_SYNC_JOB,
    DEMO_SHOPIFY_REMOTE,
    TIMESTAMP_ERROR,
    SandboxServer,
    SandboxState,
    tenant_named,
    variant,
)

NOW = datetime(2025, 3, 10, 12, 7, 30, tzinfo=UTC)
JOBS = "/rest/s1/admin/serviceJobs"
ACK = "sendShopifyFulfillmentAckFeed_STORE"
HOOKS = "/rest/s1/shopify/webhook-subscription"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxState(now=NOW)) as srv:
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.state.reset()
    server.state.job_run_seconds = 0
    server.state.job_manager.run_seconds = 0
    return server


def parameters(http: httpx.Client, job: str) -> dict[str, str]:
    detail = http.get(f"{JOBS}/{job}").json()["jobDetail"]
    return {p["parameterName"]: p["parameterValue"] for p in detail["serviceJobParameters"]}


def put_parameters(http: httpx.Client, job: str, values: dict[str, Any]) -> httpx.Response:
    sent = [{"parameterName": k, "parameterValue": v} for k, v in values.items()]
    return http.put(f"{JOBS}/{job}", json={"jobName": job, "serviceJobParameters": sent})


# -- PUT admin/serviceJobs/{job}: serviceJobParameters replaced or merged -------------------


def test_put_replaces_the_parameters_on_a_replace_tenant(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    assert sandbox.state.tenant.job_params == "replace"
    original = parameters(http, DEMO_ORDER_SYNC_JOB)
    window = {**original, "fromDate": "2025-03-10 08:25:00", "thruDate": "2025-03-10 08:27:00"}
    assert put_parameters(http, DEMO_ORDER_SYNC_JOB, window).json() == {}
    assert parameters(http, DEMO_ORDER_SYNC_JOB) == window
    # The list sent becomes the job's parameters: one left out is gone, a new one is added.
    restored = {k: v for k, v in original.items() if k != "thruDate"} | {"extra": "1"}
    assert put_parameters(http, DEMO_ORDER_SYNC_JOB, restored).status_code == 200
    assert parameters(http, DEMO_ORDER_SYNC_JOB) == restored
    assert "thruDate" not in parameters(http, DEMO_ORDER_SYNC_JOB)


def test_put_merges_the_parameters_on_a_merge_tenant(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    sandbox.state.tenant = tenant_named("merge-params")
    original = parameters(http, DEMO_ORDER_SYNC_JOB)
    sent = {"fromDate": "2025-03-10 08:25:00", "additionalParameters": '{"filter": null}'}
    assert put_parameters(http, DEMO_ORDER_SYNC_JOB, sent).json() == {}
    # The ones sent are updated or added; the ones left out stay as they were.
    assert parameters(http, DEMO_ORDER_SYNC_JOB) == {**original, **sent}
    # A restore without fromDate leaves the window's fromDate in place; only an explicit
    # null (as HotWax's app sends, useShopify.ts) clears it.
    put_parameters(http, DEMO_ORDER_SYNC_JOB, {"systemMessageTypeId": "ShopifyOrderSync"})
    assert parameters(http, DEMO_ORDER_SYNC_JOB)["fromDate"] == "2025-03-10 08:25:00"
    put_parameters(http, DEMO_ORDER_SYNC_JOB, {"fromDate": None})
    assert parameters(http, DEMO_ORDER_SYNC_JOB)["fromDate"] == ""


def test_put_checks_what_it_is_given(http: httpx.Client) -> None:
    before = parameters(http, ACK)
    iso = put_parameters(http, ACK, {"fromDate": "2025-03-10T08:00:00Z"})
    assert (iso.status_code, iso.json()["errors"]) == (400, TIMESTAMP_ERROR)
    bad = http.put(f"{JOBS}/{ACK}", json={"serviceJobParameters": [{"parameterValue": "x"}]})
    assert bad.status_code == 400
    for body in ({"jobName": "other"}, {"paused": "maybe"}, {"cronExpression": "hourly"}):
        assert http.put(f"{JOBS}/{ACK}", json=body).status_code == 400
    assert parameters(http, ACK) == before
    assert http.put(f"{JOBS}/{ACK}", json={"jobName": ACK, "paused": "Y"}).json() == {}
    detail = http.get(f"{JOBS}/{ACK}").json()["jobDetail"]
    assert detail["paused"] == "Y" and detail["nextExecutionDateTime"] is None
    assert parameters(http, ACK) == before  # no serviceJobParameters: untouched


# -- the job list, detail, runNow and runs ----------------------------------------------------


def test_the_list_has_the_jobs_with_a_product(sandbox: SandboxServer, http: httpx.Client) -> None:
    query = {"pageSize": "250", "instanceOfProductId_op": "empty", "instanceOfProductId_not": "Y"}
    jobs = http.get(JOBS, params=query).json()["serviceJobList"]
    names = {job["jobName"] for job in jobs}
    assert {ACK, "sendShopifyFulfillmentAckFeed", "bulkApprove_WarehouseTransferOrders"} <= names
    assert DEMO_ORDER_SYNC_JOB not in names  # its product is not public: it has none here
    assert all(job["instanceOfProductId"] for job in jobs)
    ack = next(job for job in jobs if job["jobName"] == ACK)
    assert ack["parentJobName"] == "sendShopifyFulfillmentAckFeed"
    assert ack["cronExpression"] == "0 0 * * * ?" and ack["paused"] == "N"
    # Hourly at minute 0, next after 12:07:30.
    assert ack["nextExecutionDateTime"] == datetime(2025, 3, 10, 13, tzinfo=UTC).timestamp() * 1000
    page = http.get(JOBS, params={**query, "pageSize": "2", "pageIndex": "1"}).json()
    assert len(page["serviceJobList"]) == 2
    one = http.get(JOBS, params={"jobName": DEMO_ORDER_SYNC_JOB}).json()["serviceJobList"]
    assert [job["jobName"] for job in one] == [DEMO_ORDER_SYNC_JOB]

    sandbox.state.tenant = tenant_named("ofbiz-jobs")  # no Moqui Job Manager jobs
    assert http.get(JOBS, params=query).json() == {"serviceJobList": []}


def test_run_now_runs_the_job_and_the_order_sync_through_the_sync(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    sandbox.state.job_manager.run_seconds = 0.3
    run_id = http.post(f"{JOBS}/{ACK}/runNow").json()["jobRunId"]
    runs = http.get(f"{JOBS}/{ACK}/runs", params={"orderByField": "-jobRunId"}).json()
    assert runs[0]["jobRunId"] == run_id and runs[0]["endTime"] is None
    assert runs[0]["parameters"]["systemMessageRemoteId"] == DEMO_SHOPIFY_REMOTE
    ids = [int(r["jobRunId"]) for r in runs]
    assert ids == sorted(ids, reverse=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        runs = http.get(f"{JOBS}/{ACK}/runs").json()
        if runs[0]["endTime"] is not None:
            break
        time.sleep(0.05)
    assert runs[0]["hasError"] == "N" and runs[0]["endTime"] is not None

    sandbox.state.job_manager.run_seconds = 0
    sandbox.state.job_manager.run_outcome = "failed"
    failed = http.post(f"{JOBS}/{ACK}/runNow").json()["jobRunId"]
    run = http.get(f"{JOBS}/{ACK}/runs").json()[0]
    assert run["jobRunId"] == failed and run["hasError"] == "Y" and "Throttled" in run["errors"]

    # The order sync's run only queues the sync (tests/sandbox/test_shopify.py follows it on).
    sync_run = http.post(f"{JOBS}/{DEMO_ORDER_SYNC_JOB}/runNow").json()["jobRunId"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        run = http.get(f"{JOBS}/{DEMO_ORDER_SYNC_JOB}/runs").json()[0]
        if run["endTime"] is not None:
            break
        time.sleep(0.05)
    assert run["jobRunId"] == sync_run and run["hasError"] == "N"
    assert run["messages"].startswith("Queued a ShopifyOrderSync system message")
    assert http.post(f"{JOBS}/nope/runNow").status_code == 404


# -- categories -----------------------------------------------------------------------------


def test_job_categories_and_their_members(http: httpx.Client) -> None:
    rows = http.get(
        "/rest/s1/admin/productCategories", params={"primaryParentCategoryId": "SYSTEM_JOB"}
    ).json()
    assert {r["productCategoryId"] for r in rows} >= {"ORDER_SYS_JOB", "UPLOAD_SYS_JOB"}
    assert all(r["primaryParentCategoryId"] == "SYSTEM_JOB" for r in rows)
    everything = http.get("/rest/s1/admin/productCategories", params={"pageSize": "100"}).json()
    assert "APPAREL" in {r["productCategoryId"] for r in everything}
    members = http.get(
        "/rest/s1/admin/productCategories/member",
        params={"productCategoryId": "UPLOAD_SYS_JOB,ORDER_SYS_JOB", "productCategoryId_op": "in"},
    ).json()
    assert {(m["productId"], m["productCategoryId"]) for m in members} >= {
        ("SND_BLK_SYS_M_SHPFY", "UPLOAD_SYS_JOB"),
        ("BLK_APR_ST_FLF_TO", "ORDER_SYS_JOB"),
    }
    assert {m["productCategoryId"] for m in members} == {"UPLOAD_SYS_JOB", "ORDER_SYS_JOB"}


# -- webhook subscriptions ------------------------------------------------------------------


def test_webhook_subscriptions(sandbox: SandboxServer, http: httpx.Client) -> None:
    def listed(topic: str | None = None) -> list[dict[str, Any]]:
        params = {"systemMessageRemoteId": DEMO_SHOPIFY_REMOTE}
        if topic:
            params["queryParams"] = json.dumps({"topics": topic})
        answer = http.get(HOOKS, params=params)
        assert answer.status_code == 200, answer.text
        return [edge["node"] for edge in answer.json()["webhookList"]]

    assert [n["topic"] for n in listed("BULK_OPERATIONS_FINISH")] == ["BULK_OPERATIONS_FINISH"]
    assert listed("ORDERS_UPDATED") == []
    body = {"systemMessageRemoteId": DEMO_SHOPIFY_REMOTE, "topic": "ORDERS_UPDATED"}
    new_id = http.post(HOOKS, json=body).json()["webhookSubscriptionId"]
    assert [n["id"] for n in listed("ORDERS_UPDATED")] == [new_id]
    assert len(listed()) == 1  # the connector asks Shopify for the first subscription only
    assert "already been taken" in http.post(HOOKS, json=body).json()["errors"]
    assert http.post(HOOKS, json={**body, "topic": "orders/updated"}).status_code == 400
    unknown = http.get(HOOKS, params={"systemMessageRemoteId": "NOPE"})
    assert unknown.status_code == 400
    gone = {"systemMessageRemoteId": DEMO_SHOPIFY_REMOTE, "webhookSubscriptionId": new_id}
    assert http.request("DELETE", HOOKS, json=gone).json() == {
        "deletedWebhookSubscriptionId": new_id
    }
    assert listed("ORDERS_UPDATED") == []
    assert http.request("DELETE", HOOKS, json=gone).status_code == 400

    sandbox.state.tenant = tenant_named("ofbiz-jobs")  # an older connector: no such route
    assert http.get(HOOKS, params={"systemMessageRemoteId": DEMO_SHOPIFY_REMOTE}).status_code == 404


# -- OFBiz findJobs finding nothing -----------------------------------------------------------


def test_find_jobs_finding_nothing(sandbox: SandboxServer, http: httpx.Client) -> None:
    nothing = {"inputFields": {"systemJobEnumId": "JOB_NOPE"}}
    empty = http.post("/api/findJobs", json=nothing)
    assert (empty.status_code, empty.json()) == (200, {"error": "No record found"})
    sandbox.state.tenant = tenant_named("ofbiz-jobs")
    as_404 = http.post("/api/findJobs", json=nothing)
    assert (as_404.status_code, as_404.json()) == (404, {"error": "No record found"})
    found = http.post("/api/findJobs", json={"inputFields": {"statusId": "SERVICE_DRAFT"}})
    assert found.status_code == 200 and found.json()["count"] > 0
    sandbox.state.tenant = variant(tenant_named("ofbiz-jobs"), ofbiz_jobs=False)
    none = http.post("/api/findJobs", json={"inputFields": {"statusId": "SERVICE_DRAFT"}})
    assert none.status_code == 404
