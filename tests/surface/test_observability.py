"""Observability through the real endpoint: /metrics after real commands and clicks, the
correlation id across a command, its run and its OMS calls, JSON log lines, and no secret
in any message or log line when the OMS echoes the password."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.engine.metrics import endpoint_label, slack_method
from bot.kit.config import load_settings
from bot.kit.logs import (
    MASK,
    CorrelationFilter,
    JsonFormatter,
    RedactingFilter,
    set_correlation_id,
    settings_secrets,
)
from bot.sandbox import DEMO_PASSWORD, SandboxServer
from tests.conftest import (
    BOT_TOKEN,
    SIGNING_SECRET,
    BotFactory,
    RunningBot,
    bot_env,
    text_of,
)
from tests.harness.driver import SlackDriver
from tests.harness.fakeslack import FakeSlack
from tests.processes import clean_env, free_port, spawn_bot, wait_healthy
from tests.secret_scan import PLUGIN_NAME, SecretScan

APPROVE = "oms:approval.approve#0"
CONFIRM = "oms:approve.confirm#0"

POLICY = """
[roles]
operator = ["U_ALICE"]
approver = ["S_APPROVERS"]

[approvals]
channel = "C_APPROVALS"

[approvals.actions]
{actions}

[[digests]]
id = "ops-daily"
channel = "C_OPS"
cron = "{cron}"
timezone = "UTC"
window = "7d"

