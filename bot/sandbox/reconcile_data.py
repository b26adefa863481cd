"""The reconciliation scenarios of the sandbox (`/oms reconcile`).

The seed already has an order in Shopify only with a logged import failure (#1006) and one
with none (#1007); this adds the third kind: `too-recent`, #1016, created in Shopify three
minutes ago, which the order sync (every 15 minutes, `order_sync_job` in data.py) has not
reached yet. The bot must list it as "too recent", not as missing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from bot.sandbox.records import ShopifyOrder

TOO_RECENT_NAME = "#1016"
TOO_RECENT_ID = "6100000001016"
TOO_RECENT_AGE = timedelta(minutes=3)


def too_recent_order(now: datetime) -> ShopifyOrder:
    created = now - TOO_RECENT_AGE
    return ShopifyOrder(
        shopify_id=TOO_RECENT_ID,
        name=TOO_RECENT_NAME,
        created_at=created,
        updated_at=created,
        source_name="web",
        fulfillment_status=None,
        financial_status="paid",
        email="jo@example.com",
        phone=None,
        shipping_address={
            "address1": "4 Pier Rd",
            "city": "Brooklyn",
            "province_code": "NY",
            "zip": "11201",
        },
        total_price=Decimal("24.00"),
        line_items=[{"sku": "AWB-1", "title": "Aurora Wool Beanie", "quantity": 1}],
    )
