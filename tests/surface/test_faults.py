"""The fault suite: the OMS, Slack and the database misbehaving, through the real endpoint.

Every test drives the bot with Slack-signed requests and shows three things: the user gets a
clear message, the audit trail (bot/store/audit.py search, what `/oms history` reads) keeps
every event, and the bot answers the next command.

Covered elsewhere and not repeated here:
- the database unreachable at start (the process refuses to start, naming the database and
  hiding the password): tests/surface/test_cli.py::test_unreachable_database_refuses_to_start;
- the process killed mid-run (SIGKILL, the next process marks the run interrupted and Resume
  finishes it without repeating a write):
  tests/engine/test_runs.py::test_run_killed_halfway_is_interrupted_then_resumed_without_repeating_writes;
- chat.update refused for every progress update (`cant_update_message`):
  tests/engine/test_runs.py::test_chat_update_failure_posts_the_result_anew.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import SandboxServer
from bot.store.audit import AuditEvent
from tests.conftest import BotFactory, RunningBot, gated, text_of, write_policy
from tests.fault_fixtures import audit_events, captured_logs, through_proxy
from tests.harness.driver import Sent
from tests.harness.fakeslack import ManualClock, Message, ResponsePost
from tests.processes import free_port
from tests.store_fixtures import drop_postgres_url, fresh_postgres_url

CONFIRM = "oms:approve.confirm#0"
RESUME = "oms:run.resume#0"
CHANGE_STATUS = "/api/service/changeOrderStatus"


# ---- helpers ------------------------------------------------------------------------------------


def _operator_bot(make_bot: BotFactory, tmp_path: Path, **settings: Any) -> RunningBot:
    """A bot where U_ALICE may approve orders herself (no second person)."""
    return make_bot(omsbot_policy=write_policy(tmp_path, two_person=False), **settings)


def _shown(message: Message | ResponsePost) -> str:
    if isinstance(message, ResponsePost):
        return text_of(message.body)
    return text_of({"text": message.text, "blocks": message.blocks})


def _confirm(bot: RunningBot, text: str) -> Sent:
    """`/oms <text>`, then press the confirmation card's button; the click is returned."""
    card = bot.reply_post(bot.slash(text), timeout=15)
    return bot.driver.click_ephemeral(card, CONFIRM)


def _run_message(bot: RunningBot, state: str, timeout: float = 20) -> Message:
    """The run's channel message once its fallback text says `state` (finished, failed...)."""
    found: Message = bot.wait_message(lambda m: m.text.endswith(f": {state}"), timeout=timeout)
    return found


def _writes(sandbox: SandboxServer) -> list[str]:
    return [
        str(r.body["orderId"])
        for r in sandbox.state.requests(CHANGE_STATUS, "POST")
        if isinstance(r.body, dict)
    ]


def _events(bot: RunningBot, **filters: object) -> list[AuditEvent]:
    return audit_events(bot.services.store, **filters)


def _kinds(events: list[AuditEvent]) -> list[tuple[str, str]]:
    return [(e.kind, e.outcome) for e in events]


def _command_event(bot: RunningBot, command: str, timeout: float = 10) -> AuditEvent:
    """The audit event of a command answered after the ack (recorded when the handler ends)."""

    def find() -> AuditEvent | None:
        found = [e for e in _events(bot) if e.kind == "command" and e.command == command]
        return found[-1] if found else None

    return bot.fake.wait_for(find, timeout)


def _run_audited(bot: RunningBot, order_key: str, outcome: str = "ok") -> list[AuditEvent]:
    """The order's audit trail once the run's end is recorded (it is the run's last act)."""

    def ended() -> list[AuditEvent] | None:
        events = _events(bot, order_key=order_key)
        return events if ("run", outcome) in _kinds(events) else None

    return bot.fake.wait_for(ended, timeout=20)


def _still_serving(bot: RunningBot) -> None:
    """The bot answers the next commands: help in the ack, an OMS lookup after it.

    The fake Slack is never reset mid-test, so the `fake_slack` fixture still gates every
    message of the test; the answers here go through the ack and the response_url, which no
    fault still queued for a chat.* method touches."""
    assert "oms-bot commands" in text_of(bot.ack("help"))
    sent = bot.slash("order 10002")
    (reply,) = bot.replies(sent, timeout=15)
    assert "Status history" in text_of(gated(reply))


# ---- the OMS ------------------------------------------------------------------------------------

# What each sandbox fault looks like to the user: the words that name the cause.
FAULT_WORDS = {
    "html": "non-JSON",
    "truncated": "non-JSON",
    "error500": "HTTP 500 Internal Server Error",
    "unavailable": "HTTP 503 Service Unavailable",
}


