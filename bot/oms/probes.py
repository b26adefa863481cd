"""The read-only probes that learn a tenant's profile (bot/oms/profile.py).

Each probe is one read HotWax's own apps make:
- Moqui jobs: `GET admin/serviceJobs?pageSize=1` → `{serviceJobList}` (hotwax/job-manager
  src/store/jobs.ts:96-108), or `{serviceJobs}` or a bare array, as ServiceJobsApi.jobs()
  reads it (hotwax/company src/composables/useServiceJobs.ts:146-160); a non-empty list holds
  jobs.
- OFBiz jobs: `POST /api/findJobs` for scheduled (SERVICE_PENDING) jobs (hotwax/order-routing
  src/store/channel.ts:149-158,264-277). "Nothing found" is either HTTP 200 `{error: "No
  record found"}` (job-manager@v2.35.2 JobService.ts:136) or a 404 (channel.ts:7-9,275):
  both mean the backend is there and holds no job.
- MDM: `GET admin/dataManager/details?configId=SYNC_SHOPIFY_ORDER&pageSize=1` →
  `{dataManagerLogs, dataManagerLogsCount}` (job-manager src/store/mdmConfig.ts:144-156).
- logInsights: solr-query on core `logInsights` (hotwax/oms-documentation
  documents/integrate-with-hotwax/api/orders/order-reconciliations.md), on OFBiz tenants
  only: the core records OFBiz-era imports.

A probe that fails for any reason but authentication makes its source absent, keeping the
reason; an auth failure is raised (the bot cannot work at all). A probe that could not reach
the OMS says nothing about the tenant, so the profile is marked unsettled and learned again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from bot.oms.conventions import SERVICE_JOB_LIST_KEYS, list_in
from bot.oms.errors import (
    OmsAuthError,
    OmsBadResponse,
    OmsError,
    OmsRequestError,
    OmsUnavailable,
)
from bot.oms.profile import FailureSource, JobBackend, SourceProbe, TenantProfile

SYNC_SHOPIFY_ORDER = "SYNC_SHOPIFY_ORDER"  # the Moqui "Shopify Order MDM" config
NO_OFBIZ = "no OFBiz on this tenant"


class TenantReads(Protocol):
    """The client's raw reads the probes use (OmsClient has them)."""

    async def maarg_call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any: ...

    async def ofbiz_post(
        self, endpoint: str, body: Mapping[str, Any], *, operation: str, read: bool
    ) -> dict[str, Any] | None: ...

    async def solr_query(
        self, json_body: Mapping[str, Any], *, core: str | None, operation: str
    ) -> dict[str, Any]: ...


async def _probe(source: str, read: Callable[[], Awaitable[SourceProbe]]) -> SourceProbe:
    try:
        return await read()
    except OmsAuthError:
        raise
    except OmsUnavailable as exc:
        return SourceProbe(source, "absent", f"unreachable: {exc.message}", transient=True)
    except OmsError as exc:
        return SourceProbe(source, "absent", exc.message)


def _operation(source: str) -> str:
    return f"learn the tenant ({source})"


async def moqui_jobs(reads: TenantReads) -> SourceProbe:
    source = "Moqui jobs"

    async def read() -> SourceProbe:
        body = await reads.maarg_call(
            "GET", "admin/serviceJobs", operation=_operation(source), params={"pageSize": "1"}
        )
        # The shapes ServiceJobsApi.jobs() reads: {serviceJobList}, {serviceJobs} or an array.
        try:
            jobs = list_in(body, SERVICE_JOB_LIST_KEYS, _operation(source))
        except OmsBadResponse:
            return SourceProbe(source, "absent", "admin/serviceJobs has no serviceJobList")
        if not isinstance(jobs, list):
            return SourceProbe(source, "absent", "admin/serviceJobs has no job list")
        if not jobs:
            return SourceProbe(source, "no jobs", "admin/serviceJobs lists no job")
        return SourceProbe(source, "holds jobs", "admin/serviceJobs lists jobs")

    return await _probe(source, read)


async def ofbiz_jobs(reads: TenantReads) -> SourceProbe:
    source = "OFBiz jobs"
    query = {
        "inputFields": {"statusId": "SERVICE_PENDING"},
        "fieldList": ["jobId"],
        "noConditionFind": "Y",
        "viewSize": 1,
        "viewIndex": 0,
    }

    async def read() -> SourceProbe:
        try:
            answer = await reads.ofbiz_post(
                "findJobs", query, operation=_operation(source), read=True
            )
        except OmsRequestError as exc:
            if exc.status_code != 404:
                raise
            return SourceProbe(source, "no jobs", "findJobs answered 404: no scheduled job")
        docs = answer.get("docs") if answer is not None else []
        if not isinstance(docs, list):
            return SourceProbe(source, "absent", "findJobs answered without docs")
        if not docs:
            return SourceProbe(source, "no jobs", "findJobs: no scheduled job")
        return SourceProbe(source, "holds jobs", "findJobs lists scheduled jobs")

    return await _probe(source, read)


async def mdm(reads: TenantReads) -> SourceProbe:
    source = "MDM"

    async def read() -> SourceProbe:
        body = await reads.maarg_call(
            "GET",
            "admin/dataManager/details",
            operation=_operation(source),
            params={"configId": SYNC_SHOPIFY_ORDER, "pageSize": "1"},
        )
        if not isinstance(body, dict) or not isinstance(body.get("dataManagerLogs"), list):
            return SourceProbe(source, "absent", "admin/dataManager/details has no dataManagerLogs")
        return SourceProbe(source, "present", f"{SYNC_SHOPIFY_ORDER} logs answer")

    return await _probe(source, read)


async def log_insights(reads: TenantReads) -> SourceProbe:
    source = "logInsights"

    async def read() -> SourceProbe:
        await reads.solr_query(
            {"query": "docType:SHOPIFY_ORDER", "params": {"rows": 0}},
            core="logInsights",
            operation=_operation(source),
        )
        return SourceProbe(source, "present", "the logInsights core answers")

    return await _probe(source, read)


async def learn_profile(reads: TenantReads, *, maarg_url: str, moqui_only: bool) -> TenantProfile:
    """Probe the tenant (concurrently: every probe is a read) and build its profile."""
    if moqui_only:
        moqui, found_mdm = await asyncio.gather(moqui_jobs(reads), mdm(reads))
        probes: tuple[SourceProbe, ...] = (
            moqui,
            SourceProbe("OFBiz jobs", "absent", NO_OFBIZ),
            found_mdm,
            SourceProbe("logInsights", "absent", NO_OFBIZ),
        )
    else:
        probes = tuple(
            await asyncio.gather(
                moqui_jobs(reads), ofbiz_jobs(reads), mdm(reads), log_insights(reads)
            )
        )
    by_source = {probe.source: probe for probe in probes}
    jobs: set[JobBackend] = set()
    if by_source["Moqui jobs"].state == "holds jobs":
        jobs.add("moqui")
    if by_source["OFBiz jobs"].state == "holds jobs":
        jobs.add("ofbiz")
    sources: set[FailureSource] = set()
    if by_source["MDM"].state == "present":
        sources.add("mdm")
    if by_source["logInsights"].state == "present":
        sources.add("logInsights")
    return TenantProfile(
        backend="moqui" if moqui_only else "ofbiz+maarg",
        maarg_url=maarg_url,
        job_backends=frozenset(jobs),
        failure_sources=frozenset(sources),
        probes=probes,
        settled=not any(probe.transient for probe in probes),
    )


__all__ = ["SYNC_SHOPIFY_ORDER", "TenantReads", "learn_profile"]
