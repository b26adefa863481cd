"""Writes on order records for the POS refresh recovery (HotWax's runbook "POS Order Refresh
Failure"): cancel, remove, expire.

HotWax's own procedure deletes OrderItem, OrderHeader and the OrderIdentification in webtools;
the JSON equivalents are Maarg's raw entity routes (docs/oms-api.md, "Order runbooks"; partly
[INF]). The recovery only runs behind the two-person rule, after the whole order is saved in
the audit."""

from __future__ import annotations

from datetime import datetime

from bot.oms.client import OmsClient, path_part
from bot.oms.models import OrderIdentification

OLD_VERSION = "Old Version"


async def cancel_order(oms: OmsClient, order_id: str, *, reason: str) -> None:
    """OFBiz changeOrderStatus to ORDER_CANCELLED, items too, with a change reason."""
    await oms.call_service(
        "changeOrderStatus",
        {
            "orderId": order_id,
            "statusId": "ORDER_CANCELLED",
            "setItemStatus": "Y",
            "changeReason": reason,
        },
        operation=f"cancel order {order_id}",
    )


async def delete_item(oms: OmsClient, order_id: str, item_seq_id: str) -> None:
    await oms.maarg_call(
        "DELETE",
        f"oms/orders/{path_part(order_id)}/items/{path_part(item_seq_id)}",
        operation=f"remove item {item_seq_id} of order {order_id}",
    )


async def delete_header(oms: OmsClient, order_id: str) -> None:
    await oms.maarg_call(
        "DELETE",
        f"oms/orders/{path_part(order_id)}",
        operation=f"remove the header of order {order_id}",
    )


async def expire_identification(
    oms: OmsClient, order_id: str, ident: OrderIdentification, now: datetime
) -> None:
    """HotWax expires identifications (thruDate) rather than deleting them."""
    await oms.maarg_call(
        "PUT",
        f"oms/orders/{path_part(order_id)}/identifications",
        operation=f"expire the {ident.type_id} identification of order {order_id}",
        json={
            "orderId": order_id,
            "orderIdentificationTypeId": ident.type_id,
            "fromDate": int(ident.from_date.timestamp() * 1000) if ident.from_date else None,
            "thruDate": int(now.timestamp() * 1000),
        },
    )
