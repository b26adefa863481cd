"""The App Home tab through the real endpoint: `app_home_opened` publishes it, its Approve and
Deny follow the two-person rule exactly as the channel's buttons do, and it is published again
when what it shows changes for the user."""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.kit.blocks import home_view, section
from bot.store.approvals import latest_approval
from bot.store.runs import create_run, list_runs
from tests.conftest import BotFactory, RunningBot, text_of, write_policy
from tests.handlers.digest.test_digests import digest_policy
from tests.harness.blockkit import check_view
from tests.harness.fakeslack import Message
from tests.store_fixtures import postgres_url

__all__ = ["postgres_url"]

APPROVE = "oms:approval.approve#0"
DENY = "oms:approval.deny#1"


def _writes(bot: RunningBot) -> list[str]:
    return [
        str(r.body["orderId"])
        for r in bot.sandbox.state.requests("/api/service/changeOrderStatus", "POST")
        if isinstance(r.body, dict)
    ]


def _home(bot: RunningBot, user: str, after: int = 0, timeout: float = 10.0) -> dict[str, Any]:
    """The newest Home tab published for `user` once more than `after` were."""

    def newest() -> dict[str, Any] | None:
        views = bot.fake.home_views(user)
        return views[-1] if len(views) > after else None

    view = bot.fake.wait_for(newest, timeout)
    assert not check_view(view), check_view(view)
    return view


def _shown(view: dict[str, Any]) -> str:
    return text_of({"blocks": view.get("blocks") or []})


def _action_ids(view: dict[str, Any]) -> list[str]:
    return [
        str(e.get("action_id"))
        for b in view.get("blocks") or []
        if b.get("type") == "actions"
        for e in b.get("elements") or []
    ]


def _request(bot: RunningBot, text: str = "approve 10014", user: str = "U_ALICE") -> Message:
    sent = bot.slash(text, user=user)
    assert "needs a second person" in text_of(bot.reply_post(sent, timeout=15).body)
    request: Message = bot.wait_message(
        lambda m: "Approval needed" in m.text, channel="C_APPROVALS"
    )
    return request


