"""Which Shopify connection and order-sync job the order runbooks use.

Set in the policy file: `[stores] shopify_remote = "<SystemMessageRemote id>"` and
`order_sync_job = "queue_ShopifyOrderSync_<shopId>"`. Against the embedded sandbox the
sandbox's own values apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.services import Services


class NotConfigured(Exception):
    """A setting the command needs is missing; the message says which and where."""


@dataclass(frozen=True)
class ShopifySetup:
    remote_id: str
    sync_job: str


def shopify_setup(services: Services) -> ShopifySetup:
    stores = services.policy.stores
    remote = stores.get("shopify_remote")
    job = stores.get("order_sync_job")
    if services.sandbox is not None:
        from bot.sandbox import DEMO_ORDER_SYNC_JOB, DEMO_SHOPIFY_REMOTE

        remote = remote or DEMO_SHOPIFY_REMOTE
        job = job or DEMO_ORDER_SYNC_JOB
    missing = [
        name for name, value in (("shopify_remote", remote), ("order_sync_job", job)) if not value
    ]
    if missing:
        raise NotConfigured(
            "The policy file does not say which Shopify connection to use: set "
            + " and ".join(f"`{m}`" for m in missing)
            + ' under `[stores]` (e.g. shopify_remote = "SHOP_CONFIG_10000", '
            'order_sync_job = "queue_ShopifyOrderSync_10000").'
        )
    return ShopifySetup(remote_id=str(remote), sync_job=str(job))
