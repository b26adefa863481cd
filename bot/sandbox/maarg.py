"""The Moqui "Maarg" `/rest/s1/` routes of the simulated OMS.

Entity lists answer a bare JSON array with the total in `X-Total-Count`; errors are non-2xx
with `{"errors": "..."}`. Like some real deployments, a page silently holds at most 50 rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox import find, shapes
from bot.sandbox.state import SandboxState
from bot.sandbox.web import (
    current_user,
    login_options,
    maarg_error,
    maarg_unauthorized,
    parse_int,
)

PAGE_CAP = 50
DEFAULT_PAGE_SIZE = 20  # Moqui's default when no pageSize is sent
_CONTROL = frozenset({"pageIndex", "pageSize", "pageNoLimit", "orderByField", "dependentLevels"})
_SUFFIXES = ("_op", "_not", "_ic", "_from", "_thru")
Handler = Callable[[Request], Awaitable[Response]]


def maarg_routes(state: SandboxState) -> list[Route]:
    def authed(handler: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            if current_user(state, request) is None:
                return maarg_unauthorized()
            return await handler(request)

        return wrapper

    async def check_login_options(request: Request) -> Response:
        return JSONResponse(login_options(state, request))

    async def list_orders(request: Request) -> Response:
        query = {key: request.query_params[key] for key in request.query_params}
        try:
            size = min(parse_int(query.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE), PAGE_CAP)
            index = parse_int(query.get("pageIndex"), "pageIndex", 0)
            levels = parse_int(query.get("dependentLevels"), "dependentLevels", 0)
            conditions = _entity_conditions(query)
        except (ValueError, find.FindError) as exc:
            return maarg_error(400, str(exc))
        size = size or DEFAULT_PAGE_SIZE
        with state.lock:
            orders = sorted(state.data.orders.values(), key=lambda order: order.order_id)
            now = state.now()
            hits = [o for o in orders if find.row_matches(shapes.lookup_row(o, now), conditions)]
            order_by = query.get("orderByField")
            if order_by:
                rows = find.sort_rows([shapes.order_header_row(o) for o in hits], order_by)
                position = {row["orderId"]: i for i, row in enumerate(rows)}
                hits.sort(key=lambda order: position[order.order_id])
            page = [shapes.maarg_order(o, levels) for o in hits[index * size : (index + 1) * size]]
        return JSONResponse(page, headers={"X-Total-Count": str(len(hits))})

    async def get_order(request: Request) -> Response:
        order_id = request.path_params["orderId"]
        with state.lock:
            order = state.data.orders.get(order_id)
            if order is None:
                return maarg_error(404, f"Order not found with ID {order_id}")
            return JSONResponse(shapes.sales_order_detail(order))

    async def order_status(request: Request) -> Response:
        order_id = request.path_params["orderId"]
        with state.lock:
            order = state.data.orders.get(order_id)
            if order is None:
                return maarg_error(404, f"Order not found with ID {order_id}")
            return JSONResponse(shapes.status_rows(order))

    async def not_found(request: Request) -> Response:
        return maarg_error(404, f"Resource {request.url.path} not found")

    return [
        Route("/rest/s1/admin/checkLoginOptions", check_login_options, methods=["GET"]),
        Route("/rest/s1/oms/orders", authed(list_orders), methods=["GET"]),
        Route("/rest/s1/oms/orders/{orderId}", authed(get_order), methods=["GET"]),
        Route("/rest/s1/oms/orders/{orderId}/status", authed(order_status), methods=["GET"]),
        Route("/rest/s1/{rest:path}", authed(not_found)),
    ]


def _strip_suffix(key: str) -> str:
    for suffix in _SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key


def _entity_conditions(query: dict[str, str]) -> list[find.Condition]:
    """Moqui entity-list filters: `<f>`, `<f>_op`, `<f>_not=Y`, `<f>_ic=Y`, `<f>_from/_thru`."""
    known = set(shapes.HEADER_FIELDS)
    conditions: list[find.Condition] = []
    names = {
        key[: -len(suffix)]
        if (suffix := next((s for s in _SUFFIXES if key.endswith(s)), ""))
        else key
        for key in query
        if key not in _CONTROL
    }
    for name in sorted(names & known):
        op = query.get(f"{name}_op", "equals")
        if op not in find.OPERATORS and op not in (
            "greater",
            "less",
            "greater-equals",
            "less-equals",
        ):
            raise find.FindError(f"Unknown operator {op} for field {name}")
        op = _MOQUI_OPS.get(op, op)
        value: Any = query.get(name)
        if name in query or op in ("empty", "not-empty"):
            if query.get(f"{name}_not", "N").upper() == "Y":
                op = _NEGATED.get(op, op)
            ignore_case = query.get(f"{name}_ic", "N").upper() == "Y"
            conditions.append(find.Condition(name, op, value, ignore_case))
        if f"{name}_from" in query:
            conditions.append(find.Condition(name, "greaterThanEqualTo", query[f"{name}_from"]))
        if f"{name}_thru" in query:
            conditions.append(find.Condition(name, "lessThan", query[f"{name}_thru"]))
    return conditions


_MOQUI_OPS = {
    "greater": "greaterThan",
    "less": "lessThan",
    "greater-equals": "greaterThanEqualTo",
    "less-equals": "lessThanEqualTo",
}
_NEGATED = {
    "equals": "notEqual",
    "in": "not-in",
    "empty": "not-empty",
    "like": "notLike",
    "not-empty": "empty",
}
