"""The Moqui Job Manager of the simulated OMS (Maarg `admin/...`), and the Shopify connector's
webhook subscriptions (Maarg `shopify/webhook-subscription`): docs/oms-api.md, "Jobs and
webhooks", gives the source of every behaviour.

- `GET admin/serviceJobs` -> `{serviceJobList}` (or `{serviceJobs}`, or a bare array:
  `tenant.service_jobs_envelope`; the Job Manager asks for jobs that have a
  product: `instanceOfProductId_op=empty&instanceOfProductId_not=Y`); a tenant without Moqui
  jobs (`tenant.moqui_jobs` False) lists none.
- `GET admin/serviceJobs/{job}` -> `{jobDetail}`; `PUT` changes `paused`, `cronExpression` and
  `serviceJobParameters` (replaced or merged: `tenant.job_params`, STILL UNKNOWN in HotWax);
  `POST .../runNow` -> `{jobRunId}`; `GET .../runs` -> the job's runs, newest first.
  runNow of the shop's order sync (`queue_ShopifyOrderSync*`) is the order-sync replay of
  bot/sandbox/sync.py; any other job's run ends `job_manager.run_seconds` later.
- `GET admin/productCategories` and `.../member`: the categories (bare arrays).
- `GET/POST/DELETE shopify/webhook-subscription` (`tenant.moqui_webhooks`: an older connector
  has no such route, and Maarg answers 404).

Errors follow Maarg: non-2xx with `{"errors": "..."}`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox import sync
from bot.sandbox.jobs_data import SHOPIFY_TOPICS
from bot.sandbox.records import JobParameter, JobRunRecord, ServiceJobRecord
from bot.sandbox.service_jobs_data import (
    WEBHOOK_CALLBACK,
    InFlight,
    JobManagerData,
    category_rows,
    member_rows,
    next_fire,
)
from bot.sandbox.shapes import epoch_ms
from bot.sandbox.shopify import remote_problem
from bot.sandbox.state import SandboxNotFound, SandboxState
from bot.sandbox.sync import DEFAULT_PAGE_SIZE, PAGE_CAP, parse_timestamp
from bot.sandbox.web import maarg_authed, maarg_error, parse_int, read_json_object

ORDER_SYNC_PREFIX = "queue_ShopifyOrderSync"
_CRON_FIELDS = (6, 7)  # Quartz: seconds .. day-of-week [year]
DATE_PARAMETERS = ("fromDate", "thruDate")
TAKEN = "Address for this topic has already been taken"
_TOPIC = re.compile(r"^[A-Z][A-Z_]*$")
# The Shopify GraphQL topics (WebhookSubscriptionTopic) the sandbox's Shopify knows.
GRAPHQL_TOPICS = frozenset(
    {t.upper().replace("/", "_") for t in SHOPIFY_TOPICS} | {"ORDERS_UPDATED"}
)


# -- jobs -----------------------------------------------------------------------------------


def job_json(job: ServiceJobRecord, state: SandboxState) -> dict[str, Any]:
    """A ServiceJob as `jobDetail` and the list show it (times are epoch milliseconds)."""
    upcoming = None
    if job.paused == "N" and job.cron_expression:
        upcoming = epoch_ms(next_fire(job.cron_expression, state.now()))
    return {
        "jobName": job.job_name,
        "description": job.description,
        "serviceName": job.service_name,
        "cronExpression": job.cron_expression,
        "paused": job.paused,
        "instanceOfProductId": job.instance_of_product_id,
        "jobTypeEnumId": job.job_type_enum_id,
        "parentJobName": job.parent_job_name,
        "nextExecutionDateTime": upcoming,
        "serviceJobParameters": [
            {"jobName": job.job_name, "parameterName": p.name, "parameterValue": p.value}
            for p in job.parameters
        ],
    }


def run_json(run: JobRunRecord) -> dict[str, Any]:
    """One ServiceJobRun; messages and errors are newline-separated text, as Moqui stores."""
    return {
        "jobRunId": run.job_run_id,
        "jobName": run.job_name,
        "userId": run.user_id,
        "parameters": dict(run.parameters),
        "results": run.results,
        "messages": "\n".join(run.messages) or None,
        "errors": "\n".join(run.errors) or None,
        "hasError": "Y" if run.errors else "N",
        "startTime": epoch_ms(run.start_time),
        "endTime": epoch_ms(run.end_time),
        "logs": None,
        "lastUpdatedStamp": epoch_ms(run.end_time or run.start_time),
    }


def _new_parameters(
    current: list[JobParameter], given: Any, job_name: str, mode: str
) -> list[JobParameter]:
    """A PUT's serviceJobParameters applied to the job's: the list sent becomes the job's
    parameters ("replace"), or each one sent is updated or added and the others stay
    ("merge"). Date parameters must be Moqui timestamps."""
    if not isinstance(given, list) or not all(isinstance(p, dict) for p in given):
        raise ValueError("serviceJobParameters must be a list of {parameterName, parameterValue}")
    values: dict[str, str] = {}
    for entry in given:
        name = entry.get("parameterName")
        if not isinstance(name, str) or not name:
            raise ValueError("Every serviceJobParameters entry needs a parameterName")
        value = entry.get("parameterValue")
        values[name] = "" if value is None else str(value)
    for name in DATE_PARAMETERS:
        if name in values:
            parse_timestamp(values[name])
    if mode == "replace":
        return [JobParameter(name, value) for name, value in values.items()]
    merged = [JobParameter(p.name, values.pop(p.name, p.value)) for p in current]
    return merged + [JobParameter(name, value) for name, value in values.items()]


def _update_job(state: SandboxState, job_name: str, body: dict[str, Any]) -> None:
    with state.lock:
        job = state.data.service_jobs.get(job_name)
        if job is None:
            raise SandboxNotFound(f"ServiceJob not found with name {job_name}")
        if body.get("jobName") not in (None, job_name):
            raise ValueError(f"jobName {body['jobName']} does not match the URL ({job_name})")
        parameters = job.parameters
        if "serviceJobParameters" in body:
            parameters = _new_parameters(
                job.parameters, body["serviceJobParameters"], job_name, state.tenant.job_params
            )
        paused = body.get("paused", job.paused)
        if paused not in ("Y", "N"):
            raise ValueError(f"paused must be Y or N, got {paused!r}")
        cron = body.get("cronExpression", job.cron_expression)
        if not isinstance(cron, str) or len(cron.split()) not in _CRON_FIELDS:
            raise ValueError(f"cronExpression {cron!r} is not a Quartz cron expression")
        job.parameters, job.paused, job.cron_expression = parameters, paused, cron
        rewrite = state.job_manager.put_rewrites.pop(job_name, None)
        if rewrite:
            job.parameters = [
                JobParameter(p.name, rewrite.pop(p.name)) if p.name in rewrite else p
                for p in job.parameters
            ] + [JobParameter(k, v) for k, v in rewrite.items()]


def rewrite_parameters_on_put(state: SandboxState, job_name: str, values: dict[str, str]) -> None:
    """The next PUT on `job_name` also sets these parameters (tests: a write that reads back
    other than what was written)."""
    with state.lock:
        state.job_manager.put_rewrites[job_name] = dict(values)


def start_run(state: SandboxState, job_name: str, user: str) -> str:
    """runNow: the order sync replays its window (sync.py); any other job runs for
    `job_manager.run_seconds` and ends as the knobs say."""
    if job_name.startswith(ORDER_SYNC_PREFIX):
        return sync.run_now(state, job_name, user)
    with state.lock:
        run = state.new_job_run(job_name, user)
        manager = state.job_manager
        manager.in_flight[run.job_run_id] = InFlight(
            time.monotonic(), manager.run_seconds, manager.run_outcome, manager.run_error
        )
        manager.advance(state.data)
    return run.job_run_id


Handler = Callable[[Request, str], Awaitable[Response]]


def _page(query: Any, cap: int | None) -> tuple[int, int]:
    """pageSize (at most the tenant's `page_cap`, as capped deployments answer) and pageIndex."""
    size = parse_int(query.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    return min(size, cap or size), parse_int(query.get("pageIndex"), "pageIndex", 0)


def _has_product(query: Any) -> bool | None:
    """`instanceOfProductId_op=empty` (with `_not=Y`: not empty); None without the filter."""
    if query.get("instanceOfProductId_op") != "empty":
        return None
    return bool(query.get("instanceOfProductId_not") == "Y")


def _equals(query: Any, row: dict[str, Any], fields: tuple[str, ...]) -> bool:
    for name in fields:
        wanted = query.get(name)
        if not wanted:
            continue
        if query.get(f"{name}_op") == "in":
            if str(row.get(name)) not in {v.strip() for v in wanted.split(",")}:
                return False
        elif str(row.get(name)) != wanted:
            return False
    return True


# -- webhook subscriptions ----------------------------------------------------------------


def _edge(hook: dict[str, Any]) -> dict[str, Any]:
    return {
        "node": {
            "id": hook["id"],
            "topic": hook["topic"],
            "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": hook["callbackUrl"]},
        }
    }


def _query_params(raw: str | None) -> dict[str, Any]:
    """`queryParams` is a Map parameter: Moqui reads a JSON object string as a Map."""
    if raw is None or raw == "":
        return {}
    if not raw.startswith("{"):
        raise ValueError("Could not convert queryParams to a Map")
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError("Could not convert JSON to Map (queryParams)") from None
    if not isinstance(value, dict):
        raise ValueError("Could not convert JSON to Map (queryParams)")
    return value


def service_job_routes(state: SandboxState) -> list[Route]:
    def manager() -> JobManagerData:
        return state.job_manager  # reset() replaces it, so read it per call

    async def job_list(request: Request, user: str) -> Response:
        query = request.query_params
        try:
            size, index = _page(query, state.tenant.page_cap)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        wanted = _has_product(query)
        with state.lock:
            manager().advance(state.data)
            jobs = [] if not state.tenant.moqui_jobs else list(state.data.service_jobs.values())
            rows = [
                job_json(job, state)
                for job in sorted(jobs, key=lambda job: job.job_name)
                if wanted is None or bool(job.instance_of_product_id) == wanted
            ]
        rows = [row for row in rows if _equals(query, row, ("jobName", "instanceOfProductId"))]
        page = rows[index * size : (index + 1) * size]
        envelope = state.tenant.service_jobs_envelope
        return JSONResponse(page if envelope == "array" else {envelope: page})

    def one_job(route: Handler) -> Handler:
        """A route on one job: a tenant whose Moqui Job Manager holds no jobs has none."""

        async def checked(request: Request, user: str) -> Response:
            if not state.tenant.moqui_jobs:
                name = request.path_params["jobName"]
                return maarg_error(404, f"ServiceJob not found with name {name}")
            return await route(request, user)

        return checked

    async def job_detail(request: Request, user: str) -> Response:
        job_name = request.path_params["jobName"]
        with state.lock:
            job = state.data.service_jobs.get(job_name)
            if job is None:
                return maarg_error(404, f"ServiceJob not found with name {job_name}")
            return JSONResponse({"jobDetail": job_json(job, state)})

    async def job_update(request: Request, user: str) -> Response:
        try:
            _update_job(state, request.path_params["jobName"], await read_json_object(request))
        except SandboxNotFound as exc:
            return maarg_error(404, str(exc))
        except ValueError as exc:
            return maarg_error(400, str(exc))
        return JSONResponse({})

    async def job_run_now(request: Request, user: str) -> Response:
        try:
            run_id = start_run(state, request.path_params["jobName"], user)
        except SandboxNotFound as exc:
            return maarg_error(404, str(exc))
        return JSONResponse({"jobRunId": run_id})

    async def job_runs(request: Request, user: str) -> Response:
        job_name = request.path_params["jobName"]
        query = request.query_params
        try:
            size = parse_int(query.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE)
            index = parse_int(query.get("pageIndex"), "pageIndex", 0)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        size = min(size or DEFAULT_PAGE_SIZE, PAGE_CAP)
        order_by = query.get("orderByField", "-jobRunId")
        if order_by.lstrip("-") not in ("jobRunId", "startTime"):
            return maarg_error(400, f"Cannot order runs by {order_by}")
        has_error = query.get("hasError")
        with state.lock:
            if job_name not in state.data.service_jobs:
                return maarg_error(404, f"ServiceJob not found with name {job_name}")
            manager().advance(state.data)
            rows = [run_json(r) for r in state.data.job_runs if r.job_name == job_name]
        if has_error in ("Y", "N"):
            rows = [row for row in rows if row["hasError"] == has_error]
        field = order_by.lstrip("-")
        rows.sort(
            key=lambda row: int(row[field]) if str(row[field]).isdigit() else 0,
            reverse=order_by.startswith("-"),
        )
        page = rows[index * size : (index + 1) * size]
        return JSONResponse(page, headers={"X-Total-Count": str(len(rows))})

    def _listing(request: Request, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> Response:
        query = request.query_params
        try:
            size, index = _page(query, state.tenant.page_cap)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        hits = [row for row in rows if _equals(query, row, fields)]
        page = hits[index * size : (index + 1) * size]
        return JSONResponse(page, headers={"X-Total-Count": str(len(hits))})

    async def categories(request: Request, user: str) -> Response:
        return _listing(request, category_rows(), ("productCategoryId", "primaryParentCategoryId"))

    async def members(request: Request, user: str) -> Response:
        return _listing(request, member_rows(), ("productCategoryId", "productId"))

    async def webhooks(request: Request, user: str) -> Response:
        if not state.tenant.moqui_webhooks:
            return maarg_error(404, f"Resource {request.url.path} not found")
        if request.method == "GET":
            return _list_hooks(request)
        try:
            body = await read_json_object(request)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        problem = remote_problem(state, body.get("systemMessageRemoteId"), mutation=True)
        if problem:
            return maarg_error(400, problem)
        remote = str(body["systemMessageRemoteId"])
        if request.method == "POST":
            return _subscribe(remote, body.get("topic"))
        return _unsubscribe(remote, body.get("webhookSubscriptionId"))

    def _list_hooks(request: Request) -> Response:
        remote = request.query_params.get("systemMessageRemoteId")
        problem = remote_problem(state, remote)
        if problem:
            return maarg_error(400, problem)
        try:
            params = _query_params(request.query_params.get("queryParams"))
        except ValueError as exc:
            return maarg_error(400, str(exc))
        topic = params.get("topics")
        with state.lock:
            hooks = [dict(h) for h in manager().webhooks.get(str(remote), [])]
        if topic and state.tenant.webhook_topic_filter:
            hooks = [h for h in hooks if h["topic"] == topic]
        # The connector's query asks Shopify for `webhookSubscriptions(first: 1, ...)`.
        return JSONResponse({"webhookList": [_edge(h) for h in hooks[:1]]})

    def _subscribe(remote: str, topic: Any) -> Response:
        if not topic:
            return maarg_error(400, "The following required parameter is missing: topic")
        if not isinstance(topic, str) or not _TOPIC.match(topic) or topic not in GRAPHQL_TOPICS:
            return maarg_error(
                400,
                f"Argument 'topic' on Field 'webhookSubscriptionCreate' has an invalid value "
                f"({topic}). Expected type 'WebhookSubscriptionTopic!'.",
            )
        with state.lock:
            hooks = manager().webhooks.setdefault(remote, [])
            if any(h["topic"] == topic for h in hooks):
                return maarg_error(400, f"[[field:[callbackUrl], message:{TAKEN}]]")
            hook_id = f"gid://shopify/WebhookSubscription/{manager().next_webhook}"
            manager().next_webhook += 1
            hooks.append(
                {
                    "id": hook_id,
                    "topic": topic,
                    "callbackUrl": WEBHOOK_CALLBACK,
                }
            )
        return JSONResponse({"webhookSubscriptionId": hook_id})

    def _unsubscribe(remote: str, hook_id: Any) -> Response:
        if not hook_id:
            return maarg_error(
                400, "The following required parameter is missing: webhookSubscriptionId"
            )
        with state.lock:
            hooks = manager().webhooks.get(remote, [])
            kept = [h for h in hooks if h["id"] != hook_id]
            if len(kept) == len(hooks):
                return maarg_error(
                    400, "[[field:[id], message:Webhook subscription does not exist]]"
                )
            manager().webhooks[remote] = kept
        return JSONResponse({"deletedWebhookSubscriptionId": hook_id})

    admin = "/rest/s1/admin"
    jobs = f"{admin}/serviceJobs"
    return [
        Route(jobs, maarg_authed(state, job_list), methods=["GET"]),
        Route(f"{jobs}/{{jobName}}", maarg_authed(state, one_job(job_detail)), methods=["GET"]),
        Route(f"{jobs}/{{jobName}}", maarg_authed(state, one_job(job_update)), methods=["PUT"]),
        Route(
            f"{jobs}/{{jobName}}/runNow",
            maarg_authed(state, one_job(job_run_now)),
            methods=["POST"],
        ),
        Route(f"{jobs}/{{jobName}}/runs", maarg_authed(state, one_job(job_runs)), methods=["GET"]),
        Route(f"{admin}/productCategories", maarg_authed(state, categories), methods=["GET"]),
        Route(f"{admin}/productCategories/member", maarg_authed(state, members), methods=["GET"]),
        Route(
            "/rest/s1/shopify/webhook-subscription",
            maarg_authed(state, webhooks),
            methods=["GET", "POST", "DELETE"],
        ),
    ]
