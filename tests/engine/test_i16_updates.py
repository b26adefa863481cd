"""Coalesced progress through the real endpoint: many runs at once against a fake Slack that
enforces Slack's per-method rate limits, and one message's pace at the default interval."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.kit.blocks import Message as KitMessage
from bot.kit.config import Settings
from bot.kit.posting import MessageUpdates, UpdateBudget
from bot.sandbox import SandboxServer
from bot.store.runs import list_runs
from bot.surface.wiring import create_services
from tests.conftest import BotFactory, RunningBot, settings_for, text_of, write_policy
from tests.harness.fakeslack import Call, FakeSlack, Message

CONFIRM = "oms:approve.confirm#0"
SCALE = 0.05  # Slack's minute in 3 s: the whole test runs Slack's limits 20 times as fast
RUNS = 20
ORDERS_PER_RUN = 3


def _shown(message: Message) -> str:
    return text_of({"text": message.text, "blocks": message.blocks})


def _start_runs(bot: RunningBot, groups: list[list[str]]) -> None:
    """Ask for every run's card, then press every Confirm at once."""
    cards = [bot.reply_post(bot.slash("approve " + " ".join(g)), timeout=20) for g in groups]
    with ThreadPoolExecutor(len(cards)) as pool:
        for sent in pool.map(lambda card: bot.driver.click_ephemeral(card, CONFIRM), cards):
            assert sent.http.status_code == 200


def _updates_of(bot: RunningBot, ts: str) -> list[Call]:
    return [c for c in bot.fake.calls("chat.update") if c.body.get("ts") == ts]


