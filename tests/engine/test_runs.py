"""The run engine through the real endpoint: checklist updates, order leases, kill and resume."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

from bot.sandbox import SandboxServer
from bot.store import Store, open_store
from bot.store.runs import get_steps, list_runs
from tests.conftest import SIGNING_SECRET, BotFactory, RunningBot, bot_env, text_of, write_policy
from tests.harness.driver import SlackDriver
from tests.harness.fakeslack import FakeSlack, Message
from tests.processes import clean_env, free_port, spawn_bot, wait_healthy

CONFIRM = "oms:approve.confirm#0"


ORDER_READS = "/rest/s1/oms/orders"
CHANGE_STATUS = "/api/service/changeOrderStatus"


def _writes(sandbox: SandboxServer) -> list[str]:
    return [
        str(r.body["orderId"])
        for r in sandbox.state.requests(CHANGE_STATUS, "POST")
        if isinstance(r.body, dict)
    ]


def _shown(message: Message | Any) -> str:
    return text_of({"text": message.text, "blocks": message.blocks})


def _start(bot: RunningBot, text: str, user: str = "U_ALICE") -> None:
    card = bot.reply_post(bot.slash(text, user=user), timeout=15)
    bot.driver.click_ephemeral(card, CONFIRM, user=user)


def test_progress_message_is_updated_step_by_step(make_bot: BotFactory, tmp_path: Path) -> None:
    # Interval 0: an update at every step (the sandbox's steps take milliseconds, so the
    # default interval would coalesce them; tests/engine/test_i16_updates.py covers that).
    bot = make_bot(
        omsbot_policy=write_policy(tmp_path, two_person=False), omsbot_update_interval_seconds=0
    )
    # Each OMS call takes a while, so every step is still running when its start has been
    # recorded and shown (a step's first reads go out while its start is recorded; a step
    # over before that would go from pending to done, which is right, but not this test).
    bot.sandbox.state.latency = 0.1
    _start(bot, "approve 10014 #1015")
    final = bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    shown = _shown(final)
    assert "Approved 2 orders: 10014, 10015." in shown
    assert shown.count(":white_check_mark:") >= 3
    versions = [_shown(r) for r in final.history] + [shown]
    # Posted with every step pending, then each step shown running, then done, in order.
    assert versions[0].count(":white_circle:") == 3
    steps = ["Approve order 10014", "Approve order 10015", "Verify in the OMS"]
    seen = []
    for version in versions:
        for step in steps:
            if f":hourglass_flowing_sand: {step}" in version and (step, "running") not in seen:
                seen.append((step, "running"))
            if f":white_check_mark: {step}" in version and (step, "done") not in seen:
                seen.append((step, "done"))
    assert seen == [(s, state) for s in steps for state in ("running", "done")]
    assert _writes(bot.sandbox) == ["10014", "10015"]


def test_second_run_on_a_busy_order_is_refused(make_bot: BotFactory, tmp_path: Path) -> None:
    # A long OMS timeout: while the sandbox is frozen below, the run's OMS calls wait for it.
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False), oms_timeout=60)
    alice = bot.reply_post(bot.slash("approve 10014"), timeout=15)
    bob = bot.reply_post(bot.slash("approve 10014", user="U_BOB"), timeout=15)
    # Freeze the OMS (the sandbox takes its state lock for every request): Alice's run takes
    # the order and then waits for the OMS, so it is still running when Bob confirms.
    with bot.sandbox.state.lock:
        bot.driver.click_ephemeral(alice, CONFIRM)
        bot.wait_message(lambda m: "Approve order 10014: running" in m.text)
        bot.driver.click_ephemeral(bob, CONFIRM, user="U_BOB")
        refusal = bot.fake.wait_for(
            lambda: [p for p in bot.fake.response_posts() if "is busy" in text_of(p.body)] or None,
            timeout=15,
        )
    shown = text_of(refusal[0].body)
    assert refusal[0].user == "U_BOB"
    assert "Order 10014 is busy: <@U_ALICE> is running “Approve order 10014” since" in shown
    bot.wait_message(lambda m: "finished" in m.text, timeout=20)
    assert len(list_runs(bot.services.store)) == 1
    assert _writes(bot.sandbox) == ["10014"]


def test_failed_step_stops_the_run_and_resume_retries_it(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    bot.sandbox.state.inject_fault(
        "/api/service/changeOrderStatus",
        "json",
        1,
        body={"_ERROR_MESSAGE_": "Order 10014 is locked by a batch"},
    )
    _start(bot, "approve 10014 10015")
    failed = bot.wait_message(lambda m: "failed" in m.text, timeout=15)
    shown = _shown(failed)
    # The first write hit the fault: its step is marked failed, with the OMS's own words
    # under it, and the run says why it stopped.
    failure = (
        "The OMS call “change order 10014 to ORDER_APPROVED” failed: "
        "Order 10014 is locked by a batch"
    )
    step = re.search(r":x: Approve order 10014  _[0-9.]+s_\n +(.+)", shown)
    assert step is not None and step.group(1) == failure
    assert f":x: The run stopped: {failure}" in shown
    assert ":white_circle: Approve order 10015" in shown  # later steps did not run
    assert "Resume retries what failed and what did not run" in shown
    bot.driver.click(failed, "oms:run.resume#0")
    done = bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    assert "Approved 2 orders" in _shown(done)
    assert _writes(bot.sandbox) == ["10014", "10014", "10015"]  # the faulted try, then once each


def test_chat_update_failure_posts_the_result_anew(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    bot.fake.fail_next("chat.update", "cant_update_message", times=50)
    _start(bot, "approve 10014")
    result = bot.wait_message(lambda m: "finished" in m.text and not m.history, timeout=15)
    assert "Approved 1 order: 10014." in _shown(result)
    assert len(bot.fake.messages("C_OPS")) == 2  # the first post, and the result posted anew


def _first_step_state(store: Store) -> str | None:
    runs = list_runs(store)
    return get_steps(store, runs[0].id)[0].state if runs else None


def test_run_killed_halfway_is_interrupted_then_resumed_without_repeating_writes(
    tmp_path: Path, fake_slack: FakeSlack, sandbox: SandboxServer
) -> None:
    port = free_port()
    env = clean_env(**bot_env(fake_slack, sandbox, tmp_path / "bot.db"))
    env.update(
        OMSBOT_PORT=str(port),
        OMSBOT_HOST="127.0.0.1",
        OMSBOT_RUN_LEASE="2",
        OMS_TIMEOUT="60",  # the OMS calls the test holds up wait for it, however long
        OMSBOT_POLICY=str(write_policy(tmp_path, two_person=False)),
        # Every progress state is sent as it comes (no coalescing).
        OMSBOT_UPDATE_INTERVAL_SECONDS="0",
    )
    url = f"http://127.0.0.1:{port}"
    driver = SlackDriver(f"{url}/slack/events", SIGNING_SECRET, fake_slack)
    first = spawn_bot(env, tmp_path)
    second = None
    try:
        wait_healthy(url, first)
        sent = driver.slash("approve 10014 10015")
        card = fake_slack.wait_for(
            lambda: fake_slack.response_posts(sent.response_url) or None, timeout=15
        )[-1]
        # The bot is killed between step 1's write and step 2's: the OMS holds step 1's write
        # until a hold is set on the next read, step 2's first (see the log of a run: a step
        # reads its order, then writes), and the bot is killed while that read hangs.
        write = sandbox.state.inject_fault(CHANGE_STATUS, "hang", method="POST")
        runs = open_store(env["OMSBOT_DATABASE_URL"])
        try:
            driver.click_ephemeral(card, CONFIRM)
            assert write.reached.wait(20), "step 1 never wrote"
            held = sandbox.state.inject_fault(ORDER_READS, "hang", method="GET")
            write.released.set()
            assert held.reached.wait(20), "step 2 never read its order"
            # Step 2's start (and step 1's end) is recorded while its first read is out.
            fake_slack.wait_for(lambda: _first_step_state(runs) == "done", timeout=10)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            sandbox.state.release_held()
            runs.dispose()
        assert _writes(sandbox) == ["10014"]

        second = spawn_bot(env, tmp_path)
        wait_healthy(url, second)
        interrupted = fake_slack.wait_for(
            lambda: next(
                (m for m in fake_slack.messages("C_OPS") if "interrupted" in m.text), None
            ),
            timeout=20,
        )
        shown = _shown(interrupted)
        assert "Interrupted during “Approve order 10015”" in shown
        assert ":white_check_mark: Approve order 10014" in shown
        driver.click(interrupted, "oms:run.resume#0")
        done = fake_slack.wait_for(
            lambda: next((m for m in fake_slack.messages("C_OPS") if "finished" in m.text), None),
            timeout=20,
        )
        assert "Approved 2 orders: 10014, 10015." in _shown(done)
        assert _writes(sandbox) == ["10014", "10015"]  # nothing written twice
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
