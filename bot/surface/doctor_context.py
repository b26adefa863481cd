"""What every doctor probe shares: the reads, the session facts, the policy's targets, and
lookups made once (the newest orders, the ServiceJob list).

A probe is a name, the assumption it checks, and a check returning a verdict with evidence;
`run_probe` turns any OMS failure into UNKNOWN with the reason, so one failing read never
stops the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.oms import OmsError, TenantProfile
from bot.oms.session import Discovery
from bot.surface.doctor_reads import Reads
from bot.surface.doctor_report import Finding, Verdict, redacted_error

ORDER_SYNC_TYPE = "ShopifyOrderSync"  # the order-sync jobs' systemMessageTypeId


@dataclass(frozen=True)
class SessionFacts:
    """What logging in and discovery showed, read from the client before the probes run."""

    discovery: Discovery | None  # how the bot found Maarg (None: it could not)
    options: Discovery | None  # checkLoginOptions asked again (None: it did not answer)
    options_problem: str  # why it did not answer
    login_route: str | None  # None with an API token (no login)
    login_answer: dict[str, str]  # field -> JSON type of the login answer
    uses_api_token: bool
    maarg_configured: bool  # OMS_MAARG_URL is set


@dataclass(frozen=True)
class Targets:
    """What the policy names (`[stores]`); None: the doctor looks for one itself."""

    shopify_remote: str | None = None
    order_sync_job: str | None = None
    product_store: str | None = None


@dataclass
class Context:
    reads: Reads
    facts: SessionFacts
    profile: TenantProfile
    targets: Targets = field(default_factory=Targets)
    _cache: dict[str, Any] = field(default_factory=dict)

    async def _once(self, key: str, path: str, params: dict[str, str]) -> Any:
        """A read made once per doctor run, its raw body kept for every probe."""
        if key not in self._cache:
            self._cache[key] = await self.reads.get(path, params)
        return self._cache[key]

    async def orders_body(self) -> Any:
        """The 20 newest orders as the bot reads them (with dependentLevels=1), as answered."""
        params = {"pageSize": "20", "dependentLevels": "1", "orderByField": "-orderDate"}
        return await self._once("orders", "oms/orders", params)

    async def newest_orders(self) -> list[dict[str, Any]]:
        return dicts(await self.orders_body())

    async def jobs_body(self) -> Any:
        """The first page of Moqui ServiceJobs, as answered."""
        return await self._once("jobs", "admin/serviceJobs", {"pageSize": "100"})

    async def service_jobs(self) -> list[dict[str, Any]]:
        body = await self.jobs_body()
        return dicts(body.get("serviceJobList") if isinstance(body, dict) else None)

    async def order_sync_job(self) -> dict[str, Any] | None:
        """The policy's order-sync job, else the first job HotWax would match as one: by its
        `systemMessageTypeId` parameter (hotwax/company src/composables/useShopify.ts:1063)."""
        if self.targets.order_sync_job:
            return {"jobName": self.targets.order_sync_job}
        for job in await self.service_jobs():
            if parameter(job, "systemMessageTypeId") == ORDER_SYNC_TYPE:
                return job
        return None

    async def shopify_remote(self) -> str | None:
        """The policy's shop connection, else the one the order-sync job names."""
        if self.targets.shopify_remote:
            return self.targets.shopify_remote
        job = await self.order_sync_job()
        remote = parameter(job, "systemMessageRemoteId") if job else ""
        return remote or None


def dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (nothing when `value` is not an array)."""
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def parameter(job: dict[str, Any], name: str) -> str:
    """A ServiceJob parameter's value ("" when absent or empty)."""
    for row in job.get("serviceJobParameters") or []:
        if isinstance(row, dict) and row.get("parameterName") == name:
            value = row.get("parameterValue")
            return "" if value is None else str(value)
    return ""


Check = Callable[[Context], Awaitable[tuple[Verdict, str]]]


@dataclass(frozen=True)
class Probe:
    name: str
    assumption: str
    check: Check


async def run_probe(probe: Probe, ctx: Context) -> Finding:
    try:
        verdict, evidence = await probe.check(ctx)
    except OmsError as exc:
        verdict, evidence = "UNKNOWN", f"could not probe: {redacted_error(exc)}"
    return Finding(probe.name, verdict, probe.assumption, evidence)
