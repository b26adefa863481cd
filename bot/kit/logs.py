"""Structured logs: one JSON object a line, a correlation id on every record, secrets masked.

The correlation id lives in a ContextVar. The slash-command and click paths set a fresh one;
asyncio tasks copy the context they were created in, so the handler, the run it starts and
every OMS call those make carry the same id without passing it around.

Secrets should never reach a log call in the first place; `RedactingFilter` is the last line
of defence for the ones that slip through (a third-party message, an exception's text).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from bot.kit.config import Settings

CORRELATION_ID: ContextVar[str | None] = ContextVar("omsbot_correlation_id", default=None)

# Extra fields the bot passes with `extra={...}` that the JSON line carries as its own keys.
EXTRA_FIELDS = (
    "correlation_id",
    "operation",
    "method",
    "path",
    "status",
    "ms",
    "command",
    "outcome",
    "runbook",
    "run_id",
    "seconds",
)
MASK = "[redacted]"
# Shorter values are not masked: replacing "a" in every line would destroy the log.
MIN_SECRET_LENGTH = 4

SecretSource = Callable[[], Iterable[str]]


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:12]


def set_correlation_id(value: str | None = None) -> str:
    """Start a correlation scope in the current context (a request's or a task's)."""
    cid = value or new_correlation_id()
    CORRELATION_ID.set(cid)
    return cid


def current_correlation_id() -> str | None:
    return CORRELATION_ID.get()


class CorrelationFilter(logging.Filter):
    """Stamps each record with the correlation id of the context that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "correlation_id", None):
            record.correlation_id = CORRELATION_ID.get()
        return True


def settings_secrets(settings: Settings) -> list[str]:
    """The configured secrets: Slack tokens and signing secret, OMS password and token, and
    the password inside the database URL."""
    found = [
        s.get_secret_value() if s is not None else None
        for s in (
            settings.slack_bot_token,
            settings.slack_app_token,
            settings.slack_signing_secret,
            settings.oms_password,
            settings.oms_api_token,
        )
    ]
    db_password = urlsplit(settings.omsbot_database_url).password
    return [s for s in [*found, db_password] if s and len(s) >= MIN_SECRET_LENGTH]


class RedactingFilter(logging.Filter):
    """Masks every known secret in a record's message, exception text and extra fields.

    Sources are callables so secrets that change while running (the OMS session token after
    a new login) are read at each record.
    """

    def __init__(self, *sources: SecretSource) -> None:
        super().__init__()
        self._sources: list[SecretSource] = list(sources)

    def add_source(self, source: SecretSource) -> None:
        self._sources.append(source)

    def secrets(self) -> list[str]:
        values: set[str] = set()
        for source in self._sources:
            try:
                values.update(s for s in source() if s and len(s) >= MIN_SECRET_LENGTH)
            except Exception:  # a broken source must never stop logging
                continue
        # Longest first, so a secret containing another is masked whole.
        return sorted(values, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self.secrets()
        if not secrets:
            return True
        message = record.getMessage()
        masked = mask(message, secrets)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, secrets)
        for key in EXTRA_FIELDS:
            value = getattr(record, key, None)
            if isinstance(value, str):
                setattr(record, key, mask(value, secrets))
        return True


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, correlation id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in EXTRA_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str, ensure_ascii=False)


def setup_logging(level: str, *sources: SecretSource) -> RedactingFilter:
    """JSON lines on stderr for `oms-bot run`; returns the redactor to add sources to."""
    redactor = RedactingFilter(*sources)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    # Handler filters see every record, including those propagated from child loggers.
    handler.addFilter(CorrelationFilter())
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; the OMS transport logs its own calls instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return redactor
