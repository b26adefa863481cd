"""The OFBiz `/api/` routes of the simulated OMS (login, performFind, solr-query, services)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox import find, shapes
from bot.sandbox.cores import DEFAULT_CORE, query_core
from bot.sandbox.jobs import jobs_entity_rows
from bot.sandbox.solr import SolrSyntaxError
from bot.sandbox.state import SandboxServiceError, SandboxState
from bot.sandbox.web import (
    bearer_token,
    current_user,
    login_options,
    ofbiz_error,
    ofbiz_unauthorized,
    parse_int,
    read_params,
)

DEFAULT_VIEW_SIZE = 20  # OFBiz's widget default when a caller sends no viewSize
NO_RECORD = {"error": "No record found"}
Handler = Callable[[Request], Awaitable[Response]]


def ofbiz_routes(state: SandboxState) -> list[Route]:
    def authed(handler: Callable[[Request, str], Awaitable[Response]]) -> Handler:
        async def wrapper(request: Request) -> Response:
            user = current_user(state, request)
            if user is None:
                return ofbiz_unauthorized()
            return await handler(request, user)

        return wrapper

    async def login(request: Request) -> Response:
        try:
            params = await read_params(request)
        except ValueError as exc:
            return ofbiz_error(str(exc))
        if not params:
            form = await request.form()
            params = {key: str(value) for key, value in form.items()}
        username = str(params.get("USERNAME") or "")
        password = str(params.get("PASSWORD") or "")
        if not username or not password:
            return ofbiz_error("Username or password was empty; re-enter.")
        if not state.check_credentials(username, password):
            return ofbiz_error("Login failed: user name or password incorrect.")
        token, ttl = state.issue_token(username)
        return JSONResponse({"token": token, "expirationTime": int(ttl)})

    async def logout(request: Request) -> Response:
        token = bearer_token(request)
        if token:
            state.revoke_token(token)
        # OFBiz prefixes this answer with "//" (JSON-hijacking guard); clients strip it.
        return Response('//{"logoutAuthType":"BASIC"}', media_type="application/json")

    async def check_login_options(request: Request) -> Response:
        return JSONResponse(login_options(state, request))

    async def user_profile(request: Request, user: str) -> Response:
        return JSONResponse(
            {
                "userLoginId": user,
                "partyId": "DEMO_OPS",
                "partyName": "Demo Operations",
                "email": f"{user}@example.com",
                "userTimeZone": "America/New_York",
                "facilities": [{"facilityId": "BROOKLYN_POS", "facilityName": "Brooklyn"}],
            }
        )

    async def perform_find(request: Request, user: str) -> Response:
        try:
            params = await read_params(request)
            with state.lock:
                return JSONResponse(_perform_find(state, params))
        except (ValueError, find.FindError) as exc:
            return ofbiz_error(str(exc))

    async def solr_query(request: Request, user: str) -> Response:
        try:
            params = await read_params(request)
        except ValueError as exc:
            return ofbiz_error(str(exc))
        body = params.get("json")
        if not isinstance(body, dict):
            return ofbiz_error("The following required parameter is missing: [json]")
        core = str(params.get("coreName") or DEFAULT_CORE)
        try:
            answer = query_core(state, core, body)
        except SolrSyntaxError as exc:
            return JSONResponse(_solr_error(400, str(exc)))
        if answer is None:
            return JSONResponse(_solr_error(404, f"No such core: {core}"))
        return JSONResponse(answer)

    async def service(request: Request, user: str) -> Response:
        name = request.path_params["name"]
        try:
            params = await read_params(request)
        except ValueError as exc:
            return ofbiz_error(str(exc))
        if name != "changeOrderStatus":
            return ofbiz_error(f"Cannot locate service by name ({name})")
        missing = [p for p in ("orderId", "statusId") if not params.get(p)]
        if missing:
            return ofbiz_error(
                "Could not complete the changeOrderStatus process: The following required "
                f"parameter is missing: [changeOrderStatus.{missing[0]}]"
            )
        try:
            # changeReason lands on the new OrderStatus row ("Old Version" after a refresh).
            reason = params.get("changeReason")
            state.change_order_status(
                str(params["orderId"]),
                str(params["statusId"]),
                user,
                str(reason) if reason else None,
            )
        except SandboxServiceError as exc:
            # OFBiz service-engine failures arrive as a list: the summary and the cause.
            return ofbiz_error(["Error calling service changeOrderStatus", str(exc)])
        return JSONResponse(
            {"successMessage": "Order status changed", "orderId": params["orderId"]}
        )

    return [
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["GET", "POST"]),
        Route("/api/checkLoginOptions", check_login_options, methods=["GET"]),
        Route("/api/user-profile", authed(user_profile), methods=["GET"]),
        Route("/api/performFind", authed(perform_find), methods=["GET", "POST"]),
        Route("/api/solr-query", authed(solr_query), methods=["GET", "POST"]),
        Route("/api/service/{name}", authed(service), methods=["POST"]),
    ]


def _solr_error(code: int, message: str) -> dict[str, Any]:
    return {"responseHeader": {"status": code, "QTime": 0}, "error": {"msg": message, "code": code}}


def _active_on(row: dict[str, Any], params: dict[str, Any], now: datetime) -> bool:
    from_name = str(params.get("fromDateName") or "fromDate")
    thru_name = str(params.get("thruDateName") or "thruDate")
    now_ms = shapes.epoch_ms(now) or 0
    start, end = row.get(from_name), row.get(thru_name)
    return (start is None or start <= now_ms) and (end is None or end > now_ms)


def _perform_find(state: SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    entity = params.get("entityName")
    if not entity:
        raise ValueError("The following required parameter is missing: [performFind.entityName]")
    rows = jobs_entity_rows(state, str(entity), shapes.entity_rows(state.data, str(entity)))
    if rows is None:
        raise ValueError(f"Entity [{entity}] is not defined in the entity model")
    inputs = params.get("inputFields") or {}
    if not isinstance(inputs, dict):
        raise ValueError("Parameter [inputFields] must be a map")
    if not inputs and str(params.get("noConditionFind", "N")).upper() != "Y":
        return NO_RECORD  # OFBiz finds nothing without conditions unless told otherwise
    conditions = find.parse_conditions(inputs)
    hits = [row for row in rows if find.row_matches(row, conditions)]
    if str(params.get("filterByDate", "N")).upper() == "Y":
        hits = [row for row in hits if _active_on(row, params, state.now())]
    field_list = params.get("fieldList")
    if isinstance(field_list, str):
        field_list = [field_list]
    hits = find.select_fields(find.sort_rows(hits, params.get("orderBy")), field_list)
    if str(params.get("distinct", "N")).upper() == "Y":
        unique = {json.dumps(row, sort_keys=True): row for row in hits}
        hits = list(unique.values())
    if not hits:
        return NO_RECORD
    size = parse_int(params.get("viewSize"), "viewSize", DEFAULT_VIEW_SIZE) or DEFAULT_VIEW_SIZE
    index = parse_int(params.get("viewIndex"), "viewIndex", 0)
    return {"count": len(hits), "docs": hits[index * size : (index + 1) * size]}
