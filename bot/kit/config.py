"""Settings from the environment (and `.env`), validated at start.

Every setting has one name, one default and one expected form, so a bad value stops the
start with a message naming the setting and what it should look like (see `ConfigError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///oms-bot.db"
# HotWax's own rule for a bare Maarg instance name (accxui common/utils/commonUtil.ts:368-375).
DEFAULT_MAARG_URL_TEMPLATE = "https://{name}.hotwax.io"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and the expected form."""


def _check_http_url(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL such as https://demo-oms.hotwax.io")
    return value.rstrip("/")


def check_maarg_template(value: str) -> str:
    """An http(s) URL with one `{name}` placeholder and no other braces; ValueError otherwise."""
    example = "such as https://{name}.hotwax.io"
    value = value.strip()
    rest = value.replace("{name}", "")
    if value.count("{name}") != 1 or "{" in rest or "}" in rest:
        raise ValueError(f"OMS_MAARG_URL_TEMPLATE must contain {{name}} exactly once, {example}")
    parts = urlsplit(value.replace("{name}", "instance"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"OMS_MAARG_URL_TEMPLATE must be an http(s) URL, {example}")
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

    # The bot itself.
    omsbot_database_url: str = DEFAULT_DATABASE_URL
    omsbot_port: int = Field(default=3000, ge=1, le=65535)
    omsbot_host: str = "0.0.0.0"
    omsbot_policy: Path | None = None
    omsbot_shutdown_timeout: float = Field(default=25.0, ge=0, le=600)
    # A run whose heartbeat is older than this is taken as dead (its process stopped).
    omsbot_run_lease: float = Field(default=30.0, ge=1, le=3600)
    omsbot_log_level: str = "INFO"
    # The kind of HotWax tenant the embedded sandbox plays (bot/sandbox/tenant.py).
    omsbot_sandbox_tenant: str = "ofbiz-maarg"

    @field_validator("oms_base_url", "oms_maarg_url")
    @classmethod
    def _oms_urls(cls, value: str | None, info: Any) -> str | None:
        return _check_http_url(info.field_name.upper(), value)

    @field_validator("oms_maarg_url_template")
    @classmethod
    def _maarg_template(cls, value: str) -> str:
        return check_maarg_template(value)

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        checked = _check_http_url("SLACK_API_URL", value)
        if checked is None:
            raise ValueError("SLACK_API_URL must be an http(s) URL such as https://slack.com/api/")
        # slack-sdk joins base_url and the method name, so the trailing slash matters.
        return checked + "/"

    @field_validator("omsbot_database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                "OMSBOT_DATABASE_URL must be sqlite:///path/to/file.db or "
                "postgresql://user@host:5432/dbname"
            )
        return value

    @field_validator("omsbot_log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("OMSBOT_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR")
        return upper

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        return value

    @field_validator("omsbot_policy")
    @classmethod
    def _policy(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"OMSBOT_POLICY must name a readable TOML file; {value} is not a file")
        return value

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        if self.oms_base_url:
            has_login = self.oms_username and self.oms_password
            if not has_login and not self.oms_api_token:
                raise ValueError(
                    "OMS_BASE_URL is set, so set OMS_USERNAME and OMS_PASSWORD, or OMS_API_TOKEN"
                )
        elif self.oms_maarg_url:
            raise ValueError("OMS_MAARG_URL needs OMS_BASE_URL as well")
        if self.slack_bot_token and not self.slack_app_token and not self.slack_signing_secret:
            raise ValueError(
                "SLACK_BOT_TOKEN is set, so set SLACK_SIGNING_SECRET (HTTP mode) or "
                "SLACK_APP_TOKEN (Socket Mode)"
            )
        if (self.slack_app_token or self.slack_signing_secret) and not self.slack_bot_token:
            raise ValueError("SLACK_APP_TOKEN / SLACK_SIGNING_SECRET need SLACK_BOT_TOKEN as well")
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


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one line per bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p).upper() for p in err["loc"]) or "settings"
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(msg if loc == "settings" or loc in msg else f"{loc}: {msg}")
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(lines)) from None
