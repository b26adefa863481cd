"""`oms-bot check-config`: one line per check, and one line per problem (ok, WARN or FAILED).

The settings and the policy file are read exactly as `oms-bot run` reads them (a file the
start refuses fails here too). Then the OMS: login, Maarg, the tenant, and that the ids the
policy's `[stores]` names exist there; Slack: `auth.test`, and that the approvals and digest
channels exist with the bot in them (`conversations.info`, the manifest's `channels:read`
and `groups:read`); the job names of the `[[watches]]`; and the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.policy import Policy, Stores
from bot.kit.config import ConfigError, Settings, load_settings, unknown_settings
from bot.kit.suggest import closest
from bot.oms import JobsApi, OmsClient, OmsError, ServiceJobsApi, stores
from bot.store import StoreUnavailable, open_store
from bot.surface.wiring import connect_oms, load_checked_policy
from handlers.watches import resolve

Printer = Callable[[str], None]
Status = Literal["ok", "WARN", "FAILED", "skip"]
# The order runbooks' shop connection and sync job: without them they answer "not set up".
ORDER_RUNBOOK_STORES = ("shopify_remote", "order_sync_job")


@dataclass(frozen=True)
class Checked:
    """A check that passed, with what it found and what deserves a look all the same."""

    detail: str
    warnings: tuple[str, ...] = ()


def _line(name: str, status: Status, detail: str) -> str:
    return f"{status:<6} {name}: {detail}"


async def _check(
    printer: Printer, name: str, check: Callable[[], Awaitable[str | Checked]]
) -> bool:
    """Run one check: an ok line and its warnings, or one FAILED line per problem."""
    try:
        result = await check()
    except ConfigError as exc:
        for problem in exc.problems:
            printer(_line(name, "FAILED", problem))
        return False
    except (OmsError, StoreUnavailable, SlackApiError, OSError, ValueError) as exc:
        printer(_line(name, "FAILED", _reason(exc)))
        return False
    checked = result if isinstance(result, Checked) else Checked(result)
    printer(_line(name, "ok", checked.detail))
    for warning in checked.warnings:
        printer(_line(name, "WARN", warning))
    return True


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack answered {exc.response.get('error', exc.response.status_code)}"
    return str(exc)


async def run_checks(printer: Printer) -> int:
    """Run every check; return 0 when all pass, 1 otherwise (warnings do not fail)."""
    unknown = unknown_settings()
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            printer(_line("settings", "FAILED", problem))
        for warning in unknown:
            printer(_line("settings", "WARN", warning))
        return 1
    refusal = settings.slack_sandbox_refusal()
    printer(_line("settings", "FAILED", refusal) if refusal else _line("settings", "ok", "valid"))
    for warning in unknown:
        printer(_line("settings", "WARN", warning))

    policy: Policy | None = None

    async def read_policy() -> str:
        nonlocal policy
        policy = load_checked_policy(settings)
        return _describe_policy(policy)

    results = [refusal is None, await _check(printer, "policy", read_policy)]
    try:
        client, sandbox = connect_oms(settings)
    except ConfigError as exc:  # the embedded sandbox cannot play OMSBOT_SANDBOX_TENANT
        for problem in exc.problems:
            printer(_line("OMS login", "FAILED", problem))
        return 1
    try:
        results += [
            await _check(printer, "OMS login", lambda: _oms_login(client, settings)),
            await _check(printer, "Maarg discovery", lambda: _maarg(client, settings)),
            await _check(printer, "tenant", lambda: _tenant(client)),
        ]
        if policy is None:
            printer(_line("stores", "skip", "not checked: the policy file has problems (above)"))
        else:
            effective = _effective_stores(policy, settings)
            digest_stores = [(d.id, d.store) for d in policy.digests if d.store]
            results.append(
                await _check(
                    printer, "stores", lambda: _stores(client, effective, digest_stores, settings)
                )
            )
        if policy is not None and policy.watches:
            watched = policy
            results.append(await _check(printer, "watches", lambda: _watches(client, watched)))
        results.append(await _check(printer, "Slack auth.test", lambda: _slack(settings)))
        if policy is None:
            printer(_line("Slack channels", "skip", "not checked: the policy file has problems"))
        else:
            checked = policy
            results.append(
                await _check(printer, "Slack channels", lambda: _channels(settings, checked))
            )
        results.append(await _check(printer, "database", lambda: _database(settings)))
    finally:
        await client.aclose()
        if sandbox is not None:
            sandbox.stop()
    return 0 if all(results) else 1


def _describe_policy(policy: Policy) -> str:
    if not policy.loaded:
        return "no OMSBOT_POLICY: read-only commands are open, changes are refused"
    return (
        f"{policy.source}: {len(policy.roles)} role(s), {len(policy.command_roles)} command "
        f"override(s), {len(policy.approval_roles)} approval action(s), "
        f"{len(policy.digests)} digest schedule(s)"
    )


def _effective_stores(policy: Policy, settings: Settings) -> Stores:
    """`[stores]` as the running bot uses it: the embedded sandbox fills in its own shop."""
    if not settings.uses_sandbox:
        return policy.stores
    from bot.sandbox import DEMO_ORDER_SYNC_JOB, DEMO_SHOPIFY_REMOTE

    return policy.with_store_defaults(
        shopify_remote=DEMO_SHOPIFY_REMOTE, order_sync_job=DEMO_ORDER_SYNC_JOB
    ).stores


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


async def _stores(
    client: OmsClient, wanted: Stores, digest_stores: list[tuple[str, str]], settings: Settings
) -> Checked:
    """Every id `[stores]` names exists in the OMS (and the sync job syncs that shop), and so
    does every product store a `[[digests]]` schedule names."""
    found: list[str] = []
    problems: list[str] = []

    async def look(
        key: str,
        value: str | None,
        check: Callable[[str], Awaitable[str]],
        where: str = "[stores] ",
    ) -> None:
        if not value:
            return
        try:
            problem = await check(value)
        except OmsError as exc:
            problem = f"could not be checked: {exc}"
        if problem:
            problems.append(f'{where}{key} = "{value}": {problem}')
        elif where == "[stores] ":
            found.append(f"{key} {value}")

    async def product_store(value: str) -> str:
        ids = [store_id for store_id, _ in await stores.list_product_stores(client)]
        if value in ids:
            return ""
        close = closest(value, ids)
        hint = f" (did you mean {close}?)" if close else ""
        return (
            f"the OMS has no product store {value}{hint}; "
            f"its product stores are {', '.join(ids) or 'none'}"
        )

    async def remote(value: str) -> str:
        if await stores.get_remote(client, value) is not None:
            return ""
        return (
            f"the OMS has no shop connection (SystemMessageRemote) {value}; it is the remote "
            "the shop's order-sync job names in its systemMessageRemoteId parameter"
        )

    async def sync_job(value: str) -> str:
        job = await ServiceJobsApi(client).job(value)
        if job is None:
            return (
                f"the OMS has no service job {value}; it is the shop's order-sync job in the "
                "Job Manager, e.g. queue_ShopifyOrderSync_10000"
            )
        synced = job.parameter("systemMessageRemoteId")
        if wanted.shopify_remote and synced != wanted.shopify_remote:
            return (
                f"it syncs the shop connection {synced or '(none)'}, not shopify_remote "
                f"{wanted.shopify_remote}: name the same shop's connection and job"
            )
        return ""

    async def shopify_config(value: str) -> str:
        ids = await JobsApi(client).shopify_config_ids()
        if value in ids:
            return ""
        return f"the OMS has no Shopify config {value}; its configs are {', '.join(ids) or 'none'}"

    await look("default", wanted.default, product_store)
    await look("shopify_remote", wanted.shopify_remote, remote)
    await look("order_sync_job", wanted.order_sync_job, sync_job)
    await look("shopify_config_id", wanted.shopify_config_id, shopify_config)
    for schedule_id, store in digest_stores:
        await look("store", store, product_store, f'[[digests]] id "{schedule_id}": ')
    if problems:
        raise ConfigError(*problems)
    warnings = []
    missing = [key for key in ORDER_RUNBOOK_STORES if not getattr(wanted, key)]
    if missing and not settings.uses_sandbox:
        warnings.append(
            f"[stores] {' and '.join(missing)} not set: /oms refresh, /oms import and the "
            "re-import of /oms check answer that the bot is not set up for them; set them in "
            "the policy file (README, The policy file)"
        )
    where = "embedded sandbox" if settings.uses_sandbox else "OMS"
    detail = f"found in the {where}: {', '.join(found)}" if found else "no [stores] ids set"
    return Checked(detail, tuple(warnings))


def _web_client(settings: Settings) -> AsyncWebClient | None:
    if settings.slack_bot_token is None:
        return None
    from bot.surface.app import build_web_client

    return build_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)


async def _slack(settings: Settings) -> str:
    client = _web_client(settings)
    if client is None:
        return "skipped: no SLACK_BOT_TOKEN (console mode)"
    resp = await client.auth_test()
    return f"bot {resp.get('user')} in team {resp.get('team')} ({resp.get('team_id')})"


async def _channels(settings: Settings, policy: Policy) -> str:
    """The approvals and digest channels exist, are not archived and have the bot in them:
    digests upload their CSV files there, and a private channel hides from a bot not in it."""
    client = _web_client(settings)
    if client is None:
        return "skipped: no SLACK_BOT_TOKEN (console mode)"
    wanted = [("[approvals] channel", policy.approvals_channel)] if policy.approvals_channel else []
    wanted += [(f'[[digests]] id "{d.id}": channel', d.channel) for d in policy.digests]
    wanted += [(f'[[watches]] id "{w.id}": channel', w.channel) for w in policy.watches]
    if not wanted:
        return "none set: approval requests go to the channel they are asked in"
    try:
        bot = f"@{(await client.auth_test()).get('user')}"
    except SlackApiError:
        bot = "the bot"
    invite = f"invite it with `/invite {bot}` in that channel"
    problems, good = [], []
    for label, channel_id in wanted:
        where = f'{label} = "{channel_id}"'
        try:
            channel = (await client.conversations_info(channel=channel_id)).get("channel") or {}
        except SlackApiError as exc:
            error = exc.response.get("error", exc.response.status_code)
            if error == "channel_not_found":
                problems.append(
                    f"{where}: Slack has no such channel, or it is private and the bot is not "
                    f"in it: check the id, and {invite}"
                )
            elif error == "missing_scope":
                problems.append(
                    f"{where}: the bot token lacks the channels:read and groups:read scopes: "
                    "reinstall the app from manifest.yml"
                )
            else:
                problems.append(f"{where}: Slack answered {error}")
            continue
        name = f"#{channel.get('name') or channel_id}"
        if channel.get("is_archived"):
            problems.append(f"{where}: {name} is archived; name a channel in use")
        elif not channel.get("is_member"):
            problems.append(f"{where}: the bot is not in {name}; {invite}")
        else:
            good.append(name)
    if problems:
        raise ConfigError(*problems)
    return f"the bot is in {', '.join(good)}"


async def _database(settings: Settings) -> str:
    from bot.store.db import describe

    store = open_store(settings.omsbot_database_url)
    try:
        await store.aping()
    finally:
        store.dispose()
    return f"reachable: {describe(settings.omsbot_database_url)}"


async def _watches(client: OmsClient, policy: Policy) -> str:
    """Every name in each watch's `jobs` is a job or category this OMS has (a name that
    matches nothing would be watched in vain)."""
    problems, counts = [], []
    for watch in policy.watches:
        targets = await resolve(client, watch)
        for name in targets.unknown:
            problems.append(
                f'[[watches]] id "{watch.id}": jobs names {name!r}, which is no Moqui job or '
                "category and no OFBiz job enum in this OMS; `/oms jobs` lists them"
            )
        counts.append(f"{watch.id}: {len(targets.moqui) + len(targets.ofbiz)} job(s)")
    if problems:
        raise ConfigError(*problems)
    return ", ".join(counts)