@pytest.mark.parametrize("kind", list(FAULT_WORDS))
def test_oms_bad_answer_to_a_lookup(bot: RunningBot, kind: str) -> None:
    # Reads retry a 503 twice, so that fault outlasts the retries; the others are final.
    times = 3 if kind == "unavailable" else 1
    bot.sandbox.state.inject_fault("/rest/s1/oms/orders", kind, times)  # type: ignore[arg-type]
    sent = bot.slash("order 10002")
    assert sent.http.status_code == 200
    (reply,) = bot.replies(sent, timeout=15)
    shown = text_of(gated(reply))
    assert "The OMS call “find order by order id” failed" in shown
    assert FAULT_WORDS[kind] in shown
    assert "Nothing was changed by this command" in shown
    assert "Traceback" not in shown
    event = _command_event(bot, "/oms order 10002")
    assert event.outcome == "failed" and FAULT_WORDS[kind] in event.summary
    assert event.actor == "U_ALICE" and event.order_keys == ("10002",)
    _still_serving(bot)


@pytest.mark.parametrize("kind", list(FAULT_WORDS))
def test_oms_bad_answer_to_a_write_fails_the_run_then_resume_finishes(
    make_bot: BotFactory, tmp_path: Path, kind: str
) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    bot.sandbox.state.inject_fault(CHANGE_STATUS, kind)  # type: ignore[arg-type]
    click = _confirm(bot, "approve 10014")
    failed = _run_message(bot, "failed")
    shown = _shown(failed)
    assert ":x: Approve order 10014" in shown
    assert (
        "The OMS call “change order 10014 to ORDER_APPROVED” failed" in shown
        and FAULT_WORDS[kind] in shown
    )
    assert "Resume retries what failed" in shown
    assert "Traceback" not in shown
    # The write is audited with the error; the run's failure too.
    events = _run_audited(bot, "10014", "failed")
    write = next(e for e in events if e.kind == "oms_write")
    assert write.outcome == "failed" and write.summary == "change order status"
    assert write.detail is not None and FAULT_WORDS[kind] in write.detail["error"]
    assert write.detail["parameters"]["orderId"] == "10014"
    assert ("run", "failed") in _kinds(events)
    assert click.http.status_code == 200

    bot.driver.click(failed, RESUME)
    done = _run_message(bot, "finished")
    assert "Approved 1 order: 10014." in _shown(done)
    assert _writes(bot.sandbox) == ["10014", "10014"]  # the faulted try, then the real one
    assert bot.sandbox.state.data.orders["10014"].status_id == "ORDER_APPROVED"
    events = _run_audited(bot, "10014")
    assert [e.outcome for e in events if e.kind == "oms_write"] == ["failed", "ok"]
    assert ("run", "resumed") in _kinds(events) and _kinds(events)[-1] == ("run", "ok")
    _still_serving(bot)


