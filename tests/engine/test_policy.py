"""The policy: who may run what, refusals naming the role, all of it audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.policy import Limits, load_policy
from bot.kit.config import ConfigError, load_settings
from bot.store.audit import search
from bot.surface.wiring import build_registry, load_checked_policy
from tests.conftest import BotFactory, RunningBot, text_of, write_policy


def _audit(bot: RunningBot, **filters: object) -> list[str]:
    def ready() -> list[str] | None:
        events = search(bot.services.store, **filters)  # type: ignore[arg-type]
        return [f"{e.kind}:{e.outcome}:{e.actor}" for e in events] or None

    return bot.fake.wait_for(ready)


def test_no_policy_refuses_changing_commands_and_says_how_to_grant(bot: RunningBot) -> None:
    shown = text_of(bot.ack("approve 10014"))
    assert "no policy file grants it" in shown
    assert "OMSBOT_POLICY" in shown and "operator" in shown
    assert bot.sandbox.state.requests() == []
    assert "refused:refused:U_ALICE" in _audit(bot, actor="U_ALICE")


def test_read_only_commands_are_open_without_policy(bot: RunningBot) -> None:
    sent = bot.slash("order 10002", user="U_CAROL")
    (reply,) = bot.replies(sent)
    assert "Status history" in text_of(reply)


def test_refused_without_role_names_the_role_and_is_audited(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path))
    shown = text_of(bot.ack("approve 10014", user="U_CAROL"))  # an approver, not an operator
    assert "needs the *operator* role, which you do not hold" in shown
    assert "refused:refused:U_CAROL" in _audit(bot, actor="U_CAROL", failed_only=True)
    assert bot.sandbox.state.requests() == []


def test_granted_by_user_id(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    sent = bot.slash("approve 10014", user="U_ALICE")
    (card,) = bot.replies(sent)
    assert "Approve order 10014" in text_of(card)
    assert "command:ok:U_ALICE" in _audit(bot, actor="U_ALICE")


def test_granted_by_user_group(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    sent = bot.slash("approve 10014", user="U_BOB")  # operator only through S_OPERATORS
    (card,) = bot.replies(sent)
    assert "Approve order 10014" in text_of(card)
    assert bot.fake.calls("usergroups.users.list")
    assert "command:ok:U_BOB" in _audit(bot, actor="U_BOB")


def test_group_members_are_cached(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    for _ in range(3):
        bot.replies(bot.slash("approve 10014", user="U_BOB"))
    assert len(bot.fake.calls("usergroups.users.list")) == 1


def test_slack_failing_to_list_a_group_is_explained(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    bot.fake.fail_next("usergroups.users.list", "missing_scope")
    shown = text_of(bot.ack("approve 10014", user="U_BOB"))
    assert "could not check your roles" in shown and "missing_scope" in shown


def test_a_button_whose_role_slack_cannot_check_is_refused_plainly_and_stays_usable(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    bot.sandbox.state.job_run_seconds = bot.sandbox.state.sync_delay_seconds = 0.0
    card = bot.reply_post(bot.slash("check #1007"), timeout=15)  # Alice: a direct operator
    # Bob is an operator only through S_OPERATORS, which Slack cannot list right now.
    bot.fake.fail_next("usergroups.users.list", "missing_scope")
    refused = bot.driver.click_ephemeral(card, "oms:import.confirm#1", user="U_BOB")
    told = bot.fake.wait_for(
        lambda: (
            [
                t
                for t in (text_of(p.body) for p in bot.fake.response_posts(refused.response_url))
                if "could not check your roles" in t
            ]
            or None
        )
    )
    assert "missing_scope" in told[0] and "Nothing was done" in told[0]
    assert not [e for e in search(bot.services.store) if e.kind == "oms_write"]
    # Nothing was consumed: the same button works once Slack answers.
    bot.driver.click_ephemeral(card, "oms:import.confirm#1", user="U_BOB")
    bot.wait_message(lambda m: "Import" in m.text and m.text.endswith("finished"), timeout=30)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[roles]\noperator = ['nobody']", "is not a Slack user id"),
        ("[roles]\nop = ['U1']\n[commands]\napprove = ['operator']", "undefined role(s) operator"),
        ("[rolez]\nop = ['U1']", "rolez: Extra inputs are not permitted"),
        ("[approvals]\nchannel = '#ops'", "is not a Slack channel id"),
        ("[roles\n", "is not valid TOML"),
        ("[approvals]\nexpiry_minutes = 0", "expiry_minutes"),
    ],
)
def test_bad_policy_files_name_the_problem(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert "OMSBOT_POLICY" in str(info.value) and problem in str(info.value)


def test_policy_overrides_a_command_roles(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[roles]\nlead = ['U1']\n[commands]\nhistory = ['lead']\napprove = []\n")
    policy = load_policy(path)
    registry = build_registry()
    assert policy.roles_for_command(registry.get("history")) == ("lead",)  # type: ignore[arg-type]
    assert policy.roles_for_command(registry.get("approve")) == ()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            "[roles]\nlead = ['U1']\n[commands]\nhistroy = ['lead']",
            "[commands] histroy is not a command (did you mean history?)",
        ),
        (
            "[roles]\napprover = ['U1']\n[approvals.actions]\naprove = ['approver']",
            "[approvals.actions] aprove is not an approval action (did you mean approve?)",
        ),
        (
            "[roles]\napprover = ['U1']\n[approvals.actions]\nhistory = ['approver']",
            "[approvals.actions] history is not an approval action; the approval actions are "
            "approve, rollback",
        ),
    ],
)
def test_names_that_are_no_command_or_action_stop_the_start(
    tmp_path: Path, content: str, problem: str
) -> None:
    """A typo in `[commands]` or `[approvals.actions]` would silently leave a command open or
    an action without a second person: the start refuses it, naming the closest name."""
    path = tmp_path / "policy.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_checked_policy(load_settings(_env_file=None, omsbot_policy=path))
    assert problem in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[limits]\nmax_ordres = 5", "limits.max_ordres: unknown key (did you mean max_orders?)"),
        ("[stores]\nshopify_remot = 'X'", "stores.shopify_remot: unknown key (did you mean"),
        ("[limits]\nmax_import = 50", "limits.max_import: Input should be less than or equal"),
        ("[limits]\nstuck_minutes = 'soon'", "limits.stuck_minutes"),
        ("[stores]\ndefault = 'no such store!'", "is not a product store id"),
    ],
)
def test_limits_and_stores_are_typed(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert problem in str(info.value)


def test_limits_and_stores_defaults_live_in_one_place(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[limits]\nstuck_minutes = 90\n[stores]\ndefault = 'STORE'\n")
    policy = load_policy(path)
    assert policy.limits == Limits(stuck_minutes=90)
    assert policy.limits.max_orders == Limits().max_orders == 20
    assert policy.stores.default == "STORE" and policy.stores.shopify_remote is None
    # The sandbox fills in only what the file left unset.
    filled = policy.with_store_defaults(shopify_remote="DEMO", default="OTHER")
    assert (filled.stores.shopify_remote, filled.stores.default) == ("DEMO", "STORE")
