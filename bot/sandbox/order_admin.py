"""Maarg's order-record writes: status changes and the raw entity routes.

`POST oms/orders/{orderId}/status` changes an order's status on a Moqui tenant [SRC
hotwax/order-manager src/views/OrderDetail.vue:3567-3573; newer than the public oms.rest.xml].
`DELETE oms/orders/{orderId}/items/{orderItemSeqId}` and `DELETE oms/orders/{orderId}` are
entity deletes [SRC hotwax/oms service/oms.rest.xml:42-57] that do not cascade: the header
delete is refused while any row references the header [SRC hotwax/moqui-framework
EntityAutoServiceRunner.groovy:523-544; the foreign keys: ofbiz-oms-udm]. An identification
is not deleted but expired: `PUT oms/orders/{orderId}/identifications` with a thruDate [SRC
hotwax/order-manager src/components/orders/ManageOrderIdentificationsModal.vue].
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.state import SandboxNotFound, SandboxServiceError, SandboxState
from bot.sandbox.web import maarg_authed, maarg_error, read_json_object


def _epoch_ms(value: Any, name: str) -> int | None:
    """Moqui takes timestamps in JSON as epoch milliseconds (a number or digit string)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
    ):
        raise ValueError(f"{name} must be epoch milliseconds, got {value!r}")
    return int(value)


def order_admin_routes(state: SandboxState) -> list[Route]:
    async def change_status(request: Request, user: str) -> Response:
        order_id = request.path_params["orderId"]
        try:
            body = await read_json_object(request)
            status_id = body.get("statusId")
            if not isinstance(status_id, str) or not status_id:
                raise ValueError("The following required parameter is missing: statusId")
            reason = body.get("changeReason")
            if not state.tenant.moqui_keeps_change_reason:
                reason = None
            state.change_order_status(
                order_id, status_id, user, reason if isinstance(reason, str) else None
            )
        except ValueError as exc:
            return maarg_error(400, str(exc))
        except SandboxServiceError as exc:
            return maarg_error(400, str(exc))
        return JSONResponse({"orderId": order_id, "statusId": status_id})

    async def delete_item(request: Request, user: str) -> Response:
        try:
            state.delete_order_item(
                request.path_params["orderId"], request.path_params["orderItemSeqId"]
            )
        except SandboxNotFound as exc:
            return maarg_error(404, str(exc))
        return JSONResponse({})

    async def delete_header(request: Request, user: str) -> Response:
        try:
            state.delete_order_header(request.path_params["orderId"])
        except SandboxNotFound as exc:
            return maarg_error(404, str(exc))
        except SandboxServiceError as exc:
            return maarg_error(400, str(exc))
        return JSONResponse({})

    async def update_identification(request: Request, user: str) -> Response:
        order_id = request.path_params["orderId"]
        try:
            body = await read_json_object(request)
            type_id = body.get("orderIdentificationTypeId")
            if not isinstance(type_id, str) or not type_id:
                raise ValueError(
                    "The following required parameter is missing: orderIdentificationTypeId"
                )
            if body.get("orderId") not in (None, order_id):
                raise ValueError(f"orderId {body['orderId']} does not match the URL ({order_id})")
            if "thruDate" not in body:
                raise ValueError("thruDate is required (epoch milliseconds, or null to revive)")
            from_ms = _epoch_ms(body.get("fromDate"), "fromDate")
            thru_ms = _epoch_ms(body.get("thruDate"), "thruDate")
        except ValueError as exc:
            return maarg_error(400, str(exc))
        thru = None if thru_ms is None else datetime.fromtimestamp(thru_ms / 1000, UTC)
        try:
            state.set_identification_thru(order_id, type_id, from_ms, thru)
        except SandboxNotFound as exc:
            return maarg_error(404, str(exc))
        return JSONResponse({})

    base = "/rest/s1/oms/orders/{orderId}"
    return [
        Route(f"{base}/status", maarg_authed(state, change_status), methods=["POST"]),
        Route(
            f"{base}/items/{{orderItemSeqId}}", maarg_authed(state, delete_item), methods=["DELETE"]
        ),
        Route(base, maarg_authed(state, delete_header), methods=["DELETE"]),
        Route(
            f"{base}/identifications",
            maarg_authed(state, update_identification),
            methods=["PUT"],
        ),
    ]
