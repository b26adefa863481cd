"""The embedded HotWax OMS simulator: OFBiz /api and Maarg /rest/s1 on one port."""

from bot.sandbox.data import (
    CONTACT_MECH_ERROR,
    DEMO_API_TOKEN,
    DEMO_API_USER,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    SCENARIOS,
)
from bot.sandbox.records import Scenario
from bot.sandbox.server import SandboxServer, build_app, run_sandbox_cli, serve_forever
from bot.sandbox.state import RecordedRequest, SandboxServiceError, SandboxState

__all__ = [
    "CONTACT_MECH_ERROR",
    "DEMO_API_TOKEN",
    "DEMO_API_USER",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "SCENARIOS",
    "RecordedRequest",
    "SandboxServer",
    "SandboxServiceError",
    "SandboxState",
    "Scenario",
    "build_app",
    "run_sandbox_cli",
    "serve_forever",
]