[stores]
shopify_remote = "DEMO_SHOP_REMOTE"
order_sync_job = "queue_ShopifyOrderSync_10000"
"""


def dormant_cron() -> str:
    """A yearly cron due at noon (UTC, the schedule's zone) on the date 180 days before the
    test's start.

    Date-proof: during the test its newest slot is about 180 days old, far beyond the
    schedule's grace (6h by default; with no earlier slot recorded the catch-up at start posts
    nothing), and its next about 185 days away (four years when the date is 29 February), so
    no scheduled digest joins the ones the test asks for, whatever the date. A fixed date
    would not do: "0 3 29 2 *" fires on 29 February.
    """
    due = datetime.fromtimestamp(time.time() - 180 * 86400, UTC)
    return f"0 12 {due.day} {due.month} *"


def policy(tmp_path: Path, *, two_person: bool = True) -> Path:
    path = tmp_path / f"policy-{time.monotonic_ns()}.toml"
    actions = 'approve = ["approver"]' if two_person else ""
    path.write_text(POLICY.format(actions=actions, cron=dormant_cron()))
    return path


def scrape(bot: RunningBot) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics and parse it as Prometheus text: (sample name, labels) -> value."""
    response = httpx.get(f"{bot.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
    return values


def value(bot: RunningBot, name: str, **labels: str) -> float | None:
    return scrape(bot).get((name, frozenset(labels.items())))


def wait_value(bot: RunningBot, expected: float, name: str, **labels: str) -> None:
    """Wait until the sample has the expected value (work after the ack ends a bit later)."""

    def reached() -> bool | None:
        return value(bot, name, **labels) == expected or None

    try:
        bot.fake.wait_for(reached, timeout=15)
    except AssertionError:
        got = value(bot, name, **labels)
        raise AssertionError(f"{name}{labels} is {got}, expected {expected}") from None


# ---- /metrics --------------------------------------------------------------------------------


def test_metrics_count_commands_runs_oms_calls_approvals_digests_and_slack_errors(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=policy(tmp_path))
    assert value(bot, "omsbot_pending_approvals") == 0
    # Answered in the ack: help, a usage error, an unknown command.
    bot.ack("help")
    bot.ack("order")
    bot.ack("frobnicate 12")
    assert value(bot, "omsbot_commands_total", command="help", outcome="ok") == 1
    assert value(bot, "omsbot_commands_total", command="order", outcome="usage_error") == 1
    # What a user typed never becomes a label.
    assert value(bot, "omsbot_commands_total", command="?", outcome="usage_error") == 1
    assert not any("frobnicate" in str(key) for key in scrape(bot))

    # A read after the ack.
    assert "Status history" in text_of(bot.reply_post(bot.slash("order 10002")).body)
    wait_value(bot, 1, "omsbot_commands_total", command="order", outcome="ok")

    # A two-person approval: pending while it waits, then the wait time and the run.
    sent = bot.slash("approve 10014", user="U_ALICE")
    assert "needs a second person" in text_of(bot.reply_post(sent, timeout=15).body)
    request = bot.wait_message(lambda m: "Approval needed" in m.text, channel="C_APPROVALS")
    assert value(bot, "omsbot_pending_approvals") == 1
    bot.driver.click(request, APPROVE, user="U_CAROL")
    bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    wait_value(bot, 1, "omsbot_run_duration_seconds_count", runbook="approve", outcome="done")
    wait_value(bot, 1, "omsbot_commands_total", command="click approval.approve", outcome="ok")
    assert value(bot, "omsbot_approval_wait_seconds_count", decision="approved") == 1
    assert value(bot, "omsbot_pending_approvals") == 0
    assert value(bot, "omsbot_commands_total", command="approve", outcome="ok") == 1

    # A digest posted after one 429 (the client waits and retries), and one Slack refused.
    bot.fake.rate_limit_next("chat.postMessage", retry_after=1)
    assert "Posted" in text_of(bot.reply_post(bot.slash("digest now --since 7d")).body)
    wait_value(bot, 1, "omsbot_digest_posts_total", outcome="ok")
    assert value(bot, "omsbot_slack_rate_limited_total", method="chat.postMessage") == 1
    bot.fake.fail_next("chat.postMessage", "channel_not_found")
    bot.reply_post(bot.slash("digest now --since 7d"))
    wait_value(bot, 1, "omsbot_digest_posts_total", outcome="failed")
    errors = value(
        bot, "omsbot_slack_api_errors_total", method="chat.postMessage", error="channel_not_found"
    )
    assert errors == 1

    # Every HTTP exchange the OMS received was timed, under its endpoint with ids as {id}.
    values = scrape(bot)
    timed = sum(
        v for (name, _), v in values.items() if name == "omsbot_oms_request_duration_seconds_count"
    )
    assert timed == len(bot.sandbox.state.requests())
    writes = bot.sandbox.state.requests("/api/service/changeOrderStatus", "POST")
    assert len(writes) == 1
    write_label = frozenset(
        {"operation": "POST /api/service/changeOrderStatus", "status": "200"}.items()
    )
    assert values[("omsbot_oms_request_duration_seconds_count", write_label)] == 1
    login = frozenset({"operation": "POST /api/login", "status": "200"}.items())
    assert values[("omsbot_oms_request_duration_seconds_count", login)] == 1


def test_forged_click_is_counted_under_a_fixed_label(bot: RunningBot) -> None:
    message = {
        "text": "x",
        "blocks": [
            {
                "type": "actions",
                "block_id": "b1",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "oms:no.such.action#7",
                        "text": {"type": "plain_text", "text": "Go"},
                        "value": "forged-token",
                    }
                ],
            }
        ],
    }
    posted = bot.fake.message(
        "C_OPS",
        str(
            httpx.post(
                f"{bot.fake.api_url}chat.postMessage",
                headers={"Authorization": f"Bearer {BOT_TOKEN}"},
                json={"channel": "C_OPS", **message},
            ).json()["ts"]
        ),
    )
    bot.driver.click(posted, "oms:no.such.action#7", user="U_ALICE")
    wait_value(bot, 1, "omsbot_commands_total", command="click ?", outcome="refused")
    assert not any("no.such.action" in str(key) for key in scrape(bot))


def test_metrics_are_served_in_socket_mode_too(
    fake_slack: FakeSlack, sandbox: SandboxServer, socket_server: object, tmp_path: Path
) -> None:
    from bot.kit.serve import ThreadedServer
    from bot.surface.app import build_asgi_app, build_bolt_app
    from bot.surface.wiring import create_services
    from tests.conftest import settings_for

    services = create_services(settings_for(fake_slack, sandbox, tmp_path / "s.db"))
    services.prepare()
    bolt = build_bolt_app(
        services, token=BOT_TOKEN, signing_secret=None, api_url=fake_slack.api_url
    )
    server = ThreadedServer(build_asgi_app(services, bolt, app_token="xapp-1-A1-test"))
    server.start()
    try:
        response = httpx.get(f"{server.url}/metrics", timeout=10)
        assert response.status_code == 200
        assert "omsbot_pending_approvals 0.0" in response.text
        assert "# TYPE omsbot_commands_total counter" in response.text
    finally:
        server.stop()


