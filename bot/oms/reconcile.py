"""HotWax's side of a reconciliation with Shopify: how many orders with a Shopify id it has
for a window, and which of a batch of Shopify ids it has.

Both read the Maarg order list `oms/orders` (an OrderHeader entity list): `externalId` holds
the Shopify order id (ofbiz-oms-udm DatamodelOrderEntitymodel.xml:168), `orderDate_from` /
`_thru` bound the window and `externalId_op=in` takes a comma list; `in`, `empty` and `_not`
are Moqui's own filter operators (moqui-framework EntityFindBase.groovy:449-533). Moqui drops a
filter it does not understand and answers every row, so the rows are checked again here.
Sources in docs/oms-api.md, "Reconciliation".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.oms.client import OmsClient

LOOKUP_BATCH = 100  # Shopify ids per `externalId_op=in` lookup
_ORDERS = "oms/orders"


def epoch_ms(moment: datetime) -> str:
    """A moment as Moqui reads a timestamp filter given as a number: epoch milliseconds
    (moqui-framework L10nFacadeImpl.parseTimestamp falls back to a long)."""
    return str(int(moment.astimezone(UTC).timestamp() * 1000))


async def hotwax_order_count(
    oms: OmsClient, since: datetime, until: datetime, *, store: str | None = None
) -> int:
    """HotWax's orders with a Shopify id whose order date is in [since, until): the total of
    a one-row page (X-Total-Count)."""
    params = {
        "orderDate_from": epoch_ms(since),
        "orderDate_thru": epoch_ms(until),
        "externalId_op": "empty",
        "externalId_not": "Y",
    }
    if store is not None:
        params["productStoreId"] = store
    page = await oms.maarg_page(
        _ORDERS, params, page_index=0, page_size=1, operation="count the HotWax orders"
    )
    return page.total


async def present_shopify_ids(oms: OmsClient, shopify_ids: Sequence[str]) -> set[str]:
    """Which of these Shopify order ids HotWax has an order for (any version, any status), in
    one `externalId_op=in` list (paged: a refreshed order has several versions)."""
    wanted = {str(i) for i in shopify_ids}
    if not wanted:
        return set()
    listed = await oms.maarg_list(
        _ORDERS,
        {"externalId": ",".join(sorted(wanted)), "externalId_op": "in"},
        operation="look up orders by Shopify id",
        page_size=max(len(wanted), 20),
    )
    # Only rows of the ids asked for count: an ignored filter would answer every order.
    return {str(row.get("externalId")) for row in listed.rows} & wanted
