"""The policy: who may run what, refusals naming the role, all of it audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.policy import load_policy
from bot.kit.config import ConfigError
from bot.store.audit import search
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
    from bot.surface.wiring import build_registry

    registry = build_registry()
    assert policy.roles_for_command(registry.get("history")) == ("lead",)  # type: ignore[arg-type]
    assert policy.roles_for_command(registry.get("approve")) == ()  # type: ignore[arg-type]