def test_home_shows_a_request_to_its_approver_with_buttons_and_to_its_requester_without(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    _request(bot)
    assert bot.driver.home_opened("U_ALICE").http.status_code == 200
    alice = _home(bot, "U_ALICE")
    assert "Approve order 10014" in _shown(alice)
    assert "waiting for a second person" in _shown(alice)
    # The requester's own request shows no Approve (nor Deny) on their Home.
    assert not any(a.startswith("oms:approval.") for a in _action_ids(alice))
    assert "Nothing waits for your approval" in _shown(alice)
    # The quick actions open forms; Reconcile only once a `reconcile` command exists.
    assert "home:form#check" in _action_ids(alice) and "home:form#failed" in _action_ids(alice)
    assert ("home:form#reconcile" in _action_ids(alice)) == (
        bot.services.registry.get("reconcile") is not None
    )
    # The Home knows the user's DM with the bot, where answers to presses on it go.
    assert json.loads(alice["private_metadata"])["dm"] == bot.fake.dm_channel("U_ALICE")

    bot.driver.home_opened("U_CAROL")  # an approver through the S_APPROVERS user group
    carol = _home(bot, "U_CAROL")
    assert "Waiting for your approval" in _shown(carol)
    assert "Approve order 10014" in _shown(carol) and "Asked by <@U_ALICE>" in _shown(carol)
    assert APPROVE in _action_ids(carol) and DENY in _action_ids(carol)

    bot.driver.home_opened("U_BOB")  # an operator, not an approver: nothing to decide
    assert APPROVE not in _action_ids(_home(bot, "U_BOB"))


def test_approve_on_home_runs_the_request_once_and_refreshes_both_homes(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    request = _request(bot)
    bot.driver.home_opened("U_ALICE")
    bot.driver.home_opened("U_CAROL")
    alice_before = len(bot.fake.home_views("U_ALICE"))
    carol = _home(bot, "U_CAROL")
    carol_before = len(bot.fake.home_views("U_CAROL"))

    assert bot.driver.click_view(carol, APPROVE, user="U_CAROL").http.status_code == 200
    done = bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    assert "Approved" in text_of({"text": done.text, "blocks": done.blocks})
    assert _writes(bot) == ["10014"]
    # The request message in the channel says who approved it, as after a channel press.
    closed = bot.fake.message("C_APPROVALS", request.ts)
    assert "Approved by <@U_CAROL>" in text_of({"text": closed.text, "blocks": closed.blocks})

    # Both Homes are published again: the request is no longer waiting on either.
    def decided(user: str, before: int) -> dict[str, Any]:
        def fresh() -> dict[str, Any] | None:
            views = bot.fake.home_views(user)[before:]
            gone = [v for v in views if "Approve order 10014" not in _shown(v)]
            return gone[-1] if gone else None

        return bot.fake.wait_for(fresh, 10)

    assert APPROVE not in _action_ids(decided("U_CAROL", carol_before))
    assert "waiting for a second person" not in _shown(decided("U_ALICE", alice_before))
    # The channel's buttons were in the same group: a press there is refused, nothing reruns.
    bot.driver.click(request, APPROVE, user="U_DAVE")

    def refused() -> bool | None:
        posts = [text_of(p.body) for p in bot.fake.response_posts() if p.user == "U_DAVE"]
        return any("Already" in t for t in posts) or None

    bot.fake.wait_for(refused)
    assert _writes(bot) == ["10014"]


def test_a_forged_approve_from_the_requesters_home_is_refused(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    _request(bot, user="U_DAVE")  # Dave is an operator and an approver
    bot.driver.home_opened("U_CAROL")
    carol = _home(bot, "U_CAROL")
    # Dave presses the button issued on Carol's Home (a replayed payload): the token refuses
    # the requester, as the channel's button does, and says so in Dave's DM with the bot.
    bot.driver.home_opened("U_DAVE")
    dm = bot.fake.dm_channel("U_DAVE")
    view = {**carol, "private_metadata": json.dumps({"dm": dm})}
    bot.driver.click_view(view, APPROVE, user="U_DAVE")
    refusal = bot.fake.wait_for(
        lambda: next((m for m in bot.fake.messages(dm) if "someone else" in m.text), None)
    )
    assert "You asked for this" in refusal.text
    assert _writes(bot) == []


def test_deny_on_home_asks_the_reason_and_tells_the_requester(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    request = _request(bot)
    bot.driver.home_opened("U_CAROL")
    carol = _home(bot, "U_CAROL")
    bot.driver.click_view(carol, DENY, user="U_CAROL")
    # The reason modal opens on the Home press's trigger, as from the channel.
    reason = bot.fake.wait_for(
        lambda: next((v for v in bot.fake.views() if v.method == "views.open"), None), 10
    )
    assert reason.view["callback_id"] == "oms:deny-reason"
    closed = bot.fake.wait_for(
        lambda: (
            m
            if "Denied by <@U_CAROL>"
            in text_of((m := bot.fake.message("C_APPROVALS", request.ts)).as_payload())
            else None
        ),
        10,
    )
    assert "Nothing ran" in text_of(closed.as_payload())
    told = bot.fake.wait_for(
        lambda: next((m for m in bot.fake.messages("D_U_ALICE") if "denied" in m.text), None), 10
    )
    assert "<@U_CAROL>" in told.text
    assert _writes(bot) == []


def test_an_interrupted_run_appears_on_its_requesters_home_and_resumes_from_there(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False), omsbot_run_lease=2)
    bot.driver.home_opened("U_ALICE")
    first = _home(bot, "U_ALICE")
    assert "No run of yours is in progress or interrupted" in _shown(first)
    # A run whose process died mid-way: its heartbeat stopped a minute ago.
    create_run(
        bot.services.store,
        run_id=uuid.uuid4().hex,
        runbook="approve",
        title="Approve order 10014",
        params={"orders": ["10014"]},
        order_keys=["10014"],
        requested_by="U_ALICE",
        channel_id="C_OPS",
        response_url=None,
        owner="a-dead-process",
        step_names=["Approve order 10014", "Verify in the OMS"],
        now=time.time() - 60,
    )
    # The sweep marks it interrupted, and the Home is published again without being opened.
    home = bot.fake.wait_for(
        lambda: next(
            (
                v
                for v in reversed(bot.fake.home_views("U_ALICE"))
                if "oms:run.resume#0" in _action_ids(v)
            ),
            None,
        ),
        15,
    )
    assert not check_view(home)
    assert "Approve order 10014" in _shown(home) and "oms:run.resume#0" in _action_ids(home)
    bot.driver.click_view(home, "oms:run.resume#0", user="U_ALICE")
    done = bot.wait_message(lambda m: "finished" in m.text, timeout=15)
    assert "started by <@U_ALICE>" in text_of(done.as_payload())
    assert _writes(bot) == ["10014"]
    bot.fake.wait_for(
        lambda: "No run of yours" in _shown(bot.fake.home_views("U_ALICE")[-1]) or None, 10
    )


def test_the_last_digest_of_each_channel_shows_with_its_totals(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    # Every minute, so the catch-up at the start posts the newest slot at once.
    bot = make_bot(omsbot_policy=digest_policy(tmp_path, cron="* * * * *", grace="10m"))
    bot.wait_message(lambda m: "Failed Shopify imports" in m.text, timeout=20)
    bot.driver.home_opened("U_ALICE")

    def with_digest() -> dict[str, Any] | None:
        views = bot.fake.home_views("U_ALICE")
        return next((v for v in reversed(views) if "Last digests" in _shown(v)), None)

    home = bot.fake.wait_for(with_digest, 15)
    assert re.search(r"<#C_OPS>: .*, \d+ failures?", _shown(home)), _shown(home)


def test_a_home_longer_than_a_view_ends_saying_how_many_blocks_were_left_out() -> None:
    blocks = [section(f"line {i}") for i in range(130)]
    view = home_view(blocks, dm_channel="D_U_ALICE")
    assert len(view["blocks"]) == 100 and not check_view(view)
    assert "and 31 more not shown" in _shown(view)
    assert home_view(blocks[:100], dm_channel=None)["blocks"] == blocks[:100]


def test_the_gate_refuses_the_views_slack_refuses() -> None:
    field = {
        "type": "input",
        "block_id": "a",
        "label": {"type": "plain_text", "text": "Order"},
        "element": {"type": "plain_text_input", "action_id": "value"},
    }
    title = {"type": "plain_text", "text": "Check"}
    assert check_view({"type": "modal", "title": title, "blocks": [field]})  # no submit
    assert not check_view({"type": "modal", "title": title, "submit": title, "blocks": [field]})
    home = home_view([section("x")], dm_channel="D_U_ALICE")
    assert check_view({**home, "submit": title})  # a Home has no submit
    assert check_view(
        home_view([section(str(i)) for i in range(99)], dm_channel=None)
        | {"blocks": [section(str(i)) for i in range(101)]}
    )  # over 100 blocks


def test_home_and_channel_presses_on_two_replicas_run_the_request_once(
    make_bot: BotFactory, tmp_path: Path, postgres_url: str
) -> None:
    policy = write_policy(tmp_path)
    first = make_bot(db_path=postgres_url, omsbot_policy=policy)
    second = make_bot(db_path=postgres_url, omsbot_policy=policy)
    request = _request(first)
    second.driver.home_opened("U_CAROL")
    carol = _home(second, "U_CAROL")
    # Carol presses Approve on her Home (served by one replica) while Dave presses the
    # channel's Approve (on the other): the Home's buttons are in the request's own group.
    with ThreadPoolExecutor(2) as pool:
        home_press = pool.submit(second.driver.click_view, carol, APPROVE, user="U_CAROL")
        channel_press = pool.submit(first.driver.click, request, APPROVE, user="U_DAVE")
        assert home_press.result().http.status_code == channel_press.result().http.status_code
    first.wait_message(lambda m: "finished" in m.text, timeout=20)
    approval = latest_approval(first.services.store, "approve", lambda p: True)
    assert approval is not None and approval.state == "executed"
    assert _writes(first) == ["10014"]
    assert len(list_runs(first.services.store)) == 1


def test_a_new_request_is_published_on_the_open_home_of_an_approver(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    bot.driver.home_opened("U_CAROL")
    bot.fake.add_user("U_ERIN", "erin", "Erin Ellis")
    bot.driver.home_opened("U_ERIN")  # holds no role: the request is none of her business
    assert "Nothing waits for your approval" in _shown(_home(bot, "U_CAROL"))
    _home(bot, "U_ERIN")
    erin_before = len(bot.fake.home_views("U_ERIN"))
    _request(bot)
    # Without opening it again, Carol's Home shows the request with its buttons.
    carol = bot.fake.wait_for(
        lambda: next(
            (v for v in reversed(bot.fake.home_views("U_CAROL")) if APPROVE in _action_ids(v)),
            None,
        ),
        10,
    )
    assert "Approve order 10014" in _shown(carol) and not check_view(carol)
    assert len(bot.fake.home_views("U_ERIN")) == erin_before


def test_a_request_made_on_one_replica_is_published_on_a_home_opened_on_the_other(
    make_bot: BotFactory, tmp_path: Path, postgres_url: str
) -> None:
    policy = write_policy(tmp_path)
    first = make_bot(db_path=postgres_url, omsbot_policy=policy)
    second = make_bot(db_path=postgres_url, omsbot_policy=policy)
    second.driver.home_opened("U_CAROL")  # served by the second replica...
    assert "Nothing waits for your approval" in _shown(_home(second, "U_CAROL"))
    _request(first)  # ...the request is made on the first, which republishes her Home
    carol = first.fake.wait_for(
        lambda: next(
            (v for v in reversed(first.fake.home_views("U_CAROL")) if APPROVE in _action_ids(v)),
            None,
        ),
        15,
    )
    assert "Approve order 10014" in _shown(carol) and not check_view(carol)
