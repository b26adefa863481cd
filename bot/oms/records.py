"""Cancelling an order version, and what removing one would take (the POS refresh recovery).

HotWax's runbook "POS Order Refresh Failure" removes the order's OrderItem, OrderHeader and
OrderIdentification rows in webtools so the order can be imported afresh. Through the API,
Maarg's entity routes can delete an OrderItem and the OrderHeader only, and a Moqui entity
delete does not cascade: every row that references the header (status rows, roles, contact
mechs, ship groups, ...) must be gone first, and none of those has a public route
(docs/oms-api.md, "Order runbooks"). `removal_plan` lists every row with the route that
would remove it, or none, so the recovery can refuse before its first write.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.oms.client import OmsClient
from bot.oms.models import Order

OLD_VERSION = "Old Version"
CANCELLED = "ORDER_CANCELLED"

# The public routes that remove a row of an order (hotwax/oms service/oms.rest.xml): by the
# relation name the order master gives the rows.
REMOVAL_ROUTES: dict[str, str] = {
    "items": "DELETE oms/orders/{orderId}/items/{orderItemSeqId} (oms.rest.xml:56-58)",
    "header": "DELETE oms/orders/{orderId} (oms.rest.xml:42-44; refused while rows refer to it)",
}
# The entity of each relation, as HotWax's support would name it.
ENTITIES = {
    "header": "OrderHeader",
    "items": "OrderItem",
    "shipGroups": "OrderItemShipGroup",
    "statuses": "OrderStatus",
    "identifications": "OrderIdentification",
    "paymentPreferences": "OrderPaymentPreference",
    "roles": "OrderRole",
    "contactMechs": "OrderContactMech",
    "adjustments": "OrderAdjustment",
    "attributes": "OrderAttribute",
    "notes": "OrderHeaderNote",
    "itemAssocs": "OrderItemAssoc",
}


async def cancel_order(oms: OmsClient, order_id: str, *, reason: str) -> None:
    """Cancel the order and its items, with a change reason (ORDER_CANCELLED)."""
    await oms.change_order_status(order_id, CANCELLED, reason=reason)


async def cancelled_with(oms: OmsClient, order_id: str, reason: str) -> bool:
    """Whether the order's latest cancellation kept `reason` (read back: where HotWax keeps
    the "Old Version" tag, and whether the Moqui status route takes a reason, are unknown)."""
    history = await oms.order_status_history(order_id)
    cancels = [h for h in history if h.status_id == CANCELLED and not h.order_item_seq_id]
    return bool(cancels) and cancels[-1].change_reason == reason


@dataclass(frozen=True)
class RemovalRow:
    entity: str  # OrderItem, OrderStatus, ...
    keys: str  # what names the row (its key fields, never customer data)
    route: str | None  # the public route that removes it, None: no route


def removal_plan(order: Order) -> list[RemovalRow]:
    """Every row that removing the order means removing, each with its route or none."""
    rows: list[RemovalRow] = []

    def add(relation: str, keys: str) -> None:
        rows.append(RemovalRow(ENTITIES[relation], keys, REMOVAL_ROUTES.get(relation)))

    for item in order.items:
        add(
            "items", f"{order.order_id}/{item.order_item_seq_id} (product {item.product_id or '?'})"
        )
    for group in order.ship_groups:
        add("shipGroups", f"{order.order_id}/{group.ship_group_seq_id or '?'}")
    for status in order.statuses:
        of_item = f" item {status.order_item_seq_id}" if status.order_item_seq_id else ""
        add("statuses", f"{status.order_status_id or '?'} {status.status_id}{of_item}")
    for ident in order.identifications:
        add("identifications", f"{ident.type_id} {ident.value}")
    for pay in order.payment_preferences:
        add("paymentPreferences", pay.payment_preference_id or "?")
    for relation, found in sorted(order.dependents.items()):
        for row in found:
            add(relation, " ".join(row.values()) or "?")
    add("header", order.order_id)
    return rows
