"""Which kind of HotWax tenant the sandbox plays.

HotWax runs OFBiz + Maarg tenants and Moqui-only tenants, two Job Manager backends, two
places where failed imports are recorded, and, where HotWax's own code does not settle how
the server behaves, more than one plausible answer. Each `Tenant` fixes one answer to every
such question; the bot must be right under each preset (docs/oms-api.md, "The sandbox",
cites the source of every behaviour and names the unknowns each field stands for).

A tenant is chosen by name: `SandboxServer(tenant="moqui-only")`, `oms-bot sandbox --tenant
moqui-only`, or `OMSBOT_SANDBOX_TENANT` for the console's embedded sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

# What the order sync does with a Shopify order that is already in HotWax and has changed in
# Shopify since (STILL UNKNOWN: HotWax's classifier is not public): update it in place, skip
# it, or import it as a new version (what the legacy "Refresh order" did).
OrderUpdate = Literal["update", "skip", "new-version"]
# How `PUT admin/serviceJobs/{job}` treats `serviceJobParameters` (STILL UNKNOWN): the list
# sent replaces the job's parameters, or is merged into them (a parameter left out stays).
JobParams = Literal["replace", "merge"]
# How OFBiz `findJobs` answers when nothing matches (both are seen in HotWax's apps).
EmptyFind = Literal["no-record", "404"]
RecordLayout = Literal["graphql", "rest"]
# How `GET admin/serviceJobs` wraps its list: HotWax's Job Manager reads `serviceJobList`
# (job-manager src/store/jobs.ts:96-108); HotWax's Company app also reads `serviceJobs` and a
# bare array, "every envelope shape these endpoints have been seen to return" (company
# src/composables/useServiceJobs.ts:146-160).
JobsEnvelope = Literal["serviceJobList", "serviceJobs", "array"]


@dataclass(frozen=True)
class Tenant:
    name: str
    # OFBiz `/api/*` exists (False: a Moqui-only tenant, whose base URL is Maarg itself).
    ofbiz: bool = True
    # `checkLoginOptions` gives the Maarg instance as a bare name (HotWax expands it).
    bare_maarg_name: bool = False
    # Job Manager backends holding jobs: Moqui `admin/serviceJobs`, OFBiz JobSandbox.
    moqui_jobs: bool = True
    ofbiz_jobs: bool = True
    find_jobs_empty: EmptyFind = "no-record"
    # Maarg serves the connector's `shopify/webhook-subscription` (False: an older connector,
    # where the OFBiz webhook services are the only way).
    moqui_webhooks: bool = True
    job_params: JobParams = "replace"
    service_jobs_envelope: JobsEnvelope = "serviceJobList"
    # Failed imports are recorded in logInsights (OFBiz-era imports) as well as in the MDM.
    loginsights: bool = True
    order_update: OrderUpdate = "update"
    # The MDM log of a sync names the job run that queued it (`createdByJobRunId`). HotWax's
    # own notes say the sync does not propagate it yet (company
    # docs/shopify-batch-order-sync-api-reuse.md, "Job-run correlation"), so off by default.
    mdm_log_names_run: bool = False
    # admin/dataManager/details filters by `createdByJobRunId` (the field is named in company
    # docs/shopify-batch-order-sync-api-reuse.md:36, the filter itself is not public).
    mdm_filters_by_run: bool = True
    # How a failed record holds the staged Shopify order: the GraphQL order with its GID
    # (what the connector's GraphQL sync stages), or a REST order under `order` with a
    # numeric id and `admin_graphql_api_id`. The record's layout is not public (docs/oms-api.md,
    # "Order runbooks"), so the bot reads both.
    mdm_record_layout: RecordLayout = "graphql"
    # The Moqui status route (`POST oms/orders/{id}/status`, used on Moqui-only tenants) keeps
    # the `changeReason` it is sent. The route is newer than the public oms.rest.xml, so this
    # is not public; OFBiz's changeOrderStatus keeps it (its service definition).
    moqui_keeps_change_reason: bool = True
    # `shopify/webhook-subscription` passes `queryParams.topics` on to Shopify. The connector
    # route is newer than the public connector, so this is not public; False: the filter is
    # ignored and Shopify's first subscription, of any topic, comes back.
    webhook_topic_filter: bool = True
    # Some deployments were seen to cap an entity-list page at 50 rows whatever pageSize
    # says (drpn-ai/darpan-hotwax docs/oms/2026-08-03-oms-recon-data-requirements.md); Moqui
    # itself has no maximum (EntityFindBase.groovy:414-424). None: no cap.
    page_cap: int | None = None


DEFAULT = Tenant("ofbiz-maarg")
# The Maarg instance name `checkLoginOptions` gives on a `bare_maarg_name` tenant. HotWax turns
# it into https://{name}.hotwax.io; the sandbox serves Maarg under /instances/{name} as well, so
# a bot configured with OMS_MAARG_URL_TEMPLATE=http://<sandbox>/instances/{name} reaches it and
# a wrong expansion answers 404.
INSTANCE_NAME = "sandbox-maarg"

TENANTS: dict[str, Tenant] = {
    t.name: t
    for t in (
        DEFAULT,
        Tenant(
            "moqui-only",
            ofbiz=False,
            ofbiz_jobs=False,
            loginsights=False,
        ),
        Tenant("bare-name", bare_maarg_name=True),
        Tenant("ofbiz-jobs", moqui_jobs=False, moqui_webhooks=False, find_jobs_empty="404"),
        Tenant("merge-params", job_params="merge"),
        Tenant("sync-skips", order_update="skip"),
        Tenant("sync-new-version", order_update="new-version"),
        Tenant("capped-pages", page_cap=50),
    )
}


def tenant_named(name: str) -> Tenant:
    """The preset called `name`; ValueError listing the presets otherwise."""
    found = TENANTS.get(name)
    if found is None:
        raise ValueError(f"no sandbox tenant {name!r}; the tenants are {', '.join(TENANTS)}")
    return found


def variant(base: Tenant, **changes: object) -> Tenant:
    """`base` with some answers changed (tests combine unknowns this way)."""
    return replace(base, **changes)  # type: ignore[arg-type]
