"""The sandbox's Moqui Job Manager data: service jobs beside the order sync, their runs, the
job categories, and the connector's Shopify webhook subscriptions.

The jobs are ones HotWax ships, with their real names, services, products and categories
(docs/oms-api.md, "Jobs and webhooks", cites each): hotwax/oms `data/ServiceJobData.xml`,
hotwax/mantle-shopify-connector `data/ShopifyServiceJobData.xml` and its v4.1.0 upgrade data.
A job's category is its product's `ProductCategoryMember` rows; the categories HotWax's Job
Manager shows are those whose `primaryParentCategoryId` is `SYSTEM_JOB`. Shipped jobs are
paused templates; the seed also has what a tenant sets up (a clone for the demo shop, jobs
turned on, their run history). Category names are the sandbox's own **[INF]**: HotWax's
ProductCategory rows are not public.

A run started with runNow ends `run_seconds` later, as `run_outcome` says (knobs, so tests
run fast); runs advance lazily whenever they are read (`advance`), like the OFBiz jobs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.sandbox.data import DEMO_SHOPIFY_REMOTE
from bot.sandbox.records import (
    JobParameter,
    JobRunRecord,
    MdmFailedRecord,
    MdmLog,
    SeedData,
    ServiceJobRecord,
)

SYSTEM_JOB = "SYSTEM_JOB"
RunOutcome = Literal["finished", "failed"]
DEFAULT_RUN_ERROR = (
    "Error calling Shopify GraphQL API: Throttled (the shop's API cost limit was exceeded)"
)
# The connector's default webhook endpoint (its README: "defaults to
# /rest/s1/shopify/webhook/payload").
WEBHOOK_CALLBACK = "https://demo-maarg.hotwax.io/rest/s1/shopify/webhook/payload"

# productCategoryId -> (categoryName [INF], primaryParentCategoryId)
CATEGORIES: dict[str, tuple[str, str | None]] = {
    SYSTEM_JOB: ("System jobs", None),
    "ORDER_SYS_JOB": ("Orders", SYSTEM_JOB),
    "FULFILLMENT_SYS_JOB": ("Fulfillment", SYSTEM_JOB),
    "INVENTORY_SYS_JOB": ("Inventory", SYSTEM_JOB),
    "PRODUCT_SYS_JOB": ("Products", SYSTEM_JOB),
    "MISC_SYS_JOB": ("Miscellaneous", SYSTEM_JOB),
    "IMPORT_SYS_JOB": ("Import", SYSTEM_JOB),
    "UPLOAD_SYS_JOB": ("Upload", SYSTEM_JOB),
    # Product categories are the catalogue's too: not every one is a job category.
    "BROWSE_ROOT": ("Browse root", None),
    "APPAREL": ("Apparel", "BROWSE_ROOT"),
}

# productId -> the categories it is a member of (ProductCategoryMember), as HotWax ships them.
MEMBERS: dict[str, tuple[str, ...]] = {
    "BLK_APR_ST_FLF_TO": ("ORDER_SYS_JOB",),
    "BLK_APR_WH_FLF_TO": ("ORDER_SYS_JOB",),
    "POL_OMS_FLFLMNT_FD": ("FULFILLMENT_SYS_JOB",),
    "SND_SHPFY_FUL_ACK_FD": ("FULFILLMENT_SYS_JOB",),
    "SND_BLK_SYS_M_SHPFY": ("MISC_SYS_JOB", "UPLOAD_SYS_JOB"),
    "POL_BLK_RSLT_SHPFY": ("MISC_SYS_JOB", "IMPORT_SYS_JOB"),
    "QUEUE_UPD_PRD_FEED": ("PRODUCT_SYS_JOB", "UPLOAD_SYS_JOB"),
    "IMP_SHPY_PRD_ID": ("PRODUCT_SYS_JOB", "UPLOAD_SYS_JOB"),
    "ACT_SHPFY_PRD_LOC": ("PRODUCT_SYS_JOB",),
}

EVERY_15_MIN = "0 0/15 * * * ?"
HOURLY = "0 0 * * * ?"
DAILY = "0 0 0 * * ?"


def _job(
    name: str,
    description: str,
    service: str,
    cron: str,
    paused: str,
    product: str,
    params: dict[str, str],
    parent: str | None = None,
) -> ServiceJobRecord:
    return ServiceJobRecord(
        job_name=name,
        description=description,
        service_name=service,
        cron_expression=cron,
        paused=paused,
        parameters=[JobParameter(k, v) for k, v in params.items()],
        instance_of_product_id=product,
        job_type_enum_id=product,
        parent_job_name=parent,
    )


def service_jobs() -> list[ServiceJobRecord]:
    """The seeded jobs (besides the shop's order sync, which data.py seeds)."""
    sftp = "co.hotwax.ofbiz.SystemMessageServices.poll#SystemMessageFileSftp"
    ack = (
        "co.hotwax.shopify.fulfillment.ShopifyFulfillmentServices"
        ".generate#ShopifyFulfillmentAckFeed"
    )
    system = "co.hotwax.shopify.system.ShopifySystemMessageServices"
    ack_params = {
        "sinceDate": "",
        "jobName": "",
        "skipLastRunTimeUpdate": "",
        "systemMessageRemoteId": "",
        "lastRunTime": "",
    }
    return [
        _job(
            "bulkApprove_StoreFulfillTransferOrders",
            "Service Job to bulk approve the Store Fulfill Transfer Orders in OMS",
            "co.hotwax.orderledger.order.TransferOrderServices.bulkApprove#StoreFulfillTransferOrders",
            DAILY,
            "Y",
            "BLK_APR_ST_FLF_TO",
            {"orderIds": ""},
        ),
        _job(
            "bulkApprove_WarehouseTransferOrders",
            "Service Job to bulk approve the Warehouse Fulfill Transfer Orders in OMS",
            "co.hotwax.orderledger.order.TransferOrderServices.bulkApprove#WhFulfillTransferOrders",
            DAILY,
            "N",  # turned on by this tenant
            "BLK_APR_WH_FLF_TO",
            {"orderIds": ""},
        ),
        _job(
            "poll_SystemMessageFileSftp_OMSFulfillmentFeed",
            "Poll OMS Fulfilled Items Feed",
            sftp,
            HOURLY,
            "Y",
            "POL_OMS_FLFLMNT_FD",
            {"systemMessageTypeId": "OMSFulfillmentFeed", "systemMessageRemoteId": ""},
        ),
        _job(
            "sendShopifyFulfillmentAckFeed",
            "Send Shopify Fulfillment Ack Feed",
            ack,
            HOURLY,
            "Y",
            "SND_SHPFY_FUL_ACK_FD",
            ack_params,
        ),
        # The Job Manager's clone for a store: `<template>_<productStoreId>`, parameters copied
        # and the store's connection filled in (job-manager src/views/JobDetail.vue cloneJob).
        _job(
            "sendShopifyFulfillmentAckFeed_STORE",
            "Send Shopify Fulfillment Ack Feed",
            ack,
            HOURLY,
            "N",
            "SND_SHPFY_FUL_ACK_FD",
            {**ack_params, "systemMessageRemoteId": DEMO_SHOPIFY_REMOTE},
            parent="sendShopifyFulfillmentAckFeed",
        ),
        _job(
            "send_ProducedBulkOperationSystemMessage_ShopifyBulkQuery",
            "Send next bulk query system message in queue",
            f"{system}.send#ProducedBulkOperationSystemMessage",
            EVERY_15_MIN,
            "N",
            "SND_BLK_SYS_M_SHPFY",
            {"parentSystemMessageTypeId": "ShopifyBulkQuery", "retryLimit": ""},
        ),
        _job(
            "poll_BulkOperationResult_ShopifyBulkQuery",
            "Poll current bulk operation query result",
            f"{system}.poll#BulkOperationResult",
            EVERY_15_MIN,
            "N",
            "POL_BLK_RSLT_SHPFY",
            {"parentSystemMessageTypeId": "ShopifyBulkQuery"},
        ),
        _job(
            "queue_UpdatedProductIdsFeed",
            "Queue updated productIds feed",
            f"{system}.queue#FeedSystemMessage",
            HOURLY,
            "Y",
            "QUEUE_UPD_PRD_FEED",
            {
                "systemMessageTypeId": "GenerateUpdatedProductIdsFeed",
                "systemMessageRemoteId": "",
                "runAsBatch": "true",
            },
        ),
        _job(
            "IMP_SHPY_PRD_IDS",
            "Import Shopify Product Ids",
            "co.hotwax.shopify.product.ShopifyProductServices.generate#ShopifyProductIdsFeed",
            HOURLY,
            "Y",
            "IMP_SHPY_PRD_ID",
            {
                "systemMessageTypeId": "GenerateProductUpdatesFeed",
                "systemMessageRemoteId": "",
                "shopifyProductIds": "",
            },
        ),
        _job(
            "sync_ShopifyProductFacilityActivation",
            "Queue pending product-facility activations for Shopify",
            "co.hotwax.sob.product.InventoryServices.sync#ShopifyProductFacilityActivation",
            EVERY_15_MIN,
            "Y",
            "ACT_SHPFY_PRD_LOC",
            {"shopId": "", "facilityId": "", "productId": "", "maxRecords": "250000"},
        ),
    ]


# jobName -> (minutes between runs, outcomes newest first); the runs before `now`.
HISTORY: dict[str, tuple[int, tuple[RunOutcome, ...]]] = {
    "poll_BulkOperationResult_ShopifyBulkQuery": (15, ("finished", "failed", "finished")),
    "send_ProducedBulkOperationSystemMessage_ShopifyBulkQuery": (15, ("finished", "finished")),
    "sendShopifyFulfillmentAckFeed_STORE": (60, ("finished", "finished", "finished")),
    "bulkApprove_WarehouseTransferOrders": (1440, ("finished",)),
}


def add_service_jobs(data: SeedData, now: datetime) -> None:
    """Put the seeded jobs and their history into freshly seeded sandbox data.

    History run ids stay below the order sync's (100001 on), so its run ids do not move."""
    for job in service_jobs():
        data.service_jobs.setdefault(job.job_name, job)
    number = 90001
    for job_name, (minutes, outcomes) in HISTORY.items():
        # Oldest first, so a newer run has a higher id, as Moqui's sequence gives them.
        for i, outcome in reversed(list(enumerate(outcomes))):
            start = now - timedelta(minutes=minutes * (i + 1) - 3)
            run = JobRunRecord(
                job_run_id=str(number),
                job_name=job_name,
                user_id="system",
                parameters={p.name: p.value for p in data.service_jobs[job_name].parameters},
                start_time=start,
                end_time=start + timedelta(seconds=3 + 2 * i),
            )
            if outcome == "failed":
                run.errors.append(DEFAULT_RUN_ERROR)
            else:
                run.results = "{}"
                run.messages.append("Service ran successfully")
            data.job_runs.append(run)
            number += 1


@dataclass
class InFlight:
    """A run started with runNow: when it started and how it will end."""

    started: float  # time.monotonic()
    seconds: float
    outcome: RunOutcome
    error: str


@dataclass
class JobManagerData:
    """Categories, webhook subscriptions and the runNow knobs of the Moqui Job Manager."""

    # webhook subscriptions per SystemMessageRemote: {id, topic, callbackUrl}
    webhooks: dict[str, list[dict[str, Any]]]
    in_flight: dict[str, InFlight] = field(default_factory=dict)
    next_webhook: int = 1302
    # Knobs: how long a run started with runNow takes, and how it ends.
    run_seconds: float = 0.3
    run_outcome: RunOutcome = "finished"
    run_error: str = DEFAULT_RUN_ERROR
    # job name -> parameters the next PUT on that job also sets (tests: a write that reads
    # back other than what was written, e.g. someone editing the job at the same moment).
    put_rewrites: dict[str, dict[str, str]] = field(default_factory=dict)

    def advance(self, data: SeedData) -> None:
        """End the runs whose time has come (call under the state's lock)."""
        clock = time.monotonic()
        for run_id, flight in list(self.in_flight.items()):
            if clock - flight.started < flight.seconds:
                continue
            del self.in_flight[run_id]
            run = next((r for r in data.job_runs if r.job_run_id == run_id), None)
            if run is None or run.end_time is not None:
                continue
            run.end_time = run.start_time + timedelta(seconds=flight.seconds)
            if flight.outcome == "failed":
                run.errors.append(flight.error)
            else:
                run.results = "{}"
                run.messages.append("Service ran successfully")


def seed_job_manager() -> JobManagerData:
    return JobManagerData(
        webhooks={
            DEMO_SHOPIFY_REMOTE: [
                {
                    "id": "gid://shopify/WebhookSubscription/1301",
                    "topic": "BULK_OPERATIONS_FINISH",
                    "callbackUrl": WEBHOOK_CALLBACK,
                }
            ]
        }
    )


def category_rows() -> list[dict[str, Any]]:
    return [
        {"productCategoryId": cid, "categoryName": name, "primaryParentCategoryId": parent}
        for cid, (name, parent) in CATEGORIES.items()
    ]


def member_rows() -> list[dict[str, Any]]:
    return [
        {"productId": product, "productCategoryId": cid, "fromDate": 1704067200000}
        for product, categories in MEMBERS.items()
        for cid in categories
    ]


# -- cron -----------------------------------------------------------------------------------

_STEP = re.compile(r"^(\*|\d+)/(\d+)$")


def _matches(spec: str, value: int) -> bool:
    for part in spec.split(","):
        if part in ("*", "?"):
            return True
        step = _STEP.match(part)
        if step:
            start = 0 if step[1] == "*" else int(step[1])
            if value >= start and (value - start) % int(step[2]) == 0:
                return True
        elif part.isdigit() and int(part) == value:
            return True
    return False


def next_fire(cron: str, after: datetime) -> datetime | None:
    """When a Quartz cron expression fires next after `after` (UTC; the forms the seed uses:
    numbers, `*`, `?`, `a/b` and lists in seconds, minutes and hours, `*`/`?` elsewhere)."""
    fields = cron.split()
    if len(fields) not in (6, 7) or any(f not in ("*", "?") for f in fields[3:6]):
        return None
    seconds, minutes, hours = fields[:3]
    marks = [second for second in range(60) if _matches(seconds, second)]
    moment = after.replace(second=0, microsecond=0)
    for _ in range(8 * 24 * 60):
        if _matches(minutes, moment.minute) and _matches(hours, moment.hour):
            for second in marks:
                candidate = moment.replace(second=second)
                if candidate > after:
                    return candidate
        moment += timedelta(minutes=1)
    return None


# -- job-watch scenarios (docs/oms-api.md, "Job watches") -----------------------------------
# What the Job Manager shows when a job breaks, called on the sandbox's data under its lock:
# a run that fails (or succeeds), a recurring job that stopped running, a job someone paused
# in the Job Manager, and an hour with many failed order imports.


def add_ended_run(
    data: SeedData, job_name: str, *, at: datetime, outcome: RunOutcome, error: str = ""
) -> JobRunRecord:
    """A run of `job_name` that ended at `at`: failed (`hasError` Y, with `errors`) or
    finished, as Moqui's ServiceJobRun records it (ServiceEntities.xml:96-110)."""
    job = data.service_jobs[job_name]
    ids = [int(run.job_run_id) for run in data.job_runs if run.job_run_id.isdigit()]
    run = JobRunRecord(
        job_run_id=str(max(ids, default=100000) + 1),
        job_name=job_name,
        user_id="system",
        parameters={p.name: p.value for p in job.parameters},
        start_time=at - timedelta(seconds=4),
        end_time=at,
    )
    if outcome == "failed":
        run.errors.append(error or DEFAULT_RUN_ERROR)
    else:
        run.results = "{}"
        run.messages.append("Service ran successfully")
    data.job_runs.append(run)
    return run


def add_run_mdm_log(data: SeedData, run: JobRunRecord, *, failed: int, names_run: bool) -> MdmLog:
    """The MDM log a run created, with `failed` failed records; it names the run
    (`createdByJobRunId`) only when `names_run` (the tenant's `mdm_log_names_run`: HotWax's
    notes say the sync does not set it yet)."""
    log = add_failed_imports(data, at=run.end_time or run.start_time, count=failed)
    log.created_by_job_run_id = run.job_run_id if names_run else None
    return log


def stop_running(data: SeedData, job_name: str, *, hours: float) -> None:
    """A recurring job whose runs stopped `hours` ago (the runner stuck, the schedule lost):
    every run of it moves `hours` into the past; the job stays scheduled, not paused."""
    data.service_jobs[job_name].paused = "N"
    for run in data.job_runs:
        if run.job_name == job_name:
            run.start_time -= timedelta(hours=hours)
            if run.end_time is not None:
                run.end_time -= timedelta(hours=hours)


def pause_in_job_manager(data: SeedData, job_name: str) -> None:
    """Someone paused the job in HotWax's Job Manager (`paused` Y; Moqui's ServiceJob has no
    field saying who, ServiceEntities.xml:32-70)."""
    data.service_jobs[job_name].paused = "Y"


def add_failed_imports(data: SeedData, *, at: datetime, count: int) -> MdmLog:
    """A Shopify order MDM log at `at` with `count` failed records (a spike of failures)."""
    records = [
        MdmFailedRecord(
            shopify_order_id=f"6299{n:08d}",
            order_name=f"#S{n}",
            event_message="Customer address or phone missing",
            payload={"id": f"gid://shopify/Order/6299{n:08d}", "name": f"#S{n}"},
        )
        for n in range(1, count + 1)
    ]
    log = MdmLog(
        log_id=f"DMLSPIKE{len(data.mdm_logs) + 1}",
        config_id="SYNC_SHOPIFY_ORDER",
        status_id="DmlsFailed",
        created_date=at,
        start_date_time=at,
        finish_date_time=at + timedelta(seconds=30),
        failed_records=records,
        processed_orders=[{"id": r.shopify_order_id, "name": r.order_name} for r in records],
    )
    data.mdm_logs.append(log)
    return log
