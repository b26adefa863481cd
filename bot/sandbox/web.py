"""Request/response helpers shared by the OFBiz and Maarg route modules."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.sandbox.state import SandboxState
from bot.sandbox.tenant import INSTANCE_NAME

# OFBiz GET parameters that carry a whole object as a JSON string (oms-api's serializer).
JSON_STRING_PARAMS = frozenset({"inputFields", "json"})
LIST_PARAMS = frozenset({"fieldList"})


def login_options(state: SandboxState, request: Request) -> dict[str, Any]:
    """`checkLoginOptions` (both backends): Maarg is our own base URL, since one port serves
    both, or the bare instance name on a `bare_maarg_name` tenant (hotwax/accxui
    common/utils/commonUtil.ts:368-375 expands it)."""
    maarg = INSTANCE_NAME if state.tenant.bare_maarg_name else str(request.base_url).rstrip("/")
    return {"loginAuthType": "BASIC", "loginAuthUrl": "", "maargInstanceUrl": maarg}


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    # Older Maarg clients (job-manager v2) send the key in an `api_key` header instead.
    return request.headers.get("api_key") or None


def current_user(state: SandboxState, request: Request) -> str | None:
    return state.user_for_token(bearer_token(request))


async def read_params(request: Request) -> dict[str, Any]:
    """Query string and JSON body merged, as OFBiz accepts both GET and POST for reads.

    Raises ValueError with a readable message when a JSON string parameter is malformed.
    """
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        if key in LIST_PARAMS:
            params[key] = values
        elif key in JSON_STRING_PARAMS:
            try:
                params[key] = json.loads(values[-1])
            except ValueError:
                raise ValueError(f"Parameter [{key}] is not valid JSON") from None
        else:
            params[key] = values[-1]
    if request.method != "GET":
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise ValueError("The request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ValueError("The request body must be a JSON object")
            params.update(body)
    for key in JSON_STRING_PARAMS:
        # POST bodies may still carry the stringified form.
        if isinstance(params.get(key), str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                raise ValueError(f"Parameter [{key}] is not valid JSON") from None
    return params


def ofbiz_error(message: str | list[str]) -> JSONResponse:
    """OFBiz reports business errors with HTTP 200 and the message in the body."""
    key = "_ERROR_MESSAGE_LIST_" if isinstance(message, list) else "_ERROR_MESSAGE_"
    return JSONResponse({key: message})


def ofbiz_unauthorized() -> JSONResponse:
    return JSONResponse(
        {"_ERROR_MESSAGE_": "Unauthorized: the token is missing, invalid or expired"},
        status_code=401,
    )


def maarg_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": message, "errorCode": status}, status_code=status)


def maarg_unauthorized() -> JSONResponse:
    return maarg_error(401, "User must be logged in to call this API (no valid token)")


def html_page(status: int, title: str) -> Response:
    page = f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
    return Response(page + "</body></html>", status_code=status, media_type="text/html")


def parse_int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"Parameter [{name}] must be a whole number, got {value!r}") from None
    if number < 0:
        raise ValueError(f"Parameter [{name}] must not be negative")
    return number


def maarg_authed(
    state: SandboxState, handler: Callable[[Request, str], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """A Maarg route handler that gets the caller's user, or 401 without a valid token."""

    async def wrapper(request: Request) -> Response:
        user = current_user(state, request)
        if user is None:
            return maarg_unauthorized()
        return await handler(request, user)

    return wrapper


async def read_json_object(request: Request) -> dict[str, Any]:
    """A Maarg request's JSON body (an empty body is `{}`); ValueError when it is not an object."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValueError("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValueError("The request body must be a JSON object")
    return body
