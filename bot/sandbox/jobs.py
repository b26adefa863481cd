"""The Job Manager routes of the simulated OMS (docs/oms-api.md, "Jobs and webhooks").

`findJobs` (performFind-style filters over JobSandbox; "No record found" when empty, with
HTTP 200 or 404 as `tenant.find_jobs_empty` says, and nothing found where the tenant has no
JobSandbox jobs, `tenant.ofbiz_jobs` False),
`scheduleService` (run now without SERVICE_TIME, or a schedule), and the services
`updateJobSandbox`, `cancelScheduledJob`, `getShopifyWebhooks`, `subscribeShopifyWebhook`,
`removeShopifyWebhook`. Errors follow OFBiz: HTTP 200 with `_ERROR_MESSAGE_`.
The routes are listed before the generic `/api/service/{name}` route so they win.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox import find
from bot.sandbox.jobs_data import (
    SHOPIFY_CONFIG,
    SHOPIFY_TOPICS,
    WEBHOOK_ENDPOINTS,
    JobsData,
    RunNow,
    enumeration_rows,
    frequency_rows,
    shopify_config_rows,
)
from bot.sandbox.state import SandboxState
from bot.sandbox.web import current_user, ofbiz_error, ofbiz_unauthorized, parse_int, read_params

NO_RECORD = {"error": "No record found"}
DEFAULT_VIEW_SIZE = 20
Handler = Callable[[Request, str, dict[str, Any]], Awaitable[Response]]


def jobs_entity_rows(
    state: SandboxState, entity: str, rows: list[dict[str, Any]] | None
) -> list[dict[str, Any]] | None:
    """performFind rows the Job Manager adds: job enums, frequencies, Shopify configs, and the
    MDM logs that run-now copies created (beside the seeded ones)."""
    with state.lock:
        state.jobs.advance(state.now())
        if entity == "Enumeration":
            return enumeration_rows()
        if entity == "TemporalExpression":
            return frequency_rows()
        if entity == "ShopifyShopAndConfig":
            return shopify_config_rows()
        if entity == "DataManagerLogAndContent" and rows is not None:
            return [*rows, *state.jobs.mdm_logs]
        if entity == "JobSandbox":
            if not state.tenant.ofbiz_jobs:
                return []
            return [dict(row) for row in state.jobs.jobs.values()]
    return rows


def _missing(service: str, param: str) -> Response:
    return ofbiz_error(
        f"Could not complete the {service} process: The following required parameter is "
        f"missing: [{service}.{param}]"
    )


def jobs_routes(state: SandboxState) -> list[Route]:
    def data() -> JobsData:
        return state.jobs  # reset() replaces the object, so read it per call

    def ofbiz(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def wrapper(request: Request) -> Response:
            user = current_user(state, request)
            if user is None:
                return ofbiz_unauthorized()
            try:
                params = await read_params(request)
            except ValueError as exc:
                return ofbiz_error(str(exc))
            return await handler(request, user, params)

        return wrapper

    async def find_jobs(request: Request, user: str, params: dict[str, Any]) -> Response:
        inputs = params.get("inputFields") or {}
        if not isinstance(inputs, dict):
            return ofbiz_error("Parameter [inputFields] must be a map")
        try:
            conditions = find.parse_conditions(inputs)
            size = parse_int(params.get("viewSize"), "viewSize", DEFAULT_VIEW_SIZE)
            index = parse_int(params.get("viewIndex"), "viewIndex", 0)
        except ValueError as exc:
            return ofbiz_error(str(exc))
        with state.lock:
            data().advance(state.now())
            rows = data().jobs.values() if state.tenant.ofbiz_jobs else []
            hits = [dict(r) for r in rows if find.row_matches(r, conditions)]
            empty = state.tenant.find_jobs_empty
        field_list = params.get("fieldList")
        if isinstance(field_list, str):
            field_list = [field_list]
        hits = find.select_fields(find.sort_rows(hits, params.get("orderBy")), field_list)
        if not hits:
            # HotWax's apps see both: 200 + "No record found" (job-manager v2.35.2) and a 404
            # (order-routing treats a 404 from findJobs as no jobs).
            return JSONResponse(NO_RECORD, status_code=404 if empty == "404" else 200)
        size = size or DEFAULT_VIEW_SIZE
        return JSONResponse({"count": len(hits), "docs": hits[index * size : (index + 1) * size]})

    async def schedule_service(request: Request, user: str, params: dict[str, Any]) -> Response:
        service = str(params.get("SERVICE_NAME") or "")
        if not service:
            return _missing("scheduleService", "SERVICE_NAME")
        fields = params.get("jobFields") or {}
        if not isinstance(fields, dict):
            return ofbiz_error("Parameter [jobFields] must be a map")
        enum_id = str(params.get("systemJobEnumId") or fields.get("systemJobEnumId") or "")
        with state.lock:
            jobs = data()
            draft = next(
                (
                    r
                    for r in jobs.jobs.values()
                    if r["statusId"] == "SERVICE_DRAFT"
                    and r["serviceName"] == service
                    and (not enum_id or r["systemJobEnumId"] == enum_id)
                ),
                None,
            )
            if draft is None:
                return ofbiz_error(f"Cannot locate service by name ({service})")
            job_id = jobs.new_id()
            now_ms = int(state.now().timestamp() * 1000)
            run_at = params.get("SERVICE_TIME")
            row = {
                **draft,
                "jobId": job_id,
                "jobName": str(params.get("JOB_NAME") or draft["jobName"]),
                "parentJobId": str(fields.get("parentJobId") or draft["jobId"]),
                "productStoreId": fields.get("productStoreId") or draft["productStoreId"],
                "recurrenceTimeZone": fields.get("recurrenceTimeZone")
                or draft["recurrenceTimeZone"],
                "createdByUserLogin": user,
                "lastModifiedByUserLogin": user,
                "createdDate": now_ms,
                "lastUpdatedStamp": now_ms,
                "runtimeData": {
                    k: v
                    for k, v in params.items()
                    if not k.isupper() and k not in ("jobFields", "statusId", "systemJobEnumId")
                },
            }
            if run_at in (None, ""):
                # Run now: a copy that is queued at once and picked up by the job poller.
                row.update(statusId="SERVICE_QUEUED", runTime=now_ms, tempExprId=None)
                jobs.in_flight[job_id] = RunNow(
                    job_id,
                    time.monotonic(),
                    jobs.queued_seconds,
                    jobs.running_seconds,
                    jobs.run_outcome,
                    jobs.run_failure_message,
                )
            else:
                try:
                    run_ms = int(str(run_at))
                except ValueError:
                    return ofbiz_error(f"SERVICE_TIME [{run_at}] is not a valid time in ms")
                expr = params.get("SERVICE_TEMP_EXPR") or fields.get("tempExprId")
                row.update(statusId="SERVICE_PENDING", runTime=run_ms, tempExprId=expr)
            jobs.jobs[job_id] = row
        return JSONResponse({"successMessage": "Service scheduled"})

    async def update_job(request: Request, user: str, params: dict[str, Any]) -> Response:
        job_id = str(params.get("jobId") or "")
        if not job_id:
            return _missing("updateJobSandbox", "jobId")
        with state.lock:
            row = data().jobs.get(job_id)
            if row is None:
                return ofbiz_error(f"Job [{job_id}] not found")
            if row["statusId"] != "SERVICE_PENDING":
                return ofbiz_error(
                    f"Job [{job_id}] is {row['statusId']}; only pending jobs can be updated"
                )
            if params.get("runTime") not in (None, ""):
                try:
                    row["runTime"] = int(str(params["runTime"]))
                except ValueError:
                    return ofbiz_error(f"runTime [{params['runTime']}] is not a valid time")
            if params.get("tempExprId"):
                row["tempExprId"] = str(params["tempExprId"])
            row["lastModifiedByUserLogin"] = user
        return JSONResponse({"successMessage": "Job updated successfully", "jobId": job_id})

    async def cancel_job(request: Request, user: str, params: dict[str, Any]) -> Response:
        job_id = str(params.get("jobId") or "")
        if not job_id:
            return _missing("cancelScheduledJob", "jobId")
        with state.lock:
            row = data().jobs.get(job_id)
            if row is None:
                return ofbiz_error(f"Job [{job_id}] not found")
            if row["statusId"] not in ("SERVICE_PENDING", "SERVICE_QUEUED"):
                return ofbiz_error(f"Job [{job_id}] is {row['statusId']} and cannot be cancelled")
            row["statusId"] = "SERVICE_CANCELLED"
            row["cancelDateTime"] = int(state.now().timestamp() * 1000)
            row["lastModifiedByUserLogin"] = user
        return JSONResponse({"successMessage": "Job cancelled"})

    def _config(params: dict[str, Any], service: str) -> tuple[str | None, Response | None]:
        config = str(params.get("shopifyConfigId") or "")
        if not config:
            return None, _missing(service, "shopifyConfigId")
        if config not in data().webhooks:
            return None, ofbiz_error(f"Shopify config [{config}] not found")
        return config, None

    async def get_webhooks(request: Request, user: str, params: dict[str, Any]) -> Response:
        with state.lock:
            config, error = _config(params, "getShopifyWebhooks")
            if error or config is None:
                return error or ofbiz_error("no config")
            return JSONResponse({"webhooks": [dict(h) for h in data().webhooks[config]]})

    async def subscribe(request: Request, user: str, params: dict[str, Any]) -> Response:
        with state.lock:
            config, error = _config(params, "subscribeShopifyWebhook")
            if error or config is None:
                return error or ofbiz_error("no config")
            topic = str(params.get("topic") or "")
            endpoint = str(params.get("endpoint") or "")
            if not topic:
                return _missing("subscribeShopifyWebhook", "topic")
            if topic not in SHOPIFY_TOPICS:
                return ofbiz_error(f"Shopify: topic [{topic}] is not a valid webhook topic")
            if not endpoint:
                return _missing("subscribeShopifyWebhook", "endpoint")
            if WEBHOOK_ENDPOINTS.get(topic) != endpoint:
                return ofbiz_error(f"No webhook handler [{endpoint}] is configured in the OMS")
            hooks = data().webhooks[config]
            if any(h["topic"] == topic for h in hooks):
                return ofbiz_error(
                    f"Shopify: address for this topic has already been taken ({topic})"
                )
            hook_id = data().new_id()
            hooks.append(
                {
                    "id": hook_id,
                    "topic": topic,
                    "address": f"https://demo-oms.hotwax.io/api/webhook/{endpoint}",
                    "format": "json",
                }
            )
        return JSONResponse({"successMessage": "Webhook subscribed", "webhookId": hook_id})

    async def remove(request: Request, user: str, params: dict[str, Any]) -> Response:
        with state.lock:
            config, error = _config(params, "removeShopifyWebhook")
            if error or config is None:
                return error or ofbiz_error("no config")
            hook_id = str(params.get("webhookId") or "")
            if not hook_id:
                return _missing("removeShopifyWebhook", "webhookId")
            hooks = data().webhooks[config]
            kept = [h for h in hooks if str(h["id"]) != hook_id]
            if len(kept) == len(hooks):
                return ofbiz_error(f"Shopify: webhook [{hook_id}] not found")
            data().webhooks[config] = kept
        return JSONResponse({"successMessage": "Webhook removed"})

    service = "/api/service/"
    return [
        Route("/api/findJobs", ofbiz(find_jobs), methods=["GET", "POST"]),
        Route("/api/scheduleService", ofbiz(schedule_service), methods=["POST"]),
        Route(f"{service}updateJobSandbox", ofbiz(update_job), methods=["POST"]),
        Route(f"{service}cancelScheduledJob", ofbiz(cancel_job), methods=["POST"]),
        Route(f"{service}getShopifyWebhooks", ofbiz(get_webhooks), methods=["POST"]),
        Route(f"{service}subscribeShopifyWebhook", ofbiz(subscribe), methods=["POST"]),
        Route(f"{service}removeShopifyWebhook", ofbiz(remove), methods=["POST"]),
    ]


__all__ = ["SHOPIFY_CONFIG", "jobs_entity_rows", "jobs_routes"]
