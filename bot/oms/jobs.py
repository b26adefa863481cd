"""Job Manager operations over OFBiz (docs/oms-api.md, "Jobs and webhooks"): JobSandbox jobs, their
runs and schedules, frequencies, MDM logs of a run, and Shopify webhook subscriptions.

This is the legacy backend: the current Job Manager is Moqui's (bot/oms/service_jobs.py); the
JobSandbox jobs remain on OFBiz tenants, and `OmsClient.profile().job_backends` says which
backends a tenant has. An empty `findJobs` is "No record found" (HTTP 200) or a 404.

Every job enum has a SERVICE_DRAFT template; a SERVICE_PENDING row with a `tempExprId` is its
recurring schedule; "run now" schedules a copy of the template without SERVICE_TIME, which
moves through SERVICE_QUEUED and SERVICE_RUNNING to a final status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.oms.client import OmsClient
from bot.oms.conventions import parse_models
from bot.oms.errors import OmsBadResponse, OmsRequestError

DRAFT = "SERVICE_DRAFT"
PENDING = "SERVICE_PENDING"
QUEUED = "SERVICE_QUEUED"
RUNNING = "SERVICE_RUNNING"
FINISHED = "SERVICE_FINISHED"
FAILED = "SERVICE_FAILED"
CRASHED = "SERVICE_CRASHED"
CANCELLED = "SERVICE_CANCELLED"
ACTIVE = (QUEUED, RUNNING)
ENDED = (FINISHED, FAILED, CRASHED, CANCELLED)

# TemporalExpression.integer1 is the unit of a FREQUENCY expression; integer2 the count.
_UNIT_MS = {12: 60_000, 10: 3_600_000, 5: 86_400_000}
MAX_ROWS = 250


class Job(BaseModel):
    """One JobSandbox row as findJobs returns it (times are epoch milliseconds)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    job_id: str = Field(alias="jobId")
    job_name: str | None = Field(default=None, alias="jobName")
    system_job_enum_id: str | None = Field(default=None, alias="systemJobEnumId")
    service_name: str | None = Field(default=None, alias="serviceName")
    status_id: str | None = Field(default=None, alias="statusId")
    run_time: int | None = Field(default=None, alias="runTime")
    temp_expr_id: str | None = Field(default=None, alias="tempExprId")
    parent_job_id: str | None = Field(default=None, alias="parentJobId")
    product_store_id: str | None = Field(default=None, alias="productStoreId")
    shop_id: str | None = Field(default=None, alias="shopId")
    enum_type_id: str | None = Field(default=None, alias="enumTypeId")
    enum_name: str | None = Field(default=None, alias="enumName")
    description: str | None = None
    job_result: str | None = Field(default=None, alias="jobResult")
    start_date_time: int | None = Field(default=None, alias="startDateTime")
    finish_date_time: int | None = Field(default=None, alias="finishDateTime")
    cancel_date_time: int | None = Field(default=None, alias="cancelDateTime")
    recurrence_time_zone: str | None = Field(default=None, alias="recurrenceTimeZone")
    runtime_data: dict[str, Any] | None = Field(default=None, alias="runtimeData")
    priority: int | str | None = None
    # Who last changed the row (HotWax's JobSandbox has it: the Job Manager sends it in
    # `jobFields`); on a cancelled schedule, who paused it, where the OMS records that.
    last_modified_by: str | None = Field(default=None, alias="lastModifiedByUserLogin")

    @property
    def ended_ms(self) -> int | None:
        """When the run ended (its finish, else its cancel, else its run time), epoch ms."""
        return self.finish_date_time or self.cancel_date_time or self.run_time

    @property
    def duration_seconds(self) -> float | None:
        if self.start_date_time is None or self.finish_date_time is None:
            return None
        return max(0.0, (self.finish_date_time - self.start_date_time) / 1000)


@dataclass(frozen=True)
class Frequency:
    temp_expr_id: str
    description: str
    interval_ms: int | None  # None: not a simple "every N units" expression


@dataclass(frozen=True)
class MdmLog:
    log_id: str
    status_id: str | None
    config_id: str | None
    failed_records: int | None


@dataclass(frozen=True)
class Webhook:
    webhook_id: str
    topic: str
    address: str | None


