"""Issue 17, point 7: faults told plainly, through a real `oms-bot run` process.

The bot's database stops (a PostgreSQL cluster of the test's own): a command and a click
are each answered, naming the database and saying nothing was changed, and the same button
works once the database is back. SIGTERM: while the process drains, it keeps answering new
commands and clicks with "restarting, try again in a minute", finishes the command in
flight, then exits.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from bot.sandbox import SandboxServer
from bot.store import open_store
from bot.store.audit import search
from tests.conftest import SIGNING_SECRET, gated, text_of, write_policy
from tests.harness.fakeslack import FakeSlack, Message, ResponsePost
from tests.pg_cluster import PrivateCluster, pg_cluster
from tests.replica_fixtures import Replica, make_replicas
from tests.store_fixtures import postgres_url
from tests.surface.links_payloads import (
    link_shared,
    message_action,
    post_event,
    post_interactive,
    unfurl_click,
)

__all__ = ["pg_cluster", "postgres_url"]

CONFIRM = "oms:approve.confirm#0"
CHANGE_STATUS = "/api/service/changeOrderStatus"
DATABASE_DOWN = "The bot's database is unreachable"
HOME_APPROVE = "oms:approval.approve#0"


def _writes(sandbox: SandboxServer, order_id: str) -> int:
    return sum(
        1
        for r in sandbox.state.requests(CHANGE_STATUS, "POST")
        if isinstance(r.body, dict) and str(r.body.get("orderId")) == order_id
    )


def _reply(fake: FakeSlack, url: str | None, words: str, timeout: float = 20) -> str:
    """The first response_url post containing `words` (gated), as the user reads it."""
    assert url is not None

    def find() -> str | None:
        texts = [text_of(gated(p.body)) for p in fake.response_posts(url)]
        return next((t for t in texts if words in t), None)

    return fake.wait_for(find, timeout)


def _card(fake: FakeSlack, url: str | None) -> ResponsePost:
    assert url is not None

    def find() -> ResponsePost | None:
        posts = [p for p in fake.response_posts(url) if "approve.confirm" in str(p.body)]
        return posts[-1] if posts else None

    return fake.wait_for(find, 20)


def _operator(
    fake: FakeSlack, sandbox: SandboxServer, url: str, tmp_path: Path, **env: str
) -> Replica:
    """One `oms-bot run` process where U_ALICE approves orders herself."""
    group = make_replicas(
        fake, sandbox, url, tmp_path, policy=write_policy(tmp_path, two_person=False), count=1
    )
    group[0].env.update(env)
    group.start()
    return group[0]


def test_database_outage_is_named_to_commands_and_clicks_and_nothing_is_lost(
    fake_slack: FakeSlack, sandbox: SandboxServer, pg_cluster: PrivateCluster, tmp_path: Path
) -> None:
    fake = fake_slack
    bot = _operator(fake, sandbox, pg_cluster.url, tmp_path)
    driver = bot.driver(fake)
    try:
        card = _card(fake, driver.slash("approve 10014").response_url)
        pg_cluster.stop()
        # Commands: the database named, not "internal error".
        for text in ("history", "approve 10015"):
            sent = driver.slash(text)
            assert sent.http.status_code == 200
            told = _reply(fake, sent.response_url, DATABASE_DOWN)
            assert "Nothing was changed; try again in a minute" in told, told
            assert "internal error" not in told
        # A click: answered the same way, and the button is not used up.
        click = driver.click_ephemeral(card, CONFIRM)
        assert click.http.status_code == 200
        told = _reply(fake, click.response_url, DATABASE_DOWN)
        assert "Nothing was changed" in told
        assert _writes(sandbox, "10014") == 0
        # The database is back: the same button does the work, once.
        pg_cluster.start()
        again = driver.click_ephemeral(card, CONFIRM)
        assert again.http.status_code == 200
        fake.wait_for(lambda: _writes(sandbox, "10014") == 1 or None, 30)
        history = driver.slash("history")
        _reply(fake, history.response_url, "Audit history")
        assert _writes(sandbox, "10014") == 1
    except AssertionError:
        print(bot.log_tail(80))
        raise
    finally:
        bot.stop()


def _draining(url: str) -> bool:
    """Whether /readyz says the process drains (it must still be listening to say so)."""
    answer = httpx.get(f"{url}/readyz", timeout=5)
    return answer.status_code == 503 and "draining" in answer.text


def test_sigterm_drain_answers_new_work_restarting_until_it_exits(
    fake_slack: FakeSlack, sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> None:
    fake = fake_slack
    bot = _operator(fake, sandbox, postgres_url, tmp_path)
    driver = bot.driver(fake)
    try:
        card = _card(fake, driver.slash("approve 10014").response_url)
        # A command in flight, slowed down by the OMS, when the signal comes.
        sandbox.state.latency = 1.0
        slow = driver.slash("order 10002")
        assert "Working on" in text_of(gated(slow.http.json()))
        assert bot.proc is not None
        bot.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not _draining(bot.url):
            assert time.monotonic() < deadline, "the process never said it was draining"
            time.sleep(0.05)
        # New work while draining: answered at once, "restarting", nothing done.
        sent = driver.slash("order 10003")
        assert sent.http.status_code == 200
        acked = text_of(gated(sent.http.json()))
        assert "restarting" in acked and "Try again in a minute" in acked, acked
        click = driver.click_ephemeral(card, CONFIRM)
        assert click.http.status_code == 200
        _reply(fake, click.response_url, "restarting")
        # The command in flight finishes; then the process exits.
        _reply(fake, slow.response_url, "Order #1002", timeout=30)
        bot.proc.wait(30)
        assert _writes(sandbox, "10014") == 0
        assert fake.response_posts(sent.response_url) == []
    except AssertionError:
        print(bot.log_tail(80))
        raise
    finally:
        sandbox.state.latency = 0.0
        bot.stop()


def _finished(fake: FakeSlack, timeout: float = 30) -> Message:
    """The run's channel message once it shows the run finished."""
    return fake.wait_for(
        lambda: next((m for m in fake.messages("C_OPS") if m.text.endswith(": finished")), None),
        timeout,
    )


