"""The only OMS access `oms-bot doctor` has: reads.

The doctor's probes get a `Reads`, never the client, so a probe cannot write even by
mistake: Maarg GETs, OFBiz GETs, and the POSTs that only read (`findJobs`, Solr queries).
Logging in and `checkLoginOptions` happen through the client before the probes run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.oms import OmsClient

# The POST routes a doctor run may send, besides the login: what its tests hold it to.
READ_ONLY_POSTS = frozenset(
    {
        "/api/login",
        "/rest/s1/admin/login",
        "/api/findJobs",
        "/api/solr-query",
        "/rest/s1/admin/runSolrQuery",
    }
)


class Reads:
    def __init__(self, client: OmsClient) -> None:
        self._client = client

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """`GET {maarg}/rest/s1/{path}`: the decoded body."""
        return await self._client.maarg_call(
            "GET", path, operation=f"doctor: read {path}", params=params
        )

    async def download(self, path: str, params: Mapping[str, str]) -> str:
        """`GET {maarg}/rest/s1/{path}` as text (a file download)."""
        return await self._client.maarg_download(path, params, operation=f"doctor: read {path}")

    async def ofbiz_get(self, endpoint: str) -> dict[str, Any] | None:
        """`GET {base}/api/{endpoint}`; None for OFBiz's "No record found"."""
        return await self._client.ofbiz_get(endpoint, operation=f"doctor: read {endpoint}")

    async def find_jobs(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """OFBiz `POST findJobs` (a find: it changes nothing)."""
        return await self._client.ofbiz_post(
            "findJobs", body, operation="doctor: find jobs", read=True
        )

    async def solr(self, query: Mapping[str, Any], core: str | None) -> dict[str, Any]:
        """A Solr query (OFBiz solr-query, or Maarg admin/runSolrQuery on Moqui-only tenants)."""
        return await self._client.solr_query(
            query, core=core, operation=f"doctor: query Solr ({core or 'enterpriseSearch'})"
        )
