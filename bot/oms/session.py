"""Who we are to the OMS: the token, logging in (once, shared) and finding the Maarg host.

Both backends take the same `Authorization: Bearer <token>`. A 401 means the token expired:
log in again once and repeat the call; a second 401 is an auth failure. A configured API
token (a JWT from OMS settings) cannot be renewed, so its 401 is final at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from bot.oms.conventions import maarg_payload, maarg_text, ofbiz_payload
from bot.oms.errors import OmsAuthError, OmsBadResponse, OmsError, OmsRequestError
from bot.oms.transport import HttpTransport

T = TypeVar("T")

LOGIN = "log in"
DISCOVER_MAARG = "find the Maarg instance URL"


def normalise_base(url: str, suffix: str) -> str:
    """Accept the URL with or without a trailing slash or API suffix ("/api", "/rest/s1")."""
    cleaned = url.strip().rstrip("/")
    if cleaned.endswith(suffix):
        cleaned = cleaned[: -len(suffix)].rstrip("/")
    return cleaned


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
    ) -> None:
        self._http = transport
        self.base_url = normalise_base(base_url, "/api")
        self._username = username
        self._password = password
        self._api_token = api_token
        self._token: str | None = api_token
        self._maarg: str | None = normalise_base(maarg_url, "/rest/s1") if maarg_url else None
        # Learned with the Maarg host: True when the base URL is Maarg itself (no OFBiz).
        # A configured OMS_MAARG_URL says OFBiz is at the base URL.
        self.moqui_only: bool | None = False if maarg_url else None
        self._login_lock = asyncio.Lock()
        self._maarg_lock = asyncio.Lock()

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
        response = await self._http.send(
            "POST",
            f"{self.base_url}/api/login",
            operation=operation,
            # Logging in changes no OMS data, so repeating it after a 503 is harmless.
            read=True,
            json={"USERNAME": self._username, "PASSWORD": self._password},
        )
        if response.status_code in (401, 403):
            raise OmsAuthError(operation, "the OMS refused the username or password")
        try:
            body = ofbiz_payload(response, operation)
        except OmsRequestError as exc:
            # Bad credentials come back as HTTP 200 + _ERROR_MESSAGE_; keep the OMS's words.
            raise OmsAuthError(operation, exc.message) from None
        token = body.get("token") if body else None
        if not isinstance(token, str) or not token:
            raise OmsBadResponse(operation, "the login answer has no token")
        self._token = token

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
        return body

    async def _discover_maarg(self, operation: str) -> str:
        try:
            options = await self._login_options(f"{self.base_url}/api/checkLoginOptions", operation)
        except (OmsRequestError, OmsBadResponse):
            # No OFBiz answering here: a Moqui-only tenant, where the base URL *is* Maarg.
            # Confirm it through Moqui's own checkLoginOptions before relying on it.
            try:
                await self._login_options(
                    f"{self.base_url}/rest/s1/admin/checkLoginOptions", operation
                )
            except OmsError:
                raise OmsRequestError(
                    operation,
                    "neither /api/checkLoginOptions nor /rest/s1/admin/checkLoginOptions "
                    "answered; set OMS_MAARG_URL",
                ) from None
            self.moqui_only = True
            return self.base_url
        self.moqui_only = False
        url = options.get("maargInstanceUrl")
        if not isinstance(url, str) or not url.strip():
            raise OmsRequestError(
                operation,
                "the OMS reports no Maarg instance (checkLoginOptions has no "
                "maargInstanceUrl); set OMS_MAARG_URL",
            )
        return normalise_base(url, "/rest/s1")


__all__ = ["DISCOVER_MAARG", "LOGIN", "OmsSession", "normalise_base"]
