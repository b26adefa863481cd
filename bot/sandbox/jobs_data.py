"""The sandbox's Job Manager data: JobSandbox rows, frequencies, job enums, Shopify webhooks.

Seeded deterministically from the sandbox's `now`. Every job enum gets a SERVICE_DRAFT
template; some have a recurring SERVICE_PENDING schedule and a run history with finished,
failed and crashed runs. A run-now copy moves SERVICE_QUEUED -> SERVICE_RUNNING -> final over
`queued_seconds` + `running_seconds` (knobs, so tests run fast), ending as `run_outcome` says.
Rows advance lazily whenever they are read (`advance`), so no background thread is needed.
The route handlers (bot/sandbox/jobs.py) mutate this under `state.lock`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.sandbox.records import DEMO_SHOP, DEMO_STORE

# The demo tenant's store and shop (one set of ids: bot/sandbox/records.py).
STORE = DEMO_STORE
SHOP = DEMO_SHOP
SHOPIFY_CONFIG = "DEMO_SHOPIFY_CONFIG"
RunOutcome = Literal["finished", "failed"]

# (enumId, enumTypeId, description, serviceName, MDM config created by a run or None)
JOB_ENUMS: tuple[tuple[str, str | None, str, str, str | None], ...] = (
    ("JOB_IMP_PROD_NEW_BLK", None, "Import products in bulk", "bulkImportShopifyProducts", None),
    ("JOB_IMP_ORD_BLK", None, "Import orders in bulk", "bulkImportShopifyOrders", None),
    (
        "JOB_REL_PREODR_CAT",
        "PRE_ORD_SYS_JOB",
        "Auto refresh presell catalog",
        "refreshPresellCatalog",
        None,
    ),
    (
        "JOB_PREORDER_CAT_SYC",
        "PRE_ORD_SYS_JOB",
        "Sync variant details",
        "syncPreorderVariantDetails",
        None,
    ),
    ("JOB_ADD_TAG_PREORD", "PRE_ORD_SYS_JOB", "Add pre-order tags", "addPreorderTags", None),
    ("JOB_ADD_TAG_BACKORD", "PRE_ORD_SYS_JOB", "Add backorder tags", "addBackorderTags", None),
    ("JOB_UL_PRMS_DTE", "PRE_ORD_SYS_JOB", "Add promise date", "uploadPromiseDate", None),
    (
        "JOB_UL_PRMS_DTE_UPD",
        "PRE_ORD_SYS_JOB",
        "Update promise date",
        "uploadPromiseDateChanges",
        None,
    ),
    (
        "SD_PRMSDDTE_CNG_NOTI",
        "PRE_ORD_SYS_JOB",
        "Promise date change",
        "sendPromiseDateChangeNotification",
        None,
    ),
    ("JOB_RLS_ORD_DTE", "PRE_ORD_SYS_JOB", "Auto releasing", "releasePreorders", None),
    (
        "JOB_IMP_ORD",
        "ORDER_SYS_JOB",
        "Import new orders from Shopify",
        "createOrdersFromShopify",
        "CRT_SHOPIFY_ORDER",
    ),
    ("JOB_APR_ORD", "ORDER_SYS_JOB", "Approve orders", "approvePendingShopifyOrders", None),
    (
        "JOB_IMP_ORD_UPD",
        "ORDER_SYS_JOB",
        "Import order updates from Shopify",
        "updateOrdersFromShopify",
        "UPD_SHOPIFY_ORDER",
    ),
    (
        "JOB_IMP_ORD_CNCL",
        "ORDER_SYS_JOB",
        "Import cancelled orders from Shopify",
        "updateShopifyOrderStatus",
        None,
    ),
    (
        "JOB_IMP_ITM_CNCL",
        "ORDER_SYS_JOB",
        "Import cancelled items from Shopify",
        "cancelOrderItemsFromShopify",
        None,
    ),
    (
        "JOB_IMP_RTN",
        "ORDER_SYS_JOB",
        "Import returns from Shopify",
        "createReturnsFromShopify",
        "CRT_SHOPIFY_RETURN",
    ),
    (
        "JOB_IMP_MISS_ORD",
        "ORDER_SYS_JOB",
        "Import last day orders from Shopify",
        "importMissingShopifyOrders",
        "CRT_SHOPIFY_ORDER",
    ),
    # Not in the bot's catalogue (handlers/jobs/catalog.py): a job the OMS has that the bot
    # must still list and address by its enum id (HotWax docs, "Upload Cancelled Orders").
    (
        "JOB_UL_CNCLD_ORD",
        "ORDER_SYS_JOB",
        "Upload cancelled orders to Shopify",
        "bulkCancelOrdersOnShopify",
        None,
    ),
    ("JOB_BKR_ORD", "BROKER_SYS_JOB", "Brokering new orders", "brokerOrders", None),
    (
        "JOB_BKR_REJ_ORD",
        "BROKER_SYS_JOB",
        "Brokering rejected orders",
        "brokerRejectedOrders",
        None,
    ),
    ("JOB_SHIP_ORD_PKD", "FULFILLMENT_SYS_JOB", "Ship packed orders", "shipPackedOrders", None),
    (
        "JOB_ORD_FLMNT_HST",
        "FULFILLMENT_SYS_JOB",
        "Order fulfillment history",
        "ftpImportFile",
        None,
    ),
    ("JOB_CNCL_ORD_DTE", "FULFILLMENT_SYS_JOB", "Auto cancel orders", "autoCancelOrderItems", None),
    (
        "JOB_UL_INV",
        "INVENTORY_SYS_JOB",
        "Upload inventory to Shopify",
        "uploadInventoryToShopify",
        None,
    ),
    (
        "JOB_IMP_PROD_FAC",
        "INVENTORY_SYS_JOB",
        "Import product facility inventory",
        "importProductFacility",
        None,
    ),
    (
        "JOB_IMP_PROD_UPD",
        "PRODUCT_SYS_JOB",
        "Sync products from Shopify",
        "updateProductsFromShopify",
        "SYNC_SHOPIFY_PRODUCT",
    ),
    (
        "JOB_PRC_PND_DML",
        "MISC_SYS_JOB",
        "Process bulk imported files",
        "processPendingDataManagerJob",
        None,
    ),
)

# tempExprId -> (description, integer1 unit: 12 minutes / 10 hours / 5 days, integer2 count)
FREQUENCIES: dict[str, tuple[str, int, int]] = {
    "EVERY_5_MIN": ("Every 5 minutes", 12, 5),
    "EVERY_15_MIN": ("Every 15 minutes", 12, 15),
    "EVERY_30_MIN": ("Every 30 minutes", 12, 30),
    "HOURLY": ("Hourly", 10, 1),
    "EVERY_6_HOUR": ("Every 6 hours", 10, 6),
    "EVERYDAY": ("Every day", 5, 1),
}

# enumId -> (tempExprId, minutes until the next run, history: newest first)
SCHEDULES: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "JOB_IMP_ORD": ("EVERY_15_MIN", 7, ("FINISHED", "FINISHED", "FAILED", "FINISHED")),
    "JOB_APR_ORD": ("EVERY_15_MIN", 11, ("FINISHED", "FINISHED", "FINISHED")),
    "JOB_IMP_ORD_UPD": ("EVERY_15_MIN", 3, ("FINISHED", "FINISHED")),
    "JOB_IMP_ORD_CNCL": ("HOURLY", 42, ("FAILED", "FINISHED", "FINISHED")),
    "JOB_IMP_RTN": ("HOURLY", 18, ("CRASHED", "FINISHED")),
    "JOB_UL_CNCLD_ORD": ("EVERY_30_MIN", 13, ("FINISHED",)),
    "JOB_BKR_ORD": ("EVERY_15_MIN", 9, ("FINISHED",)),
    "JOB_SHIP_ORD_PKD": ("EVERY_30_MIN", 21, ("FINISHED", "FINISHED")),
    "JOB_CNCL_ORD_DTE": ("EVERYDAY", 300, ("FINISHED",)),
    "JOB_UL_INV": ("EVERY_5_MIN", 2, ("FINISHED", "FINISHED")),
    "JOB_IMP_PROD_UPD": ("EVERY_6_HOUR", 130, ("FINISHED", "CRASHED")),
    "JOB_PRC_PND_DML": ("EVERY_5_MIN", 4, ("FINISHED",)),
    "JOB_RLS_ORD_DTE": ("EVERYDAY", 600, ()),
}
FAILURE_MESSAGES = {
    "FAILED": "Shopify API call limit exceeded (HTTP 429); retry after 2.0 seconds",
    "CRASHED": "The job was running when the server stopped (job crashed)",
}
DEFAULT_RUN_FAILURE = (
    "Error calling service createOrdersFromShopify: Could not connect to Shopify "
    "(connect timed out)"
)

# Shopify topics the sandbox OMS has a webhook handler for (docs/oms-api.md, "Jobs and
# webhooks"); products/create has none, like HotWax ("Configuration missing").
WEBHOOK_ENDPOINTS = {
    "orders/create": "createOrderShopifyWebhook",
    "orders/cancelled": "cancelOrderShopifyWebhook",
    "order_transactions/create": "getTransactionAndMarkOrderPaid",
    "refunds/create": "returnOrderShopifyWebhook",
    "inventory_levels/update": "inventoryLevelUpdateFromShopify",
    "products/delete": "deleteProductFromShopify",
    "bulk_operations/finish": "uploadedFileStatusUpdateFromShopify",
    "orders/paid": "orderPaidNotificationFromShopify",
}
SHOPIFY_TOPICS = (*WEBHOOK_ENDPOINTS, "products/create")


@dataclass
class RunNow:
    """A run-now copy in flight: when it was scheduled and how it will end."""

    job_id: str
    scheduled_at: float  # time.monotonic()
    queued_seconds: float
    running_seconds: float
    outcome: RunOutcome
    failure_message: str


@dataclass
class JobsData:
    jobs: dict[str, dict[str, Any]]
    webhooks: dict[str, list[dict[str, Any]]]
    mdm_logs: list[dict[str, Any]] = field(default_factory=list)
    in_flight: dict[str, RunNow] = field(default_factory=dict)
    next_id: int = 50001
    # Knobs: how long a run-now copy stays queued, then running, and how it ends.
    queued_seconds: float = 1.0
    running_seconds: float = 2.0
    run_outcome: RunOutcome = "finished"
    run_failure_message: str = DEFAULT_RUN_FAILURE

    def new_id(self) -> str:
        value = str(self.next_id)
        self.next_id += 1
        return value

    def advance(self, now: datetime) -> None:
        """Move in-flight run-now copies on to the status their age gives them."""
        clock = time.monotonic()
        for job_id, run in list(self.in_flight.items()):
            row = self.jobs[job_id]
            age = clock - run.scheduled_at
            if age < run.queued_seconds:
                continue
            started = now - timedelta(seconds=age - run.queued_seconds)
            row["startDateTime"] = row.get("startDateTime") or _ms(started)
            if age < run.queued_seconds + run.running_seconds:
                row["statusId"] = "SERVICE_RUNNING"
                continue
            finished = started + timedelta(seconds=run.running_seconds)
            row["finishDateTime"] = _ms(finished)
            if run.outcome == "failed":
                row["statusId"] = "SERVICE_FAILED"
                row["jobResult"] = run.failure_message
            else:
                row["statusId"] = "SERVICE_FINISHED"
                row["jobResult"] = "Service finished successfully"
                config = _mdm_config(str(row.get("systemJobEnumId")))
                if config:
                    self.mdm_logs.append(_mdm_log(f"DML{job_id}", config, job_id, finished))
            del self.in_flight[job_id]


def _mdm_config(enum_id: str) -> str | None:
    return next((e[4] for e in JOB_ENUMS if e[0] == enum_id), None)


def _mdm_log(log_id: str, config: str, job_id: str, at: datetime) -> dict[str, Any]:
    return {
        "logId": log_id,
        "configId": config,
        "statusId": "SERVICE_FINISHED",
        "createdByJobId": job_id,
        "systemJobEnumId": None,
        "createdDate": _ms(at),
        "startDateTime": _ms(at),
        "finishDateTime": _ms(at + timedelta(seconds=5)),
        "logFileContentId": f"{log_id}_LOG",
        "errorRecordContentId": None,
        "contentName": f"{config}.json",
        "dataResourceId": f"{log_id}_DR",
        "failedRecordCount": 0,
    }


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _row(
    job_id: str, enum: tuple[str, str | None, str, str, str | None], status: str, run_time: int
) -> dict[str, Any]:
    enum_id, enum_type, description, service, _ = enum
    return {
        "jobId": job_id,
        "jobName": description,
        "systemJobEnumId": enum_id,
        "serviceName": service,
        "statusId": status,
        "runTime": run_time,
        "tempExprId": None,
        "parentJobId": None,
        "runtimeDataId": None,
        "currentRetryCount": 0,
        "productStoreId": STORE,
        "shopId": SHOP,
        "enumTypeId": enum_type,
        "enumName": enum_id,
        "description": description,
        "jobResult": None,
        "cancelDateTime": None,
        "finishDateTime": None,
        "startDateTime": None,
        "createdByUserLogin": "hotwax.admin",
        "lastModifiedByUserLogin": "hotwax.admin",
        "createdDate": run_time,
        "lastUpdatedStamp": run_time,
        "recurrenceTimeZone": "America/New_York",
        "priority": None,
        "runtimeData": {"productStoreId": STORE, "shopifyConfigId": SHOPIFY_CONFIG},
    }


def seed_jobs(now: datetime) -> JobsData:
    jobs: dict[str, dict[str, Any]] = {}
    counter = 10001
    long_ago = _ms(now - timedelta(days=400))
    for enum in JOB_ENUMS:
        enum_id = enum[0]
        draft_id = f"D{counter}"
        counter += 1
        jobs[draft_id] = _row(draft_id, enum, "SERVICE_DRAFT", long_ago)
        schedule = SCHEDULES.get(enum_id)
        if schedule is None:
            continue
        expr, minutes, history = schedule
        _, unit, count = FREQUENCIES[expr]
        step = timedelta(minutes=count * {12: 1, 10: 60, 5: 1440}[unit])
        pending_id = str(counter)
        counter += 1
        pending = _row(pending_id, enum, "SERVICE_PENDING", _ms(now + timedelta(minutes=minutes)))
        pending.update(tempExprId=expr, parentJobId=draft_id, runtimeDataId=f"RD{pending_id}")
        jobs[pending_id] = pending
        for i, outcome in enumerate(history):
            run_id = str(counter)
            counter += 1
            start = now + timedelta(minutes=minutes) - step * (i + 1)
            seconds = 4 + (i * 7) % 23
            row = _row(run_id, enum, f"SERVICE_{outcome}", _ms(start))
            row.update(
                tempExprId=expr,
                parentJobId=draft_id,
                startDateTime=_ms(start),
                finishDateTime=_ms(start + timedelta(seconds=seconds)),
                jobResult=FAILURE_MESSAGES.get(outcome, "Service finished successfully"),
            )
            jobs[run_id] = row
    webhooks = {
        SHOPIFY_CONFIG: [
            {
                "id": "1053746",
                "topic": "orders/create",
                "address": "https://demo-oms.hotwax.io/api/webhook/createOrderShopifyWebhook",
                "format": "json",
            },
            {
                "id": "1053747",
                "topic": "inventory_levels/update",
                "address": "https://demo-oms.hotwax.io/api/webhook/inventoryLevelUpdateFromShopify",
                "format": "json",
            },
        ]
    }
    return JobsData(jobs=jobs, webhooks=webhooks)


def enumeration_rows() -> list[dict[str, Any]]:
    return [
        {"enumId": e[0], "enumTypeId": e[1], "enumName": e[0], "description": e[2]}
        for e in JOB_ENUMS
    ]


def frequency_rows() -> list[dict[str, Any]]:
    return [
        {
            "tempExprId": expr,
            "tempExprTypeId": "FREQUENCY",
            "description": desc,
            "integer1": unit,
            "integer2": count,
        }
        for expr, (desc, unit, count) in FREQUENCIES.items()
    ]


def shopify_config_rows() -> list[dict[str, Any]]:
    return [
        {
            "shopifyConfigId": SHOPIFY_CONFIG,
            "shopId": SHOP,
            "productStoreId": STORE,
            "name": "Demo Shopify store",
        }
    ]


# -- job-watch scenarios (docs/oms-api.md, "Job watches") -----------------------------------
# On the sandbox's JobsData, under the state's lock: a run of a recurring job that fails,
# crashes or finishes, a job whose runs stopped, and a schedule someone cancelled (paused).


def _schedule_of(jobs: JobsData, enum_id: str) -> dict[str, Any]:
    return next(
        row
        for row in jobs.jobs.values()
        if row["systemJobEnumId"] == enum_id and row["statusId"] == "SERVICE_PENDING"
        and row.get("tempExprId")
    )  # fmt: skip


def add_ended_run(
    jobs: JobsData,
    enum_id: str,
    *,
    at: datetime,
    status: str,
    message: str = "",
    mdm_failed: int | None = None,
) -> str:
    """A run of the job's schedule that ended at `at` in `status` (SERVICE_FINISHED,
    SERVICE_FAILED or SERVICE_CRASHED), as the schedule's own runs are recorded: a row with
    its frequency and its `jobResult`; with `mdm_failed`, the MDM log it created
    (`createdByJobId`) with that many failed records. Returns the run's jobId."""
    schedule = _schedule_of(jobs, enum_id)
    job_id = jobs.new_id()
    row = dict(schedule)
    outcome = status.removeprefix("SERVICE_")
    row.update(
        jobId=job_id,
        statusId=status,
        runTime=_ms(at - timedelta(seconds=5)),
        startDateTime=_ms(at - timedelta(seconds=5)),
        finishDateTime=_ms(at),
        jobResult=message or FAILURE_MESSAGES.get(outcome, "Service finished successfully"),
        cancelDateTime=None,
    )
    jobs.jobs[job_id] = row
    config = _mdm_config(enum_id)
    if mdm_failed is not None and config:
        log = _mdm_log(f"DML{job_id}", config, job_id, at)
        log.update(statusId="SERVICE_FAILED" if mdm_failed else "SERVICE_FINISHED",
                   failedRecordCount=mdm_failed)  # fmt: skip
        jobs.mdm_logs.append(log)
    return job_id


def stop_running(jobs: JobsData, enum_id: str, *, hours: float) -> None:
    """The job's runs stopped `hours` ago while it stayed scheduled: every ended run moves
    `hours` into the past."""
    shift = int(hours * 3600 * 1000)
    for row in jobs.jobs.values():
        if row["systemJobEnumId"] == enum_id and row["statusId"] in (
            "SERVICE_FINISHED", "SERVICE_FAILED", "SERVICE_CRASHED",
        ):  # fmt: skip
            for key in ("runTime", "startDateTime", "finishDateTime"):
                if row.get(key) is not None:
                    row[key] -= shift


def cancel_schedule(jobs: JobsData, enum_id: str, *, user: str, at: datetime) -> str:
    """Someone paused the job: its recurring schedule cancelled, as `cancelScheduledJob`
    leaves it (bot/sandbox/jobs.py). Returns the cancelled jobId."""
    row = _schedule_of(jobs, enum_id)
    row.update(statusId="SERVICE_CANCELLED", cancelDateTime=_ms(at), lastModifiedByUserLogin=user)
    return str(row["jobId"])
