"""The Job Manager client APIs against the sandbox over real HTTP: the Moqui ServiceJob API
(and the shapes real tenants answer that the sandbox does not make by itself), and the OFBiz
findJobs whose empty answer may be a 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.oms import JobsApi, OmsClient, OmsRequestError, ServiceJobsApi
from bot.sandbox import (
    DEMO_PASSWORD,
    DEMO_SHOPIFY_REMOTE,
    DEMO_USERNAME,
    SandboxServer,
    tenant_named,
)

JOBS = "/rest/s1/admin/serviceJobs"


@pytest.fixture
async def oms(sandbox: SandboxServer) -> AsyncIterator[OmsClient]:
    client = OmsClient(
        sandbox.url, username=DEMO_USERNAME, password=DEMO_PASSWORD, retry_backoff=0.01
    )
    yield client
    await client.aclose()


async def test_service_jobs_read_like_the_job_manager(oms: OmsClient) -> None:
    api = ServiceJobsApi(oms)
    jobs = {job.job_name: job for job in await api.jobs()}
    ack = jobs["sendShopifyFulfillmentAckFeed_STORE"]
    assert not ack.is_template and not ack.is_paused
    assert ack.store == f"systemMessageRemoteId={DEMO_SHOPIFY_REMOTE}"
    assert jobs["sendShopifyFulfillmentAckFeed"].is_template
    assert not jobs["bulkApprove_WarehouseTransferOrders"].is_template  # no store parameter
    categories = {c.category_id: c.name for c in await api.categories()}
    assert categories["ORDER_SYS_JOB"] == "Orders" and "APPAREL" not in categories
    members = await api.category_members(["MISC_SYS_JOB", "IMPORT_SYS_JOB"])
    assert members["POL_BLK_RSLT_SHPFY"] == {"MISC_SYS_JOB", "IMPORT_SYS_JOB"}
    assert await api.job("no_such_job") is None
    runs = await api.runs("poll_BulkOperationResult_ShopifyBulkQuery")
    assert [run.status for run in runs] == ["finished", "failed", "finished"]


async def test_runs_and_details_in_the_other_shapes_hotwax_answers(
    oms: OmsClient, sandbox: SandboxServer
) -> None:
    api = ServiceJobsApi(oms)
    path = f"{JOBS}/some_job"
    # HotWax's Job Manager reads a detail answer without jobDetail as "no such job".
    sandbox.state.inject_fault(path, "json", body={})
    assert await api.job("some_job") is None
    # Ids as numbers, times as SQL timestamps (the Job Manager parses both).
    rows = [
        {"jobRunId": 7, "startTime": "2026-01-02 10:00:00.000", "hasError": "N"},
        {
            "jobRunId": 9,
            "startTime": "2026-01-02 11:00:00.000",
            "endTime": "2026-01-02 11:00:04.500",
            "hasError": "N",
        },
        {"jobRunId": 8, "startTime": 1767351600000, "hasError": "Y", "errors": "boom"},
        {"jobRunId": 6},
    ]
    sandbox.state.inject_fault(f"{path}/runs", "json", body=rows)
    runs = await api.runs("some_job")
    assert [(r.job_run_id, r.status) for r in runs] == [
        ("9", "finished"),
        ("8", "failed"),
        ("7", "running"),
        ("6", "terminated"),
    ]
    assert runs[0].duration_seconds == 4.5
    assert runs[2].start_time == datetime(2026, 1, 2, 10, tzinfo=UTC)
    # An older Maarg answers the list as a bare array.
    # (Twice: a short first page is followed by one more, which brings nothing new.)
    sandbox.state.inject_fault(JOBS, "json", 2, body=[{"jobName": "a_job", "paused": "N"}])
    assert [job.job_name for job in await api.jobs()] == ["a_job"]


async def test_find_jobs_reads_a_404_as_no_jobs(oms: OmsClient, sandbox: SandboxServer) -> None:
    api = JobsApi(oms)
    sandbox.state.tenant = tenant_named("ofbiz-jobs")
    assert await api.history("JOB_NOPE") == []
    assert await api.has_jobs()
    sandbox.state.inject_fault("/api/findJobs", "json", status=400, body={"error": "Bad field"})
    with pytest.raises(OmsRequestError, match="Bad field"):
        await api.scheduled()