def test_twenty_runs_at_once_each_end_showing_their_final_state(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(
        omsbot_policy=write_policy(tmp_path, two_person=False),
        omsbot_update_interval_seconds=SCALE,  # one update per message per (compressed) second
    )
    # The bot's chat.update budget counts Slack's minute on the same compressed clock.
    bot.services.updates.budget.time_scale = SCALE
    bot.fake.enforce_rate_limits(scale=SCALE)
    orders = bot.sandbox.state.add_bulk_orders(RUNS * ORDERS_PER_RUN, template_id="10014")
    groups = [orders[i : i + ORDERS_PER_RUN] for i in range(0, len(orders), ORDERS_PER_RUN)]

    _start_runs(bot, groups)

    def all_finished() -> list[Message] | None:
        done = [m for m in bot.fake.messages("C_OPS") if m.text.endswith(": finished")]
        return done if len(done) == RUNS else None

    finished = bot.fake.wait_for(all_finished, timeout=90)
    # One message per run, each showing its own result: none was posted anew.
    assert len(bot.fake.messages("C_OPS")) == RUNS
    results = sorted(_shown(m) for m in finished)
    for group in groups:
        listed = ", ".join(group)
        assert sum(f"Approved 3 orders: {listed}." in shown for shown in results) == 1
    updates = bot.fake.calls("chat.update")
    for message in finished:
        accepted = [c for c in _updates_of(bot, message.ts) if c.status == 200]
        # The last update Slack took is the final state: no later progress overwrote it.
        assert accepted and str(accepted[-1].body["text"]).endswith(": finished")
        assert ":hourglass_flowing_sand:" not in _shown(message)
    # Slack refused none of the final states; the progress ones it may refuse are coalesced
    # into the next state.
    refused_finals = [
        c for c in updates if c.status == 429 and str(c.body["text"]).endswith(": finished")
    ]
    assert refused_finals == []
    # Coalesced: at most one update per message per interval, however fast or slow the runs
    # went (a loaded machine makes them slower, so more states may be shown, never faster).
    for message in finished:
        sent = _updates_of(bot, message.ts)
        spread = sent[-1].at - sent[0].at
        assert len(sent) <= spread / SCALE + 3, (len(sent), spread)


def test_a_message_is_updated_at_most_once_a_second_and_ends_on_its_final_state(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(
        omsbot_policy=write_policy(tmp_path, two_person=False),
        omsbot_update_interval_seconds=Settings.model_fields[
            "omsbot_update_interval_seconds"
        ].default,
    )
    assert bot.services.updates.interval == 1.0
    orders = bot.sandbox.state.add_bulk_orders(6, template_id="10014")
    bot.sandbox.state.latency = 0.1  # each step takes a few OMS calls: the run lasts seconds
    _start_runs(bot, [orders])
    final = bot.wait_message(lambda m: m.text.endswith(": finished"), timeout=30)
    assert f"Approved 6 orders: {', '.join(orders)}." in _shown(final)
    updates = _updates_of(bot, final.ts)
    assert all(c.status == 200 for c in updates)
    assert str(updates[-1].body["text"]).endswith(": finished")
    # 7 steps, each shown running then done, would be 14 updates and the final one.
    assert 2 <= len(updates) < 15
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(updates)]
    # The bot sends a message's next update a second after it sent the last; Slack's answer
    # times differ from the send times by a few milliseconds.
    assert min(gaps) > 0.9, gaps
    # The versions shown only ever move forward: a step once done is never shown running.
    versions: list[Any] = [_shown(r) for r in final.history] + [_shown(final)]
    for earlier, later in itertools.pairwise(versions):
        assert earlier.count(":white_check_mark:") <= later.count(":white_check_mark:")


# ---- a final state and the progress update in flight before it ---------------------------


async def test_a_cancelled_final_stays_cancelled_and_a_failed_progress_does_not_stop_it(
    fake_slack: FakeSlack,
) -> None:
    """`final` waits for the message's progress update in flight; it must neither swallow its
    own caller's cancellation (a shutdown could not stop it) nor take on that update's error
    (the final state would be lost)."""
    web = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    try:
        updates = MessageUpdates(interval=0.2)
        ts = str((await web.chat_postMessage(channel="C_OPS", text="start"))["ts"])
        with fake_slack.stall_next("chat.update") as stall:
            await updates.progress(web, "C_OPS", ts, KitMessage(text="step 1", blocks=[]))
            await asyncio.to_thread(stall.wait)  # the progress update is in flight
            final = asyncio.create_task(
                updates.final(web, "C_OPS", ts, KitMessage(text="done", blocks=[]))
            )
            await asyncio.sleep(0.1)
            final.cancel()
            stall.end()
            with pytest.raises(asyncio.CancelledError):
                await final
        # Now the progress update in flight fails (Slack answers 500): the final still goes.
        fake_slack.server_error_next("chat.update")
        await updates.progress(web, "C_OPS", ts, KitMessage(text="step 2", blocks=[]))
        await asyncio.sleep(0.05)
        await updates.final(web, "C_OPS", ts, KitMessage(text="done", blocks=[]))
        assert fake_slack.message("C_OPS", ts).text == "done"
    finally:
        if web.session is not None:
            await web.session.close()


# ---- one MessageUpdates against the fake Slack ----------------------------------------------


@pytest.fixture
async def web(fake_slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    try:
        yield client
    finally:
        if client.session is not None:
            await client.session.close()


async def _until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll without blocking the loop (the flushers run on it); generous, so a loaded machine
    only makes it slower."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


async def _posted(web: AsyncWebClient) -> str:
    return str((await web.chat_postMessage(channel="C_OPS", text="start"))["ts"])


def _sent(fake: FakeSlack, ts: str) -> list[Call]:
    return [c for c in fake.calls("chat.update") if c.body.get("ts") == ts]


def _texts(fake: FakeSlack, ts: str) -> list[str]:
    return [str(c.body["text"]) for c in _sent(fake, ts)]


def _state(text: str) -> KitMessage:
    return KitMessage(text=text, blocks=[])


async def test_a_message_never_given_a_final_state_leaves_no_slot_behind(
    fake_slack: FakeSlack, web: AsyncWebClient
) -> None:
    """A run that crashed before its final state (or a message only ever shown progress) must
    not keep its slot for ever; but the slot stays out the interval after its last send, so
    a progress coming just then still waits its turn."""
    interval = 1.0
    updates = MessageUpdates(interval=interval)
    ts = await _posted(web)
    await updates.progress(web, "C_OPS", ts, _state("step 1"))
    await _until(lambda: _texts(fake_slack, ts) == ["step 1"])
    # Right after a send, with nothing left to send: the next state still keeps the pace.
    await updates.progress(web, "C_OPS", ts, _state("step 2"))
    await _until(lambda: _texts(fake_slack, ts) == ["step 1", "step 2"])
    first, second = _sent(fake_slack, ts)
    # Sent an interval apart; answer times differ from send times by the request's latency.
    assert second.at - first.at > interval / 2, (first.at, second.at)
    # Once the flusher has nothing to send and the interval has passed, the slot is gone.
    await _until(lambda: not updates.tracked)
    assert fake_slack.message("C_OPS", ts).text == "step 2"


async def test_a_final_cancelled_while_it_waits_for_its_token_gives_the_token_back(
    fake_slack: FakeSlack, web: AsyncWebClient
) -> None:
    """A final state takes its token at once and waits the debt off; cancelled during that
    wait it never sends, so the token must go back to the budget."""
    # One token, refilled so slowly that none comes back during the test (a token an hour).
    budget = UpdateBudget(per_minute=1 / 60, burst=1, reserve=0)
    updates = MessageUpdates(interval=0.2, budget=budget)
    first, second = await _posted(web), await _posted(web)
    await updates.final(web, "C_OPS", first, _state("first done"))
    assert budget.tokens < 0.5  # the one token went on the first message's final state
    waiting = asyncio.create_task(updates.final(web, "C_OPS", second, _state("second done")))
    await _until(lambda: budget.tokens < -0.5)  # its token borrowed; it waits the debt off
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, timeout=15)
    # Slack got nothing for it, and the budget is back where it was before it.
    assert _texts(fake_slack, second) == []
    assert _texts(fake_slack, first) == ["first done"]
    assert -0.5 < budget.tokens < 0.5


def _flushers() -> list[asyncio.Task[Any]]:
    """The flusher tasks still running on this loop (MessageUpdates names them)."""
    return [
        t for t in asyncio.all_tasks() if t.get_name().startswith("updates of") and not t.done()
    ]


async def test_closing_sends_the_latest_state_still_waiting_and_leaves_no_task(
    fake_slack: FakeSlack, web: AsyncWebClient
) -> None:
    """At shutdown the newest state waiting for its turn still goes (once), and no flusher
    is left pending for the loop to destroy."""
    updates = MessageUpdates(interval=2.0)
    ts = await _posted(web)
    await updates.progress(web, "C_OPS", ts, _state("step 1"))
    await _until(lambda: _texts(fake_slack, ts) == ["step 1"])
    await updates.progress(web, "C_OPS", ts, _state("step 2"))  # waits out the interval
    await asyncio.wait_for(updates.aclose(), timeout=15)
    assert _texts(fake_slack, ts) == ["step 1", "step 2"]
    assert _flushers() == []
    assert not updates.tracked
    # Progress after the close is dropped: nothing would wait for its flusher.
    await updates.progress(web, "C_OPS", ts, _state("step 3"))
    assert _flushers() == [] and not updates.tracked


async def test_closing_cancels_cleanly_a_latest_state_that_cannot_go_in_time(
    fake_slack: FakeSlack, web: AsyncWebClient
) -> None:
    """A state whose update hangs (Slack does not answer) is given up at the close's timeout:
    its flusher is cancelled and awaited, not abandoned."""
    updates = MessageUpdates(interval=0.2)
    ts = await _posted(web)
    with fake_slack.stall_next("chat.update") as stall:
        await updates.progress(web, "C_OPS", ts, _state("step 1"))
        await asyncio.to_thread(stall.wait)  # its update is in flight, and stays there
        await asyncio.wait_for(updates.aclose(timeout=0.5), timeout=15)
        assert _flushers() == []
        assert not updates.tracked
    assert _texts(fake_slack, ts) == []


async def test_the_bot_sends_the_latest_waiting_states_when_its_services_close(
    fake_slack: FakeSlack, sandbox: SandboxServer, web: AsyncWebClient, tmp_path: Path
) -> None:
    """The shutdown (`Services.aclose`, after the in-flight work) closes the bot's updates."""
    services = create_services(
        settings_for(fake_slack, sandbox, tmp_path / "bot.db", omsbot_update_interval_seconds=2.0)
    )
    try:
        ts = await _posted(web)
        await services.updates.progress(web, "C_OPS", ts, _state("step 1"))
        await _until(lambda: _texts(fake_slack, ts) == ["step 1"])
        await services.updates.progress(web, "C_OPS", ts, _state("step 2"))
    finally:
        await asyncio.wait_for(services.aclose(), timeout=30)
    assert _texts(fake_slack, ts) == ["step 1", "step 2"]
    assert _flushers() == []


def test_a_progress_state_read_after_the_run_ended_never_shows_it_ended_without_its_result(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    # Every progress state is sent as it comes. Slack holds the update showing the last step
    # running, so the run ends (in the database) while that update hangs; the state asked
    # for meanwhile is read after the end. The run's message must only ever show it ended
    # with its result: that is the final state's to show.
    bot = make_bot(
        omsbot_policy=write_policy(tmp_path, two_person=False),
        omsbot_update_interval_seconds=0,
    )
    # Each OMS call takes a while, so the last step is still running when its start has been
    # recorded and shown (a step's first reads go out while its start is recorded).
    bot.sandbox.state.latency = 0.1
    verifying = ":hourglass_flowing_sand: Verify in the OMS"
    card = bot.reply_post(bot.slash("approve 10014"), timeout=20)
    with bot.fake.stall_next(
        "chat.update", lambda params: verifying in text_of(params), accept=True
    ) as stall:
        assert bot.driver.click_ephemeral(card, CONFIRM).http.status_code == 200
        stall.wait(20)

        def ended() -> bool:
            return [r.state for r in list_runs(bot.services.store)] == ["done"]

        bot.fake.wait_for(ended, timeout=20)
    ts = bot.wait_message(lambda m: m.text.endswith(": finished"), channel="C_OPS").ts

    def with_result() -> Message | None:
        message = bot.fake.message("C_OPS", ts)
        return message if "Approved 1 order: 10014." in _shown(message) else None

    done = bot.fake.wait_for(with_result, timeout=20)
    shown = [text_of({"text": r.text, "blocks": r.blocks}) for r in done.history]
    ended_states = [text for text in shown if ": finished" in text]
    assert all("Approved 1 order: 10014." in text for text in ended_states), ended_states
