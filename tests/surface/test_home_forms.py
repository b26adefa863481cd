"""Command forms through the real endpoint: `/oms import` without ids and `/oms rollback`
without a store open forms, the Home's quick actions open theirs, and a submission runs the
command with the same checks as typing it; a problem shows on the field and the form stays
open (`response_action: errors`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.kit.forms import FORM_VIEW
from tests.conftest import BotFactory, RunningBot, text_of, write_policy
from tests.harness.blockkit import check_view
from tests.harness.driver import Sent
from tests.harness.fakeslack import OpenedView


def _form(bot: RunningBot, after: int = 0, method: str = "views.open") -> OpenedView:
    """The newest command form opened (or filled in, `views.update`) after `after` views."""

    def newest() -> OpenedView | None:
        found = [
            v
            for v in bot.fake.views()[after:]
            if v.method == method and v.view.get("callback_id") == FORM_VIEW
        ]
        return found[-1] if found else None

    opened = bot.fake.wait_for(newest, 10)
    assert not check_view(opened.view), check_view(opened.view)
    return opened


def _submit(bot: RunningBot, opened: OpenedView, user: str, **values: Any) -> Sent:
    state = {
        name: {name: value if isinstance(value, dict) else str(value)}
        for name, value in values.items()
    }
    return bot.driver.submit_view(
        FORM_VIEW, state, opened.view.get("private_metadata", ""), user, view=opened.view
    )


def _errors(sent: Sent) -> dict[str, str]:
    assert sent.http.status_code == 200, sent.http.text
    answer = json.loads(sent.http.text)
    assert answer["response_action"] == "errors"  # the modal stays open, showing them
    errors: dict[str, str] = answer["errors"]
    return errors


def _closed(sent: Sent) -> None:
    assert sent.http.status_code == 200 and sent.http.text == "", sent.http.text


def test_import_without_ids_opens_a_form_that_checks_the_ids_on_the_field(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    sent = bot.slash("import", user="U_ALICE")
    opened = _form(bot)
    assert opened.trigger_id == sent.payload["trigger_id"]
    labels = text_of({"blocks": opened.view["blocks"]})
    assert "Shopify orders" in labels and "at most 20" in labels

    # A HotWax id is not a Shopify order: the error is on the field, nothing is looked up.
    before = len(bot.sandbox.state.requests())
    errors = _errors(_submit(bot, opened, "U_ALICE", orders="#1007\n10005"))
    assert list(errors) == ["orders"] and "10005" in errors["orders"]
    assert "HotWax order id" in errors["orders"]
    assert (
        "Fill in shopify orders"
        in _errors(_submit(bot, opened, "U_ALICE", orders=" ,\n"))["orders"]
    )
    too_many = " ".join(f"#{1000 + i}" for i in range(21))
    assert "At most 20" in _errors(_submit(bot, opened, "U_ALICE", orders=too_many))["orders"]
    assert len(bot.sandbox.state.requests()) == before

    # Pasted ids, one a line and with commas: the command runs and answers where it was typed.
    _closed(_submit(bot, opened, "U_ALICE", orders="#1007,\n6100000000006"))
    card = text_of(bot.reply_post(sent, timeout=15).body)
    assert "Import #1007, #1006 from Shopify" in card and "Import 2 orders" in card


def test_a_form_names_the_role_the_user_lacks_on_its_field(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    bot.slash("import", user="U_ALICE")
    opened = _form(bot)
    # Carol is an approver, not an operator: the form refuses her as the command would.
    errors = _errors(_submit(bot, opened, "U_CAROL", orders="#1007"))
    assert "operator" in errors["orders"]


def test_rollback_without_a_store_offers_the_oms_stores_in_a_select(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))  # the policy names no default store
    sent = bot.slash("rollback", user="U_ALICE")
    loading = bot.fake.wait_for(
        lambda: next((v for v in bot.fake.views() if v.method == "views.open"), None), 10
    )
    assert "Reading the product stores" in text_of({"blocks": loading.view["blocks"]})
    form = _form(bot, method="views.update")
    assert form.id == loading.id
    select = next(b["element"] for b in form.view["blocks"] if b.get("block_id") == "store")
    assert [o["value"] for o in select["options"]] == ["OUTLET", "STORE"]
    assert "Demo Store" in text_of({"blocks": [select]})
    chosen = {"type": "static_select", "selected_option": select["options"][1]}
    _closed(_submit(bot, form, "U_ALICE", store=chosen))
    asked = text_of(bot.reply_post(sent, timeout=15).body)
    assert "needs a second person" in asked and "STORE" in asked
    assert bot.wait_message(lambda m: "Roll back" in m.text or "STORE" in m.text, "C_APPROVALS")


def test_check_from_the_home_tab_answers_in_the_users_dm(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    bot.driver.home_opened("U_BOB")
    home = bot.fake.wait_for(lambda: next(reversed(bot.fake.home_views("U_BOB")), None), 10)
    assert bot.driver.click_view(home, "home:form#check", user="U_BOB").http.status_code == 200
    opened = _form(bot)
    assert "Order" in text_of({"blocks": opened.view["blocks"]})
    assert _errors(_submit(bot, opened, "U_BOB", order="")) == {"order": "Fill in order."}
    _closed(_submit(bot, opened, "U_BOB", order="#1003"))
    dm = bot.fake.dm_channel("U_BOB")
    answer = bot.wait_message(lambda m: "10013" in text_of(m.as_payload()), channel=dm, timeout=15)
    assert answer.channel == dm


def test_the_home_reconcile_form_runs_the_command_with_its_checks(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path)
    # Reconcile only for operators, so the form's role check shows.
    policy.write_text(policy.read_text() + '\n[commands]\nreconcile = ["operator"]\n')
    bot = make_bot(omsbot_policy=policy)
    bot.driver.home_opened("U_ALICE")
    home = bot.fake.wait_for(lambda: next(reversed(bot.fake.home_views("U_ALICE")), None), 10)
    assert "Reconcile" in text_of({"blocks": home["blocks"]})
    bot.driver.click_view(home, "home:form#reconcile", user="U_ALICE")
    opened = _form(bot)
    assert "/oms reconcile [--since 24h] [--store X]" in text_of({"blocks": opened.view["blocks"]})

    # A value the command's grammar refuses shows on the field; nothing reaches the OMS.
    before = len(bot.sandbox.state.requests())
    problem = _errors(_submit(bot, opened, "U_ALICE", args="--since soon"))["args"]
    assert "--since" in problem and "soon" in problem
    problem = _errors(_submit(bot, opened, "U_ALICE", args="--store 'NO STORE!'"))["args"]
    assert "not a product store id" in problem
    # Carol is no operator: the form refuses her as the command would.
    assert "operator" in _errors(_submit(bot, opened, "U_CAROL", args="--store STORE"))["args"]
    assert len(bot.sandbox.state.requests()) == before

    # A store: `/oms reconcile --store STORE` runs, its reconciliation lands in Alice's DM.
    _closed(_submit(bot, opened, "U_ALICE", args="--store STORE"))
    dm = bot.fake.dm_channel("U_ALICE")
    done = bot.wait_message(
        lambda m: (
            "Shopify vs HotWax · last 24 hours · STORE" in text_of(m.as_payload())
            and "#1007" in text_of(m.as_payload())
        ),
        channel=dm,
        timeout=30,
    )
    assert done.channel == dm
    # What only the command can tell (the policy's window limit, the OMS's stores) comes in
    # the DM, where the Home answers, naming the problem and the fix.
    views = len(bot.fake.views())
    bot.driver.click_view(home, "home:form#reconcile", user="U_ALICE")
    again = _form(bot, after=views)
    _closed(_submit(bot, again, "U_ALICE", args="--since 8d"))
    too_long = bot.wait_message(lambda m: "too long to reconcile" in m.text, channel=dm)
    assert "--since 7d" in text_of(too_long.as_payload())
    _closed(_submit(bot, again, "U_ALICE", args="--store NOPE"))
    bot.wait_message(lambda m: "no product store NOPE" in text_of(m.as_payload()), channel=dm)


def test_a_problem_with_an_option_shows_on_its_own_field(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    bot.driver.home_opened("U_BOB")
    home = bot.fake.wait_for(lambda: next(reversed(bot.fake.home_views("U_BOB")), None), 10)
    bot.driver.click_view(home, "home:form#failed", user="U_BOB")
    opened = _form(bot)
    errors = _errors(_submit(bot, opened, "U_BOB", since="soon", store=""))
    assert list(errors) == ["since"] and "--since" in errors["since"]
    # Slack refuses a form's trigger (it expired): the DM says what to type instead.
    bot.fake.fail_next("views.open", "expired_trigger_id")
    bot.driver.click_view(home, "home:form#check", user="U_BOB")
    dm = bot.fake.dm_channel("U_BOB")
    note = bot.wait_message(lambda m: "did not open" in m.text, channel=dm)
    assert "/oms help check" in note.text


def test_a_form_whose_metadata_is_not_the_bots_is_refused_and_runs_nothing(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    before = len(bot.sandbox.state.requests())
    for metadata in ("not json", '{"c": "import"}', '{"c":"","ch":"C_OPS","f":[]}'):
        sent = bot.driver.submit_view(FORM_VIEW, {"orders": {"orders": "#1007"}}, metadata)
        answer = json.loads(sent.http.text)
        assert answer["response_action"] == "update" and not check_view(answer["view"])
        assert "could not be read" in text_of({"blocks": answer["view"]["blocks"]})
    assert len(bot.sandbox.state.requests()) == before
