"""The App Home tab and a command form over Socket Mode: the same payloads as over HTTP, in
`events_api` and `interactive` envelopes; a form's field error comes back in the ack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.kit.forms import FORM_VIEW
from bot.kit.serve import ThreadedServer
from bot.sandbox import SandboxServer
from bot.surface.app import build_asgi_app, build_bolt_app
from bot.surface.wiring import create_services
from tests.conftest import BOT_TOKEN, settings_for, text_of, write_policy
from tests.harness.blockkit import check_view
from tests.harness.driver import (
    home_opened_event,
    slash_command_fields,
    view_click_payload,
)
from tests.harness.fakeslack import APP_ID, TEAM_DOMAIN, TEAM_ID, FakeSlack
from tests.harness.socketmode import SocketModeServer

APP_TOKEN = "xapp-1-A0OMS-1-test"
APPROVE = "oms:approval.approve#0"


def _user(user: str) -> dict[str, str]:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID}


def _event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "token": "t",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": "Ev0HOME0001",
        "event_time": 1,
    }


def _submission(view: dict[str, Any], user: str, values: dict[str, str]) -> dict[str, Any]:
    state = {k: {k: {"type": "plain_text_input", "value": v}} for k, v in values.items()}
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": _user(user),
        "api_app_id": APP_ID,
        "token": "t",
        "trigger_id": "1.2.abc",
        "view": {**view, "state": {"values": state}},
        "response_urls": [],
    }


def test_home_and_a_form_over_socket_mode(
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
        omsbot_policy=write_policy(tmp_path),
    )
    services = create_services(settings)
    services.prepare()
    bolt_app = build_bolt_app(
        services, token=BOT_TOKEN, signing_secret=None, api_url=fake_slack.api_url
    )
    with ThreadedServer(build_asgi_app(services, bolt_app, app_token=APP_TOKEN)):
        socket_server.wait_connected()
        fields = slash_command_fields("approve 10014", response_url=fake_slack.new_response_url())
        socket_server.wait_ack(socket_server.send_envelope("slash_commands", dict(fields), True))
        fake_slack.wait_for(lambda: fake_slack.messages("C_APPROVALS") or None, 15)

        # Carol (an approver) opens her Home: the request waits there with Approve.
        dm = fake_slack.dm_channel("U_CAROL")
        opened = _event(home_opened_event("U_CAROL", dm))
        socket_server.wait_ack(socket_server.send_envelope("events_api", opened))
        home = fake_slack.wait_for(lambda: next(iter(fake_slack.home_views("U_CAROL")), None), 10)
        assert not check_view(home)
        assert "Approve order 10014" in text_of({"blocks": home["blocks"]})

        press = view_click_payload(home, APPROVE, _user("U_CAROL"))
        socket_server.wait_ack(socket_server.send_envelope("interactive", press))
        done = fake_slack.wait_for(
            lambda: next((m for m in fake_slack.messages("C_OPS") if "finished" in m.text), None),
            15,
        )
        assert "started by <@U_CAROL>" in text_of(done.as_payload())

        # The import form: a HotWax id is refused on the field, in the ack; the form stays.
        fields = slash_command_fields("import", response_url=fake_slack.new_response_url())
        socket_server.wait_ack(socket_server.send_envelope("slash_commands", dict(fields), True))
        form = fake_slack.wait_for(
            lambda: next(
                (v.view for v in fake_slack.views() if v.view.get("callback_id") == FORM_VIEW),
                None,
            ),
            10,
        )
        submitted = _submission(form, "U_ALICE", {"orders": "10005"})
        envelope = socket_server.send_envelope("interactive", submitted, True)
        answer = socket_server.wait_ack(envelope)["payload"]
        assert answer["response_action"] == "errors"
        assert "HotWax order id" in answer["errors"]["orders"]
        assert json.loads(form["private_metadata"])["c"] == "import"
