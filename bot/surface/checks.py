"""`oms-bot check-config`: one line per check, ok or FAILED with the reason.

The settings and the policy file are checked exactly as the start checks them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError

from bot.kit.config import ConfigError, Settings, load_settings
from bot.oms import OmsClient, OmsError
from bot.store import StoreUnavailable, open_store
from bot.surface.wiring import connect_oms, load_checked_policy

Printer = Callable[[str], None]


def _line(name: str, ok: bool, detail: str) -> str:
    return f"{'ok    ' if ok else 'FAILED'} {name}: {detail}"


async def _check(printer: Printer, name: str, check: Callable[[], Awaitable[str]]) -> bool:
    try:
        detail = await check()
    except (OmsError, StoreUnavailable, SlackApiError, OSError, ValueError, ConfigError) as exc:
        printer(_line(name, False, _reason(exc)))
        return False
    printer(_line(name, True, detail))
    return True


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack answered {exc.response.get('error', exc.response.status_code)}"
    return str(exc)


async def run_checks(printer: Printer) -> int:
    """Run every check; return 0 when all pass, 1 otherwise."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        printer(_line("settings", False, str(exc).replace("\n", " ")))
        return 1
    printer(_line("settings", True, "valid"))
    policy_ok = await _check(printer, "policy", lambda: _policy(settings))
    client, sandbox = connect_oms(settings)
    try:
        results = [
            policy_ok,
            await _check(printer, "OMS login", lambda: _oms_login(client, settings)),
            await _check(printer, "Maarg discovery", lambda: _maarg(client, settings)),
            await _check(printer, "tenant", lambda: _tenant(client)),
            await _check(printer, "Slack auth.test", lambda: _slack(settings)),
            await _check(printer, "database", lambda: _database(settings)),
        ]
    finally:
        await client.aclose()
        if sandbox is not None:
            sandbox.stop()
    return 0 if all(results) else 1


async def _policy(settings: Settings) -> str:
    policy = load_checked_policy(settings)
    if not policy.loaded:
        return "no OMSBOT_POLICY: read-only commands are open, changes are refused"
    return (
        f"{policy.source}: {len(policy.roles)} role(s), {len(policy.command_roles)} command "
        f"override(s), {len(policy.approval_roles)} approval action(s), "
        f"{len(policy.digests)} digest schedule(s)"
    )


async def _oms_login(client: OmsClient, settings: Settings) -> str:
    user = await client.check_login()
    where = "embedded sandbox" if settings.uses_sandbox else settings.oms_base_url
    return f"logged in as {user} at {where}"


async def _maarg(client: OmsClient, settings: Settings) -> str:
    found = await client.discovery()
    if settings.oms_maarg_url:
        return f"configured (OMS_MAARG_URL): {found.maarg_url}"
    how = {
        "url": "discovered",
        "bare-name": "discovered as a bare instance name, expanded with OMS_MAARG_URL_TEMPLATE",
        "base": "Moqui-only tenant: the OMS base URL is Maarg",
        "configured": "configured",
    }[found.maarg_form]
    return f"{how}: {found.maarg_url}"


async def _tenant(client: OmsClient) -> str:
    profile = await client.profile()
    return profile.describe()


async def _slack(settings: Settings) -> str:
    if settings.slack_bot_token is None:
        return "skipped: no SLACK_BOT_TOKEN (console mode)"
    from bot.surface.app import build_web_client

    client = build_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    resp = await client.auth_test()
    return f"bot {resp.get('user')} in team {resp.get('team')} ({resp.get('team_id')})"


async def _database(settings: Settings) -> str:
    from bot.store.db import describe

    store = open_store(settings.omsbot_database_url)
    try:
        await store.aping()
    finally:
        store.dispose()
    return f"reachable: {describe(settings.omsbot_database_url)}"
