"""Doctor probes of the Job Manager: the Moqui ServiceJob list, detail and runs, the order-sync
job's parameters, OFBiz findJobs' empty answer, and the PUT semantics no read can settle
(fidelity reference §4). docs/oms-api.md, "Tenant profile and doctor", gives each source."""

from __future__ import annotations

import json
from typing import Any

from bot.oms import OmsRequestError
from bot.oms.client import path_part
from bot.surface.doctor_context import ORDER_SYNC_TYPE, Context, Probe, parameter
from bot.surface.doctor_report import Verdict, field_list, shape

# A job enum id no tenant has: findJobs must answer "nothing found".
NO_SUCH_JOB = "OMSBOT_DOCTOR_NO_SUCH_JOB"


async def _job_list(ctx: Context) -> tuple[Verdict, str]:
    body = await ctx.jobs_body()
    jobs = body.get("serviceJobList") if isinstance(body, dict) else None
    if not isinstance(jobs, list):
        return "DIFFERENT", f"answered {shape(body)} without serviceJobList"
    if not jobs or not isinstance(jobs[0], dict):
        return "CONFIRMED", "{serviceJobList}: no job on this tenant"
    return "CONFIRMED", f"{{serviceJobList}}: {len(jobs)} on the first page; {field_list(jobs[0])}"


async def _job_name(ctx: Context) -> str | None:
    job = await ctx.order_sync_job()
    if job is None:
        jobs = await ctx.service_jobs()
        job = jobs[0] if jobs else None
    name = job.get("jobName") if job else None
    return str(name) if name else None


async def _detail(ctx: Context, name: str) -> Any:
    return await ctx.reads.get(f"admin/serviceJobs/{path_part(name)}")


async def _job_detail(ctx: Context) -> tuple[Verdict, str]:
    name = await _job_name(ctx)
    if name is None:
        return "UNKNOWN", "no ServiceJob to read (set [stores] order_sync_job in the policy)"
    body = await _detail(ctx, name)
    detail = body.get("jobDetail") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        return "DIFFERENT", f"answered {shape(body)} without jobDetail"
    params = [p for p in detail.get("serviceJobParameters") or [] if isinstance(p, dict)]
    ok = all("parameterName" in p for p in params) and isinstance(
        detail.get("serviceJobParameters"), list
    )
    evidence = f"{{jobDetail}}: {field_list(detail)}"
    if params:
        evidence += f"; parameters: {field_list(params[0])}"
    return ("CONFIRMED" if ok else "DIFFERENT"), evidence


def _additional_keys(value: str) -> str:
    try:
        parsed = json.loads(value) if value else None
    except ValueError:
        return "additionalParameters is not JSON"
    if not isinstance(parsed, dict):
        return f"additionalParameters is {shape(parsed)}"
    return f"additionalParameters keys: {', '.join(sorted(parsed)) or 'none'}"


async def _sync_parameters(ctx: Context) -> tuple[Verdict, str]:
    job = await ctx.order_sync_job()
    if job is None:
        return "UNKNOWN", (
            "no order-sync job found (none with systemMessageTypeId ShopifyOrderSync; set "
            "[stores] order_sync_job in the policy)"
        )
    body = await _detail(ctx, str(job.get("jobName")))
    detail = body.get("jobDetail") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        return "DIFFERENT", f"the job detail answered {shape(body)}"
    names = sorted(
        str(p.get("parameterName"))
        for p in detail.get("serviceJobParameters") or []
        if isinstance(p, dict)
    )
    problems = []
    if not parameter(detail, "systemMessageRemoteId"):
        problems.append("no systemMessageRemoteId")
    if parameter(detail, "systemMessageTypeId") != ORDER_SYNC_TYPE:
        problems.append(f"systemMessageTypeId is not {ORDER_SYNC_TYPE}")
    for pinned in ("fromDate", "thruDate"):
        if parameter(detail, pinned):
            problems.append(f"{pinned} is set (every run starts from it)")
    evidence = f"parameters: {', '.join(names) or 'none'}"
    if "additionalParameters" in names:
        evidence += f"; {_additional_keys(parameter(detail, 'additionalParameters'))}"
    if problems:
        return "DIFFERENT", f"{evidence}; {'; '.join(problems)}"
    return "CONFIRMED", evidence


