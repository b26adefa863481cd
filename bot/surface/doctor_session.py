"""Doctor probes of the session: where Maarg is, how the bot logs in, who it is, and whether
Maarg takes an OMS API token (fidelity reference §4). docs/oms-api.md, "Tenant profile and
doctor", gives each probe's source."""

from __future__ import annotations

from bot.oms import OmsAuthError, OmsError, OmsRequestError
from bot.oms.session import MOQUI_LOGIN, OFBIZ_LOGIN
from bot.surface.doctor_context import Context, Probe
from bot.surface.doctor_report import Verdict, field_list, redacted_error, shape

_FORMS = {
    "url": "maargInstanceUrl is a full URL",
    "bare-name": "maargInstanceUrl is a bare instance name, which OMS_MAARG_URL_TEMPLATE expands",
    "base": "no maargInstanceUrl: the OMS base URL is Maarg itself",
    "configured": "OMS_MAARG_URL is configured",
}


async def _maarg_instance(ctx: Context) -> tuple[Verdict, str]:
    options, found = ctx.facts.options, ctx.facts.discovery
    if options is None:
        if ctx.facts.maarg_configured:
            return "UNKNOWN", (
                f"checkLoginOptions did not answer ({ctx.facts.options_problem}); the bot "
                "uses OMS_MAARG_URL instead"
            )
        return "DIFFERENT", f"checkLoginOptions did not answer: {ctx.facts.options_problem}"
    where = (
        "no OFBiz /api/checkLoginOptions; Moqui admin/checkLoginOptions answers (a Moqui-only "
        "tenant)"
        if options.moqui_only
        else "OFBiz /api/checkLoginOptions answers"
    )
    evidence = f"{where}; {_FORMS[options.maarg_form]}"
    if ctx.facts.maarg_configured and found is not None:
        same = found.maarg_url == options.maarg_url
        evidence += "; it names the OMS_MAARG_URL host" if same else "; OMS_MAARG_URL differs"
    elif found is not None:
        evidence += "; the bot reached Maarg there"
    return "CONFIRMED", evidence


async def _login_route(ctx: Context) -> tuple[Verdict, str]:
    if ctx.facts.uses_api_token:
        return "UNKNOWN", "the bot uses OMS_API_TOKEN, so it does not log in"
    route = ctx.facts.login_route
    if route is None:
        return "UNKNOWN", "the bot did not need to log in"
    expected = MOQUI_LOGIN if ctx.profile.backend == "moqui" else OFBIZ_LOGIN
    answer = ctx.facts.login_answer
    fields = ", ".join(f"{name} ({kind})" for name, kind in sorted(answer.items()))
    evidence = f"{route} answered {fields}"
    ok = route == expected and answer.get("token") == "string" and "expirationTime" in answer
    return ("CONFIRMED" if ok else "DIFFERENT"), evidence


async def _user_profile(ctx: Context) -> tuple[Verdict, str]:
    username_ok, maarg_missing = False, False
    try:
        body = await ctx.reads.get("admin/user/profile")
        if isinstance(body, dict):
            username_ok = isinstance(body.get("username"), str) and bool(body["username"])
            parts = [f"admin/user/profile: {field_list(body)}"]
        else:
            parts = [f"admin/user/profile: {shape(body)}"]
    except OmsRequestError as exc:
        maarg_missing = exc.status_code == 404
        parts = [f"admin/user/profile: HTTP {exc.status_code or '?'}"]
    ofbiz_ok = False
    if ctx.profile.has_ofbiz:
        try:
            legacy = await ctx.reads.ofbiz_get("user-profile")
            ofbiz_ok = isinstance((legacy or {}).get("userLoginId"), str)
            parts.append(f"/api/user-profile: {field_list(legacy or {})}")
        except OmsError as exc:
            parts.append(f"/api/user-profile: {redacted_error(exc)}")
    ok = username_ok or (maarg_missing and ofbiz_ok)
    return ("CONFIRMED" if ok else "DIFFERENT"), "; ".join(parts)


async def _api_token_on_maarg(ctx: Context) -> tuple[Verdict, str]:
    if not ctx.facts.uses_api_token:
        return "UNKNOWN", (
            "the bot logs in with a username and password; run the doctor with OMS_API_TOKEN "
            "set to settle this"
        )
    try:
        await ctx.reads.get("admin/user/profile")
    except OmsAuthError:
        return "DIFFERENT", "Maarg refused the configured API token (HTTP 401)"
    return "CONFIRMED", "Maarg accepted the configured API token (admin/user/profile answered)"


PROBES = (
    Probe(
        "Maarg instance (checkLoginOptions)",
        "checkLoginOptions names Maarg in maargInstanceUrl (a URL, or a bare name HotWax turns "
        "into https://{name}.hotwax.io); a tenant without OFBiz /api is Moqui-only",
        _maarg_instance,
    ),
    Probe(
        "login route",
        "OFBiz tenants log in at POST /api/login {USERNAME, PASSWORD}, Moqui-only tenants at "
        "POST /rest/s1/admin/login {username, password}; both answer {token, expirationTime}",
        _login_route,
    ),
    Probe(
        "user profile",
        "GET admin/user/profile answers username (the bot's check); on OFBiz tenants "
        "/api/user-profile answers userLoginId (the fallback)",
        _user_profile,
    ),
    Probe(
        "API token on Maarg",
        "Maarg accepts an OMS settings JWT (OMS_API_TOKEN) as a Bearer token",
        _api_token_on_maarg,
    ),
)