class JobNotRunnable(ValueError):
    """A job cannot be run now from here (no service, or a shop it needs is not known); the
    message says why and what to do. Raised before any request is sent."""


# The runtime data HotWax's apps never copy as they are: the store and the shop are the job's
# own (order-routing src/components/ShopActionsPopover.vue:154-158).
STORE_KEY = "productStoreId"
SHOP_KEYS = ("shopifyConfigId", "shopId")


def _known(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def run_now_body(draft: Job, schedule: Job | None, *, user: str) -> dict[str, Any]:
    """The `scheduleService` body of a run now, as HotWax's order-routing app sends it
    (src/components/ShopActionsPopover.vue:132-178, runServiceNow; job-manager@v2.35.2
    src/store/modules/job/actions.ts:722-760 is the same): the job's runtime data at the
    root except its store and shop; `SERVICE_TEMP_EXPR` and `jobFields.tempExprId` the
    schedule's frequency; the store and the shop from the schedule (the job set up for
    them), else the template. No key is sent empty. A job whose runtime data names a shop
    (`shopifyConfigId`, `shopId`) needs one: JobNotRunnable when it is not known, as the
    app refuses ("Shopify configuration not found")."""
    name = draft.system_job_enum_id or draft.job_id
    if not draft.service_name or draft.service_name == "_NA_":
        raise JobNotRunnable(f"job {name} has no service configured in the OMS")
    source = schedule or draft
    runtime = {**(draft.runtime_data or {}), **((schedule and schedule.runtime_data) or {})}
    store = _known(source.product_store_id) or _known(runtime.get(STORE_KEY))
    shop = {
        "shopifyConfigId": _known(runtime.get("shopifyConfigId")),
        "shopId": _known(runtime.get("shopId")) or _known(source.shop_id),
    }
    needed = [key for key in SHOP_KEYS if key in runtime]
    missing = [key for key in needed if shop[key] is None]
    if missing:
        raise JobNotRunnable(
            f"job {name} runs for a Shopify shop (its runtime data has "
            f"{' and '.join(needed)}), and {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not known for it: "
            "schedule the job for the shop in the Job Manager first, then run it from here"
        )
    frequency = schedule.temp_expr_id if schedule else None
    job_fields: dict[str, Any] = {
        "productStoreId": store,
        "systemJobEnumId": draft.system_job_enum_id,
        "instanceOfProductId": draft.system_job_enum_id,
        "tempExprId": frequency,
        "parentJobId": draft.job_id,
        "recurrenceTimeZone": source.recurrence_time_zone or "UTC",
        "createdByUserLogin": user,
        "lastModifiedByUserLogin": user,
        "shopId": shop["shopId"] if needed else None,
    }
    body: dict[str, Any] = {
        key: value for key, value in runtime.items() if key not in (STORE_KEY, *SHOP_KEYS)
    }
    body.update(
        {
            "JOB_NAME": draft.job_name or draft.description or draft.system_job_enum_id,
            "SERVICE_NAME": draft.service_name,
            "SERVICE_COUNT": "0",
            "SERVICE_TEMP_EXPR": frequency,
            "jobFields": {k: v for k, v in job_fields.items() if v not in (None, "")},
            "statusId": PENDING,
            "systemJobEnumId": draft.system_job_enum_id,
        }
    )
    if STORE_KEY in runtime:
        body[STORE_KEY] = store
    if source.priority not in (None, ""):
        body["SERVICE_PRIORITY"] = str(source.priority)
    for key in needed:
        body[key] = shop[key]
    return {k: v for k, v in body.items() if v not in (None, "")}


def resume_body(draft: Job, previous: Job, run_time: int, *, user: str) -> dict[str, Any]:
    """The `scheduleService` body that schedules a paused (cancelled) job again, as HotWax's
    legacy Job Manager re-enables one: the SERVICE_DRAFT template is scheduled with the
    frequency (`SERVICE_TEMP_EXPR`, `jobFields.tempExprId`), `SERVICE_TIME` the first run,
    `SERVICE_RUN_AS_SYSTEM`, and `jobFields.maxRecurrenceCount "-1"` and `runAsUser "system"`
    (job-manager@v2.35.2 src/components/JobConfiguration.vue:438-453, a draft is scheduled
    with scheduleService; src/store/modules/job/actions.ts:590-634, the body). The frequency,
    store and shop are those of the cancelled schedule, the rest is `run_now_body`'s."""
    if not previous.temp_expr_id:
        raise JobNotRunnable(f"job {previous.job_id} had no frequency to schedule again")
    body = run_now_body(draft, previous, user=user)
    body["SERVICE_TIME"] = str(run_time)
    body["SERVICE_RUN_AS_SYSTEM"] = "Y"
    body["jobFields"] = {**body["jobFields"], "maxRecurrenceCount": "-1", "runAsUser": "system"}
    return body


def _docs(answer: dict[str, Any] | None, operation: str) -> list[dict[str, Any]]:
    if answer is None:
        return []
    docs = answer.get("docs", [])
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise OmsBadResponse(operation, "docs is not a list of objects")
    return docs


class JobsApi:
    """The Job Manager operations the bot uses, over one OmsClient."""

    def __init__(self, oms: OmsClient) -> None:
        self.oms = oms

    # ---- reads ----------------------------------------------------------------------------

    async def find_jobs(
        self,
        input_fields: dict[str, Any],
        *,
        order_by: str | None = None,
        view_size: int = MAX_ROWS,
        operation: str,
    ) -> list[Job]:
        """`POST /api/findJobs` with performFind-style parameters (no entityName)."""
        body: dict[str, Any] = {
            "inputFields": input_fields,
            "viewSize": view_size,
            "viewIndex": 0,
        }
        if order_by:
            body["orderBy"] = order_by
        try:
            answer = await self.oms.ofbiz_post("findJobs", body, operation=operation, read=True)
        except OmsRequestError as exc:
            # OFBiz answers "No record found" as HTTP 200 + {error} or as a 404; HotWax's
            # order-routing app reads a 404 from findJobs as no jobs, and so do we.
            if exc.status_code == 404:
                return []
            raise
        return parse_models(Job, _docs(answer, operation), operation)

    async def has_jobs(self) -> bool:
        """Whether this OMS has any JobSandbox job templates at all."""
        rows = await self.find_jobs(
            {"statusId": DRAFT}, view_size=1, operation="list scheduled jobs"
        )
        return bool(rows)

    async def jobs_of(
        self,
        enum_ids: Sequence[str],
        statuses: Sequence[str],
        *,
        enum_type_id: str | None = None,
        order_by: str | None = None,
        view_size: int = MAX_ROWS,
        operation: str,
    ) -> list[Job]:
        """Jobs in `statuses` for a category (by enumTypeId) or a list of job enums."""
        fields: dict[str, Any] = {"statusId": list(statuses), "statusId_op": "in"}
        if enum_type_id:
            fields["enumTypeId"] = enum_type_id
        else:
            fields["systemJobEnumId"] = list(enum_ids)
            fields["systemJobEnumId_op"] = "in"
        return await self.find_jobs(
            fields, order_by=order_by, view_size=view_size, operation=operation
        )

    async def scheduled(self, enum_type_id: str | None = None) -> list[Job]:
        """Recurring pending jobs (those with a frequency), optionally of one category."""
        fields: dict[str, Any] = {"statusId": PENDING, "tempExprId_op": "not-empty"}
        if enum_type_id:
            fields["enumTypeId"] = enum_type_id
        return await self.find_jobs(fields, order_by="runTime ASC", operation="list scheduled jobs")

    async def history(self, enum_id: str, limit: int = 10) -> list[Job]:
        return await self.find_jobs(
            {"systemJobEnumId": enum_id, "statusId": list(ENDED), "statusId_op": "in"},
            order_by="runTime DESC",
            view_size=limit,
            operation=f"read the run history of {enum_id}",
        )

    async def active(self, enum_id: str) -> list[Job]:
        """Runs of a job that are queued or running now, and one-off copies waiting to be
        picked up (pending without a frequency: a run-now nobody's poller has taken yet)."""
        operation = f"check whether {enum_id} is running"
        running = await self.find_jobs(
            {"systemJobEnumId": enum_id, "statusId": list(ACTIVE), "statusId_op": "in"},
            order_by="runTime DESC",
            operation=operation,
        )
        waiting = await self.find_jobs(
            {"systemJobEnumId": enum_id, "statusId": PENDING, "tempExprId_op": "empty"},
            order_by="runTime DESC",
            operation=operation,
        )
        return running + waiting

    async def templates(self, enum_id: str) -> tuple[Job | None, Job | None]:
        """(the SERVICE_DRAFT template, the recurring SERVICE_PENDING schedule) of a job."""
        rows = await self.find_jobs(
            {"systemJobEnumId": enum_id, "statusId": [DRAFT, PENDING], "statusId_op": "in"},
            order_by="runTime ASC",
            operation=f"read the job {enum_id}",
        )
        draft = next((j for j in rows if j.status_id == DRAFT), None)
        pending = next((j for j in rows if j.status_id == PENDING and j.temp_expr_id), None)
        return draft, pending

    async def last_schedule(self, enum_id: str) -> Job | None:
        """The newest cancelled row of a job that had a frequency: the schedule a Pause
        cancelled, which Resume schedules again."""
        rows = await self.find_jobs(
            {"systemJobEnumId": enum_id, "statusId": CANCELLED, "tempExprId_op": "not-empty"},
            order_by="cancelDateTime DESC",
            view_size=1,
            operation=f"read the paused schedule of {enum_id}",
        )
        return rows[0] if rows else None

    async def any_row(self, enum_id: str) -> Job | None:
        """One JobSandbox row of a job enum (template first), or None: whether the OMS has
        the job at all, and what it calls it."""
        rows = await self.find_jobs(
            {"systemJobEnumId": enum_id},
            order_by="statusId ASC",
            view_size=5,
            operation=f"read the job {enum_id}",
        )
        return next((r for r in rows if r.status_id == DRAFT), rows[0] if rows else None)

    async def job(self, job_id: str) -> Job | None:
        rows = await self.find_jobs({"jobId": job_id}, operation=f"read job {job_id}")
        return rows[0] if rows else None

    async def copies_since(self, parent_job_id: str, since_ms: int) -> list[Job]:
        """Copies of a template scheduled at or after `since_ms`, newest first."""
        return await self.find_jobs(
            {
                "parentJobId": parent_job_id,
                "runTime": since_ms,
                "runTime_op": "greaterThanEqualTo",
                "statusId": DRAFT,
                "statusId_op": "notEqual",
                # The recurring schedule and its runs carry a frequency; a run-now copy not.
                "tempExprId_op": "empty",
            },
            order_by="runTime DESC",
            operation="find the run-now copy of the job",
        )

    async def frequencies(self) -> dict[str, Frequency]:
        operation = "read the job frequencies"
        _, rows = await self.oms.perform_find(
            "TemporalExpression",
            {"tempExprTypeId": "FREQUENCY"},
            field_list=["tempExprId", "description", "integer1", "integer2"],
            view_size=MAX_ROWS,
            operation=operation,
        )
        result: dict[str, Frequency] = {}
        for row in rows:
            expr_id = str(row.get("tempExprId") or "")
            if not expr_id:
                continue
            unit = _UNIT_MS.get(_int(row.get("integer1")) or -1)
            count = _int(row.get("integer2"))
            interval = unit * count if unit and count else None
            result[expr_id] = Frequency(expr_id, str(row.get("description") or expr_id), interval)
        return result

    async def enum_descriptions(self, enum_ids: Sequence[str]) -> dict[str, str]:
        _, rows = await self.oms.perform_find(
            "Enumeration",
            {"enumId": list(enum_ids), "enumId_op": "in"},
            field_list=["enumId", "description", "enumName"],
            view_size=MAX_ROWS,
            operation="read job descriptions",
        )
        return {
            str(r["enumId"]): str(r.get("description") or r.get("enumName") or "")
            for r in rows
            if r.get("enumId")
        }

    async def mdm_logs(self, job_id: str) -> list[MdmLog]:
        """The data manager (MDM) logs a job run created."""
        _, rows = await self.oms.perform_find(
            "DataManagerLogAndContent",
            {"createdByJobId": job_id},
            field_list=["logId", "statusId", "configId", "failedRecordCount"],
            order_by="createdDate DESC",
            view_size=20,
            operation=f"read the MDM logs of job {job_id}",
        )
        return [
            MdmLog(
                str(r["logId"]),
                r.get("statusId"),
                r.get("configId"),
                _int(r.get("failedRecordCount")),
            )
            for r in rows
            if r.get("logId")
        ]

    # ---- writes ---------------------------------------------------------------------------

    async def run_now(self, draft: Job, schedule: Job | None, *, user: str) -> dict[str, Any]:
        """`POST /api/scheduleService` without SERVICE_TIME: a copy of the template runs now,
        with the body `run_now_body` builds (JobNotRunnable before any request otherwise)."""
        body = run_now_body(draft, schedule, user=user)
        return await self._write("scheduleService", body, "run the job now", service=False)

    async def skip_once(self, schedule: Job, interval_ms: int, *, user: str) -> dict[str, Any]:
        """`service/updateJobSandbox` with runTime moved forward one frequency interval."""
        if schedule.run_time is None:
            raise OmsBadResponse("skip the next run", f"job {schedule.job_id} has no run time")
        body = {
            "jobId": schedule.job_id,
            "systemJobEnumId": schedule.system_job_enum_id,
            "recurrenceTimeZone": schedule.recurrence_time_zone or "UTC",
            "tempExprId": schedule.temp_expr_id,
            "statusId": PENDING,
            "runTimeEpoch": "",
            "runTime": schedule.run_time + interval_ms,
            "lastModifiedByUserLogin": user,
        }
        return await self._write("updateJobSandbox", body, "skip the next run")

    async def resume(
        self, draft: Job, previous: Job, run_time: int, *, user: str
    ) -> dict[str, Any]:
        """`POST /api/scheduleService` with `resume_body`: the paused job is scheduled again
        with its old frequency, the first run at `run_time` (epoch ms)."""
        body = resume_body(draft, previous, run_time, user=user)
        return await self._write("scheduleService", body, "schedule the job again", service=False)

    async def pause(self, job_id: str) -> dict[str, Any]:
        """`service/cancelScheduledJob`: the schedule stops (the template stays)."""
        return await self._write("cancelScheduledJob", {"jobId": job_id}, "pause the job")

    async def _write(
        self, name: str, body: dict[str, Any], operation: str, *, service: bool = True
    ) -> dict[str, Any]:
        if service:
            return await self.oms.call_service(name, body, operation=operation)
        return await self.oms.ofbiz_post(name, body, operation=operation, read=False) or {}

    # ---- Shopify webhooks -----------------------------------------------------

    async def shopify_config_ids(self) -> list[str]:
        _, rows = await self.oms.perform_find(
            "ShopifyShopAndConfig",
            {},
            field_list=["shopifyConfigId", "shopId"],
            view_size=50,
            operation="read the Shopify configurations",
        )
        return [str(r["shopifyConfigId"]) for r in rows if r.get("shopifyConfigId")]

    async def webhooks(self, config_id: str) -> list[Webhook]:
        operation = "list the Shopify webhooks"
        answer = await self.oms.call_service(
            "getShopifyWebhooks", {"shopifyConfigId": config_id}, operation=operation
        )
        hooks = answer.get("webhooks", [])
        if not isinstance(hooks, list):
            raise OmsBadResponse(operation, "webhooks is not a list")
        return [
            Webhook(str(h["id"]), str(h["topic"]), h.get("address"))
            for h in hooks
            if isinstance(h, dict) and h.get("id") is not None and h.get("topic")
        ]

    async def subscribe(self, config_id: str, topic: str, endpoint: str) -> dict[str, Any]:
        return await self.oms.call_service(
            "subscribeShopifyWebhook",
            {"shopifyConfigId": config_id, "topic": topic, "endpoint": endpoint},
            operation=f"subscribe the {topic} webhook",
        )

    async def unsubscribe(self, config_id: str, webhook_id: str, topic: str) -> dict[str, Any]:
        return await self.oms.call_service(
            "removeShopifyWebhook",
            {"webhookId": webhook_id, "shopifyConfigId": config_id},
            operation=f"remove the {topic} webhook",
        )


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
