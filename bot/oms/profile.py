"""What kind of HotWax tenant the bot talks to, learned once from the tenant itself.

HotWax runs OFBiz + Maarg tenants (OFBiz `/api` next to Maarg `/rest/s1`) and Moqui-only
tenants (Maarg alone). Which Job Manager backend holds the jobs (Moqui `admin/serviceJobs`,
OFBiz JobSandbox) and where failed Shopify imports are recorded (the MDM logs; logInsights for
OFBiz-era imports) follow from it. docs/oms-api.md, "Session", gives the sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Backend = Literal["ofbiz+maarg", "moqui"]
JobBackend = Literal["moqui", "ofbiz"]
FailureSource = Literal["mdm", "logInsights"]


@dataclass(frozen=True)
class TenantProfile:
    backend: Backend
    maarg_url: str
    job_backends: frozenset[JobBackend]
    failure_sources: frozenset[FailureSource]

    @property
    def has_ofbiz(self) -> bool:
        return self.backend == "ofbiz+maarg"

    def describe(self) -> str:
        """One line for check-config and the logs."""
        jobs = " and ".join(sorted(self.job_backends)) or "none"
        sources = " and ".join(sorted(self.failure_sources)) or "none"
        return (
            f"{self.backend} tenant (Maarg {self.maarg_url}); jobs: {jobs}; "
            f"failed imports: {sources}"
        )
