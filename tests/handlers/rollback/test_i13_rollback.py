"""Issue 13 through the real endpoint: rollback's hints name the subcommand typed, an unknown
store lists the OMS's stores, the success text names the store to undo, a failed run prints
the state of every value once, and times are Slack dates."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sandbox import stores as sandbox_stores
from tests.conftest import BotFactory, gated, text_of
from tests.handlers.rollback.test_rollback import (
    APPROVE,
    _bot,
    _request,
    _rolled_back,
    _run_rollback,
    _shown,
)


@pytest.mark.parametrize("command", ["rollback", "rollback undo", "rollback status"])
def test_without_a_store_the_hint_names_the_subcommand(
    make_bot: BotFactory, tmp_path: Path, command: str
) -> None:
    bot = _bot(make_bot, tmp_path, default=None)
    # Where the store form cannot open (Slack refuses the trigger), the hint says what to type.
    bot.fake.fail_next("views.open", "expired_trigger_id")
    text = text_of(gated(bot.reply_post(bot.slash(command)).body))
    assert "Which product store?" in text
    assert f"(`/oms {command} STORE`)" in text


@pytest.mark.parametrize("command", ["rollback", "rollback undo", "rollback status"])
def test_an_unknown_store_lists_the_stores_of_the_oms(
    make_bot: BotFactory, tmp_path: Path, command: str
) -> None:
    bot = _bot(make_bot, tmp_path)
    text = text_of(gated(bot.reply_post(bot.slash(f"{command} NOPE")).body))
    assert "There is no product store `NOPE` in the OMS" in text
    assert "`OUTLET` (Outlet Store), `STORE` (Demo Store)" in text
    assert f"`/oms {command} OUTLET`" in text
    assert "nothing to undo" not in text
    assert "No such product store" in text  # an error, as `/oms failed --store` answers it
    assert bot.sandbox.state.requests(method="PUT") == []


def test_the_finished_rollback_names_the_store_to_undo(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    done = _shown(_run_rollback(bot))
    assert "To restore the saved values: /oms rollback undo STORE." in done
    status = text_of(gated(bot.reply_post(bot.slash("rollback status")).body))
    # The request and the run are Slack dates (each reader's zone), not UTC text.
    assert "asked by <@U_ALICE> at <!date^" in status and "finished at <!date^" in status


def test_a_failed_rollback_prints_the_state_of_every_value_once(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = _bot(make_bot, tmp_path)
    sandbox_stores.fail_remote_write(
        bot.sandbox.state, "SHOP_CONFIG_10001", "Shopify config is being updated"
    )

    request = _request(bot)
    bot.driver.click(request, APPROVE, user="U_DAVE")
    failed = bot.wait_message(lambda m: m.text == "Roll back store STORE: failed", timeout=20)
    shown = _shown(failed)
    assert shown.count("State of every value now:") == 1
    assert shown.count("store STORE order brokering: unchanged (Y)") == 1
    assert "The OMS refused to set shop 10001 to SHOP_NO_ACCESS: Shopify config " in shown
    assert shown.count("Shopify config is being updated") == 1  # under the step, not again
    assert "The run stopped at “" in shown and "(the reason is under that step)" in shown
    sandbox_stores.clear_failures(bot.sandbox.state)
    bot.driver.click(failed, "oms:run.resume#0", user="U_ALICE")
    _rolled_back(bot)


def test_the_demo_orders_belong_to_the_store_rollback_knows(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    # One set of demo ids: an order's product store is the store `/oms rollback` acts on.
    bot = _bot(make_bot, tmp_path)
    order = text_of(gated(bot.reply_post(bot.slash("order 10002"), timeout=15).body))
    store = order.split("*Store*\n")[1].split("\n")[0]
    assert store == "STORE"
    status = text_of(gated(bot.reply_post(bot.slash(f"rollback status {store}")).body))
    assert "Rollback status of store STORE" in status
    assert "shop 10000 (Demo Shop US) access scope" in status
    with bot.sandbox.state.lock:
        jobs = list(bot.sandbox.state.jobs.jobs.values())
    assert {j["productStoreId"] for j in jobs} == {"STORE"}
    assert {j["shopId"] for j in jobs} == {"10000"}
