"""The `oms-bot` command: run | shell | sandbox | check-config | doctor."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from bot.kit.config import ConfigError, Settings, load_settings, unknown_settings
from bot.kit.logs import RedactingFilter, settings_secrets, setup_logging
from bot.sandbox.tenant import TENANTS

log = logging.getLogger("oms_bot")


def _setup_logging(settings: Settings) -> RedactingFilter:
    """JSON lines on stderr with correlation ids; the configured secrets are masked."""
    return setup_logging(settings.omsbot_log_level, lambda: settings_secrets(settings))


def _print_problems(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(f"oms-bot: {problem}", file=sys.stderr)


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _print_problems(exc)
        # A misspelled key is often why a setting is missing: name those too.
        for warning in unknown_settings():
            print(f"oms-bot: warning: {warning}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(_: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    unknown = unknown_settings()
    if not settings.has_slack:
        for warning in unknown:
            print(f"oms-bot: warning: {warning}", file=sys.stderr)
        print(
            "No Slack credentials (SLACK_BOT_TOKEN) are set: opening the console instead.\n"
            "Set SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN "
            "(Socket Mode) to connect to Slack; see the README.",
            file=sys.stderr,
        )
        return _shell(settings, user_id=None, lines=None)
    refusal = settings.slack_sandbox_refusal()
    if refusal:
        for warning in unknown:
            print(f"oms-bot: warning: {warning}", file=sys.stderr)
        print(f"oms-bot: refusing to start: {refusal}", file=sys.stderr)
        return 2
    redactor = _setup_logging(settings)
    for warning in unknown:
        log.warning("%s", warning)
    return _serve(settings, redactor)


def _serve(settings: Settings, redactor: RedactingFilter | None = None) -> int:
    import uvicorn

    from bot.kit.serve import DrainingServer
    from bot.store import StoreUnavailable
    from bot.surface.app import build_asgi_app, build_bolt_app, drain
    from bot.surface.wiring import create_services

    try:
        services = create_services(settings)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    if redactor is not None:
        # The OMS session token changes at each login: read it at every record.
        redactor.add_source(services.oms.secrets)
    try:
        services.prepare()
    except StoreUnavailable as exc:
        log.error("refusing to start: %s", exc)
        services.store.dispose()
        if services.sandbox:
            services.sandbox.stop()
        return 3
    if services.sandbox is not None:
        log.warning(
            "OMSBOT_SANDBOX is on: answering with the embedded HotWax sandbox's demo data (%s)",
            services.sandbox.url,
        )
    assert settings.slack_bot_token is not None
    bolt_app = build_bolt_app(
        services,
        token=settings.slack_bot_token.get_secret_value(),
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        ),
        api_url=settings.slack_api_url,
    )
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    asgi = build_asgi_app(services, bolt_app, app_token=app_token)
    mode = (
        "Socket Mode" if app_token else f"HTTP mode, POST /slack/events on :{settings.omsbot_port}"
    )
    log.info("oms-bot starting (%s)", mode)
    config = uvicorn.Config(
        asgi,
        host=settings.omsbot_host,
        port=settings.omsbot_port,
        lifespan="on",
        log_level=settings.omsbot_log_level.lower(),
        access_log=False,
        # No logging config of uvicorn's own: its records go to the root JSON handler.
        log_config=None,
        # On SIGTERM the server first drains (DrainingServer): it keeps answering, new work
        # told "restarting", while the work in flight finishes (OMSBOT_SHUTDOWN_TIMEOUT); it
        # then stops accepting and waits this long for open requests.
        timeout_graceful_shutdown=5,
    )
    DrainingServer(config, lambda: drain(services)).run()
    return 0


def _shell(settings: Settings, *, user_id: str | None, lines: list[str] | None) -> int:
    from bot.store import StoreUnavailable
    from bot.surface.console import DEFAULT_USER, run_interactive, run_script
    from bot.surface.wiring import create_services

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        services = create_services(settings)
        services.prepare()
    except (ConfigError, StoreUnavailable) as exc:
        print(f"oms-bot: {exc}", file=sys.stderr)
        return 2
    if lines is not None:
        return asyncio.run(run_script(services, lines, user_id=user_id or DEFAULT_USER))
    return run_interactive(services, user_id=user_id or DEFAULT_USER)


def cmd_shell(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    return _shell(settings, user_id=args.as_user, lines=args.command)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bot.sandbox import run_sandbox_cli

    run_sandbox_cli(args.port, args.tenant)
    return 0


def cmd_check_config(_: argparse.Namespace) -> int:
    from bot.surface.checks import run_checks

    return asyncio.run(run_checks(print))


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.surface.doctor import run_doctor

    return asyncio.run(run_doctor(print, args.report))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "shell": cmd_shell,
    "sandbox": cmd_sandbox,
    "check-config": cmd_check_config,
    "doctor": cmd_doctor,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oms-bot", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run", help="run the bot (Slack when configured, else the console)")
    shell = sub.add_parser("shell", help="the bot in a terminal, against the sandbox by default")
    shell.add_argument(
        "-c",
        "--command",
        action="append",
        metavar="LINE",
        help="run this line (repeatable) and exit; non-zero if one failed",
    )
    shell.add_argument(
        "--as",
        dest="as_user",
        metavar="USER_ID",
        help="act as this Slack user id (default: a demo user)",
    )
    sandbox = sub.add_parser("sandbox", help="run the embedded HotWax OMS sandbox alone")
    sandbox.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    sandbox.add_argument(
        "--tenant",
        default="ofbiz-maarg",
        choices=sorted(TENANTS),
        help="the kind of HotWax tenant to play (default ofbiz-maarg)",
    )
    sub.add_parser(
        "check-config", help="check settings, OMS, Slack and database; non-zero on failure"
    )
    doctor = sub.add_parser(
        "doctor",
        help="check the bot's assumptions about the OMS tenant (read-only, safe on production)",
    )
    doctor.add_argument(
        "--report",
        type=Path,
        default=Path("oms-bot-doctor.md"),
        metavar="PATH",
        help="where to write the markdown report (default oms-bot-doctor.md)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
