"""Routes for product stores, Shopify shops and their SystemMessageRemotes in the simulated OMS.

Shapes follow docs/oms-api.md ("Rollback"): shops are a Maarg entity list (with the
`shopRemotes` links where a shop has one); remotes are an entity list filtered by any of their
fields, answered whole; a remote's PUT answers nothing useful; a product store is read and
written whole, and a PUT missing any field of the record is refused with a Maarg 400, as
HotWax's Company app expects.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.stores_data import ACCESS_SCOPES, STORE_FIELDS, YN_FIELDS
from bot.sandbox.web import current_user, maarg_error, maarg_unauthorized, parse_int

if TYPE_CHECKING:
    from bot.sandbox.state import SandboxState

Handler = Callable[[Request], Awaitable[Response]]


def set_access_scope(state: SandboxState, remote_id: str, scope: str) -> None:
    """Change a scope as someone in HotWax would (tests: the state changes under a request)."""
    with state.lock:
        state.stores.remotes[remote_id]["accessScopeEnumId"] = scope


def set_store_field(state: SandboxState, store_id: str, name: str, value: Any) -> None:
    with state.lock:
        state.stores.product_stores[store_id][name] = value


def fail_remote_write(state: SandboxState, remote_id: str, message: str) -> None:
    """Every PUT on `remote_id` fails with a Maarg 500 carrying `message` until cleared."""
    with state.lock:
        state.stores.failing_remote_writes[remote_id] = message


def clear_failures(state: SandboxState) -> None:
    with state.lock:
        state.stores.failing_remote_writes.clear()
        state.stores.stale_proxy_scopes.clear()


def add_remote(state: SandboxState, remote: dict[str, Any]) -> None:
    """Add (or replace) a SystemMessageRemote row, e.g. a stale second connection of a shop."""
    with state.lock:
        state.stores.remotes[str(remote["systemMessageRemoteId"])] = copy.deepcopy(remote)


def set_shop_field(state: SandboxState, shop_id: str, name: str, value: Any) -> None:
    """Change (or, with None, remove) one field of a shop, e.g. its `shopRemotes` links."""
    with state.lock:
        shop = state.stores.shops[shop_id]
        if value is None:
            shop.pop(name, None)
        else:
            shop[name] = copy.deepcopy(value)


def set_remote_field(state: SandboxState, remote_id: str, name: str, value: Any) -> None:
    """Change (or, with None, remove) one field of a remote, e.g. its `internalId`."""
    with state.lock:
        remote = state.stores.remotes[remote_id]
        if value is None:
            remote.pop(name, None)
        else:
            remote[name] = value


def stale_proxy_scope(state: SandboxState, remote_id: str, scope: str) -> None:
    """The Shopify proxy keeps acting on `scope` for this remote, whatever it now holds: a
    node whose cached SystemMessageRemote (a `cache="true"` entity) is not yet refreshed."""
    with state.lock:
        state.stores.stale_proxy_scopes[remote_id] = scope


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def stores_routes(state: SandboxState) -> list[Route]:
    def page(request: Request, rows: list[dict[str, Any]]) -> Response:
        try:
            size = parse_int(request.query_params.get("pageSize"), "pageSize", 20) or 20
            index = parse_int(request.query_params.get("pageIndex"), "pageIndex", 0)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        rows_shown = rows[index * size : (index + 1) * size]
        return JSONResponse(rows_shown, headers={"X-Total-Count": str(len(rows))})

    def authed(handler: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            if current_user(state, request) is None:
                return maarg_unauthorized()
            return await handler(request)

        return wrapper

    def matching(
        request: Request, rows: dict[str, dict[str, Any]], fields: tuple[str, ...]
    ) -> list[dict[str, Any]]:
        """Entity-list equality filters on the given fields; any other parameter is ignored,
        as Moqui ignores a field it does not know."""
        wanted = {f: request.query_params[f] for f in fields if f in request.query_params}
        with state.lock:
            return [
                copy.deepcopy(row)
                for _, row in sorted(rows.items())
                if all(str(row.get(f) or "") == v for f, v in wanted.items())
            ]

    async def list_shops(request: Request) -> Response:
        rows = matching(request, state.stores.shops, ("productStoreId", "shopId"))
        return page(request, rows)

    async def list_remotes(request: Request) -> Response:
        fields = ("systemMessageRemoteId", "internalId", "remoteId", "internalIdType")
        rows = matching(request, state.stores.remotes, fields)
        # Moqui answers the whole entity row, decrypted credentials included [INF].
        return page(request, rows)

    async def list_stores(request: Request) -> Response:
        rows = matching(request, state.stores.product_stores, ("productStoreId",))
        return page(request, rows)

    async def update_remote(request: Request) -> Response:
        remote_id = request.path_params["systemMessageRemoteId"]
        body = await _json_object(request)
        if body is None:
            return maarg_error(400, "The request body must be a JSON object")
        scope = body.get("accessScopeEnumId")
        if body.get("systemMessageRemoteId", remote_id) != remote_id:
            return maarg_error(400, "systemMessageRemoteId in the body does not match the path")
        if scope is not None and scope not in ACCESS_SCOPES:
            return maarg_error(400, f"Enumeration {scope} not valid for accessScopeEnumId")
        with state.lock:
            remote = state.stores.remotes.get(remote_id)
            if remote is None:
                return maarg_error(404, f"SystemMessageRemote not found with ID {remote_id}")
            failure = state.stores.failing_remote_writes.get(remote_id)
            if failure is not None:
                return maarg_error(500, failure)
            for key, value in body.items():
                if key != "systemMessageRemoteId":
                    remote[key] = value
        return JSONResponse({})  # Moqui's update echoes nothing useful

    async def get_store(request: Request) -> Response:
        store_id = request.path_params["productStoreId"]
        with state.lock:
            record = state.stores.product_stores.get(store_id)
            if record is None:
                return maarg_error(404, f"ProductStore not found with ID {store_id}")
            return JSONResponse(copy.deepcopy(record))

    async def update_store(request: Request) -> Response:
        store_id = request.path_params["productStoreId"]
        body = await _json_object(request)
        if body is None:
            return maarg_error(400, "The request body must be a JSON object")
        if body.get("productStoreId") != store_id:
            return maarg_error(400, "productStoreId in the body does not match the path")
        missing = [f for f in STORE_FIELDS if f not in body]
        if missing:
            return maarg_error(
                400, f"The product store record is incomplete: missing {', '.join(missing)}"
            )
        # null empties a flag: Moqui stores a field sent empty or null as null (docs/oms-api.md,
        # "Rollback", the sandbox's choices).
        bad = [f for f in YN_FIELDS if body.get(f) not in ("Y", "N", None)]
        if bad:
            return maarg_error(400, f"{', '.join(bad)} must be Y, N or null")
        with state.lock:
            record = state.stores.product_stores.get(store_id)
            if record is None:
                return maarg_error(404, f"ProductStore not found with ID {store_id}")
            record.update({k: v for k, v in body.items() if k in STORE_FIELDS})
            return JSONResponse(copy.deepcopy(record))

    return [
        Route("/rest/s1/oms/shopifyShops/shops", authed(list_shops), methods=["GET"]),
        Route("/rest/s1/oms/systemMessageRemotes", authed(list_remotes), methods=["GET"]),
        Route(
            "/rest/s1/oms/systemMessageRemotes/{systemMessageRemoteId}",
            authed(update_remote),
            methods=["PUT"],
        ),
        Route("/rest/s1/admin/productStores", authed(list_stores), methods=["GET"]),
        Route("/rest/s1/admin/productStores/{productStoreId}", authed(get_store), methods=["GET"]),
        Route(
            "/rest/s1/admin/productStores/{productStoreId}", authed(update_store), methods=["PUT"]
        ),
    ]