def test_oms_slower_than_the_timeout(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _operator_bot(make_bot, tmp_path, oms_timeout=1)
    card = bot.reply_post(bot.slash("approve 10014"), timeout=15)
    bot.sandbox.state.latency = 1.5  # every OMS answer now comes after the bot gave up
    bot.driver.click_ephemeral(card, CONFIRM)
    failed = _run_message(bot, "failed", timeout=30)
    shown = _shown(failed)
    assert "The OMS call “find order by order id” failed: timed out after 1s" in shown
    assert _writes(bot.sandbox) == []  # the step stopped at its read: nothing was written
    assert ("run", "failed") in _kinds(_run_audited(bot, "10014", "failed"))

    bot.sandbox.state.latency = 0
    bot.driver.click(failed, RESUME)
    assert "Approved 1 order: 10014." in _shown(_run_message(bot, "finished"))
    assert _writes(bot.sandbox) == ["10014"]
    _still_serving(bot)


def test_token_expiring_mid_run_logs_in_again_and_the_run_finishes(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    bot.sandbox.state.latency = 0.3
    _confirm(bot, "approve 10014 10015")
    first_done = ":white_check_mark: Approve order 10014"
    bot.wait_message(lambda m: first_done in _shown(m), timeout=20)
    logins_before = len(bot.sandbox.state.requests("/api/login", "POST"))
    bot.sandbox.state.expire_tokens()  # the OMS forgets the bot's session between two steps
    done = _run_message(bot, "finished", timeout=30)
    assert "Approved 2 orders: 10014, 10015." in _shown(done)
    assert len(bot.sandbox.state.requests("/api/login", "POST")) == logins_before + 1
    assert _writes(bot.sandbox) == ["10014", "10015"]
    writes = [e for e in _events(bot) if e.kind == "oms_write"]
    assert [(w.outcome, w.detail and w.detail["parameters"]["orderId"]) for w in writes] == [
        ("ok", "10014"),
        ("ok", "10015"),
    ]
    bot.sandbox.state.latency = 0
    _still_serving(bot)


def test_oms_refusing_connections(make_bot: BotFactory) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    bot = make_bot(oms_base_url=closed)
    for _ in range(2):  # the first command and the next one: each answered, neither hangs
        sent = bot.slash("order 10002")
        assert sent.http.status_code == 200
        (reply,) = bot.replies(sent, timeout=15)
        shown = text_of(gated(reply))
        assert "failed" in shown and "connection refused (3 attempts)" in shown
        assert "Nothing was changed by this command" in shown
    # The audit row is written just after the reply reaches the user: wait for both.
    failed = bot.fake.wait_for(
        lambda: (lambda rows: rows if len(rows) >= 2 else None)(
            [e for e in _events(bot) if e.kind == "command"]
        )
    )
    assert [e.outcome for e in failed] == ["failed", "failed"]
    assert all("connection refused" in e.summary for e in failed)
    assert "oms-bot commands" in text_of(bot.ack("help"))
    assert bot.sandbox.state.requests() == []  # the sandbox was never asked


# ---- Slack --------------------------------------------------------------------------------------


def _statuses(bot: RunningBot, method: str) -> list[int]:
    return [c.status for c in bot.fake.calls(method)]


def test_slack_429_on_post_and_updates_is_waited_out(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    bot.fake.rate_limit_next("chat.postMessage", retry_after=1)
    bot.fake.rate_limit_next("chat.update", retry_after=1, times=2)
    _confirm(bot, "approve 10014")
    done = _run_message(bot, "finished")
    assert "Approved 1 order: 10014." in _shown(done)
    # Each 429 was retried after Retry-After, and the retry went through.
    assert _statuses(bot, "chat.postMessage")[:2] == [429, 200]
    assert _statuses(bot, "chat.update")[:3] == [429, 429, 200]
    assert len(bot.fake.messages("C_OPS")) == 1  # one message, updated in place
    assert _kinds(_run_audited(bot, "10014"))[-1] == ("run", "ok")
    _still_serving(bot)


def test_slack_500_on_every_update_posts_the_result_anew(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    bot.fake.server_error_next("chat.update", times=50)
    with captured_logs() as logs:
        _confirm(bot, "approve 10014")
        result = bot.wait_message(lambda m: m.text.endswith(": finished") and not m.history)
    assert "Approved 1 order: 10014." in _shown(result)
    assert len(bot.fake.messages("C_OPS")) == 2  # the first post, and the result posted anew
    assert set(_statuses(bot, "chat.update")) == {500}
    assert any("posting it anew" in m for m in logs.messages())
    assert not [r for r in logs.errors() if r.name != "slack_bolt"]
    assert _kinds(_run_audited(bot, "10014"))[-1] == ("run", "ok")
    _still_serving(bot)


def test_slack_500_on_the_first_post_shows_progress_to_the_user(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    bot.fake.server_error_next("chat.postMessage")
    click = _confirm(bot, "approve 10014")
    # The checklist could not be posted: it went to the user, and the result was posted.
    progress = bot.fake.wait_for(
        lambda: [p for p in bot.fake.response_posts(click.response_url) if "/invite" in _shown(p)]
    )
    assert "Approve order 10014" in _shown(progress[0])
    done = _run_message(bot, "finished")
    assert "Approved 1 order: 10014." in _shown(done)
    assert _kinds(_run_audited(bot, "10014"))[-1] == ("run", "ok")
    _still_serving(bot)


def test_slack_invalid_blocks_on_updates_posts_the_result_anew(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    bot.fake.fail_next("chat.update", "invalid_blocks", times=50)
    _confirm(bot, "approve 10014")
    result = bot.wait_message(lambda m: m.text.endswith(": finished") and not m.history)
    assert "Approved 1 order: 10014." in _shown(result)
    assert _kinds(_run_audited(bot, "10014"))[-1] == ("run", "ok")
    _still_serving(bot)


def test_slack_channel_not_found_sends_progress_and_result_to_the_user(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _operator_bot(make_bot, tmp_path)
    bot.fake.fail_next("chat.postMessage", "channel_not_found", times=50)
    click = _confirm(bot, "approve 10014")

    def result() -> list[ResponsePost]:
        posts = bot.fake.response_posts(click.response_url)
        return [p for p in posts if "Approved 1 order: 10014." in _shown(p)]

    (final,) = bot.fake.wait_for(result, timeout=20)
    assert "finished" in _shown(final)
    assert bot.fake.messages("C_OPS") == []
    assert _writes(bot.sandbox) == ["10014"]
    events = _run_audited(bot, "10014")
    assert _kinds(events)[-1] == ("run", "ok")
    assert not [e for e in events if "could not be shown" in e.summary]  # it was shown
    _still_serving(bot)


def test_digest_now_in_a_channel_slack_refuses_tells_the_user(bot: RunningBot) -> None:
    """Found by the fuzz: the post's SlackApiError surfaced as "internal error"."""
    with captured_logs() as logs:
        sent = bot.slash("digest now", channel="C_RANDOM")  # the bot is not a member there
        reply = bot.reply_post(sent, timeout=15)
    shown = _shown(reply)
    assert "The digest could not be posted here" in shown
    assert "Slack answered `not_in_channel`" in shown and "/invite" in shown
    assert "internal error" not in shown
    assert not [r for r in logs.records if r.exc_info]
    (event,) = [e for e in _events(bot) if e.kind == "scheduled_post"]
    assert event.outcome == "failed" and "not_in_channel" in event.summary
    assert bot.fake.messages("C_RANDOM") == []
    _still_serving(bot)


def test_nowhere_to_answer_is_logged_and_audited(make_bot: BotFactory, tmp_path: Path) -> None:
    """Channel gone, response_url expired, postEphemeral refused: the run still finishes."""
    bot = _operator_bot(make_bot, tmp_path)
    card = bot.reply_post(bot.slash("approve 10014"), timeout=15)
    bot.fake.fail_next("chat.postMessage", "channel_not_found", times=50)
    bot.fake.fail_next("chat.postEphemeral", "channel_not_found", times=50)
    with captured_logs() as logs:
        bot.driver.click_ephemeral(card, CONFIRM)
        # The click's response_url expires (Slack keeps them 30 minutes).
        bot.fake.clock = clock = ManualClock()
        clock.advance(31 * 60)
        events = _run_audited(bot, "10014")
    assert _writes(bot.sandbox) == ["10014"]
    assert bot.sandbox.state.data.orders["10014"].status_id == "ORDER_APPROVED"
    told = [m for m in logs.messages() if m.startswith("could not tell user U_ALICE")]
    assert told and all("channel_not_found" in m for m in told)
    assert ("oms_write", "ok") in _kinds(events) and ("click", "ok") in _kinds(events)
    # The audit says the requester never saw the result (`/oms history --failed` lists it).
    (unseen,) = [e for e in events if "could not be shown in Slack" in e.summary]
    assert (unseen.kind, unseen.outcome) == ("run", "failed")
    assert unseen.summary == "the result of Approve order 10014 could not be shown in Slack"
    _still_serving(bot)


# ---- the database ----------------------------------------------------------------------------


def test_database_going_away_mid_run_stops_it_then_resume_finishes(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    base = fresh_postgres_url()
    url, proxy = through_proxy(base)
    try:
        bot = _operator_bot(make_bot, tmp_path, db_path=url, omsbot_run_lease=2)
        bot.sandbox.state.latency = 0.5
        with captured_logs():
            click = _confirm(bot, "approve 10014 10015")
            running = ":hourglass_flowing_sand: Approve order 10014"
            bot.wait_message(lambda m: running in _shown(m), timeout=20)
            proxy.stop()  # the database host goes away while the first step's OMS calls run

            def told() -> list[ResponsePost]:
                posts = bot.fake.response_posts(click.response_url)
                return [p for p in posts if "database is unavailable" in _shown(p)]

            (stopped,) = bot.fake.wait_for(told, timeout=20)
            shown = _shown(stopped)
            assert "The run stopped: the bot's database is unavailable" in shown
            assert f"127.0.0.1:{proxy.port}" in shown and "Resume" in shown
            # While the database is away the bot still answers commands.
            sent = bot.slash("order 10002")
            assert "Status history" in text_of(gated(bot.replies(sent, timeout=15)[0]))
        # A write is made only once the database confirms the run still holds its lease
        # (issue 17): with the database away, the run stopped before its first write.
        assert _writes(bot.sandbox) == []

        proxy.start()  # the database is back: the sweep marks the run interrupted
        interrupted = _run_message(bot, "interrupted", timeout=30)
        assert "Interrupted during “Approve order 10014”" in _shown(interrupted)
        bot.sandbox.state.latency = 0
        bot.driver.click(interrupted, RESUME)
        done = _run_message(bot, "finished", timeout=30)
        shown = _shown(done)
        assert "Approved 2 orders: 10014, 10015." in shown
        assert _writes(bot.sandbox) == ["10014", "10015"]  # each written once
        kinds = _kinds(_run_audited(bot, "10015"))
        assert ("run", "interrupted") in kinds and ("run", "resumed") in kinds
        assert ("oms_write", "ok") in kinds and kinds[-1] == ("run", "ok")
        # 10014 was written once, after the Resume: one audit row, closed "ok".
        writes = [
            e.outcome
            for e in _run_audited(bot, "10014")
            if e.kind == "oms_write" and (e.detail or {})["parameters"]["orderId"] == "10014"
        ]
        assert writes == ["ok"]
        _still_serving(bot)
    finally:
        proxy.stop()
        drop_postgres_url(base)