def test_a_refused_update_is_replaced_by_a_post_that_says_so(
    fake_slack: FakeSlack, sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> None:
    fake = fake_slack
    bot = _operator(fake, sandbox, postgres_url, tmp_path)
    driver = bot.driver(fake)
    try:
        # Slack refuses every chat.update: the result is posted anew and says it replaces
        # the message above (which still shows the run going).
        fake.fail_next("chat.update", "cant_update_message", times=50)
        card = _card(fake, driver.slash("approve 10014").response_url)
        driver.click_ephemeral(card, CONFIRM)
        result = _finished(fake)
        shown = text_of({"text": result.text, "blocks": result.blocks})
        assert "Approved 1 order: 10014." in shown
        assert (
            "Slack would not let me update the message above (`cant_update_message`), "
            "so this one replaces it." in shown
        )
        assert len(fake.messages("C_OPS")) == 2
    except AssertionError:
        print(bot.log_tail(80))
        raise
    finally:
        bot.stop()


def test_429_beyond_the_clients_retries_is_waited_out_not_told_as_a_missing_invite(
    fake_slack: FakeSlack, sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> None:
    fake = fake_slack
    # A run lease longer than Slack's 429s last: the run waiting them out is not swept.
    bot = _operator(fake, sandbox, postgres_url, tmp_path, OMSBOT_RUN_LEASE="30")
    driver = bot.driver(fake)
    try:
        # 429 beyond the Web API client's own retries: waited out, never told as a missing
        # channel invite.
        fake.rate_limit_next("chat.postMessage", retry_after=1, times=3)
        card = _card(fake, driver.slash("approve 10015").response_url)
        click = driver.click_ephemeral(card, CONFIRM)
        assert click.response_url is not None
        result = _finished(fake)
        assert "Approved 1 order: 10015." in text_of({"text": result.text, "blocks": result.blocks})
        told = [text_of(p.body) for p in fake.response_posts(click.response_url)]
        assert not any("/invite" in t for t in told), told
        statuses = [c.status for c in fake.calls("chat.postMessage")]
        assert statuses[:4] == [429, 429, 429, 200]
    except AssertionError:
        print(bot.log_tail(80))
        raise
    finally:
        bot.stop()


def test_429_that_outlasts_every_wait_is_told_as_slacks_rate_limit(
    fake_slack: FakeSlack, sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> None:
    fake = fake_slack
    bot = _operator(fake, sandbox, postgres_url, tmp_path, OMSBOT_RUN_LEASE="30")
    driver = bot.driver(fake)
    try:
        # More 429s than the client's retries and the bot's own waits together: the run's
        # message cannot go to the channel, and the user is told why, not to /invite the bot.
        fake.rate_limit_next("chat.postMessage", retry_after=1, times=40)
        card = _card(fake, driver.slash("approve 10015").response_url)
        click = driver.click_ephemeral(card, CONFIRM)
        assert click.response_url is not None
        told = fake.wait_for(
            lambda: (
                [
                    t
                    for t in (text_of(p.body) for p in fake.response_posts(click.response_url))
                    if "rate limiting" in t
                ]
                or None
            ),
            timeout=30,
        )
        assert "Slack is rate limiting me" in told[0] and "/invite" not in told[0]
    except AssertionError:
        print(bot.log_tail(80))
        raise
    finally:
        bot.stop()


def test_a_modal_submitted_while_the_database_is_down_is_answered_in_a_dm(
    fake_slack: FakeSlack, sandbox: SandboxServer, pg_cluster: PrivateCluster, tmp_path: Path
) -> None:
    fake = fake_slack
    group = make_replicas(fake, sandbox, pg_cluster.url, tmp_path, policy=write_policy(tmp_path))
    group.members = group.members[:1]
    group.start()
    bot = group[0]
    driver = bot.driver(fake)
    try:
        sent = driver.slash("approve 10014")
        _reply(fake, sent.response_url, "needs a second person")
        request = fake.wait_for(
            lambda: next(
                (m for m in fake.messages("C_APPROVALS") if "Approval needed" in m.text), None
            ),
            15,
        )
        driver.click(request, "oms:approval.deny#1", user="U_CAROL")
        view = fake.wait_for(lambda: fake.views() or None, 15)[-1]
        pg_cluster.stop()
        answer = driver.submit_view(
            "oms:deny-reason",
            {"reason": {"reason": "Payment is disputed"}},
            view.view["private_metadata"],
            user="U_CAROL",
        )
        assert answer.http.status_code == 200
        dm = fake.wait_for(
            lambda: next((m for m in fake.messages("D_U_CAROL") if DATABASE_DOWN in m.text), None),
            15,
        )
        assert "Nothing was changed" in text_of(gated({"text": dm.text, "blocks": dm.blocks}))
    except AssertionError:
        print(bot.log_tail(80))
        raise
    finally:
        bot.stop()


def _dm(fake: FakeSlack, user: str, words: str) -> Message:
    """The first message of the user's DM with the bot containing `words`."""
    dm = fake.dm_channel(user)
    return fake.wait_for(lambda: next((m for m in fake.messages(dm) if words in m.text), None), 20)


def test_a_drain_answers_home_presses_shortcuts_quick_actions_and_command_buttons(
    fake_slack: FakeSlack, sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> None:
    fake = fake_slack
    group = make_replicas(fake, sandbox, postgres_url, tmp_path, policy=write_policy(tmp_path))
    bot = group[0]
    group.start()
    driver = bot.driver(fake)
    try:
        # Alice asks; Carol, an approver, sees Approve on her Home tab.
        asked = driver.slash("approve 10014")
        _reply(fake, asked.response_url, "needs a second person")
        driver.home_opened("U_CAROL")
        carol = fake.wait_for(
            lambda: next(
                (v for v in reversed(fake.home_views("U_CAROL")) if HOME_APPROVE in str(v)), None
            ),
            20,
        )
        driver.home_opened("U_ALICE")
        alice = fake.wait_for(lambda: next(reversed(fake.home_views("U_ALICE")), None), 20)
        # An order link unfurled with its Check button (an `oms-command:` button).
        events = f"{bot.url}/slack/events"
        link = "https://demo-shop.myshopify.com/admin/orders/6100000000003"
        assert post_event(events, SIGNING_SECRET, link_shared([link])).status_code == 200
        unfurled = fake.wait_for(lambda: fake.unfurls() or None, 30)[0].unfurls[link]
        # A command in flight, slowed down by the OMS, keeps the process draining a while.
        sandbox.state.latency = 1.0
        slow = driver.slash("order 10002")
        assert bot.proc is not None
        bot.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not _draining(bot.url):
            assert time.monotonic() < deadline, "the process never said it was draining"
            time.sleep(0.05)
        # A Home press has no channel and no response_url: the answer is in the DM.
        assert driver.click_view(carol, HOME_APPROVE, user="U_CAROL").http.status_code == 200
        assert driver.click_view(alice, "home:form#check", user="U_ALICE").http.status_code == 200
        shortcut = message_action(fake, "Is #1003 stuck?", ts="1764500000.000900")
        assert post_interactive(events, SIGNING_SECRET, shortcut).status_code == 200
        check = unfurl_click(fake, unfurled["blocks"], link, "oms-command:check", user="U_BOB")
        assert post_interactive(events, SIGNING_SECRET, check).status_code == 200
        for user in ("U_CAROL", "U_ALICE"):
            _dm(fake, user, "restarting")
        _reply(fake, shortcut["response_url"], "restarting")
        _reply(fake, check["response_url"], "restarting")
        _reply(fake, slow.response_url, "Order #1002", timeout=30)
        bot.proc.wait(30)
        # Nothing was done: no approval write, no form, no thread posts.
        assert _writes(sandbox, "10014") == 0
        assert not [m for m in fake.messages("C_OPS") if m.thread_ts == "1764500000.000900"]
        assert not [v for v in fake.views() if v.method == "views.open"]
    except AssertionError:
        print(bot.log_tail(80))
        raise
    finally:
        sandbox.state.latency = 0.0
        group.stop()


def test_a_write_cut_off_by_the_shutdown_is_recorded_unknown_not_left_started(
    fake_slack: FakeSlack, sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> None:
    fake = fake_slack
    # The drain waits a second for the run, then cancels it while its write is out.
    bot = _operator(fake, sandbox, postgres_url, tmp_path, OMSBOT_SHUTDOWN_TIMEOUT="1")
    driver = bot.driver(fake)
    store = open_store(postgres_url)
    try:
        held = sandbox.state.inject_fault(CHANGE_STATUS, "hang", method="POST")
        card = _card(fake, driver.slash("approve 10014").response_url)
        assert driver.click_ephemeral(card, CONFIRM).http.status_code == 200
        assert held.reached.wait(20), bot.log_tail(40)
        assert bot.proc is not None
        bot.proc.send_signal(signal.SIGTERM)
        bot.proc.wait(30)
        rows = [
            e
            for e in search(store, order_key="10014", limit=200)
            if e.kind == "oms_write" and e.summary.startswith("change order status")
        ]
        assert [e.outcome for e in rows] == ["unknown"], [(e.outcome, e.detail) for e in rows]
        assert "oms-bot stopped while it was sent" in str(rows[0].detail)
    except AssertionError:
        print(bot.log_tail(80))
        raise
    finally:
        sandbox.state.release_held()
        store.dispose()
        bot.stop()
