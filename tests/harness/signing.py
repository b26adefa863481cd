"""Sign request bodies the way Slack does, so the app's own verification stays switched on."""

from __future__ import annotations

import time

from slack_sdk.signature import SignatureVerifier


def sign(signing_secret: str, timestamp: int, body: str) -> str:
    """Return the `X-Slack-Signature` value (`v0=<hex hmac>`) for a raw body."""
    signature = SignatureVerifier(signing_secret).generate_signature(
        timestamp=str(timestamp), body=body
    )
    # generate_signature is typed Optional only because it returns None for a None body.
    assert signature is not None
    return str(signature)


def signed_headers(
    signing_secret: str,
    body: str,
    timestamp: int | None = None,
    *,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    """Headers for a signed POST; `timestamp` defaults to now (Slack allows +-300 s)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": sign(signing_secret, stamp, body),
    }
