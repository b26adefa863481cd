"""What the sandbox's own tests share: an HTTP client logged in to the sandbox under test.

Each module brings its `sandbox` (its clock and knobs differ); the root conftest's serves the
modules that do not."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=5.0) as client:
        token = client.post(
            "/api/login", json={"USERNAME": DEMO_USERNAME, "PASSWORD": DEMO_PASSWORD}
        ).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
