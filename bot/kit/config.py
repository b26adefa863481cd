"""Settings from the environment (and `.env`), validated at start.

Every setting has one name, one default and one expected form (`FORMS`), so a bad value
stops the start with one line per problem naming the setting, its value (never a secret's)
and what it should look like, e.g. `OMS_TIMEOUT=abc: expected a number of seconds ...`.
`unknown_settings` names the keys under the bot's prefixes that are no setting (a typo such
as `OMS_BASEURL` would otherwise be ignored and the default used).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.kit.suggest import closest

DEFAULT_DATABASE_URL = "sqlite:///oms-bot.db"
# HotWax's own rule for a bare Maarg instance name (accxui common/utils/commonUtil.ts:368-375).
DEFAULT_MAARG_URL_TEMPLATE = "https://{name}.hotwax.io"


class ConfigError(Exception):
    """Settings or the policy file are wrong: `problems` holds one self-contained line per
    problem, each naming what is wrong and what is expected (the message joins them)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems: tuple[str, ...] = problems


# The expected form of each setting, as a bad value's message says it.
FORMS: dict[str, str] = {
    "slack_bot_token": "a bot token starting with xoxb- (the app's OAuth & Permissions page)",
    "slack_signing_secret": "the app's signing secret (its Basic Information page)",
    "slack_app_token": "an app-level token starting with xapp- (Basic Information, "
    "App-Level Tokens)",
    "slack_api_url": "an http(s) URL, e.g. https://slack.com/api/",
    "oms_base_url": "an http(s) URL, e.g. https://demo-oms.hotwax.io",
    "oms_maarg_url": "an http(s) URL, e.g. https://demo-maarg.hotwax.io",
    "oms_maarg_url_template": "an http(s) URL with {name} exactly once, "
    "e.g. https://{name}.hotwax.io",
    "oms_username": "the OMS user the bot logs in as, e.g. ops.bot",
    "oms_password": "that user's password",
    "oms_api_token": "an OMS integration token (a JWT)",
    "oms_timeout": "a number of seconds above 0 and at most 120, e.g. 30",
    "oms_max_concurrent_reads": "a whole number from 1 to 32, e.g. 4",
    "omsbot_database_url": "sqlite:///path/to/file.db or postgresql://user@host:5432/dbname",
    "omsbot_port": "a port number from 1 to 65535, e.g. 3000",
    "omsbot_host": "an address to listen on, e.g. 0.0.0.0 or 127.0.0.1",
    "omsbot_policy": "the path of a readable TOML file, e.g. /etc/oms-bot/policy.toml",
    "omsbot_shutdown_timeout": "a number of seconds from 0 to 600, e.g. 25",
    "omsbot_run_lease": "a number of seconds from 1 to 3600, e.g. 30",
    "omsbot_update_interval_seconds": "a number of seconds from 0 to 60 between two updates "
    "of one progress message, e.g. 1 (0 updates at every step, with no coalescing)",
    "omsbot_log_level": "one of DEBUG, INFO, WARNING, ERROR",
    "omsbot_sandbox": "1 to run the Slack bot on the embedded sandbox's demo data, or 0",
    "omsbot_sandbox_tenant": "a sandbox tenant name (oms-bot sandbox --help lists them), "
    "e.g. moqui-only",
    "omsbot_audit_spool": "the path of a file the bot may create, "
    "e.g. /var/lib/oms-bot/audit-spool",
}
# Settings whose value is never repeated in a message, even when it is malformed.
HIDDEN = frozenset(
    {"slack_bot_token", "slack_signing_secret", "slack_app_token", "oms_password", "oms_api_token"}
)
# Keys under the bot's prefixes that are read by something else than the bot's settings.
NOT_SETTINGS = frozenset({"OMSBOT_TEST_POSTGRES_URL"})
PREFIXES = ("OMS_", "OMSBOT_", "SLACK_")


def _check_http_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("")  # FORMS says it
    return value.rstrip("/")