async def _job_runs(ctx: Context) -> tuple[Verdict, str]:
    name = await _job_name(ctx)
    if name is None:
        return "UNKNOWN", "no ServiceJob to read (set [stores] order_sync_job in the policy)"
    body = await ctx.reads.get(
        f"admin/serviceJobs/{path_part(name)}/runs",
        {"orderByField": "-jobRunId", "pageSize": "5"},
    )
    if not isinstance(body, list):
        return "DIFFERENT", f"answered {shape(body)}, not an array"
    runs = [r for r in body if isinstance(r, dict)]
    if not runs:
        return "UNKNOWN", "the job has no run yet"
    missing = [f for f in ("jobRunId", "hasError", "startTime") if f not in runs[0]]
    ids = [str(r.get("jobRunId")) for r in runs]
    ordered = ids == sorted(ids, key=lambda i: (len(i), i), reverse=True)
    evidence = f"array of {len(runs)} runs: {field_list(runs[0])}"
    evidence += "; newest first" if ordered else "; NOT newest first"
    if missing:
        return "DIFFERENT", f"{evidence}; lacks {', '.join(missing)}"
    return ("CONFIRMED" if ordered else "DIFFERENT"), evidence


async def _put_semantics(ctx: Context) -> tuple[Verdict, str]:
    return "UNKNOWN", "settling it needs a PUT (a write); the doctor writes nothing"


async def _find_jobs_empty(ctx: Context) -> tuple[Verdict, str]:
    if not ctx.profile.has_ofbiz:
        return "UNKNOWN", "no OFBiz on this tenant"
    query = {
        "inputFields": {"systemJobEnumId": NO_SUCH_JOB},
        "noConditionFind": "Y",
        "viewSize": 1,
        "viewIndex": 0,
    }
    try:
        answer = await ctx.reads.find_jobs(query)
    except OmsRequestError as exc:
        if exc.status_code == 404:
            return "CONFIRMED", "nothing found answers HTTP 404 (order-routing's form)"
        return "DIFFERENT", f"nothing found answers an error (HTTP {exc.status_code or '?'})"
    if answer is None:
        return "CONFIRMED", 'nothing found answers HTTP 200 {error: "No record found"}'
    docs = answer.get("docs")
    if isinstance(docs, list) and not docs:
        return "DIFFERENT", "nothing found answers HTTP 200 with an empty docs list"
    return "DIFFERENT", f"nothing found answers {field_list(answer)}"


PROBES = (
    Probe(
        "ServiceJob list",
        "GET admin/serviceJobs answers {serviceJobList}, each job with serviceJobParameters",
        _job_list,
    ),
    Probe(
        "ServiceJob detail",
        "GET admin/serviceJobs/{job} answers {jobDetail} with serviceJobParameters "
        "[{parameterName, parameterValue}]",
        _job_detail,
    ),
    Probe(
        "order-sync job parameters",
        "the shop's order-sync job carries systemMessageRemoteId and "
        "systemMessageTypeId=ShopifyOrderSync, and no pinned fromDate/thruDate",
        _sync_parameters,
    ),
    Probe(
        "ServiceJob runs",
        "GET admin/serviceJobs/{job}/runs?orderByField=-jobRunId answers an array of runs "
        "(jobRunId, hasError, startTime, endTime), newest first",
        _job_runs,
    ),
    Probe(
        "ServiceJob PUT parameters",
        "PUT admin/serviceJobs/{job} replaces serviceJobParameters (or merges them)",
        _put_semantics,
    ),
    Probe(
        "findJobs empty answer",
        "OFBiz findJobs answers nothing found as HTTP 200 {error: No record found} or HTTP 404",
        _find_jobs_empty,
    ),
)
