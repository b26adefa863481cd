"""Who we are to the OMS: the token, logging in (once, shared) and finding the Maarg host.

Both backends take the same `Authorization: Bearer <token>`. A 401 means the token expired:
log in again once and repeat the call; a second 401 is an auth failure. A configured API
token (a JWT from OMS settings) cannot be renewed, so its 401 is final at once.

Where to log in depends on the tenant, so discovery comes first: an OFBiz + Maarg tenant
logs in at OFBiz `POST /api/login {USERNAME, PASSWORD}`, a Moqui-only tenant (no OFBiz
`/api` at the base URL) at Maarg `POST /rest/s1/admin/login {username, password}`, as
HotWax's apps do (hotwax/accxui common/composables/useAuth.ts:83-99; hotwax/launchpad
src/services/UserService.ts:4-21). Both answer `{token, expirationTime}`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx

from bot.kit.config import DEFAULT_MAARG_URL_TEMPLATE
from bot.oms.conventions import json_type, maarg_payload, maarg_text, ofbiz_payload
from bot.oms.errors import OmsAuthError, OmsBadResponse, OmsError, OmsRequestError
from bot.oms.instances import NotAnInstance, maarg_instance, strip_suffix
from bot.oms.transport import HttpTransport

T = TypeVar("T")

LOGIN = "log in"
DISCOVER_MAARG = "find the Maarg instance URL"


OFBIZ_OPTIONS = "/api/checkLoginOptions"
MOQUI_OPTIONS = "/rest/s1/admin/checkLoginOptions"
OFBIZ_LOGIN = "POST /api/login"
MOQUI_LOGIN = "POST /rest/s1/admin/login"
NO_OFBIZ = "this is a Moqui-only HotWax tenant: it has no OFBiz /api"
# How the Maarg host was learned: given as a URL or a bare name, not given (a Moqui-only
# tenant whose base URL is Maarg), or configured (OMS_MAARG_URL).
MaargSource = Literal["url", "bare-name", "base", "configured"]


def normalise_base(url: str, suffix: str) -> str:
    """Accept the URL with or without a trailing slash or API suffix ("/api", "/rest/s1")."""
    return strip_suffix(url, suffix)


# A login answered with these is a wrong URL (no such route), not refused credentials.
NO_LOGIN_ROUTE = (404, 405)


@dataclass(frozen=True)
class Discovery:
    """What discovery learned: where Maarg is, and whether OFBiz is there at all."""

    route: str  # the checkLoginOptions that answered, or "OMS_MAARG_URL"
    moqui_only: bool
    maarg_form: MaargSource
    maarg_url: str


class _Unauthorized(Exception):
    """Internal signal: the OMS answered 401 to this token."""


class OmsSession:
    def __init__(
        self,
        transport: HttpTransport,
        base_url: str,
        *,
        username: str | None,
        password: str | None,
        api_token: str | None,
        maarg_url: str | None,
        maarg_url_template: str = DEFAULT_MAARG_URL_TEMPLATE,
    ) -> None:
        self._http = transport
        self.base_url = normalise_base(base_url, "/api")
        self._username = username
        self._password = password
        self._api_token = api_token
        self._token: str | None = api_token
        self._maarg: str | None = normalise_base(maarg_url, "/rest/s1") if maarg_url else None
        self._template = maarg_url_template
        # Learned with the Maarg host: True when the base URL is Maarg itself (no OFBiz).
        # A configured OMS_MAARG_URL says OFBiz is at the base URL.
        self.moqui_only: bool | None = False if maarg_url else None
        self.discovery: Discovery | None = (
            Discovery("OMS_MAARG_URL", False, "configured", self._maarg) if self._maarg else None
        )
        # The login route used last and the JSON type of each field of its answer (never the
        # values): what `oms-bot doctor` reports.
        self.login_route: str | None = None
        self.login_answer: dict[str, str] = {}
        self._login_lock = asyncio.Lock()
        self._maarg_lock = asyncio.Lock()

    @property
    def uses_api_token(self) -> bool:
        return self._api_token is not None

    @property
    def secrets(self) -> list[str]:
        """Everything that must never appear in an error message."""
        found = [self._password, self._api_token, self._token]
        return [s for s in found if s]

    # -- auth -----------------------------------------------------------------------------

    async def login(self, operation: str = LOGIN) -> None:
        if self._api_token:
            self._token = self._api_token
            return
        if not self._username or not self._password:
            raise OmsAuthError(
                operation, "no OMS credentials configured (set OMS_USERNAME and OMS_PASSWORD)"
            )
        if await self.is_moqui_only(operation):
            await self._moqui_login(operation, self._username, self._password)
        else:
            await self._ofbiz_login(operation, self._username, self._password)

    async def is_moqui_only(self, operation: str) -> bool:
        """Whether the tenant has no OFBiz, discovering it first if need be."""
        if self.moqui_only is None:
            try:
                await self.maarg_base(operation)
            except OmsError:
                # OFBiz answered but named no usable Maarg: still an OFBiz login.
                if self.moqui_only is None:
                    raise
        return bool(self.moqui_only)

    async def _ofbiz_login(self, operation: str, username: str, password: str) -> None:
        response = await self._http.send(
            "POST",
            f"{self.base_url}/api/login",
            operation=operation,
            # Logging in changes no OMS data, so repeating it after a 503 is harmless.
            read=True,
            json={"USERNAME": username, "PASSWORD": password},
        )
        if response.status_code in (401, 403):
            raise OmsAuthError(operation, "the OMS refused the username or password")
        try:
            body = ofbiz_payload(response, operation)
        except OmsRequestError as exc:
            # Bad credentials come back as HTTP 200 + _ERROR_MESSAGE_; keep the OMS's words.
            # Another status (a 404 from a wrong OMS_BASE_URL) is not a refusal: pass it on.
            if exc.status_code in NO_LOGIN_ROUTE:
                raise
            raise OmsAuthError(operation, exc.message) from None
        self._take_token(body, OFBIZ_LOGIN, operation)

    async def _moqui_login(self, operation: str, username: str, password: str) -> None:
        base = await self.maarg_base(operation)
        response = await self._http.send(
            "POST",
            f"{base}/rest/s1/admin/login",
            operation=operation,
            read=True,
            json={"username": username, "password": password},
        )
        try:
            body = maarg_payload(response, operation)
        except OmsRequestError as exc:
            # Moqui refuses with a non-2xx status and `{errors}` (accxui useAuth.ts:127-133);
            # a 404 or 405 is a wrong Maarg URL, not a refusal: pass it on.
            if exc.status_code in NO_LOGIN_ROUTE:
                raise
            raise OmsAuthError(operation, exc.message) from None
        self._take_token(body, MOQUI_LOGIN, operation)

    def _take_token(self, body: Any, route: str, operation: str) -> None:
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise OmsBadResponse(operation, "the login answer has no token")
        assert isinstance(body, dict)
        self._token = token
        self.login_route = route
        self.login_answer = {str(key): json_type(value) for key, value in body.items()}

    async def _current_token(self, operation: str) -> str:
        async with self._login_lock:
            if self._token is None:
                await self._login_for(operation)
            assert self._token is not None
            return self._token

    async def _renew(self, rejected: str, operation: str) -> None:
        async with self._login_lock:
            # Another task may already have logged in again while we waited for the lock.
            if self._token == rejected:
                self._token = None
                await self._login_for(operation)

    async def _login_for(self, operation: str) -> None:
        if operation == LOGIN:
            await self.login()
            return
        try:
            await self.login(operation)
        except OmsAuthError as exc:
            raise OmsAuthError(operation, f"could not log in: {exc.message}") from None

    async def authorized(self, operation: str, call: Callable[[str], Awaitable[T]]) -> T:
        """Run `call(token)`; on a 401 log in again once and repeat it."""
        token = await self._current_token(operation)
        try:
            return await call(token)
        except _Unauthorized:
            if self._api_token:
                raise OmsAuthError(
                    operation, "the OMS refused the configured API token (HTTP 401)"
                ) from None
        await self._renew(token, operation)
        token = await self._current_token(operation)
        try:
            return await call(token)
        except _Unauthorized:
            raise OmsAuthError(
                operation, "the OMS refused the session even after logging in again (HTTP 401)"
            ) from None

    # -- requests -------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        token: str,
        *,
        operation: str,
        read: bool,
        params: Any = None,
        json: Any = None,
    ) -> httpx.Response:
        response = await self._http.send(
            method,
            url,
            operation=operation,
            read=read,
            params=params,
            json=json,
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code == 401:
            raise _Unauthorized
        return response

    async def ofbiz(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        read: bool,
        params: Any = None,
        json: Any = None,
    ) -> dict[str, Any] | None:
        """Call `{base}/api/{path}`; None means OFBiz answered "No record found"."""
        url = f"{self.base_url}/api/{path.lstrip('/')}"

        async def call(token: str) -> dict[str, Any] | None:
            if self.moqui_only:
                # Known from discovery: a request here could only answer 404.
                raise OmsRequestError(operation, NO_OFBIZ)
            response = await self._send(
                method, url, token, operation=operation, read=read, params=params, json=json
            )
            return ofbiz_payload(response, operation)

        return await self.authorized(operation, call)

    async def maarg(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        read: bool,
        params: Any = None,
        json: Any = None,
    ) -> tuple[Any, httpx.Headers]:
        """Call `{maarg}/rest/s1/{path}`; returns the decoded body and the response headers."""
        url = f"{await self.maarg_base(operation)}/rest/s1/{path.lstrip('/')}"

        async def call(token: str) -> tuple[Any, httpx.Headers]:
            response = await self._send(
                method, url, token, operation=operation, read=read, params=params, json=json
            )
            return maarg_payload(response, operation), response.headers

        return await self.authorized(operation, call)

    async def maarg_download(self, path: str, *, operation: str, params: Any = None) -> str:
        """GET a file from `{maarg}/rest/s1/{path}` and return it as text."""
        url = f"{await self.maarg_base(operation)}/rest/s1/{path.lstrip('/')}"

        async def call(token: str) -> str:
            response = await self._send(
                "GET", url, token, operation=operation, read=True, params=params
            )
            return maarg_text(response, operation)

        return await self.authorized(operation, call)

    # -- Maarg discovery ------------------------------------------------------------------

    async def maarg_base(self, operation: str = DISCOVER_MAARG) -> str:
        if self._maarg is not None:
            return self._maarg
        async with self._maarg_lock:
            if self._maarg is None:
                self._maarg = await self._discover_maarg(operation)
        return self._maarg

    async def _login_options(self, url: str, operation: str) -> dict[str, Any]:
        response = await self._http.send("GET", url, operation=operation, read=True)
        body = maarg_payload(response, operation)
        if not isinstance(body, dict):
            raise OmsBadResponse(operation, "checkLoginOptions did not answer a JSON object")
        if body.get("_ERROR_MESSAGE_"):
            # OFBiz's error convention: HTTP 200 with the message (accxui useAuth.ts:238).
            raise OmsRequestError(operation, str(body["_ERROR_MESSAGE_"]), status_code=200)
        return body

    async def read_login_options(self, operation: str = DISCOVER_MAARG) -> Discovery:
        """Ask the tenant where Maarg is, as HotWax's apps do (accxui useAuth.ts:217-268):
        OFBiz `/api/checkLoginOptions` first; if it does not answer, the tenant is Moqui-only
        and Moqui's own `admin/checkLoginOptions` must answer instead. Nothing is cached."""
        try:
            options = await self._login_options(f"{self.base_url}{OFBIZ_OPTIONS}", operation)
        except (OmsRequestError, OmsBadResponse):
            try:
                options = await self._login_options(f"{self.base_url}{MOQUI_OPTIONS}", operation)
            except OmsError:
                raise OmsRequestError(
                    operation,
                    "neither /api/checkLoginOptions nor /rest/s1/admin/checkLoginOptions "
                    "answered; set OMS_MAARG_URL",
                ) from None
            given = self._instance(options, operation)
            if given is None:
                # No Maarg named: the OMS itself is Maarg (accxui useAuth.ts:257-266).
                return Discovery(MOQUI_OPTIONS, True, "base", self.base_url)
            return Discovery(MOQUI_OPTIONS, True, given[1], given[0])
        try:
            given = self._instance(options, operation)
        except OmsBadResponse as exc:
            raise _NoMaarg(operation, exc.message) from None
        if given is None:
            raise _NoMaarg(
                operation,
                "the OMS reports no Maarg instance (checkLoginOptions has no "
                "maargInstanceUrl); set OMS_MAARG_URL",
            )
        return Discovery(OFBIZ_OPTIONS, False, given[1], given[0])

    def _instance(
        self, options: dict[str, Any], operation: str
    ) -> tuple[str, Literal["url", "bare-name"]] | None:
        value = options.get("maargInstanceUrl")
        if not isinstance(value, str) or not value.strip():
            return None
        try:
            found = maarg_instance(value, self._template)
        except NotAnInstance as exc:
            raise OmsBadResponse(operation, f"{exc}; set OMS_MAARG_URL") from None
        return found.url, found.form

    async def _discover_maarg(self, operation: str) -> str:
        try:
            found = await self.read_login_options(operation)
        except _NoMaarg:
            self.moqui_only = False  # OFBiz answered: an OFBiz tenant without a usable Maarg
            raise
        self.moqui_only = found.moqui_only
        self.discovery = found
        return found.maarg_url


class _NoMaarg(OmsRequestError):
    """OFBiz answered checkLoginOptions without naming a usable Maarg instance."""


__all__ = [
    "DISCOVER_MAARG",
    "LOGIN",
    "MOQUI_LOGIN",
    "NO_OFBIZ",
    "OFBIZ_LOGIN",
    "Discovery",
    "OmsSession",
    "normalise_base",
]