def check_maarg_template(value: str) -> str:
    """An http(s) URL with one `{name}` placeholder and no other braces; ValueError otherwise."""
    value = value.strip()
    rest = value.replace("{name}", "")
    if value.count("{name}") != 1 or "{" in rest or "}" in rest:
        raise ValueError("")  # FORMS says it
    parts = urlsplit(value.replace("{name}", "instance"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("")  # FORMS says it
    return value.rstrip("/")


class Settings(BaseSettings):
    """The bot's settings. Field names are the environment variable names, lower-cased."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Slack. With neither token set, `oms-bot run` refuses and points at
    # `oms-bot shell`; `make run` picks the console itself.
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    # HotWax OMS. OMS_BASE_URL unset means the embedded sandbox.
    oms_base_url: str | None = None
    oms_maarg_url: str | None = None
    # How a bare instance name in checkLoginOptions' maargInstanceUrl becomes a URL.
    oms_maarg_url_template: str = DEFAULT_MAARG_URL_TEMPLATE
    oms_username: str | None = None
    oms_password: SecretStr | None = None
    oms_api_token: SecretStr | None = None
    oms_timeout: float = Field(default=10.0, gt=0, le=120)
    # Requests the bot has in flight on the OMS at once, all runs together: reads a step sends
    # together wait for a slot, so the tenant is not flooded (bot/oms/transport.py).
    oms_max_concurrent_reads: int = Field(default=4, ge=1, le=32)

    # The bot itself.
    omsbot_database_url: str = DEFAULT_DATABASE_URL
    omsbot_port: int = Field(default=3000, ge=1, le=65535)
    omsbot_host: str = "0.0.0.0"
    omsbot_policy: Path | None = None
    omsbot_shutdown_timeout: float = Field(default=25.0, ge=0, le=600)
    # A run whose heartbeat is older than this is taken as dead (its process stopped).
    omsbot_run_lease: float = Field(default=30.0, ge=1, le=3600)
    # At most one chat.update per progress message this often (Slack's chat.update is Tier 3).
    omsbot_update_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    omsbot_log_level: str = "INFO"
    # The Slack bot serves the embedded sandbox only when asked: its data is demo data.
    omsbot_sandbox: bool = False
    # The kind of HotWax tenant the embedded sandbox plays (bot/sandbox/tenant.py).
    omsbot_sandbox_tenant: str = "ofbiz-maarg"
    # Where audit events wait while the database is unreachable (bot/store/spool.py); unset:
    # next to the SQLite database, or in the bot's state directory (`audit_spool_path`).
    omsbot_audit_spool: Path | None = None

    @field_validator("oms_base_url", "oms_maarg_url")
    @classmethod
    def _oms_urls(cls, value: str | None) -> str | None:
        return _check_http_url(value)

    @field_validator("oms_maarg_url_template")
    @classmethod
    def _maarg_template(cls, value: str) -> str:
        return check_maarg_template(value)

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        checked = _check_http_url(value)
        if checked is None:
            raise ValueError("")  # FORMS says it
        # slack-sdk joins base_url and the method name, so the trailing slash matters.
        return checked + "/"

    @field_validator("omsbot_database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("")  # FORMS says it
        return value

    @field_validator("omsbot_log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("")  # FORMS says it
        return upper

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("")  # FORMS says it
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("")  # FORMS says it
        return value

    @field_validator("omsbot_audit_spool")
    @classmethod
    def _audit_spool(cls, value: Path | None) -> Path | None:
        if value is not None and value.is_dir():
            raise ValueError("a directory, not a file")
        return value

    @property
    def audit_spool_path(self) -> Path:
        """The audit spool's file: the setting, else beside a SQLite database file, else
        `$XDG_STATE_HOME/oms-bot/audit-spool` (a data directory of this user)."""
        if self.omsbot_audit_spool is not None:
            return self.omsbot_audit_spool
        url = self.omsbot_database_url
        if url.startswith("sqlite:///") and ":memory:" not in url:
            database = Path(url.removeprefix("sqlite:///").partition("?")[0])
            if database.name:
                return database.with_name(database.name + ".audit-spool")
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(state) / "oms-bot" / "audit-spool"

    @field_validator("omsbot_policy")
    @classmethod
    def _policy(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file" if not value.exists() else "not a file")
        return value

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        """Settings that only make sense together: every missing partner, one per line."""
        problems = []
        if self.oms_base_url:
            has_login = self.oms_username and self.oms_password
            if not has_login and not self.oms_api_token:
                problems.append(
                    "OMS_BASE_URL is set, so set OMS_USERNAME and OMS_PASSWORD, or OMS_API_TOKEN"
                )
            if self.omsbot_sandbox:
                problems.append(
                    "OMSBOT_SANDBOX is on and OMS_BASE_URL is set: unset OMSBOT_SANDBOX to use "
                    "that OMS, or OMS_BASE_URL to use the embedded sandbox"
                )
        elif self.oms_maarg_url:
            problems.append("OMS_MAARG_URL needs OMS_BASE_URL as well")
        if self.slack_bot_token and not self.slack_app_token and not self.slack_signing_secret:
            problems.append(
                "SLACK_BOT_TOKEN is set, so set SLACK_SIGNING_SECRET (HTTP mode) or "
                "SLACK_APP_TOKEN (Socket Mode)"
            )
        if (self.slack_app_token or self.slack_signing_secret) and not self.slack_bot_token:
            problems.append("SLACK_APP_TOKEN / SLACK_SIGNING_SECRET need SLACK_BOT_TOKEN as well")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def uses_sandbox(self) -> bool:
        return self.oms_base_url is None

    @property
    def has_slack(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def slack_sandbox_refusal(self) -> str | None:
        """Why the Slack bot must not start, or None: with Slack tokens and no OMS_BASE_URL it
        would serve the embedded sandbox's demo data to real people, which takes asking for
        it with OMSBOT_SANDBOX=1 (the console has no such risk and uses the sandbox freely)."""
        if not self.has_slack or not self.uses_sandbox or self.omsbot_sandbox:
            return None
        return (
            "SLACK_BOT_TOKEN is set but OMS_BASE_URL is not: the Slack bot would answer with the "
            "embedded sandbox's demo data. Set OMS_BASE_URL (with OMS_USERNAME and OMS_PASSWORD, "
            "or OMS_API_TOKEN) to use your OMS, or OMSBOT_SANDBOX=1 to use the sandbox on purpose"
        )


def _shown(field: str, value: Any) -> str:
    """`NAME=value` for a message: a secret's value is never shown, a URL's password masked."""
    name = field.upper()
    if field in HIDDEN:
        return f"{name} (value hidden)"
    text = str(value)
    parts = urlsplit(text) if "://" in text else None
    if parts is not None and parts.password:
        text = text.replace(f":{parts.password}@", ":***@", 1)
    if len(text) > 80:
        text = text[:77] + "..."
    return f'{name}="{text}"' if text == "" or " " in text else f"{name}={text}"


def _field_problem(err: Any) -> str:
    field = str(err["loc"][0])
    detail = ""
    said = str(err["msg"]).removeprefix("Value error, ").strip()
    if err["type"] == "value_error" and said:
        detail = said + "; "
    return f"{_shown(field, err['input'])}: {detail}expected {FORMS.get(field, 'a valid value')}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; ConfigError lists every problem, one line each.

    Pairs of settings (`_pairs`) are only checked once every single value is valid, so when
    some are not, the pairs are checked again with those set to their defaults."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems: list[str] = []
        bad_fields: dict[str, Any] = {}
        for err in exc.errors():
            if err["loc"]:
                problems.append(_field_problem(err))
                field = str(err["loc"][0])
                bad_fields[field] = Settings.model_fields[field].default
            else:
                problems += str(err["msg"]).removeprefix("Value error, ").splitlines()
        if bad_fields:
            try:
                Settings(**{**overrides, **bad_fields})
            except ValidationError as again:
                named = [name.upper() for name in bad_fields]
                for err in again.errors():
                    if not err["loc"]:
                        lines = str(err["msg"]).removeprefix("Value error, ").splitlines()
                        # A pair with a bad (so defaulted) member is that member's problem.
                        problems += [ln for ln in lines if not any(n in ln for n in named)]
        raise ConfigError(*problems) from None


def _env_file() -> Path | None:
    configured = Settings.model_config.get("env_file")
    return Path(str(configured)) if isinstance(configured, str | Path) else None


def unknown_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> list[str]:
    """A line for each `OMS_*`, `OMSBOT_*` or `SLACK_*` key of the environment and of `.env`
    that is no setting: the bot ignores it, so a typo would silently leave the default."""
    environ = os.environ if environ is None else environ
    env_file = _env_file() if env_file is None else env_file
    known = sorted(name.upper() for name in Settings.model_fields)
    sources: dict[str, list[str]] = {}
    for key in environ:
        sources.setdefault(key.upper(), []).append("the environment")
    if env_file is not None and env_file.is_file():
        for key in dotenv_values(env_file):
            sources.setdefault(key.upper(), []).append(str(env_file))
    lines = []
    for key, where in sorted(sources.items()):
        if not key.startswith(PREFIXES) or key in known or key in NOT_SETTINGS:
            continue
        match = closest(key, known)
        hint = f"did you mean {match}?" if match else "the README lists the settings"
        lines.append(f"{key} (in {' and '.join(where)}) is not an oms-bot setting; {hint}")
    return lines
