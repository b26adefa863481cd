"""Which Shopify connection and order-sync job the order runbooks use.

Set in the policy file: `[stores] shopify_remote = "<SystemMessageRemote id>"` and
`order_sync_job = "queue_ShopifyOrderSync_<shopId>"`. Against the embedded sandbox the
sandbox's own values fill them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.engine import NotConfigured, Toolbox, job_lock_key


@dataclass(frozen=True)
class ShopifySetup:
    remote_id: str
    sync_job: str


def shopify_setup(tools: Toolbox) -> ShopifySetup:
    stores = tools.policy.stores
    missing = [
        name
        for name, value in (
            ("shopify_remote", stores.shopify_remote),
            ("order_sync_job", stores.order_sync_job),
        )
        if not value
    ]
    if missing or stores.shopify_remote is None or stores.order_sync_job is None:
        raise NotConfigured(
            "The policy file does not say which Shopify connection to use: set "
            + " and ".join(f"`{m}`" for m in missing)
            + ' under `[stores]` (e.g. shopify_remote = "SHOP_CONFIG_10000", '
            'order_sync_job = "queue_ShopifyOrderSync_10000").'
        )
    return ShopifySetup(remote_id=stores.shopify_remote, sync_job=stores.order_sync_job)


def sync_job_keys(params: dict[str, Any]) -> list[str]:
    """The lease on the order-sync job a run replays (`params["sync_job"]`, set when the run
    starts): two runs must never replay it at once, or one would take the other's window for
    the job's own state and leave the shop's live sync pinned to it."""
    job = params.get("sync_job")
    return [job_lock_key(str(job))] if job else []
