"""Issue 15 over Socket Mode: the message shortcut, a `link_shared` event and the unfurl's
Check button, sent as Slack's envelopes through a fake websocket."""

from __future__ import annotations

from pathlib import Path

from bot.kit.serve import ThreadedServer
from bot.sandbox import SandboxServer
from bot.surface.app import build_asgi_app, build_bolt_app
from bot.surface.wiring import create_services
from tests.conftest import BOT_TOKEN, gated, settings_for, text_of, write_policy
from tests.harness.fakeslack import FakeSlack
from tests.harness.socketmode import SocketModeServer
from tests.surface.links_payloads import link_shared, message_action, unfurl_click

APP_TOKEN = "xapp-1-A0OMS-1-test"


def test_shortcut_unfurl_and_check_button_over_socket_mode(
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
        omsbot_policy=write_policy(tmp_path, two_person=False),
    )
    services = create_services(settings)
    bolt_app = build_bolt_app(
        services, token=BOT_TOKEN, signing_secret=None, api_url=fake_slack.api_url
    )
    with ThreadedServer(build_asgi_app(services, bolt_app, app_token=APP_TOKEN)):
        socket_server.wait_connected()

        # The shortcut: acknowledged, then answered in the message's thread.
        payload = message_action(fake_slack, "is #1003 ok?", ts="1764500000.000500")
        envelope = socket_server.send_envelope("interactive", payload)
        assert socket_server.wait_ack(envelope)["envelope_id"] == envelope

        def thread() -> list[str] | None:
            found = [
                text_of(gated({"text": m.text, "blocks": m.blocks}))
                for m in fake_slack.messages("C_OPS")
                if m.thread_ts == "1764500000.000500"
            ]
            return found if len(found) >= 2 else None

        intro, card = fake_slack.wait_for(thread, timeout=30)
        assert "asked me to check 1 order: `#1003`" in intro
        assert "Looks fine: the order is Completed" in card

        # The link: unfurled into the order card.
        url = "https://demo-shop.myshopify.com/admin/orders/6100000000003"
        envelope = socket_server.send_envelope("events_api", link_shared([url]))
        socket_server.wait_ack(envelope)
        unfurl = fake_slack.wait_for(lambda: fake_slack.unfurls() or None, timeout=30)[0]
        shown = text_of(gated({"text": "x", **unfurl.unfurls[url]}))
        assert "*Order #1003* · Completed · POS · store STORE · 2 versions" in shown

        # Its Check button: /oms check for whoever pressed it.
        click = unfurl_click(
            fake_slack, unfurl.unfurls[url]["blocks"], url, "oms-command:check", user="U_BOB"
        )
        envelope = socket_server.send_envelope("interactive", click)
        socket_server.wait_ack(envelope)
        reply = click["response_url"]
        posts = fake_slack.wait_for(lambda: fake_slack.response_posts(reply) or None, timeout=30)
        assert "acting on `10013`" in text_of(gated(posts[-1].body))
