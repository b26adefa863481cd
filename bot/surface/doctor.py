"""`oms-bot doctor`: check every assumption the bot makes about the tenant, read-only.

It logs in, learns the tenant's profile, runs each probe (bot/surface/doctor_*.py) and prints
one line per assumption: CONFIRMED, DIFFERENT (with redacted evidence) or UNKNOWN (with why),
then writes the same as a markdown report to attach to an issue. It never writes to the OMS:
the probes only get a `Reads` (bot/surface/doctor_reads.py). Exit codes: 0 when it ran
(whatever it found), 1 when it could not log in or learn the tenant, 2 for bad settings or
policy.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.kit.config import ConfigError, Settings, load_settings
from bot.oms import OmsClient, OmsError, TenantProfile
from bot.surface import doctor_jobs, doctor_orders, doctor_records, doctor_session
from bot.surface.doctor_context import Context, SessionFacts, Targets, run_probe
from bot.surface.doctor_reads import Reads
from bot.surface.doctor_report import (
    NO_WRITE,
    Finding,
    console_line,
    redacted_error,
    render,
    tally,
)
from bot.surface.wiring import connect_oms, load_checked_policy

Printer = Callable[[str], None]
DEFAULT_REPORT = Path("oms-bot-doctor.md")
PROBES = (
    *doctor_session.PROBES,
    *doctor_orders.PROBES,
    *doctor_jobs.PROBES,
    *doctor_records.PROBES,
)


def _targets(settings: Settings) -> Targets:
    """What the policy's `[stores]` names (the embedded sandbox supplies its own)."""
    policy = load_checked_policy(settings)
    if settings.uses_sandbox:
        from bot.sandbox import DEMO_ORDER_SYNC_JOB, DEMO_SHOPIFY_REMOTE

        policy = policy.with_store_defaults(
            shopify_remote=DEMO_SHOPIFY_REMOTE, order_sync_job=DEMO_ORDER_SYNC_JOB
        )
    stores = policy.stores
    return Targets(stores.shopify_remote, stores.order_sync_job, stores.default)


async def _facts(client: OmsClient, settings: Settings) -> SessionFacts:
    found = await client.discovery()
    try:
        options, problem = await client.read_login_options(), ""
    except OmsError as exc:
        options, problem = None, exc.message
    return SessionFacts(
        discovery=found,
        options=options,
        options_problem=problem,
        login_route=client.login_route,
        login_answer=client.login_answer,
        uses_api_token=client.uses_api_token,
        maarg_configured=settings.oms_maarg_url is not None,
    )


def _write(
    report: Path, findings: list[Finding], profile: TenantProfile | None, problem: str
) -> None:
    text = render(findings, profile, when=datetime.now(UTC), problem=problem)
    report.write_text(text, encoding="utf-8")


async def run_doctor(printer: Printer, report: Path = DEFAULT_REPORT) -> int:
    printer(NO_WRITE)
    try:
        settings = load_settings()
        targets = _targets(settings)
    except ConfigError as exc:
        printer(f"oms-bot doctor: {exc}")
        return 2
    client, sandbox = connect_oms(settings)
    try:
        step = "login"
        try:
            user = await client.check_login()
            step = "tenant"
            facts = await _facts(client, settings)
            profile = await client.profile()
        except OmsError as exc:
            # Nothing can be probed without a session and a tenant; the report says why.
            printer(f"FAILED     {step}: {exc}")
            # The report is for sharing: the OMS's own words (which may quote the user) stay
            # on the console.
            _write(report, [], None, f"{exc.operation} failed: {redacted_error(exc)}")
            printer(f"Report written to {report}")
            return 1
        printer(f"Logged in as {user}; tenant: {profile.describe()}")
        ctx = Context(Reads(client), facts, profile, targets)
        findings = []
        # One probe at a time: gentle on a production OMS.
        for probe in PROBES:
            finding = await run_probe(probe, ctx)
            printer(console_line(finding))
            findings.append(finding)
        _write(report, findings, profile, "")
        printer(f"{tally(findings)}. Report written to {report}")
        return 0
    finally:
        await client.aclose()
        if sandbox is not None:
            sandbox.stop()
