"""Typed errors for every way an OMS call can fail.

Each error names the operation the user asked for ("find order by Shopify order name") and
carries the OMS's own message, so a handler can tell the user which call failed and why
without knowing anything about HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable

_REDACTED = "[redacted]"


class OmsError(Exception):
    """Base class: `operation` is what we tried, `message` is why it failed."""

    def __init__(self, operation: str, message: str) -> None:
        super().__init__(operation, message)
        self.operation = operation
        self.message = message

    def __str__(self) -> str:
        return f"{self.operation} failed: {self.message}"

    def redact(self, secrets: Iterable[str]) -> None:
        """Blank out any secret the OMS (or an exception text) echoed back into the message."""
        for secret in secrets:
            # Very short "secrets" would shred ordinary words; real passwords/tokens are longer.
            if len(secret) >= 4 and secret in self.message:
                self.message = self.message.replace(secret, _REDACTED)


class OmsUnavailable(OmsError):
    """The OMS could not be reached or did not answer: refused, timed out, 5xx.

    `sent` is False only when the request surely never reached the OMS (the connection was
    refused or never made): a write then surely did nothing. Otherwise (a timeout while
    waiting, a 502 from a proxy) the OMS may have applied it, and only a read-back can tell.
    """

    def __init__(self, operation: str, message: str, *, sent: bool = True) -> None:
        super().__init__(operation, message)
        self.sent = sent


class OmsAuthError(OmsError):
    """Logging in failed, or the OMS refused the token even after logging in again."""


class OmsRequestError(OmsError):
    """The OMS understood the call and said no (a business error)."""

    def __init__(self, operation: str, message: str, *, status_code: int | None = None) -> None:
        super().__init__(operation, message)
        self.status_code = status_code


class OmsBadResponse(OmsError):
    """The OMS answered with something that is not the documented shape (HTML, broken JSON)."""
