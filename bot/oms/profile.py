"""What kind of HotWax tenant the bot talks to, learned once from the tenant itself.

HotWax runs OFBiz + Maarg tenants (OFBiz `/api` next to Maarg `/rest/s1`) and Moqui-only
tenants (Maarg alone). Which Job Manager backend holds the jobs (Moqui `admin/serviceJobs`,
OFBiz JobSandbox) and where failed Shopify imports are recorded (the MDM logs; logInsights for
OFBiz-era imports) are learned with read-only probes (bot/oms/probes.py). docs/oms-api.md,
"Tenant profile and doctor", gives each probe and its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Backend = Literal["ofbiz+maarg", "moqui"]
JobBackend = Literal["moqui", "ofbiz"]
FailureSource = Literal["mdm", "logInsights"]
# What a probe found: a Job Manager backend that holds jobs, one that answers but holds none,
# a failure source that answers, or nothing usable (with the reason).
ProbeState = Literal["holds jobs", "no jobs", "present", "absent"]


# Each probe's source (`SourceProbe.source`), by what it probes.
JOB_PROBES: dict[str, JobBackend] = {"Moqui jobs": "moqui", "OFBiz jobs": "ofbiz"}
FAILURE_PROBES: dict[str, FailureSource] = {"MDM": "mdm", "logInsights": "logInsights"}


@dataclass(frozen=True)
class SourceProbe:
    source: str  # "Moqui jobs", "OFBiz jobs", "MDM", "logInsights"
    state: ProbeState
    detail: str  # what the probe saw, or why the source is absent (never OMS data values)
    # The OMS could not be reached: the answer says nothing about the tenant.
    transient: bool = False


@dataclass(frozen=True)
class TenantProfile:
    backend: Backend
    maarg_url: str
    job_backends: frozenset[JobBackend]
    failure_sources: frozenset[FailureSource]
    probes: tuple[SourceProbe, ...] = ()
    # False when a probe could not reach the OMS: the client learns the profile again.
    settled: bool = True

    @property
    def has_ofbiz(self) -> bool:
        return self.backend == "ofbiz+maarg"

    @property
    def answering_job_backends(self) -> frozenset[JobBackend]:
        """The Job Manager backends that answer: those holding jobs and those that hold none
        yet (an OFBiz JobSandbox with every job paused still has its jobs to show)."""
        empty = {
            JOB_PROBES[p.source]
            for p in self.probes
            if p.source in JOB_PROBES and p.state == "no jobs"
        }
        return self.job_backends | frozenset(empty)

    @property
    def failure_sources_to_read(self) -> frozenset[FailureSource]:
        """The failure sources to read: those found, and those whose probe could not reach
        the OMS (reading one then fails with the OMS's real error instead of leaving it out)."""
        unreached = {
            FAILURE_PROBES[p.source]
            for p in self.probes
            if p.source in FAILURE_PROBES and p.transient
        }
        return self.failure_sources | frozenset(unreached)

    def unused(self) -> list[SourceProbe]:
        """The probed sources the bot will not use, each with the reason."""
        return [p for p in self.probes if p.state in ("no jobs", "absent")]

    def describe(self, *, with_url: bool = True) -> str:
        """One line for check-config and the logs (`with_url=False`: for a shared report)."""
        jobs = " and ".join(sorted(self.job_backends)) or "none"
        sources = " and ".join(sorted(self.failure_sources)) or "none"
        where = f" (Maarg {self.maarg_url})" if with_url else ""
        line = f"{self.backend} tenant{where}; jobs: {jobs}; failed imports: {sources}"
        unused = self.unused()
        if unused:
            line += "; not used: " + ", ".join(f"{p.source} ({p.detail})" for p in unused)
        return line
