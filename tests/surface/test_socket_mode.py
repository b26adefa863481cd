"""`/oms help` and an OMS-backed command answered over Socket Mode, through a fake websocket."""

from __future__ import annotations

from pathlib import Path

from bot.kit.serve import ThreadedServer
from bot.sandbox import SandboxServer
from bot.surface.app import build_asgi_app, build_bolt_app
from bot.surface.wiring import create_services
from tests.conftest import BOT_TOKEN, gated, settings_for, text_of
from tests.harness.driver import slash_command_fields
from tests.harness.fakeslack import FakeSlack
from tests.harness.socketmode import SocketModeServer

APP_TOKEN = "xapp-1-A0OMS-1-test"


def test_help_and_order_over_socket_mode(
    fake_slack: FakeSlack,
    socket_server: SocketModeServer,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    settings = settings_for(
        fake_slack,
        sandbox,
        tmp_path / "bot.db",
        slack_app_token=APP_TOKEN,
        slack_signing_secret=None,
    )
    services = create_services(settings)
    bolt_app = build_bolt_app(
        services, token=BOT_TOKEN, signing_secret=None, api_url=fake_slack.api_url
    )
    # The lifespan connects the socket; no /slack/events route exists in Socket Mode.
    with ThreadedServer(build_asgi_app(services, bolt_app, app_token=APP_TOKEN)):
        socket_server.wait_connected()
        opened = fake_slack.calls("apps.connections.open")
        assert opened and opened[0].headers["authorization"] == f"Bearer {APP_TOKEN}"

        fields = slash_command_fields("help", response_url=fake_slack.new_response_url())
        envelope = socket_server.send_envelope("slash_commands", dict(fields), True)
        ack = socket_server.wait_ack(envelope)
        assert ack["envelope_id"] == envelope
        shown = text_of(gated(ack["payload"]))
        assert "oms-bot commands" in shown and "/oms order <order>" in shown

        response_url = fake_slack.new_response_url()
        fields = slash_command_fields("order #1003", response_url=response_url)
        envelope = socket_server.send_envelope("slash_commands", dict(fields), True)
        assert "Working on" in socket_server.wait_ack(envelope)["payload"]["text"]
        post = fake_slack.wait_for(lambda: fake_slack.response_posts(response_url) or None)
        assert "10013" in text_of(gated(post[0].body))