def test_every_bot_has_its_own_registry(make_bot: BotFactory, tmp_path: Path) -> None:
    first = make_bot(db_path=tmp_path / "a.db")
    second = make_bot(db_path=tmp_path / "b.db")
    first.ack("help")
    assert value(first, "omsbot_commands_total", command="help", outcome="ok") == 1
    assert value(second, "omsbot_commands_total", command="help", outcome="ok") is None


def test_label_helpers_keep_ids_out() -> None:
    assert (
        endpoint_label("get", "/api/oms/orders/10002/status") == "GET /api/oms/orders/{id}/status"
    )
    assert endpoint_label("POST", "/rest/s1/admin/checkLoginOptions") == (
        "POST /rest/s1/admin/checkLoginOptions"
    )
    assert slack_method("http://x/api/chat.postMessage") == "chat.postMessage"
    assert slack_method("http://x/upload/v1/F123") == "upload"


# ---- correlation ids and log lines -----------------------------------------------------------


class Collect(logging.Handler):
    """The bot's log records as `oms-bot run` would stamp them (correlation filter)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.addFilter(CorrelationFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected() -> Iterator[Collect]:
    handler = Collect()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(min(old, logging.INFO) or logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def test_correlation_id_follows_command_and_click_through_the_run_to_each_oms_call(
    make_bot: BotFactory, tmp_path: Path, collected: Collect
) -> None:
    bot = make_bot(omsbot_policy=policy(tmp_path, two_person=False))
    card = bot.reply_post(bot.slash("approve 10014", user="U_ALICE"), timeout=15)
    bot.driver.click_ephemeral(card, CONFIRM, user="U_ALICE")
    bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    bot.fake.wait_for(
        lambda: any("approve) done" in r.getMessage() for r in collected.records) or None
    )
    records = [r for r in collected.records if r.name.startswith("bot.")]

    def ids(predicate: object) -> set[str | None]:
        assert callable(predicate)
        return {getattr(r, "correlation_id", None) for r in records if predicate(r)}

    # The command: its start line, its end line and its OMS reads (the preview) share one id.
    (command_id,) = ids(lambda r: r.getMessage().startswith("/oms approve"))
    assert command_id
    oms_calls = [r for r in records if r.name == "bot.oms.transport"]
    reads = [r for r in oms_calls if getattr(r, "correlation_id", None) == command_id]
    assert reads and all(r.method in ("GET", "POST") for r in reads)  # type: ignore[attr-defined]
    # The click: its line, the run it started and the run's OMS writes share another id.
    (click_id,) = ids(lambda r: r.getMessage().startswith("click approve.confirm"))
    assert click_id and click_id != command_id
    assert ids(lambda r: r.getMessage().startswith("run ")) == {click_id}
    writes = [r for r in oms_calls if r.path == "/api/service/changeOrderStatus"]  # type: ignore[attr-defined]
    assert len(writes) == 1 and writes[0].correlation_id == click_id  # type: ignore[attr-defined]
    assert writes[0].status == "200" and writes[0].operation  # type: ignore[attr-defined]
    # Every OMS call of this test belongs to the command or the click.
    assert {getattr(r, "correlation_id", None) for r in oms_calls} == {command_id, click_id}
    # And the lines are JSON, with the id as its own key.
    for record in records:
        line = json.loads(JsonFormatter().format(record))
        assert line["correlation_id"] == record.correlation_id  # type: ignore[attr-defined]
        assert line["logger"] == record.name and line["message"]


def test_oms_run_logs_json_lines_with_correlation_ids_and_no_secret(
    tmp_path: Path, fake_slack: FakeSlack, sandbox: SandboxServer
) -> None:
    """The real `oms-bot run` process: every stderr line is a JSON object."""
    port = free_port()
    env = clean_env(**bot_env(fake_slack, sandbox, tmp_path / "bot.db"))
    env.update(OMSBOT_PORT=str(port), OMSBOT_HOST="127.0.0.1")
    proc = spawn_bot(env, tmp_path, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        driver = SlackDriver(f"{url}/slack/events", SIGNING_SECRET, fake_slack)
        sent = driver.slash("order 10002")
        fake_slack.wait_for(lambda: fake_slack.response_posts(sent.response_url) or None, 15)
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert 'omsbot_commands_total{command="order",outcome="ok"} 1.0' in metrics
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert any(x["logger"].startswith("uvicorn") for x in lines)  # uvicorn's lines too
    (started,) = [x for x in lines if x["message"].startswith("/oms order started")]
    cid = started["correlation_id"]
    calls = [x for x in lines if x["logger"] == "bot.oms.transport"]
    assert calls and all(x["correlation_id"] == cid for x in calls)
    assert {"operation", "method", "path", "status", "ms"} <= set(calls[0])
    for secret in (BOT_TOKEN, SIGNING_SECRET, DEMO_PASSWORD):
        assert secret not in err


# ---- secrets -----------------------------------------------------------------------------------


def test_oms_error_echoing_the_password_shows_it_nowhere(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The order lookup is a Maarg call; Maarg reports errors as a 4xx with {"errors": ...}.
    bot.sandbox.state.inject_fault(
        "/rest/s1/oms/*",
        "json",
        count=5,
        status=400,
        body={"errors": f"bad password {DEMO_PASSWORD}"},
    )
    sent = bot.slash("order 10002")
    shown = text_of(bot.reply_post(sent).body)
    assert "failed" in shown and "bad password" in shown
    assert DEMO_PASSWORD not in shown
    assert bot.sandbox.state.requests("/rest/s1/oms/orders", "GET")  # the OMS answered so
    wait_value(bot, 1, "omsbot_commands_total", command="order", outcome="oms_error")
    logged = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in caplog.records
    )
    assert "bad password" in logged  # the failure was logged, without the password
    assert DEMO_PASSWORD not in logged


def test_redacting_filter_masks_secrets_in_message_args_exception_and_extras() -> None:
    settings = load_settings(
        _env_file=None,
        slack_bot_token="xoxb-1-secret-bot",
        slack_signing_secret="sign-secret-123",
        oms_base_url="http://oms.test",
        oms_username="u",
        oms_password="pw-secret-9",
        omsbot_database_url="postgresql://bot:db-secret-7@db:5432/omsbot",
    )
    assert set(settings_secrets(settings)) == {
        "xoxb-1-secret-bot",
        "sign-secret-123",
        "pw-secret-9",
        "db-secret-7",
    }
    session = ["session-token-42"]
    redactor = RedactingFilter(lambda: settings_secrets(settings), lambda: session)
    try:
        raise ValueError("login failed for pw-secret-9")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "bot.test", logging.ERROR, __file__, 1, "token %s and %s", ("xoxb-1-secret-bot",
        "session-token-42"), exc_info,
    )  # fmt: skip
    record.path = "/api/x/sign-secret-123"
    set_correlation_id("corr-123")
    assert CorrelationFilter().filter(record) and redactor.filter(record)
    line = JsonFormatter().format(record)
    parsed = json.loads(line)
    for secret in ("xoxb-1-secret-bot", "session-token-42", "pw-secret-9", "sign-secret-123"):
        assert secret not in line
    assert parsed["message"] == f"token {MASK} and {MASK}"
    assert parsed["correlation_id"] == "corr-123"
    assert parsed["path"] == f"/api/x/{MASK}"
    assert f"login failed for {MASK}" in parsed["exception"]


def test_secret_scan_covers_the_session_and_catches_a_leak(
    request: pytest.FixtureRequest, bot: RunningBot
) -> None:
    scan = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(scan, SecretScan)
    # It is attached to the root logger and receives this test's records.
    before = len(scan.records)
    logging.getLogger("bot.test").info("a record the scan must see")
    assert len(scan.records) == before + 1
    assert {BOT_TOKEN, SIGNING_SECRET, DEMO_PASSWORD} <= scan.secrets
    # It harvests what the fake Slack received during this test.
    bot.reply_post(bot.slash("order 10002"))
    scan.watch(request.node)
    scan.harvest()
    assert any("Status history" in seen.text for seen in scan.messages)
    # A scan of its own (not the session's) flags a secret in a log line or a message.
    probe = SecretScan()
    probe.add_log("all fine")
    assert probe.leaks() == []
    probe.add_message(json.dumps({"text": f"oops {SIGNING_SECRET}"}))
    probe.add_log(f"oops {DEMO_PASSWORD}")
    assert sorted(secret for _, secret in probe.leaks()) == sorted([SIGNING_SECRET, DEMO_PASSWORD])
    probe.fake_used = True
    assert SecretScan(fake_used=True).problems()  # saw nothing although the fake was used
