"""The Moqui Job Manager (Maarg `admin/serviceJobs`) and the Shopify connector's webhook
subscriptions (Maarg `shopify/webhook-subscription`): docs/oms-api.md, "Jobs and webhooks".

HotWax's current Job Manager (v3) is Moqui only: a ServiceJob has a cron schedule and a
`paused` flag; `runNow` starts a run of the job itself (ServiceJobRun), whose status HotWax
derives from `hasError`, `startTime` and `endTime`. A job's category is its product's
(`instanceOfProductId`) membership in the product categories under `SYSTEM_JOB`. A job whose
store parameter (`productStoreIds`, `productStoreId`, `systemMessageRemoteId`) is empty is a
template, cloned per store before it runs. Moqui has no "skip once".

The OFBiz JobSandbox jobs (bot/oms/jobs.py) are the legacy backend; which backends a tenant
has is `OmsClient.profile().job_backends`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.oms import mdm
from bot.oms.client import OmsClient, path_part
from bot.oms.conventions import SERVICE_JOB_LIST_KEYS, list_in, parse_models
from bot.oms.errors import OmsBadResponse, OmsRequestError
from bot.oms.models import Id, OmsDatetime, Text

SYSTEM_JOB = "SYSTEM_JOB"
PAGE_SIZE = 250
MAX_PAGES = 40
# The parameters that tie a job to a store or a shop connection (job-manager
# .env.example VITE_PRT_STR_DEP_SER_JOB_IDENTIFIER).
STORE_PARAMETERS = ("productStoreIds", "productStoreId", "systemMessageRemoteId")
RunStatus = Literal["running", "finished", "failed", "terminated"]


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class JobParameter(_Model):
    name: str = Field(alias="parameterName")
    value: Text = Field(default=None, alias="parameterValue")


class ServiceJob(_Model):
    """One Moqui ServiceJob as `admin/serviceJobs` lists it and `jobDetail` shows it."""

    job_name: str = Field(alias="jobName")
    description: str | None = None
    service_name: str | None = Field(default=None, alias="serviceName")
    cron_expression: str | None = Field(default=None, alias="cronExpression")
    paused: Text = None
    instance_of_product_id: str | None = Field(default=None, alias="instanceOfProductId")
    job_type_enum_id: str | None = Field(default=None, alias="jobTypeEnumId")
    parent_job_name: str | None = Field(default=None, alias="parentJobName")
    next_execution: OmsDatetime = Field(default=None, alias="nextExecutionDateTime")
    parameters: tuple[JobParameter, ...] = Field(default=(), alias="serviceJobParameters")

    def parameter(self, name: str) -> str | None:
        return next((p.value for p in self.parameters if p.name == name), None)

    @property
    def is_paused(self) -> bool:
        return self.paused == "Y"

    @property
    def store_parameters(self) -> list[JobParameter]:
        return [p for p in self.parameters if p.name in STORE_PARAMETERS]

    @property
    def is_template(self) -> bool:
        """A template: it has a store parameter and none of them has a value (the Job
        Manager's "draft", cloned for a store before it is scheduled or run)."""
        found = self.store_parameters
        return bool(found) and not any(p.value for p in found)

    @property
    def store(self) -> str | None:
        """`name=value` of the store parameter that has a value, e.g. the shop connection."""
        found = next((p for p in self.store_parameters if p.value), None)
        return f"{found.name}={found.value}" if found else None


class ServiceJobRun(_Model):
    job_run_id: Id = Field(alias="jobRunId")
    job_name: str | None = Field(default=None, alias="jobName")
    user_id: str | None = Field(default=None, alias="userId")
    results: Text = None
    messages: Text = None
    errors: Text = None
    has_error: Text = Field(default=None, alias="hasError")
    start_time: OmsDatetime = Field(default=None, alias="startTime")
    end_time: OmsDatetime = Field(default=None, alias="endTime")

    @property
    def status(self) -> RunStatus:
        """HotWax's Job Manager: an error makes it failed, a start without an end running,
        both finished; anything else was terminated."""
        if self.has_error == "Y":
            return "failed"
        if self.start_time is not None and self.end_time is None:
            return "running"
        if self.start_time is not None and self.end_time is not None:
            return "finished"
        return "terminated"

    @property
    def ended(self) -> bool:
        return self.end_time is not None or self.status in ("failed", "terminated")

    @property
    def duration_seconds(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return max(0.0, (self.end_time - self.start_time).total_seconds())


@dataclass(frozen=True)
class JobCategory:
    category_id: str
    name: str


@dataclass(frozen=True)
class ShopifyWebhook:
    subscription_id: str
    topic: str  # the GraphQL topic, e.g. ORDERS_UPDATED
    callback_url: str | None


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


Page = Callable[[int, int], Awaitable[list[Any]]]


async def _every_page(page: Page) -> list[Any]:
    """Every row of a paged Moqui list: `page(index, size)` answers one page.

    Some deployments cap a page at 50 rows whatever pageSize asks (docs/oms-api.md, "Generic
    reads"), so a short first page does not prove the end: the next page is asked at the size
    the server used, and the paging goes on at that size while it brings rows not seen. On a
    server without a cap that costs one empty page."""
    rows = await page(0, PAGE_SIZE)
    if not rows:
        return rows
    size = min(len(rows), PAGE_SIZE)  # a short first page: the end, or the server's cap
    seen = {_identity(r) for r in rows}
    for index in range(1, MAX_PAGES):
        more = await page(index, size)
        fresh = [r for r in more if _identity(r) not in seen]
        seen.update(_identity(r) for r in fresh)
        rows.extend(fresh)
        if len(more) < size or not fresh:
            break
    return rows


def _identity(row: Any) -> str:
    return json.dumps(row, sort_keys=True, default=str)


class ServiceJobsApi:
    """The Moqui Job Manager operations the bot uses, over one OmsClient."""

    def __init__(self, oms: OmsClient) -> None:
        self.oms = oms

    # ---- jobs -----------------------------------------------------------------------------

    async def jobs(self) -> list[ServiceJob]:
        """Every job the Job Manager lists (those with a product), 250 a page."""
        operation = "list the Moqui service jobs"

        async def page(index: int, size: int) -> list[Any]:
            body = await self.oms.maarg_call(
                "GET",
                "admin/serviceJobs",
                operation=operation,
                params={
                    "pageSize": str(size),
                    "pageIndex": str(index),
                    "instanceOfProductId_op": "empty",
                    "instanceOfProductId_not": "Y",
                },
            )
            return list(list_in(body, SERVICE_JOB_LIST_KEYS, operation))

        return parse_models(ServiceJob, await _every_page(page), operation)

    async def job(self, job_name: str) -> ServiceJob | None:
        """One job by its name; None when the OMS has no such job (a 404, or no jobDetail)."""
        operation = f"read the job {job_name}"
        try:
            body = await self.oms.maarg_call(
                "GET", f"admin/serviceJobs/{path_part(job_name)}", operation=operation
            )
        except OmsRequestError as exc:
            if exc.status_code == 404:
                return None
            raise
        detail = body.get("jobDetail") if isinstance(body, dict) else None
        if not detail:
            return None
        if not isinstance(detail, dict):
            raise OmsBadResponse(operation, "jobDetail is not an object")
        job: ServiceJob = parse_models(ServiceJob, [detail], operation)[0]
        return job

    async def runs(self, job_name: str, limit: int = 10) -> list[ServiceJobRun]:
        """The job's newest runs first."""
        operation = f"read the runs of {job_name}"
        body = await self.oms.maarg_call(
            "GET",
            f"admin/serviceJobs/{path_part(job_name)}/runs",
            operation=operation,
            params={"orderByField": "-jobRunId", "pageSize": str(limit), "pageIndex": "0"},
        )
        rows = list_in(body, ("serviceJobRunList", "jobRuns"), operation)
        runs: list[ServiceJobRun] = parse_models(ServiceJobRun, rows, operation)
        return sorted(runs, key=lambda r: _int(r.job_run_id) or 0, reverse=True)

    async def run_now(self, job_name: str) -> str:
        """`POST .../runNow` with no body (HotWax ignores a body); the new run's id."""
        operation = f"run {job_name} now"
        body = await self.oms.maarg_call(
            "POST", f"admin/serviceJobs/{path_part(job_name)}/runNow", operation=operation
        )
        run_id = body.get("jobRunId") if isinstance(body, dict) else None
        if run_id in (None, ""):
            raise OmsBadResponse(operation, "the answer has no jobRunId")
        return str(run_id)

    async def pause(self, job_name: str) -> Any:
        """`PUT admin/serviceJobs/{job}` `{jobName, paused: "Y"}`: the schedule stops; the
        parameters are not sent, so neither reading of the PUT can change them."""
        return await self.oms.maarg_call(
            "PUT",
            f"admin/serviceJobs/{path_part(job_name)}",
            operation=f"pause {job_name}",
            json={"jobName": job_name, "paused": "Y"},
        )

    async def resume(self, job_name: str) -> Any:
        """`PUT admin/serviceJobs/{job}` `{jobName, paused: "N"}`: the job's cron schedule
        runs again (HotWax's Job Manager: Resume sets `paused` N and saves the job); like
        `pause`, nothing else is sent."""
        return await self.oms.maarg_call(
            "PUT",
            f"admin/serviceJobs/{path_part(job_name)}",
            operation=f"resume {job_name}",
            json={"jobName": job_name, "paused": "N"},
        )

    # ---- categories -----------------------------------------------------------------------

    async def categories(self) -> list[JobCategory]:
        """The Job Manager's categories: product categories whose primary parent is
        SYSTEM_JOB (the filter is sent, and applied again here)."""
        operation = "read the job categories"

        async def page(index: int, size: int) -> list[Any]:
            body = await self.oms.maarg_call(
                "GET",
                "admin/productCategories",
                operation=operation,
                params={
                    "primaryParentCategoryId": SYSTEM_JOB,
                    "pageSize": str(size),
                    "pageIndex": str(index),
                },
            )
            found = list_in(body, ("productCategoryList", "productCategories"), operation)
            if not isinstance(found, list):
                raise OmsBadResponse(operation, "the categories are not a list")
            return found

        rows = [r for r in await _every_page(page) if isinstance(r, dict)]
        return [
            JobCategory(
                str(r["productCategoryId"]), str(r.get("categoryName") or r["productCategoryId"])
            )
            for r in rows
            if r.get("primaryParentCategoryId") == SYSTEM_JOB and r.get("productCategoryId")
        ]

    async def category_members(self, category_ids: Sequence[str]) -> dict[str, set[str]]:
        """product id -> the ids of the given categories it belongs to."""
        operation = "read the job category members"
        wanted = set(category_ids)
        members: dict[str, set[str]] = {}
        if not wanted:
            return members

        async def page(index: int, size: int) -> list[Any]:
            body = await self.oms.maarg_call(
                "GET",
                "admin/productCategories/member",
                operation=operation,
                params={
                    "productCategoryId": ",".join(sorted(wanted)),
                    "productCategoryId_op": "in",
                    "pageSize": str(size),
                    "pageIndex": str(index),
                },
            )
            found = list_in(body, ("productCategoryMemberList", "members"), operation)
            if not isinstance(found, list):
                raise OmsBadResponse(operation, "the category members are not a list")
            return found

        for row in await _every_page(page):
            if not isinstance(row, dict):
                continue
            category, product = row.get("productCategoryId"), row.get("productId")
            if category in wanted and product:
                members.setdefault(str(product), set()).add(str(category))
        return members

    # ---- the data manager logs of a run ---------------------------------------------------

    async def mdm_logs_of_run(self, job_run_id: str) -> list[mdm.MdmLog]:
        """The data manager logs a run created (`createdByJobRunId`; rows that name another
        run are dropped, in case the filter is not applied)."""
        operation = f"read the MDM logs of run {job_run_id}"
        body = await self.oms.maarg_call(
            "GET",
            "admin/dataManager/details",
            operation=operation,
            params={
                "createdByJobRunId": job_run_id,
                "orderByField": "-createdDate",
                "pageSize": "5",
                "pageIndex": "0",
            },
        )
        rows = list_in(body, ("dataManagerLogs",), operation)
        if not isinstance(rows, list):
            raise OmsBadResponse(operation, "dataManagerLogs is not a list")
        logs = parse_models(mdm.MdmLog, [r for r in rows if isinstance(r, dict)], operation)
        return [log for log in logs if log.job_run_id == job_run_id]

    # ---- Shopify webhook subscriptions ----------------------------------------------------

    async def webhooks(self, remote_id: str, topic: str) -> list[ShopifyWebhook]:
        """The shop's subscriptions to one GraphQL topic. `queryParams` is a Map parameter,
        sent as a JSON object (Moqui reads one into a Map); the connector asks Shopify for the
        first subscription only, so each topic is asked for on its own, and the answer is
        filtered again by topic."""
        operation = f"list the {topic} webhook subscriptions"
        body = await self.oms.maarg_call(
            "GET",
            "shopify/webhook-subscription",
            operation=operation,
            params={
                "systemMessageRemoteId": remote_id,
                "queryParams": json.dumps({"topics": topic}),
            },
        )
        edges = list_in(body, ("webhookList",), operation)
        if not isinstance(edges, list):
            raise OmsBadResponse(operation, "webhookList is not a list")
        found: list[ShopifyWebhook] = []
        other = False
        for edge in edges:
            node = edge.get("node", edge) if isinstance(edge, dict) else None
            if not isinstance(node, dict) or not node.get("id") or not node.get("topic"):
                continue
            endpoint = node.get("endpoint")
            callback = endpoint.get("callbackUrl") if isinstance(endpoint, dict) else None
            if node["topic"] == topic:
                found.append(ShopifyWebhook(str(node["id"]), str(node["topic"]), callback))
            else:
                other = True
        if other and not found:
            # The topic filter was not applied (whether the connector passes it on is not
            # public), and Shopify answers one subscription: this one says nothing of `topic`.
            raise OmsBadResponse(
                operation,
                f"the OMS answered another topic's subscription, so whether {topic} is "
                "subscribed cannot be told from here; look in the Shopify admin (Settings > "
                "Notifications > Webhooks)",
            )
        return found

    async def subscribe(self, remote_id: str, topic: str) -> Any:
        return await self.oms.maarg_call(
            "POST",
            "shopify/webhook-subscription",
            operation=f"subscribe the {topic} webhook",
            json={"systemMessageRemoteId": remote_id, "topic": topic},
        )

    async def unsubscribe(self, remote_id: str, subscription_id: str, topic: str) -> Any:
        return await self.oms.maarg_call(
            "DELETE",
            "shopify/webhook-subscription",
            operation=f"remove the {topic} webhook",
            json={"systemMessageRemoteId": remote_id, "webhookSubscriptionId": subscription_id},
        )
