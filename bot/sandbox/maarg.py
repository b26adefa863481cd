"""The Moqui "Maarg" `/rest/s1/` routes of the simulated OMS.

Entity lists answer a bare JSON array with the total in `X-Total-Count`; errors are non-2xx
with `{"errors": "..."}`. Paging is Moqui's: 100 rows without paging parameters, 20 with only
`pageIndex`, no maximum, `pageNoLimit=true` for all; a filter on a field the entity does not
have, or with an operator Moqui does not know, is ignored (docs/oms-api.md, "Orders").
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

# moqui-framework RestApi.groovy:379 (no paging parameters) and EntityFindBase.groovy:414-424.
UNPAGED_LIMIT = 100
DEFAULT_PAGE_SIZE = 20
# The operators Moqui's entity lists know (EntityFindBase.groovy:449-533).
MOQUI_OPERATORS = frozenset({"equals", "like", "contains", "begins", "empty", "in"})
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
            index, size = page_of(query)
            conditions = _entity_conditions(query)
        except (ValueError, find.FindError) as exc:
            return maarg_error(400, str(exc))
        cap = state.tenant.page_cap
        if cap is not None:
            size = cap if size is None else min(size, cap)
        with state.lock:
            orders = sorted(state.data.orders.values(), key=lambda order: order.order_id)
            now = state.now()
            hits = [o for o in orders if find.row_matches(shapes.lookup_row(o, now), conditions)]
            order_by = query.get("orderByField")
            if order_by:
                rows = find.sort_rows([shapes.order_header_row(o) for o in hits], order_by)
                position = {row["orderId"]: i for i, row in enumerate(rows)}
                hits.sort(key=lambda order: position[order.order_id])
            chosen = hits if size is None else hits[index * size : (index + 1) * size]
            page = [shapes.maarg_order(o) for o in chosen]
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
        query = {key: request.query_params[key] for key in request.query_params}
        try:
            index, size = page_of(query)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        with state.lock:
            order = state.data.orders.get(order_id)
            # An entity list of OrderStatus (oms.rest.xml:129-132): an unknown order simply
            # has no rows.
            rows = shapes.status_rows(order) if order is not None else []
        chosen = rows if size is None else rows[index * size : (index + 1) * size]
        return JSONResponse(chosen, headers={"X-Total-Count": str(len(rows))})

    async def not_found(request: Request) -> Response:
        return maarg_error(404, f"Resource {request.url.path} not found")

    return [
        Route("/rest/s1/admin/checkLoginOptions", check_login_options, methods=["GET"]),
        Route("/rest/s1/oms/orders", authed(list_orders), methods=["GET"]),
        Route("/rest/s1/oms/orders/{orderId}", authed(get_order), methods=["GET"]),
        Route("/rest/s1/oms/orders/{orderId}/status", authed(order_status), methods=["GET"]),
        Route("/rest/s1/{rest:path}", authed(not_found)),
    ]


def page_of(query: dict[str, str]) -> tuple[int, int | None]:
    """(page index, page size or None for every row), as a Moqui entity list pages."""
    if query.get("pageNoLimit", "").lower() == "true":
        return 0, None
    index = parse_int(query.get("pageIndex"), "pageIndex", 0)
    if "pageSize" in query:
        return index, parse_int(query.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE) or 1
    return index, DEFAULT_PAGE_SIZE if "pageIndex" in query else UNPAGED_LIMIT


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
        if op not in MOQUI_OPERATORS:
            continue  # Moqui drops a condition with an operator it does not know
        value: Any = query.get(name)
        if op == "begins":
            op, value = "like", f"{value}%"
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


_NEGATED = {
    "equals": "notEqual",
    "in": "not-in",
    "empty": "not-empty",
    "like": "notLike",
    "not-empty": "empty",
}
