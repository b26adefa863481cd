"""Which jobs a watch's `jobs` names: Moqui service jobs by name or by category, OFBiz
JobSandbox jobs by enum id (or the catalogue's friendly name) or by category.

A name is looked up where the tenant has jobs (`TenantProfile.answering_job_backends`): a
Moqui job name first, then a category (the catalogue's, whose `enum_type_id` is also the
Moqui category id, or a Moqui category's id or name), then an OFBiz job. A name that matches
nothing is reported with the poll (`/oms watches` shows it), not guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.engine import Watch
from bot.oms import JobsApi, OmsClient, ServiceJob, ServiceJobsApi, jobs
from handlers.jobs import Category, find_category, find_job

MOQUI = "moqui"
OFBIZ = "ofbiz"
_ENUM_ID = re.compile(r"^[A-Z][A-Z0-9_]{1,59}$")


@dataclass
class Targets:
    moqui: dict[str, ServiceJob] = field(default_factory=dict)  # job name -> job
    ofbiz: dict[str, str] = field(default_factory=dict)  # enum id -> the name shown
    unknown: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


async def resolve(oms: OmsClient, watch: Watch) -> Targets:
    backends = (await oms.profile()).answering_job_backends
    found = Targets()
    moqui_jobs: dict[str, ServiceJob] = {}
    if MOQUI in backends:
        moqui_jobs = {job.job_name: job for job in await ServiceJobsApi(oms).jobs()}
    moqui_categories: dict[str, str] | None = None  # normalised id or name -> category id
    ofbiz_enums: list[str] = []
    ofbiz_types: list[str] = []
    for name in watch.jobs:
        if name in moqui_jobs:
            found.moqui[name] = moqui_jobs[name]
            continue
        category = find_category(name)
        matched = False
        if MOQUI in backends:
            if moqui_categories is None:
                moqui_categories = {}
                for cat in await ServiceJobsApi(oms).categories():
                    moqui_categories[_norm(cat.category_id)] = cat.category_id
                    moqui_categories[_norm(cat.name)] = cat.category_id
            wanted = _moqui_category(name, category, moqui_categories)
            if wanted:
                members = await ServiceJobsApi(oms).category_members([wanted])
                for job in moqui_jobs.values():
                    if job.instance_of_product_id in members and not job.is_template:
                        found.moqui[job.job_name] = job
                matched = True
        if OFBIZ in backends:
            if category is not None:
                ofbiz_enums += category.enum_ids
                if category.enum_type_id:
                    ofbiz_types.append(category.enum_type_id)
                matched = True
            else:
                info = find_job(name)
                if info is not None:
                    ofbiz_enums.append(info.enum_id)
                    matched = True
                elif _ENUM_ID.match(name):
                    ofbiz_enums.append(name)
                    matched = True  # checked against the OMS's templates below
        if not matched:
            found.unknown.append(name)
    if ofbiz_enums or ofbiz_types:
        await _ofbiz_names(JobsApi(oms), ofbiz_enums, ofbiz_types, watch, found)
    return found


def _moqui_category(name: str, category: Category | None, known: dict[str, str]) -> str | None:
    if category is not None and category.enum_type_id and _norm(category.enum_type_id) in known:
        return known[_norm(category.enum_type_id)]
    return known.get(_norm(name))


async def _ofbiz_names(
    api: JobsApi, enums: list[str], types: list[str], watch: Watch, found: Targets
) -> None:
    """The OMS's templates (SERVICE_DRAFT) of the named jobs: which exist, and their names."""
    rows = []
    if enums:
        rows += await api.jobs_of(
            sorted(set(enums)), [jobs.DRAFT], operation="read the watched jobs"
        )
    for enum_type in sorted(set(types)):
        rows += await api.jobs_of(
            [], [jobs.DRAFT], enum_type_id=enum_type, operation="read the watched jobs"
        )
    for row in rows:
        if row.system_job_enum_id:
            found.ofbiz[row.system_job_enum_id] = (
                row.job_name or row.description or row.system_job_enum_id
            )
    for name in watch.jobs:
        job = find_job(name)
        enum_id = job.enum_id if job else name
        named = enum_id in found.ofbiz or name in found.moqui or name in found.unknown
        if not named and find_category(name) is None and (job or _ENUM_ID.match(name)):
            found.unknown.append(name)
