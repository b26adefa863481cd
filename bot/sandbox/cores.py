"""The Solr cores the sandbox indexes, as the tenant played has them.

`enterpriseSearch` holds the order documents on every tenant; `logInsights` (failed Shopify
imports, written by OFBiz-era imports) exists only where the tenant says so
(`Tenant.loginsights`). Both OFBiz `solr-query` and Maarg `admin/runSolrQuery` read them here.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox import shapes
from bot.sandbox.records import ImportFailure
from bot.sandbox.solr import answer_page, select
from bot.sandbox.state import SandboxState

DEFAULT_CORE = "enterpriseSearch"  # accxui common/composables/useSolrSearch.ts:81-82
LOG_INSIGHTS = "logInsights"
_PAGING = ("start", "rows", "offset", "limit")
KEPT_QUERIES = 8  # the queries whose hits are kept (every digest window is a new query)


def core_docs(state: SandboxState, core: str) -> list[dict[str, Any]] | None:
    """Every document of `core`, or None when the tenant has no such core."""
    with state.lock:
        if core == DEFAULT_CORE:
            now = state.now()
            return [d for o in state.data.orders.values() for d in shapes.order_solr_docs(o, now)]
        if core == LOG_INSIGHTS and state.tenant.loginsights:
            return [shapes.log_insights_doc(f) for f in state.data.failures]
    return None


def query_core(state: SandboxState, core: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """Answer a Solr request on `core` (None: the tenant has no such core). SolrSyntaxError
    for a request Solr would refuse."""
    if core == LOG_INSIGHTS:
        with state.lock:
            if state.tenant.loginsights:
                return answer_page(_log_insights_hits(state, request), request)
    docs = core_docs(state, core)
    return None if docs is None else answer_page(select(docs, request, state.now()), request)


@dataclass
class _Selections:
    """logInsights' documents and the hits of each query over them, for as long as the
    failures are the same records: paging through 50,000 failures then costs a slice per
    page instead of a rebuild and a sort (which would swamp bench/digest.py's figures)."""

    records: list[ImportFailure]
    docs: list[dict[str, Any]]
    hits: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def current(self, failures: list[ImportFailure]) -> bool:
        return len(failures) == len(self.records) and all(
            a is b for a, b in zip(failures, self.records, strict=True)
        )


_SELECTIONS: weakref.WeakKeyDictionary[SandboxState, _Selections] = weakref.WeakKeyDictionary()


def _log_insights_hits(state: SandboxState, request: dict[str, Any]) -> list[dict[str, Any]]:
    # Called with state.lock held. Failure records are frozen, so the same records mean the
    # same documents.
    failures = state.data.failures
    cached = _SELECTIONS.get(state)
    if cached is None or not cached.current(failures):
        docs = [shapes.log_insights_doc(f) for f in failures]
        cached = _Selections(list(failures), docs)
        _SELECTIONS[state] = cached
    key = _query_key(request)
    if key is None:  # NOW date math: the answer moves with the clock
        return select(cached.docs, request, state.now())
    hits = cached.hits.pop(key, None)
    if hits is None:
        hits = select(cached.docs, request, state.now())
    cached.hits[key] = hits  # the newest last: a window's pages come one after another
    while len(cached.hits) > KEPT_QUERIES:
        del cached.hits[next(iter(cached.hits))]
    return hits


def _query_key(request: dict[str, Any]) -> str | None:
    params = request.get("params")
    unpaged = {k: v for k, v in request.items() if k not in _PAGING and k != "params"}
    if isinstance(params, dict):
        unpaged["params"] = {k: v for k, v in params.items() if k not in _PAGING}
    key = json.dumps(unpaged, sort_keys=True, default=str)
    return None if "NOW" in key else key
