"""Maarg's `admin/...` routes for the session and the tenant: login, the user profile and Solr
queries (docs/oms-api.md, "Session" and "Tenant profile and doctor"); the ServiceJob routes are
in bot/sandbox/service_jobs.py.

They are served on every tenant, as Maarg has them whether or not OFBiz runs beside it.
Errors follow Moqui: a non-2xx status with `{errorCode, errors}` (moqui-framework
WebFacadeImpl.groovy:745-760); a service that reports an error answers 400 (:1100-1104).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.cores import DEFAULT_CORE, query_core
from bot.sandbox.data import DEMO_API_USER
from bot.sandbox.solr import SolrSyntaxError
from bot.sandbox.state import SandboxState
from bot.sandbox.web import maarg_authed, maarg_error, read_json_object

DEFAULT_PAGE_SIZE = 20  # Moqui's default page when none is asked for


def admin_routes(state: SandboxState) -> list[Route]:
    async def login(request: Request) -> Response:
        """`POST admin/login {username, password}` → `{token, expirationTime}` (hotwax/launchpad
        src/services/UserService.ts:4-13; accxui common/composables/useAuth.ts:88-111)."""
        try:
            body = await read_json_object(request)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        username = str(body.get("username") or "")
        password = str(body.get("password") or "")
        if not username or not password:
            return maarg_error(400, "Username and password are required")
        if not state.check_credentials(username, password):
            # Moqui's own wording (MoquiShiroRealm.groovy:286); a failed login is a service
            # error, so 400 [INF: HotWax's login service is not public].
            return maarg_error(400, f"Password incorrect for username {username}")
        token, ttl = state.issue_token(username)
        expires = int((state.now().timestamp() + ttl) * 1000)
        return JSONResponse({"token": token, "expirationTime": expires})

    async def user_profile(request: Request, user: str) -> Response:
        """`GET admin/user/profile` (launchpad UserService.ts:24-45 maps these fields)."""
        full_name = "Demo Integration" if user == DEMO_API_USER else "Demo Operations"
        return JSONResponse(
            {
                "userId": "DEMO_OPS",
                "username": user,
                "userFullName": full_name,
                "emailAddress": f"{user}@example.com",
                "timeZone": "America/New_York",
                "locale": "en_US",
            }
        )

    async def run_solr_query(request: Request, user: str) -> Response:
        """`POST admin/runSolrQuery {json, coreName?}`: the payload of OFBiz solr-query, the
        plain Solr answer (accxui common/composables/useSolrSearch.ts:292-300)."""
        try:
            body = await read_json_object(request)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        query = body.get("json")
        if not isinstance(query, dict):
            return maarg_error(400, "The json parameter is required")
        core = str(body.get("coreName") or DEFAULT_CORE)
        try:
            answer = query_core(state, core, query)
        except SolrSyntaxError as exc:
            return maarg_error(400, str(exc))
        if answer is None:
            return maarg_error(400, f"Solr core {core} not found")
        return JSONResponse(answer)

    return [
        Route("/rest/s1/admin/login", login, methods=["POST"]),
        Route("/rest/s1/admin/user/profile", maarg_authed(state, user_profile), methods=["GET"]),
        Route("/rest/s1/admin/runSolrQuery", maarg_authed(state, run_solr_query), methods=["POST"]),
    ]
