"""The embedded HotWax OMS simulator: OFBiz /api and Maarg /rest/s1 on one port.

It behaves as HotWax does where the bot relies on it (each behaviour with its source in
docs/oms-api.md), seeded with one scenario per runbook branch. The console, the tests and
the benchmarks run against it. It imports only the kit: never the client it stands in for.
"""

from bot.sandbox.data import (
    CONTACT_MECH_ERROR,
    DEMO_API_TOKEN,
    DEMO_API_USER,
    DEMO_ORDER_SYNC_JOB,
    DEMO_PASSWORD,
    DEMO_SHOPIFY_REMOTE,
    DEMO_USERNAME,
    MISSING_ADDRESS_ERROR,
    SCENARIOS,
    SYNC_SHOPIFY_ORDER,
)
from bot.sandbox.records import Scenario
from bot.sandbox.server import SandboxServer, build_app, run_sandbox_cli, serve_forever
from bot.sandbox.state import (
    BAD_EMAIL_ERROR,
    RecordedRequest,
    SandboxNotFound,
    SandboxServiceError,
    SandboxState,
    SyncOutcome,
)
from bot.sandbox.sync import TIMESTAMP_ERROR
from bot.sandbox.tenant import TENANTS, Tenant, tenant_named, variant

__all__ = [
    "BAD_EMAIL_ERROR",
    "CONTACT_MECH_ERROR",
    "DEMO_API_TOKEN",
    "DEMO_API_USER",
    "DEMO_ORDER_SYNC_JOB",
    "DEMO_PASSWORD",
    "DEMO_SHOPIFY_REMOTE",
    "DEMO_USERNAME",
    "MISSING_ADDRESS_ERROR",
    "SCENARIOS",
    "SYNC_SHOPIFY_ORDER",
    "TENANTS",
    "TIMESTAMP_ERROR",
    "RecordedRequest",
    "SandboxNotFound",
    "SandboxServer",
    "SandboxServiceError",
    "SandboxState",
    "Scenario",
    "SyncOutcome",
    "Tenant",
    "build_app",
    "run_sandbox_cli",
    "serve_forever",
    "tenant_named",
    "variant",
]
