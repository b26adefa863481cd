"""The Solr cores the sandbox indexes, as the tenant played has them.

`enterpriseSearch` holds the order documents on every tenant; `logInsights` (failed Shopify
imports, written by OFBiz-era imports) exists only where the tenant says so
(`Tenant.loginsights`). Both OFBiz `solr-query` and Maarg `admin/runSolrQuery` read them here.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox import shapes
from bot.sandbox.state import SandboxState

DEFAULT_CORE = "enterpriseSearch"  # accxui common/composables/useSolrSearch.ts:81-82


def core_docs(state: SandboxState, core: str) -> list[dict[str, Any]] | None:
    """Every document of `core`, or None when the tenant has no such core."""
    with state.lock:
        if core == DEFAULT_CORE:
            now = state.now()
            return [d for o in state.data.orders.values() for d in shapes.order_solr_docs(o, now)]
        if core == "logInsights" and state.tenant.loginsights:
            return [shapes.log_insights_doc(f) for f in state.data.failures]
    return None
