"""OmsClient: the OMS operations the bot needs, each mapped to a documented HotWax endpoint.

docs/oms-api.md lists every operation with its endpoint and public source. Each public
method names its operation; that name is what the user sees when the call fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from bot.kit.config import DEFAULT_MAARG_URL_TEMPLATE
from bot.oms.conventions import parse_count, parse_models
from bot.oms.errors import OmsBadResponse, OmsError, OmsRequestError
from bot.oms.models import Order, StatusChange, UserProfile
from bot.oms.probes import learn_profile
from bot.oms.profile import TenantProfile
from bot.oms.refs import OrderRef
from bot.oms.session import DISCOVER_MAARG, LOGIN, Discovery, OmsSession
from bot.oms.transport import DEFAULT_MAX_CONCURRENT_READS, CallObserver, HttpTransport

# Some Maarg deployments silently cap a page at 50 rows whatever pageSize says.
MAARG_PAGE_SIZE = 50
# A runaway guard for paging: an OMS that keeps answering full pages forever.
MAARG_MAX_PAGES = 1000
# More versions of one order than this is a filter the OMS did not apply: stop paging there.
ORDER_VERSIONS_MAX = 200
_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class MaargList:
    total: int
    rows: list[dict[str, Any]]


def _newest_first(orders: list[Order]) -> list[Order]:
    return sorted(orders, key=lambda order: order.sort_key, reverse=True)


class OmsClient:
    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        api_token: str | None = None,
        maarg_url: str | None = None,
        maarg_url_template: str = DEFAULT_MAARG_URL_TEMPLATE,
        timeout: float = 10.0,
        read_retries: int = 2,
        retry_backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrent_reads: int = DEFAULT_MAX_CONCURRENT_READS,
    ) -> None:
        # Every request of this client (so of this tenant) shares one bound of requests in
        # flight, whichever run or step sends it: reads_together() cannot flood the OMS.
        self._http = HttpTransport(
            timeout=timeout,
            read_retries=read_retries,
            retry_backoff=retry_backoff,
            transport=transport,
            max_concurrent_reads=max_concurrent_reads,
        )
        self._session = OmsSession(
            self._http,
            base_url,
            username=username,
            password=password,
            api_token=api_token,
            maarg_url=maarg_url,
            maarg_url_template=maarg_url_template,
        )
        self._profile: TenantProfile | None = None
        self._profile_lock = asyncio.Lock()
        self._time_zone: tzinfo | None = None
        self._time_zone_read = False

    @property
    def base_url(self) -> str:
        return self._session.base_url

    @property
    def max_concurrent_reads(self) -> int:
        """How many requests this client has in flight at once, at most."""
        return self._http.max_concurrent_reads

    async def __aenter__(self) -> OmsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Last line of defence: no secret leaves in an error message, whatever its origin."""
        try:
            yield
        except OmsError as exc:
            exc.redact(self._session.secrets)
            raise

    # -- session --------------------------------------------------------------------------

    async def login(self) -> None:
        async with self._guard():
            await self._session.login(LOGIN)

    async def maarg_base(self) -> str:
        async with self._guard():
            return await self._session.maarg_base(DISCOVER_MAARG)

    async def discovery(self) -> Discovery:
        """How the Maarg host was found (discovering it first if need be)."""
        await self.maarg_base()
        assert self._session.discovery is not None
        return self._session.discovery

    async def read_login_options(self) -> Discovery:
        """Ask checkLoginOptions again, whatever is configured (nothing is cached)."""
        async with self._guard():
            return await self._session.read_login_options(DISCOVER_MAARG)

    @property
    def login_route(self) -> str | None:
        """`POST /api/login` or `POST /rest/s1/admin/login`: the route of the last login."""
        return self._session.login_route

    @property
    def login_answer(self) -> dict[str, str]:
        """The JSON type of each field of the last login answer (never the values)."""
        return dict(self._session.login_answer)

    @property
    def uses_api_token(self) -> bool:
        return self._session.uses_api_token

    async def profile(self) -> TenantProfile:
        """What kind of tenant this is (bot/oms/profile.py), learned once with read-only
        probes (bot/oms/probes.py). A profile learned while the OMS could not be reached is
        returned but not kept, so the next call probes again."""
        if self._profile is not None:
            return self._profile
        async with self._profile_lock:
            if self._profile is not None:
                return self._profile
            maarg = await self.maarg_base()
            profile = await learn_profile(
                self, maarg_url=maarg, moqui_only=bool(self._session.moqui_only)
            )
            if profile.settled:
                self._profile = profile
            return profile

    async def check_login(self) -> str:
        """Log in if need be and read who we are: the user's login name.

        HotWax's current apps read `GET admin/user/profile` from Maarg on every tenant
        (hotwax/job-manager src/store/user.ts:65-73; accxui-based apps), so the bot does too:
        it proves the token works where most calls go. On an OFBiz tenant whose Maarg does
        not know the route (404) or cannot be found, OFBiz `GET /api/user-profile` answers
        instead (hotwax/launchpad src/services/UserService.ts:24-46)."""
        operation = "read the OMS user profile"
        async with self._guard():
            try:
                await self._session.maarg_base(operation)
            except OmsError:
                if self._session.moqui_only is False:
                    return await self._ofbiz_user(operation)
                raise
            try:
                return await self._maarg_user(operation)
            except OmsRequestError as exc:
                if self._session.moqui_only or exc.status_code != 404:
                    raise
            return await self._ofbiz_user(operation)

    async def _maarg_user(self, operation: str) -> str:
        body, _ = await self._session.maarg(
            "GET", "admin/user/profile", operation=operation, read=True
        )
        username = body.get("username") if isinstance(body, dict) else None
        if not isinstance(username, str) or not username:
            raise OmsBadResponse(operation, "the user profile has no username")
        self._remember_zone(body.get("timeZone"))
        return username

    async def _ofbiz_user(self, operation: str) -> str:
        body = await self._session.ofbiz("GET", "user-profile", operation=operation, read=True)
        profile = parse_models(UserProfile, [body or {}], operation)[0]
        self._remember_zone(profile.user_time_zone)
        return profile.user_login_id

    def _remember_zone(self, name: object) -> None:
        self._time_zone_read = True
        try:
            self._time_zone = ZoneInfo(name) if isinstance(name, str) and name else None
        except (ZoneInfoNotFoundError, ValueError):
            self._time_zone = None

    async def time_zone(self) -> tzinfo | None:
        """The OMS user's time zone, as the user profile names it (Maarg `timeZone`, OFBiz
        `userTimeZone`; read once, with the login check): the zone HotWax writes its
        zone-less human times in (docs/oms-api.md, "Times without a zone"). None when the
        profile names no known zone."""
        if not self._time_zone_read:
            await self.check_login()
        return self._time_zone

    # -- orders ---------------------------------------------------------------------------

    async def find_orders(self, ref: OrderRef) -> list[Order]:
        if ref.kind == "shopify_id":
            return await self.find_orders_by_shopify_id(ref.value)
        if ref.kind == "shopify_name":
            return await self.find_orders_by_shopify_name(ref.value)
        orders = await self.find_orders_by_order_id(ref.value)
        if not orders and not ref.explicit and ref.value.isdigit():
            # Short Shopify ids exist on old or test shops; digits alone are ambiguous.
            orders = await self.find_orders_by_shopify_id(ref.value)
        return orders

    async def find_orders_by_order_id(self, order_id: str) -> list[Order]:
        return await self._find_orders({"orderId": order_id}, "find order by order id")

    async def find_orders_by_shopify_id(self, shopify_order_id: str) -> list[Order]:
        return await self._find_orders(
            {"externalId": shopify_order_id}, "find order by Shopify order id"
        )

    async def find_orders_by_shopify_name(self, name: str) -> list[Order]:
        shown = name if name.startswith("#") else f"#{name}"
        return await self._find_orders({"orderName": shown}, "find order by Shopify order name")

    async def _find_orders(self, filters: dict[str, str], operation: str) -> list[Order]:
        async with self._guard():
            # The route answers the OrderHeader "default" master (identifications, statuses,
            # ship groups with their items, ...) whatever is asked; `dependentLevels` is only
            # read by Moqui's /rest/e1 handler, so none is sent (docs/oms-api.md, "Orders").
            listed = await self._maarg_list_all(
                "oms/orders", filters, operation=operation, limit=ORDER_VERSIONS_MAX
            )
            # Moqui ignores a filter it does not know and answers every row: keep only the
            # rows that match, whatever the server did with the filter.
            rows = [
                r for r in listed.rows if all(str(r.get(k) or "") == v for k, v in filters.items())
            ]
            return _newest_first(parse_models(Order, rows, operation))

    async def order_status_history(self, order_id: str) -> list[StatusChange]:
        operation = "read order status history"
        async with self._guard():
            # Paged: an entity list answers 100 rows without paging parameters, and item
            # status rows count too (moqui-framework RestApi.groovy:379).
            listed = await self._maarg_list_all(
                f"oms/orders/{_path_part(order_id)}/status", {}, operation=operation
            )
            changes = parse_models(StatusChange, listed.rows, operation)
            return sorted(changes, key=lambda change: change.status_datetime or _OLDEST)

    # -- generic reads (later runbooks build on these) ------------------------------------

    async def perform_find(
        self,
        entity_name: str,
        input_fields: Mapping[str, Any],
        *,
        field_list: Sequence[str] | None = None,
        view_size: int = 100,
        view_index: int = 0,
        order_by: str | None = None,
        operation: str,
    ) -> tuple[int, list[dict[str, Any]]]:
        """OFBiz performFind: (total count, one page of rows). "No record found" -> (0, [])."""
        body: dict[str, Any] = {
            "entityName": entity_name,
            "inputFields": dict(input_fields),
            "viewSize": view_size,
            "viewIndex": view_index,
        }
        if not input_fields:
            body["noConditionFind"] = "Y"
        if field_list:
            body["fieldList"] = list(field_list)
        if order_by:
            body["orderBy"] = order_by
        async with self._guard():
            answer = await self._session.ofbiz(
                "POST", "performFind", operation=operation, read=True, json=body
            )
            if answer is None:
                return 0, []
            docs = answer.get("docs", [])
            if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
                raise OmsBadResponse(operation, "performFind docs is not a list of objects")
            count = parse_count(answer.get("count", len(docs)), operation, "performFind count")
            return count, docs

    async def solr_query(
        self, json_body: Mapping[str, Any], *, core: str | None, operation: str
    ) -> dict[str, Any]:
        """A Solr query; returns the Solr JSON answer as is.

        OFBiz tenants: `POST /api/solr-query {json, coreName?}`. Moqui-only tenants have no
        OFBiz, so Maarg's `POST admin/runSolrQuery` takes the same payload, as HotWax's apps
        send it (hotwax/accxui common/composables/useSolrSearch.ts:292-300)."""
        body: dict[str, Any] = {"json": dict(json_body)}
        if core:
            body["coreName"] = core
        async with self._guard():
            answer: dict[str, Any] | None
            if await self._session.is_moqui_only(operation):
                found, _ = await self._session.maarg(
                    "POST", "admin/runSolrQuery", operation=operation, read=True, json=body
                )
                answer = _unwrap_solr(found, operation)
            else:
                answer = await self._session.ofbiz(
                    "POST", "solr-query", operation=operation, read=True, json=body
                )
            if answer is None:
                return {"response": {"numFound": 0, "start": 0, "docs": []}}
            header = answer.get("responseHeader")
            if isinstance(header, dict) and header.get("status") not in (None, 0, "0"):
                raise OmsBadResponse(operation, f"Solr answered status {header.get('status')}")
            if "response" not in answer and "grouped" not in answer:
                raise OmsBadResponse(operation, "the Solr answer has neither response nor grouped")
            return answer

    async def call_service(
        self, service_name: str, params: Mapping[str, Any], *, operation: str
    ) -> dict[str, Any]:
        """OFBiz `POST /api/service/{name}`: a write, so it is never retried."""
        async with self._guard():
            answer = await self._session.ofbiz(
                "POST",
                f"service/{_path_part(service_name)}",
                operation=operation,
                read=False,
                json=dict(params),
            )
            return answer or {}

    async def change_order_status(
        self, order_id: str, status_id: str, *, reason: str | None = None
    ) -> Any:
        """Set an order's status and its items': OFBiz `service/changeOrderStatus` where the
        tenant has OFBiz, Maarg `POST oms/orders/{id}/status` on a Moqui-only tenant
        (docs/oms-api.md, "Generic reads and writes"). `reason` is the change reason."""
        operation = f"change order {order_id} to {status_id}"
        if (await self.profile()).has_ofbiz:
            params: dict[str, Any] = {"orderId": order_id, "statusId": status_id}
            params["setItemStatus"] = "Y"
            if reason:
                params["changeReason"] = reason
            return await self.call_service("changeOrderStatus", params, operation=operation)
        body: dict[str, Any] = {"orderId": order_id, "statusId": status_id, "setItemStatus": True}
        if reason:
            body["changeReason"] = reason
        return await self.maarg_call(
            "POST", f"oms/orders/{_path_part(order_id)}/status", operation=operation, json=body
        )

    async def maarg_call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        """Any Maarg route: GET is a read (retried), PUT/POST/DELETE are writes (never).

        `path` is relative to `/rest/s1/`; callers quote variable parts with `path_part`."""
        async with self._guard():
            body, _ = await self._session.maarg(
                method,
                path,
                operation=operation,
                read=method.upper() == "GET",
                params=dict(params) if params else None,
                json=json,
            )
            return body

    async def maarg_download(self, path: str, params: Mapping[str, str], *, operation: str) -> str:
        """A Maarg file download (e.g. a failed-records CSV) as text."""
        async with self._guard():
            return await self._session.maarg_download(
                path, operation=operation, params=dict(params)
            )

    async def maarg_page(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        page_index: int,
        page_size: int,
        operation: str,
    ) -> MaargList:
        """One page of a Maarg entity list; `total` comes from the X-Total-Count header."""
        query = {**params, "pageIndex": str(page_index), "pageSize": str(page_size)}
        async with self._guard():
            body, headers = await self._session.maarg(
                "GET", path, operation=operation, read=True, params=query
            )
            if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
                raise OmsBadResponse(operation, "expected a JSON list of objects")
            header = headers.get("X-Total-Count")
            total = len(body) if header is None else parse_count(header, operation, "X-Total-Count")
            return MaargList(total=total, rows=body)

    async def maarg_list(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        operation: str,
        page_size: int = MAARG_PAGE_SIZE,
        limit: int | None = None,
    ) -> MaargList:
        """Every row of a Maarg entity list (up to `limit`), paging with pageIndex/pageSize."""
        async with self._guard():
            return await self._maarg_list_all(
                path, params, operation=operation, page_size=page_size, limit=limit
            )

    async def _maarg_list_all(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        operation: str,
        page_size: int = MAARG_PAGE_SIZE,
        limit: int | None = None,
    ) -> MaargList:
        rows: list[dict[str, Any]] = []
        total = 0
        size = page_size
        for index in range(MAARG_MAX_PAGES):
            page = await self.maarg_page(
                path, params, page_index=index, page_size=size, operation=operation
            )
            total = page.total
            rows.extend(page.rows)
            if limit is not None and len(rows) >= limit:
                return MaargList(total=total, rows=rows[:limit])
            if not page.rows or len(rows) >= total:
                break
            if len(page.rows) < size:
                if index > 0:
                    break  # a short page after the first is the last page
                # A short first page with more rows announced is the silent cap: continue
                # with the server's real page size so pageIndex offsets line up.
                size = len(page.rows)
        return MaargList(total=total, rows=rows)

    async def ofbiz_get(
        self, endpoint: str, *, operation: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any] | None:
        """GET a named OFBiz endpoint (`user-profile`); None means "No record found"."""
        async with self._guard():
            return await self._session.ofbiz(
                "GET",
                _path_part(endpoint),
                operation=operation,
                read=True,
                params=dict(params) if params else None,
            )

    async def ofbiz_post(
        self, endpoint: str, body: Mapping[str, Any], *, operation: str, read: bool
    ) -> dict[str, Any] | None:
        """POST a JSON body to a named OFBiz endpoint (`findJobs`, `scheduleService`).

        Reads are retried, writes never; None means OFBiz answered "No record found"."""
        async with self._guard():
            return await self._session.ofbiz(
                "POST", _path_part(endpoint), operation=operation, read=read, json=dict(body)
            )

    # -- observability --------------------------------------------------------------------

    def add_call_observer(self, observer: CallObserver) -> None:
        """Call `observer` after every HTTP exchange with the OMS (metrics)."""
        self._http.observers.append(observer)

    def secrets(self) -> list[str]:
        """The password, API token and current session token: what log redaction masks."""
        return self._session.secrets


def _unwrap_solr(found: Any, operation: str) -> dict[str, Any]:
    """Maarg's Solr answer: the plain Solr JSON, or the same wrapped once more in `response`
    (the newer search API's form, which accxui unwraps: useSolrSearch.ts:274-290)."""
    if not isinstance(found, dict):
        raise OmsBadResponse(operation, "the Solr answer is not a JSON object")
    inner = found.get("response")
    if isinstance(inner, dict) and "responseHeader" in inner:
        return inner
    return found


def path_part(value: str) -> str:
    """Public alias of `_path_part` for the operation modules in bot/oms."""
    return _path_part(value)


def _path_part(value: str) -> str:
    """Quote a value placed in a URL path so "/" or "?" cannot change the route."""
    return quote(value, safe="")
